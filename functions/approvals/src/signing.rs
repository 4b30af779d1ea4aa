//! Signed approval links: HMAC-SHA256 over the approval id, the approver and the expiry, verified in constant time.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The shortest signing key accepted, in bytes.
pub const MIN_KEY_BYTES: usize = 32;

/// What a link proves: this approver may decide this approval until this time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkClaims {
    pub id: String,
    /// Lower-cased email address.
    pub approver: String,
    /// Epoch seconds.
    pub expires_at: i64,
}

/// Why a link is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    /// A field was changed, or the signature was made with another key (HTTP 403).
    #[error("the link's signature does not match")]
    Tampered,
    /// The signature is right but the link is past its expiry (HTTP 410).
    #[error("the link has expired")]
    Expired,
}

/// A secret that is not usable as a signing key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the signing secret is {0} bytes long: it must be at least {MIN_KEY_BYTES}")]
pub struct WeakKey(pub usize);

/// The HMAC key links are signed with (from Secrets Manager). Never printed.
#[derive(Clone)]
pub struct SigningKey(Vec<u8>);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey([REDACTED])")
    }
}

/// What a MAC is computed for: the link itself, or the form on the page it opens.
#[derive(Clone, Copy)]
enum Purpose {
    Link,
    Form,
}

impl SigningKey {
    pub fn new(bytes: impl Into<Vec<u8>>) -> Result<Self, WeakKey> {
        let bytes = bytes.into();
        if bytes.len() < MIN_KEY_BYTES {
            return Err(WeakKey(bytes.len()));
        }
        Ok(SigningKey(bytes))
    }

    fn mac(&self, purpose: Purpose, claims: &LinkClaims) -> Hmac<Sha256> {
        // HMAC takes keys of any length; new_from_slice cannot fail for it.
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC accepts keys of every length"));
        let label: &[u8] = match purpose {
            Purpose::Link => b"tollgate-approval-link/v1",
            Purpose::Form => b"tollgate-approval-form/v1",
        };
        // Length-prefixed fields: no two different claims share a message.
        for field in [label, claims.id.as_bytes(), claims.approver.as_bytes()] {
            mac.update(&(field.len() as u64).to_be_bytes());
            mac.update(field);
        }
        mac.update(&claims.expires_at.to_be_bytes());
        mac
    }

    fn tag(&self, purpose: Purpose, claims: &LinkClaims) -> String {
        URL_SAFE_NO_PAD.encode(self.mac(purpose, claims).finalize().into_bytes())
    }

    fn matches(&self, purpose: Purpose, claims: &LinkClaims, tag: &str) -> bool {
        let Ok(bytes) = URL_SAFE_NO_PAD.decode(tag.trim()) else {
            return false;
        };
        // verify_slice compares in constant time.
        self.mac(purpose, claims).verify_slice(&bytes).is_ok()
    }

    /// The link signature for `claims` (URL-safe base64).
    pub fn sign(&self, claims: &LinkClaims) -> String {
        self.tag(Purpose::Link, claims)
    }

    /// Checks a link: its signature first (403 when wrong, expired or not), then its expiry.
    pub fn verify(&self, claims: &LinkClaims, signature: &str, now: i64) -> Result<(), LinkError> {
        if !self.matches(Purpose::Link, claims, signature) {
            return Err(LinkError::Tampered);
        }
        if now >= claims.expires_at {
            return Err(LinkError::Expired);
        }
        Ok(())
    }

    /// The hidden form token the approval page carries; a POST without it did not come from the
    /// page (cross-site request forgery defence, next to the Origin check).
    pub fn form_token(&self, claims: &LinkClaims) -> String {
        self.tag(Purpose::Form, claims)
    }

    pub fn verify_form_token(&self, claims: &LinkClaims, token: &str) -> bool {
        self.matches(Purpose::Form, claims, token)
    }
}

/// The approval page's URL for one approver: `{base}/approvals/{id}?approver=…&expires=…&sig=…`.
pub fn link_url(base_url: &str, claims: &LinkClaims, signature: &str) -> String {
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("approver", &claims.approver)
        .append_pair("expires", &claims.expires_at.to_string())
        .append_pair("sig", signature)
        .finish();
    format!(
        "{}/approvals/{}?{query}",
        base_url.trim_end_matches('/'),
        claims.id
    )
}

