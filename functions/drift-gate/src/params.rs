//! The drift gate's `UserParameters`: which stacks, where, and which drift is accepted.

use globset::Glob;
use serde::{Deserialize, Serialize};
use tollgate::pipeline_job::{ParamsError, parse_user_parameters};

/// At most this many stacks per job: each one is a DetectStackDrift call and a callback.
pub const MAX_STACKS: usize = 20;

/// `pass` or `fail`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Policy {
    Pass,
    Fail,
}

/// Drift that is accepted: a resource (by logical id glob, optionally only in stacks matching
/// `stack`), or only some of its properties (`property` is a path prefix such as `Tags` or
/// `/SecurityGroupIngress`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct IgnoreRule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack: Option<String>,
    pub logical_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub property: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawParams {
    stacks: Option<Vec<String>>,
    stack_name: Option<String>,
    account: Option<String>,
    region: Option<String>,
    role_arn: Option<String>,
    #[serde(default)]
    ignore: Vec<IgnoreRule>,
    when_stack_missing: Option<Policy>,
    when_detection_failed: Option<Policy>,
}

/// The drift gate's settings for one job, validated.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DriftParams {
    pub stacks: Vec<String>,
    /// Where the stacks are; `None` is the function's own region.
    pub region: Option<String>,
    /// Role to assume to reach stacks in another account.
    pub role_arn: Option<String>,
    pub ignore: Vec<IgnoreRule>,
    pub when_stack_missing: Policy,
    pub when_detection_failed: Policy,
}

/// What the job runs in, for the AWS sample's `{stackName, account, region}` form.
#[derive(Debug, Clone, Default)]
pub struct Context<'a> {
    /// The account the pipeline (and this function) runs in.
    pub job_account: Option<&'a str>,
    /// Role name to assume in another `account` (template parameter `CrossAccountRoleName`).
    pub cross_account_role_name: Option<&'a str>,
    /// The function's region, which decides the partition of a role ARN built from `account`.
    pub region: Option<&'a str>,
}

/// The ARN partition of a region: `aws-cn` for China, `aws-us-gov` for GovCloud, else `aws`.
pub fn partition(region: Option<&str>) -> &'static str {
    match region {
        Some(r) if r.starts_with("cn-") => "aws-cn",
        Some(r) if r.starts_with("us-gov-") => "aws-us-gov",
        _ => "aws",
    }
}

fn err(message: impl Into<String>) -> ParamsError {
    ParamsError(message.into())
}

