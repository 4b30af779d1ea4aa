//! Settings from the environment and the production adapters, built once per cold start.

use tollgate::config::{ConfigError, Env, parsed_or, required};
use tollgate::state::DynamoStateStore;

use crate::adapters::{AwsStacks, Branches, SecretsManagerSecret};
use crate::filters::{BranchFilter, DEFAULT_INCLUDE};
use crate::handler::{Deps, Settings};
use crate::naming::validate_prefix;

/// The production dependencies.
pub type AwsDeps = Deps<DynamoStateStore, AwsStacks, Branches, SecretsManagerSecret>;

fn invalid(name: &str, value: &str, reason: impl ToString) -> ConfigError {
    ConfigError::Invalid {
        name: name.into(),
        value: value.into(),
        reason: reason.to_string(),
    }
}

/// Reads `STACK_PREFIX`, `BRANCH_TEMPLATE_URL`, `CFN_ROLE_ARN`, `BRANCH_INCLUDE`,
/// `BRANCH_EXCLUDE`, `DEFAULT_BRANCH`, `MAX_BRANCH_STACKS`, `BRANCH_TTL_DAYS`,
/// `EMPTY_BUCKETS_ON_DESTROY`.
pub fn settings(env: &impl Env) -> Result<Settings, ConfigError> {
    let prefix = required(env, "STACK_PREFIX")?;
    validate_prefix(&prefix).map_err(|e| invalid("STACK_PREFIX", &prefix, e))?;
    let template_url = required(env, "BRANCH_TEMPLATE_URL")?;
    if !template_url.starts_with("https://") {
        return Err(invalid(
            "BRANCH_TEMPLATE_URL",
            &template_url,
            "must be an https:// S3 URL",
        ));
    }
    let include = env
        .var("BRANCH_INCLUDE")
        .unwrap_or_else(|| DEFAULT_INCLUDE.into());
    let exclude = env.var("BRANCH_EXCLUDE").unwrap_or_default();
    let filter = BranchFilter::new(&include, &exclude)
        .map_err(|e| invalid("BRANCH_INCLUDE/BRANCH_EXCLUDE", &e.glob, &e.reason))?;
    Ok(Settings {
        prefix,
        template_url,
        role_arn: env.var("CFN_ROLE_ARN"),
        filter,
        default_branch: env.var("DEFAULT_BRANCH").unwrap_or_else(|| "main".into()),
        max_stacks: parsed_or(env, "MAX_BRANCH_STACKS", 20usize)?,
        ttl_days: parsed_or(env, "BRANCH_TTL_DAYS", 30u64)?,
        empty_buckets: parsed_or(env, "EMPTY_BUCKETS_ON_DESTROY", true)?,
    })
}

/// Builds everything from the environment (also `TABLE_NAME`, `GITHUB_WEBHOOK_SECRET_ARN`,
/// `GITHUB_API_URL`, `GITHUB_TOKEN_SECRET_ARN`).
pub async fn from_env(env: &impl Env) -> Result<AwsDeps, ConfigError> {
    let settings = settings(env)?;
    let table = required(env, "TABLE_NAME")?;
    let secret_arn = required(env, "GITHUB_WEBHOOK_SECRET_ARN")?;
    let api_url = env
        .var("GITHUB_API_URL")
        .unwrap_or_else(|| "https://api.github.com".into());
    let sdk = tollgate::aws::load(env).await?;
    let secrets = aws_sdk_secretsmanager::Client::new(&sdk);
    let mut github = octocrab::Octocrab::builder()
        .base_uri(api_url.as_str())
        .map_err(|e| invalid("GITHUB_API_URL", &api_url, e))?;
    if let Some(token_arn) = env.var("GITHUB_TOKEN_SECRET_ARN") {
        let token = SecretsManagerSecret::new(secrets.clone(), &token_arn)
            .text()
            .await
            .map_err(|e| invalid("GITHUB_TOKEN_SECRET_ARN", &token_arn, e))?;
        github = github.personal_token(token);
    }
    let github = github
        .build()
        .map_err(|e| invalid("GITHUB_API_URL", &api_url, e))?;
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
        },
        secret: SecretsManagerSecret::new(secrets, secret_arn),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: [(&str, &str); 2] = [
        ("STACK_PREFIX", "tg-branch"),
        (
            "BRANCH_TEMPLATE_URL",
            "https://bucket.s3.amazonaws.com/branch-pipeline.yaml",
        ),
    ];

    #[test]
    fn defaults_apply_when_only_the_required_settings_are_given() {
        let s = settings(&BASE).unwrap();
        assert_eq!((s.max_stacks, s.ttl_days, s.empty_buckets), (20, 30, true));
        assert_eq!(s.default_branch, "main");
        assert!(s.role_arn.is_none());
    }

    #[test]
    fn a_bad_prefix_or_glob_names_its_variable() {
        let err = settings(&[("STACK_PREFIX", "Bad_Prefix"), BASE[1]]).unwrap_err();
        assert!(err.to_string().contains("STACK_PREFIX"), "{err}");
        let err = settings(&[BASE[0], BASE[1], ("BRANCH_INCLUDE", "feature/[")]).unwrap_err();
        assert!(err.to_string().contains("BRANCH_INCLUDE"), "{err}");
    }
}
