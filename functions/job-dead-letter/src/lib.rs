//! Job dead letter: Lambda's on-failure destination for the gates; fails the pipeline job of an invocation Lambda gave up on.
//!
//! A gate reports its job itself, whatever its handler does. What it cannot survive is dying
//! outside the handler (out of memory, a crash in the runtime) or failing to reach CodePipeline
//! on every retry. Lambda then gives up on the event and sends an invocation record to this
//! function, which fails the job with a message that points at the gate's logs.

use lambda_runtime::{Diagnostic, LambdaEvent};
use serde::Deserialize;
use serde_json::{Value, json};
use tollgate::pipeline_job::{CodePipelineReporter, JobOutcome, JobReporter, job_id, report};
use tollgate::text::truncate;

/// The longest part of the gate's own error message quoted in the job's failure.
const QUOTED_ERROR_MAX_BYTES: usize = 1500;

/// What Lambda sends an on-failure destination for an asynchronous invocation (the documented
/// "invocation record"); unknown fields are ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InvocationRecord {
    #[serde(default)]
    pub timestamp: String,
    #[serde(default)]
    pub request_context: RequestContext,
    /// The event the failed function was invoked with.
    #[serde(default)]
    pub request_payload: Value,
    /// The failed function's last error (`errorType`, `errorMessage`), when it returned one.
    #[serde(default)]
    pub response_payload: Value,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestContext {
    #[serde(default)]
    pub request_id: String,
    #[serde(default)]
    pub function_arn: String,
    /// `RetriesExhausted` or `EventAgeExceeded`.
    #[serde(default)]
    pub condition: String,
    #[serde(default)]
    pub approximate_invoke_count: u32,
}

/// The function name in a Lambda function ARN (`arn:aws:lambda:r:a:function:NAME[:qualifier]`).
fn function_name(arn: &str) -> &str {
    arn.split(':')
        .nth(6)
        .filter(|n| !n.is_empty())
        .unwrap_or("the gate function")
}

/// The failure to report for a job whose invocation Lambda gave up on.
pub fn failure_for(record: &InvocationRecord) -> JobOutcome {
    let ctx = &record.request_context;
    let function = function_name(&ctx.function_arn);
    let why = match ctx.condition.as_str() {
        "RetriesExhausted" => format!(
            "Lambda stopped retrying it after {} attempt(s)",
            ctx.approximate_invoke_count
        ),
        "EventAgeExceeded" => {
            "its event grew older than the function's maximum event age before it could run"
                .to_string()
        }
        other => format!("Lambda gave up on it ({other})"),
    };
    let error = match (
        record
            .response_payload
            .get("errorType")
            .and_then(Value::as_str),
        record
            .response_payload
            .get("errorMessage")
            .and_then(Value::as_str),
    ) {
        (Some(kind), Some(message)) => format!(" Last error: {kind}: {message}."),
        (None, Some(message)) => format!(" Last error: {message}."),
        _ => String::new(),
    };
    JobOutcome::failed(format!(
        "Tollgate's {function} could not finish this job: {why}.{} Look in the function's CloudWatch \
         logs (log group /aws/lambda/{function}, around {}, request id {}), fix the cause, then retry \
         the stage.",
        truncate(&error, QUOTED_ERROR_MAX_BYTES),
        if record.timestamp.is_empty() {
            "the time of this failure"
        } else {
            &record.timestamp
        },
        if ctx.request_id.is_empty() {
            "unknown"
        } else {
            &ctx.request_id
        },
    ))
}

