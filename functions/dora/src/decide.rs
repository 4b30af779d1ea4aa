//! Pure decisions: production detection, previous deployment, attribution, OpsItem linking,
//! restoration and lead times. No I/O.

use std::collections::HashMap;

use globset::{Glob, GlobSet, GlobSetBuilder};

use crate::model::{Deployment, Incident};

/// CloudWatch accepts datapoints up to two weeks old; older ones are skipped (the ledger keeps
/// them). A five-minute margin keeps a datapoint at the edge from being refused in flight.
pub const CLOUDWATCH_MAX_AGE_SECONDS: i64 = 14 * 86_400 - 300;

/// CloudWatch also refuses datapoints more than two hours in the future.
pub const CLOUDWATCH_MAX_FUTURE_SECONDS: i64 = 2 * 3_600;

/// Whether CloudWatch takes a datapoint stamped `time` when sent at `now`.
pub fn within_cloudwatch_window(time: i64, now: i64) -> bool {
    now - time <= CLOUDWATCH_MAX_AGE_SECONDS && time - now <= CLOUDWATCH_MAX_FUTURE_SECONDS
}

/// `PROD_PIPELINES`: comma-separated globs choosing the production pipelines.
#[derive(Debug, Clone)]
pub struct PipelineFilter {
    set: GlobSet,
    text: String,
}

impl PipelineFilter {
    /// Parses `*`, `prod-*,payments`, … An empty list matches nothing.
    pub fn new(globs: &str) -> Result<Self, String> {
        let mut builder = GlobSetBuilder::new();
        for glob in globs.split(',').map(str::trim).filter(|g| !g.is_empty()) {
            builder.add(Glob::new(glob).map_err(|e| format!("{glob}: {e}"))?);
        }
        Ok(PipelineFilter {
            set: builder.build().map_err(|e| e.to_string())?,
            text: globs.to_string(),
        })
    }

    pub fn matches(&self, pipeline: &str) -> bool {
        self.set.is_match(pipeline)
    }

    /// The globs as configured.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// How a CodePipeline event signals a possible production deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal<'a> {
    /// The whole execution SUCCEEDED.
    ExecutionSucceeded,
    /// A stage SUCCEEDED.
    StageSucceeded { stage: &'a str },
}

/// Whether a SUCCEEDED execution or stage of a production pipeline is a production deployment:
/// the execution when the pipeline has no stage named `prod_stage`, else that stage.
pub fn is_production_deployment(
    signal: Signal<'_>,
    prod_stage: &str,
    has_prod_stage: bool,
) -> bool {
    match signal {
        Signal::ExecutionSucceeded => !has_prod_stage,
        Signal::StageSucceeded { stage } => stage == prod_stage,
    }
}

/// Where the branch is known, only the main branch counts.
pub fn branch_counts(branch: Option<&str>, main: &str) -> bool {
    branch.is_none_or(|b| b == main || b.strip_prefix("refs/heads/") == Some(main))
}

fn before(a: &Deployment, b: &Deployment) -> bool {
    (a.time, &a.execution_id) < (b.time, &b.execution_id)
}

/// Why a production deployment is rework: DORA's "deployments that are unplanned but happen as a
/// result of an incident in production", made exact (`docs/dora.md`, deployment rework rate).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rework {
    /// A rollback (trigger type `AutomatedRollback` or `ManualRollback`).
    Rollback,
    /// Deployed while this incident of the pipeline was open: created at or before the
    /// deployment, not restored before it (the deployment that restores it counts).
    DuringIncident(String),
    /// Its commit message or branch names an OpsItem id (`oi-` and hex digits).
    NamesOpsItem(String),
}

/// The first OpsItem id in `text`, lowercased: `oi-` and up to 12 hexadecimal digits (OpsCenter's
/// ids have 12), as a word of its own (`choi-1` and `oi-1234567890abc` are not ids).
pub fn ops_item_id_in(text: &str) -> Option<String> {
    let lower = text.to_ascii_lowercase();
    let bytes = lower.as_bytes();
    let mut from = 0;
    while let Some(at) = lower.get(from..).and_then(|rest| rest.find("oi-")) {
        let start = from + at;
        let id_start = start + 3;
        let hex = bytes.get(id_start..).map_or(0, |rest| {
            rest.iter().take_while(|b| b.is_ascii_hexdigit()).count()
        });
        let boundary_before = start == 0
            || bytes
                .get(start - 1)
                .is_some_and(|b| !b.is_ascii_alphanumeric());
        let boundary_after = bytes
            .get(id_start + hex)
            .is_none_or(|b| !b.is_ascii_alphanumeric());
        if (1..=12).contains(&hex) && boundary_before && boundary_after {
            return lower.get(start..id_start + hex).map(str::to_string);
        }
        from = id_start;
    }
    None
}

