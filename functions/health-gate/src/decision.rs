//! The pure decision: given open AWS Health events and alarm states, may the deployment go on?

use std::collections::BTreeMap;

use tollgate::pipeline_job::{FAILURE_MESSAGE_MAX_BYTES, JobOutcome};
use tollgate::text::bounded_list;

use crate::params::{GateParams, WhenUnavailable};

/// One open (or upcoming) AWS Health issue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenEvent {
    pub arn: String,
    pub service: String,
    /// A region name, or `global`.
    pub region: String,
    pub event_type_code: String,
    /// RFC 3339 start time, when AWS gave one.
    pub start_time: Option<String>,
    pub status: String,
}

/// A CloudWatch alarm in the ALARM state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FiringAlarm {
    pub name: String,
    pub reason: String,
}

/// What AWS Health said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HealthReading {
    Events(Vec<OpenEvent>),
    /// The account cannot call the Health API (no Business/Enterprise support plan).
    Unavailable {
        reason: String,
    },
}

/// What CloudWatch said about the watched alarms.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlarmReading {
    pub firing: Vec<FiringAlarm>,
    /// Alarm names given in `alarms` that do not exist.
    pub missing: Vec<String>,
    /// Entries of `alarmPrefixes` that match no alarm at all.
    pub unmatched_prefixes: Vec<String>,
}

/// The events that concern this deployment: in a watched region (or global), for a watched service.
pub fn relevant_events<'a>(events: &'a [OpenEvent], params: &GateParams) -> Vec<&'a OpenEvent> {
    events
        .iter()
        .filter(|e| e.region == "global" || params.regions.iter().any(|r| r == &e.region))
        .filter(|e| match &params.services {
            None => true,
            Some(services) => services.iter().any(|s| s.eq_ignore_ascii_case(&e.service)),
        })
        .collect()
}

