//! Vote counting: one rejection rejects; the approval passes when `requiredApprovals` distinct approvers approved.

use crate::model::{Choice, Status, Vote};

/// What to do with a new vote, given the approval's state and the votes already recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// The approval is no longer pending: nothing changes.
    Closed(Status),
    /// This approver has voted already (a double click, or a second visit): nothing changes.
    AlreadyVoted(Vote),
    /// Record the vote and decide the approval with it: a rejection, or the last approval needed.
    Decide {
        outcome: Choice,
        /// Every approver who approved, this one last (empty for a rejection).
        approved_by: Vec<String>,
    },
    /// Record the vote; the approval still waits for more.
    Record {
        /// Approvals once this one is recorded.
        approvals: usize,
        required: usize,
    },
}

/// Distinct approvers who approved, in the order of `votes`.
pub fn approvers_who_approved(votes: &[Vote]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for v in votes.iter().filter(|v| v.choice == Choice::Approve) {
        if !out.contains(&v.approver) {
            out.push(v.approver.clone());
        }
    }
    out
}

/// The outcome the recorded votes already add up to, if any.
pub fn tally(votes: &[Vote], required: u32) -> Option<Choice> {
    if votes.iter().any(|v| v.choice == Choice::Reject) {
        return Some(Choice::Reject);
    }
    let required = usize::try_from(required.max(1)).unwrap_or(usize::MAX);
    (approvers_who_approved(votes).len() >= required).then_some(Choice::Approve)
}

/// Decides what `approver`'s `choice` does.
pub fn plan(status: Status, required: u32, votes: &[Vote], approver: &str, choice: Choice) -> Plan {
    if status != Status::Pending {
        return Plan::Closed(status);
    }
    if let Some(previous) = votes.iter().find(|v| v.approver == approver) {
        return Plan::AlreadyVoted(previous.clone());
    }
    let required = usize::try_from(required.max(1)).unwrap_or(usize::MAX);
    match choice {
        Choice::Reject => Plan::Decide {
            outcome: Choice::Reject,
            approved_by: Vec::new(),
        },
        Choice::Approve => {
            let mut approved_by = approvers_who_approved(votes);
            approved_by.push(approver.to_string());
            if approved_by.len() >= required {
                Plan::Decide {
                    outcome: Choice::Approve,
                    approved_by,
                }
            } else {
                Plan::Record {
                    approvals: approved_by.len(),
                    required,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn vote(approver: &str, choice: Choice) -> Vote {
        Vote {
            approver: approver.into(),
            choice,
            comment: String::new(),
            at: 0,
            source_ip: None,
            user_agent: None,
        }
    }

    #[test]
    fn one_approval_of_one_decides() {
        assert_eq!(
            plan(Status::Pending, 1, &[], "a@x.io", Choice::Approve),
            Plan::Decide {
                outcome: Choice::Approve,
                approved_by: vec!["a@x.io".into()]
            }
        );
    }

    #[test]
    fn two_of_three_needs_two_distinct_approvers() {
        assert_eq!(
            plan(Status::Pending, 2, &[], "a@x.io", Choice::Approve),
            Plan::Record {
                approvals: 1,
                required: 2
            }
        );
        let votes = [vote("a@x.io", Choice::Approve)];
        assert_eq!(
            plan(Status::Pending, 2, &votes, "b@x.io", Choice::Approve),
            Plan::Decide {
                outcome: Choice::Approve,
                approved_by: vec!["a@x.io".into(), "b@x.io".into()]
            }
        );
    }

    #[test]
    fn the_same_approver_twice_is_not_a_second_approval() {
        let votes = [vote("a@x.io", Choice::Approve)];
        assert!(matches!(
            plan(Status::Pending, 2, &votes, "a@x.io", Choice::Approve),
            Plan::AlreadyVoted(_)
        ));
    }

    #[test]
    fn one_rejection_rejects_even_after_approvals() {
        let votes = [vote("a@x.io", Choice::Approve)];
        assert_eq!(
            plan(Status::Pending, 2, &votes, "b@x.io", Choice::Reject),
            Plan::Decide {
                outcome: Choice::Reject,
                approved_by: vec![]
            }
        );
    }

    #[test]
    fn a_closed_approval_takes_no_votes() {
        for status in [
            Status::Approved,
            Status::Rejected,
            Status::Expired,
            Status::Withdrawn,
        ] {
            assert_eq!(
                plan(status, 1, &[], "a@x.io", Choice::Approve),
                Plan::Closed(status)
            );
        }
    }

    proptest! {
        #[test]
        fn tally_matches_the_rules(choices in proptest::collection::vec((0usize..5, any::<bool>()), 0..10), required in 1u32..5) {
            let votes: Vec<Vote> = choices.iter()
                .map(|(who, approve)| vote(&format!("{who}@x.io"), if *approve { Choice::Approve } else { Choice::Reject }))
                .collect();
            let distinct: std::collections::BTreeSet<_> = choices.iter().filter(|(_, a)| *a).map(|(w, _)| *w).collect();
            let expected = if choices.iter().any(|(_, a)| !*a) {
                Some(Choice::Reject)
            } else if distinct.len() >= required as usize {
                Some(Choice::Approve)
            } else {
                None
            };
            prop_assert_eq!(tally(&votes, required), expected);
        }
    }
}