/// Whether `deployment` is rework, given the incidents of its pipeline known when it is judged.
pub fn rework(deployment: &Deployment, incidents: &[Incident]) -> Option<Rework> {
    if deployment.is_rollback() {
        return Some(Rework::Rollback);
    }
    let mut open: Vec<&Incident> = incidents
        .iter()
        .filter(|i| {
            i.pipeline == deployment.pipeline
                && i.created <= deployment.time
                && i.restored.is_none_or(|r| r >= deployment.time)
        })
        .collect();
    open.sort_by(|a, b| (a.created, &a.id).cmp(&(b.created, &b.id)));
    if let Some(incident) = open.first() {
        return Some(Rework::DuringIncident(incident.id.clone()));
    }
    [&deployment.commit_message, &deployment.branch]
        .into_iter()
        .flatten()
        .find_map(|text| ops_item_id_in(text))
        .map(Rework::NamesOpsItem)
}

/// Whether `pipeline` (a bare name) is one of Tollgate's own branch pipelines: the branch
/// function names each branch stack, and the sample pipeline after its stack, `<prefix>-…`
/// (`BRANCH_STACK_PREFIX`). They are never production, whatever `PROD_PIPELINES` says.
pub fn is_branch_pipeline(pipeline: &str, branch_prefix: Option<&str>) -> bool {
    branch_prefix.filter(|p| !p.is_empty()).is_some_and(|p| {
        pipeline
            .strip_prefix(p)
            .is_some_and(|rest| rest.starts_with('-'))
    })
}

/// The deployment `this` shipped on top of: the pipeline's latest non-rollback production
/// deployment before it. Lead time compares from its commit; a rollback marks it failed.
pub fn previous_deployment<'a>(
    deployments: &'a [Deployment],
    this: &Deployment,
) -> Option<&'a Deployment> {
    deployments
        .iter()
        .filter(|d| d.execution_id != this.execution_id && !d.is_rollback() && before(d, this))
        .max_by(|a, b| (a.time, &a.execution_id).cmp(&(b.time, &b.execution_id)))
}

/// The deployment an incident is attributed to: the given execution when it is a production
/// deployment of the pipeline, else the latest production deployment at or before `created`.
pub fn attribute<'a>(
    deployments: &'a [Deployment],
    created: i64,
    execution_id: Option<&str>,
) -> Option<&'a Deployment> {
    if let Some(id) = execution_id
        && let Some(d) = deployments.iter().find(|d| d.execution_id == id)
    {
        return Some(d);
    }
    deployments
        .iter()
        .filter(|d| d.time <= created)
        .max_by(|a, b| (a.time, &a.execution_id).cmp(&(b.time, &b.execution_id)))
}

/// One pipeline an OpsItem is linked to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub pipeline: String,
    pub execution_id: Option<String>,
}

/// OperationalData key OpsCenter lists related resources under (a JSON string of `[{"arn": …}]`).
pub const RESOURCES_KEY: &str = "/aws/resources";
/// OperationalData key naming the pipeline directly.
pub const PIPELINE_KEY: &str = "tollgate:pipeline";
/// OperationalData key naming the execution (with [`PIPELINE_KEY`]).
pub const EXECUTION_KEY: &str = "tollgate:execution-id";

/// The pipeline name of a CodePipeline ARN (`arn:<partition>:codepipeline:<region>:<account>:<name>`).
pub fn pipeline_of_arn(arn: &str) -> Option<&str> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    match parts.as_slice() {
        ["arn", _, "codepipeline", _, _, name] if !name.is_empty() && !name.contains('/') => {
            Some(name)
        }
        _ => None,
    }
}

