//! Vote counting: one rejection rejects; the approval passes when its quorum is met (distinct approvers, per group, each person counted once).

use crate::groups::is_met;
use crate::model::{Approval, Choice, Status, Vote};

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
    Record,
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

/// The distinct approvers of `votes` whose approval counts, in voting order.
pub fn approvals_that_count(approval: &Approval, votes: &[Vote]) -> Vec<String> {
    counting(approval, approvers_who_approved(votes))
}

/// Approvals that count: from the approval's approvers only. The requester is not one of them
/// unless `AllowSelfApproval` was true when the request was made.
fn counting(approval: &Approval, approved: Vec<String>) -> Vec<String> {
    approved
        .into_iter()
        .filter(|a| approval.has_approver(a))
        .collect()
}

/// The outcome the recorded votes already add up to, if any.
pub fn tally(approval: &Approval, votes: &[Vote]) -> Option<Choice> {
    if votes.iter().any(|v| v.choice == Choice::Reject) {
        return Some(Choice::Reject);
    }
    let approved = counting(approval, approvers_who_approved(votes));
    is_met(&approval.progress(&approved)).then_some(Choice::Approve)
}

/// Decides what `approver`'s `choice` does.
pub fn plan(
    status: Status,
    approval: &Approval,
    votes: &[Vote],
    approver: &str,
    choice: Choice,
) -> Plan {
    if status != Status::Pending {
        return Plan::Closed(status);
    }
    if let Some(previous) = votes.iter().find(|v| v.approver == approver) {
        return Plan::AlreadyVoted(previous.clone());
    }
    match choice {
        Choice::Reject => Plan::Decide {
            outcome: Choice::Reject,
            approved_by: Vec::new(),
        },
        Choice::Approve => {
            let mut approved_by = approvers_who_approved(votes);
            approved_by.push(approver.to_string());
            let approved_by = counting(approval, approved_by);
            if is_met(&approval.progress(&approved_by)) {
                Plan::Decide {
                    outcome: Choice::Approve,
                    approved_by,
                }
            } else {
                Plan::Record
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::groups::Quorum;
    use crate::model::Target;
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

    fn approval(required: u32) -> Approval {
        Approval {
            id: "x".into(),
            target: Target::StepFunctions {
                task_token: "t".into(),
            },
            approvers: (0..5)
                .map(|i| format!("{i}@x.io"))
                .chain(["a@x.io".into(), "b@x.io".into()])
                .collect(),
            required_approvals: required,
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
        }
    }

    #[test]
    fn one_approval_of_one_decides() {
        assert_eq!(
            plan(
                Status::Pending,
                &approval(1),
                &[],
                "a@x.io",
                Choice::Approve
            ),
            Plan::Decide {
                outcome: Choice::Approve,
                approved_by: vec!["a@x.io".into()]
            }
        );
    }

    #[test]
    fn two_of_three_needs_two_distinct_approvers() {
        assert_eq!(
            plan(
                Status::Pending,
                &approval(2),
                &[],
                "a@x.io",
                Choice::Approve
            ),
            Plan::Record
        );
        let votes = [vote("a@x.io", Choice::Approve)];
        assert_eq!(
            plan(
                Status::Pending,
                &approval(2),
                &votes,
                "b@x.io",
                Choice::Approve
            ),
            Plan::Decide {
                outcome: Choice::Approve,
                approved_by: vec!["a@x.io".into(), "b@x.io".into()]
            }
        );
    }

    #[test]
    fn a_member_of_two_groups_alone_does_not_meet_a_quorum_of_both() {
        let mut a = approval(2);
        a.quorum = Some(Quorum::Groups(vec![
            ("release".into(), 1),
            ("security".into(), 1),
        ]));
        a.membership = vec![
            ("release".into(), vec!["a@x.io".into(), "b@x.io".into()]),
            ("security".into(), vec!["b@x.io".into()]),
        ];
        assert_eq!(
            plan(Status::Pending, &a, &[], "b@x.io", Choice::Approve),
            Plan::Record
        );
        let votes = [vote("b@x.io", Choice::Approve)];
        assert!(matches!(
            plan(Status::Pending, &a, &votes, "a@x.io", Choice::Approve),
            Plan::Decide {
                outcome: Choice::Approve,
                ..
            }
        ));
        assert_eq!(tally(&a, &votes), None);
    }

    #[test]
    fn an_approval_from_outside_the_approvers_never_counts() {
        let mut a = approval(1);
        a.requested_by = Some("a@x.io".into());
        a.approvers.retain(|p| p != "a@x.io");
        assert_eq!(
            plan(Status::Pending, &a, &[], "a@x.io", Choice::Approve),
            Plan::Record
        );
    }

    #[test]
    fn the_same_approver_twice_is_not_a_second_approval() {
        let votes = [vote("a@x.io", Choice::Approve)];
        assert!(matches!(
            plan(
                Status::Pending,
                &approval(2),
                &votes,
                "a@x.io",
                Choice::Approve
            ),
            Plan::AlreadyVoted(_)
        ));
    }

    #[test]
    fn one_rejection_rejects_even_after_approvals() {
        let votes = [vote("a@x.io", Choice::Approve)];
        assert_eq!(
            plan(
                Status::Pending,
                &approval(2),
                &votes,
                "b@x.io",
                Choice::Reject
            ),
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
                plan(status, &approval(1), &[], "a@x.io", Choice::Approve),
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
            prop_assert_eq!(tally(&approval(required), &votes), expected);
        }
    }
}
