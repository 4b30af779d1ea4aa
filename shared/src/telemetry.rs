//! Structured logging set-up and redaction of secrets before anything is logged.

use serde_json::Value;

/// What replaces a secret value in logs.
pub const REDACTED: &str = "[REDACTED]";

/// Starts the tracing subscriber: JSON when Lambda's `AWS_LAMBDA_LOG_FORMAT=JSON`, level from
/// `AWS_LAMBDA_LOG_LEVEL` or `RUST_LOG`.
pub fn init() {
    lambda_runtime::tracing::init_default_subscriber();
}

/// Keys whose values are never logged: a key is secret when, lower-cased and stripped of `_`
/// and `-`, it contains one of these.
const SECRET_KEY_PARTS: &[&str] = &[
    "credential",
    "secret",
    "token",
    "password",
    "accesskeyid",
    "authorization",
    "signature",
];

fn is_secret_key(key: &str) -> bool {
    let normalised: String = key
        .chars()
        .filter(|c| *c != '_' && *c != '-')
        .flat_map(char::to_lowercase)
        .collect();
    SECRET_KEY_PARTS
        .iter()
        .any(|part| normalised.contains(part))
}

/// A copy of `value` with every secret-looking field (artifact credentials, task tokens,
/// passwords, tokens, signatures) replaced by [`REDACTED`], at any depth.
pub fn redacted(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let v = if is_secret_key(k) {
                        Value::String(REDACTED.to_string())
                    } else {
                        redacted(v)
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(redacted).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn artifact_credentials_and_task_tokens_are_redacted_at_any_depth() {
        let event = json!({
            "CodePipeline.job": {
                "id": "job-1",
                "data": {
                    "artifactCredentials": {
                        "accessKeyId": "AKIAEXAMPLE",
                        "secretAccessKey": "wJalrXUtnFEMI",
                        "sessionToken": "FwoGZXIvYXdzEXAMPLE"
                    },
                    "continuationToken": "opaque"
                }
            },
            "steps": [{"TaskToken": "AAAAKgAAAAIAAAAA"}, {"region": "eu-west-1", "client-secret": "hunter2"}]
        });
        let text = redacted(&event).to_string();
        for secret in [
            "AKIAEXAMPLE",
            "wJalrXUtnFEMI",
            "FwoGZXIvYXdzEXAMPLE",
            "AAAAKgAAAAIAAAAA",
            "opaque",
            "hunter2",
        ] {
            assert!(!text.contains(secret), "{secret} leaked in {text}");
        }
        assert!(
            text.contains("job-1") && text.contains("eu-west-1"),
            "non-secret fields stay: {text}"
        );
        assert!(text.contains(REDACTED));
    }
}
