//! Finishing a drift job: store each stack's result, then decide and report exactly once.
//! Used by the EventBridge callback and by the reconciler that polls for lost events.

use std::time::Duration;

use tollgate::pipeline_job::{JobOutcome, JobReporter, ReportError, report};
use tollgate::state::{StateError, StateStore};

use crate::cloudformation::{DetectionStatus, DriftError, Targets};
use crate::decision::{Detection, decide};
use crate::records::{self, DetectionData, PENDING, REPORTING, StoredJob};

/// CodePipeline fails a job that has had no reply for 20 minutes; Tollgate reports before that.
pub const JOB_DEADLINE: Duration = Duration::from_secs(18 * 60);

#[derive(Debug, thiserror::Error)]
pub enum CompletionError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Drift(#[from] DriftError),
    #[error(transparent)]
    Report(#[from] ReportError),
}

/// What became of a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// Some stacks still have no result.
    Waiting,
    /// This invocation reported the job's result.
    Reported(JobOutcome),
    /// Someone else reports (or reported) it.
    NotOurs,
}

/// Reads a finished detection's results from CloudFormation and stores them for the job.
/// A duplicate (the result already stored) changes nothing.
pub async fn record_detection(
    store: &impl StateStore,
    targets: &impl Targets,
    job_id: &str,
    detection: &DetectionData,
    status: DetectionStatus,
) -> Result<bool, CompletionError> {
    let failure = match status {
        DetectionStatus::InProgress => return Ok(false),
        DetectionStatus::Complete => None,
        DetectionStatus::Failed { reason } => Some(reason),
    };
    let detector = targets.detector(&detection.target).await?;
    let (drifted, not_checked) = detector.drifts(&detection.stack).await?;
    let result = Detection {
        drifted,
        not_checked,
        failure,
    };
    Ok(records::complete_detection(store, job_id, detection, result).await?)
}

/// Decides and reports the job if every stack has a result and nobody else is on it.
pub async fn finish_if_complete(
    store: &impl StateStore,
    reporter: &impl JobReporter,
    job_id: &str,
) -> Result<Progress, CompletionError> {
    let Some(job) = records::load_job(store, job_id).await? else {
        return Ok(Progress::NotOurs);
    };
    if job.state != PENDING {
        return Ok(Progress::NotOurs);
    }
    if !job.all_done() {
        return Ok(Progress::Waiting);
    }
    let outcome = decide(&job.data.params, &job.results(), &job.data.missing);
    report_as_owner(store, reporter, &job, PENDING, outcome).await
}

/// Takes the job from `from` to REPORTING (only one invocation can), reports `outcome`, and
/// closes the job. When reporting fails the job goes back to `from`, so a retry can finish it.
pub async fn report_as_owner(
    store: &impl StateStore,
    reporter: &impl JobReporter,
    job: &StoredJob,
    from: &str,
    outcome: JobOutcome,
) -> Result<Progress, CompletionError> {
    if !records::move_job(store, &job.job_id, from, REPORTING, None).await? {
        return Ok(Progress::NotOurs);
    }
    if let Err(e) = report(reporter, &job.job_id, &outcome).await {
        records::move_job(store, &job.job_id, REPORTING, from, None).await?;
        return Err(e.into());
    }
    records::close_job(store, &job.job_id).await?;
    Ok(Progress::Reported(outcome))
}
