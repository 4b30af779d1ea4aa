//! The production adapters, built once per cold start from the function's environment.

use tollgate::config::{ConfigError, Env, Origin, parsed_or, required};
use tollgate::state::DynamoStateStore;

use crate::adapters::{AwsResumer, SecretsManagerKey, SesMailer};
use crate::api::ApiDeps;
use crate::mailer::{MailerDeps, MailerSettings};
use crate::pipeline::{AwsPipelines, LazyGitHub};
use crate::store::{ApprovalStore, DEFAULT_RETENTION};

/// approval-mailer's production dependencies.
pub type AwsMailerDeps =
    MailerDeps<DynamoStateStore, SecretsManagerKey, SesMailer, AwsResumer, AwsPipelines>;
/// approval-api's production dependencies.
pub type AwsApiDeps = ApiDeps<DynamoStateStore, SecretsManagerKey, AwsResumer>;

/// Where template.yaml takes the approval functions' settings from, so a configuration error names
/// the stack parameter to set (the shared settings are in `tollgate::config::GLOBAL_ORIGINS`).
pub const TEMPLATE_ORIGINS: &[(&str, Origin)] = &[
    ("APPROVAL_SENDER", Origin::Parameter("ApprovalSender")),
    ("PIPELINE_APPROVERS", Origin::Parameter("PipelineApprovers")),
    ("APPROVER_GROUPS", Origin::Parameter("ApproverGroups")),
    (
        "ALLOW_SELF_APPROVAL",
        Origin::Parameter("AllowSelfApproval"),
    ),
    (
        "APPROVAL_RETENTION_DAYS",
        Origin::Parameter("ApprovalRetentionDays"),
    ),
    (
        "APPROVAL_SIGNING_SECRET",
        Origin::Resource("ApprovalSigningSecret"),
    ),
    ("GITHUB_API_URL", Origin::Parameter("GitHubApiUrl")),
    (
        "GITHUB_TOKEN_SECRET_ARN",
        Origin::Parameter("GitHubTokenSecretArn"),
    ),
];

/// GitHub's public API (`GITHUB_API_URL` when unset).
pub const DEFAULT_GITHUB_API_URL: &str = "https://api.github.com";

fn retention(env: &impl Env) -> Result<std::time::Duration, ConfigError> {
    let days: u64 = parsed_or(
        env,
        "APPROVAL_RETENTION_DAYS",
        DEFAULT_RETENTION.as_secs() / 86_400,
    )?;
    Ok(std::time::Duration::from_secs(days.saturating_mul(86_400)))
}

/// Reads `TABLE_NAME`, `APPROVAL_BASE_URL`, `APPROVAL_SENDER`, `APPROVAL_SIGNING_SECRET`,
/// `PIPELINE_APPROVERS`, `APPROVAL_RETENTION_DAYS`, `GITHUB_API_URL` and
/// `GITHUB_TOKEN_SECRET_ARN` (read on the first GitHub source, not at start-up) and builds the
/// SDK clients.
pub async fn mailer(env: &impl Env) -> Result<AwsMailerDeps, ConfigError> {
    mailer_deps(env)
        .await
        .map_err(|e| e.with_origins(TEMPLATE_ORIGINS))
}

async fn mailer_deps(env: &impl Env) -> Result<AwsMailerDeps, ConfigError> {
    let settings = MailerSettings::from_env(env)?;
    let table = required(env, "TABLE_NAME")?;
    let sdk = tollgate::aws::load(env).await?;
    let api_url = env
        .var("GITHUB_API_URL")
        .map(|u| u.trim().to_string())
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| DEFAULT_GITHUB_API_URL.into());
    let github = LazyGitHub::new(
        api_url.clone(),
        env.var("GITHUB_TOKEN_SECRET_ARN"),
        aws_sdk_secretsmanager::Client::new(&sdk),
    )
    .map_err(|e| ConfigError::invalid("GITHUB_API_URL", &api_url, e))?;
    Ok(MailerDeps {
        store: ApprovalStore::new(
            DynamoStateStore::new(aws_sdk_dynamodb::Client::new(&sdk), table),
            settings.retention,
        ),
        keys: SecretsManagerKey::new(
            aws_sdk_secretsmanager::Client::new(&sdk),
            settings.signing_secret.clone(),
        ),
        mailer: SesMailer::new(aws_sdk_ses::Client::new(&sdk), settings.sender.clone()),
        resumer: AwsResumer {
            sfn: aws_sdk_sfn::Client::new(&sdk),
            codepipeline: aws_sdk_codepipeline::Client::new(&sdk),
        },
        pipelines: AwsPipelines {
            codepipeline: aws_sdk_codepipeline::Client::new(&sdk),
            codecommit: aws_sdk_codecommit::Client::new(&sdk),
            github,
        },
        settings,
    })
}

/// Reads `TABLE_NAME`, `APPROVAL_SIGNING_SECRET`, `APPROVAL_RETENTION_DAYS` and builds the SDK
/// clients.
pub async fn api(env: &impl Env) -> Result<AwsApiDeps, ConfigError> {
    api_deps(env)
        .await
        .map_err(|e| e.with_origins(TEMPLATE_ORIGINS))
}

async fn api_deps(env: &impl Env) -> Result<AwsApiDeps, ConfigError> {
    let table = required(env, "TABLE_NAME")?;
    let secret = required(env, "APPROVAL_SIGNING_SECRET")?;
    let retention = retention(env)?;
    let sdk = tollgate::aws::load(env).await?;
    Ok(ApiDeps {
        store: ApprovalStore::new(
            DynamoStateStore::new(aws_sdk_dynamodb::Client::new(&sdk), table),
            retention,
        ),
        keys: SecretsManagerKey::new(aws_sdk_secretsmanager::Client::new(&sdk), secret),
        resumer: AwsResumer {
            sfn: aws_sdk_sfn::Client::new(&sdk),
            codepipeline: aws_sdk_codepipeline::Client::new(&sdk),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_origin_named_in_messages_is_declared_in_template_yaml() {
        let template = include_str!("../../../template.yaml");
        assert_eq!(
            tollgate::config::undeclared_origins(TEMPLATE_ORIGINS, template),
            Vec::<String>::new()
        );
    }

    #[tokio::test]
    async fn an_empty_sender_names_the_approval_sender_parameter() {
        let env = [
            ("TABLE_NAME", "t"),
            ("APPROVAL_BASE_URL", "https://example.com"),
            (
                "APPROVAL_SIGNING_SECRET",
                "arn:aws:secretsmanager:eu-west-1:111111111111:secret:s",
            ),
            ("APPROVAL_SENDER", ""),
        ];
        let Err(err) = mailer(&env).await else {
            panic!("an empty APPROVAL_SENDER was accepted");
        };
        let text = err.to_string();
        assert!(
            text.contains("ApprovalSender") && text.contains("APPROVAL_SENDER"),
            "{text}"
        );
        assert!(!text.contains("declare it"), "{text}");
    }
}
