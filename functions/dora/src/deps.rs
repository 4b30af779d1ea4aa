//! Settings from the environment and the production adapters, built once per cold start.

use tollgate::config::{ConfigError, Env, Origin, required};
use tollgate::state::DynamoStateStore;

use crate::adapters::{
    AssumedRoles, CROSS_ACCOUNT_ROLE_VAR, CloudWatchSink, CodePipelineHistory, CommitHistory,
    GitHubCommits, NoGitHub, SsmOpsItems,
};
use crate::decide::{PipelineFilter, is_account_id};
use crate::error::DoraError;
use crate::handler::{Deps, Settings};
use crate::ledger::Retention;
use crate::model::DEFAULT_NAMESPACE;

/// The production dependencies without GitHub (deployment frequency, change failure rate, time
/// to restore).
pub type AwsDepsWithoutGitHub =
    Deps<DynamoStateStore, CloudWatchSink, CodePipelineHistory, SsmOpsItems, NoGitHub>;

/// The production dependencies (lead time and the `tollgate` CLI).
pub type AwsDeps =
    Deps<DynamoStateStore, CloudWatchSink, CodePipelineHistory, SsmOpsItems, LazyGitHub>;

/// Where template.yaml takes the DORA calculators' settings from, so a configuration error names
/// the stack parameter to set (the shared settings are in `tollgate::config::GLOBAL_ORIGINS`).
pub const TEMPLATE_ORIGINS: &[(&str, Origin)] = &[
    (
        "METRICS_NAMESPACE",
        Origin::Parameter("DoraMetricsNamespace"),
    ),
    ("PROD_PIPELINES", Origin::Parameter("DoraProdPipelines")),
    ("PROD_STAGE_NAME", Origin::Parameter("DoraProdStageName")),
    (
        "DEFAULT_MAIN_BRANCH",
        Origin::Parameter("DoraDefaultMainBranch"),
    ),
    ("GITHUB_API_URL", Origin::Parameter("DoraGitHubApiUrl")),
    (
        "BRANCH_STACK_PREFIX",
        Origin::Parameter("BranchStackPrefix"),
    ),
    (
        "DORA_RETENTION_DAYS",
        Origin::Parameter("DoraRetentionDays"),
    ),
    (
        "GITHUB_TOKEN_SECRET_ARN",
        Origin::Resource("DoraGitHubTokenSecret"),
    ),
];

/// GitHub's public API.
pub const DEFAULT_GITHUB_API_URL: &str = "https://api.github.com";

