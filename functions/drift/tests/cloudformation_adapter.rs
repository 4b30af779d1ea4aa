//! The CloudFormation drift adapter against the real client, with responses mocked as AWS
//! documents them (moto does not implement drift detection).

use aws_sdk_cloudformation::Client;
use aws_sdk_cloudformation::operation::describe_stack_drift_detection_status::DescribeStackDriftDetectionStatusOutput;
use aws_sdk_cloudformation::operation::describe_stack_resource_drifts::DescribeStackResourceDriftsOutput;
use aws_sdk_cloudformation::operation::describe_stacks::DescribeStacksOutput;
use aws_sdk_cloudformation::operation::list_stacks::ListStacksOutput;
use aws_sdk_cloudformation::primitives::DateTime;
use aws_sdk_cloudformation::types::{
    PropertyDifference, Stack, StackDriftDetectionStatus, StackDriftStatus, StackResourceDrift,
    StackResourceDriftStatus, StackStatus, StackSummary,
};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use drift::cloudformation::{DetectionStatus, Detector, StackState};
use tollgate::testing::aws_query_error;

fn detector(rules: &[&Rule]) -> Detector {
    Detector::new(mock_client!(
        aws_sdk_cloudformation,
        RuleMode::Sequential,
        rules.iter().copied(),
        |c| c.retry_config(tollgate::testing::fast_retries())
    ))
}

fn resource(id: &str, status: StackResourceDriftStatus, paths: &[&str]) -> StackResourceDrift {
    StackResourceDrift::builder()
        .logical_resource_id(id)
        .resource_type("AWS::S3::Bucket")
        .stack_resource_drift_status(status)
        .set_property_differences(Some(
            paths
                .iter()
                .map(|p| PropertyDifference::builder().property_path(*p).build())
                .collect(),
        ))
        .build()
}

#[tokio::test]
async fn resource_drifts_are_read_from_every_page_and_unknown_ones_named_as_unchecked() {
    let page1 = mock!(Client::describe_stack_resource_drifts)
        .match_requests(|r| {
            r.stack_name() == Some("app")
                && r.next_token().is_none()
                // NOT_CHECKED is never returned by CloudFormation; UNKNOWN is what it sends
                // for a resource it could not check.
                && r.stack_resource_drift_status_filters()
                    == [
                        StackResourceDriftStatus::Modified,
                        StackResourceDriftStatus::Deleted,
                        StackResourceDriftStatus::UnknownValue,
                    ]
        })
        .then_output(|| {
            DescribeStackResourceDriftsOutput::builder()
                .stack_resource_drifts(resource(
                    "Bucket",
                    StackResourceDriftStatus::Modified,
                    &["/Tags/0/Value", "/VersioningConfiguration/Status"],
                ))
                .stack_resource_drifts(resource("Fn", StackResourceDriftStatus::UnknownValue, &[]))
                .next_token("2")
                .build()
        });
    let page2 = mock!(Client::describe_stack_resource_drifts)
        .match_requests(|r| r.next_token() == Some("2"))
        .then_output(|| {
            DescribeStackResourceDriftsOutput::builder()
                .stack_resource_drifts(resource("Queue", StackResourceDriftStatus::Deleted, &[]))
                .build()
        });
    let found = detector(&[&page1, &page2]).drifts("app").await.unwrap();
    assert_eq!(
        found
            .unchecked
            .iter()
            .map(|u| (u.logical_id.as_str(), u.resource_type.as_str()))
            .collect::<Vec<_>>(),
        [("Fn", "AWS::S3::Bucket")]
    );
    let drifted = found.drifted;
    assert_eq!(drifted.len(), 2);
    assert_eq!(
        drifted[0].property_paths,
        ["/Tags/0/Value", "/VersioningConfiguration/Status"]
    );
    assert_eq!(
        (drifted[1].logical_id.as_str(), drifted[1].status.as_str()),
        ("Queue", "DELETED")
    );
}

#[tokio::test]
async fn failed_detection_carries_cloudformations_reason() {
    let rule = mock!(Client::describe_stack_drift_detection_status).then_output(|| {
        DescribeStackDriftDetectionStatusOutput::builder()
            .stack_drift_detection_id("d-1")
            .detection_status(StackDriftDetectionStatus::DetectionFailed)
            .detection_status_reason(
                "Failed to detect drift on resources [Fn (AWS::Lambda::Function)]",
            )
            .stack_drift_status(StackDriftStatus::from("UNKNOWN"))
            .build()
    });
    assert_eq!(
        detector(&[&rule]).status("d-1").await.unwrap(),
        DetectionStatus::Failed {
            reason: "Failed to detect drift on resources [Fn (AWS::Lambda::Function)]".into()
        }
    );
}

#[tokio::test]
async fn a_failed_detection_whose_stack_status_says_in_sync_is_still_a_failure() {
    let rule = mock!(Client::describe_stack_drift_detection_status).then_output(|| {
        DescribeStackDriftDetectionStatusOutput::builder()
            .stack_drift_detection_id("d-1")
            .detection_status(StackDriftDetectionStatus::DetectionFailed)
            .detection_status_reason("Rate exceeded")
            .stack_drift_status(StackDriftStatus::InSync)
            .drifted_stack_resource_count(0)
            .build()
    });
    assert_eq!(
        detector(&[&rule]).status("d-1").await.unwrap(),
        DetectionStatus::Failed {
            reason: "Rate exceeded".into()
        }
    );
}

