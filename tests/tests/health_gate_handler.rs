//! The health gate's handler end to end in-process: sample events from `events/`, CloudWatch on
//! moto, and AWS Health / CodePipeline job results (which moto lacks) mocked as AWS answers.

use aws_sdk_cloudwatch::types::StateValue;
use aws_sdk_codepipeline::types::FailureType;
use aws_sdk_health::operation::describe_events::DescribeEventsOutput;
use aws_smithy_mocks::mock;
use tollgate::testing::job_event;
use tollgate_tests::health::{Gate, answers, issue, no_support_plan, sample, throttled};
use tollgate_tests::mocks::output_variable;
use tollgate_tests::{moto_config, put_alarm, unique};

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
    assert!(
        message.contains("1 open AWS Health issue affects"),
        "{message}"
    );
}

#[tokio::test]
async fn comma_separated_regions_sample_checks_each_region() {
    let gate = Gate::new(vec![answers(vec![issue(1, "S3", "eu-west-1")])]).await;
    gate.invoke(sample("health-gate.regions-csv.json")).await;
    let (_, message) = gate.only_failure();
    assert!(message.contains("S3 in eu-west-1"), "{message}");
    assert!(message.contains("affects us-east-1,eu-west-1"), "{message}");
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
        message.contains("AWS Health knows no service \"LAMDBA\"")
            && !message.contains("\"DYNAMODB\""),
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
        message.contains("\"us-esat-1\" is not a region")
            && message.contains("did you mean \"us-east-1\""),
        "{message}"
    );
}

#[tokio::test]
async fn an_alarm_prefix_matching_no_alarm_is_a_configuration_error() {
    let gate = Gate::new(vec![answers(vec![])]).await;
    gate.invoke(sample("health-gate.alarm-prefix-typo.json"))
        .await;
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
    put_alarm(
        &cloudwatch,
        &format!("{prefix}-latency"),
        Some(("fine", StateValue::Ok)),
    )
    .await;
    gate.invoke(job_event(
        "job-quiet-prefix",
        Some(&format!(r#"{{"alarmPrefixes":["{prefix}-"]}}"#)),
    ))
    .await;
    assert_eq!(
        output_variable(&gate.only_success(), "HealthStatus"),
        "HEALTHY"
    );
}
