//! A harness for the health gate's handler in-process: AWS Health answered by `aws-smithy-mocks`
//! as AWS answers (DescribeEventTypes for whatever service codes a job names), CodePipeline job
//! results recorded, CloudWatch on the sandbox.

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
use tollgate::testing::{HttpResponse, cbor_error};

use crate::mocks::RecordingPipeline;
use crate::{moto_config, workspace_root};

/// The handler's dependencies, plus what it sent to CodePipeline.
pub struct Gate {
    pub pipeline: RecordingPipeline,
    /// AWS Health's answers to DescribeEvents on us-east-1, in order.
    primary: Vec<Rule>,
    /// Whether the account has a support plan (DescribeEventTypes answers, or is refused).
    subscribed: bool,
}

/// Service codes AWS Health knows in these tests (DescribeEventTypes answers for them).
pub const KNOWN_SERVICES: &[&str] = &["LAMBDA", "DYNAMODB", "EC2", "S3", "IAM"];

/// AWS Health's answer to DescribeEventTypes filtered on one service code: an `issue` event type
/// when the code is in `known`, none otherwise.
pub fn event_types_of(
    known: &[&str],
    req: &aws_sdk_health::operation::describe_event_types::DescribeEventTypesInput,
) -> DescribeEventTypesOutput {
    let service = req
        .filter()
        .map(|f| f.services().join(","))
        .unwrap_or_default();
    let mut out = DescribeEventTypesOutput::builder();
    if known.contains(&service.as_str()) {
        out = out.event_types(
            EventType::builder()
                .service(&service)
                .code(format!("AWS_{service}_OPERATIONAL_ISSUE"))
                .category(EventTypeCategory::Issue)
                .build(),
        );
    }
    out.build()
}

/// DescribeEventTypes answers for `calls` service codes, one rule each: [`event_types_of`] the
/// [`KNOWN_SERVICES`], or the refusal an account without a support plan gets.
pub fn event_types(calls: usize, subscribed: bool) -> Vec<Rule> {
    (0..calls)
        .map(|_| {
            if !subscribed {
                return mock!(aws_sdk_health::Client::describe_event_types)
                    .then_http_response(no_plan_response);
            }
            mock!(aws_sdk_health::Client::describe_event_types)
                .then_compute_output(|req| event_types_of(KNOWN_SERVICES, req))
        })
        .collect()
}

impl Gate {
    /// `primary` answers AWS Health's DescribeEvents on us-east-1; the us-east-2 failover answers
    /// throttling.
    pub async fn new(primary: Vec<Rule>) -> Gate {
        Gate {
            pipeline: RecordingPipeline::accepting(),
            primary,
            subscribed: true,
        }
    }

    /// The same, for an account without a support plan.
    pub async fn unsubscribed(primary: Vec<Rule>) -> Gate {
        Gate {
            subscribed: false,
            ..Gate::new(primary).await
        }
    }

    /// Runs the handler on `payload` with fresh dependencies (a cold start): DescribeEventTypes
    /// is answered once per service code the job names, then the `primary` rules in order.
    pub async fn invoke(&self, payload: Value) -> Value {
        let services = payload["CodePipeline.job"]["data"]["actionConfiguration"]["configuration"]
            ["UserParameters"]
            .as_str()
            .and_then(|p| serde_json::from_str::<Value>(p).ok())
            .and_then(|p| p["services"].as_array().map(Vec::len))
            .unwrap_or(0);
        let mut rules = event_types(services, self.subscribed);
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

    pub fn only_success(&self) -> PutJobSuccessResultInput {
        self.pipeline.only_success()
    }

    pub fn only_failure(&self) -> (FailureType, String) {
        self.pipeline.only_failure()
    }
}

pub fn sample(name: &str) -> Value {
    let path = workspace_root().join("events").join(name);
    let text = std::fs::read_to_string(&path).expect("sample event");
    serde_json::from_str(&text).expect("sample event is JSON")
}

pub fn throttled() -> HttpResponse {
    cbor_error(400, "ThrottlingException", "Rate exceeded")
}

pub fn issue(n: u32, service: &str, region: &str) -> Event {
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

pub fn answers(events: Vec<Event>) -> Rule {
    mock!(aws_sdk_health::Client::describe_events).then_output(move || {
        DescribeEventsOutput::builder()
            .set_events(Some(events.clone()))
            .build()
    })
}

pub fn no_plan_response() -> HttpResponse {
    cbor_error(
        400,
        "SubscriptionRequiredException",
        "The AWS Health API is only available to customers with a Business, Enterprise On-Ramp or Enterprise Support plan.",
    )
}

pub fn no_support_plan() -> Rule {
    mock!(aws_sdk_health::Client::describe_events).then_http_response(no_plan_response)
}
