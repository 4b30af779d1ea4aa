//! The `drift-callback` handler: finishes jobs from CloudFormation's drift events and, every minute, reconciles the rest.

use std::time::{Duration, Instant, SystemTime};

use futures_util::{StreamExt, stream};
use lambda_runtime::{Diagnostic, LambdaEvent};
use serde_json::{Value, json};
use tollgate::events::{self, DRIFT_DETECTION_STATUS_CHANGE, DriftDetectionStatusChange};
use tollgate::pipeline_job::{JobOutcome, JobReporter, time_left};
use tollgate::state::{DynamoStateStore, StateStore};

use crate::Deps;
use crate::cloudformation::{DetectionStatus, Detector, Detectors, DriftError, Targets};
use crate::completion::{
    CompletionError, JOB_DEADLINE, Progress, Recorded, finish_if_complete, record_detection,
    report_as_owner, report_taken_over,
};
use crate::model::Target;
use crate::records::{self, CLAIMED, PENDING, REPORTED, REPORTING, StoredJob};

/// The reconciler polls a detection once it has had this long to send its event.
pub const POLL_AFTER: Duration = Duration::from_secs(60);
/// A job claimed this long ago and still `CLAIMED`: its gate invocation died.
pub const CLAIM_STALE: Duration = Duration::from_secs(180);
/// Jobs the reconciler works on at once.
pub const JOB_CONCURRENCY: usize = 4;
/// Detection statuses one job polls at once.
pub const POLL_CONCURRENCY: usize = 4;
/// Time the reconciler keeps back, beyond the report margin, for jobs it has started.
pub const RUN_MARGIN: Duration = Duration::from_secs(10);
/// The reconciler's budget when the invocation has no real deadline (local emulators).
pub const LOCAL_RUN_BUDGET: Duration = Duration::from_secs(30);
/// The metric counting jobs the reconciler failed itself (deadline, dead gate, broken config).
pub const FAILED_BY_RECONCILER_METRIC: &str = "JobsFailedByReconciler";

const SCHEDULED_EVENT: &str = "Scheduled Event";

/// The Lambda handler: a drift detection event, or the reconciler's schedule.
pub async fn handler<R, S, T>(
    deps: &Deps<R, S, T>,
    event: LambdaEvent<Value>,
) -> Result<Value, Diagnostic>
where
    R: JobReporter,
    S: StateStore,
    T: Targets,
{
    let now = SystemTime::now();
    let result = match events::detail_type(&event.payload) {
        Some(DRIFT_DETECTION_STATUS_CHANGE) => on_drift_event(deps, &event.payload, now).await,
        Some(SCHEDULED_EVENT) => {
            let budget = run_budget(event.context.deadline, tollgate::now_ms());
            reconcile(deps, now, budget).await
        }
        other => {
            tracing::warn!(detail_type = ?other, "not a drift detection or schedule event; ignored");
            Ok(json!({ "ignored": "not a drift detection or schedule event" }))
        }
    };
    result.map_err(|e| {
        tracing::error!(error = %e, "drift callback failed; Lambda will retry the event");
        Diagnostic {
            error_type: "Tollgate.DriftCallbackFailed".into(),
            error_message: e.to_string(),
        }
    })
}

/// How long the reconciler may start new jobs, given the invocation's deadline (epoch ms): the
/// time left less the report margin and [`RUN_MARGIN`]; [`LOCAL_RUN_BUDGET`] without a real
/// deadline. Jobs not reached are reached at the next minute's run.
pub fn run_budget(deadline_ms: u64, now_ms: u64) -> Duration {
    time_left(deadline_ms, now_ms)
        .map(|left| left.saturating_sub(RUN_MARGIN))
        .unwrap_or(LOCAL_RUN_BUDGET)
}

fn progress(job_id: &str, p: &Progress) -> Value {
    json!({ "jobId": job_id, "progress": p.label() })
}

/// What a drift event says about its detection: `None` while it is still running.
fn event_status(event: &DriftDetectionStatusChange) -> Option<DetectionStatus> {
    match event.status_details.detection_status.as_str() {
        "DETECTION_IN_PROGRESS" => None,
        "DETECTION_COMPLETE" => Some(DetectionStatus::Complete),
        // DETECTION_FAILED, or anything new: only DETECTION_COMPLETE can pass.
        _ => Some(DetectionStatus::Failed {
            reason: String::new(),
        }),
    }
}

