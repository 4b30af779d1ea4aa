//! Telling the workflow about a recorded decision exactly once: a claimed step (the approval's own `RESUME` item, moved by conditional writes), retried by "deliver now" and by the scheduled run until the approval expires.

use tollgate::state::StateStore;

use crate::adapters::{Outcome, ResumeError, TaskResumer};
use crate::model::{Approval, Status};
use crate::render::{outcome_word, time};
use crate::store::{ApprovalStore, Claim, StoreError};

/// A claim younger than this is another instance telling the workflow right now (approval-api's
/// timeout is 29 s).
pub const CLAIM_SECS: i64 = 60;
/// The first retry waits this long; each further one twice as long, up to [`MAX_BACKOFF_SECS`].
pub const FIRST_BACKOFF_SECS: i64 = 120;
pub const MAX_BACKOFF_SECS: i64 = 3600;
/// Who started a scheduled attempt.
pub const SCHEDULE: &str = "schedule";

/// The claim's states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimState {
    Claimed(u32),
    Failed(u32),
    Delivered,
    /// The workflow no longer waits, or delivery was given up: nothing more to do.
    Ended,
}

impl ClaimState {
    pub fn parse(text: &str) -> Option<ClaimState> {
        match text.split_once('#') {
            Some(("CLAIMED", n)) => n.parse().ok().map(ClaimState::Claimed),
            Some(("FAILED", n)) => n.parse().ok().map(ClaimState::Failed),
            None if text == "DELIVERED" => Some(ClaimState::Delivered),
            None if text == "ENDED" => Some(ClaimState::Ended),
            _ => None,
        }
    }

    pub fn as_string(self) -> String {
        match self {
            ClaimState::Claimed(n) => format!("CLAIMED#{n}"),
            ClaimState::Failed(n) => format!("FAILED#{n}"),
            ClaimState::Delivered => "DELIVERED".into(),
            ClaimState::Ended => "ENDED".into(),
        }
    }
}

/// How long the scheduled run waits after failed attempt `attempt`.
pub fn backoff(attempt: u32) -> i64 {
    let doublings = attempt.saturating_sub(1).min(16);
    FIRST_BACKOFF_SECS
        .saturating_mul(1_i64 << doublings)
        .min(MAX_BACKOFF_SECS)
}

/// What an attempt to tell the workflow led to.
#[derive(Debug)]
pub enum Delivery {
    /// Told now (`already`: an earlier attempt whose answer was lost had told it).
    Delivered { approval: Approval, already: bool },
    /// It was told before.
    AlreadyDelivered,
    /// Another instance is telling it right now.
    InProgress { since: i64, by: String },
    /// The scheduled run's next try is later.
    NotDue,
    /// The workflow had stopped waiting without us: the approval is now `EXPIRED`.
    NoLongerWaiting { approval: Approval },
    /// Not told; recorded, and retried by the scheduled run and "deliver now".
    Failed { approval: Approval, problem: String },
    /// Delivery ended earlier (expired, or given up).
    Ended,
}

/// Who starts a delivery attempt, when, and whether it is the scheduled run (which waits for the
/// backoff; a person's "deliver now" does not).
#[derive(Debug, Clone, Copy)]
pub struct Attempt<'a> {
    pub by: &'a str,
    pub now: i64,
    pub scheduled: bool,
}

