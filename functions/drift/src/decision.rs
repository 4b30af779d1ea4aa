//! The pure decision: given each stack's drift detection result and the ignore rules, pass or fail.

use std::collections::BTreeMap;

use globset::{Glob, GlobMatcher};
use serde::{Deserialize, Serialize};
use tollgate::pipeline_job::{FAILURE_MESSAGE_MAX_BYTES, JobOutcome};
use tollgate::text::bounded_list;

use crate::model::{ResourceDrift, UncheckedResource};
use crate::params::{DriftParams, IgnoreRule, Policy};

/// How drift detection ended for one stack.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Detection {
    /// MODIFIED and DELETED resources (empty when in sync).
    pub drifted: Vec<ResourceDrift>,
    /// Resources drift detection could not check (`UNKNOWN`): the gate cannot tell whether
    /// they drifted.
    #[serde(default)]
    pub unchecked: Vec<UncheckedResource>,
    /// Set when the detection did not end `DETECTION_COMPLETE` (CloudFormation reported
    /// `DETECTION_FAILED`): its reason, naming the resources it could not check.
    pub failure: Option<String>,
}

/// A stack's result, as recorded for its job.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StackResult {
    pub stack: String,
    pub detection: Detection,
}

struct CompiledRule {
    stack: Option<GlobMatcher>,
    logical_id: GlobMatcher,
    property: Option<String>,
}

fn compile(rules: &[IgnoreRule]) -> Vec<CompiledRule> {
    let matcher = |p: &str| Glob::new(p).map(|g| g.compile_matcher()).ok();
    rules
        .iter()
        .filter_map(|r| {
            Some(CompiledRule {
                stack: match &r.stack {
                    Some(s) => Some(matcher(s)?),
                    None => None,
                },
                logical_id: matcher(&r.logical_id)?,
                property: r.property.as_ref().map(|p| {
                    let p = p.trim().trim_matches('/');
                    format!("/{p}")
                }),
            })
        })
        .collect()
}