/// Why a record could not be acted on; returned to Lambda so the delivery is retried and the
/// function's Errors metric (and its alarm) shows it.
#[derive(Debug, thiserror::Error)]
pub enum DeadLetterError {
    #[error(transparent)]
    Report(#[from] tollgate::pipeline_job::ReportError),
}

/// Fails the job in `record`, once (a job that already has a result stays as it is). Records
/// whose event is not a CodePipeline job are acknowledged and ignored.
pub async fn handle_record<R: JobReporter>(
    reporter: &R,
    record: &InvocationRecord,
) -> Result<Value, DeadLetterError> {
    let Some(job) = job_id(&record.request_payload) else {
        tracing::warn!(function = %record.request_context.function_arn,
            condition = %record.request_context.condition,
            "an invocation failed for good, but its event is not a CodePipeline job; nothing to end");
        return Ok(json!({ "ignored": "the failed invocation's event is not a CodePipeline job" }));
    };
    let outcome = failure_for(record);
    tracing::warn!(job_id = %job, function = %record.request_context.function_arn,
        condition = %record.request_context.condition, "failing the job of an invocation Lambda gave up on");
    let first = report(reporter, job, &outcome).await?;
    Ok(json!({ "jobId": job, "result": "failed", "duplicate": !first }))
}

/// The Lambda handler: one invocation record in.
pub async fn handler<R: JobReporter>(
    reporter: &R,
    event: LambdaEvent<Value>,
) -> Result<Value, Diagnostic> {
    let record = match InvocationRecord::deserialize(&event.payload) {
        Ok(record) => record,
        Err(e) => {
            tracing::warn!(error = %e, event = %tollgate::telemetry::redacted_for_log(&event.payload),
                "not a Lambda invocation record; ignored");
            return Ok(json!({ "ignored": format!("not a Lambda invocation record: {e}") }));
        }
    };
    handle_record(reporter, &record)
        .await
        .map_err(|e| Diagnostic {
            error_type: "Tollgate.DeadLetterReportFailed".into(),
            error_message: e.to_string(),
        })
}

/// The reporter, from the environment; with the SDK's defaults when Tollgate's own settings are
/// broken, since this function is the last chance to end the job.
pub async fn reporter_from_env() -> CodePipelineReporter {
    match tollgate::aws::load(&tollgate::config::ProcessEnv).await {
        Ok(sdk) => CodePipelineReporter::new(aws_sdk_codepipeline::Client::new(&sdk)),
        Err(problem) => {
            tracing::error!(%problem, "configuration is broken; reporting with the SDK's defaults");
            tollgate::pipeline_job::fallback_reporter().await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(condition: &str) -> InvocationRecord {
        serde_json::from_value(json!({
            "version": "1.0",
            "timestamp": "2026-11-23T10:00:00.000Z",
            "requestContext": {
                "requestId": "e4b46cbf-b738-xmpl-8880-a18cdf61200e",
                "functionArn": "arn:aws:lambda:us-east-1:111111111111:function:tollgate-health-gate:$LATEST",
                "condition": condition,
                "approximateInvokeCount": 3
            },
            "requestPayload": tollgate::testing::job_event("job-1", None),
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
            "responsePayload": {"errorType": "Tollgate.JobReportFailed", "errorMessage": "reporting job job-1 failed: dispatch failure"}
        }))
        .unwrap()
    }

    #[test]
    fn the_failure_names_the_function_its_log_group_the_attempts_and_the_last_error() {
        let JobOutcome::Failure { message, .. } = failure_for(&record("RetriesExhausted")) else {
            panic!("a failure");
        };
        for part in [
            "tollgate-health-gate could not finish this job",
            "after 3 attempt(s)",
            "Tollgate.JobReportFailed: reporting job job-1 failed",
            "/aws/lambda/tollgate-health-gate",
            "e4b46cbf-b738-xmpl-8880-a18cdf61200e",
            "retry the stage",
        ] {
            assert!(message.contains(part), "{part} missing from {message}");
        }
    }

    #[test]
    fn an_expired_event_is_explained_as_such() {
        let JobOutcome::Failure { message, .. } = failure_for(&record("EventAgeExceeded")) else {
            panic!("a failure");
        };
        assert!(message.contains("maximum event age"), "{message}");
    }

    #[test]
    fn the_function_name_comes_from_the_arn_with_or_without_a_qualifier() {
        assert_eq!(
            function_name("arn:aws:lambda:us-east-1:1:function:gate"),
            "gate"
        );
        assert_eq!(
            function_name("arn:aws:lambda:us-east-1:1:function:gate:$LATEST"),
            "gate"
        );
        assert_eq!(function_name(""), "the gate function");
    }
}
