//! job-dead-letter against CodePipeline's real client, answered as AWS answers.

use std::sync::{Arc, Mutex};

use aws_sdk_codepipeline::Client;
use aws_sdk_codepipeline::operation::put_job_failure_result::{
    PutJobFailureResultInput, PutJobFailureResultOutput,
};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use job_dead_letter::handler;
use lambda_runtime::{Context, LambdaEvent};
use serde_json::{Value, json};
use tollgate::pipeline_job::CodePipelineReporter;
use tollgate::testing::{aws_json_error, job_event};

/// The invocation record Lambda sends an on-failure destination, as AWS documents it.
fn record(payload: Value) -> Value {
    json!({
        "version": "1.0",
        "timestamp": "2026-11-23T10:00:00.000Z",
        "requestContext": {
            "requestId": "e4b46cbf-b738-xmpl-8880-a18cdf61200e",
            "functionArn": "arn:aws:lambda:us-east-1:111111111111:function:tollgate-health-gate:$LATEST",
            "condition": "RetriesExhausted",
            "approximateInvokeCount": 3
        },
        "requestPayload": payload,
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": {"errorType": "Tollgate.JobReportFailed", "errorMessage": "reporting job job-1 failed: dispatch failure"}
    })
}

fn reporter(rule: &Rule) -> CodePipelineReporter {
    CodePipelineReporter::new(mock_client!(
        aws_sdk_codepipeline,
        RuleMode::MatchAny,
        [rule],
        |c| c.retry_config(tollgate::testing::fast_retries())
    ))
}

async fn invoke(reporter: &CodePipelineReporter, event: Value) -> Result<Value, String> {
    handler(reporter, LambdaEvent::new(event, Context::default()))
        .await
        .map_err(|d| format!("{}: {}", d.error_type, d.error_message))
}

#[tokio::test]
async fn a_job_whose_invocation_lambda_gave_up_on_is_failed_once_naming_the_gates_logs() {
    let seen: Arc<Mutex<Vec<PutJobFailureResultInput>>> = Arc::default();
    let sink = seen.clone();
    let rule = mock!(Client::put_job_failure_result).then_compute_output(move |req| {
        sink.lock().unwrap().push(req.clone());
        PutJobFailureResultOutput::builder().build()
    });
    let response = invoke(&reporter(&rule), record(job_event("job-1", None)))
        .await
        .unwrap();
    assert_eq!(
        response,
        json!({"jobId": "job-1", "result": "failed", "duplicate": false})
    );
    let sent = seen.lock().unwrap();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].job_id(), Some("job-1"));
    let message = sent[0].failure_details().unwrap().message();
    assert!(
        message.contains("/aws/lambda/tollgate-health-gate") && message.contains("3 attempt(s)"),
        "{message}"
    );
    assert!(
        !message.contains("AKIAIOSFODNN7EXAMPLE"),
        "no credentials in the message"
    );
}

#[tokio::test]
async fn a_job_that_already_has_a_result_is_left_as_it_is() {
    let rule = mock!(Client::put_job_failure_result).then_http_response(|| {
        aws_json_error(
            400,
            "InvalidJobStateException",
            "The job is in an invalid state: Succeeded",
        )
    });
    let response = invoke(&reporter(&rule), record(job_event("job-2", None)))
        .await
        .unwrap();
    assert_eq!(response["duplicate"], true);
    assert_eq!(rule.num_calls(), 1);
}

#[tokio::test]
async fn a_report_that_keeps_failing_is_an_error_so_lambda_retries_the_destination() {
    let rule = mock!(Client::put_job_failure_result)
        .then_http_response(|| aws_json_error(500, "InternalFailure", "Internal service error"));
    let err = invoke(&reporter(&rule), record(job_event("job-3", None)))
        .await
        .unwrap_err();
    assert!(
        err.starts_with("Tollgate.DeadLetterReportFailed") && err.contains("InternalFailure"),
        "{err}"
    );
    assert_eq!(rule.num_calls(), 3, "the SDK's own retries ran first");
}

#[tokio::test]
async fn records_of_events_that_are_not_pipeline_jobs_are_acknowledged_and_ignored() {
    let rule = mock!(Client::put_job_failure_result)
        .then_output(|| PutJobFailureResultOutput::builder().build());
    let response = invoke(
        &reporter(&rule),
        record(json!({"detail-type": "Scheduled Event"})),
    )
    .await
    .unwrap();
    assert!(response["ignored"].is_string(), "{response}");
    let not_a_record = invoke(&reporter(&rule), json!("hello")).await.unwrap();
    assert!(not_a_record["ignored"].is_string(), "{not_a_record}");
    assert_eq!(rule.num_calls(), 0);
}
