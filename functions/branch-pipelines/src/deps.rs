//! Settings from the environment and the production adapters, built once per cold start.

use tollgate::config::{ConfigError, Env, Origin, parsed_or, required};
use tollgate::state::DynamoStateStore;

use crate::adapters::{AwsStacks, BranchTemplate, Branches, GitHubToken, SecretsManagerSecret};
use crate::filters::{BranchFilter, DEFAULT_INCLUDE, RepositoryFilter};
use crate::handler::{Deps, Mode, Settings};
use crate::naming::validate_prefix;

/// The production dependencies.
pub type AwsDeps = Deps<DynamoStateStore, AwsStacks, Branches, SecretsManagerSecret>;

fn invalid(name: &str, value: &str, reason: impl ToString) -> ConfigError {
    ConfigError::invalid(name, value, reason)
}

/// The parameters Tollgate sets itself on every branch stack.
const OWN_PARAMETERS: [&str; 2] = ["BranchName", "RepositoryName"];

/// `BRANCH_STACK_PARAMETERS`: a JSON object of the team's fixed stack parameters
/// (`{"AppTemplatePath": "infra/app.yaml"}`); absent or empty: none.
fn stack_parameters(raw: Option<&str>) -> Result<Vec<(String, String)>, ConfigError> {
    let Some(raw) = raw.map(str::trim).filter(|r| !r.is_empty()) else {
        return Ok(Vec::new());
    };
    let bad = |reason: &str| invalid("BRANCH_STACK_PARAMETERS", raw, reason);
    let map: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(raw).map_err(|_| {
            bad(r#"must be a JSON object of strings, e.g. {"AppTemplatePath": "infra/app.yaml"}"#)
        })?;
    let mut parameters = Vec::with_capacity(map.len());
    for (key, value) in map {
        if OWN_PARAMETERS.contains(&key.as_str()) {
            return Err(bad(&format!(
                "{key} is set by Tollgate for each branch; remove it"
            )));
        }
        let value = match value {
            serde_json::Value::String(s) => s,
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::Bool(b) => b.to_string(),
            _ => return Err(bad(&format!("the value of {key} must be a string"))),
        };
        parameters.push((key, value));
    }
    Ok(parameters)
}

/// Reads `STACK_PREFIX`, `BRANCH_TEMPLATE_URL`, `BRANCH_STACK_PARAMETERS`, `CFN_ROLE_ARN`, `BRANCH_INCLUDE`,
/// `BRANCH_EXCLUDE`, `DEFAULT_BRANCH`, `MAX_BRANCH_STACKS`, `BRANCH_TTL_DAYS`,
/// `EMPTY_BUCKETS_ON_DESTROY`, `GITHUB_REPOSITORIES`, `ACCOUNT_ID`.
pub fn settings(env: &impl Env) -> Result<Settings, ConfigError> {
    let prefix = required(env, "STACK_PREFIX")?;
    validate_prefix(&prefix).map_err(|e| invalid("STACK_PREFIX", &prefix, e))?;
    let template = match env
        .var("BRANCH_TEMPLATE_URL")
        .filter(|u| !u.trim().is_empty())
    {
        None => BranchTemplate::Sample,
        Some(url) if url.starts_with("https://") => BranchTemplate::Url(url),
        Some(url) => {
            return Err(invalid(
                "BRANCH_TEMPLATE_URL",
                &url,
                "must be an https:// S3 URL (or empty for the sample branch pipeline)",
            ));
        }
    };
    let parameters = stack_parameters(env.var("BRANCH_STACK_PARAMETERS").as_deref())?;
    let include = env
        .var("BRANCH_INCLUDE")
        .unwrap_or_else(|| DEFAULT_INCLUDE.into());
    let exclude = env.var("BRANCH_EXCLUDE").unwrap_or_default();
    let filter = BranchFilter::new(&include, &exclude)
        .map_err(|e| invalid("BRANCH_INCLUDE/BRANCH_EXCLUDE", &e.glob, &e.reason))?;
    let repositories_csv = env.var("GITHUB_REPOSITORIES").unwrap_or_default();
    let repositories = RepositoryFilter::new(&repositories_csv)
        .map_err(|e| invalid("GITHUB_REPOSITORIES", &e.glob, &e.reason))?;
    let account = required(env, "ACCOUNT_ID")?;
    if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid("ACCOUNT_ID", &account, "must be 12 digits"));
    }
    let mode_text = env.var("BRANCH_MODE").unwrap_or_else(|| "branch".into());
    let mode = Mode::parse(mode_text.trim()).ok_or_else(|| {
        invalid(
            "BRANCH_MODE",
            &mode_text,
            "must be branch, pull-request or both",
        )
    })?;
    Ok(Settings {
        prefix,
        template,
        parameters,
        role_arn: env.var("CFN_ROLE_ARN"),
        filter,
        default_branch: env.var("DEFAULT_BRANCH").unwrap_or_else(|| "main".into()),
        max_stacks: parsed_or(env, "MAX_BRANCH_STACKS", 20usize)?,
        ttl_days: parsed_or(env, "BRANCH_TTL_DAYS", 30u64)?,
        empty_buckets: parsed_or(env, "EMPTY_BUCKETS_ON_DESTROY", true)?,
        repositories,
        account,
        mode,
        include_drafts: parsed_or(env, "BRANCH_INCLUDE_DRAFTS", false)?,
    })
}