/// Handles one "CloudFormation Drift Detection Status Change" event.
pub async fn on_drift_event<R, S, T>(
    deps: &Deps<R, S, T>,
    payload: &Value,
    now: SystemTime,
) -> Result<Value, CompletionError>
where
    R: JobReporter,
    S: StateStore,
    T: Targets,
{
    let event = match events::parse::<DriftDetectionStatusChange>(payload) {
        Ok(e) => e.detail,
        Err(e) => {
            tracing::warn!(error = %e, "malformed drift detection event; ignored");
            return Ok(json!({ "ignored": format!("malformed event: {e}") }));
        }
    };
    let detection_id = &event.stack_drift_detection_id;
    let Some(status) = event_status(&event) else {
        return Ok(json!({ "ignored": "detection still in progress" }));
    };
    let Some(job_id) = records::job_of_detection(&deps.store, detection_id).await? else {
        tracing::info!(%detection_id, "drift detection not started by Tollgate; ignored");
        return Ok(json!({ "ignored": "detection not started by Tollgate" }));
    };
    let Some(job) = records::load_job(&deps.store, &job_id).await? else {
        return Ok(json!({ "ignored": "job record expired" }));
    };
    if job.state != PENDING {
        return Ok(progress(&job_id, &Progress::NotOurs));
    }
    let detectors = Detectors::new(&deps.targets);
    let pending = job
        .pending()
        .into_iter()
        .find(|d| &d.detection_id == detection_id);
    if let Some(detection) = pending {
        let detector = detectors.get(&detection.target).await?;
        let status = match status {
            // The event carries no reason; CloudFormation's status call names the resources.
            DetectionStatus::Failed { .. } => detector.status(detection_id).await?,
            other => other,
        };
        if record_detection(&deps.store, &detectors, &job_id, detection, status, now).await?
            == Recorded::Restarted
        {
            return Ok(progress(&job_id, &Progress::Restarted));
        }
    }
    let p = finish_if_complete(&deps.store, &deps.reporter, &job_id, now).await?;
    Ok(progress(&job_id, &p))
}

/// How the reconciler treats jobs that are not finished.
pub enum Mode<'a, T> {
    /// Poll their detections, and fail them at [`JOB_DEADLINE`].
    Normal(&'a Detectors<'a, T>),
    /// drift-callback's configuration is broken: fail them at once with this message.
    Broken(&'a str),
}

/// What the reconciler did with one job.
struct Reconciled {
    progress: Progress,
    /// The reconciler failed the job itself (deadline, dead gate, broken configuration).
    failed_by_reconciler: bool,
}

impl From<Progress> for Reconciled {
    fn from(progress: Progress) -> Self {
        Reconciled {
            progress,
            failed_by_reconciler: false,
        }
    }
}

/// The fallback, every minute: finishes every open job whose events were lost (or land on
/// another bus: stacks in other regions or accounts), takes over jobs whose reporter died, and
/// fails jobs about to hit CodePipeline's limit. Works oldest first, a few jobs at a time,
/// starting no job after `budget`.
pub async fn reconcile<R, S, T>(
    deps: &Deps<R, S, T>,
    now: SystemTime,
    budget: Duration,
) -> Result<Value, CompletionError>
where
    R: JobReporter,
    S: StateStore,
    T: Targets,
{
    let detectors = Detectors::new(&deps.targets);
    reconcile_open_jobs(
        &deps.store,
        &deps.reporter,
        Mode::Normal(&detectors),
        now,
        budget,
    )
    .await
}

