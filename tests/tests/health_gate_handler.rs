//! The health gate's handler end to end in-process: sample events from `events/`, CloudWatch on
//! moto, and AWS Health / CodePipeline job results (which moto lacks) mocked as AWS answers.

use std::io::Write;
use std::sync::{Arc, Mutex};

use aws_sdk_cloudwatch::types::StateValue;
use aws_sdk_codepipeline::operation::put_job_success_result::PutJobSuccessResultInput;
use aws_sdk_codepipeline::types::FailureType;
use aws_sdk_health::operation::describe_event_types::DescribeEventTypesOutput;
use aws_sdk_health::operation::describe_events::DescribeEventsOutput;
use aws_sdk_health::types::{Event, EventStatusCode, EventType, EventTypeCategory};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use health_gate::alarms::CloudWatchAlarms;
use health_gate::health::AwsHealth;
use health_gate::{AwsDeps, Deps, handler};
use lambda_runtime::{Context, LambdaEvent};
use serde_json::Value;
use tollgate::testing::{HttpResponse, aws_json_error, job_event};
use tollgate_tests::mocks::{RecordingPipeline, output_variable};
use tollgate_tests::{moto_config, put_alarm, unique, workspace_root};

/// The handler's dependencies, plus what it sent to CodePipeline.
struct Gate {
    pipeline: RecordingPipeline,
    /// AWS Health's answers to DescribeEvents on us-east-1, in order.
    primary: Vec<Rule>,
    /// Whether the account has a support plan (DescribeEventTypes answers, or is refused).
    subscribed: bool,
}

/// Service codes AWS Health knows in these tests (DescribeEventTypes answers for them).
const KNOWN_SERVICES: &[&str] = &["LAMBDA", "DYNAMODB", "EC2", "S3", "IAM"];

/// DescribeEventTypes for `calls` service codes: an `issue` event type for a known code, none for
/// any other, as AWS Health answers; or the refusal an account without a support plan gets.
fn event_types(calls: usize, subscribed: bool) -> Rule {
    let rule = mock!(aws_sdk_health::Client::describe_event_types).sequence();
    let rule = if subscribed {
        rule.compute_output(|req| {
            let service = req
                .filter()
                .map(|f| f.services().join(","))
                .unwrap_or_default();
            let mut out = DescribeEventTypesOutput::builder();
            if KNOWN_SERVICES.contains(&service.as_str()) {
                out = out.event_types(
                    EventType::builder()
                        .service(&service)
                        .code(format!("AWS_{service}_OPERATIONAL_ISSUE"))
                        .category(EventTypeCategory::Issue)
                        .build(),
                );
            }
            out.build()
        })
    } else {
        rule.http_response(no_plan_response)
    };
    rule.times(calls).build()
}

impl Gate {
    /// `primary` answers AWS Health's DescribeEvents on us-east-1; the us-east-2 failover answers
    /// throttling.
    async fn new(primary: Vec<Rule>) -> Gate {
        Gate {
            pipeline: RecordingPipeline::accepting(),
            primary,
            subscribed: true,
        }
    }

    /// The same, for an account without a support plan.
    async fn unsubscribed(primary: Vec<Rule>) -> Gate {
        Gate {
            subscribed: false,
            ..Gate::new(primary).await
        }
    }