/// The account and pipeline name of a CodePipeline ARN.
pub fn account_and_pipeline_of_arn(arn: &str) -> Option<(&str, &str)> {
    let name = pipeline_of_arn(arn)?;
    let account = arn.split(':').nth(4)?;
    Some((account, name))
}

/// Whether `text` is a 12-digit AWS account id.
pub fn is_account_id(text: &str) -> bool {
    text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit())
}

/// A pipeline's (or an OpsItem's) identity: the bare name in the function's own account
/// (`home`), `<account>/<name>` in another account. Without `home`, or without an account,
/// everything is the function's own (the bare name). CodePipeline names cannot contain `/`, so
/// the identity is unambiguous; it is the ledger key, the `Pipeline` dimension and the report's row.
pub fn identity(home: Option<&str>, account: Option<&str>, name: &str) -> String {
    match (home, account) {
        (Some(home), Some(account)) if account != home => format!("{account}/{name}"),
        _ => name.to_string(),
    }
}

/// The account (`None`: the function's own) and the bare name of an [`identity`].
pub fn split_identity(identity: &str) -> (Option<&str>, &str) {
    match identity.split_once('/') {
        Some((account, name)) => (Some(account), name),
        None => (None, identity),
    }
}

/// The pipelines an OpsItem's OperationalData (key → value) links it to, without duplicates,
/// everything in the function's own account (see [`linked_identities`]).
pub fn linked_pipelines(data: &HashMap<String, String>) -> Vec<Link> {
    linked_identities(data, None, None)
}

/// The pipelines an OpsItem of `item_account` links it to, as [`identity`]s (`home`: the
/// function's own account): `tollgate:pipeline` names a pipeline of the OpsItem's own account; a
/// pipeline ARN in `/aws/resources` counts only when it is of the OpsItem's own account (when
/// both accounts are known).
pub fn linked_identities(
    data: &HashMap<String, String>,
    home: Option<&str>,
    item_account: Option<&str>,
) -> Vec<Link> {
    let mut links: Vec<Link> = Vec::new();
    if let Some(pipeline) = data
        .get(PIPELINE_KEY)
        .map(|p| p.trim())
        .filter(|p| !p.is_empty())
    {
        links.push(Link {
            pipeline: identity(home, item_account, pipeline),
            execution_id: data
                .get(EXECUTION_KEY)
                .map(|e| e.trim().to_string())
                .filter(|e| !e.is_empty()),
        });
    }
    if let Some(resources) = data.get(RESOURCES_KEY)
        && let Ok(serde_json::Value::Array(items)) = serde_json::from_str(resources)
    {
        for arn in items.iter().filter_map(|i| i.get("arn")?.as_str()) {
            if let Some((account, name)) = account_and_pipeline_of_arn(arn) {
                let arn_account = is_account_id(account).then_some(account);
                // An OpsItem marks only its own account's pipelines: another account's ARN in
                // its related resources is not this OpsItem's to fail.
                if let (Some(arn_account), Some(own)) = (arn_account, item_account.or(home))
                    && arn_account != own
                {
                    tracing::info!(
                        arn,
                        own,
                        "OpsItem names another account's pipeline: ignored"
                    );
                    continue;
                }
                let account = arn_account.or(item_account);
                let pipeline = identity(home, account, name);
                if !links.iter().any(|l| l.pipeline == pipeline) {
                    links.push(Link {
                        pipeline,
                        execution_id: None,
                    });
                }
            }
        }
    }
    links
}

/// The ARN partition of a region: `aws-cn` for China, `aws-us-gov` for GovCloud, else `aws`.
pub fn partition(region: Option<&str>) -> &'static str {
    match region {
        Some(r) if r.starts_with("cn-") => "aws-cn",
        Some(r) if r.starts_with("us-gov-") => "aws-us-gov",
        _ => "aws",
    }
}

/// Whether `deployment` restores `incident`: a production deployment at or after its creation
/// whose branch name or commit message names the OpsItem id.
pub fn fixes(deployment: &Deployment, incident: &Incident) -> bool {
    let id = incident.id.to_ascii_lowercase();
    let names = |s: &Option<String>| {
        s.as_deref()
            .is_some_and(|s| s.to_ascii_lowercase().contains(&id))
    };
    deployment.pipeline == incident.pipeline
        && deployment.time >= incident.created
        && (names(&deployment.branch) || names(&deployment.commit_message))
}

