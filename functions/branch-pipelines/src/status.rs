//! Pure decisions about a stack's life: which statuses are failures, which event names the failed resource, and the idle timeline (warn, then delete).

/// How long before an idle deletion the warning comes, and the least time between the two.
pub const WARNING_SECS: i64 = 86_400;

/// The PR label that keeps a preview however idle it is.
pub const KEEP_LABEL: &str = "preview:keep";
/// The stack tag that keeps a branch stack however idle it is.
pub const KEEP_TAG: &str = "tollgate:keep";

/// Whether a stack status means an operation failed (its resources' reasons are worth showing).
pub fn is_failure(status: &str) -> bool {
    status.ends_with("_FAILED")
        || status.contains("ROLLBACK")
        || status == "IMPORT_ROLLBACK_COMPLETE"
}

/// One CloudFormation stack event, as DescribeStackEvents lists them (newest first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackEvent {
    pub logical_id: String,
    pub resource_type: String,
    pub status: String,
    pub reason: String,
}

/// The resource whose failure started the last operation's failure: among the events newest
/// first, down to the stack's own `*_IN_PROGRESS` that began the operation, the earliest
/// `*_FAILED` resource event that is not a mere cancellation. `(logical id, reason)`.
pub fn first_failure(events: &[StackEvent]) -> Option<(String, String)> {
    let mut found = None;
    for event in events {
        let is_stack = event.resource_type == "AWS::CloudFormation::Stack";
        let cancelled = event.reason.contains("cancelled") || event.reason.contains("canceled");
        if !is_stack && event.status.ends_with("_FAILED") && !cancelled {
            found = Some((event.logical_id.clone(), event.reason.clone()));
        }
        if is_stack
            && matches!(
                event.status.as_str(),
                "CREATE_IN_PROGRESS" | "UPDATE_IN_PROGRESS" | "DELETE_IN_PROGRESS"
            )
        {
            break;
        }
    }
    found
}

/// The warning already given for an idle stack: for which last activity, and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Warned {
    /// The `lastEvent` it was given for (new activity makes it stale).
    pub last_event: i64,
    pub at: i64,
}

/// What the sweep does about a stack's idleness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdleStep {
    /// Not idle long enough for anything (or the TTL is 0).
    Active,
    /// Warn now: it will be deleted at `deletes_at` unless something happens.
    Warn { deletes_at: i64 },
    /// Warned already; it will be deleted at `deletes_at`.
    Warned { deletes_at: i64 },
    /// Idle past the TTL and warned at least [`WARNING_SECS`] ago: delete it.
    Delete,
}

