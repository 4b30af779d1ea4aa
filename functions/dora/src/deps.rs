//! Settings from the environment and the production adapters, built once per cold start.

use tollgate::config::{ConfigError, Env, required};
use tollgate::state::DynamoStateStore;

use crate::adapters::{
    AssumedRoles, CROSS_ACCOUNT_ROLE_VAR, CloudWatchSink, CodePipelineHistory, CommitHistory,
    GitHubCommits, NoGitHub, SsmOpsItems,
};
use crate::decide::{PipelineFilter, is_account_id};
use crate::handler::{Deps, Settings};
use crate::model::DEFAULT_NAMESPACE;

/// The production dependencies without GitHub (deployment frequency, change failure rate, time
/// to restore).
pub type AwsDepsWithoutGitHub =
    Deps<DynamoStateStore, CloudWatchSink, CodePipelineHistory, SsmOpsItems, NoGitHub>;

/// The production dependencies (lead time and the `tollgate` CLI).
pub type AwsDeps =
    Deps<DynamoStateStore, CloudWatchSink, CodePipelineHistory, SsmOpsItems, GitHubCommits>;

/// GitHub's public API.
pub const DEFAULT_GITHUB_API_URL: &str = "https://api.github.com";

fn invalid(name: &str, value: &str, reason: impl ToString) -> ConfigError {
    ConfigError::Invalid {
        name: name.into(),
        value: value.into(),
        reason: reason.to_string(),
    }
}

/// Reads `METRICS_NAMESPACE` (default `DORA`), `PROD_PIPELINES` (comma-separated globs, default
/// `*`), `PROD_STAGE_NAME` (default `DeployPROD`), `DEFAULT_MAIN_BRANCH` (default `main`) and
/// `HOME_ACCOUNT_ID` (the function's own account; unset: every event is the function's own).
pub fn settings(env: &impl Env) -> Result<Settings, ConfigError> {
    let globs = env.var("PROD_PIPELINES").unwrap_or_else(|| "*".into());
    let prod_pipelines =
        PipelineFilter::new(&globs).map_err(|e| invalid("PROD_PIPELINES", &globs, e))?;
    let home_account = match env.var("HOME_ACCOUNT_ID") {
        Some(id) if is_account_id(&id) => Some(id),
        Some(id) => return Err(invalid("HOME_ACCOUNT_ID", &id, "not a 12-digit account id")),
        None => None,
    };
    Ok(Settings {
        home_account,
        namespace: env
            .var("METRICS_NAMESPACE")
            .unwrap_or_else(|| DEFAULT_NAMESPACE.into()),
        prod_pipelines,
        prod_stage: env
            .var("PROD_STAGE_NAME")
            .unwrap_or_else(|| "DeployPROD".into()),
        main_branch: env
            .var("DEFAULT_MAIN_BRANCH")
            .unwrap_or_else(|| "main".into()),
    })
}

/// The token in a Secrets Manager secret: the plain string, or the `token` field of a JSON object.
fn token_of_secret(text: &str) -> Option<String> {
    let text = text.trim();
    if let Ok(serde_json::Value::Object(map)) = serde_json::from_str(text) {
        return map.get("token")?.as_str().map(str::to_string);
    }
    (!text.is_empty()).then(|| text.to_string())
}

/// Whether GetSecretValue failed because the secret exists but has no current value
/// (ResourceNotFoundException "...can't find the specified secret value for staging label:
/// AWSCURRENT"), as opposed to a secret that does not exist.
fn secret_has_no_value<R>(
    err: &aws_sdk_secretsmanager::error::SdkError<
        aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueError,
        R,
    >,
) -> bool {
    err.as_service_error().is_some_and(|e| {
        e.is_resource_not_found_exception()
            && e.meta()
                .message()
                .is_some_and(|m| m.contains("secret value"))
    })
}

/// The GitHub client: `GITHUB_API_URL` (default `https://api.github.com`), authenticated with the
/// token in `GITHUB_TOKEN_SECRET_ARN`. `None` without a token secret.
pub async fn github(
    env: &impl Env,
    sdk: &aws_config::SdkConfig,
) -> Result<Option<GitHubCommits>, ConfigError> {
    let Some(arn) = env.var("GITHUB_TOKEN_SECRET_ARN") else {
        return Ok(None);
    };
    let api_url = env
        .var("GITHUB_API_URL")
        .unwrap_or_else(|| DEFAULT_GITHUB_API_URL.into());
    let secret = match aws_sdk_secretsmanager::Client::new(sdk)
        .get_secret_value()
        .secret_id(&arn)
        .send()
        .await
    {
        Ok(secret) => secret,
        // The secret the template creates has no value until someone puts a token in it: GitHub is
        // not set up yet (a secret that does not exist at all is still a configuration error).
        Err(e) if secret_has_no_value(&e) => {
            tracing::warn!(
                "GITHUB_TOKEN_SECRET_ARN holds no token yet: lead time uses the trigger commit alone (docs/dora.md#github)"
            );
            return Ok(None);
        }
        Err(e) => {
            return Err(invalid(
                "GITHUB_TOKEN_SECRET_ARN",
                &arn,
                tollgate::aws::error_text(&e),
            ));
        }
    };
    let Some(token) = secret.secret_string().and_then(token_of_secret) else {
        tracing::warn!(
            "GITHUB_TOKEN_SECRET_ARN holds an empty token: lead time uses the trigger commit alone (docs/dora.md#github)"
        );
        return Ok(None);
    };
    let client = octocrab::Octocrab::builder()
        .base_uri(api_url.as_str())
        .map_err(|e| invalid("GITHUB_API_URL", &api_url, e))?
        .personal_token(token)
        .build()
        .map_err(|e| invalid("GITHUB_API_URL", &api_url, e))?;
    Ok(Some(GitHubCommits { client }))
}

