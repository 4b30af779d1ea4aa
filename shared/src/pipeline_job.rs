//! The CodePipeline job contract: parse the job, its `UserParameters`, and report exactly once.

use std::collections::BTreeMap;
use std::fmt::Display;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::time::Duration;

use aws_sdk_codepipeline::error::SdkError;
use aws_sdk_codepipeline::operation::put_job_failure_result::PutJobFailureResultError;
use aws_sdk_codepipeline::operation::put_job_success_result::PutJobSuccessResultError;
use aws_sdk_codepipeline::types::{ExecutionDetails, FailureDetails, FailureType};
use futures_util::FutureExt;
use lambda_runtime::Diagnostic;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::aws::error_text;
use crate::text::truncate;

/// AWS's limit on `failureDetails.message` (PutJobFailureResult), counted here in UTF-8 bytes,
/// which fits however CodePipeline counts.
pub const FAILURE_MESSAGE_MAX_BYTES: usize = 5000;
/// Former name of [`FAILURE_MESSAGE_MAX_BYTES`].
pub const FAILURE_MESSAGE_MAX_CHARS: usize = FAILURE_MESSAGE_MAX_BYTES;
/// AWS's limit on `executionDetails.summary` (PutJobSuccessResult), in UTF-8 bytes.
pub const SUMMARY_MAX_BYTES: usize = 2048;
/// The longest a job-result call may take, retries and backoff included.
pub const REPORT_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest one attempt of a job-result call may take.
pub const REPORT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(3);
/// Time kept back from the Lambda deadline so a timed-out job can still be reported: one whole
/// report call with its retries, one more attempt for the short fallback message (when
/// CodePipeline rejects the first as invalid), and a second to spare.
pub const REPORT_MARGIN: Duration =
    Duration::from_secs(REPORT_TIMEOUT.as_secs() + REPORT_ATTEMPT_TIMEOUT.as_secs() + 1);
/// What is reported instead of a result CodePipeline rejected as invalid.
pub const REJECTED_RESULT_MESSAGE: &str = "Tollgate's result for this job was rejected by CodePipeline as invalid. \
     The full result is in the function's CloudWatch logs (search for the job id); retry the stage.";

/// The parts of a CodePipeline job Tollgate uses. The job's `artifactCredentials` are dropped
/// at parse time, so they can never be logged or leak into a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub id: String,
    pub account_id: Option<String>,
    pub user_parameters: Option<String>,
    pub continuation_token: Option<String>,
}

/// Why an invocation payload is not a usable CodePipeline job.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JobEventError {
    #[error("the event has no CodePipeline.job.id, so no pipeline job can be reported")]
    NoJobId,
    #[error("the CodePipeline job event is malformed: {0}")]
    Malformed(String),
    /// A job id longer than CodePipeline's: not a job CodePipeline sent, and nothing to report to.
    #[error("the event's CodePipeline.job.id is not a job id: {0}")]
    JobIdTooLong(crate::limits::TooLong),
}

/// The job id of `event`, checked against CodePipeline's length ([`crate::limits::JOB_ID`]).
fn checked_job_id(event: &Value) -> Result<&str, JobEventError> {
    let id = job_id(event).ok_or(JobEventError::NoJobId)?;
    crate::limits::JOB_ID
        .check(id)
        .map_err(JobEventError::JobIdTooLong)?;
    Ok(id)
}

/// Returns the job id of a CodePipeline job event, if it has one, without parsing the rest.
pub fn job_id(event: &Value) -> Option<&str> {
    event
        .get("CodePipeline.job")?
        .get("id")?
        .as_str()
        .filter(|id| !id.is_empty())
}

