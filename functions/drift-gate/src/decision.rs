//! The pure decision: given each stack's drift detection result and the ignore rules, pass or fail.

use std::collections::BTreeMap;

use globset::{Glob, GlobMatcher};
use serde::{Deserialize, Serialize};
use tollgate::pipeline_job::{FAILURE_MESSAGE_MAX_CHARS, JobOutcome};
use tollgate::text::bounded_list;

use crate::params::{DriftParams, IgnoreRule, Policy};

/// One resource whose actual configuration differs from its template.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceDrift {
    pub logical_id: String,
    pub resource_type: String,
    /// `MODIFIED` or `DELETED`.
    pub status: String,
    /// Property paths that differ (`/Tags/0/Value`); empty for a deleted resource.
    pub property_paths: Vec<String>,
}

/// How drift detection ended for one stack.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Detection {
    /// MODIFIED and DELETED resources (empty when in sync).
    pub drifted: Vec<ResourceDrift>,
    /// Resources drift detection did not check (unsupported types).
    pub not_checked: u32,
    /// Set when CloudFormation reported `DETECTION_FAILED`: its reason, naming the resources it
    /// could not check.
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
                    let p = p.trim_start_matches('/');
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

/// Decides a job once every stack has a result. `missing` are stacks skipped because they do
/// not exist (under `whenStackMissing: pass`).
pub fn decide(params: &DriftParams, results: &[StackResult], missing: &[String]) -> JobOutcome {
    let mut drift_lines = Vec::new();
    let mut failed_lines = Vec::new();
    let mut not_checked = 0u32;
    for result in results {
        let detection = &result.detection;
        not_checked += detection.not_checked;
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
            failed_lines.push(format!("- {}: {reason}", result.stack));
        }
    }
    let detection_failed = !failed_lines.is_empty() && params.when_detection_failed == Policy::Fail;
    if !drift_lines.is_empty() || detection_failed {
        let mut heading = String::new();
        if !drift_lines.is_empty() {
            heading.push_str(&format!(
                "Deployment stopped: {} resource(s) changed outside CloudFormation. Bring them back in line \
                 with their templates (or update the templates), or accept the drift with an `ignore` rule, \
                 then retry this stage.",
                drift_lines.len()
            ));
        }
        if detection_failed {
            if !heading.is_empty() {
                heading.push(' ');
            }
            heading.push_str(
                "Drift detection failed for some stacks (whenDetectionFailed=fail); the resources named \
                 could not be checked. Fix the cause or set \"whenDetectionFailed\": \"pass\".",
            );
        }
        let mut lines = drift_lines;
        if detection_failed {
            lines.extend(failed_lines);
        }
        return JobOutcome::failed(bounded_list(&heading, &lines, FAILURE_MESSAGE_MAX_CHARS));
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
    } else {
        format!("In sync: {}", checked.join(", "))
    };
    if !missing.is_empty() {
        summary.push_str(&format!(
            "; not deployed yet (skipped): {}",
            missing.join(", ")
        ));
    }
    if !failed_lines.is_empty() {
        summary.push_str(&format!(
            "; drift detection failed for {} stack(s) (whenDetectionFailed=pass)",
            failed_lines.len()
        ));
    }
    if not_checked > 0 {
        summary.push_str(&format!(
            "; {not_checked} resource(s) not checked (drift detection does not support them)"
        ));
    }
    let status = if checked.is_empty() {
        "NOT_CHECKED"
    } else if failed_lines.is_empty() {
        "IN_SYNC"
    } else {
        "UNKNOWN"
    };
    JobOutcome::Success {
        summary,
        output_variables: BTreeMap::from([
            ("DriftStatus".to_string(), status.to_string()),
            (
                "StacksChecked".to_string(),
                if checked.is_empty() {
                    "(none)".to_string()
                } else {
                    checked.join(",")
                },
            ),
            ("ResourcesNotChecked".to_string(), not_checked.to_string()),
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

    #[test]
    fn detection_failed_follows_the_policy() {
        let failed = StackResult {
            stack: "app".into(),
            detection: Detection {
                failure: Some(
                    "Failed to detect drift on resources [Fn (AWS::Lambda::Function)]".into(),
                ),
                not_checked: 1,
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
            msg.contains("Fn (AWS::Lambda::Function)") && msg.contains("whenDetectionFailed"),
            "{msg}"
        );
        match decide(
            &params(r#"{"stacks":["app"],"whenDetectionFailed":"pass"}"#),
            &[failed],
            &[],
        ) {
            JobOutcome::Success {
                output_variables,
                summary,
            } => {
                assert_eq!(output_variables["DriftStatus"], "UNKNOWN");
                assert_eq!(output_variables["ResourcesNotChecked"], "1");
                assert!(summary.contains("whenDetectionFailed=pass"), "{summary}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn missing_stacks_are_named_in_the_summary() {
        match decide(
            &params(r#"{"stacks":["app","new"]}"#),
            &[complete("app", vec![])],
            &["new".into()],
        ) {
            JobOutcome::Success { summary, .. } => {
                assert!(summary.contains("skipped): new"), "{summary}")
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
        assert!(msg.chars().count() <= FAILURE_MESSAGE_MAX_CHARS);
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