/// The reconciler's loop over the open jobs, in either [`Mode`].
pub async fn reconcile_open_jobs<S, R, T>(
    store: &S,
    reporter: &R,
    mode: Mode<'_, T>,
    now: SystemTime,
    budget: Duration,
) -> Result<Value, CompletionError>
where
    S: StateStore,
    R: JobReporter,
    T: Targets,
{
    let started = Instant::now();
    let start_by = started + budget;
    let hard_stop = tokio::time::Instant::from_std(start_by + RUN_MARGIN);
    let jobs = records::open_jobs(store).await?;
    let total = jobs.len();
    let mode = &mode;
    let results: Vec<(String, Result<Reconciled, CompletionError>)> = stream::iter(jobs)
        .map(|(job_id, _)| async move {
            if Instant::now() >= start_by {
                return None;
            }
            let result = reconcile_job(store, reporter, mode, &job_id, now).await;
            Some((job_id, result))
        })
        .buffer_unordered(JOB_CONCURRENCY)
        .take_until(tokio::time::sleep_until(hard_stop))
        .filter_map(|r| async move { r })
        .collect()
        .await;
    let deferred = total - results.len();
    if deferred > 0 {
        tracing::warn!(
            deferred,
            "reconciler out of time; the remaining jobs wait for the next run"
        );
    }
    let mut report = Vec::new();
    let mut failed = 0u64;
    let mut first_error = None;
    for (job_id, result) in results {
        match result {
            Ok(r) => {
                failed += u64::from(r.failed_by_reconciler);
                report.push(progress(&job_id, &r.progress));
            }
            Err(e) => {
                tracing::error!(%job_id, error = %e, "could not reconcile drift job");
                first_error.get_or_insert(e);
            }
        }
    }
    tollgate::telemetry::emit_count(FAILED_BY_RECONCILER_METRIC, failed);
    match first_error {
        Some(e) => Err(e),
        None => {
            Ok(json!({ "reconciled": report, "deferred": deferred, "failedByReconciler": failed }))
        }
    }
}

async fn reconcile_job<S, R, T>(
    store: &S,
    reporter: &R,
    mode: &Mode<'_, T>,
    job_id: &str,
    now: SystemTime,
) -> Result<Reconciled, CompletionError>
where
    S: StateStore,
    R: JobReporter,
    T: Targets,
{
    let Some(job) = records::load_job(store, job_id).await? else {
        store.delete(records::OPEN_PK, job_id).await?;
        return Ok(Progress::NotOurs.into());
    };
    match job.state.as_str() {
        REPORTED => {
            store.delete(records::OPEN_PK, job_id).await?;
            Ok(Progress::NotOurs.into())
        }
        CLAIMED if job.age(now) >= CLAIM_STALE => {
            let outcome = JobOutcome::failed(
                "The drift gate stopped before it had started drift detection for every stack (it may have run \
                 out of time or been throttled). Retry this stage.",
            );
            fail(store, reporter, &job, CLAIMED, outcome, now).await
        }
        REPORTING if job.lease_is_stale(now) => {
            Ok(report_taken_over(store, reporter, &job, now).await?.into())
        }
        REPORTING => Ok(Progress::BeingReported.into()),
        PENDING => reconcile_pending(store, reporter, mode, job, now).await,
        // CLAIMED and young: the gate is starting its detections.
        _ => Ok(Progress::Waiting.into()),
    }
}

/// Reports a failure the reconciler decided itself.
async fn fail<S: StateStore, R: JobReporter>(
    store: &S,
    reporter: &R,
    job: &StoredJob,
    from: &str,
    outcome: JobOutcome,
    now: SystemTime,
) -> Result<Reconciled, CompletionError> {
    let progress = report_as_owner(store, reporter, job, from, outcome, now).await?;
    let failed_by_reconciler = matches!(progress, Progress::Reported(_));
    Ok(Reconciled {
        progress,
        failed_by_reconciler,
    })
}