/// Builds the dependencies of a calculator that never reads GitHub (all but lead time):
/// [`settings`], `TABLE_NAME` and the AWS SDK configuration; no secret is read.
pub async fn without_github(env: &impl Env) -> Result<AwsDepsWithoutGitHub, ConfigError> {
    build(env, None).await
}

/// Builds every dependency from the environment (what the `tollgate` CLI uses): [`settings`],
/// `TABLE_NAME`, `GITHUB_API_URL` and `GITHUB_TOKEN_SECRET_ARN` (optional), and the AWS SDK
/// configuration (`AWS_REGION`, `AWS_ENDPOINT_URL`, …).
pub async fn from_env(env: &impl Env) -> Result<AwsDeps, ConfigError> {
    // Settings first: a typo fails before any AWS call.
    settings(env)?;
    required(env, "TABLE_NAME")?;
    let sdk = tollgate::aws::load(env).await?;
    let github = github(env, &sdk).await?;
    build_with(env, &sdk, github)
}

async fn build(
    env: &impl Env,
    github: Option<NoGitHub>,
) -> Result<AwsDepsWithoutGitHub, ConfigError> {
    let sdk = tollgate::aws::load(env).await?;
    build_with(env, &sdk, github)
}

fn build_with<C: CommitHistory>(
    env: &impl Env,
    sdk: &aws_config::SdkConfig,
    github: Option<C>,
) -> Result<Deps<DynamoStateStore, CloudWatchSink, CodePipelineHistory, SsmOpsItems, C>, ConfigError>
{
    let settings = settings(env)?;
    let table = required(env, "TABLE_NAME")?;
    let sdk = sdk.clone();
    // Another account's pipelines and OpsItems are read through this role (no STS call until
    // an event of another account arrives).
    let role = env.var(CROSS_ACCOUNT_ROLE_VAR).filter(|r| !r.is_empty());
    Ok(Deps::new(
        settings.clone(),
        DynamoStateStore::new(aws_sdk_dynamodb::Client::new(&sdk), table),
        CloudWatchSink {
            client: aws_sdk_cloudwatch::Client::new(&sdk),
            namespace: settings.namespace,
        },
        CodePipelineHistory {
            client: aws_sdk_codepipeline::Client::new(&sdk),
            accounts: AssumedRoles::new(&sdk, role.clone()),
        },
        SsmOpsItems {
            client: aws_sdk_ssm::Client::new(&sdk),
            accounts: AssumedRoles::new(&sdk, role),
        },
        github,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_apply_when_nothing_is_set() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.namespace, "DORA");
        assert_eq!(s.prod_stage, "DeployPROD");
        assert_eq!(s.main_branch, "main");
        assert!(s.prod_pipelines.matches("any-pipeline"));
    }

    #[test]
    fn home_account_id_is_optional_and_must_be_an_account_id() {
        assert_eq!(settings(&[]).unwrap().home_account, None);
        let s = settings(&[("HOME_ACCOUNT_ID", "111111111111")]).unwrap();
        assert_eq!(s.home_account.as_deref(), Some("111111111111"));
        let err = settings(&[("HOME_ACCOUNT_ID", "11111")]).unwrap_err();
        assert!(err.to_string().contains("HOME_ACCOUNT_ID"), "{err}");
    }

    #[test]
    fn a_bad_glob_names_prod_pipelines() {
        let err = settings(&[("PROD_PIPELINES", "prod-[")]).unwrap_err();
        assert!(err.to_string().contains("PROD_PIPELINES"), "{err}");
    }

    #[test]
    fn a_token_secret_is_plain_text_or_json_with_token() {
        assert_eq!(token_of_secret(" ghp_abc \n").as_deref(), Some("ghp_abc"));
        assert_eq!(
            token_of_secret(r#"{"token":"ghp_x"}"#).as_deref(),
            Some("ghp_x")
        );
        assert_eq!(token_of_secret(r#"{"other":"x"}"#), None);
        assert_eq!(token_of_secret("  "), None);
    }
}
