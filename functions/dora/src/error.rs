//! The DORA calculators' errors: what failed, worded for the person reading the logs.

use tollgate::state::StateError;

/// Why an event could not be handled. Every variant is retried by EventBridge (the function
/// returns an error) except `Malformed`, which no retry can fix.
#[derive(Debug, thiserror::Error)]
pub enum DoraError {
    /// The event lacks a field the calculator needs.
    #[error("malformed event: {0}")]
    Malformed(String),
    #[error(transparent)]
    State(#[from] StateError),
    /// An AWS call failed (CodePipeline, SSM, CloudWatch).
    #[error("{action} failed: {reason}")]
    Aws { action: String, reason: String },
    /// An event of another account, and no way to read that account (or the role could not be
    /// set up). Retried like any error, so the event ends in the dead-letter queue once retries
    /// are spent, with nothing written for it.
    #[error("cannot read account {account}: {reason}")]
    CrossAccount { account: String, reason: String },
    /// GitHub refused or failed: rate limit, 5xx, network. Returned so that EventBridge retries.
    #[error("GitHub {action} failed: {reason}")]
    GitHub { action: String, reason: String },
    /// A setting read on first use is wrong (the GitHub token secret): the message names the
    /// variable and the stack parameter or resource behind it.
    #[error("{0}")]
    Configuration(String),
}

impl From<DoraError> for lambda_runtime::Diagnostic {
    fn from(err: DoraError) -> Self {
        use tollgate::error::{
            AWS_ERROR, CONFIGURATION_ERROR, CROSS_ACCOUNT_ERROR, GITHUB_ERROR, INVALID_EVENT,
            STATE_ERROR, diagnostic,
        };
        let error_type = match &err {
            DoraError::Malformed(_) => INVALID_EVENT,
            DoraError::State(_) => STATE_ERROR,
            DoraError::Aws { .. } => AWS_ERROR,
            DoraError::CrossAccount { .. } => CROSS_ACCOUNT_ERROR,
            DoraError::GitHub { .. } => GITHUB_ERROR,
            DoraError::Configuration(_) => CONFIGURATION_ERROR,
        };
        diagnostic(error_type, &err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_runtime::Diagnostic;

    #[test]
    fn every_error_converts_to_a_stable_tollgate_error_type() {
        let cases = [
            (
                DoraError::Malformed("no detail".into()),
                "Tollgate.InvalidEvent",
            ),
            (
                DoraError::Aws {
                    action: "GetPipelineExecution".into(),
                    reason: "Throttling".into(),
                },
                "Tollgate.AwsError",
            ),
            (
                DoraError::CrossAccount {
                    account: "222222222222".into(),
                    reason: "no role".into(),
                },
                "Tollgate.CrossAccountError",
            ),
            (
                DoraError::GitHub {
                    action: "compare".into(),
                    reason: "rate limit".into(),
                },
                "Tollgate.GitHubError",
            ),
            (
                DoraError::Configuration("GITHUB_TOKEN_SECRET_ARN".into()),
                "Tollgate.ConfigurationError",
            ),
        ];
        for (err, expected) in cases {
            assert_eq!(Diagnostic::from(err).error_type, expected);
        }
    }
}

impl DoraError {
    pub(crate) fn aws<E, R>(
        action: impl Into<String>,
        err: &aws_smithy_runtime_api_shim::SdkError<E, R>,
    ) -> Self
    where
        E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug + 'static,
    {
        DoraError::Aws {
            action: action.into(),
            reason: tollgate::aws::error_text(err),
        }
    }
}

/// The SDK error type every service crate re-exports.
pub(crate) mod aws_smithy_runtime_api_shim {
    pub use aws_sdk_ssm::error::SdkError;
}