async fn reconcile_pending<S, R, T>(
    store: &S,
    reporter: &R,
    mode: &Mode<'_, T>,
    job: StoredJob,
    now: SystemTime,
) -> Result<Reconciled, CompletionError>
where
    S: StateStore,
    R: JobReporter,
    T: Targets,
{
    if let Some(outcome) = job.outcome_if_ready() {
        return Ok(
            report_as_owner(store, reporter, &job, PENDING, outcome, now)
                .await?
                .into(),
        );
    }
    let detectors = match mode {
        Mode::Broken(message) => {
            let outcome = JobOutcome::misconfigured(*message);
            return fail(store, reporter, &job, PENDING, outcome, now).await;
        }
        Mode::Normal(detectors) => *detectors,
    };
    let age = job.age(now);
    let polled = if age >= POLL_AFTER {
        poll(store, detectors, &job, now).await
    } else {
        Ok(())
    };
    if age < JOB_DEADLINE {
        polled?;
        return Ok(finish_if_complete(store, reporter, &job.job_id, now)
            .await?
            .into());
    }
    // Past the deadline: what was just polled may finish the job; otherwise it fails now.
    let Some(job) = records::load_job(store, &job.job_id).await? else {
        return Ok(Progress::NotOurs.into());
    };
    if job.state != PENDING {
        return Ok(Progress::NotOurs.into());
    }
    if let Some(outcome) = job.outcome_if_ready() {
        return Ok(
            report_as_owner(store, reporter, &job, PENDING, outcome, now)
                .await?
                .into(),
        );
    }
    let waiting: Vec<&str> = job.pending().iter().map(|d| d.stack.as_str()).collect();
    let last_error = match &polled {
        Err(e) => format!(" The last check of its status failed: {e}"),
        Ok(()) => String::new(),
    };
    let outcome = JobOutcome::failed(format!(
        "Drift detection did not complete in time (still running for: {}). CloudFormation may be slow \
         or throttled; retry this stage.{last_error}",
        waiting.join(", ")
    ));
    fail(store, reporter, &job, PENDING, outcome, now).await
}

/// Polls every pending detection of a job (a few at a time) and records those that finished.
async fn poll<S: StateStore, T: Targets>(
    store: &S,
    detectors: &Detectors<'_, T>,
    job: &StoredJob,
    now: SystemTime,
) -> Result<(), CompletionError> {
    let results: Vec<Result<Recorded, CompletionError>> = stream::iter(job.pending())
        .map(|detection| async move {
            let detector = detectors.get(&detection.target).await?;
            let status = detector.status(&detection.detection_id).await?;
            record_detection(store, detectors, &job.job_id, detection, status, now).await
        })
        .buffer_unordered(POLL_CONCURRENCY)
        .collect()
        .await;
    results
        .into_iter()
        .find_map(Result::err)
        .map_or(Ok(()), Err)
}

/// The [`Targets`] of a callback whose configuration is broken: it reaches no account.
pub struct NoTargets;

impl Targets for NoTargets {
    async fn detector(&self, _target: &Target) -> Result<Detector, DriftError> {
        Err(DriftError(
            "drift-callback's configuration is broken; it makes no CloudFormation call".into(),
        ))
    }
}

/// The failure message for jobs drift-callback cannot finish because its configuration is broken.
pub fn misconfigured_message(problem: &str) -> String {
    format!(
        "Tollgate cannot finish this job: drift-callback's configuration is broken: {problem}. Fix the \
         function's configuration (redeploy the template) and retry the stage."
    )
}

/// The handler drift-callback runs when its configuration is broken. It keeps answering: it
/// logs the problem and fails what it can (with `store`, the state table, when `TABLE_NAME` is
/// known): a drift event fails its job, the schedule fails every open job, each through the
/// usual reporting lease. It always returns an error, so the function's Errors alarm fires.
pub async fn misconfigured_handler<S, R>(
    store: Option<&S>,
    reporter: &R,
    problem: &str,
    event: LambdaEvent<Value>,
) -> Result<Value, Diagnostic>
where
    S: StateStore,
    R: JobReporter,
{
    tracing::error!(%problem, "drift-callback's configuration is broken; failing the jobs it can");
    let message = misconfigured_message(problem);
    let now = SystemTime::now();
    let done = match (store, events::detail_type(&event.payload)) {
        (None, _) => Ok(json!({ "failed": "none: TABLE_NAME is not set, so no job can be found" })),
        (Some(store), Some(DRIFT_DETECTION_STATUS_CHANGE)) => {
            fail_job_of_event(store, reporter, &message, &event.payload, now).await
        }
        (Some(store), Some(SCHEDULED_EVENT)) => {
            let budget = run_budget(event.context.deadline, tollgate::now_ms());
            reconcile_open_jobs(
                store,
                reporter,
                Mode::<NoTargets>::Broken(&message),
                now,
                budget,
            )
            .await
        }
        (Some(_), _) => Ok(json!({ "ignored": "not a drift detection or schedule event" })),
    };
    let what = match &done {
        Ok(value) => value.to_string(),
        Err(e) => format!("failing its jobs failed too: {e}"),
    };
    tracing::error!(result = %what, "drift-callback ran with a broken configuration");
    Err(Diagnostic {
        error_type: "Tollgate.DriftCallbackMisconfigured".into(),
        error_message: format!("drift-callback's configuration is broken: {problem} ({what})"),
    })
}