/// `/Tags` covers `/Tags`, `/Tags/0/Value`, but not `/TagsExtra`.
fn covers(prefix: &str, path: &str) -> bool {
    path == prefix
        || path
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// The drift left once the ignore rules are applied: whole resources ignored by a rule without
/// `property`; property paths ignored by rules with one (a MODIFIED resource all of whose paths
/// are ignored is dropped). A DELETED resource is only ignored by a rule without `property`.
pub fn remaining_drift(
    stack: &str,
    drifted: &[ResourceDrift],
    rules: &[IgnoreRule],
) -> Vec<ResourceDrift> {
    let rules = compile(rules);
    let applicable = |d: &ResourceDrift| -> Vec<&CompiledRule> {
        rules
            .iter()
            .filter(|r| r.stack.as_ref().is_none_or(|s| s.is_match(stack)))
            .filter(|r| r.logical_id.is_match(&d.logical_id))
            .collect()
    };
    drifted
        .iter()
        .filter_map(|d| {
            let rules = applicable(d);
            if rules.iter().any(|r| r.property.is_none()) {
                return None;
            }
            if d.status == "DELETED" {
                return Some(d.clone());
            }
            let paths: Vec<String> = d
                .property_paths
                .iter()
                .filter(|path| {
                    !rules
                        .iter()
                        .any(|r| r.property.as_deref().is_some_and(|p| covers(p, path)))
                })
                .cloned()
                .collect();
            if paths.is_empty() && !d.property_paths.is_empty() {
                return None;
            }
            Some(ResourceDrift {
                property_paths: paths,
                ..d.clone()
            })
        })
        .collect()
}

/// The unchecked resources left once the ignore rules are applied: only a rule without
/// `property` (accepting any drift of the resource) also accepts not knowing its drift.
pub fn remaining_unchecked(
    stack: &str,
    unchecked: &[UncheckedResource],
    rules: &[IgnoreRule],
) -> Vec<UncheckedResource> {
    let rules = compile(rules);
    unchecked
        .iter()
        .filter(|u| {
            !rules.iter().any(|r| {
                r.property.is_none()
                    && r.stack.as_ref().is_none_or(|s| s.is_match(stack))
                    && r.logical_id.is_match(&u.logical_id)
            })
        })
        .cloned()
        .collect()
}

/// Longest value of the `UncheckedResources` output variable.
pub const UNCHECKED_VARIABLE_MAX_BYTES: usize = 1000;

/// `stack:LogicalId` items joined by commas, whole items only, ending `… and N more` when
/// they do not all fit in `max_bytes`.
fn bounded_items(items: &[String], max_bytes: usize) -> String {
    let mut out = String::new();
    for (i, item) in items.iter().enumerate() {
        let sep = if out.is_empty() { "" } else { "," };
        let rest = items.len() - i - 1;
        let tail = if rest > 0 {
            format!(",… and {rest} more")
        } else {
            String::new()
        };
        if out.len() + sep.len() + item.len() + tail.len() > max_bytes {
            let more = format!("{sep}… and {} more", items.len() - i);
            if out.len() + more.len() <= max_bytes {
                out.push_str(&more);
            }
            return out;
        }
        out.push_str(sep);
        out.push_str(item);
    }
    out
}

const DRIFT_HEADING: &str = "Bring them back in line with their templates (or update the templates), or accept the \
    drift with an `ignore` rule, then retry this stage.";

const CANNOT_TELL_HEADING: &str = "Drift detection could not check everything, so the gate cannot tell whether \
    these stacks drifted (whenDetectionFailed=fail). Fix the cause (most often the role that ran drift detection \
    lacks read permission for those resource types) and retry this stage, or set \"whenDetectionFailed\": \"pass\" \
    to accept unchecked resources.";

/// Decides a job once every stack has a result. `missing` are stacks skipped because they do
/// not exist (under `whenStackMissing: pass`).
///
/// Only a detection that ended `DETECTION_COMPLETE` with every resource checked can pass on its
/// own: a failed detection or an `UNKNOWN` resource means the gate cannot tell, so it fails
/// unless `whenDetectionFailed` is `pass`.
pub fn decide(params: &DriftParams, results: &[StackResult], missing: &[String]) -> JobOutcome {
    let mut drift_lines = Vec::new();
    let mut failed_lines = Vec::new();
    let mut unchecked_lines = Vec::new();
    let mut unchecked_items = Vec::new();
    let mut failed_stacks = 0usize;
    for result in results {
        let detection = &result.detection;
        for d in remaining_drift(&result.stack, &detection.drifted, &params.ignore) {
            let what = if d.property_paths.is_empty() {
                String::new()
            } else {
                format!(": {}", d.property_paths.join(", "))
            };
            drift_lines.push(format!(
                "- {}: {} ({}) {}{what}",
                result.stack, d.logical_id, d.resource_type, d.status
            ));
        }
        if let Some(reason) = &detection.failure {
            failed_stacks += 1;
            failed_lines.push(format!(
                "- {}: drift detection failed: {reason}",
                result.stack
            ));
        }
        for u in remaining_unchecked(&result.stack, &detection.unchecked, &params.ignore) {
            unchecked_lines.push(format!(
                "- {}: {} ({}) not checked (drift status UNKNOWN)",
                result.stack, u.logical_id, u.resource_type
            ));
            unchecked_items.push(format!("{}:{}", result.stack, u.logical_id));
        }
    }
    let cannot_tell = !failed_lines.is_empty() || !unchecked_lines.is_empty();
    let fail_unchecked = cannot_tell && params.when_detection_failed == Policy::Fail;
    if !drift_lines.is_empty() || fail_unchecked {
        let mut heading = Vec::new();
        if !drift_lines.is_empty() {
            heading.push(format!(
                "Deployment stopped: {} resource(s) changed outside CloudFormation. {DRIFT_HEADING}",
                drift_lines.len()
            ));
        }
        if fail_unchecked {
            heading.push(CANNOT_TELL_HEADING.to_string());
        }
        let mut lines = drift_lines;
        if fail_unchecked {
            lines.extend(failed_lines);
            lines.extend(unchecked_lines);
        }
        return JobOutcome::failed(bounded_list(
            &heading.join(" "),
            &lines,
            FAILURE_MESSAGE_MAX_BYTES,
        ));
    }
    // In the order the action lists them (results arrive in detection order).
    let checked: Vec<&str> = params
        .stacks
        .iter()
        .filter(|s| results.iter().any(|r| &r.stack == *s))
        .map(String::as_str)
        .collect();
    let mut summary = if checked.is_empty() {
        "No stack to check yet".to_string()
    } else if cannot_tell {
        format!("No drift found in: {}", checked.join(", "))
    } else {
        format!("In sync: {}", checked.join(", "))
    };
    if !missing.is_empty() {
        summary.push_str(&format!(
            "; not deployed yet (skipped, whenStackMissing=pass): {}",
            missing.join(", ")
        ));
    }
    if failed_stacks > 0 {
        summary.push_str(&format!(
            "; drift detection failed for {failed_stacks} stack(s) (whenDetectionFailed=pass)"
        ));
    }
    if !unchecked_items.is_empty() {
        summary.push_str(&format!(
            "; {} resource(s) not checked (whenDetectionFailed=pass): {}",
            unchecked_items.len(),
            unchecked_items.join(", ")
        ));
    }
    let status = if checked.is_empty() {
        "NOT_CHECKED"
    } else if cannot_tell {
        "UNKNOWN"
    } else {
        "IN_SYNC"
    };
    let none = |s: String| {
        if s.is_empty() {
            "(none)".to_string()
        } else {
            s
        }
    };
    JobOutcome::Success {
        summary,
        output_variables: BTreeMap::from([
            ("DriftStatus".to_string(), status.to_string()),
            ("StacksChecked".to_string(), none(checked.join(","))),
            (
                "ResourcesNotChecked".to_string(),
                unchecked_items.len().to_string(),
            ),
            (
                "UncheckedResources".to_string(),
                none(bounded_items(
                    &unchecked_items,
                    UNCHECKED_VARIABLE_MAX_BYTES,
                )),
            ),
        ]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::{Context, parse};
    use proptest::prelude::*;

    fn params(json: &str) -> DriftParams {
        parse(Some(json), &Context::default()).unwrap()
    }

    fn modified(id: &str, paths: &[&str]) -> ResourceDrift {
        ResourceDrift {
            logical_id: id.into(),
            resource_type: "AWS::S3::Bucket".into(),
            status: "MODIFIED".into(),
            property_paths: paths.iter().map(|p| p.to_string()).collect(),
        }
    }

    fn complete(stack: &str, drifted: Vec<ResourceDrift>) -> StackResult {
        StackResult {
            stack: stack.into(),
            detection: Detection {
                drifted,
                ..Detection::default()
            },
        }
    }

    fn failure(outcome: &JobOutcome) -> &str {
        match outcome {
            JobOutcome::Failure { message, .. } => message,
            other => panic!("expected failure, got {other:?}"),
        }
    }

    #[test]
    fn in_sync_stacks_succeed_with_output_variables() {
        let out = decide(
            &params(r#"{"stacks":["app","net"]}"#),
            &[complete("app", vec![]), complete("net", vec![])],
            &[],
        );
        match out {
            JobOutcome::Success {
                output_variables, ..
            } => {
                assert_eq!(output_variables["DriftStatus"], "IN_SYNC");
                assert_eq!(output_variables["StacksChecked"], "app,net");
                assert_eq!(output_variables["ResourcesNotChecked"], "0");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn drift_fails_naming_stack_resource_type_and_paths() {
        let out = decide(
            &params(r#"{"stacks":["app","net"]}"#),
            &[
                complete("app", vec![]),
                complete(
                    "net",
                    vec![modified("WebSg", &["/SecurityGroupIngress/0/CidrIp"])],
                ),
            ],
            &[],
        );
        let msg = failure(&out);
        assert!(
            msg.contains("- net: WebSg (AWS::S3::Bucket) MODIFIED: /SecurityGroupIngress/0/CidrIp"),
            "{msg}"
        );
        assert!(!msg.contains("- app"), "{msg}");
    }

    #[test]
    fn drift_only_in_ignored_property_paths_passes() {
        let p =
            params(r#"{"stacks":["app"],"ignore":[{"logicalId":"AppBucket","property":"Tags"}]}"#);
        let out = decide(
            &p,
            &[complete(
                "app",
                vec![modified("AppBucket", &["/Tags/0/Value", "/Tags"])],
            )],
            &[],
        );
        assert!(matches!(out, JobOutcome::Success { .. }), "{out:?}");
    }

    #[test]
    fn ignoring_some_paths_still_reports_the_others() {
        let p =
            params(r#"{"stacks":["app"],"ignore":[{"logicalId":"AppBucket","property":"/Tags"}]}"#);
        let out = decide(
            &p,
            &[complete(
                "app",
                vec![modified(
                    "AppBucket",
                    &[
                        "/Tags/0/Value",
                        "/TagsExtra",
                        "/VersioningConfiguration/Status",
                    ],
                )],
            )],
            &[],
        );
        let msg = failure(&out);
        assert!(
            msg.contains("MODIFIED: /TagsExtra, /VersioningConfiguration/Status"),
            "{msg}"
        );
    }

    #[test]
    fn whole_resource_and_stack_scoped_glob_rules() {
        let p = params(
            r#"{"stacks":["app-eu","app-us"],"ignore":[{"logicalId":"Log*","stack":"app-eu"}]}"#,
        );
        let deleted = ResourceDrift {
            status: "DELETED".into(),
            property_paths: vec![],
            ..modified("LogGroup", &[])
        };
        let out = decide(
            &p,
            &[
                complete("app-eu", vec![deleted.clone()]),
                complete("app-us", vec![deleted]),
            ],
            &[],
        );
        let msg = failure(&out);
        assert!(
            msg.contains("- app-us: LogGroup") && !msg.contains("- app-eu"),
            "{msg}"
        );
    }

    #[test]
    fn deleted_resource_is_not_hidden_by_a_property_rule() {
        let p = params(r#"{"stacks":["app"],"ignore":[{"logicalId":"Queue","property":"Tags"}]}"#);
        let deleted = ResourceDrift {
            status: "DELETED".into(),
            property_paths: vec![],
            ..modified("Queue", &[])
        };
        assert!(failure(&decide(&p, &[complete("app", vec![deleted])], &[])).contains("Queue"));
    }

    fn unchecked(id: &str) -> UncheckedResource {
        UncheckedResource {
            logical_id: id.into(),
            resource_type: "AWS::Lambda::Function".into(),
        }
    }

    fn success(outcome: JobOutcome) -> (String, BTreeMap<String, String>) {
        match outcome {
            JobOutcome::Success {
                summary,
                output_variables,
            } => (summary, output_variables),
            other => panic!("expected success, got {other:?}"),
        }
    }

    #[test]
    fn detection_failed_follows_the_policy() {
        let failed = StackResult {
            stack: "app".into(),
            detection: Detection {
                failure: Some(
                    "Failed to detect drift on resources [Fn (AWS::Lambda::Function)]".into(),
                ),
                ..Detection::default()
            },
        };
        let out = decide(
            &params(r#"{"stacks":["app"]}"#),
            std::slice::from_ref(&failed),
            &[],
        );
        let msg = failure(&out);
        assert!(
            msg.contains("- app: drift detection failed: Failed to detect drift on resources [Fn (AWS::Lambda::Function)]")
                && msg.contains("whenDetectionFailed"),
            "{msg}"
        );
        let (summary, vars) = success(decide(
            &params(r#"{"stacks":["app"],"whenDetectionFailed":"pass"}"#),
            &[failed],
            &[],
        ));
        assert_eq!(vars["DriftStatus"], "UNKNOWN");
        assert!(summary.contains("whenDetectionFailed=pass"), "{summary}");
        assert!(!summary.starts_with("In sync"), "{summary}");
    }

    #[test]
    fn a_failed_detection_without_any_drift_still_fails_by_default() {
        // CloudFormation can report the stack IN_SYNC for the resources it did check.
        let failed = StackResult {
            stack: "app".into(),
            detection: Detection {
                failure: Some("Rate exceeded".into()),
                ..Detection::default()
            },
        };
        assert!(matches!(
            decide(&params(r#"{"stacks":["app"]}"#), &[failed], &[]),
            JobOutcome::Failure { .. }
        ));
    }

    #[test]
    fn unknown_resources_fail_by_default_naming_each_one() {
        let result = StackResult {
            stack: "app".into(),
            detection: Detection {
                unchecked: vec![unchecked("Handler"), unchecked("Worker")],
                ..Detection::default()
            },
        };
        let msg = decide(
            &params(r#"{"stacks":["app"]}"#),
            std::slice::from_ref(&result),
            &[],
        );
        let msg = failure(&msg);
        assert!(
            msg.contains("cannot tell")
                && msg.contains(
                    "- app: Handler (AWS::Lambda::Function) not checked (drift status UNKNOWN)"
                )
                && msg.contains("- app: Worker"),
            "{msg}"
        );
    }

    #[test]
    fn unknown_resources_pass_as_unknown_named_in_summary_and_output_variable_when_chosen() {
        let result = StackResult {
            stack: "app".into(),
            detection: Detection {
                unchecked: vec![unchecked("Handler"), unchecked("Worker")],
                ..Detection::default()
            },
        };
        let (summary, vars) = success(decide(
            &params(r#"{"stacks":["app"],"whenDetectionFailed":"pass"}"#),
            &[result],
            &[],
        ));
        assert_eq!(vars["DriftStatus"], "UNKNOWN");
        assert_eq!(vars["ResourcesNotChecked"], "2");
        assert_eq!(vars["UncheckedResources"], "app:Handler,app:Worker");
        assert!(
            summary.contains(
                "2 resource(s) not checked (whenDetectionFailed=pass): app:Handler, app:Worker"
            ),
            "{summary}"
        );
    }

    #[test]
    fn a_rule_accepting_any_drift_of_a_resource_also_accepts_it_unchecked() {
        let result = StackResult {
            stack: "app".into(),
            detection: Detection {
                unchecked: vec![unchecked("Handler")],
                ..Detection::default()
            },
        };
        let p = params(r#"{"stacks":["app"],"ignore":[{"logicalId":"Handler"}]}"#);
        let (_, vars) = success(decide(&p, std::slice::from_ref(&result), &[]));
        assert_eq!(vars["DriftStatus"], "IN_SYNC");
        assert_eq!(vars["UncheckedResources"], "(none)");
        let p =
            params(r#"{"stacks":["app"],"ignore":[{"logicalId":"Handler","property":"Tags"}]}"#);
        assert!(matches!(
            decide(&p, &[result], &[]),
            JobOutcome::Failure { .. }
        ));
    }

    #[test]
    fn the_unchecked_resources_variable_keeps_whole_names_within_its_limit() {
        let items: Vec<String> = (0..200).map(|i| format!("app:Function{i}")).collect();
        let value = bounded_items(&items, UNCHECKED_VARIABLE_MAX_BYTES);
        assert!(value.len() <= UNCHECKED_VARIABLE_MAX_BYTES, "{value}");
        assert!(value.starts_with("app:Function0,app:Function1,"));
        assert!(value.ends_with(" more"), "{value}");
    }

    #[test]
    fn missing_stacks_are_named_in_the_summary() {
        match decide(
            &params(r#"{"stacks":["app","new"]}"#),
            &[complete("app", vec![])],
            &["new".into()],
        ) {
            JobOutcome::Success { summary, .. } => {
                assert!(summary.contains("whenStackMissing=pass): new"), "{summary}")
            }
            other => panic!("{other:?}"),
        }
        match decide(&params(r#"{"stacks":["new"]}"#), &[], &["new".into()]) {
            JobOutcome::Success {
                output_variables, ..
            } => assert_eq!(output_variables["DriftStatus"], "NOT_CHECKED"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn hundreds_of_drifted_resources_fit_the_message_limit() {
        let drifted: Vec<_> = (0..400)
            .map(|i| modified(&format!("Bucket{i}"), &["/Tags/0/Value"]))
            .collect();
        let msg = decide(
            &params(r#"{"stacks":["app"]}"#),
            &[complete("app", drifted)],
            &[],
        )
        .clone();
        let msg = failure(&msg);
        assert!(msg.len() <= FAILURE_MESSAGE_MAX_BYTES);
        assert!(
            msg.contains("400 resource(s)") && msg.contains("more"),
            "{msg}"
        );
    }

    proptest! {
        #[test]
        fn ignore_rules_only_ever_remove_drift(paths in proptest::collection::vec("/[A-Za-z]{1,6}(/[0-9])?", 1..6), prop in "[A-Za-z]{1,6}") {
            let rules = vec![IgnoreRule { stack: None, logical_id: "R".into(), property: Some(prop.clone()) }];
            let d = ResourceDrift { logical_id: "R".into(), resource_type: "T".into(), status: "MODIFIED".into(), property_paths: paths.clone() };
            let left = remaining_drift("s", std::slice::from_ref(&d), &rules);
            for r in &left {
                for p in &r.property_paths {
                    prop_assert!(paths.contains(p));
                    let prefix = format!("/{prop}");
                    prop_assert!(!covers(&prefix, p));
                }
            }
            let survivors: Vec<_> = paths.iter().filter(|p| !covers(&format!("/{prop}"), p)).collect();
            prop_assert_eq!(left.is_empty(), survivors.is_empty());
        }
    }
}