/// Where template.yaml takes branch-pipelines' settings from, so a configuration error names the
/// stack parameter to set (the shared settings are in `tollgate::config::GLOBAL_ORIGINS`).
pub const TEMPLATE_ORIGINS: &[(&str, Origin)] = &[
    ("STACK_PREFIX", Origin::Parameter("BranchStackPrefix")),
    (
        "BRANCH_TEMPLATE_URL",
        Origin::Parameter("BranchTemplateUrl"),
    ),
    (
        "BRANCH_STACK_PARAMETERS",
        Origin::Parameter("BranchStackParameters"),
    ),
    ("CFN_ROLE_ARN", Origin::Parameter("BranchCfnRoleArn")),
    ("BRANCH_INCLUDE", Origin::Parameter("BranchInclude")),
    ("BRANCH_EXCLUDE", Origin::Parameter("BranchExclude")),
    ("DEFAULT_BRANCH", Origin::Parameter("BranchDefaultBranch")),
    ("MAX_BRANCH_STACKS", Origin::Parameter("MaxBranchStacks")),
    ("BRANCH_TTL_DAYS", Origin::Parameter("BranchTtlDays")),
    (
        "EMPTY_BUCKETS_ON_DESTROY",
        Origin::Parameter("EmptyBucketsOnDestroy"),
    ),
    ("GITHUB_API_URL", Origin::Parameter("GitHubApiUrl")),
    ("BRANCH_MODE", Origin::Parameter("BranchMode")),
    (
        "BRANCH_INCLUDE_DRAFTS",
        Origin::Parameter("BranchIncludeDrafts"),
    ),
    (
        "GITHUB_REPOSITORIES",
        Origin::Parameter("GitHubRepositories"),
    ),
    (
        "GITHUB_TOKEN_SECRET_ARN",
        Origin::Parameter("GitHubTokenSecretArn"),
    ),
    (
        "GITHUB_WEBHOOK_SECRET_ARN",
        Origin::Resource("GitHubWebhookSecret"),
    ),
    (
        "BRANCH_GITHUB_TOKEN_SECRET_ARN",
        Origin::Resource("BranchGitHubTokenSecret"),
    ),
];

/// Builds everything from the environment (also `TABLE_NAME`, `GITHUB_WEBHOOK_SECRET_ARN`,
/// `GITHUB_API_URL`, `GITHUB_TOKEN_SECRET_ARN`, `BRANCH_GITHUB_TOKEN_SECRET_ARN`). An error names the stack parameter to set.
pub async fn from_env(env: &impl Env) -> Result<AwsDeps, ConfigError> {
    build(env)
        .await
        .map_err(|e| e.with_origins(TEMPLATE_ORIGINS))
}