/// Bytes of randomness in an approval id (128 bits).
const ID_BYTES: usize = 16;

/// A new opaque approval id: 128 random bits, URL-safe base64 (22 characters).
pub fn new_id() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; ID_BYTES];
    getrandom::fill(&mut bytes)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// Whether `text` has the shape of an id from [`new_id`] (checked before any lookup).
pub fn is_id(text: &str) -> bool {
    text.len() == 22
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key() -> SigningKey {
        SigningKey::new(b"0123456789abcdef0123456789abcdef".to_vec()).unwrap()
    }

    fn claims() -> LinkClaims {
        LinkClaims {
            id: "AAAAAAAAAAAAAAAAAAAAAA".into(),
            approver: "a@example.com".into(),
            expires_at: 2_000_000_000,
        }
    }

    #[test]
    fn a_signed_link_verifies_until_it_expires() {
        let sig = key().sign(&claims());
        assert_eq!(key().verify(&claims(), &sig, 1_999_999_999), Ok(()));
        assert_eq!(
            key().verify(&claims(), &sig, 2_000_000_000),
            Err(LinkError::Expired)
        );
    }

    #[test]
    fn changing_any_field_or_the_key_breaks_the_signature() {
        let sig = key().sign(&claims());
        let now = 1;
        let mut other = claims();
        other.approver = "b@example.com".into();
        assert_eq!(key().verify(&other, &sig, now), Err(LinkError::Tampered));
        let mut other = claims();
        other.expires_at += 3600;
        assert_eq!(key().verify(&other, &sig, now), Err(LinkError::Tampered));
        let mut other = claims();
        other.id = "BAAAAAAAAAAAAAAAAAAAAA".into();
        assert_eq!(key().verify(&other, &sig, now), Err(LinkError::Tampered));
        let other_key = SigningKey::new(vec![7u8; 32]).unwrap();
        assert_eq!(
            other_key.verify(&claims(), &sig, now),
            Err(LinkError::Tampered)
        );
        assert_eq!(
            key().verify(&claims(), "not base64!", now),
            Err(LinkError::Tampered)
        );
    }

    #[test]
    fn a_tampered_expired_link_is_reported_as_tampered() {
        let mut other = claims();
        other.expires_at = 10;
        assert_eq!(
            key().verify(&other, &key().sign(&claims()), 100),
            Err(LinkError::Tampered)
        );
    }

    #[test]
    fn the_form_token_is_not_the_link_signature() {
        let c = claims();
        assert_ne!(key().form_token(&c), key().sign(&c));
        assert!(key().verify_form_token(&c, &key().form_token(&c)));
        assert!(!key().verify_form_token(&c, &key().sign(&c)));
    }

    #[test]
    fn short_keys_are_refused_and_keys_are_never_printed() {
        assert_eq!(SigningKey::new(vec![1u8; 31]).unwrap_err(), WeakKey(31));
        assert!(!format!("{:?}", key()).contains("0123"));
    }

    #[test]
    fn the_link_carries_id_approver_expiry_and_signature_only() {
        let url = link_url("https://api.example.com/", &claims(), "c2ln");
        assert_eq!(
            url,
            "https://api.example.com/approvals/AAAAAAAAAAAAAAAAAAAAAA?approver=a%40example.com&expires=2000000000&sig=c2ln"
        );
    }

    #[test]
    fn new_ids_are_distinct_and_have_the_checked_shape() {
        let a = new_id().unwrap();
        let b = new_id().unwrap();
        assert_ne!(a, b);
        assert!(is_id(&a) && is_id(&b));
        assert!(!is_id("../../etc/passwd"));
        assert!(!is_id(""));
    }

    proptest! {
        #[test]
        fn only_the_exact_claims_verify(id in "[A-Za-z0-9_-]{22}", approver in "[a-z]{1,8}@[a-z]{1,8}\\.com",
                                         expires in 1i64..4_000_000_000, other in "[a-z]{1,8}@[a-z]{1,8}\\.org") {
            let c = LinkClaims { id, approver, expires_at: expires };
            let sig = key().sign(&c);
            prop_assert_eq!(key().verify(&c, &sig, 0), Ok(()));
            let swapped = LinkClaims { approver: other, ..c.clone() };
            prop_assert_eq!(key().verify(&swapped, &sig, 0), Err(LinkError::Tampered));
        }
    }
}