/// When `incident` was restored: the first of its fixing deployments and its resolution.
pub fn restore_time(
    incident: &Incident,
    deployments: &[Deployment],
    resolved: Option<i64>,
) -> Option<i64> {
    deployments
        .iter()
        .filter(|d| fixes(d, incident))
        .map(|d| d.time)
        .chain(resolved.map(|r| r.max(incident.created)))
        .min()
}

/// Lead time of each commit: deployment time − commit time, in seconds (never negative: a
/// committer clock ahead of the deployment is not a negative lead time).
pub fn lead_times(deployed: i64, commit_times: &[i64]) -> Vec<i64> {
    commit_times.iter().map(|c| (deployed - c).max(0)).collect()
}

/// `owner/name` of a GitHub repository from an artifact revision URL: a github.com (or GitHub
/// Enterprise) commit URL, or a CodeStar connections redirect with `FullRepositoryId=`.
pub fn repository_of_url(url: &str) -> Option<String> {
    if let Some(query) = url.split_once('?').map(|(_, q)| q) {
        for pair in query.split('&') {
            if let Some(value) = pair.strip_prefix("FullRepositoryId=") {
                let value = value.replace("%2F", "/").replace("%2f", "/");
                if value.split('/').count() == 2 {
                    return Some(value);
                }
            }
        }
    }
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    let parts: Vec<&str> = rest.split('/').collect();
    match parts.as_slice() {
        [_host, owner, repo, "commit", ..] if !owner.is_empty() && !repo.is_empty() => {
            Some(format!("{owner}/{repo}"))
        }
        _ => None,
    }
}

/// The commit message of an artifact revision summary: connections give JSON with
/// `CommitMessage`, other sources the message itself.
pub fn message_of_summary(summary: &str) -> String {
    serde_json::from_str::<serde_json::Value>(summary)
        .ok()
        .and_then(|v| v.get("CommitMessage")?.as_str().map(str::to_string))
        .unwrap_or_else(|| summary.to_string())
}