impl Job {
    /// Parses a `CodePipeline.job` invocation payload (the documented shape, via `aws_lambda_events`).
    pub fn from_event(event: &Value) -> Result<Job, JobEventError> {
        let id = checked_job_id(event)?.to_string();
        let parsed: aws_lambda_events::event::codepipeline_job::CodePipelineJobEvent =
            serde_json::from_value(event.clone()).map_err(|e| {
                JobEventError::Malformed(truncate(&e.to_string(), MALFORMED_MAX_BYTES))
            })?;
        let job = parsed.code_pipeline_job;
        Ok(Job {
            id,
            account_id: job.account_id,
            user_parameters: job.data.action_configuration.configuration.user_parameters,
            continuation_token: job.data.continuation_token,
        })
    }
}

/// `UserParameters` that could not be read into the function's parameter type.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("UserParameters: {0}")]
pub struct ParamsError(pub String);

/// How much of a parse error's text is kept (serde quotes the offending value whole).
const MALFORMED_MAX_BYTES: usize = 1024;

/// Parses `UserParameters` JSON into `T`. Absent or blank parameters parse as `{}`, so a type
/// whose fields are all optional gets its defaults and a type with a required field names it
/// ("UserParameters: missing field `stacks`"). Parameters longer than CodePipeline allows
/// ([`crate::limits::USER_PARAMETERS`]) are refused before they are parsed.
pub fn parse_user_parameters<T: DeserializeOwned>(raw: Option<&str>) -> Result<T, ParamsError> {
    let text = raw.map(str::trim).filter(|t| !t.is_empty()).unwrap_or("{}");
    crate::limits::USER_PARAMETERS
        .check(text)
        .map_err(|e| ParamsError(e.to_string()))?;
    serde_json::from_str(text)
        .map_err(|e| ParamsError(truncate(&e.to_string(), MALFORMED_MAX_BYTES)))
}

/// Which `FailureDetails.type` to report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The check ran and said no (or could not run).
    JobFailed,
    /// The action is set up wrongly (bad `UserParameters`, missing settings).
    ConfigurationError,
    /// Tollgate lacks a permission it needs.
    PermissionError,
}

/// What a job handler decided. Handlers return this; only [`run_job`] talks to CodePipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobOutcome {
    Success {
        summary: String,
        output_variables: BTreeMap<String, String>,
    },
    Failure {
        kind: FailureKind,
        message: String,
    },
    /// Ask CodePipeline to invoke the action again with this continuation token.
    Continue {
        token: String,
        summary: String,
    },
    /// Report nothing now: another function owns the job's result (the drift gate's callback
    /// or its reconciler, which fails the job before CodePipeline's reply limit).
    Waiting {
        reason: String,
    },
}

impl JobOutcome {
    pub fn failed(message: impl Into<String>) -> Self {
        JobOutcome::Failure {
            kind: FailureKind::JobFailed,
            message: message.into(),
        }
    }

    pub fn misconfigured(message: impl Into<String>) -> Self {
        JobOutcome::Failure {
            kind: FailureKind::ConfigurationError,
            message: message.into(),
        }
    }

    /// A short word for logs and the invocation response.
    pub fn label(&self) -> &'static str {
        match self {
            JobOutcome::Success { .. } => "succeeded",
            JobOutcome::Failure { .. } => "failed",
            JobOutcome::Continue { .. } => "continued",
            JobOutcome::Waiting { .. } => "waiting",
        }
    }
}

/// Why a result could not be reported.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReportError {
    /// CodePipeline already has a result for this job (a duplicate delivery): nothing to do.
    #[error("job {0} already has a result")]
    AlreadyFinished(String),
    #[error("job {0} was not found by CodePipeline")]
    JobNotFound(String),
    /// CodePipeline rejected the result as invalid (ValidationException): send a simpler one.
    #[error("CodePipeline rejected the result for job {job_id} as invalid: {message}")]
    Rejected { job_id: String, message: String },
    #[error("reporting job {job_id} failed: {message}")]
    Sdk { job_id: String, message: String },
}