/// Decides the job's result.
pub fn decide(params: &GateParams, health: &HealthReading, alarms: &AlarmReading) -> JobOutcome {
    if !alarms.missing.is_empty() || !alarms.unmatched_prefixes.is_empty() {
        let mut problems = Vec::new();
        if !alarms.missing.is_empty() {
            problems.push(format!(
                "CloudWatch alarm(s) not found: {}. Check `alarms`",
                alarms.missing.join(", ")
            ));
        }
        if !alarms.unmatched_prefixes.is_empty() {
            problems.push(format!(
                "no CloudWatch alarm name starts with {}. Check `alarmPrefixes`",
                alarms
                    .unmatched_prefixes
                    .iter()
                    .map(|p| format!("{p:?}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        return JobOutcome::misconfigured(format!(
            "{} in the action's UserParameters (names are case-sensitive and are read in the \
             function's region). The gate fails rather than watch alarms that are not there.",
            problems.join("; and ")
        ));
    }
    let regions = params.regions.join(",");
    let (blocking, unavailable) = match health {
        HealthReading::Events(events) => (relevant_events(events, params), None),
        HealthReading::Unavailable { reason } => (Vec::new(), Some(reason.as_str())),
    };
    if let (Some(reason), WhenUnavailable::Fail) = (unavailable, params.when_health_unavailable) {
        return JobOutcome::failed(format!(
            "AWS Health cannot be checked ({reason}): the AWS Health API needs a Business, \
             Enterprise On-Ramp or Enterprise support plan. Set \"whenHealthUnavailable\": \"pass\" \
             in UserParameters to deploy without the Health check (alarms are still checked)."
        ));
    }
    if blocking.is_empty() && alarms.firing.is_empty() {
        let (status, summary) = match unavailable {
            Some(reason) => (
                "UNKNOWN",
                format!(
                    "AWS Health not checked ({reason}; whenHealthUnavailable=pass); {}",
                    if params.alarms.is_empty() && params.alarm_prefixes.is_empty() {
                        "no alarms watched".to_string()
                    } else {
                        "no watched alarm in ALARM".to_string()
                    }
                ),
            ),
            None => (
                "HEALTHY",
                format!(
                    "No open AWS Health issues in {regions} or global{}; no watched alarm in ALARM",
                    match &params.services {
                        Some(s) => format!(" for {}", s.join(",")),
                        None => String::new(),
                    }
                ),
            ),
        };
        return JobOutcome::Success {
            summary,
            output_variables: BTreeMap::from([
                ("HealthStatus".to_string(), status.to_string()),
                ("RegionsChecked".to_string(), regions),
            ]),
        };
    }
    let mut lines: Vec<String> = blocking
        .iter()
        .map(|e| {
            format!(
                "- AWS Health: {} in {}: {} ({}{}) {}",
                e.service,
                e.region,
                e.event_type_code,
                e.status,
                e.start_time
                    .as_deref()
                    .map(|t| format!(", since {t}"))
                    .unwrap_or_default(),
                e.arn
            )
        })
        .collect();
    lines.extend(
        alarms
            .firing
            .iter()
            .map(|a| format!("- CloudWatch alarm {} is in ALARM: {}", a.name, a.reason)),
    );
    let mut counts = Vec::new();
    if !blocking.is_empty() {
        counts.push(plural(
            blocking.len(),
            "open AWS Health issue",
            "open AWS Health issues",
        ));
    }
    if !alarms.firing.is_empty() {
        counts.push(plural(
            alarms.firing.len(),
            "alarm in ALARM",
            "alarms in ALARM",
        ));
    }
    let heading = format!(
        "Deployment stopped: {} {} {regions}. Retry this stage once {} resolved.",
        counts.join(" and "),
        if blocking.len() + alarms.firing.len() == 1 {
            "affects"
        } else {
            "affect"
        },
        if blocking.len() + alarms.firing.len() == 1 {
            "it is"
        } else {
            "they are"
        },
    );
    JobOutcome::failed(bounded_list(&heading, &lines, FAILURE_MESSAGE_MAX_BYTES))
}

/// "1 thing" or "3 things".
fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::parse;

    fn event(service: &str, region: &str) -> OpenEvent {
        OpenEvent {
            arn: format!(
                "arn:aws:health:{region}::event/{service}/AWS_{service}_OPERATIONAL_ISSUE/abc"
            ),
            service: service.into(),
            region: region.into(),
            event_type_code: format!("AWS_{service}_OPERATIONAL_ISSUE"),
            start_time: Some("2026-11-22T04:00:00Z".into()),
            status: "open".into(),
        }
    }

    fn params(json: &str) -> GateParams {
        parse(Some(json), "eu-west-1").unwrap()
    }

    fn message(outcome: &JobOutcome) -> &str {
        match outcome {
            JobOutcome::Failure { message, .. } => message,
            other => panic!("expected failure, got {other:?}"),
        }
    }

    #[test]
    fn no_events_and_no_alarms_is_healthy_with_output_variables() {
        let p = params(r#"{"regions":["eu-west-1","us-east-1"]}"#);
        let out = decide(&p, &HealthReading::Events(vec![]), &AlarmReading::default());
        match out {
            JobOutcome::Success {
                output_variables, ..
            } => {
                assert_eq!(output_variables["HealthStatus"], "HEALTHY");
                assert_eq!(output_variables["RegionsChecked"], "eu-west-1,us-east-1");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn open_issue_in_watched_region_fails_naming_service_region_type_time_and_arn() {
        let p = params(r#"{"regions":["eu-west-1"]}"#);
        let e = event("LAMBDA", "eu-west-1");
        let out = decide(
            &p,
            &HealthReading::Events(vec![e.clone()]),
            &AlarmReading::default(),
        );
        let msg = message(&out);
        for part in [
            "LAMBDA",
            "eu-west-1",
            &e.event_type_code,
            "2026-11-22T04:00:00Z",
            &e.arn,
        ] {
            assert!(msg.contains(part), "{part} missing from {msg}");
        }
    }

    #[test]
    fn issue_only_in_unwatched_region_or_service_passes() {
        let p = params(r#"{"regions":["eu-west-1"],"services":["LAMBDA"]}"#);
        let events = vec![event("LAMBDA", "us-west-2"), event("EC2", "eu-west-1")];
        let out = decide(&p, &HealthReading::Events(events), &AlarmReading::default());
        assert!(matches!(out, JobOutcome::Success { .. }), "{out:?}");
    }

    #[test]
    fn global_issue_blocks_every_region() {
        let p = params(r#"{"regions":["eu-west-1"]}"#);
        let out = decide(
            &p,
            &HealthReading::Events(vec![event("IAM", "global")]),
            &AlarmReading::default(),
        );
        assert!(message(&out).contains("IAM in global"));
    }

    #[test]
    fn alarm_in_alarm_fails_with_name_and_reason() {
        let p = params(r#"{"alarms":["api-5xx"]}"#);
        let alarms = AlarmReading {
            firing: vec![FiringAlarm {
                name: "api-5xx".into(),
                reason:
                    "Threshold Crossed: 1 datapoint [12.0] was greater than the threshold (5.0)"
                        .into(),
            }],
            ..AlarmReading::default()
        };
        let msg = decide(&p, &HealthReading::Events(vec![]), &alarms);
        assert!(message(&msg).contains("api-5xx is in ALARM: Threshold Crossed"));
    }

    #[test]
    fn missing_alarm_is_a_configuration_error() {
        let p = params(r#"{"alarms":["api-5xx"]}"#);
        let alarms = AlarmReading {
            firing: vec![],
            missing: vec!["api-5xx".into()],
            ..AlarmReading::default()
        };
        match decide(&p, &HealthReading::Events(vec![]), &alarms) {
            JobOutcome::Failure { kind, message } => {
                assert_eq!(
                    kind,
                    tollgate::pipeline_job::FailureKind::ConfigurationError
                );
                assert!(message.contains("api-5xx"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_alarm_prefix_matching_no_alarm_is_a_configuration_error_naming_it() {
        let p = params(r#"{"alarmPrefixes":["prod-api-"]}"#);
        let alarms = AlarmReading {
            unmatched_prefixes: vec!["prod-api-".into()],
            ..AlarmReading::default()
        };
        match decide(&p, &HealthReading::Events(vec![]), &alarms) {
            JobOutcome::Failure { kind, message } => {
                assert_eq!(
                    kind,
                    tollgate::pipeline_job::FailureKind::ConfigurationError
                );
                assert!(
                    message.contains("no CloudWatch alarm name starts with \"prod-api-\"")
                        && message.contains("alarmPrefixes"),
                    "{message}"
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_failure_heading_counts_only_what_was_found() {
        let p = params(r#"{"regions":["eu-west-1"]}"#);
        let out = decide(
            &p,
            &HealthReading::Events(vec![event("LAMBDA", "eu-west-1")]),
            &AlarmReading::default(),
        );
        let msg = message(&out);
        assert!(
            msg.starts_with("Deployment stopped: 1 open AWS Health issue affects eu-west-1."),
            "{msg}"
        );
        assert!(!msg.contains("0 alarm"), "{msg}");
        let alarms = AlarmReading {
            firing: vec![
                FiringAlarm {
                    name: "a".into(),
                    reason: "r".into(),
                },
                FiringAlarm {
                    name: "b".into(),
                    reason: "r".into(),
                },
            ],
            ..AlarmReading::default()
        };
        let msg = decide(&p, &HealthReading::Events(vec![]), &alarms);
        assert!(
            message(&msg).starts_with("Deployment stopped: 2 alarms in ALARM affect eu-west-1."),
            "{}",
            message(&msg)
        );
    }

    #[test]
    fn the_support_plan_is_explained_once() {
        let unavailable = HealthReading::Unavailable {
            reason: "SubscriptionRequiredException".into(),
        };
        let out = decide(&params("{}"), &unavailable, &AlarmReading::default());
        assert_eq!(
            message(&out).matches("support plan").count(),
            1,
            "{}",
            message(&out)
        );
    }

    #[test]
    fn health_unavailable_follows_the_policy() {
        let unavailable = HealthReading::Unavailable {
            reason: "SubscriptionRequiredException".into(),
        };
        let fail = decide(&params("{}"), &unavailable, &AlarmReading::default());
        assert!(message(&fail).contains("whenHealthUnavailable"));
        let pass = decide(
            &params(r#"{"whenHealthUnavailable":"pass"}"#),
            &unavailable,
            &AlarmReading::default(),
        );
        match pass {
            JobOutcome::Success {
                output_variables,
                summary,
            } => {
                assert_eq!(output_variables["HealthStatus"], "UNKNOWN");
                assert!(summary.contains("SubscriptionRequiredException"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn health_unavailable_with_pass_still_fails_on_firing_alarm() {
        let unavailable = HealthReading::Unavailable {
            reason: "no plan".into(),
        };
        let alarms = AlarmReading {
            firing: vec![FiringAlarm {
                name: "db".into(),
                reason: "high".into(),
            }],
            ..AlarmReading::default()
        };
        let out = decide(
            &params(r#"{"whenHealthUnavailable":"pass","alarms":["db"]}"#),
            &unavailable,
            &alarms,
        );
        assert!(message(&out).contains("db is in ALARM"));
    }

    #[test]
    fn hundreds_of_events_stay_within_the_failure_message_limit() {
        let p = params(r#"{"regions":["eu-west-1"]}"#);
        let events: Vec<_> = (0..500).map(|_| event("EC2", "eu-west-1")).collect();
        let out = decide(&p, &HealthReading::Events(events), &AlarmReading::default());
        let msg = message(&out);
        assert!(msg.len() <= FAILURE_MESSAGE_MAX_BYTES);
        assert!(
            msg.contains("500 open AWS Health issues") && msg.contains("more"),
            "{}",
            &msg[msg.len() - 40..]
        );
    }
}