async fn build(env: &impl Env) -> Result<AwsDeps, ConfigError> {
    let settings = settings(env)?;
    let table = required(env, "TABLE_NAME")?;
    let secret_arn = required(env, "GITHUB_WEBHOOK_SECRET_ARN")?;
    let api_url = env
        .var("GITHUB_API_URL")
        .unwrap_or_else(|| "https://api.github.com".into());
    let sdk = tollgate::aws::load(env).await?;
    let secrets = aws_sdk_secretsmanager::Client::new(&sdk);
    let github = tollgate::github::client(&api_url, None, crate::adapters::GITHUB_TIMEOUTS)
        .map_err(|e| invalid("GITHUB_API_URL", &api_url, e))?;
    // The token is read on the first GitHub call, not at start-up: without it (or while its
    // secret cannot be read) everything that does not need GitHub still works.
    // GITHUB_TOKEN_SECRET_ARN (a secret of yours, parameter GitHubTokenSecretArn) when set, else
    // the secret the template creates empty for it (BRANCH_GITHUB_TOKEN_SECRET_ARN).
    let token = ["GITHUB_TOKEN_SECRET_ARN", "BRANCH_GITHUB_TOKEN_SECRET_ARN"]
        .iter()
        .find_map(|name| env.var(name).filter(|arn| !arn.trim().is_empty()))
        .map(|arn| GitHubToken::new(SecretsManagerSecret::new(secrets.clone(), arn), &api_url));
    Ok(Deps {
        settings,
        store: DynamoStateStore::new(aws_sdk_dynamodb::Client::new(&sdk), table),
        stacks: AwsStacks {
            cloudformation: aws_sdk_cloudformation::Client::new(&sdk),
            s3: aws_sdk_s3::Client::new(&sdk),
        },
        branches: Branches {
            codecommit: aws_sdk_codecommit::Client::new(&sdk),
            github,
            token,
        },
        secret: SecretsManagerSecret::new(secrets, secret_arn),
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
    async fn a_missing_stack_prefix_names_the_branch_stack_prefix_parameter() {
        let Err(err) = from_env(&[("TABLE_NAME", "t")]).await else {
            panic!("no STACK_PREFIX was accepted");
        };
        let text = err.to_string();
        assert!(text.contains("BranchStackPrefix"), "{text}");
    }

    const BASE: [(&str, &str); 3] = [
        ("STACK_PREFIX", "tg-branch"),
        (
            "BRANCH_TEMPLATE_URL",
            "https://bucket.s3.amazonaws.com/branch-pipeline.yaml",
        ),
        ("ACCOUNT_ID", "123456789012"),
    ];

    #[test]
    fn defaults_apply_when_only_the_required_settings_are_given() {
        let s = settings(&[BASE[0], BASE[2]]).unwrap();
        assert_eq!((s.max_stacks, s.ttl_days, s.empty_buckets), (20, 30, true));
        assert_eq!(s.default_branch, "main");
        assert!(s.role_arn.is_none());
        assert_eq!(s.template, BranchTemplate::Sample);
        assert!(s.parameters.is_empty());
    }

    #[test]
    fn a_template_url_must_be_https_and_an_empty_one_means_the_sample() {
        let s = settings(&BASE).unwrap();
        assert!(
            matches!(s.template, BranchTemplate::Url(ref u) if u.ends_with("branch-pipeline.yaml"))
        );
        let s = settings(&[BASE[0], BASE[2], ("BRANCH_TEMPLATE_URL", " ")]).unwrap();
        assert_eq!(s.template, BranchTemplate::Sample);
        let err =
            settings(&[BASE[0], BASE[2], ("BRANCH_TEMPLATE_URL", "s3://b/t.yaml")]).unwrap_err();
        assert!(err.to_string().contains("BRANCH_TEMPLATE_URL"), "{err}");
    }

    #[test]
    fn fixed_parameters_are_a_json_object_that_cannot_override_the_branch() {
        let s = settings(&[
            BASE[0],
            BASE[2],
            (
                "BRANCH_STACK_PARAMETERS",
                r#"{"AppTemplatePath": "infra/app.yaml", "Replicas": 2}"#,
            ),
        ])
        .unwrap();
        assert_eq!(
            s.parameters,
            vec![
                ("AppTemplatePath".to_string(), "infra/app.yaml".to_string()),
                ("Replicas".to_string(), "2".to_string())
            ]
        );
        for bad in [
            r#"{"BranchName": "x"}"#,
            "AppTemplatePath=x",
            r#"{"A": {"b": 1}}"#,
        ] {
            let err = settings(&[BASE[0], BASE[2], ("BRANCH_STACK_PARAMETERS", bad)]).unwrap_err();
            assert!(
                err.to_string().contains("BRANCH_STACK_PARAMETERS"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn the_repository_allow_list_defaults_to_none_and_the_account_must_be_twelve_digits() {
        let s = settings(&BASE).unwrap();
        assert!(s.repositories.refusal("acme/web").is_some());
        assert_eq!(s.account, "123456789012");
        let s = settings(&[BASE[0], BASE[2], ("GITHUB_REPOSITORIES", "acme/*")]).unwrap();
        assert_eq!(s.repositories.refusal("acme/web"), None);
        let err = settings(&[BASE[0], ("ACCOUNT_ID", "12345")]).unwrap_err();
        assert!(err.to_string().contains("ACCOUNT_ID"), "{err}");
        let err = settings(&[BASE[0]]).unwrap_err();
        assert!(err.to_string().contains("ACCOUNT_ID"), "{err}");
        let err = settings(&[BASE[0], BASE[2], ("GITHUB_REPOSITORIES", "acme/[")]).unwrap_err();
        assert!(err.to_string().contains("GITHUB_REPOSITORIES"), "{err}");
    }

    #[test]
    fn a_bad_prefix_or_glob_names_its_variable() {
        let err = settings(&[("STACK_PREFIX", "Bad_Prefix"), BASE[1], BASE[2]]).unwrap_err();
        assert!(err.to_string().contains("STACK_PREFIX"), "{err}");
        let err =
            settings(&[BASE[0], BASE[2], BASE[1], ("BRANCH_INCLUDE", "feature/[")]).unwrap_err();
        assert!(err.to_string().contains("BRANCH_INCLUDE"), "{err}");
    }
}
