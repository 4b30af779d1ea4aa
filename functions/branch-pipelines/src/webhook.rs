//! GitHub webhook signatures (`X-Hub-Signature-256`): HMAC-SHA256 of the raw body, checked in constant time.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// Why a delivery is not accepted as GitHub's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the request has no X-Hub-Signature-256 header")]
    Missing,
    #[error("the X-Hub-Signature-256 header is not sha256=<64 hex digits>")]
    Malformed,
    #[error("the signature does not match the body and the webhook secret")]
    Mismatch,
}

fn hex_decode(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Verifies `header` (`sha256=<hex>`) against HMAC-SHA256(`secret`, `body`) in constant time.
pub fn verify(secret: &[u8], body: &[u8], header: Option<&str>) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?.trim();
    let expected = header
        .strip_prefix("sha256=")
        .and_then(hex_decode)
        .filter(|d| d.len() == 32)
        .ok_or(SignatureError::Malformed)?;
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(secret).map_err(|_| SignatureError::Mismatch)?;
    mac.update(body);
    mac.verify_slice(&expected)
        .map_err(|_| SignatureError::Mismatch)
}

/// `sha256=<hex>` for `body` (tests and the sample events).
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"It's a Secret to Everybody";
    const BODY: &[u8] = b"Hello, World!";
    const SIGNATURE: &str =
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    #[test]
    fn githubs_documented_test_vector_verifies() {
        assert_eq!(verify(SECRET, BODY, Some(SIGNATURE)), Ok(()));
        assert_eq!(sign(SECRET, BODY), SIGNATURE);
    }

    #[test]
    fn a_changed_body_or_secret_or_signature_is_rejected() {
        assert_eq!(
            verify(SECRET, b"Hello, World?", Some(SIGNATURE)),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(b"another secret", BODY, Some(SIGNATURE)),
            Err(SignatureError::Mismatch)
        );
        let flipped = SIGNATURE.replace("757107", "757108");
        assert_eq!(
            verify(SECRET, BODY, Some(&flipped)),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn a_missing_or_malformed_header_is_rejected() {
        assert_eq!(verify(SECRET, BODY, None), Err(SignatureError::Missing));
        for bad in [
            "",
            "sha1=abc",
            "sha256=zz",
            "sha256=757107",
            &SIGNATURE[7..],
        ] {
            assert_eq!(
                verify(SECRET, BODY, Some(bad)),
                Err(SignatureError::Malformed),
                "{bad}"
            );
        }
    }
}