/// Sends a job's terminal result to CodePipeline.
pub trait JobReporter: Send + Sync {
    fn report(
        &self,
        job_id: &str,
        outcome: &JobOutcome,
    ) -> impl Future<Output = Result<(), ReportError>> + Send;
}

/// The production [`JobReporter`]: PutJobSuccessResult / PutJobFailureResult.
#[derive(Debug, Clone)]
pub struct CodePipelineReporter {
    client: aws_sdk_codepipeline::Client,
}

impl CodePipelineReporter {
    /// Wraps `client`, bounding each report call by [`REPORT_TIMEOUT`] (and each attempt by
    /// [`REPORT_ATTEMPT_TIMEOUT`]) so that [`REPORT_MARGIN`] always covers reporting.
    pub fn new(client: aws_sdk_codepipeline::Client) -> Self {
        let timeouts = aws_smithy_types::timeout::TimeoutConfig::builder()
            .operation_timeout(REPORT_TIMEOUT)
            .operation_attempt_timeout(REPORT_ATTEMPT_TIMEOUT)
            .build();
        let config = client
            .config()
            .to_builder()
            .timeout_config(timeouts)
            .build();
        Self {
            client: aws_sdk_codepipeline::Client::from_conf(config),
        }
    }
}

/// How CodePipeline answered a rejected result call.
enum Rejection {
    AlreadyFinished,
    NotFound,
    Invalid,
}

fn report_error<E>(
    job_id: &str,
    err: SdkError<E>,
    classify: impl Fn(&E) -> Option<Rejection>,
) -> ReportError
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
{
    match err.as_service_error().and_then(&classify) {
        Some(Rejection::AlreadyFinished) => ReportError::AlreadyFinished(job_id.to_string()),
        Some(Rejection::NotFound) => ReportError::JobNotFound(job_id.to_string()),
        Some(Rejection::Invalid) => ReportError::Rejected {
            job_id: job_id.to_string(),
            message: error_text(&err),
        },
        None => ReportError::Sdk {
            job_id: job_id.to_string(),
            message: error_text(&err),
        },
    }
}

impl JobReporter for CodePipelineReporter {
    async fn report(&self, job_id: &str, outcome: &JobOutcome) -> Result<(), ReportError> {
        match outcome {
            JobOutcome::Waiting { .. } => Ok(()),
            JobOutcome::Success {
                summary,
                output_variables,
            } => {
                let details = ExecutionDetails::builder()
                    .summary(truncate(summary, SUMMARY_MAX_BYTES))
                    .percent_complete(100)
                    .build();
                self.client
                    .put_job_success_result()
                    .job_id(job_id)
                    .execution_details(details)
                    .set_output_variables(
                        (!output_variables.is_empty())
                            .then(|| output_variables.clone().into_iter().collect()),
                    )
                    .send()
                    .await
                    .map(drop)
                    .map_err(|e| report_error(job_id, e, success_state))
            }
            JobOutcome::Continue { token, summary } => self
                .client
                .put_job_success_result()
                .job_id(job_id)
                .continuation_token(token)
                .execution_details(
                    ExecutionDetails::builder()
                        .summary(truncate(summary, SUMMARY_MAX_BYTES))
                        .build(),
                )
                .send()
                .await
                .map(drop)
                .map_err(|e| report_error(job_id, e, success_state)),
            JobOutcome::Failure { kind, message } => {
                let details = FailureDetails::builder()
                    .r#type(match kind {
                        FailureKind::JobFailed => FailureType::JobFailed,
                        FailureKind::ConfigurationError => FailureType::ConfigurationError,
                        FailureKind::PermissionError => FailureType::PermissionError,
                    })
                    .message(truncate(message, FAILURE_MESSAGE_MAX_BYTES))
                    .build()
                    .map_err(|e| ReportError::Sdk {
                        job_id: job_id.to_string(),
                        message: e.to_string(),
                    })?;
                self.client
                    .put_job_failure_result()
                    .job_id(job_id)
                    .failure_details(details)
                    .send()
                    .await
                    .map(drop)
                    .map_err(|e| report_error(job_id, e, failure_state))
            }
        }
    }
}

