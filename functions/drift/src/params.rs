//! The drift gate's `UserParameters`: which stacks, where, and which drift is accepted.

use globset::{Glob, GlobMatcher};
use serde::{Deserialize, Serialize};
use tollgate::pipeline_job::{ParamsError, parse_user_parameters};

use crate::model::Target;

/// At most this many stacks per job: each one is a DetectStackDrift call and a callback.
pub const MAX_STACKS: usize = 20;

/// `pass` or `fail`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Policy {
    Pass,
    Fail,
}

impl Policy {
    pub fn as_str(self) -> &'static str {
        match self {
            Policy::Pass => "pass",
            Policy::Fail => "fail",
        }
    }
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
    /// Where stacks given by name are; `None` is the function's own region. A stack given by
    /// ARN is looked for in the ARN's region.
    pub region: Option<String>,
    /// Role to assume to reach stacks in another account.
    pub role_arn: Option<String>,
    pub ignore: Vec<IgnoreRule>,
    pub when_stack_missing: Policy,
    pub when_detection_failed: Policy,
}

impl DriftParams {
    /// Where to look for `stack`: the ARN's region for a stack ARN, else `region`; the role is
    /// the job's.
    pub fn target(&self, stack: &str) -> Target {
        Target {
            region: StackArn::parse(stack)
                .map(|arn| arn.region.to_string())
                .or_else(|| self.region.clone()),
            role_arn: self.role_arn.clone(),
        }
    }
}

/// What the job runs in, and Tollgate's own cross-account settings.
#[derive(Debug, Clone, Default)]
pub struct Context<'a> {
    /// The account the pipeline (and this function) runs in.
    pub job_account: Option<&'a str>,
    /// Role name to assume in another `account` (template parameter `CrossAccountRoleName`),
    /// and the only role name a `roleArn` may have.
    pub cross_account_role_name: Option<&'a str>,
    /// The function's region, which decides the partition of a role ARN built from `account`.
    pub region: Option<&'a str>,
    /// The only accounts a role may be assumed in (`CROSS_ACCOUNT_ALLOWED_ACCOUNTS`); `None`:
    /// any account.
    pub allowed_accounts: Option<&'a [String]>,
}

/// The ARN partition of a region: `aws-cn` for China, `aws-us-gov` for GovCloud, else `aws`.
pub fn partition(region: Option<&str>) -> &'static str {
    match region {
        Some(r) if r.starts_with("cn-") => "aws-cn",
        Some(r) if r.starts_with("us-gov-") => "aws-us-gov",
        _ => "aws",
    }
}

/// Whether `account` is a 12-digit AWS account id.
pub fn is_account_id(account: &str) -> bool {
    account.len() == 12 && account.chars().all(|c| c.is_ascii_digit())
}

/// The parts of a stack ARN: `arn:<partition>:cloudformation:<region>:<account>:stack/<name>/<id>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StackArn<'a> {
    pub region: &'a str,
    pub account: &'a str,
    pub name: &'a str,
}

impl<'a> StackArn<'a> {
    pub fn parse(arn: &'a str) -> Option<Self> {
        let mut parts = arn.splitn(6, ':');
        let (prefix, partition, service, region, account, resource) = (
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
        );
        let (kind, rest) = resource.split_once('/')?;
        let (name, id) = rest.split_once('/')?;
        let ok = prefix == "arn"
            && partition.starts_with("aws")
            && service == "cloudformation"
            && tollgate::aws::is_region_name(region)
            && is_account_id(account)
            && kind == "stack"
            && is_stack_name(name)
            && !id.is_empty();
        ok.then_some(StackArn {
            region,
            account,
            name,
        })
    }
}

/// The stack's name: itself, or the name part of a stack ARN.
pub fn stack_name(stack: &str) -> &str {
    StackArn::parse(stack).map_or(stack, |arn| arn.name)
}

fn is_stack_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// The parts of an IAM role ARN: `arn:<partition>:iam::<account>:role/<name>` (a path, if
/// any, stays in `name`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoleArn<'a> {
    pub account: &'a str,
    pub name: &'a str,
}