/// Fails the job a drift event belongs to, if it is waiting for detections.
async fn fail_job_of_event<S: StateStore, R: JobReporter>(
    store: &S,
    reporter: &R,
    message: &str,
    payload: &Value,
    now: SystemTime,
) -> Result<Value, CompletionError> {
    let detection_id = match events::parse::<DriftDetectionStatusChange>(payload) {
        Ok(e) => e.detail.stack_drift_detection_id,
        Err(e) => return Ok(json!({ "ignored": format!("malformed event: {e}") })),
    };
    let Some(job_id) = records::job_of_detection(store, &detection_id).await? else {
        return Ok(json!({ "ignored": "detection not started by Tollgate" }));
    };
    let Some(job) = records::load_job(store, &job_id).await? else {
        return Ok(json!({ "ignored": "job record expired" }));
    };
    let r = reconcile_pending_broken(store, reporter, message, job, now).await?;
    Ok(progress(&job_id, &r.progress))
}

async fn reconcile_pending_broken<S: StateStore, R: JobReporter>(
    store: &S,
    reporter: &R,
    message: &str,
    job: StoredJob,
    now: SystemTime,
) -> Result<Reconciled, CompletionError> {
    if job.state != PENDING {
        return Ok(Progress::NotOurs.into());
    }
    reconcile_pending(
        store,
        reporter,
        &Mode::<NoTargets>::Broken(message),
        job,
        now,
    )
    .await
}

/// Runs the Lambda runtime with [`misconfigured_handler`]: what drift-callback's `main` runs when
/// its configuration cannot be loaded, so jobs are failed rather than left to time out.
pub async fn serve_misconfigured(problem: String) -> Result<(), lambda_runtime::Error> {
    let reporter = tollgate::pipeline_job::fallback_reporter().await;
    let store = match std::env::var("TABLE_NAME") {
        Ok(table) if !table.trim().is_empty() => {
            let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
            Some(DynamoStateStore::new(
                aws_sdk_dynamodb::Client::new(&sdk),
                table,
            ))
        }
        _ => None,
    };
    lambda_runtime::run(lambda_runtime::service_fn(|event: LambdaEvent<Value>| {
        let (store, reporter, problem) = (store.as_ref(), &reporter, &problem);
        async move { misconfigured_handler(store, reporter, problem, event).await }
    }))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_run_budget_leaves_a_margin_before_the_lambda_deadline() {
        let now = 1_795_000_000_000;
        let budget = run_budget(now + 60_000, now);
        assert!(budget <= Duration::from_secs(60) - RUN_MARGIN, "{budget:?}");
        assert!(budget >= Duration::from_secs(30), "{budget:?}");
        assert_eq!(run_budget(now + 2_000, now), Duration::ZERO);
        assert_eq!(run_budget(0, now), LOCAL_RUN_BUDGET);
    }

    #[test]
    fn the_deadline_leaves_codepipelines_limit_room_for_the_schedule_and_reporting() {
        // Failed at the first run at or after the deadline (up to a minute later), which may
        // take a minute to report: still before CodePipeline's 20 minutes.
        assert!(
            JOB_DEADLINE + Duration::from_secs(60) + Duration::from_secs(60)
                < Duration::from_secs(20 * 60)
        );
    }

    #[test]
    fn only_a_complete_detection_event_counts_as_complete() {
        let event = |status: &str| DriftDetectionStatusChange {
            stack_id: "s".into(),
            stack_drift_detection_id: "d".into(),
            status_details: events::DriftStatusDetails {
                stack_drift_status: Some("IN_SYNC".into()),
                detection_status: status.into(),
            },
            drift_detection_details: None,
        };
        assert_eq!(
            event_status(&event("DETECTION_COMPLETE")),
            Some(DetectionStatus::Complete)
        );
        assert_eq!(event_status(&event("DETECTION_IN_PROGRESS")), None);
        for status in ["DETECTION_FAILED", "SOMETHING_NEW"] {
            assert!(matches!(
                event_status(&event(status)),
                Some(DetectionStatus::Failed { .. })
            ));
        }
    }
}
