//! One place that loads the AWS SDK configuration every function shares.

use std::time::Duration;

use aws_config::{BehaviorVersion, SdkConfig, retry::RetryConfig};
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::config::{ConfigError, Env, parsed_or};

/// Attempts per AWS call (first try plus retries) unless `TOLLGATE_MAX_ATTEMPTS` says otherwise.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 4;

/// Retry policy for AWS calls: standard mode (throttling, 5xx and transient network errors are
/// retried with exponential backoff and jitter), `TOLLGATE_MAX_ATTEMPTS` attempts in all.
pub fn retry_config(env: &impl Env) -> Result<RetryConfig, ConfigError> {
    let attempts = parsed_or(env, "TOLLGATE_MAX_ATTEMPTS", DEFAULT_MAX_ATTEMPTS)?;
    if attempts == 0 {
        return Err(ConfigError::invalid(
            "TOLLGATE_MAX_ATTEMPTS",
            "0",
            "must be at least 1",
        ));
    }
    Ok(RetryConfig::standard()
        .with_max_attempts(attempts)
        .with_initial_backoff(Duration::from_millis(200))
        .with_max_backoff(Duration::from_secs(5)))
}

/// Loads region, credentials and endpoint (`AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_<SERVICE>`) the
/// way every AWS SDK does, with Tollgate's retry policy.
pub async fn load(env: &impl Env) -> Result<SdkConfig, ConfigError> {
    let retry = retry_config(env)?;
    Ok(aws_config::defaults(BehaviorVersion::latest())
        .retry_config(retry)
        .load()
        .await)
}

/// Formats an SDK error for messages shown to people: `Code: message` when AWS answered with an
/// error, else the cause chain as one line (`dispatch failure: … Connection refused`), never the
/// raw HTTP response or a debug dump.
pub fn error_text<E, R>(err: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    if let SdkError::ServiceError(ctx) = err {
        let service = ctx.err();
        match (service.code(), service.message()) {
            (Some(code), Some(message)) => return format!("{code}: {message}"),
            (Some(code), None) => return code.to_string(),
            _ => {}
        }
    }
    cause_chain(err)
}

/// An error and its `source()` chain as one line, `outer: inner: root`, skipping a cause whose
/// text the line already holds.
pub fn cause_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current = Some(err);
    while let Some(e) = current {
        let text = e.to_string();
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        current = e.source();
    }
    parts.join(": ")
}

/// Whether `name` looks like an AWS region name: `us-east-1`, `eu-central-2`, `us-gov-west-1`.
pub fn is_region_name(name: &str) -> bool {
    let parts: Vec<&str> = name.split('-').collect();
    let Some((number, words)) = parts.split_last() else {
        return false;
    };
    parts.len() >= 3
        && !number.is_empty()
        && number.chars().all(|c| c.is_ascii_digit())
        && words
            .iter()
            .all(|w| !w.is_empty() && w.chars().all(|c| c.is_ascii_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_failure_reads_as_one_line_without_a_debug_dump() {
        let err: SdkError<aws_sdk_dynamodb::operation::query::QueryError, ()> =
            SdkError::dispatch_failure(aws_smithy_runtime_api::client::result::ConnectorError::io(
                Box::new(std::io::Error::new(
                    std::io::ErrorKind::ConnectionRefused,
                    "Connection refused",
                )),
            ));
        let text = error_text(&err);
        assert!(text.contains("Connection refused"), "{text}");
        assert!(
            !text.contains("DispatchFailure {")
                && !text.contains("ConnectorError {")
                && !text.contains('\n'),
            "{text}"
        );
    }

    #[test]
    fn region_names_of_every_partition_are_recognised() {
        for r in [
            "us-east-1",
            "eu-central-2",
            "us-gov-west-1",
            "cn-north-1",
            "ap-southeast-5",
        ] {
            assert!(is_region_name(r), "{r}");
        }
        for r in [
            "global",
            "us-east",
            "us-east-1a",
            "-1",
            "us--1",
            "US-EAST-1",
            "",
        ] {
            assert!(!is_region_name(r), "{r}");
        }
    }

    #[test]
    fn retry_attempts_default_and_override() {
        assert_eq!(
            retry_config(&[]).unwrap().max_attempts(),
            DEFAULT_MAX_ATTEMPTS
        );
        assert_eq!(
            retry_config(&[("TOLLGATE_MAX_ATTEMPTS", "2")])
                .unwrap()
                .max_attempts(),
            2
        );
    }

    #[test]
    fn zero_attempts_is_rejected_with_the_variable_name() {
        let err = retry_config(&[("TOLLGATE_MAX_ATTEMPTS", "0")]).unwrap_err();
        assert!(err.to_string().contains("TOLLGATE_MAX_ATTEMPTS"));
    }
}
