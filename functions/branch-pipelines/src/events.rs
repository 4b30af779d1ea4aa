//! The three payload shapes (CodeCommit EventBridge event, GitHub webhook through the HTTP API, schedule) as one enum.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use serde_json::Value;

/// Where a repository lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    CodeCommit,
    GitHub,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::CodeCommit => "codecommit",
            Source::GitHub => "github",
        }
    }

    pub fn parse(text: &str) -> Option<Source> {
        match text {
            "codecommit" => Some(Source::CodeCommit),
            "github" => Some(Source::GitHub),
            _ => None,
        }
    }
}

/// What happened to a branch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Created,
    Deleted,
    /// New commits: only refreshes the branch's last activity.
    Updated,
    /// A pull request's `preview:keep` label was added or removed: its comment says so.
    Relabeled,
}

/// The pull request a change is about (GitHub `pull_request` events).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequest {
    pub number: u64,
    /// The head branch (the stack's `BranchName`).
    pub head_branch: String,
    pub head_sha: String,
    pub draft: bool,
    /// Its labels' names, as the delivery lists them.
    pub labels: Vec<String>,
}

/// The key under which a pull request's stack is named, tagged and recorded: never a valid git
/// branch name (`:` is not allowed in refs), so it cannot collide with a branch's.
pub fn pull_request_key(number: u64) -> String {
    format!("pull-request:{number}")
}

/// The pull request number of a [`pull_request_key`].
pub fn pull_request_number(key: &str) -> Option<u64> {
    key.strip_prefix("pull-request:")?.parse().ok()
}

/// One branch change, whatever the trigger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BranchChange {
    pub change: Change,
    pub source: Source,
    /// CodeCommit: the repository name; GitHub: `owner/name`.
    pub repository: String,
    pub branch: String,
    /// GitHub's payload names it; for CodeCommit it is looked up.
    pub default_branch: Option<String>,
    /// For de-duplication: the EventBridge event id or GitHub's delivery id.
    pub event_id: String,
    /// CodeCommit: the account the event came from; GitHub: empty.
    pub account: String,
    /// A pull request's change (`branch` is then its [`pull_request_key`]).
    pub pull_request: Option<PullRequest>,
}

/// A GitHub webhook request, not yet verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookRequest {
    /// The raw body, as signed.
    pub body: Vec<u8>,
    pub signature: Option<String>,
    pub event: Option<String>,
    pub delivery: Option<String>,
}

/// CloudFormation's "CloudFormation Stack Status Change" event: a branch stack's operation moved on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackStatusChange {
    pub stack_id: String,
    pub status: String,
    pub reason: String,
    pub account: String,
}

/// Every payload this function answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    CodeCommit(BranchChange),
    GitHub(WebhookRequest),
    Sweep,
    StackStatus(StackStatusChange),
    /// Understood but not for us (a tag reference, a commit on the default branch...).
    Ignored(String),
}

/// A payload of none of the three shapes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unrecognised event: {0}")]
pub struct UnknownEvent(pub String);

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CodeCommitDetail {
    event: String,
    #[serde(default)]
    reference_type: String,
    #[serde(default)]
    reference_name: String,
    repository_name: String,
}

#[derive(Debug, Deserialize)]
struct StackStatusDetails {
    status: String,
    #[serde(default, rename = "status-reason")]
    status_reason: Option<String>,
}

#[derive(Debug, Deserialize)]
struct StackStatusDetail {
    #[serde(rename = "stack-id")]
    stack_id: String,
    #[serde(rename = "status-details")]
    status_details: StackStatusDetails,
}