/// The idle timeline: a warning once the stack has been idle for `ttl - 24 h`, deletion once it
/// has been idle for `ttl` and warned at least 24 hours before. A warning that came late (the
/// function was off, the TTL was shortened) postpones the deletion: nothing is deleted unwarned.
pub fn idle_step(now: i64, last_event: i64, ttl_secs: i64, warned: Option<Warned>) -> IdleStep {
    if ttl_secs <= 0 {
        return IdleStep::Active;
    }
    let idle = now.saturating_sub(last_event);
    if idle <= ttl_secs.saturating_sub(WARNING_SECS) {
        return IdleStep::Active;
    }
    let due = last_event.saturating_add(ttl_secs);
    match warned.filter(|w| w.last_event == last_event) {
        None => IdleStep::Warn {
            deletes_at: due.max(now.saturating_add(WARNING_SECS)),
        },
        Some(w) => {
            let deletes_at = due.max(w.at.saturating_add(WARNING_SECS));
            if now >= deletes_at && idle > ttl_secs {
                IdleStep::Delete
            } else {
                IdleStep::Warned { deletes_at }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const DAY: i64 = 86_400;

    fn event(id: &str, kind: &str, status: &str, reason: &str) -> StackEvent {
        StackEvent {
            logical_id: id.into(),
            resource_type: kind.into(),
            status: status.into(),
            reason: reason.into(),
        }
    }

    #[test]
    fn failures_are_failed_and_rollback_statuses() {
        for s in [
            "CREATE_FAILED",
            "ROLLBACK_COMPLETE",
            "ROLLBACK_IN_PROGRESS",
            "UPDATE_ROLLBACK_COMPLETE",
            "DELETE_FAILED",
            "UPDATE_FAILED",
        ] {
            assert!(is_failure(s), "{s}");
        }
        for s in [
            "CREATE_COMPLETE",
            "UPDATE_COMPLETE",
            "DELETE_COMPLETE",
            "CREATE_IN_PROGRESS",
        ] {
            assert!(!is_failure(s), "{s}");
        }
    }

    #[test]
    fn the_failed_resource_is_the_first_failure_of_the_last_operation_not_a_cancellation() {
        // Newest first, as DescribeStackEvents answers.
        let events = [
            event(
                "stack",
                "AWS::CloudFormation::Stack",
                "ROLLBACK_COMPLETE",
                "",
            ),
            event("Queue", "AWS::SQS::Queue", "DELETE_COMPLETE", ""),
            event(
                "stack",
                "AWS::CloudFormation::Stack",
                "ROLLBACK_IN_PROGRESS",
                "The following resource(s) failed to create: [Bucket].",
            ),
            event(
                "Queue",
                "AWS::SQS::Queue",
                "CREATE_FAILED",
                "Resource creation cancelled",
            ),
            event(
                "Bucket",
                "AWS::S3::Bucket",
                "CREATE_FAILED",
                "preview-bucket already exists",
            ),
            event("Queue", "AWS::SQS::Queue", "CREATE_IN_PROGRESS", ""),
            event(
                "stack",
                "AWS::CloudFormation::Stack",
                "CREATE_IN_PROGRESS",
                "User Initiated",
            ),
            event(
                "Old",
                "AWS::S3::Bucket",
                "UPDATE_FAILED",
                "an older operation",
            ),
        ];
        assert_eq!(
            first_failure(&events),
            Some(("Bucket".into(), "preview-bucket already exists".into()))
        );
        assert_eq!(first_failure(&events[..2]), None);
    }

    #[test]
    fn the_warning_comes_a_day_before_the_ttl_and_deletion_only_a_day_after_the_warning() {
        let ttl = 7 * DAY;
        assert_eq!(idle_step(10 * DAY, 5 * DAY, 0, None), IdleStep::Active);
        assert_eq!(idle_step(10 * DAY, 5 * DAY, ttl, None), IdleStep::Active);
        assert_eq!(
            idle_step(11 * DAY + 1, 5 * DAY, ttl, None),
            IdleStep::Warn {
                deletes_at: 12 * DAY + 1
            }
        );
        let warned = Some(Warned {
            last_event: 5 * DAY,
            at: 11 * DAY + 1,
        });
        assert_eq!(
            idle_step(12 * DAY, 5 * DAY, ttl, warned),
            IdleStep::Warned {
                deletes_at: 12 * DAY + 1
            }
        );
        assert_eq!(
            idle_step(12 * DAY + 1, 5 * DAY, ttl, warned),
            IdleStep::Delete
        );
        // New activity makes the old warning stale.
        assert_eq!(
            idle_step(12 * DAY + 1, 7 * DAY, ttl, warned),
            IdleStep::Active
        );
        // Idle far past the TTL but never warned: warned now, deleted a day later.
        assert_eq!(
            idle_step(90 * DAY, 5 * DAY, ttl, None),
            IdleStep::Warn {
                deletes_at: 91 * DAY
            }
        );
    }

    proptest! {
        #[test]
        fn nothing_is_deleted_unless_idle_past_the_ttl_and_warned_a_day_before(
            now in 0i64..1_000 * DAY, last in 0i64..1_000 * DAY, ttl_days in 0i64..60,
            warned_at in proptest::option::of(0i64..1_000 * DAY),
        ) {
            let ttl = ttl_days * DAY;
            let warned = warned_at.map(|at| Warned { last_event: last, at });
            if idle_step(now, last, ttl, warned) == IdleStep::Delete {
                prop_assert!(ttl > 0 && now - last > ttl);
                prop_assert!(warned_at.is_some_and(|at| now - at >= WARNING_SECS));
            }
        }
    }
}