fn success_state(e: &PutJobSuccessResultError) -> Option<Rejection> {
    match e {
        PutJobSuccessResultError::InvalidJobStateException(_) => Some(Rejection::AlreadyFinished),
        PutJobSuccessResultError::JobNotFoundException(_) => Some(Rejection::NotFound),
        PutJobSuccessResultError::ValidationException(_)
        | PutJobSuccessResultError::OutputVariablesSizeExceededException(_) => {
            Some(Rejection::Invalid)
        }
        _ => None,
    }
}

fn failure_state(e: &PutJobFailureResultError) -> Option<Rejection> {
    match e {
        PutJobFailureResultError::InvalidJobStateException(_) => Some(Rejection::AlreadyFinished),
        PutJobFailureResultError::JobNotFoundException(_) => Some(Rejection::NotFound),
        PutJobFailureResultError::ValidationException(_) => Some(Rejection::Invalid),
        _ => None,
    }
}

/// What [`run_job`] did with one invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reported {
    pub job_id: String,
    pub outcome: JobOutcome,
    /// False when CodePipeline already had a result (a duplicate delivery).
    pub first_result: bool,
}

impl Reported {
    /// The small JSON document a job invocation returns (for logs and local runs).
    pub fn to_response(&self) -> Value {
        serde_json::json!({
            "jobId": self.job_id,
            "result": self.outcome.label(),
            "duplicate": !self.first_result,
        })
    }
}