/// Parses an RFC 3339 time (`2026-11-20T10:00:00Z`, fractions allowed) to epoch seconds.
pub fn parse_time(text: &str) -> Option<i64> {
    aws_smithy_types::DateTime::from_str(text, aws_smithy_types::date_time::Format::DateTime)
        .ok()
        .map(|t| t.secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deploy(id: &str, time: i64, trigger: &str) -> Deployment {
        Deployment {
            pipeline: "app".into(),
            execution_id: id.into(),
            time,
            commit: Some(format!("sha-{id}")),
            repository: Some("acme/app".into()),
            branch: Some("main".into()),
            commit_message: None,
            trigger_type: Some(trigger.into()),
        }
    }

    fn incident(id: &str, created: i64) -> Incident {
        Incident {
            id: id.into(),
            pipeline: "app".into(),
            execution_id: None,
            created,
            restored: None,
        }
    }

    #[test]
    fn branch_pipelines_are_recognised_by_their_stack_prefix() {
        let prefix = Some("tollgate-branch");
        assert!(is_branch_pipeline(
            "tollgate-branch-orders-main-1a2b3c4d5e",
            prefix
        ));
        assert!(!is_branch_pipeline("tollgate-branchy", prefix));
        assert!(!is_branch_pipeline("orders-prod", prefix));
        assert!(!is_branch_pipeline("tollgate-branch-x", None));
        assert!(!is_branch_pipeline("-x", Some("")));
    }

    #[test]
    fn an_opsitem_links_only_its_own_accounts_pipeline_arns() {
        let data = HashMap::from([(
            RESOURCES_KEY.to_string(),
            serde_json::json!([
                {"arn": "arn:aws:codepipeline:us-east-1:222222222222:orders"},
                {"arn": "arn:aws:codepipeline:us-east-1:111111111111:web"}
            ])
            .to_string(),
        )]);
        let home = Some("111111111111");
        let own: Vec<String> = linked_identities(&data, home, home)
            .into_iter()
            .map(|l| l.pipeline)
            .collect();
        assert_eq!(own, vec!["web".to_string()]);
        // An OpsItem of 222222222222 (forwarded) marks that account's pipeline only.
        let theirs: Vec<String> = linked_identities(&data, home, Some("222222222222"))
            .into_iter()
            .map(|l| l.pipeline)
            .collect();
        assert_eq!(theirs, vec!["222222222222/orders".to_string()]);
    }

    #[test]
    fn rework_is_a_rollback_a_deployment_during_an_open_incident_or_one_naming_an_opsitem() {
        let mut d = deploy("d", 1_000, "Webhook");
        d.pipeline = "app".into();
        assert_eq!(rework(&d, &[]), None);
        let rollback = deploy("r", 1_000, "ManualRollback");
        assert_eq!(rework(&rollback, &[]), Some(Rework::Rollback));
        let open = incident("oi-0123456789ab", 900);
        assert_eq!(
            rework(&d, std::slice::from_ref(&open)),
            Some(Rework::DuringIncident("oi-0123456789ab".into()))
        );
        // Restored before: not rework; restored by this very deployment: rework.
        let before = Incident {
            restored: Some(999),
            ..open.clone()
        };
        assert_eq!(rework(&d, std::slice::from_ref(&before)), None);
        let by_it = Incident {
            restored: Some(1_000),
            ..open.clone()
        };
        assert!(rework(&d, &[by_it]).is_some());
        // Created after the deployment: not rework.
        assert_eq!(rework(&d, &[incident("oi-0123456789ab", 1_001)]), None);
        let mut named = d.clone();
        named.commit_message = Some("Fix checkout (OI-0123456789AB)".into());
        assert_eq!(
            rework(&named, &[]),
            Some(Rework::NamesOpsItem("oi-0123456789ab".into()))
        );
        named.commit_message = Some("choi-0123456789ab, oi-xyz, oi-0123456789abc".into());
        assert_eq!(rework(&named, &[]), None);
        named.branch = Some("hotfix/oi-00000000000a".into());
        assert_eq!(
            rework(&named, &[]),
            Some(Rework::NamesOpsItem("oi-00000000000a".into()))
        );
    }

    proptest::proptest! {
        /// Whatever the ledger, the previous deployment is the latest non-rollback one strictly
        /// before, and an incident's deployment is never after its creation.
        #[test]
        fn previous_and_attributed_deployments_respect_time_and_rollbacks(
            runs in proptest::collection::vec((0i64..50, proptest::bool::ANY), 1..20),
            created in 0i64..60,
        ) {
            let all: Vec<Deployment> = runs
                .iter()
                .enumerate()
                .map(|(i, (t, rollback))| {
                    deploy(&format!("e{i:02}"), *t, if *rollback { "ManualRollback" } else { "Webhook" })
                })
                .collect();
            for this in &all {
                let prev = previous_deployment(&all, this);
                if let Some(p) = prev {
                    proptest::prop_assert!(!p.is_rollback());
                    proptest::prop_assert!((p.time, &p.execution_id) < (this.time, &this.execution_id));
                }
                let later_candidate = all.iter().any(|d| {
                    !d.is_rollback()
                        && (d.time, &d.execution_id) < (this.time, &this.execution_id)
                        && prev.is_none_or(|p| (d.time, &d.execution_id) > (p.time, &p.execution_id))
                });
                proptest::prop_assert!(!later_candidate);
            }
            match attribute(&all, created, None) {
                Some(d) => {
                    proptest::prop_assert!(d.time <= created);
                    proptest::prop_assert!(all.iter().all(|o| o.time > created || o.time <= d.time));
                }
                None => proptest::prop_assert!(all.iter().all(|o| o.time > created)),
            }
        }
    }

    #[test]
    fn an_execution_counts_only_for_pipelines_without_a_production_stage() {
        assert!(is_production_deployment(
            Signal::ExecutionSucceeded,
            "DeployPROD",
            false
        ));
        assert!(!is_production_deployment(
            Signal::ExecutionSucceeded,
            "DeployPROD",
            true
        ));
        let prod = Signal::StageSucceeded {
            stage: "DeployPROD",
        };
        let beta = Signal::StageSucceeded {
            stage: "DeployBeta",
        };
        assert!(is_production_deployment(prod, "DeployPROD", true));
        assert!(!is_production_deployment(beta, "DeployPROD", true));
    }

    #[test]
    fn globs_choose_production_pipelines_and_an_empty_list_chooses_none() {
        let f = PipelineFilter::new("prod-*, payments").unwrap();
        assert!(f.matches("prod-web") && f.matches("payments"));
        assert!(!f.matches("dev-web") && !f.matches("payments-dev"));
        assert!(PipelineFilter::new("*").unwrap().matches("anything"));
        assert!(!PipelineFilter::new("").unwrap().matches("anything"));
        assert!(PipelineFilter::new("prod-[").is_err());
    }

    #[test]
    fn only_the_main_branch_counts_when_the_branch_is_known() {
        assert!(branch_counts(None, "main"));
        assert!(branch_counts(Some("main"), "main"));
        assert!(branch_counts(Some("refs/heads/main"), "main"));
        assert!(!branch_counts(Some("feature/x"), "main"));
    }

    #[test]
    fn the_previous_deployment_skips_rollbacks_and_later_ones() {
        let all = vec![
            deploy("a", 100, "Webhook"),
            deploy("b", 200, "Webhook"),
            deploy("r", 300, "AutomatedRollback"),
            deploy("c", 400, "Webhook"),
        ];
        assert_eq!(
            previous_deployment(&all, &all[3]).map(|d| d.execution_id.as_str()),
            Some("b")
        );
        assert_eq!(
            previous_deployment(&all, &all[2]).map(|d| d.execution_id.as_str()),
            Some("b")
        );
        assert_eq!(previous_deployment(&all, &all[0]), None);
    }

    #[test]
    fn an_incident_goes_to_the_latest_deployment_at_or_before_its_creation_or_the_named_one() {
        let all = vec![deploy("a", 100, "Webhook"), deploy("b", 200, "Webhook")];
        let id = |d: Option<&Deployment>| d.map(|d| d.execution_id.clone());
        assert_eq!(id(attribute(&all, 199, None)), Some("a".into()));
        assert_eq!(id(attribute(&all, 200, None)), Some("b".into()));
        assert_eq!(id(attribute(&all, 50, None)), None);
        assert_eq!(id(attribute(&all, 500, Some("a"))), Some("a".into()));
        assert_eq!(id(attribute(&all, 500, Some("unknown"))), Some("b".into()));
    }

    #[test]
    fn opsitems_link_through_resources_or_tollgate_keys() {
        let data = HashMap::from([(
            RESOURCES_KEY.to_string(),
            r#"[{"arn":"arn:aws:codepipeline:us-east-1:111111111111:web"},{"arn":"arn:aws:s3:::bucket"}]"#
                .to_string(),
        )]);
        assert_eq!(
            linked_pipelines(&data),
            vec![Link {
                pipeline: "web".into(),
                execution_id: None
            }]
        );
        let data = HashMap::from([
            (PIPELINE_KEY.to_string(), "api".to_string()),
            (EXECUTION_KEY.to_string(), "e-1".to_string()),
        ]);
        assert_eq!(
            linked_pipelines(&data),
            vec![Link {
                pipeline: "api".into(),
                execution_id: Some("e-1".into())
            }]
        );
        let unrelated = HashMap::from([(RESOURCES_KEY.to_string(), "not json".to_string())]);
        assert!(linked_pipelines(&unrelated).is_empty());
        assert_eq!(
            pipeline_of_arn("arn:aws:codepipeline:eu-west-1:1:p"),
            Some("p")
        );
        assert_eq!(
            pipeline_of_arn("arn:aws:codebuild:eu-west-1:1:project/p"),
            None
        );
    }

    #[test]
    fn restoration_is_the_first_fixing_deployment_or_the_resolution() {
        let inc = incident("oi-abc123", 1_000);
        let mut fix = deploy("f", 1_600, "Webhook");
        fix.branch = Some("fix/oi-abc123-timeout".into());
        let mut message = deploy("m", 1_300, "Webhook");
        message.commit_message = Some("Fix OI-ABC123: retry".into());
        let early = {
            let mut d = deploy("e", 900, "Webhook");
            d.branch = Some("fix/oi-abc123".into());
            d
        };
        let unrelated = deploy("u", 1_100, "Webhook");
        assert_eq!(
            restore_time(&inc, &[fix.clone(), unrelated.clone()], None),
            Some(1_600)
        );
        assert_eq!(
            restore_time(&inc, &[fix.clone(), message], Some(2_000)),
            Some(1_300)
        );
        assert_eq!(
            restore_time(&inc, &[fix, early.clone()], Some(1_200)),
            Some(1_200)
        );
        assert_eq!(restore_time(&inc, &[early, unrelated], None), None);
    }

    #[test]
    fn lead_time_is_deployment_minus_commit_time() {
        assert_eq!(
            lead_times(10_000, &[4_000, 9_400, 10_100]),
            vec![6_000, 600, 0]
        );
    }

    #[test]
    fn repositories_come_from_github_and_connection_urls() {
        assert_eq!(
            repository_of_url("https://github.com/acme/web/commit/0123abc").as_deref(),
            Some("acme/web")
        );
        assert_eq!(
            repository_of_url("https://us-east-1.console.aws.amazon.com/codesuite/settings/connections/redirect?connectionArn=arn:aws:codeconnections:us-east-1:1:connection/x&referenceType=COMMIT&FullRepositoryId=acme/web&Commit=0123abc").as_deref(),
            Some("acme/web")
        );
        assert_eq!(
            repository_of_url("https://git-codecommit.us-east-1.amazonaws.com/v1/repos/web"),
            None
        );
    }

    #[test]
    fn connection_summaries_are_json_with_the_commit_message() {
        assert_eq!(
            message_of_summary(r#"{"ProviderType":"GitHub","CommitMessage":"Fix oi-1"}"#),
            "Fix oi-1"
        );
        assert_eq!(message_of_summary("Plain message"), "Plain message");
    }

    #[test]
    fn cloudwatch_takes_two_weeks_back_and_two_hours_ahead() {
        let now = 100 * 86_400;
        assert!(within_cloudwatch_window(now - 13 * 86_400, now));
        assert!(!within_cloudwatch_window(now - 14 * 86_400, now));
        assert!(!within_cloudwatch_window(now + 3 * 3_600, now));
    }

    #[test]
    fn times_parse_with_or_without_fractions() {
        assert_eq!(parse_time("1970-01-02T00:00:00Z"), Some(86_400));
        assert_eq!(
            parse_time("2024-10-19T02:46:53.629361Z"),
            Some(1_729_306_013)
        );
        assert_eq!(parse_time("yesterday"), None);
    }

    #[test]
    fn identities_are_bare_at_home_and_prefixed_elsewhere() {
        let home = Some("111111111111");
        assert_eq!(identity(home, Some("111111111111"), "web"), "web");
        assert_eq!(identity(home, None, "web"), "web");
        assert_eq!(identity(None, Some("222222222222"), "web"), "web");
        assert_eq!(
            identity(home, Some("222222222222"), "web"),
            "222222222222/web"
        );
        assert_eq!(
            split_identity("222222222222/web"),
            (Some("222222222222"), "web")
        );
        assert_eq!(split_identity("web"), (None, "web"));
    }

    #[test]
    fn an_opsitem_links_tollgate_pipeline_and_arns_of_its_own_account_only() {
        let home = Some("111111111111");
        let b = Some("222222222222");
        let data = HashMap::from([
            (PIPELINE_KEY.to_string(), "orders".to_string()),
            (
                RESOURCES_KEY.to_string(),
                r#"[{"arn":"arn:aws:codepipeline:us-east-1:333333333333:web"},{"arn":"arn:aws:codepipeline:us-east-1:111111111111:api"},{"arn":"arn:aws:codepipeline:us-east-1:222222222222:orders"}]"#
                    .to_string(),
            ),
        ]);
        let links: Vec<String> = linked_identities(&data, home, b)
            .into_iter()
            .map(|l| l.pipeline)
            .collect();
        // Issue 17: an OpsItem of 222222222222 marks only that account's pipelines; the ARNs
        // of 333333333333 and of the home account are not its to fail.
        assert_eq!(links, ["222222222222/orders"].map(String::from));
        assert_eq!(partition(Some("cn-north-1")), "aws-cn");
        assert_eq!(partition(Some("us-gov-west-1")), "aws-us-gov");
        assert_eq!(partition(Some("eu-west-1")), "aws");
    }
}
