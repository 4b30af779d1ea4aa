//! The job contract against CodePipeline's real client, with responses mocked as AWS sends them.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_codepipeline::Client;
use aws_sdk_codepipeline::operation::put_job_failure_result::{
    PutJobFailureResultInput, PutJobFailureResultOutput,
};
use aws_sdk_codepipeline::operation::put_job_success_result::{
    PutJobSuccessResultInput, PutJobSuccessResultOutput,
};
use aws_sdk_codepipeline::types::FailureType;
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use serde::Deserialize;
use serde_json::{Value, json};
use tollgate::pipeline_job::{
    CodePipelineReporter, FAILURE_MESSAGE_MAX_BYTES, Job, JobError, JobEventError, JobOutcome,
    REJECTED_RESULT_MESSAGE, ReportError, parse_user_parameters, run_job,
};
use tollgate::testing::{aws_json_error, job_event};

type Seen<T> = Arc<Mutex<Vec<T>>>;

struct Pipeline {
    reporter: CodePipelineReporter,
    successes: Seen<PutJobSuccessResultInput>,
    failures: Seen<PutJobFailureResultInput>,
    success_rule: Rule,
    failure_rule: Rule,
}

fn recording_success(seen: Seen<PutJobSuccessResultInput>) -> Rule {
    mock!(Client::put_job_success_result).then_compute_output(move |req| {
        seen.lock().unwrap().push(req.clone());
        PutJobSuccessResultOutput::builder().build()
    })
}

fn recording_failure(seen: Seen<PutJobFailureResultInput>) -> Rule {
    mock!(Client::put_job_failure_result).then_compute_output(move |req| {
        seen.lock().unwrap().push(req.clone());
        PutJobFailureResultOutput::builder().build()
    })
}

impl Pipeline {
    /// A CodePipeline client whose job-result calls succeed and are recorded.
    fn accepting() -> Self {
        Self::with(recording_success, recording_failure)
    }

    fn with(
        success: impl FnOnce(Seen<PutJobSuccessResultInput>) -> Rule,
        failure: impl FnOnce(Seen<PutJobFailureResultInput>) -> Rule,
    ) -> Self {
        let successes = Seen::default();
        let failures = Seen::default();
        let success_rule = success(successes.clone());
        let failure_rule = failure(failures.clone());
        let client = mock_client!(
            aws_sdk_codepipeline,
            RuleMode::MatchAny,
            [&success_rule, &failure_rule],
            |c| c.retry_config(tollgate::testing::fast_retries())
        );
        Pipeline {
            reporter: CodePipelineReporter::new(client),
            successes,
            failures,
            success_rule,
            failure_rule,
        }
    }

    fn results_sent(&self) -> usize {
        self.success_rule.num_calls() + self.failure_rule.num_calls()
    }