/// Sorts a Lambda payload into one of the three triggers.
pub fn classify(event: &Value) -> Result<Trigger, UnknownEvent> {
    if event.get("requestContext").is_some() && event.get("headers").is_some() {
        return webhook_request(event).map(Trigger::GitHub);
    }
    let source = event.get("source").and_then(Value::as_str);
    let detail_type = tollgate::events::detail_type(event);
    match (source, detail_type) {
        (Some("aws.events"), Some("Scheduled Event")) => Ok(Trigger::Sweep),
        (Some("aws.cloudformation"), Some("CloudFormation Stack Status Change")) => {
            let parsed =
                tollgate::events::parse::<StackStatusDetail>(event).map_err(UnknownEvent)?;
            Ok(Trigger::StackStatus(StackStatusChange {
                stack_id: parsed.detail.stack_id,
                status: parsed.detail.status_details.status,
                reason: parsed
                    .detail
                    .status_details
                    .status_reason
                    .unwrap_or_default(),
                account: parsed.account,
            }))
        }
        (Some("aws.codecommit"), Some("CodeCommit Repository State Change")) => {
            let parsed =
                tollgate::events::parse::<CodeCommitDetail>(event).map_err(UnknownEvent)?;
            let d = parsed.detail;
            if d.reference_type != "branch" {
                return Ok(Trigger::Ignored(format!(
                    "{} reference, not a branch",
                    d.reference_type
                )));
            }
            let change = match d.event.as_str() {
                "referenceCreated" => Change::Created,
                "referenceDeleted" => Change::Deleted,
                "referenceUpdated" => Change::Updated,
                other => return Ok(Trigger::Ignored(format!("CodeCommit event {other}"))),
            };
            if d.reference_name.is_empty() {
                return Err(UnknownEvent(
                    "CodeCommit event without referenceName".into(),
                ));
            }
            Ok(Trigger::CodeCommit(BranchChange {
                change,
                source: Source::CodeCommit,
                repository: d.repository_name,
                branch: d.reference_name,
                default_branch: None,
                event_id: parsed.id,
                account: parsed.account,
                pull_request: None,
            }))
        }
        _ => Err(UnknownEvent(format!(
            "source {source:?}, detail-type {detail_type:?}"
        ))),
    }
}

fn webhook_request(event: &Value) -> Result<WebhookRequest, UnknownEvent> {
    // HTTP API payload 2.0 lowercases header names; be lenient with other casings anyway.
    let header = |name: &str| {
        event
            .get("headers")
            .and_then(Value::as_object)
            .and_then(|h| {
                h.iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(name))
                    .and_then(|(_, v)| v.as_str())
                    .map(str::to_string)
            })
    };
    let text = event.get("body").and_then(Value::as_str).unwrap_or("");
    let body = if event
        .get("isBase64Encoded")
        .and_then(Value::as_bool)
        .unwrap_or(false)
    {
        STANDARD
            .decode(text)
            .map_err(|e| UnknownEvent(format!("body is not base64: {e}")))?
    } else {
        text.as_bytes().to_vec()
    };
    Ok(WebhookRequest {
        body,
        signature: header("x-hub-signature-256"),
        event: header("x-github-event"),
        delivery: header("x-github-delivery"),
    })
}

#[derive(Debug, Deserialize)]
struct GitHubRepository {
    full_name: String,
    #[serde(default)]
    default_branch: Option<String>,
}

#[derive(Debug, Deserialize)]
struct GitHubRefEvent {
    #[serde(rename = "ref")]
    reference: String,
    #[serde(default)]
    ref_type: String,
    repository: GitHubRepository,
}

#[derive(Debug, Deserialize)]
struct GitHubHead {
    #[serde(rename = "ref")]
    reference: String,
    sha: String,
}

#[derive(Debug, Deserialize)]
struct GitHubLabel {
    #[serde(default)]
    name: String,
}

#[derive(Debug, Deserialize)]
struct GitHubPullRequestBody {
    number: u64,
    #[serde(default)]
    draft: bool,
    head: GitHubHead,
    #[serde(default)]
    labels: Vec<GitHubLabel>,
}

#[derive(Debug, Deserialize)]
struct GitHubPullRequestEvent {
    action: String,
    pull_request: GitHubPullRequestBody,
    repository: GitHubRepository,
    /// The label a `labeled` / `unlabeled` delivery is about.
    #[serde(default)]
    label: Option<GitHubLabel>,
}

#[derive(Debug, Deserialize)]
struct GitHubPush {
    #[serde(rename = "ref")]
    reference: String,
    #[serde(default)]
    deleted: bool,
    repository: GitHubRepository,
}

