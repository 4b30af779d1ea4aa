//! The AWS Health adapter's service-code check (DescribeEventTypes) against the real Health
//! client, answered as AWS Health answers.

use aws_sdk_health::Client;
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use health_gate::health::{AwsHealth, HealthError, HealthEvents};
use tollgate::testing::cbor_error;
use tollgate_tests::health::{event_types_of, throttled};

/// DescribeEventTypes answered for the codes in `known`, however often it is called.
fn event_types(known: &'static [&'static str]) -> Rule {
    mock!(Client::describe_event_types).then_compute_output(move |req| event_types_of(known, req))
}

fn match_any(rules: &[&Rule]) -> Client {
    mock_client!(
        aws_sdk_health,
        RuleMode::MatchAny,
        rules.iter().copied(),
        |c| c.retry_config(tollgate::testing::fast_retries())
    )
}

#[tokio::test]
async fn a_service_code_without_event_types_is_unknown_and_answers_are_kept_per_cold_start() {
    let types = event_types(&["LAMBDA", "DYNAMODB"]);
    let health = AwsHealth::new(match_any(&[&types]), None);
    let services = |codes: &[&str]| codes.iter().map(|c| c.to_string()).collect::<Vec<_>>();
    assert_eq!(
        health
            .unknown_services(&services(&["LAMBDA", "LAMDBA"]))
            .await,
        Ok(vec!["LAMDBA".to_string()])
    );
    assert_eq!(types.num_calls(), 2, "one DescribeEventTypes per code");
    assert_eq!(
        health
            .unknown_services(&services(&["LAMDBA", "DYNAMODB", "LAMBDA"]))
            .await,
        Ok(vec!["LAMDBA".to_string()])
    );
    assert_eq!(types.num_calls(), 3, "only DYNAMODB was new");
}

#[tokio::test]
async fn event_types_fail_over_when_the_active_endpoint_is_throttled() {
    let primary = mock!(Client::describe_event_types).then_http_response(throttled);
    let failover = event_types(&["EC2"]);
    let health = AwsHealth::new(match_any(&[&primary]), Some(match_any(&[&failover])));
    assert_eq!(
        health.unknown_services(&["EC2".to_string()]).await,
        Ok(vec![])
    );
    assert_eq!(failover.num_calls(), 1);
}

#[tokio::test]
async fn event_types_without_a_support_plan_are_subscription_required() {
    let primary = mock!(Client::describe_event_types).then_http_response(|| {
        cbor_error(
            400,
            "SubscriptionRequiredException",
            "The AWS Support API is only available to customers who have a Business, Enterprise On-Ramp, or Enterprise Support plan.",
        )
    });
    let health = AwsHealth::new(match_any(&[&primary]), None);
    assert_eq!(
        health.unknown_services(&["EC2".to_string()]).await,
        Err(HealthError::SubscriptionRequired(
            "SubscriptionRequiredException".into()
        ))
    );
}