    /// Runs the handler on `payload` with fresh dependencies (a cold start): DescribeEventTypes
    /// is answered once per service code the job names, then the `primary` rules in order.
    async fn invoke(&self, payload: Value) -> Value {
        let services = payload["CodePipeline.job"]["data"]["actionConfiguration"]["configuration"]
            ["UserParameters"]
            .as_str()
            .and_then(|p| serde_json::from_str::<Value>(p).ok())
            .and_then(|p| p["services"].as_array().map(Vec::len))
            .unwrap_or(0);
        let mut rules = Vec::new();
        if services > 0 {
            rules.push(event_types(services, self.subscribed));
        }
        rules.extend(self.primary.iter().cloned());
        let failover_rule =
            mock!(aws_sdk_health::Client::describe_events).then_http_response(throttled);
        let health = mock_client!(aws_sdk_health, RuleMode::Sequential, rules.iter(), |c| c
            .retry_config(tollgate::testing::fast_retries()));
        let failover = mock_client!(aws_sdk_health, RuleMode::MatchAny, [&failover_rule], |c| c
            .retry_config(tollgate::testing::fast_retries()));
        let deps: AwsDeps = Deps {
            reporter: self.pipeline.reporter.clone(),
            health: AwsHealth::new(health, Some(failover)),
            alarms: CloudWatchAlarms::new(aws_sdk_cloudwatch::Client::new(&moto_config().await)),
            region: "us-east-1".into(),
        };
        handler(&deps, LambdaEvent::new(payload, Context::default()))
            .await
            .expect("the job result was reported")
    }

    fn only_success(&self) -> PutJobSuccessResultInput {
        self.pipeline.only_success()
    }

    fn only_failure(&self) -> (FailureType, String) {
        self.pipeline.only_failure()
    }
}

fn sample(name: &str) -> Value {
    let path = workspace_root().join("events").join(name);
    let text = std::fs::read_to_string(&path).expect("sample event");
    serde_json::from_str(&text).expect("sample event is JSON")
}

fn throttled() -> HttpResponse {
    aws_json_error(400, "ThrottlingException", "Rate exceeded")
}

fn issue(n: u32, service: &str, region: &str) -> Event {
    Event::builder()
        .arn(format!(
            "arn:aws:health:{region}::event/{service}/AWS_{service}_OPERATIONAL_ISSUE/ISSUE_{n}"
        ))
        .service(service)
        .event_type_code(format!("AWS_{service}_OPERATIONAL_ISSUE"))
        .event_type_category(EventTypeCategory::Issue)
        .region(region)
        .status_code(EventStatusCode::Open)
        .build()
}

fn answers(events: Vec<Event>) -> Rule {
    mock!(aws_sdk_health::Client::describe_events).then_output(move || {
        DescribeEventsOutput::builder()
            .set_events(Some(events.clone()))
            .build()
    })
}

#[tokio::test]
async fn healthy_sample_event_succeeds_with_health_status_output() {
    let gate = Gate::new(vec![answers(vec![])]).await;
    let response = gate.invoke(sample("health-gate.healthy.json")).await;
    assert_eq!(response["result"], "succeeded");
    let sent = gate.only_success();
    assert_eq!(output_variable(&sent, "HealthStatus"), "HEALTHY");
    assert_eq!(output_variable(&sent, "RegionsChecked"), "us-east-1");
}

#[tokio::test]
async fn open_issue_in_a_watched_region_fails_the_job_naming_it() {
    let gate = Gate::new(vec![answers(vec![issue(1, "LAMBDA", "us-east-1")])]).await;
    gate.invoke(sample("health-gate.healthy.json")).await;
    let (kind, message) = gate.only_failure();
    assert_eq!(kind, FailureType::JobFailed);
    assert!(
        message.contains("LAMBDA in us-east-1: AWS_LAMBDA_OPERATIONAL_ISSUE"),
        "{message}"
    );
    assert!(message.contains("ISSUE_1"), "{message}");
}

#[tokio::test]
async fn issue_only_in_an_unwatched_region_or_service_passes() {
    let events = vec![
        issue(1, "LAMBDA", "ap-south-1"),
        issue(2, "EC2", "us-east-1"),
    ];
    let gate = Gate::new(vec![answers(events)]).await;
    gate.invoke(sample("health-gate.healthy.json")).await;
    assert_eq!(
        output_variable(&gate.only_success(), "HealthStatus"),
        "HEALTHY"
    );
}

