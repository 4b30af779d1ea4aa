//! GitHub REST API helpers shared by the features that call it (branch-pipelines, dora).

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Everything but RFC 3986's unreserved characters and `/`.
const PATH: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

/// `text` (an `owner/repo`, a branch, a SHA) as a GitHub API path: `/` kept, the rest of what is
/// not unreserved percent-encoded as UTF-8 (`feature/a#b` → `feature/a%23b`).
pub fn path(text: &str) -> String {
    utf8_percent_encode(text, PATH).to_string()
}

/// The GitHub token in a Secrets Manager secret's `SecretString`: the plain string, or the
/// `token` field of a JSON object; `None` when it holds none.
pub fn token_of_secret(text: &str) -> Option<String> {
    let text = text.trim();
    if let Ok(serde_json::Value::Object(map)) = serde_json::from_str(text) {
        return map
            .get("token")?
            .as_str()
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_string);
    }
    (!text.is_empty()).then(|| text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_read_from_plain_text_or_a_json_token_field() {
        assert_eq!(token_of_secret(" ghp_abc \n").as_deref(), Some("ghp_abc"));
        assert_eq!(
            token_of_secret(r#"{"token": "ghp_def"}"#).as_deref(),
            Some("ghp_def")
        );
        assert_eq!(token_of_secret(r#"{"other": "x"}"#), None);
        assert_eq!(token_of_secret("  "), None);
    }

    #[test]
    fn github_paths_keep_slashes_and_escape_the_rest() {
        assert_eq!(path("feature/a#b ü"), "feature/a%23b%20%C3%BC");
        assert_eq!(path("octo-org/orders_api.v2~x"), "octo-org/orders_api.v2~x");
        assert_eq!(path("a?b&c=d%"), "a%3Fb%26c%3Dd%25");
    }
}
