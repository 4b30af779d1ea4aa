//! The approval as stored: what is waiting (the task token), who decides, what they see, and the outcome.

use serde::{Deserialize, Serialize};

use crate::groups::{Bucket, Quorum, count_toward};

/// What resumes when the approval is decided.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Target {
    /// A Step Functions task waiting with `.waitForTaskToken`.
    StepFunctions { task_token: String },
    /// A CodePipeline Manual approval action.
    CodePipeline {
        pipeline: String,
        stage: String,
        action: String,
        token: String,
    },
}

impl Target {
    /// The token that resumes the workflow: never logged, never put in a URL or an email.
    pub fn token(&self) -> &str {
        match self {
            Target::StepFunctions { task_token } => task_token,
            Target::CodePipeline { token, .. } => token,
        }
    }

    /// `stepfunctions` or `codepipeline`, for logs and pages.
    pub fn kind(&self) -> &'static str {
        match self {
            Target::StepFunctions { .. } => "stepfunctions",
            Target::CodePipeline { .. } => "codepipeline",
        }
    }

    /// What a person calls the waiting thing.
    pub fn describe(&self) -> String {
        match self {
            Target::StepFunctions { .. } => "the Step Functions workflow".to_string(),
            Target::CodePipeline {
                pipeline,
                stage,
                action,
                ..
            } => format!("pipeline {pipeline}, stage {stage}, action {action}"),
        }
    }
}

/// Never prints the token.
impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::StepFunctions { .. } => f
                .debug_struct("StepFunctions")
                .field("task_token", &tollgate::telemetry::REDACTED)
                .finish(),
            Target::CodePipeline {
                pipeline,
                stage,
                action,
                ..
            } => f
                .debug_struct("CodePipeline")
                .field("pipeline", pipeline)
                .field("stage", stage)
                .field("action", action)
                .field("token", &tollgate::telemetry::REDACTED)
                .finish(),
        }
    }
}

/// The lifecycle state of an approval (the item's `state` attribute).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Waiting for decisions.
    Pending,
    Approved,
    Rejected,
    /// The link expired, or the workflow stopped waiting (timed out, token no longer valid).
    Expired,
    /// The emails could not be sent; the workflow was failed instead.
    Withdrawn,
}

impl Status {
    pub const fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "PENDING",
            Status::Approved => "APPROVED",
            Status::Rejected => "REJECTED",
            Status::Expired => "EXPIRED",
            Status::Withdrawn => "WITHDRAWN",
        }
    }

    pub fn parse(text: &str) -> Option<Status> {
        [
            Status::Pending,
            Status::Approved,
            Status::Rejected,
            Status::Expired,
            Status::Withdrawn,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

/// An approver's choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Choice {
    Approve,
    Reject,
}

impl Choice {
    pub fn parse(text: &str) -> Option<Choice> {
        match text {
            "approve" => Some(Choice::Approve),
            "reject" => Some(Choice::Reject),
            _ => None,
        }
    }
}

/// One approver's recorded vote (item `VOTE#<approver>` under the approval).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vote {
    pub approver: String,
    pub choice: Choice,
    #[serde(default)]
    pub comment: String,
    /// Epoch seconds.
    pub at: i64,
    /// Audit: where the decision came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
}

/// One part of the quorum at decision time: the group (none for a plain count), how many it
/// needed, and who counted toward it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupProgress {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    pub required: u32,
    pub approved_by: Vec<String>,
}

/// The final decision, recorded on the approval when it leaves `PENDING`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    /// `APPROVED` or `REJECTED`.
    pub outcome: Choice,
    /// Who made the deciding vote.
    pub approver: String,
    /// Everyone who approved (for `requiredApprovals` > 1), in the order they voted.
    #[serde(default)]
    pub approved_by: Vec<String>,
    pub comment: String,
    /// Epoch seconds.
    pub at: i64,
    /// Per part of the quorum, who counted toward it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub progress: Vec<GroupProgress>,
}