/// The invocation could not end in a reported result. Returned to Lambda as an error, so the
/// asynchronous invocation is retried and the failure shows in the function's `Errors` metric.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JobError {
    #[error(transparent)]
    Event(#[from] JobEventError),
    #[error(transparent)]
    Report(#[from] ReportError),
}

impl From<JobError> for Diagnostic {
    fn from(err: JobError) -> Self {
        let error_type = match &err {
            JobError::Event(_) => "Tollgate.InvalidJobEvent",
            JobError::Report(_) => "Tollgate.JobReportFailed",
        };
        crate::error::diagnostic(error_type, &err)
    }
}

/// The handler a function runs when its configuration is broken: every job it receives fails
/// at once with `problem` (which names the variable to fix), rather than waiting for
/// CodePipeline's action timeout.
pub async fn fail_misconfigured<R: JobReporter>(
    reporter: &R,
    problem: &str,
    event: &Value,
) -> Result<Reported, JobError> {
    run_job(reporter, event, None, |_| async {
        Ok::<_, std::convert::Infallible>(JobOutcome::misconfigured(format!(
            "Tollgate cannot start: {problem}. Fix the function's configuration and retry the stage."
        )))
    })
    .await
}

/// A reporter built from the default AWS configuration, for [`fail_misconfigured`] when
/// Tollgate's own settings could not be read.
pub async fn fallback_reporter() -> CodePipelineReporter {
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    CodePipelineReporter::new(aws_sdk_codepipeline::Client::new(&sdk))
}

/// Runs the Lambda runtime with a handler that fails every job with `problem`: what a job
/// function's `main` runs when its configuration cannot be loaded, so no job is left waiting.
pub async fn serve_misconfigured(problem: String) -> Result<(), lambda_runtime::Error> {
    tracing::error!(problem = %crate::limits::for_log(&problem), "configuration is broken; every job fails until it is fixed");
    let reporter = fallback_reporter().await;
    lambda_runtime::run(lambda_runtime::service_fn(
        |event: lambda_runtime::LambdaEvent<Value>| {
            let (reporter, problem) = (&reporter, &problem);
            async move {
                fail_misconfigured(reporter, problem, &event.payload)
                    .await
                    .map(|r| r.to_response())
            }
        },
    ))
    .await
}

/// Time the handler may use before a Lambda deadline (epoch milliseconds, as in
/// `Context::deadline`), keeping back [`REPORT_MARGIN`] (or half the time left, if that is
/// less) to report a timeout. `None` when there is no real deadline: Lambda sends epoch
/// milliseconds, while local emulators send 0 or a plain duration (cargo lambda watch: 600000).
pub fn time_left(deadline_ms: u64, now_ms: u64) -> Option<Duration> {
    const YEAR_2001_MS: u64 = 1_000_000_000_000;
    (deadline_ms >= YEAR_2001_MS).then(|| {
        let left = Duration::from_millis(deadline_ms.saturating_sub(now_ms));
        left.saturating_sub(REPORT_MARGIN.min(left / 2))
    })
}

/// Runs one CodePipeline job and reports exactly one result for it, whatever happens:
/// a malformed event, an error, a panic or running out of time all become a failure result.
/// The result is sent once; CodePipeline answering that the job already has a result
/// (a duplicate delivery) counts as done.
pub async fn run_job<R, F, Fut, E>(
    reporter: &R,
    event: &Value,
    budget: Option<Duration>,
    work: F,
) -> Result<Reported, JobError>
where
    R: JobReporter,
    F: FnOnce(Job) -> Fut,
    Fut: Future<Output = Result<JobOutcome, E>>,
    E: Display,
{
    let job_id = checked_job_id(event)?.to_string();
    let outcome = match Job::from_event(event) {
        Err(e) => JobOutcome::misconfigured(format!(
            "{e}. Tollgate expects the payload CodePipeline sends to a Lambda invoke action."
        )),
        Ok(job) => run_guarded(budget, work(job)).await,
    };
    match &outcome {
        JobOutcome::Failure { message, .. } => {
            tracing::warn!(job_id = %job_id, reason = %crate::limits::for_log(message), "job failed")
        }
        other => tracing::info!(job_id = %job_id, result = other.label(), "job decided"),
    }
    let first_result = report(reporter, &job_id, &outcome).await?;
    Ok(Reported {
        job_id,
        outcome,
        first_result,
    })
}

/// A job function's handler body: logs the invocation (secrets redacted), gives the work the
/// Lambda's remaining time, and runs it through [`run_job`].
pub async fn handle_job<R, F, Fut, E>(
    reporter: &R,
    event: lambda_runtime::LambdaEvent<Value>,
    work: F,
) -> Result<Value, Diagnostic>
where
    R: JobReporter,
    F: FnOnce(Job) -> Fut,
    Fut: Future<Output = Result<JobOutcome, E>>,
    E: Display,
{
    tracing::info!(
        event = %crate::telemetry::redacted_for_log(&event.payload),
        "pipeline job received"
    );
    let budget = time_left(event.context.deadline, crate::now_ms());
    let reported = run_job(reporter, &event.payload, budget, work).await?;
    Ok(reported.to_response())
}

/// Sends `outcome` for `job_id`, once. Returns false when CodePipeline already had a result for
/// the job (a duplicate delivery, or another function got there first): that counts as done.
/// A result CodePipeline rejects as invalid is logged whole and replaced, once, by a failure
/// with the short [`REJECTED_RESULT_MESSAGE`]. Any other failure is logged and returned, for
/// the caller to surface (Lambda retries).
pub async fn report<R: JobReporter>(
    reporter: &R,
    job_id: &str,
    outcome: &JobOutcome,
) -> Result<bool, ReportError> {
    let first = reporter.report(job_id, outcome).await;
    let result = match first {
        Err(ReportError::Rejected { message, .. }) => {
            tracing::error!(job_id = %job_id, error = %crate::limits::for_log(&message),
                rejected = %crate::limits::for_log(&format!("{outcome:?}")),
                "CodePipeline rejected the job result; reporting a short failure instead");
            let fallback = JobOutcome::Failure {
                kind: match outcome {
                    JobOutcome::Failure { kind, .. } => *kind,
                    _ => FailureKind::JobFailed,
                },
                message: REJECTED_RESULT_MESSAGE.to_string(),
            };
            reporter.report(job_id, &fallback).await
        }
        other => other,
    };
    match result {
        Ok(()) => Ok(true),
        Err(ReportError::AlreadyFinished(_)) => {
            tracing::info!(job_id = %job_id, "job already had a result; duplicate ignored");
            Ok(false)
        }
        Err(e) => {
            tracing::error!(job_id = %job_id, error = %e, "could not report the job result; Lambda will retry the invocation");
            Err(e)
        }
    }
}

async fn run_guarded<Fut, E>(budget: Option<Duration>, work: Fut) -> JobOutcome
where
    Fut: Future<Output = Result<JobOutcome, E>>,
    E: Display,
{
    let guarded = AssertUnwindSafe(work).catch_unwind();
    let finished = match budget {
        Some(limit) => match tokio::time::timeout(limit, guarded).await {
            Ok(result) => result,
            Err(_) => {
                return JobOutcome::failed(format!(
                    "Tollgate ran out of time after {}s before the check finished (AWS calls were slow or throttled). \
                     Retry the stage; if it keeps happening, raise the function's Timeout in template.yaml.",
                    limit.as_secs()
                ));
            }
        },
        None => guarded.await,
    };
    match finished {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(e)) => JobOutcome::failed(e.to_string()),
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_string());
            tracing::error!(panic = %what, "job handler panicked");
            JobOutcome::failed(
                "Tollgate hit an internal error (a bug) while checking this job; see the function's CloudWatch logs. \
                 Retry the stage, and report the log line to the Tollgate maintainers.",
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_left_keeps_a_margin_to_report_in() {
        let now = 1_795_000_000_000;
        assert_eq!(
            time_left(now + 60_000, now),
            Some(Duration::from_secs(60) - REPORT_MARGIN)
        );
        // A short Lambda timeout still leaves half of it to the handler.
        assert_eq!(
            time_left(now + 3_000, now),
            Some(Duration::from_millis(1_500))
        );
        assert_eq!(time_left(now - 1_000, now), Some(Duration::ZERO));
    }

    #[test]
    fn the_margin_covers_a_whole_report_call_and_the_fallback_attempt() {
        assert!(REPORT_MARGIN >= REPORT_TIMEOUT + REPORT_ATTEMPT_TIMEOUT);
        assert!(REJECTED_RESULT_MESSAGE.len() < 300);
    }

    #[test]
    fn a_job_id_longer_than_codepipelines_is_refused_without_echoing_it() {
        let id = "j".repeat(300_000);
        let event = crate::testing::job_event(&id, None);
        let err = Job::from_event(&event).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, JobEventError::JobIdTooLong(_)), "{text}");
        assert!(text.contains("36") && text.len() < 400, "{text:.400}");
        let diagnostic = Diagnostic::from(JobError::Event(err));
        assert_eq!(diagnostic.error_type, "Tollgate.InvalidJobEvent");
    }

    #[test]
    fn user_parameters_over_codepipelines_limit_are_refused_naming_the_limit() {
        let raw = format!("{{\"stacks\":[\"{}\"]}}", "s".repeat(2_000_000));
        let err = parse_user_parameters::<Value>(Some(&raw)).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("UserParameters") && text.contains("1000"),
            "{text:.300}"
        );
        assert!(text.len() < 400, "{} bytes", text.len());
        assert!(parse_user_parameters::<Value>(Some(r#"{"stacks":["web"]}"#)).is_ok());
    }

    #[test]
    fn emulator_deadlines_that_are_not_epoch_times_mean_no_deadline() {
        assert_eq!(time_left(0, 1_795_000_000_000), None);
        assert_eq!(time_left(600_000, 1_795_000_000_000), None);
    }
}