#[tokio::test]
async fn a_failed_detection_without_a_reason_says_so() {
    let rule = mock!(Client::describe_stack_drift_detection_status).then_output(|| {
        DescribeStackDriftDetectionStatusOutput::builder()
            .detection_status(StackDriftDetectionStatus::DetectionFailed)
            .build()
    });
    match detector(&[&rule]).status("d-1").await.unwrap() {
        DetectionStatus::Failed { reason } => {
            assert!(reason.contains("DETECTION_FAILED"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn list_stacks_reads_every_page_and_asks_for_no_deleted_stack() {
    let page1 = mock!(Client::list_stacks)
        .match_requests(|r| {
            r.next_token().is_none()
                && !r.stack_status_filter().is_empty()
                && !r
                    .stack_status_filter()
                    .contains(&StackStatus::DeleteComplete)
                && r.stack_status_filter()
                    .contains(&StackStatus::UpdateComplete)
        })
        .then_output(|| {
            ListStacksOutput::builder()
                .stack_summaries(summary("orders-api", StackStatus::UpdateComplete))
                .next_token("page-2")
                .build()
        });
    let page2 = mock!(Client::list_stacks)
        .match_requests(|r| r.next_token() == Some("page-2"))
        .then_output(|| {
            ListStacksOutput::builder()
                .stack_summaries(summary("orders-network", StackStatus::CreateComplete))
                .build()
        });
    assert_eq!(
        detector(&[&page1, &page2]).stack_names().await.unwrap(),
        ["orders-api", "orders-network"]
    );
}

#[tokio::test]
async fn a_stack_in_review_in_progress_is_not_deployed() {
    let rule = mock!(Client::describe_stacks).then_output(|| {
        DescribeStacksOutput::builder()
            .stacks(
                Stack::builder()
                    .stack_name("app")
                    .stack_id("arn:aws:cloudformation:us-east-1:111111111111:stack/app/1")
                    .stack_status(StackStatus::ReviewInProgress)
                    .creation_time(DateTime::from_secs(1_790_000_000))
                    .build(),
            )
            .build()
    });
    assert_eq!(
        detector(&[&rule]).stack("app").await.unwrap(),
        StackState::ReviewInProgress
    );
}

fn summary(name: &str, status: StackStatus) -> StackSummary {
    StackSummary::builder()
        .stack_name(name)
        .stack_id(format!(
            "arn:aws:cloudformation:us-east-1:111111111111:stack/{name}/1"
        ))
        .stack_status(status)
        .creation_time(DateTime::from_secs(1_790_000_000))
        .build()
}

#[tokio::test]
async fn in_progress_and_complete_statuses_are_told_apart() {
    let rule = mock!(Client::describe_stack_drift_detection_status)
        .sequence()
        .output(|| {
            DescribeStackDriftDetectionStatusOutput::builder()
                .detection_status(StackDriftDetectionStatus::DetectionInProgress)
                .build()
        })
        .output(|| {
            DescribeStackDriftDetectionStatusOutput::builder()
                .detection_status(StackDriftDetectionStatus::DetectionComplete)
                .build()
        })
        .build();
    let d = detector(&[&rule]);
    assert_eq!(d.status("d-1").await.unwrap(), DetectionStatus::InProgress);
    assert_eq!(d.status("d-1").await.unwrap(), DetectionStatus::Complete);
}

#[tokio::test]
async fn missing_stack_validation_error_means_missing() {
    let rule = mock!(Client::describe_stacks).then_http_response(|| {
        aws_query_error(400, "ValidationError", "Stack with id app does not exist")
    });
    assert_eq!(
        detector(&[&rule]).stack("app").await.unwrap(),
        StackState::Missing
    );
}

#[tokio::test]
async fn other_validation_errors_are_not_taken_for_a_missing_stack() {
    let rule = mock!(Client::describe_stacks).then_http_response(|| {
        aws_query_error(
            400,
            "ValidationError",
            "1 validation error detected: Value 'x y' at 'stackName' failed",
        )
    });
    let err = detector(&[&rule]).stack("x y").await.unwrap_err();
    assert!(
        err.0.contains("DescribeStacks for x y failed") && err.0.contains("ValidationError"),
        "{err}"
    );
}

#[tokio::test]
async fn throttling_past_retries_says_to_retry_the_stage() {
    let rule = mock!(Client::detect_stack_drift)
        .sequence()
        .http_response(|| aws_query_error(400, "Throttling", "Rate exceeded"))
        .times(3)
        .build();
    let err = detector(&[&rule]).start("app").await.unwrap_err();
    assert_eq!(rule.num_calls(), 3);
    assert!(
        err.0.contains("Throttling") && err.0.contains("retry the stage"),
        "{err}"
    );
}

#[tokio::test]
async fn access_denied_names_the_permission_to_grant() {
    let rule = mock!(Client::detect_stack_drift).then_http_response(|| {
        aws_query_error(403, "AccessDenied", "User: arn:aws:sts::111111111111:assumed-role/x/y is not authorized to perform: cloudformation:DetectStackDrift")
    });
    let err = detector(&[&rule]).start("app").await.unwrap_err();
    assert!(
        err.0.contains("cloudformation:DetectStackDrift") && err.0.contains("Give the role"),
        "{err}"
    );
    assert_eq!(rule.num_calls(), 1, "access denied is not retried");
}