/// An approval request as stored under `APPROVAL#<id>`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    pub id: String,
    pub target: Target,
    /// Lower-cased email addresses, each once.
    pub approvers: Vec<String>,
    pub required_approvals: u32,
    /// The quorum per group; `None` (and in items written before groups): `required_approvals`
    /// distinct approvers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quorum: Option<Quorum>,
    /// For each approver group, which approvers belong to it (as `ApproverGroups` said when the
    /// request was made).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub membership: Vec<(String, Vec<String>)>,
    /// Who asked for the release; they got no link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_by: Option<String>,
    pub subject: String,
    #[serde(default)]
    pub summary: String,
    /// Shown in the email and on the page, in this order.
    #[serde(default)]
    pub details: Vec<(String, String)>,
    /// Label -> URL; only http(s) URLs become links.
    #[serde(default)]
    pub links: Vec<(String, String)>,
    /// Epoch seconds.
    pub created_at: i64,
    /// When the links stop working (epoch seconds).
    pub expires_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<Decision>,
    /// When the workflow was told about the decision (epoch seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resumed_at: Option<i64>,
    /// Why the approval ended without reaching the workflow (expired, emails not sent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_reason: Option<String>,
}

/// Never prints the token (see [`Target`]'s `Debug`).
impl std::fmt::Debug for Approval {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Approval")
            .field("id", &self.id)
            .field("target", &self.target)
            .field("approvers", &self.approvers)
            .field("required_approvals", &self.required_approvals)
            .field("subject", &self.subject)
            .field("expires_at", &self.expires_at)
            .field("decision", &self.decision)
            .finish_non_exhaustive()
    }
}

impl Approval {
    /// The quorum this approval needs.
    pub fn quorum(&self) -> Quorum {
        self.quorum
            .clone()
            .unwrap_or(Quorum::Count(self.required_approvals.max(1)))
    }

    /// How `approved` (distinct approvers, in order) fill the quorum, part by part.
    pub fn progress(&self, approved: &[String]) -> Vec<Bucket> {
        count_toward(&self.quorum(), &self.membership, approved)
    }

    /// [`Approval::progress`] as recorded in a decision.
    pub fn progress_record(&self, approved: &[String]) -> Vec<GroupProgress> {
        self.progress(approved)
            .into_iter()
            .map(|b| GroupProgress {
                group: b.group,
                required: b.required,
                approved_by: b.counted,
            })
            .collect()
    }

    /// Whether `approver` (any case) is one of this approval's approvers.
    pub fn has_approver(&self, approver: &str) -> bool {
        let wanted = approver.to_ascii_lowercase();
        self.approvers.contains(&wanted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_contains_the_token() {
        let approval = Approval {
            id: "abc".into(),
            target: Target::CodePipeline {
                pipeline: "orders".into(),
                stage: "Approve".into(),
                action: "Manager".into(),
                token: "SECRET-TOKEN-123".into(),
            },
            approvers: vec!["a@example.com".into()],
            required_approvals: 1,
            quorum: None,
            membership: vec![],
            requested_by: None,
            subject: "s".into(),
            summary: String::new(),
            details: vec![],
            links: vec![],
            created_at: 0,
            expires_at: 1,
            decision: None,
            resumed_at: None,
            closed_reason: None,
        };
        let text = format!("{approval:?} {:?}", approval.target);
        assert!(!text.contains("SECRET-TOKEN-123"), "{text}");
        assert!(text.contains("orders"), "{text}");
        let sfn = Target::StepFunctions {
            task_token: "SFN-TOKEN".into(),
        };
        assert!(!format!("{sfn:?}").contains("SFN-TOKEN"));
    }

    #[test]
    fn status_names_round_trip() {
        for s in [
            Status::Pending,
            Status::Approved,
            Status::Rejected,
            Status::Expired,
            Status::Withdrawn,
        ] {
            assert_eq!(Status::parse(s.as_str()), Some(s));
        }
        assert_eq!(Status::parse("pending"), None);
    }

    #[test]
    fn approver_membership_ignores_case() {
        let approval: Approval = serde_json::from_value(serde_json::json!({
            "id": "x", "target": {"kind": "step_functions", "task_token": "t"},
            "approvers": ["rm@example.com"], "required_approvals": 1, "subject": "s",
            "created_at": 0, "expires_at": 1
        }))
        .unwrap();
        assert!(approval.has_approver("RM@example.com"));
        assert!(!approval.has_approver("other@example.com"));
    }
}