impl<'a> RoleArn<'a> {
    pub fn parse(arn: &'a str) -> Option<Self> {
        let rest = arn.strip_prefix("arn:")?;
        let (partition, rest) = rest.split_once(':')?;
        let rest = rest.strip_prefix("iam::")?;
        let (account, resource) = rest.split_once(':')?;
        let name = resource.strip_prefix("role/")?;
        (partition.starts_with("aws") && is_account_id(account) && !name.is_empty())
            .then_some(RoleArn { account, name })
    }
}

fn err(message: impl Into<String>) -> ParamsError {
    ParamsError(message.into())
}

/// Parses and validates `UserParameters`. Everything that can be known without calling AWS is
/// checked here, including Tollgate's cross-account limits.
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
        if stack.starts_with("arn:") {
            if StackArn::parse(stack).is_none() {
                return Err(err(format!(
                    "{stack:?} is not a stack ARN (arn:aws:cloudformation:<region>:<account>:stack/<name>/<id>)"
                )));
            }
        } else if let Err(too_long) = tollgate::limits::STACK_NAME.check(stack) {
            return Err(err(format!("`stacks`: {too_long}")));
        } else if !is_stack_name(stack) {
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
            if !is_account_id(&account) {
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
        check_role(role, ctx)?;
    }
    let target_account = role_arn
        .as_deref()
        .and_then(RoleArn::parse)
        .map(|r| r.account)
        .or(ctx.job_account);
    for arn in stacks.iter().filter_map(|s| StackArn::parse(s)) {
        if let Some(account) = target_account.filter(|a| *a != arn.account) {
            return Err(err(format!(
                "stack {} is in account {}, but the gate looks in account {account}; give `account` \
                 (or `roleArn`) for account {}, or list that stack in another action",
                arn.name, arn.account, arn.account
            )));
        }
    }
    for rule in &raw.ignore {
        check_rule(rule, &stacks)?;
    }
    Ok(DriftParams {
        stacks,
        region: raw.region,
        role_arn,
        ignore: raw.ignore,
        when_stack_missing: raw.when_stack_missing.unwrap_or(Policy::Fail),
        when_detection_failed: raw.when_detection_failed.unwrap_or(Policy::Fail),
    })
}

/// Tollgate's limits on the role it assumes, checked before any AWS call.
fn check_role(role: &str, ctx: &Context<'_>) -> Result<(), ParamsError> {
    let parsed = RoleArn::parse(role).ok_or_else(|| {
        err(format!(
            "`roleArn` {role:?} is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)"
        ))
    })?;
    if Some(parsed.account) == ctx.job_account {
        // A role in the pipeline's own account crosses no account boundary.
    } else if let Some(allowed) = ctx.allowed_accounts
        && !allowed.iter().any(|a| a == parsed.account)
    {
        return Err(err(format!(
            "account {} is not one Tollgate may reach: its cross-account allow-list \
             (CROSS_ACCOUNT_ALLOWED_ACCOUNTS, template parameter CrossAccountAllowedAccounts) is {}. \
             Check the account id, or add it to the allow-list and redeploy Tollgate",
            parsed.account,
            allowed.join(", ")
        )));
    }
    match ctx.cross_account_role_name {
        None => Err(err(format!(
            "`roleArn` {role:?}: Tollgate may assume no role, because it was deployed without the \
             CrossAccountRoleName parameter. Redeploy Tollgate with CrossAccountRoleName={} \
             (and create that role in account {})",
            parsed.name, parsed.account
        ))),
        Some(name) if name != parsed.name => Err(err(format!(
            "`roleArn` {role:?}: Tollgate may only assume roles named {name} (its CrossAccountRoleName \
             parameter, no path), so IAM would deny this one. Use arn:…:iam::{}:role/{name}, or \
             redeploy Tollgate with CrossAccountRoleName={}",
            parsed.account, parsed.name
        ))),
        Some(_) => Ok(()),
    }
}

