//! Drift callback: finishes drift-gate jobs from CloudFormation's EventBridge events and, every minute, polls the ones whose events were lost.

use std::time::{Duration, SystemTime};

use drift_gate::Deps;
use drift_gate::cloudformation::{DetectionStatus, Targets};
use drift_gate::completion::{
    CompletionError, JOB_DEADLINE, Progress, finish_if_complete, record_detection, report_as_owner,
};
use drift_gate::records::{self, CLAIMED, PENDING, REPORTED, REPORTING};
use lambda_runtime::{Diagnostic, LambdaEvent};
use serde_json::{Value, json};
use tollgate::events::{self, DRIFT_DETECTION_STATUS_CHANGE, DriftDetectionStatusChange};
use tollgate::pipeline_job::{JobOutcome, JobReporter};
use tollgate::state::StateStore;

/// The reconciler polls a detection once it has had this long to send its event.
pub const POLL_AFTER: Duration = Duration::from_secs(60);
/// A job claimed this long ago whose detections never started: its gate invocation died.
pub const CLAIM_STALE: Duration = Duration::from_secs(180);
/// A job being reported this long: its reporter died; decide it again.
pub const REPORTING_STALE: Duration = Duration::from_secs(300);

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
        Some(DRIFT_DETECTION_STATUS_CHANGE) => on_drift_event(deps, &event.payload).await,
        Some("Scheduled Event") => reconcile(deps, now).await,
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

fn progress(job_id: &str, p: &Progress) -> Value {
    let state = match p {
        Progress::Waiting => "waiting for other stacks",
        Progress::Reported(_) => "reported",
        Progress::NotOurs => "already decided",
    };
    json!({ "jobId": job_id, "progress": state })
}

/// Handles one "CloudFormation Drift Detection Status Change" event.
pub async fn on_drift_event<R, S, T>(
    deps: &Deps<R, S, T>,
    payload: &Value,
) -> Result<Value, CompletionError>
where
    R: JobReporter,
    S: StateStore,
    T: Targets,
{
    let event = match events::parse::<DriftDetectionStatusChange>(payload) {
        Ok(e) => e,
        Err(e) => {
            tracing::warn!(error = %e, "malformed drift detection event; ignored");
            return Ok(json!({ "ignored": format!("malformed event: {e}") }));
        }
    };
    let detection_id = &event.detail.stack_drift_detection_id;
    let status = match event.detail.status_details.detection_status.as_str() {
        "DETECTION_COMPLETE" => DetectionStatus::Complete,
        "DETECTION_FAILED" => DetectionStatus::Failed {
            reason: String::new(),
        },
        _ => return Ok(json!({ "ignored": "detection still in progress" })),
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
    let pending = job
        .detections
        .iter()
        .find(|(state, d)| &d.detection_id == detection_id && state == PENDING);
    if let Some((_, detection)) = pending {
        let status = match status {
            // The event carries no reason; CloudFormation's status call names the resources.
            DetectionStatus::Failed { .. } => {
                deps.targets
                    .detector(&detection.target)
                    .await?
                    .status(detection_id)
                    .await?
            }
            other => other,
        };
        record_detection(&deps.store, &deps.targets, &job_id, detection, status).await?;
    }
    let p = finish_if_complete(&deps.store, &deps.reporter, &job_id).await?;
    Ok(progress(&job_id, &p))
}

fn age(now: SystemTime, started_at: i64) -> Duration {
    let now = records::now_seconds(now);
    Duration::from_secs(u64::try_from(now.saturating_sub(started_at)).unwrap_or(0))
}

/// The fallback: finishes every open job whose events were lost (or land on another bus:
/// stacks in other regions or accounts), and fails jobs about to hit CodePipeline's limit.
pub async fn reconcile<R, S, T>(
    deps: &Deps<R, S, T>,
    now: SystemTime,
) -> Result<Value, CompletionError>
where
    R: JobReporter,
    S: StateStore,
    T: Targets,
{
    let mut report = Vec::new();
    let mut first_error = None;
    for (job_id, started_at) in records::open_jobs(&deps.store).await? {
        match reconcile_job(deps, &job_id, age(now, started_at)).await {
            Ok(p) => report.push(progress(&job_id, &p)),
            Err(e) => {
                tracing::error!(%job_id, error = %e, "could not reconcile drift job");
                first_error.get_or_insert(e);
            }
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(json!({ "reconciled": report })),
    }
}

async fn reconcile_job<R, S, T>(
    deps: &Deps<R, S, T>,
    job_id: &str,
    age: Duration,
) -> Result<Progress, CompletionError>
where
    R: JobReporter,
    S: StateStore,
    T: Targets,
{
    let Some(job) = records::load_job(&deps.store, job_id).await? else {
        deps.store.delete(records::OPEN_PK, job_id).await?;
        return Ok(Progress::NotOurs);
    };
    match job.state.as_str() {
        REPORTED => {
            deps.store.delete(records::OPEN_PK, job_id).await?;
            Ok(Progress::NotOurs)
        }
        CLAIMED if age >= CLAIM_STALE => {
            let outcome = JobOutcome::failed(
                "The drift gate stopped before it had started drift detection for every stack (it may have run \
                 out of time or been throttled). Retry this stage.",
            );
            report_as_owner(&deps.store, &deps.reporter, &job, CLAIMED, outcome).await
        }
        REPORTING => match &job.data.final_message {
            Some(message) => {
                let outcome = JobOutcome::failed(message.clone());
                report_as_owner(&deps.store, &deps.reporter, &job, REPORTING, outcome).await
            }
            None if age >= REPORTING_STALE => {
                records::move_job(&deps.store, job_id, REPORTING, PENDING, None).await?;
                finish_if_complete(&deps.store, &deps.reporter, job_id).await
            }
            None => Ok(Progress::NotOurs),
        },
        PENDING if age >= JOB_DEADLINE => {
            let waiting: Vec<&str> = job
                .detections
                .iter()
                .filter(|(state, _)| state == PENDING)
                .map(|(_, d)| d.stack.as_str())
                .collect();
            let outcome = JobOutcome::failed(format!(
                "Drift detection did not complete in time (still running for: {}). CloudFormation may be slow \
                 or throttled; retry this stage.",
                waiting.join(", ")
            ));
            report_as_owner(&deps.store, &deps.reporter, &job, PENDING, outcome).await
        }
        PENDING => {
            if age >= POLL_AFTER {
                for (state, detection) in &job.detections {
                    if state != PENDING {
                        continue;
                    }
                    let detector = deps.targets.detector(&detection.target).await?;
                    let status = detector.status(&detection.detection_id).await?;
                    record_detection(&deps.store, &deps.targets, job_id, detection, status).await?;
                }
            }
            finish_if_complete(&deps.store, &deps.reporter, job_id).await
        }
        _ => Ok(Progress::Waiting),
    }
}