#[tokio::test]
async fn alarm_in_alarm_fails_the_job_with_its_name_and_reason() {
    let gate = Gate::new(vec![answers(vec![])]).await;
    let cw = aws_sdk_cloudwatch::Client::new(&moto_config().await);
    for (name, state, reason) in [
        (
            "tollgate-demo-api-5xx",
            StateValue::Alarm,
            "5xx rate 12% > 5%",
        ),
        ("tollgate-demo-queue", StateValue::Ok, "fine"),
    ] {
        put_alarm(&cw, name, Some((reason, state))).await;
    }
    gate.invoke(sample("health-gate.alarms.json")).await;
    let (_, message) = gate.only_failure();
    assert!(
        message.contains("CloudWatch alarm tollgate-demo-api-5xx is in ALARM: 5xx rate 12% > 5%"),
        "{message}"
    );
    assert!(!message.contains("tollgate-demo-queue"), "{message}");
}

fn no_plan_response() -> HttpResponse {
    aws_json_error(
        400,
        "SubscriptionRequiredException",
        "The AWS Health API is only available to customers with a Business, Enterprise On-Ramp or Enterprise Support plan.",
    )
}

fn no_support_plan() -> Rule {
    mock!(aws_sdk_health::Client::describe_events).then_http_response(no_plan_response)
}

#[tokio::test]
async fn no_support_plan_fails_by_default_and_says_how_to_opt_out() {
    let gate = Gate::unsubscribed(vec![no_support_plan()]).await;
    gate.invoke(job_event("job-noplan-fail", None)).await;
    let (_, message) = gate.only_failure();
    assert!(
        message.contains("SubscriptionRequiredException"),
        "{message}"
    );
    assert!(
        message.contains("\"whenHealthUnavailable\": \"pass\""),
        "{message}"
    );
}