/// Tells the workflow about `approval`'s decision (`status` is `APPROVED` or `REJECTED`), if
/// nobody has and nobody is: claims the `RESUME` item first, so exactly one instance calls AWS.
pub async fn deliver<S: StateStore, R: TaskResumer>(
    store: &ApprovalStore<S>,
    resumer: &R,
    mut approval: Approval,
    status: Status,
    resume: Option<(String, Claim)>,
    attempt_by: Attempt<'_>,
) -> Result<Delivery, StoreError> {
    let Attempt { by, now, scheduled } = attempt_by;
    let Some(decision) = approval.decision.clone() else {
        return Ok(Delivery::Ended);
    };
    let (from, attempt, earlier_unknown) = match &resume {
        None => (None, 1, false),
        Some((state, claim)) => match ClaimState::parse(state) {
            Some(ClaimState::Delivered) => return Ok(Delivery::AlreadyDelivered),
            Some(ClaimState::Ended) | None => return Ok(Delivery::Ended),
            Some(ClaimState::Claimed(_)) if now - claim.claimed_at < CLAIM_SECS => {
                return Ok(Delivery::InProgress {
                    since: claim.claimed_at,
                    by: claim.by.clone(),
                });
            }
            // A stale claim: that attempt's instance ended without saying how it went.
            Some(ClaimState::Claimed(n)) => (Some(state.clone()), n.saturating_add(1), true),
            Some(ClaimState::Failed(_)) if scheduled && now < claim.next_try_at => {
                return Ok(Delivery::NotDue);
            }
            Some(ClaimState::Failed(n)) => (
                Some(state.clone()),
                n.saturating_add(1),
                claim.maybe_applied,
            ),
        },
    };
    let mut claim = Claim {
        attempt,
        claimed_at: now,
        by: by.to_string(),
        last_error: None,
        next_try_at: 0,
        maybe_applied: false,
    };
    let claimed = ClaimState::Claimed(attempt).as_string();
    match store
        .claim(&approval, from.as_deref(), &claimed, &claim)
        .await
    {
        Ok(()) => {}
        Err(StoreError::Conflict) => {
            return Ok(Delivery::InProgress {
                since: now,
                by: "another request".into(),
            });
        }
        Err(e) => return Err(e),
    }
    let outcome = Outcome::Decided {
        approval_id: approval.id.clone(),
        decision: decision.clone(),
    };
    match resumer.resume(&approval.target, &outcome).await {
        Ok(()) => Ok(delivered(store, approval, status, &claimed, &claim, now, false).await),
        // An earlier attempt got no answer: it reached the workflow, which therefore no longer
        // waits for this token.
        Err(ResumeError::NoLongerWaiting(code)) if earlier_unknown => {
            tracing::info!(approval_id = %approval.id, %code, "an earlier attempt had resumed the workflow");
            Ok(delivered(store, approval, status, &claimed, &claim, now, true).await)
        }
        Err(ResumeError::NoLongerWaiting(code)) => {
            approval.closed_reason = Some(format!(
                "The decision ({}) arrived after {} had stopped waiting ({code}): it timed out, \
                 was stopped, or was answered another way. Nothing was {}.",
                outcome_word(decision.outcome),
                approval.target.describe(),
                outcome_word(decision.outcome)
            ));
            if let Err(e) = store.transition(&approval, status, Status::Expired).await {
                tracing::warn!(approval_id = %approval.id, error = %e, "could not mark the approval expired");
            }
            finish(store, &approval, &claimed, ClaimState::Ended, &claim).await;
            tracing::warn!(approval_id = %approval.id, %code, "the workflow no longer waits: approval expired");
            Ok(Delivery::NoLongerWaiting { approval })
        }
        Err(e) => {
            let problem = e.to_string();
            claim.maybe_applied = matches!(e, ResumeError::Unknown(_));
            claim.last_error = Some(problem.clone());
            claim.next_try_at = now.saturating_add(backoff(attempt));
            if let Err(e) = store
                .claim(
                    &approval,
                    Some(&claimed),
                    &ClaimState::Failed(attempt).as_string(),
                    &claim,
                )
                .await
            {
                tracing::warn!(approval_id = %approval.id, error = %e, "could not record the failed attempt");
            }
            tracing::error!(approval_id = %approval.id, attempt, error = %problem, next_try = %time(claim.next_try_at), "decision recorded but the workflow was not told");
            Ok(Delivery::Failed { approval, problem })
        }
    }
}

/// Records that the workflow was told.
async fn delivered<S: StateStore>(
    store: &ApprovalStore<S>,
    mut approval: Approval,
    status: Status,
    claimed: &str,
    claim: &Claim,
    now: i64,
    already: bool,
) -> Delivery {
    approval.resumed_at = Some(now);
    if let Err(e) = store.transition(&approval, status, status).await {
        tracing::warn!(approval_id = %approval.id, error = %e, "could not record that the workflow was told");
    }
    finish(store, &approval, claimed, ClaimState::Delivered, claim).await;
    tracing::info!(approval_id = %approval.id, decision = status.as_str(), kind = approval.target.kind(), attempt = claim.attempt, already, "workflow resumed");
    Delivery::Delivered { approval, already }
}