/// Alphanumeric characters: logical ids use only these.
const ALNUM: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// Whether a glob matches every logical id: it matches a wide set of sample ids (every first
/// character, short and long ones). Catches `*`, `**`, `?*`, `{*,X}`, `[A-Za-z0-9]*` and the like.
fn matches_every_logical_id(glob: &GlobMatcher) -> bool {
    let long = "Ab3".repeat(85);
    ALNUM.chars().all(|c| {
        [
            c.to_string(),
            format!("{c}x"),
            format!("{c}Z9q"),
            format!("{c}{long}"),
        ]
        .iter()
        .all(|id| glob.is_match(id))
    })
}

/// Whether a `stack` glob matches every stack: sample names and ARNs of every shape.
fn matches_every_stack(glob: &GlobMatcher) -> bool {
    matches_every_logical_id(glob)
        && [
            "orders-api",
            "a-1",
            "Z-z-9",
            "arn:aws:cloudformation:us-east-1:111111111111:stack/orders-api/6d8b7f30-8a4e-11ef-9c2b-0a1b2c3d4e5f",
            "arn:aws-us-gov:cloudformation:us-gov-west-1:222222222222:stack/x/1",
        ]
        .iter()
        .all(|s| glob.is_match(s))
}

fn compile(pattern: &str) -> Result<GlobMatcher, ParamsError> {
    Glob::new(pattern)
        .map(|g| g.compile_matcher())
        .map_err(|e| err(format!("ignore: bad pattern {pattern:?}: {e}")))
}

