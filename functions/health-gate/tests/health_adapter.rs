//! The AWS Health adapter against the real Health client, with responses mocked as AWS sends them.

use aws_sdk_health::Client;
use aws_sdk_health::operation::describe_events::DescribeEventsOutput;
use aws_sdk_health::types::{Event, EventStatusCode, EventTypeCategory};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use aws_smithy_types::DateTime;
use health_gate::health::{AwsHealth, HealthError, HealthEvents};
use tollgate::testing::cbor_error;

fn health_event(n: u32, service: &str, region: &str) -> Event {
    Event::builder()
        .arn(format!(
            "arn:aws:health:{region}::event/{service}/AWS_{service}_OPERATIONAL_ISSUE/AWS_{service}_OPERATIONAL_ISSUE_{n}"
        ))
        .service(service)
        .event_type_code(format!("AWS_{service}_OPERATIONAL_ISSUE"))
        .event_type_category(EventTypeCategory::Issue)
        .region(region)
        .start_time(DateTime::from_secs(1_795_000_000))
        .status_code(EventStatusCode::Open)
        .build()
}

fn client(rules: &[&Rule]) -> Client {
    mock_client!(
        aws_sdk_health,
        RuleMode::Sequential,
        rules.iter().copied(),
        |c| c.retry_config(tollgate::testing::fast_retries())
    )
}

fn throttled() -> tollgate::testing::HttpResponse {
    cbor_error(400, "ThrottlingException", "Rate exceeded")
}

#[tokio::test]
async fn reads_every_page_with_the_issue_open_upcoming_filter() {
    let page1 = mock!(Client::describe_events)
        .match_requests(|req| {
            let f = req.filter().expect("filter");
            f.event_type_categories() == [EventTypeCategory::Issue]
                && f.event_status_codes() == [EventStatusCode::Open, EventStatusCode::Upcoming]
                && f.services() == ["LAMBDA".to_string()]
                && req.next_token().is_none()
        })
        .then_output(|| {
            DescribeEventsOutput::builder()
                .events(health_event(1, "LAMBDA", "us-east-1"))
                .next_token("page-2")
                .build()
        });
    let page2 = mock!(Client::describe_events)
        .match_requests(|req| req.next_token() == Some("page-2"))
        .then_output(|| {
            DescribeEventsOutput::builder()
                .events(health_event(2, "LAMBDA", "eu-west-1"))
                .build()
        });
    let health = AwsHealth::new(client(&[&page1, &page2]), None);
    let events = health
        .open_issues(Some(&["LAMBDA".to_string()]))
        .await
        .unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[1].region, "eu-west-1");
    assert_eq!(
        events[0].start_time.as_deref(),
        Some("2026-11-18T11:06:40Z")
    );
    assert_eq!(events[0].status, "open");
    assert_eq!((page1.num_calls(), page2.num_calls()), (1, 1));
}

#[tokio::test]
async fn throttled_then_recovered_returns_events() {
    let rule = mock!(Client::describe_events)
        .sequence()
        .http_response(throttled)
        .times(2)
        .output(|| {
            DescribeEventsOutput::builder()
                .events(health_event(1, "EC2", "us-east-1"))
                .build()
        })
        .build();
    let health = AwsHealth::new(client(&[&rule]), None);
    let events = health.open_issues(None).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(rule.num_calls(), 3);
}

#[tokio::test]
async fn throttled_past_retries_on_both_endpoints_is_an_error_naming_throttling() {
    let primary = mock!(Client::describe_events)
        .sequence()
        .http_response(throttled)
        .times(3)
        .build();
    let failover = mock!(Client::describe_events)
        .sequence()
        .http_response(throttled)
        .times(3)
        .build();
    let health = AwsHealth::new(client(&[&primary]), Some(client(&[&failover])));
    let err = health.open_issues(None).await.unwrap_err();
    match err {
        HealthError::Failed(message) => {
            assert!(message.contains("ThrottlingException"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!((primary.num_calls(), failover.num_calls()), (3, 3));
}

#[tokio::test]
async fn primary_endpoint_outage_fails_over_to_us_east_2() {
    let primary = mock!(Client::describe_events)
        .sequence()
        .http_response(|| cbor_error(503, "ServiceUnavailableException", "Service Unavailable"))
        .times(3)
        .build();
    let failover = mock!(Client::describe_events).then_output(|| {
        DescribeEventsOutput::builder()
            .events(health_event(1, "S3", "global"))
            .build()
    });
    let health = AwsHealth::new(client(&[&primary]), Some(client(&[&failover])));
    let events = health.open_issues(None).await.unwrap();
    assert_eq!(events[0].region, "global");
    assert_eq!(failover.num_calls(), 1);
}

#[tokio::test]
async fn no_support_plan_is_reported_as_subscription_required_without_failover() {
    let primary = mock!(Client::describe_events).then_http_response(|| {
        cbor_error(
            400,
            "SubscriptionRequiredException",
            "The AWS Support API is only available to customers who have a Business, Enterprise On-Ramp, or Enterprise Support plan.",
        )
    });
    let failover =
        mock!(Client::describe_events).then_output(|| DescribeEventsOutput::builder().build());
    let health = AwsHealth::new(client(&[&primary]), Some(client(&[&failover])));
    match health.open_issues(None).await.unwrap_err() {
        // AWS's own sentence about support plans is not repeated: the gate explains it once.
        HealthError::SubscriptionRequired(reason) => {
            assert_eq!(reason, "SubscriptionRequiredException")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!((primary.num_calls(), failover.num_calls()), (1, 0));
}

#[tokio::test]
async fn access_denied_fails_without_trying_the_other_endpoint() {
    let primary = mock!(Client::describe_events).then_http_response(|| {
        cbor_error(
            400,
            "AccessDeniedException",
            "User is not authorized to perform: health:DescribeEvents",
        )
    });
    let failover =
        mock!(Client::describe_events).then_output(|| DescribeEventsOutput::builder().build());
    let health = AwsHealth::new(client(&[&primary]), Some(client(&[&failover])));
    let err = health.open_issues(None).await.unwrap_err();
    assert!(
        matches!(&err, HealthError::Failed(m) if m.contains("AccessDeniedException")),
        "{err:?}"
    );
    assert_eq!(failover.num_calls(), 0);
}
