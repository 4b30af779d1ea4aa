//! The audit trail as a reviewer reads it: who was asked, who decided what and when, from which IP, with which comment, and when the workflow was told.

use serde_json::{Value, json};

use crate::model::Choice;
use crate::render::rfc3339;
use crate::store::Loaded;

fn when(at: Option<i64>) -> Value {
    at.map_or(Value::Null, |t| json!(rfc3339(t)))
}

/// One approval as JSON (never its token): the request, the votes, the decision, the delivery.
pub fn record(loaded: &Loaded) -> Value {
    let a = &loaded.approval;
    let votes: Vec<Value> = loaded
        .votes
        .iter()
        .map(|v| {
            json!({
                "approver": v.approver,
                "choice": match v.choice { Choice::Approve => "APPROVE", Choice::Reject => "REJECT" },
                "at": rfc3339(v.at),
                "sourceIp": v.source_ip,
                "comment": v.comment,
            })
        })
        .collect();
    let emails: Vec<Value> = loaded
        .emails
        .iter()
        .map(|(to, state, _)| json!({"to": to, "state": state}))
        .collect();
    json!({
        "id": a.id,
        "kind": a.target.kind(),
        "waiting": a.target.describe(),
        "subject": a.subject,
        "state": loaded.status.as_str(),
        "createdAt": rfc3339(a.created_at),
        "expiresAt": rfc3339(a.expires_at),
        "requestedBy": a.requested_by,
        "asked": a.approvers,
        "requiredApprovals": a.required_approvals,
        "groups": a.membership.iter().map(|(g, m)| json!({"group": g, "members": m})).collect::<Vec<_>>(),
        "emails": emails,
        "votes": votes,
        "decision": a.decision.as_ref().map(|d| json!({
            "outcome": match d.outcome { Choice::Approve => "APPROVED", Choice::Reject => "REJECTED" },
            "by": d.approver,
            "approvedBy": d.approved_by,
            "comment": d.comment,
            "at": rfc3339(d.at),
            "progress": d.progress,
        })),
        "workflowToldAt": when(a.resumed_at),
        "delivery": loaded.resume.as_ref().map(|(state, c)| json!({
            "state": state, "attempt": c.attempt, "lastError": c.last_error,
        })),
        "closedReason": a.closed_reason,
    })
}
