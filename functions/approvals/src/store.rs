//! Approvals in the state table: `APPROVAL#<id>` holds the approval (`APPROVAL`) and one `VOTE#<approver>` per vote, all written conditionally.

use std::time::{Duration, SystemTime};

use serde_json::Value;
use sha2::{Digest, Sha256};
use tollgate::state::{Record, StateError, StateStore, Write};

use crate::model::{Approval, Status, Vote};

/// The sort key of the approval item.
pub const APPROVAL_SK: &str = "APPROVAL";
/// The sort key of the resume claim: who is telling the workflow, and how that went.
pub const RESUME_SK: &str = "RESUME";
/// The sort key prefix of an approver's email state: `EMAIL#<approver>`.
pub const EMAIL_PREFIX: &str = "EMAIL#";

/// The partition listing decided approvals whose workflow has not been told yet (sort key: the id),
/// for the scheduled delivery run: bounded by what is undelivered, never by history.
pub const UNDELIVERED_PK: &str = "APPROVALS#UNDELIVERED";

/// How long approvals and votes stay in the table after their links expire (the audit trail),
/// unless `APPROVAL_RETENTION_DAYS` says otherwise.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(90 * 24 * 3600);

pub fn pk(id: &str) -> String {
    format!("APPROVAL#{id}")
}

/// The partition listing the approvals created on the UTC day of `at`: `APPROVALS#2026-11-22`.
pub fn day_pk(at: i64) -> String {
    let day = crate::render::rfc3339(at);
    format!("APPROVALS#{}", day.get(..10).unwrap_or(&day))
}

/// The approval's sort key in its day's list: creation time (zero-padded), then the id.
pub fn list_sk(approval: &Approval) -> String {
    format!("{:012}#{}", approval.created_at.max(0), approval.id)
}

pub fn vote_sk(approver: &str) -> String {
    format!("VOTE#{approver}")
}

/// The de-duplication key of one approval request: a digest of its token, so a repeated
/// delivery (a Lambda retry, an SNS redelivery) sends no second round of emails, and the token
/// itself is not a key.
pub fn request_key(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("EVENT#approval-request-{hex}")
}

/// State-table failures, as the handlers need them.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A conditional write lost to another request: re-read and decide again.
    #[error("a concurrent request changed the approval first")]
    Conflict,
    #[error("the approval item is unreadable: {0}")]
    Corrupt(String),
    #[error("{0}")]
    State(StateError),
}

impl From<StateError> for StoreError {
    fn from(e: StateError) -> Self {
        match e {
            StateError::AlreadyExists { .. }
            | StateError::TransitionNotAllowed { .. }
            | StateError::TransactionConflict => StoreError::Conflict,
            StateError::Corrupt { reason, .. } => StoreError::Corrupt(reason),
            other => StoreError::State(other),
        }
    }
}

/// An approval with its state and votes, as read in one consistent query.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub status: Status,
    pub approval: Approval,
    pub votes: Vec<Vote>,
    /// The resume claim's state (`CLAIMED#<n>`, `FAILED#<n>`, `DELIVERED`, `ENDED`) and data.
    pub resume: Option<(String, Claim)>,
    /// Each approver's email: `SENDING`, `SENT`, `FAILED` (try again) or `REJECTED` (for good),
    /// and why.
    pub emails: Vec<(String, String, String)>,
}

/// One attempt at telling the workflow (the `RESUME` item's data).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Claim {
    /// 1 for the first attempt.
    pub attempt: u32,
    /// When this attempt started (epoch seconds).
    pub claimed_at: i64,
    /// Who started it: an approver, or `schedule`.
    pub by: String,
    /// Why the last attempt failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// When the scheduled run tries again (epoch seconds).
    #[serde(default)]
    pub next_try_at: i64,
    /// Whether the failed attempt may have reached the workflow (no answer from AWS).
    #[serde(default)]
    pub maybe_applied: bool,
}

/// Approvals on top of the shared [`StateStore`].
#[derive(Debug, Clone)]
pub struct ApprovalStore<S> {
    pub state: S,
    /// How long items stay after the approval expires.
    pub retention: Duration,
}