fn invalid(name: &str, value: &str, reason: impl ToString) -> ConfigError {
    ConfigError::invalid(name, value, reason)
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
    let retention = match env.var("DORA_RETENTION_DAYS") {
        None => Retention::default(),
        Some(text) => match text.trim().parse::<u32>() {
            Ok(days) if (1..=36_500).contains(&days) => Retention { days },
            _ => {
                return Err(invalid(
                    "DORA_RETENTION_DAYS",
                    &text,
                    "not a number of days between 1 and 36500",
                ));
            }
        },
    };
    let branch_prefix = env
        .var("BRANCH_STACK_PREFIX")
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty());
    Ok(Settings {
        home_account,
        retention,
        branch_prefix,
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
/// token in `GITHUB_TOKEN_SECRET_ARN`. `None` without a token secret. Reads the secret now; the
/// calculators use [`LazyGitHub`], which reads it on the first deployment that needs it.
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
    load_github(&arn, &api_url, sdk).await
}

/// The GitHub client for the token in the secret `arn` (see [`github`]).
async fn load_github(
    arn: &str,
    api_url: &str,
    sdk: &aws_config::SdkConfig,
) -> Result<Option<GitHubCommits>, ConfigError> {
    let secret = match aws_sdk_secretsmanager::Client::new(sdk)
        .get_secret_value()
        .secret_id(arn)
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
                arn,
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
    crate::adapters::github_api_url(api_url).map_err(|e| invalid("GITHUB_API_URL", api_url, e))?;
    GitHubCommits::new(api_url, &token)
        .map(Some)
        .map_err(|e| invalid("GITHUB_TOKEN_SECRET_ARN", arn, e))
}

/// The production [`CommitHistory`] of the lead-time calculator: GitHub through the token in
/// `GITHUB_TOKEN_SECRET_ARN`, read on the first deployment that needs it and kept for the
/// function's life (start-up reads no secret). An unreadable secret is not kept: the next event
/// tries again.
pub struct LazyGitHub {
    arn: String,
    api_url: String,
    sdk: aws_config::SdkConfig,
    client: tokio::sync::OnceCell<Option<GitHubCommits>>,
}

impl LazyGitHub {
    /// Checks `GITHUB_API_URL` now (a typo fails at start-up); reads nothing yet.
    pub fn new(
        arn: String,
        api_url: String,
        sdk: aws_config::SdkConfig,
    ) -> Result<Self, ConfigError> {
        crate::adapters::github_api_url(&api_url)
            .map_err(|e| invalid("GITHUB_API_URL", &api_url, e))?;
        Ok(LazyGitHub {
            arn,
            api_url,
            sdk,
            client: tokio::sync::OnceCell::new(),
        })
    }

    async fn client(&self) -> Result<Option<&GitHubCommits>, DoraError> {
        self.client
            .get_or_try_init(|| load_github(&self.arn, &self.api_url, &self.sdk))
            .await
            .map(Option::as_ref)
            .map_err(|e| DoraError::Configuration(e.with_origins(TEMPLATE_ORIGINS).to_string()))
    }
}

impl CommitHistory for LazyGitHub {
    async fn configured(&self) -> Result<bool, DoraError> {
        Ok(self.client().await?.is_some())
    }

    async fn compare(
        &self,
        repository: &str,
        base: &str,
        head: &str,
    ) -> Result<Option<crate::adapters::Compared>, DoraError> {
        match self.client().await? {
            Some(github) => github.compare(repository, base, head).await,
            None => Ok(None),
        }
    }

    async fn commit(
        &self,
        repository: &str,
        sha: &str,
    ) -> Result<Option<crate::adapters::CommitInfo>, DoraError> {
        match self.client().await? {
            Some(github) => github.commit(repository, sha).await,
            None => Ok(None),
        }
    }
}

/// Builds the dependencies of a calculator that never reads GitHub (all but lead time):
/// [`settings`], `TABLE_NAME` and the AWS SDK configuration; no secret is read.
pub async fn without_github(env: &impl Env) -> Result<AwsDepsWithoutGitHub, ConfigError> {
    build(env, None)
        .await
        .map_err(|e| e.with_origins(TEMPLATE_ORIGINS))
}

/// Builds every dependency from the environment (what the `tollgate` CLI uses): [`settings`],
/// `TABLE_NAME`, `GITHUB_API_URL` and `GITHUB_TOKEN_SECRET_ARN` (optional), and the AWS SDK
/// configuration (`AWS_REGION`, `AWS_ENDPOINT_URL`, …). The token secret is read on the first
/// deployment that needs it ([`LazyGitHub`]), not here.
pub async fn from_env(env: &impl Env) -> Result<AwsDeps, ConfigError> {
    lazy_from_env(env)
        .await
        .map_err(|e| e.with_origins(TEMPLATE_ORIGINS))
}

async fn lazy_from_env(env: &impl Env) -> Result<AwsDeps, ConfigError> {
    // Settings first: a typo fails before any AWS call.
    settings(env)?;
    required(env, "TABLE_NAME")?;
    let sdk = tollgate::aws::load(env).await?;
    let github = match env.var("GITHUB_TOKEN_SECRET_ARN") {
        Some(arn) => {
            let api_url = env
                .var("GITHUB_API_URL")
                .unwrap_or_else(|| DEFAULT_GITHUB_API_URL.into());
            Some(LazyGitHub::new(arn, api_url, sdk.clone())?)
        }
        None => None,
    };
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
    fn retention_defaults_to_400_days_and_refuses_nonsense() {
        assert_eq!(settings(&[]).unwrap().retention.days, 400);
        assert_eq!(
            settings(&[("DORA_RETENTION_DAYS", "30")])
                .unwrap()
                .retention
                .days,
            30
        );
        for bad in ["0", "-1", "forever", "40000"] {
            let err = settings(&[("DORA_RETENTION_DAYS", bad)]).unwrap_err();
            assert!(err.to_string().contains("DORA_RETENTION_DAYS"), "{err}");
        }
    }

    #[test]
    fn every_origin_named_in_messages_is_declared_in_template_yaml() {
        let template = include_str!("../../../template.yaml");
        assert_eq!(
            tollgate::config::undeclared_origins(TEMPLATE_ORIGINS, template),
            Vec::<String>::new()
        );
    }

    #[tokio::test]
    async fn start_up_reads_no_token_secret_and_a_bad_glob_names_its_parameter() {
        // The secret ARN points nowhere reachable: building must not touch it.
        let env = [
            ("TABLE_NAME", "t"),
            ("AWS_REGION", "eu-west-1"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:9"),
            ("TOLLGATE_MAX_ATTEMPTS", "1"),
            (
                "GITHUB_TOKEN_SECRET_ARN",
                "arn:aws:secretsmanager:eu-west-1:111111111111:secret:t",
            ),
        ];
        let started = std::time::Instant::now();
        let deps = from_env(&env).await.expect("no secret read at start-up");
        assert!(deps.github.is_some());
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
        let Err(err) = from_env(&[("TABLE_NAME", "t"), ("PROD_PIPELINES", "prod-[")]).await else {
            panic!("a bad glob was accepted");
        };
        assert!(err.to_string().contains("DoraProdPipelines"), "{err}");
    }

    #[tokio::test]
    async fn an_unreadable_token_secret_is_a_configuration_error_on_first_use() {
        let env = [
            ("TABLE_NAME", "t"),
            ("AWS_REGION", "eu-west-1"),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:9"),
            ("TOLLGATE_MAX_ATTEMPTS", "1"),
            (
                "GITHUB_TOKEN_SECRET_ARN",
                "arn:aws:secretsmanager:eu-west-1:111111111111:secret:t",
            ),
        ];
        let deps = from_env(&env).await.expect("built");
        let github = deps.github.as_ref().expect("lazy GitHub");
        let err = github.configured().await.expect_err("nothing answers");
        assert!(matches!(err, DoraError::Configuration(_)), "{err}");
        let text = err.to_string();
        assert!(
            text.contains("GITHUB_TOKEN_SECRET_ARN") && text.contains("DoraGitHubTokenSecret"),
            "{text}"
        );
    }

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
