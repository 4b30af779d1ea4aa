//! The drift gate: `drift-gate` starts CloudFormation drift detection for a CodePipeline job; `drift-callback` reports it.

pub mod callback;
pub mod cloudformation;
pub mod completion;
pub mod decision;
pub mod gate;
pub mod model;
pub mod params;
pub mod records;
pub mod suggest;

use tollgate::config::{ConfigError, Env, required};
use tollgate::pipeline_job::CodePipelineReporter;
use tollgate::state::DynamoStateStore;

use cloudformation::AwsTargets;

/// The environment variable listing the accounts a role may be assumed in.
pub const ALLOWED_ACCOUNTS_VAR: &str = "CROSS_ACCOUNT_ALLOWED_ACCOUNTS";

/// Tollgate's own drift settings, from the function's environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    /// Role name to assume in other accounts (`CROSS_ACCOUNT_ROLE_NAME`), and the only role
    /// name a `roleArn` may have.
    pub cross_account_role_name: Option<String>,
    /// The only accounts a role may be assumed in (`CROSS_ACCOUNT_ALLOWED_ACCOUNTS`); `None`:
    /// any account IAM allows.
    pub allowed_accounts: Option<Vec<String>>,
    /// The function's region (the default region, and the partition of role ARNs it builds).
    pub region: Option<String>,
}

impl Settings {
    /// Reads `CROSS_ACCOUNT_ROLE_NAME` and `CROSS_ACCOUNT_ALLOWED_ACCOUNTS` (the region comes
    /// from the SDK configuration).
    pub fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        Ok(Settings {
            cross_account_role_name: env.var("CROSS_ACCOUNT_ROLE_NAME"),
            allowed_accounts: allowed_accounts(env)?,
            region: None,
        })
    }
}

/// `CROSS_ACCOUNT_ALLOWED_ACCOUNTS`: comma-separated 12-digit account ids, or unset. A value
/// that lists no valid account is an error, never "no limit".
pub fn allowed_accounts(env: &impl Env) -> Result<Option<Vec<String>>, ConfigError> {
    let Some(value) = env.var(ALLOWED_ACCOUNTS_VAR) else {
        return Ok(None);
    };
    let invalid = |reason: String| ConfigError::invalid(ALLOWED_ACCOUNTS_VAR, &value, reason);
    let accounts: Vec<String> = value
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(str::to_string)
        .collect();
    if accounts.is_empty() {
        return Err(invalid(
            "it lists no account id; give comma-separated 12-digit account ids, or leave it empty for no allow-list"
                .into(),
        ));
    }
    if let Some(bad) = accounts.iter().find(|a| !params::is_account_id(a)) {
        return Err(invalid(format!(
            "{bad:?} is not a 12-digit AWS account id (give comma-separated 12-digit account ids)"
        )));
    }
    Ok(Some(accounts))
}

/// Everything the drift functions talk to, built once per cold start.
pub struct Deps<R, S, T> {
    pub reporter: R,
    pub store: S,
    pub targets: T,
    pub settings: Settings,
}

/// The production dependencies.
pub type AwsDeps = Deps<CodePipelineReporter, DynamoStateStore, AwsTargets>;

impl AwsDeps {
    /// Builds the SDK clients from the environment: `TABLE_NAME` (the state table),
    /// `CROSS_ACCOUNT_ROLE_NAME` and `CROSS_ACCOUNT_ALLOWED_ACCOUNTS` (optional).
    pub async fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        let table = required(env, "TABLE_NAME")?;
        let mut settings = Settings::from_env(env)?;
        let sdk = tollgate::aws::load(env).await?;
        settings.region = sdk.region().map(|r| r.to_string());
        Ok(Deps {
            reporter: CodePipelineReporter::new(aws_sdk_codepipeline::Client::new(&sdk)),
            store: DynamoStateStore::new(aws_sdk_dynamodb::Client::new(&sdk), table),
            targets: AwsTargets::new(sdk),
            settings,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_and_decisions_depend_on_nothing_that_does_io() {
        let pure = [
            ("model.rs", include_str!("model.rs")),
            ("params.rs", include_str!("params.rs")),
            ("decision.rs", include_str!("decision.rs")),
        ];
        let io = [
            "crate::cloudformation",
            "crate::records",
            "crate::completion",
            "crate::gate",
            "crate::callback",
            "aws_sdk_",
            "aws_config",
            "tokio::",
        ];
        for (file, text) in pure {
            for module in io {
                assert!(!text.contains(module), "{file} uses {module}");
            }
        }
    }

    #[test]
    fn the_allow_list_is_read_trimmed_and_unset_means_no_list() {
        assert_eq!(allowed_accounts(&[]).unwrap(), None);
        assert_eq!(
            allowed_accounts(&[(ALLOWED_ACCOUNTS_VAR, " 222222222222, 333333333333 ,")]).unwrap(),
            Some(vec!["222222222222".to_string(), "333333333333".to_string()])
        );
    }

    #[test]
    fn a_malformed_allow_list_is_a_configuration_error_naming_the_variable() {
        for value in ["2222", ",", "222222222222,abc"] {
            let e = allowed_accounts(&[(ALLOWED_ACCOUNTS_VAR, value)])
                .unwrap_err()
                .to_string();
            assert!(e.contains(ALLOWED_ACCOUNTS_VAR), "{value}: {e}");
        }
    }
}