/// What a verified GitHub delivery means for us.
pub fn github_change(request: &WebhookRequest) -> Result<Option<BranchChange>, UnknownEvent> {
    let event = request.event.as_deref().unwrap_or("");
    let delivery = request.delivery.clone().unwrap_or_default();
    let bad = |e: serde_json::Error| UnknownEvent(format!("GitHub {event} payload: {e}"));
    let (change, reference, repository) = match event {
        "create" | "delete" => {
            let p: GitHubRefEvent = serde_json::from_slice(&request.body).map_err(bad)?;
            if p.ref_type != "branch" {
                return Ok(None);
            }
            let change = if event == "create" {
                Change::Created
            } else {
                Change::Deleted
            };
            (change, p.reference, p.repository)
        }
        "pull_request" => {
            let p: GitHubPullRequestEvent = serde_json::from_slice(&request.body).map_err(bad)?;
            let change = match p.action.as_str() {
                "opened" | "reopened" | "ready_for_review" => Change::Created,
                "synchronize" => Change::Updated,
                "closed" => Change::Deleted,
                "labeled" | "unlabeled"
                    if p.label.as_ref().map(|l| l.name.as_str())
                        == Some(crate::status::KEEP_LABEL) =>
                {
                    Change::Relabeled
                }
                _ => return Ok(None),
            };
            let pr = p.pull_request;
            return Ok(Some(BranchChange {
                change,
                source: Source::GitHub,
                repository: p.repository.full_name,
                branch: pull_request_key(pr.number),
                default_branch: p.repository.default_branch,
                event_id: format!("github-{delivery}"),
                account: String::new(),
                pull_request: Some(PullRequest {
                    number: pr.number,
                    head_branch: pr.head.reference,
                    head_sha: pr.head.sha,
                    draft: pr.draft,
                    labels: pr.labels.into_iter().map(|l| l.name).collect(),
                }),
            }));
        }
        "push" => {
            let p: GitHubPush = serde_json::from_slice(&request.body).map_err(bad)?;
            match p.reference.strip_prefix("refs/heads/") {
                Some(branch) if !p.deleted => (Change::Updated, branch.to_string(), p.repository),
                _ => return Ok(None),
            }
        }
        _ => return Ok(None),
    };
    Ok(Some(BranchChange {
        change,
        source: Source::GitHub,
        repository: repository.full_name,
        branch: reference,
        default_branch: repository.default_branch,
        event_id: format!("github-{delivery}"),
        account: String::new(),
        pull_request: None,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(name: &str) -> Value {
        let path = format!(
            "{}/../../events/branch-pipelines.{name}.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        serde_json::from_str(&text).unwrap()
    }

    #[test]
    fn codecommit_samples_are_branch_changes() {
        let Trigger::CodeCommit(created) = classify(&sample("codecommit-created")).unwrap() else {
            panic!("not a CodeCommit change")
        };
        assert_eq!(created.change, Change::Created);
        assert_eq!(created.branch, "feature/login-page");
        assert_eq!(created.repository, "orders-api");
        let Trigger::CodeCommit(deleted) = classify(&sample("codecommit-deleted")).unwrap() else {
            panic!("not a CodeCommit change")
        };
        assert_eq!(deleted.change, Change::Deleted);
    }

    #[test]
    fn schedule_sample_is_a_sweep() {
        assert_eq!(classify(&sample("schedule")).unwrap(), Trigger::Sweep);
    }

    #[test]
    fn the_stack_status_sample_is_a_branch_stacks_status_change() {
        let Trigger::StackStatus(change) = classify(&sample("stack-status")).unwrap() else {
            panic!("not a stack status change")
        };
        assert_eq!(change.status, "CREATE_COMPLETE");
        assert!(
            change
                .stack_id
                .contains(":stack/tollgate-branch-pull-request-7-"),
            "{}",
            change.stack_id
        );
        assert_eq!(change.account, "123456789012");
    }

    #[test]
    fn github_sample_is_a_signed_create() {
        let Trigger::GitHub(request) = classify(&sample("github-create")).unwrap() else {
            panic!("not a webhook")
        };
        assert_eq!(request.event.as_deref(), Some("create"));
        let change = github_change(&request).unwrap().unwrap();
        assert_eq!(change.change, Change::Created);
        assert_eq!(change.repository, "octo-org/orders-api");
        assert_eq!(change.default_branch.as_deref(), Some("main"));
        assert!(
            crate::webhook::verify(
                crate::SAMPLE_WEBHOOK_SECRET.as_bytes(),
                &request.body,
                request.signature.as_deref()
            )
            .is_ok()
        );
    }

    #[test]
    fn github_ping_and_tag_events_mean_nothing() {
        let Trigger::GitHub(ping) = classify(&sample("github-ping")).unwrap() else {
            panic!("not a webhook")
        };
        assert_eq!(github_change(&ping).unwrap(), None);
        let tag = WebhookRequest {
            body: br#"{"ref":"v1","ref_type":"tag","repository":{"full_name":"o/r"}}"#.to_vec(),
            signature: None,
            event: Some("create".into()),
            delivery: None,
        };
        assert_eq!(github_change(&tag).unwrap(), None);
    }

    #[test]
    fn base64_bodies_are_decoded_before_verification() {
        let event = serde_json::json!({
            "requestContext": {}, "headers": {"X-GitHub-Event": "ping"},
            "body": STANDARD.encode("Hello, World!"), "isBase64Encoded": true
        });
        let Trigger::GitHub(request) = classify(&event).unwrap() else {
            panic!("not a webhook")
        };
        assert_eq!(request.body, b"Hello, World!");
        assert_eq!(request.event.as_deref(), Some("ping"));
    }

    #[test]
    fn codecommit_tags_are_ignored_and_strangers_rejected() {
        let tag = serde_json::json!({"id": "1", "source": "aws.codecommit",
            "detail-type": "CodeCommit Repository State Change",
            "detail": {"event": "referenceCreated", "referenceType": "tag", "referenceName": "v1", "repositoryName": "r"}});
        assert!(matches!(classify(&tag).unwrap(), Trigger::Ignored(_)));
        assert!(classify(&serde_json::json!({"hello": 1})).is_err());
    }

    #[test]
    fn pull_request_events_are_keyed_by_number_and_carry_the_head() {
        let body = serde_json::json!({"action": "opened", "number": 7,
            "pull_request": {"number": 7, "draft": false, "state": "open",
                             "head": {"ref": "feature/pay", "sha": "6dcb09b5b57875f334f61aebed695e2e4193db5e"}},
            "repository": {"full_name": "octo-org/orders-api", "default_branch": "main"}});
        let request = WebhookRequest {
            body: body.to_string().into_bytes(),
            signature: None,
            event: Some("pull_request".into()),
            delivery: Some("d1".into()),
        };
        let change = github_change(&request).unwrap().unwrap();
        assert_eq!(change.change, Change::Created);
        assert_eq!(change.branch, "pull-request:7");
        assert_eq!(pull_request_number(&change.branch), Some(7));
        let pr = change.pull_request.unwrap();
        assert_eq!((pr.head_branch.as_str(), pr.draft), ("feature/pay", false));
        for (action, expected) in [
            ("synchronize", Some(Change::Updated)),
            ("closed", Some(Change::Deleted)),
            ("labeled", None),
            ("edited", None),
        ] {
            let mut b = body.clone();
            b["action"] = serde_json::json!(action);
            let r = WebhookRequest {
                body: b.to_string().into_bytes(),
                ..request.clone()
            };
            assert_eq!(
                github_change(&r).unwrap().map(|c| c.change),
                expected,
                "{action}"
            );
        }
        assert_eq!(pull_request_number("feature/pull-request:7"), None);
        // Only the keep label matters among label changes.
        let mut b = body.clone();
        b["action"] = serde_json::json!("labeled");
        b["label"] = serde_json::json!({"name": "preview:keep"});
        let r = WebhookRequest {
            body: b.to_string().into_bytes(),
            ..request.clone()
        };
        assert_eq!(
            github_change(&r).unwrap().map(|c| c.change),
            Some(Change::Relabeled)
        );
    }
}