/// Moves the claim to its final state and takes the approval off the undelivered list.
async fn finish<S: StateStore>(
    store: &ApprovalStore<S>,
    approval: &Approval,
    claimed: &str,
    to: ClaimState,
    claim: &Claim,
) {
    if let Err(e) = store
        .claim(approval, Some(claimed), &to.as_string(), claim)
        .await
    {
        tracing::warn!(approval_id = %approval.id, error = %e, "could not record the claim's end");
    }
    if let Err(e) = store.delivered(&approval.id).await {
        tracing::warn!(approval_id = %approval.id, error = %e, "could not take the approval off the undelivered list");
    }
}

/// What a scheduled run did.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunSummary {
    pub delivered: usize,
    pub failed: usize,
    pub not_due: usize,
    pub in_progress: usize,
    pub expired: usize,
    pub given_up: usize,
}

/// The scheduled run: every decided approval not yet delivered is delivered, with backoff, until
/// its approval expires; then delivery stops and the approval records why.
pub async fn deliver_undelivered<S: StateStore, R: TaskResumer>(
    store: &ApprovalStore<S>,
    resumer: &R,
    now: i64,
) -> Result<RunSummary, StoreError> {
    let mut summary = RunSummary::default();
    for id in store.undelivered_ids().await? {
        let Some(loaded) = store.load(&id).await? else {
            store.delivered(&id).await?;
            continue;
        };
        let decided = matches!(loaded.status, Status::Approved | Status::Rejected)
            && loaded.approval.resumed_at.is_none()
            && loaded.approval.closed_reason.is_none();
        if !decided {
            store.delivered(&id).await?;
            continue;
        }
        if now >= loaded.approval.expires_at {
            give_up(store, loaded, now).await?;
            summary.given_up += 1;
            continue;
        }
        match deliver(
            store,
            resumer,
            loaded.approval,
            loaded.status,
            loaded.resume,
            Attempt {
                by: SCHEDULE,
                now,
                scheduled: true,
            },
        )
        .await?
        {
            Delivery::Delivered { .. } | Delivery::AlreadyDelivered => summary.delivered += 1,
            Delivery::Failed { .. } => summary.failed += 1,
            Delivery::NotDue => summary.not_due += 1,
            Delivery::InProgress { .. } => summary.in_progress += 1,
            Delivery::NoLongerWaiting { .. } | Delivery::Ended => summary.expired += 1,
        }
    }
    Ok(summary)
}

/// Stops delivering an approval whose wait is over, recording why.
async fn give_up<S: StateStore>(
    store: &ApprovalStore<S>,
    loaded: crate::store::Loaded,
    now: i64,
) -> Result<(), StoreError> {
    let mut approval = loaded.approval;
    let last = loaded
        .resume
        .as_ref()
        .and_then(|(_, c)| c.last_error.clone())
        .unwrap_or_else(|| "no attempt finished".into());
    approval.closed_reason = Some(format!(
        "Tollgate stopped trying to tell {} at {}: the approval expired at {} before any attempt \
         got through (last error: {last}).",
        approval.target.describe(),
        time(now),
        time(approval.expires_at)
    ));
    store
        .transition(&approval, loaded.status, loaded.status)
        .await?;
    if let Some((state, claim)) = &loaded.resume {
        let _ = store
            .claim(
                &approval,
                Some(state),
                &ClaimState::Ended.as_string(),
                claim,
            )
            .await;
    }
    tracing::warn!(approval_id = %approval.id, "delivery given up: the approval expired");
    store.delivered(&approval.id).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claim_states_round_trip() {
        for s in [
            ClaimState::Claimed(1),
            ClaimState::Failed(7),
            ClaimState::Delivered,
            ClaimState::Ended,
        ] {
            assert_eq!(ClaimState::parse(&s.as_string()), Some(s));
        }
        assert_eq!(ClaimState::parse("CLAIMED#x"), None);
    }

    #[test]
    fn backoff_doubles_from_two_minutes_to_an_hour() {
        assert_eq!(backoff(1), 120);
        assert_eq!(backoff(2), 240);
        assert_eq!(backoff(3), 480);
        assert_eq!(backoff(30), MAX_BACKOFF_SECS);
    }
}