    fn only_failure(&self) -> (FailureType, String) {
        assert_eq!(self.results_sent(), 1, "exactly one job result");
        let failures = self.failures.lock().unwrap();
        let details = failures[0].failure_details().expect("failure details");
        (details.r#type().clone(), details.message().to_string())
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct DriftLikeParams {
    stacks: Vec<String>,
}

async fn parse_stacks(job: Job) -> Result<JobOutcome, String> {
    match parse_user_parameters::<DriftLikeParams>(job.user_parameters.as_deref()) {
        Ok(_) => Ok(JobOutcome::failed("unexpectedly valid")),
        Err(e) => Ok(JobOutcome::misconfigured(e.to_string())),
    }
}

fn ok_outcome() -> JobOutcome {
    JobOutcome::Success {
        summary: "ok".into(),
        output_variables: BTreeMap::new(),
    }
}

#[tokio::test]
async fn success_sends_one_put_job_success_with_summary_and_output_variables() {
    let p = Pipeline::accepting();
    let reported = run_job(&p.reporter, &job_event("job-ok", None), None, |_| async {
        Ok::<_, String>(JobOutcome::Success {
            summary: "all good".into(),
            output_variables: BTreeMap::from([("HealthStatus".into(), "HEALTHY".into())]),
        })
    })
    .await
    .unwrap();
    assert!(reported.first_result);
    assert_eq!(p.results_sent(), 1);
    let sent = &p.successes.lock().unwrap()[0];
    assert_eq!(sent.job_id(), Some("job-ok"));
    assert_eq!(
        sent.execution_details().and_then(|d| d.summary()),
        Some("all good")
    );
    assert_eq!(sent.output_variables().unwrap()["HealthStatus"], "HEALTHY");
    assert_eq!(reported.to_response()["result"], "succeeded");
}

#[tokio::test]
async fn failure_message_is_cut_to_the_aws_limit() {
    let p = Pipeline::accepting();
    let long = "x".repeat(FAILURE_MESSAGE_MAX_BYTES * 2);
    run_job(
        &p.reporter,
        &job_event("job-long", None),
        None,
        |_| async move { Ok::<_, String>(JobOutcome::failed(long)) },
    )
    .await
    .unwrap();
    let (kind, message) = p.only_failure();
    assert_eq!(kind, FailureType::JobFailed);
    assert_eq!(message.len(), FAILURE_MESSAGE_MAX_BYTES);
}

#[tokio::test]
async fn a_multibyte_failure_message_is_cut_to_the_limit_in_bytes() {
    let p = Pipeline::accepting();
    let long = "ü".repeat(FAILURE_MESSAGE_MAX_BYTES);
    run_job(
        &p.reporter,
        &job_event("job-multibyte", None),
        None,
        |_| async move { Ok::<_, String>(JobOutcome::failed(long)) },
    )
    .await
    .unwrap();
    let (_, message) = p.only_failure();
    assert!(
        message.len() <= FAILURE_MESSAGE_MAX_BYTES,
        "{} bytes",
        message.len()
    );
    assert!(message.starts_with("üü"));
}

fn validation_error() -> tollgate::testing::HttpResponse {
    aws_json_error(
        400,
        "ValidationException",
        "1 validation error detected: Value at 'failureDetails.message' failed to satisfy constraint: Member must have length less than or equal to 5000",
    )
}

#[tokio::test]
async fn a_failure_rejected_as_invalid_is_reported_once_more_with_a_short_message() {
    let p = Pipeline::with(recording_success, |seen| {
        let calls = std::sync::atomic::AtomicUsize::new(0);
        mock!(Client::put_job_failure_result).then_compute_response(move |req| {
            if calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                return aws_smithy_mocks::MockResponse::Http(validation_error());
            }
            seen.lock().unwrap().push(req.clone());
            aws_smithy_mocks::MockResponse::Output(PutJobFailureResultOutput::builder().build())
        })
    });
    let reported = run_job(
        &p.reporter,
        &job_event("job-invalid", None),
        None,
        |_| async {
            Ok::<_, String>(JobOutcome::misconfigured(
                "a message CodePipeline will not take",
            ))
        },
    )
    .await
    .unwrap();
    assert!(reported.first_result);
    assert_eq!(
        p.failure_rule.num_calls(),
        2,
        "the rejected result, then the short one"
    );
    let failures = p.failures.lock().unwrap();
    assert_eq!(failures.len(), 1);
    let details = failures[0].failure_details().unwrap();
    assert_eq!(details.message(), REJECTED_RESULT_MESSAGE);
    assert_eq!(
        details.r#type(),
        &FailureType::ConfigurationError,
        "the kind is kept"
    );
}

#[tokio::test]
async fn a_success_rejected_as_invalid_becomes_a_failure_rather_than_a_hung_job() {
    let p = Pipeline::with(
        |_| mock!(Client::put_job_success_result).then_http_response(validation_error),
        recording_failure,
    );
    run_job(
        &p.reporter,
        &job_event("job-bad-success", None),
        None,
        |_| async { Ok::<_, String>(ok_outcome()) },
    )
    .await
    .unwrap();
    assert_eq!(
        p.success_rule.num_calls(),
        1,
        "a validation error is not retried"
    );
    let failures = p.failures.lock().unwrap();
    assert_eq!(failures.len(), 1);
    assert_eq!(
        failures[0].failure_details().unwrap().message(),
        REJECTED_RESULT_MESSAGE
    );
}

#[tokio::test]
async fn bad_json_user_parameters_fail_the_job_as_a_configuration_error() {
    let p = Pipeline::accepting();
    let event = job_event("job-bad-json", Some("{\"stacks\": ["));
    run_job(&p.reporter, &event, None, parse_stacks)
        .await
        .unwrap();
    let (kind, message) = p.only_failure();
    assert_eq!(kind, FailureType::ConfigurationError);
    assert!(
        message.starts_with("UserParameters: EOF while parsing"),
        "{message}"
    );
}

#[tokio::test]
async fn missing_field_is_named_in_the_failure_message() {
    let p = Pipeline::accepting();
    run_job(
        &p.reporter,
        &job_event("job-missing", Some("{}")),
        None,
        parse_stacks,
    )
    .await
    .unwrap();
    let (_, message) = p.only_failure();
    assert!(
        message.starts_with("UserParameters: missing field `stacks`"),
        "{message}"
    );
}

#[tokio::test]
async fn handler_error_becomes_one_failure_with_its_message() {
    let p = Pipeline::accepting();
    run_job(&p.reporter, &job_event("job-err", None), None, |_| async {
        Err::<JobOutcome, _>("stack app is UPDATE_IN_PROGRESS; wait for it to finish")
    })
    .await
    .unwrap();
    let (kind, message) = p.only_failure();
    assert_eq!(kind, FailureType::JobFailed);
    assert_eq!(
        message,
        "stack app is UPDATE_IN_PROGRESS; wait for it to finish"
    );
}

#[tokio::test]
async fn handler_panic_still_reports_one_failure() {
    let p = Pipeline::accepting();
    let reported = run_job(
        &p.reporter,
        &job_event("job-panic", None),
        None,
        |job| async move {
            let empty: Vec<u8> = Vec::new();
            let byte = empty[job.id.len()];
            Ok::<_, String>(JobOutcome::failed(format!("{byte}")))
        },
    )
    .await
    .unwrap();
    assert_eq!(reported.outcome.label(), "failed");
    let (_, message) = p.only_failure();
    assert!(message.contains("internal error"), "{message}");
}

#[tokio::test]
async fn handler_that_runs_out_of_time_reports_a_timeout_failure() {
    let p = Pipeline::accepting();
    run_job(
        &p.reporter,
        &job_event("job-slow", None),
        Some(Duration::from_millis(20)),
        |_| async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            Ok::<_, String>(JobOutcome::failed("never"))
        },
    )
    .await
    .unwrap();
    let (_, message) = p.only_failure();
    assert!(message.contains("ran out of time"), "{message}");
}

#[tokio::test]
async fn sdk_error_while_reporting_is_retried_then_returned_to_lambda() {
    let p = Pipeline::with(recording_success, |_| {
        mock!(Client::put_job_failure_result)
            .sequence()
            .http_response(|| {
                aws_json_error(500, "InternalFailure", "We encountered an internal error.")
            })
            .times(3)
            .build()
    });
    let result = run_job(&p.reporter, &job_event("job-500", None), None, |_| async {
        Ok::<_, String>(JobOutcome::failed("alarm firing"))
    })
    .await;
    assert_eq!(p.failure_rule.num_calls(), 3, "the SDK retried the 5xx");
    assert_eq!(p.success_rule.num_calls(), 0);
    match result {
        Err(JobError::Report(ReportError::Sdk { job_id, message })) => {
            assert_eq!(job_id, "job-500");
            assert!(message.contains("InternalFailure"), "{message}");
        }
        other => panic!("expected a report error, got {other:?}"),
    }
}

#[tokio::test]
async fn throttled_report_is_retried_until_it_lands() {
    let p = Pipeline::with(
        |_| {
            mock!(Client::put_job_success_result)
                .sequence()
                .http_response(|| aws_json_error(400, "ThrottlingException", "Rate exceeded"))
                .output(|| PutJobSuccessResultOutput::builder().build())
                .build()
        },
        recording_failure,
    );
    let reported = run_job(
        &p.reporter,
        &job_event("job-throttled", None),
        None,
        |_| async { Ok::<_, String>(ok_outcome()) },
    )
    .await
    .unwrap();
    assert!(reported.first_result);
    assert_eq!(p.success_rule.num_calls(), 2);
}

#[tokio::test]
async fn job_that_already_has_a_result_counts_as_done() {
    let p = Pipeline::with(recording_success, |_| {
        mock!(Client::put_job_failure_result).then_http_response(|| {
            aws_json_error(
                400,
                "InvalidJobStateException",
                "The job is in an invalid state: Failed",
            )
        })
    });
    let reported = run_job(&p.reporter, &job_event("job-dup", None), None, |_| async {
        Ok::<_, String>(JobOutcome::failed("alarm firing"))
    })
    .await
    .unwrap();
    assert!(!reported.first_result);
    assert_eq!(reported.to_response()["duplicate"], true);
    assert_eq!(p.failure_rule.num_calls(), 1, "not retried");
}

#[tokio::test]
async fn unknown_job_is_returned_as_an_error() {
    let p = Pipeline::with(recording_success, |_| {
        mock!(Client::put_job_failure_result).then_http_response(|| {
            aws_json_error(
                400,
                "JobNotFoundException",
                "The job was specified in an invalid format or cannot be found.",
            )
        })
    });
    let result = run_job(&p.reporter, &job_event("job-gone", None), None, |_| async {
        Ok::<_, String>(JobOutcome::failed("x"))
    })
    .await;
    assert_eq!(
        result,
        Err(JobError::Report(ReportError::JobNotFound(
            "job-gone".into()
        )))
    );
}

#[tokio::test]
async fn event_without_a_job_id_reports_nothing_and_errors() {
    let p = Pipeline::accepting();
    let event = json!({"detail-type": "Scheduled Event"});
    let result = run_job(&p.reporter, &event, None, |_| async {
        Ok::<_, String>(JobOutcome::failed("x"))
    })
    .await;
    assert_eq!(result, Err(JobError::Event(JobEventError::NoJobId)));
    assert_eq!(p.results_sent(), 0);
}

#[tokio::test]
async fn malformed_job_event_fails_the_job_without_running_the_handler() {
    let p = Pipeline::accepting();
    let event: Value =
        json!({"CodePipeline.job": {"id": "job-malformed", "data": "not an object"}});
    run_job(&p.reporter, &event, None, |_| async {
        Err::<JobOutcome, _>("handler must not run")
    })
    .await
    .unwrap();
    let (kind, message) = p.only_failure();
    assert_eq!(kind, FailureType::ConfigurationError);
    assert!(message.contains("malformed"), "{message}");
}

#[tokio::test]
async fn continuation_sends_success_with_the_token() {
    let p = Pipeline::accepting();
    run_job(&p.reporter, &job_event("job-cont", None), None, |_| async {
        Ok::<_, String>(JobOutcome::Continue {
            token: "drift:abc".into(),
            summary: "waiting".into(),
        })
    })
    .await
    .unwrap();
    assert_eq!(p.results_sent(), 1);
    assert_eq!(
        p.successes.lock().unwrap()[0].continuation_token(),
        Some("drift:abc")
    );
}

#[tokio::test]
async fn broken_configuration_fails_each_job_naming_the_variable() {
    let p = Pipeline::accepting();
    let problem = "environment variable TOLLGATE_MAX_ATTEMPTS=\"lots\" is invalid";
    tollgate::pipeline_job::fail_misconfigured(&p.reporter, problem, &job_event("job-cfg", None))
        .await
        .unwrap();
    let (kind, message) = p.only_failure();
    assert_eq!(kind, FailureType::ConfigurationError);
    assert!(
        message.contains("TOLLGATE_MAX_ATTEMPTS=\"lots\""),
        "{message}"
    );
}