#[tokio::test]
async fn no_support_plan_passes_as_unknown_when_the_policy_is_pass() {
    let gate = Gate::unsubscribed(vec![no_support_plan()]).await;
    gate.invoke(job_event(
        "job-noplan-pass",
        Some(r#"{"whenHealthUnavailable":"pass"}"#),
    ))
    .await;
    assert_eq!(
        output_variable(&gate.only_success(), "HealthStatus"),
        "UNKNOWN"
    );
}

#[tokio::test]
async fn throttled_then_recovered_reports_the_real_answer() {
    let rule = mock!(aws_sdk_health::Client::describe_events)
        .sequence()
        .http_response(throttled)
        .times(2)
        .output(|| DescribeEventsOutput::builder().build())
        .build();
    let gate = Gate::new(vec![rule]).await;
    gate.invoke(job_event("job-throttle-ok", None)).await;
    assert_eq!(
        output_variable(&gate.only_success(), "HealthStatus"),
        "HEALTHY"
    );
}

#[tokio::test]
async fn throttled_past_retries_fails_the_job_instead_of_hanging() {
    let rule = mock!(aws_sdk_health::Client::describe_events)
        .sequence()
        .http_response(throttled)
        .times(3)
        .build();
    let gate = Gate::new(vec![rule]).await;
    gate.invoke(job_event("job-throttle-fail", None)).await;
    let (_, message) = gate.only_failure();
    assert!(message.contains("ThrottlingException"), "{message}");
    assert!(message.contains("retry the stage"), "{message}");
}

#[tokio::test]
async fn issues_on_a_later_page_are_found() {
    let page1 = mock!(aws_sdk_health::Client::describe_events).then_output(|| {
        DescribeEventsOutput::builder()
            .events(issue(1, "EC2", "eu-west-1"))
            .next_token("next")
            .build()
    });
    let page2 = answers(vec![issue(2, "DYNAMODB", "us-east-1")]);
    let gate = Gate::new(vec![page1, page2]).await;
    gate.invoke(sample("health-gate.healthy.json")).await;
    let (_, message) = gate.only_failure();
    assert!(message.contains("DYNAMODB in us-east-1"), "{message}");
    assert!(message.contains("1 open AWS Health issue(s)"), "{message}");
}

#[tokio::test]
async fn comma_separated_regions_sample_checks_each_region() {
    let gate = Gate::new(vec![answers(vec![issue(1, "S3", "eu-west-1")])]).await;
    gate.invoke(sample("health-gate.regions-csv.json")).await;
    let (_, message) = gate.only_failure();
    assert!(message.contains("S3 in eu-west-1"), "{message}");
    assert!(message.contains("affect us-east-1,eu-west-1"), "{message}");
}

#[tokio::test]
async fn bad_parameters_sample_is_a_configuration_error_naming_the_field() {
    let gate = Gate::new(vec![answers(vec![])]).await;
    gate.invoke(sample("health-gate.bad-params.json")).await;
    let (kind, message) = gate.only_failure();
    assert_eq!(kind, FailureType::ConfigurationError);
    assert!(
        message.starts_with("UserParameters: unknown field `region`"),
        "{message}"
    );
}

#[tokio::test]
async fn unknown_alarm_name_is_a_configuration_error() {
    let gate = Gate::new(vec![answers(vec![])]).await;
    let missing = unique("no-such-alarm");
    gate.invoke(job_event(
        "job-missing-alarm",
        Some(&format!(r#"{{"alarms":["{missing}"]}}"#)),
    ))
    .await;
    let (kind, message) = gate.only_failure();
    assert_eq!(kind, FailureType::ConfigurationError);
    assert!(message.contains(&missing), "{message}");
}

#[tokio::test]
async fn a_service_code_aws_health_does_not_know_is_a_configuration_error() {
    let gate = Gate::new(vec![]).await;
    gate.invoke(job_event(
        "job-service-typo",
        Some(r#"{"services":["LAMDBA","DYNAMODB"]}"#),
    ))
    .await;
    let (kind, message) = gate.only_failure();
    assert_eq!(kind, FailureType::ConfigurationError);
    assert!(
        message.contains("AWS Health knows no service \"LAMDBA\"") && !message.contains("\"DYNAMODB\""),
        "{message}"
    );
}

#[tokio::test]
async fn a_region_typo_is_a_configuration_error_naming_the_region_meant() {
    let gate = Gate::new(vec![]).await;
    gate.invoke(sample("health-gate.region-typo.json")).await;
    let (kind, message) = gate.only_failure();
    assert_eq!(kind, FailureType::ConfigurationError);
    assert!(
        message.contains("\"us-esat-1\" is not a region") && message.contains("did you mean \"us-east-1\""),
        "{message}"
    );
}

#[tokio::test]
async fn an_alarm_prefix_matching_no_alarm_is_a_configuration_error() {
    let gate = Gate::new(vec![answers(vec![])]).await;
    gate.invoke(sample("health-gate.alarm-prefix-typo.json")).await;
    let (kind, message) = gate.only_failure();
    assert_eq!(kind, FailureType::ConfigurationError);
    assert!(
        message.contains("no CloudWatch alarm name starts with \"tollgate-demo-apl-\""),
        "{message}"
    );
}

#[tokio::test]
async fn an_alarm_prefix_matching_only_quiet_alarms_passes() {
    let gate = Gate::new(vec![answers(vec![])]).await;
    let prefix = unique("quiet");
    let config = moto_config().await;
    let cloudwatch = aws_sdk_cloudwatch::Client::new(&config);
    put_alarm(&cloudwatch, &format!("{prefix}-latency"), Some(("fine", StateValue::Ok))).await;
    gate.invoke(job_event(
        "job-quiet-prefix",
        Some(&format!(r#"{{"alarmPrefixes":["{prefix}-"]}}"#)),
    ))
    .await;
    assert_eq!(output_variable(&gate.only_success(), "HealthStatus"), "HEALTHY");
}

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn logs_never_contain_the_jobs_artifact_credentials() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let gate = Gate::new(vec![answers(vec![issue(1, "LAMBDA", "us-east-1")])]).await;
    gate.invoke(sample("health-gate.healthy.json")).await;

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("pipeline job received"),
        "the event was logged: {logs}"
    );
    assert!(logs.contains("job failed"), "{logs}");
    for secret in [
        "AKIAIOSFODNN7EXAMPLE",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "FwoGZXIvYXdzEXAMPLESESSIONTOKEN",
    ] {
        assert!(!logs.contains(secret), "{secret} leaked into the logs");
    }
}