/// Parses and validates `UserParameters`.
pub fn parse(raw: Option<&str>, ctx: &Context<'_>) -> Result<DriftParams, ParamsError> {
    let raw: RawParams = parse_user_parameters(raw)?;
    let stacks = match (raw.stacks, raw.stack_name) {
        (Some(_), Some(_)) => return Err(err("give `stacks` or `stackName`, not both")),
        (Some(stacks), None) => stacks,
        (None, Some(name)) => vec![name],
        (None, None) => {
            return Err(err(
                "missing field `stacks` (one or more stack names or ARNs)",
            ));
        }
    };
    if stacks.is_empty() {
        return Err(err(
            "`stacks` is empty; list at least one stack name or ARN",
        ));
    }
    if stacks.len() > MAX_STACKS {
        return Err(err(format!(
            "`stacks` lists {} stacks; at most {MAX_STACKS} per action (split them across actions)",
            stacks.len()
        )));
    }
    for stack in &stacks {
        let name_ok = !stack.is_empty()
            && stack.len() <= 128
            && stack.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        if !(name_ok || stack.starts_with("arn:aws")) {
            return Err(err(format!(
                "{stack:?} is not a stack name or ARN (names use letters, digits and hyphens)"
            )));
        }
    }
    if let Some(region) = raw
        .region
        .as_deref()
        .filter(|r| !tollgate::aws::is_region_name(r))
    {
        return Err(err(format!(
            "{region:?} is not an AWS region name (e.g. \"us-east-1\")"
        )));
    }
    let role_arn = match (raw.role_arn, raw.account) {
        (Some(role), _) => Some(role),
        (None, None) => None,
        (None, Some(account)) => {
            if !(account.len() == 12 && account.chars().all(|c| c.is_ascii_digit())) {
                return Err(err(format!("{account:?} is not a 12-digit AWS account id")));
            }
            if Some(account.as_str()) == ctx.job_account {
                None
            } else {
                let name = ctx.cross_account_role_name.ok_or_else(|| {
                    err(format!(
                        "the stack is in account {account}; give `roleArn`, or deploy Tollgate with the \
                         CrossAccountRoleName parameter set to the role it may assume there"
                    ))
                })?;
                let partition = partition(raw.region.as_deref().or(ctx.region));
                Some(format!("arn:{partition}:iam::{account}:role/{name}"))
            }
        }
    };
    if let Some(role) = &role_arn {
        let valid =
            role.starts_with("arn:aws") && role.contains(":iam::") && role.contains(":role/");
        if !valid {
            return Err(err(format!(
                "`roleArn` {role:?} is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)"
            )));
        }
    }
    for rule in &raw.ignore {
        for pattern in std::iter::once(&rule.logical_id).chain(&rule.stack) {
            Glob::new(pattern).map_err(|e| err(format!("ignore: bad pattern {pattern:?}: {e}")))?;
        }
    }
    Ok(DriftParams {
        stacks,
        region: raw.region,
        role_arn,
        ignore: raw.ignore,
        when_stack_missing: raw.when_stack_missing.unwrap_or(Policy::Pass),
        when_detection_failed: raw.when_detection_failed.unwrap_or(Policy::Fail),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> Context<'static> {
        Context {
            job_account: Some("111111111111"),
            cross_account_role_name: None,
            region: Some("us-east-1"),
        }
    }

    #[test]
    fn stacks_with_defaults() {
        let p = parse(
            Some(
                r#"{"stacks":["app","arn:aws:cloudformation:us-east-1:111111111111:stack/net/1"]}"#,
            ),
            &ctx(),
        )
        .unwrap();
        assert_eq!(p.stacks.len(), 2);
        assert_eq!(p.when_stack_missing, Policy::Pass);
        assert_eq!(p.when_detection_failed, Policy::Fail);
        assert_eq!((p.region, p.role_arn), (None, None));
    }

    #[test]
    fn single_stack_name_is_accepted() {
        assert_eq!(
            parse(Some(r#"{"stackName":"app"}"#), &ctx())
                .unwrap()
                .stacks,
            vec!["app"]
        );
    }

    #[test]
    fn aws_sample_form_in_the_same_account_needs_no_role() {
        let p = parse(
            Some(r#"{"stackName":"app","account":"111111111111","region":"eu-west-1"}"#),
            &ctx(),
        )
        .unwrap();
        assert_eq!(p.region.as_deref(), Some("eu-west-1"));
        assert_eq!(p.role_arn, None);
    }

    #[test]
    fn aws_sample_form_in_another_account_uses_the_configured_role_name() {
        let c = Context {
            job_account: Some("111111111111"),
            cross_account_role_name: Some("tollgate-drift-reader"),
            region: Some("us-east-1"),
        };
        let p = parse(Some(r#"{"stackName":"app","account":"222222222222"}"#), &c).unwrap();
        assert_eq!(
            p.role_arn.as_deref(),
            Some("arn:aws:iam::222222222222:role/tollgate-drift-reader")
        );
        let e = parse(
            Some(r#"{"stackName":"app","account":"222222222222"}"#),
            &ctx(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("CrossAccountRoleName"), "{e}");
    }

    #[test]
    fn missing_stacks_is_named() {
        let e = parse(Some("{}"), &ctx()).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("UserParameters: missing field `stacks`"),
            "{e}"
        );
        let e = parse(None, &ctx()).unwrap_err();
        assert!(e.to_string().contains("missing field `stacks`"), "{e}");
    }

    #[test]
    fn policies_and_ignore_rules_are_read() {
        let p = parse(
            Some(r#"{"stacks":["app"],"whenStackMissing":"fail","whenDetectionFailed":"pass","ignore":[{"logicalId":"AppBucket","property":"Tags"},{"logicalId":"Log*","stack":"app-*"}]}"#),
            &ctx(),
        )
        .unwrap();
        assert_eq!(p.when_stack_missing, Policy::Fail);
        assert_eq!(p.when_detection_failed, Policy::Pass);
        assert_eq!(p.ignore[0].property.as_deref(), Some("Tags"));
        assert_eq!(p.ignore[1].stack.as_deref(), Some("app-*"));
    }

    #[test]
    fn invalid_values_are_explained() {
        for (params, expect) in [
            (r#"{"stacks":[]}"#, "is empty"),
            (r#"{"stacks":["a"],"stackName":"b"}"#, "not both"),
            (r#"{"stacks":["my stack"]}"#, "not a stack name"),
            (
                r#"{"stacks":["a"],"region":"Ireland"}"#,
                "not an AWS region",
            ),
            (
                r#"{"stacks":["a"],"roleArn":"reader"}"#,
                "not an IAM role ARN",
            ),
            (r#"{"stacks":["a"],"account":"12"}"#, "12-digit"),
            (
                r#"{"stacks":["a"],"ignore":[{"logicalId":"[a"}]}"#,
                "bad pattern",
            ),
            (
                r#"{"stacks":["a"],"ignore":[{"property":"Tags"}]}"#,
                "missing field `logicalId`",
            ),
            (
                r#"{"stacks":["a"],"whenStackMissing":"skip"}"#,
                "unknown variant `skip`",
            ),
            (r#"{"stacks":["a"],"stack":"b"}"#, "unknown field `stack`"),
        ] {
            let e = parse(Some(params), &ctx()).unwrap_err().to_string();
            assert!(
                e.starts_with("UserParameters: ") && e.contains(expect),
                "{params}: {e}"
            );
        }
        let many: Vec<String> = (0..21).map(|i| format!("\"s{i}\"")).collect();
        let e = parse(
            Some(&format!(r#"{{"stacks":[{}]}}"#, many.join(","))),
            &ctx(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("at most 20"), "{e}");
    }
}