/// An ignore rule must parse, and must not accept every change of every resource: that would
/// switch the gate off (for instance `{"logicalId": "*"}`).
fn check_rule(rule: &IgnoreRule, stacks: &[String]) -> Result<(), ParamsError> {
    let logical_id = compile(&rule.logical_id)?;
    let stack = rule.stack.as_deref().map(compile).transpose()?;
    if let Some(property) = &rule.property {
        if property.trim().trim_matches('/').trim().is_empty() {
            return Err(err(format!(
                "ignore: the rule for {:?} has an empty `property`; give a property path such as \
                 \"Tags\" or \"/SecurityGroupIngress/0\", or leave `property` out to accept every \
                 change of that resource",
                rule.logical_id
            )));
        }
        if property.contains(['*', '?', '[', '{']) {
            return Err(err(format!(
                "ignore: `property` {property:?} is a path prefix, not a pattern: \"Tags\" already \
                 covers /Tags/0/Value and every other path under /Tags"
            )));
        }
        return Ok(());
    }
    let every_stack = match &stack {
        None => true,
        Some(glob) => matches_every_stack(glob) || stacks.iter().all(|s| glob.is_match(s)),
    };
    if every_stack && matches_every_logical_id(&logical_id) {
        let shown = serde_json::to_string(rule).unwrap_or_else(|_| rule.logical_id.clone());
        return Err(err(format!(
            "ignore: the rule {shown} accepts every change of every resource in every listed stack, \
             which would switch the gate off. Name the resources to accept (`logicalId`, e.g. \
             \"OrdersBucket\" or \"Log*\") or the property (`property`, e.g. \"Tags\"); to stop \
             checking a stack, take it out of `stacks`"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stack_name_over_cloudformations_limit_is_refused_naming_the_limit() {
        let ctx = Context::default();
        let raw = format!(r#"{{"stacks":["{}"]}}"#, "s".repeat(129));
        let text = parse(Some(&raw), &ctx).unwrap_err().to_string();
        assert!(
            text.contains("CloudFormation stack name") && text.contains("128"),
            "{text}"
        );
        let ok = format!(r#"{{"stacks":["{}"]}}"#, "s".repeat(128));
        assert!(parse(Some(&ok), &ctx).is_ok());
    }

    fn ctx() -> Context<'static> {
        Context {
            job_account: Some("111111111111"),
            cross_account_role_name: None,
            region: Some("us-east-1"),
            allowed_accounts: None,
        }
    }

    fn cross(allowed: Option<&'static [String]>) -> Context<'static> {
        Context {
            cross_account_role_name: Some("tollgate-drift-reader"),
            allowed_accounts: allowed,
            ..ctx()
        }
    }

    fn error(params: &str, ctx: &Context<'_>) -> String {
        let e = parse(Some(params), ctx).unwrap_err().to_string();
        assert!(e.starts_with("UserParameters: "), "{e}");
        e
    }

    #[test]
    fn defaults_fail_on_a_missing_stack_and_on_a_failed_detection() {
        let p = parse(
            Some(
                r#"{"stacks":["app","arn:aws:cloudformation:us-east-1:111111111111:stack/net/1"]}"#,
            ),
            &ctx(),
        )
        .unwrap();
        assert_eq!(p.stacks.len(), 2);
        assert_eq!(p.when_stack_missing, Policy::Fail);
        assert_eq!(p.when_detection_failed, Policy::Fail);
        assert_eq!((p.region, p.role_arn), (None, None));
    }

    #[test]
    fn pass_for_missing_stacks_is_kept_when_chosen() {
        let p = parse(
            Some(r#"{"stacks":["app"],"whenStackMissing":"pass"}"#),
            &ctx(),
        )
        .unwrap();
        assert_eq!(p.when_stack_missing, Policy::Pass);
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
    fn a_stack_arn_is_looked_for_in_its_own_region_and_names_in_the_jobs_region() {
        let p = parse(
            Some(
                r#"{"stacks":["app","arn:aws:cloudformation:eu-west-1:111111111111:stack/net/6d8b7f30"],"region":"us-west-2"}"#,
            ),
            &ctx(),
        )
        .unwrap();
        assert_eq!(p.target("app").region.as_deref(), Some("us-west-2"));
        assert_eq!(p.target(&p.stacks[1]).region.as_deref(), Some("eu-west-1"));
        assert_eq!(stack_name(&p.stacks[1]), "net");
        let p = parse(Some(r#"{"stacks":["app"]}"#), &ctx()).unwrap();
        assert_eq!(p.target("app").region, None, "the function's own region");
    }

    #[test]
    fn a_stack_arn_in_another_account_than_the_one_looked_in_is_a_configuration_error() {
        let e = error(
            r#"{"stacks":["arn:aws:cloudformation:us-east-1:222222222222:stack/net/1"]}"#,
            &ctx(),
        );
        assert!(
            e.contains(
                "stack net is in account 222222222222, but the gate looks in account 111111111111"
            ),
            "{e}"
        );
        let p = parse(
            Some(
                r#"{"stacks":["arn:aws:cloudformation:us-east-1:222222222222:stack/net/1"],"account":"222222222222"}"#,
            ),
            &cross(None),
        )
        .unwrap();
        assert!(p.role_arn.is_some());
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
        let p = parse(
            Some(r#"{"stackName":"app","account":"222222222222"}"#),
            &cross(None),
        )
        .unwrap();
        assert_eq!(
            p.role_arn.as_deref(),
            Some("arn:aws:iam::222222222222:role/tollgate-drift-reader")
        );
        let e = error(r#"{"stackName":"app","account":"222222222222"}"#, &ctx());
        assert!(e.contains("CrossAccountRoleName"), "{e}");
    }

    #[test]
    fn accounts_outside_the_allow_list_are_refused_before_any_call() {
        static ALLOWED: std::sync::LazyLock<Vec<String>> =
            std::sync::LazyLock::new(|| vec!["222222222222".into(), "333333333333".into()]);
        let c = cross(Some(&ALLOWED));
        for params in [
            r#"{"stackName":"app","account":"444444444444"}"#,
            r#"{"stacks":["app"],"roleArn":"arn:aws:iam::444444444444:role/tollgate-drift-reader"}"#,
        ] {
            let e = error(params, &c);
            assert!(
                e.contains("account 444444444444 is not one Tollgate may reach")
                    && e.contains("CROSS_ACCOUNT_ALLOWED_ACCOUNTS")
                    && e.contains("222222222222, 333333333333"),
                "{e}"
            );
        }
        assert!(parse(Some(r#"{"stackName":"app","account":"333333333333"}"#), &c).is_ok());
        // The pipeline's own account is never cross-account.
        assert!(parse(Some(r#"{"stackName":"app","account":"111111111111"}"#), &c).is_ok());
    }

    #[test]
    fn a_role_not_named_cross_account_role_name_is_refused_before_any_call() {
        let e = error(
            r#"{"stacks":["app"],"roleArn":"arn:aws:iam::222222222222:role/admin"}"#,
            &cross(None),
        );
        assert!(
            e.contains("may only assume roles named tollgate-drift-reader")
                && e.contains("arn:…:iam::222222222222:role/tollgate-drift-reader"),
            "{e}"
        );
        let e = error(
            r#"{"stacks":["app"],"roleArn":"arn:aws:iam::222222222222:role/team/tollgate-drift-reader"}"#,
            &cross(None),
        );
        assert!(e.contains("no path"), "{e}");
        let e = error(
            r#"{"stacks":["app"],"roleArn":"arn:aws:iam::222222222222:role/tollgate-drift-reader"}"#,
            &ctx(),
        );
        assert!(
            e.contains("deployed without the CrossAccountRoleName parameter"),
            "{e}"
        );
    }

    #[test]
    fn missing_stacks_is_named() {
        let e = error("{}", &ctx());
        assert!(
            e.starts_with("UserParameters: missing field `stacks`"),
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
    fn an_ignore_rule_accepting_every_change_of_every_resource_is_a_configuration_error() {
        for rule in [
            r#"{"logicalId":"*"}"#,
            r#"{"logicalId":"**"}"#,
            r#"{"logicalId":"?*"}"#,
            r#"{"logicalId":"{*,Bucket}"}"#,
            r#"{"logicalId":"[A-Za-z0-9]*"}"#,
            r#"{"logicalId":"*","stack":"*"}"#,
            r#"{"logicalId":"*","stack":"**"}"#,
            // A stack scope that covers every listed stack accepts everything too.
            r#"{"logicalId":"*","stack":"app*"}"#,
        ] {
            let e = error(
                &format!(r#"{{"stacks":["app","app-net"],"ignore":[{rule}]}}"#),
                &ctx(),
            );
            assert!(
                e.contains("accepts every change of every resource")
                    && e.contains("switch the gate off"),
                "{rule}: {e}"
            );
        }
    }

    #[test]
    fn narrower_ignore_rules_are_accepted() {
        for rule in [
            r#"{"logicalId":"*","property":"Tags"}"#,
            r#"{"logicalId":"*","stack":"app-net"}"#,
            r#"{"logicalId":"Log*"}"#,
            r#"{"logicalId":"*Bucket"}"#,
            r#"{"logicalId":"?"}"#,
        ] {
            let params = format!(r#"{{"stacks":["app","app-net"],"ignore":[{rule}]}}"#);
            assert!(parse(Some(&params), &ctx()).is_ok(), "{rule}");
        }
    }

    #[test]
    fn an_empty_or_pattern_property_is_a_configuration_error() {
        for property in ["", " ", "/", "//"] {
            let e = error(
                &format!(
                    r#"{{"stacks":["app"],"ignore":[{{"logicalId":"Bucket","property":"{property}"}}]}}"#
                ),
                &ctx(),
            );
            assert!(e.contains("empty `property`"), "{property:?}: {e}");
        }
        let e = error(
            r#"{"stacks":["app"],"ignore":[{"logicalId":"Bucket","property":"Tags*"}]}"#,
            &ctx(),
        );
        assert!(e.contains("path prefix, not a pattern"), "{e}");
    }

    #[test]
    fn invalid_values_are_explained() {
        for (params, expect) in [
            (r#"{"stacks":[]}"#, "is empty"),
            (r#"{"stacks":["a"],"stackName":"b"}"#, "not both"),
            (r#"{"stacks":["my stack"]}"#, "not a stack name"),
            (r#"{"stacks":["arn:aws:s3:::bucket"]}"#, "not a stack ARN"),
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
            let e = error(params, &ctx());
            assert!(e.contains(expect), "{params}: {e}");
        }
        let many: Vec<String> = (0..21).map(|i| format!("\"s{i}\"")).collect();
        let e = error(&format!(r#"{{"stacks":[{}]}}"#, many.join(",")), &ctx());
        assert!(e.contains("at most 20"), "{e}");
    }
}