fn to_value<T: serde::Serialize>(value: &T) -> Result<Value, StoreError> {
    serde_json::to_value(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

impl<S: StateStore> ApprovalStore<S> {
    pub fn new(state: S, retention: Duration) -> Self {
        ApprovalStore { state, retention }
    }

    fn ttl(&self, approval: &Approval) -> i64 {
        let retention = i64::try_from(self.retention.as_secs()).unwrap_or(i64::MAX);
        approval.expires_at.saturating_add(retention)
    }

    /// Stores a new `PENDING` approval and its request key in one transaction. `Ok(false)`: the
    /// request key exists, this request was handled before.
    pub async fn create(&self, approval: &Approval) -> Result<bool, StoreError> {
        let ttl = self.ttl(approval);
        let mut item = Record::new(pk(&approval.id), APPROVAL_SK)
            .with_state(Status::Pending.as_str())
            .with_data(to_value(approval)?);
        item.expires_at = Some(ttl);
        let mut seen = Record::new(request_key(approval.target.token()), "EVENT")
            .with_data(serde_json::json!({ "approval_id": approval.id }));
        seen.expires_at = Some(ttl);
        // The day index: `tollgate approvals list --days N` reads N partitions, never history.
        let mut listed = Record::new(day_pk(approval.created_at), list_sk(approval));
        listed.expires_at = Some(ttl);
        match self
            .state
            .write_all(&[
                Write::Create(seen),
                Write::Create(item),
                Write::Create(listed),
            ])
            .await
        {
            Ok(()) => Ok(true),
            Err(StateError::AlreadyExists { pk, .. }) if pk.starts_with("EVENT#") => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// The approval, its state and its votes; `None` when there is no such approval.
    pub async fn load(&self, id: &str) -> Result<Option<Loaded>, StoreError> {
        let records = self.state.query(&pk(id)).await?;
        let mut votes = Vec::new();
        let mut found = None;
        let mut resume = None;
        let mut emails = Vec::new();
        for record in records {
            if let Some(approver) = record.sk.strip_prefix(EMAIL_PREFIX) {
                let why = record.data["reason"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                emails.push((
                    approver.to_string(),
                    record.state.clone().unwrap_or_default(),
                    why,
                ));
            } else if record.sk == RESUME_SK {
                let claim: Claim = serde_json::from_value(record.data)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                resume = Some((record.state.unwrap_or_default(), claim));
            } else if record.sk == APPROVAL_SK {
                let status = record
                    .state
                    .as_deref()
                    .and_then(Status::parse)
                    .ok_or_else(|| StoreError::Corrupt(format!("state {:?}", record.state)))?;
                let approval: Approval = serde_json::from_value(record.data)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                found = Some((status, approval));
            } else if record.sk.starts_with("VOTE#") {
                votes.push(
                    serde_json::from_value::<Vote>(record.data)
                        .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                );
            }
        }
        votes.sort_by_key(|v| v.at);
        Ok(found.map(|(status, approval)| Loaded {
            status,
            approval,
            votes,
            resume,
            emails,
        }))
    }

    /// Records `vote` and moves the approval from `PENDING` to `to` (`PENDING` itself for a vote
    /// that does not decide), replacing its data with `decided` when given, all or nothing.
    /// [`StoreError::Conflict`]: this approver voted already, or the approval is no longer
    /// pending, or a concurrent vote got there first.
    pub async fn vote(
        &self,
        approval: &Approval,
        vote: &Vote,
        to: Status,
        decided: Option<&Approval>,
    ) -> Result<(), StoreError> {
        let mut record = Record::new(pk(&approval.id), vote_sk(&vote.approver))
            .with_state(match vote.choice {
                crate::model::Choice::Approve => "APPROVE",
                crate::model::Choice::Reject => "REJECT",
            })
            .with_data(to_value(vote)?);
        record.expires_at = Some(self.ttl(approval));
        let transition = Write::Transition {
            pk: pk(&approval.id),
            sk: APPROVAL_SK.to_string(),
            from: Status::Pending.as_str().to_string(),
            to: to.as_str().to_string(),
            data: decided.map(to_value).transpose()?,
        };
        let mut writes = vec![Write::Create(record), transition];
        if decided.is_some() {
            writes.push(Write::Create(self.undelivered(approval)));
        }
        self.state.write_all(&writes).await?;
        Ok(())
    }

    /// The entry that lists a decided approval as not yet delivered.
    fn undelivered(&self, approval: &Approval) -> Record {
        let mut record = Record::new(UNDELIVERED_PK, approval.id.clone());
        record.expires_at = Some(self.ttl(approval));
        record
    }

    /// Decides a pending approval (`decided` carries the decision) and lists it as undelivered,
    /// all or nothing.
    pub async fn decide(&self, decided: &Approval, to: Status) -> Result<(), StoreError> {
        let transition = Write::Transition {
            pk: pk(&decided.id),
            sk: APPROVAL_SK.to_string(),
            from: Status::Pending.as_str().to_string(),
            to: to.as_str().to_string(),
            data: Some(to_value(decided)?),
        };
        self.state
            .write_all(&[transition, Write::Create(self.undelivered(decided))])
            .await?;
        Ok(())
    }

    /// Takes the resume claim: creates it (`from` = `None`) or moves it from the state read
    /// (`from`) to `to`. [`StoreError::Conflict`]: someone else took it first.
    pub async fn claim(
        &self,
        approval: &Approval,
        from: Option<&str>,
        to: &str,
        claim: &Claim,
    ) -> Result<(), StoreError> {
        let data = to_value(claim)?;
        match from {
            None => {
                let mut record = Record::new(pk(&approval.id), RESUME_SK)
                    .with_state(to)
                    .with_data(data);
                record.expires_at = Some(self.ttl(approval));
                self.state.create(&record).await?;
            }
            Some(from) => {
                self.state
                    .transition(&pk(&approval.id), RESUME_SK, from, to, Some(&data))
                    .await?;
            }
        }
        Ok(())
    }

    /// Claims sending `approver`'s email: creates its state (`from` = `None`) or moves it from
    /// `from` (`FAILED`) to `SENDING`. [`StoreError::Conflict`]: another attempt has it.
    pub async fn claim_email(
        &self,
        approval: &Approval,
        approver: &str,
        from: Option<&str>,
    ) -> Result<(), StoreError> {
        let sk = format!("{EMAIL_PREFIX}{approver}");
        match from {
            None => {
                let mut record = Record::new(pk(&approval.id), sk).with_state("SENDING");
                record.expires_at = Some(self.ttl(approval));
                self.state.create(&record).await?;
            }
            Some(from) => {
                self.state
                    .transition(&pk(&approval.id), &sk, from, "SENDING", None)
                    .await?;
            }
        }
        Ok(())
    }

    /// Records how sending `approver`'s email went (`SENT`, `FAILED`, `REJECTED`) and why.
    pub async fn email_result(
        &self,
        approval: &Approval,
        approver: &str,
        to: &str,
        reason: &str,
    ) -> Result<(), StoreError> {
        let data = serde_json::json!({ "reason": reason });
        self.state
            .transition(
                &pk(&approval.id),
                &format!("{EMAIL_PREFIX}{approver}"),
                "SENDING",
                to,
                Some(&data),
            )
            .await?;
        Ok(())
    }

    /// The approvals created in the `days` UTC days up to `now`, newest first: one query per day.
    pub async fn created_since(&self, now: i64, days: u32) -> Result<Vec<Loaded>, StoreError> {
        let mut out = Vec::new();
        for day in 0..i64::from(days.max(1)) {
            let mut ids: Vec<String> = self
                .state
                .query(&day_pk(now - day * 86_400))
                .await?
                .into_iter()
                .filter_map(|r| r.sk.split_once('#').map(|(_, id)| id.to_string()))
                .collect();
            ids.reverse();
            for id in ids {
                if let Some(loaded) = self.load(&id).await?
                    && loaded.approval.created_at >= now - i64::from(days) * 86_400
                {
                    out.push(loaded);
                }
            }
        }
        Ok(out)
    }

    /// The ids of decided approvals whose workflow has not been told yet.
    pub async fn undelivered_ids(&self) -> Result<Vec<String>, StoreError> {
        Ok(self
            .state
            .query(UNDELIVERED_PK)
            .await?
            .into_iter()
            .map(|r| r.sk)
            .collect())
    }

    /// Takes an approval off the undelivered list.
    pub async fn delivered(&self, id: &str) -> Result<(), StoreError> {
        self.state.delete(UNDELIVERED_PK, id).await?;
        Ok(())
    }

    /// Moves the approval from `from` to `to` with new data, only if it is in `from`.
    pub async fn transition(
        &self,
        approval: &Approval,
        from: Status,
        to: Status,
    ) -> Result<(), StoreError> {
        let data = to_value(approval)?;
        self.state
            .transition(
                &pk(&approval.id),
                APPROVAL_SK,
                from.as_str(),
                to.as_str(),
                Some(&data),
            )
            .await?;
        Ok(())
    }
}

/// Seconds since the Unix epoch, now.
pub fn now_secs() -> i64 {
    tollgate::state::epoch_seconds(SystemTime::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_keys_hide_the_token_and_differ_per_token() {
        let a = request_key("token-a");
        assert!(a.starts_with("EVENT#approval-request-") && !a.contains("token-a"));
        assert_eq!(a.len(), "EVENT#approval-request-".len() + 64);
        assert_ne!(a, request_key("token-b"));
    }

    #[test]
    fn conditional_failures_become_conflicts() {
        let e: StoreError = StateError::TransactionConflict.into();
        assert!(matches!(e, StoreError::Conflict));
        let e: StoreError = StateError::AlreadyExists {
            pk: "p".into(),
            sk: "s".into(),
        }
        .into();
        assert!(matches!(e, StoreError::Conflict));
        let e: StoreError = StateError::Sdk("boom".into()).into();
        assert!(matches!(e, StoreError::State(_)));
    }
}
