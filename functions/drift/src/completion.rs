//! Finishing a drift job: store each stack's result, then decide and report exactly once.
//! Used by the EventBridge callback and by the reconciler that polls for lost events.

use std::time::{Duration, SystemTime};

use tollgate::pipeline_job::{JobOutcome, JobReporter, ReportError, report};
use tollgate::state::{StateError, StateStore};

use crate::cloudformation::{DetectionStatus, Detectors, DriftError, Targets};
use crate::decision::Detection;
use crate::records::{self, DetectionData, JobData, PENDING, REPORTING, StoredJob};

/// CodePipeline fails a job that has had no result for 20 minutes. The reconciler fails an
/// unfinished job this long after its first claim: it runs every minute and may take most of a
/// minute to report, so the job is failed between 16 and 18 minutes, before CodePipeline does.
pub const JOB_DEADLINE: Duration = Duration::from_secs(16 * 60);

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
    /// A detection that hit CloudFormation's rate limit was started again.
    Restarted,
    /// Another invocation holds a fresh reporting lease.
    BeingReported,
    /// This invocation reported the job's result.
    Reported(JobOutcome),
    /// Someone else reports (or reported) it.
    NotOurs,
}

impl Progress {
    /// A few words for the invocation's response and logs.
    pub fn label(&self) -> &'static str {
        match self {
            Progress::Waiting => "waiting for other stacks",
            Progress::Restarted => "drift detection started again (rate exceeded)",
            Progress::BeingReported => "being reported",
            Progress::Reported(_) => "reported",
            Progress::NotOurs => "already decided",
        }
    }
}

/// Whether a failed detection's reason is CloudFormation's rate limit, which is worth one more
/// try rather than a failed job.
pub fn is_rate_exceeded(reason: &str) -> bool {
    reason.to_ascii_lowercase().contains("rate exceeded")
}

/// What [`record_detection`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// The detection is still running.
    Running,
    /// Its result is stored.
    Done,
    /// It was replaced by a new detection of the same stack.
    Restarted,
    /// Someone else had already stored or replaced it.
    Duplicate,
}

/// Stores a finished detection's result (from DescribeStackResourceDrifts). A detection that
/// failed with "Rate exceeded" is started once more instead: the new detection replaces the old
/// one in one state transaction. A duplicate changes nothing.
pub async fn record_detection<T: Targets>(
    store: &impl StateStore,
    detectors: &Detectors<'_, T>,
    job_id: &str,
    detection: &DetectionData,
    status: DetectionStatus,
    now: SystemTime,
) -> Result<Recorded, CompletionError> {
    let detector = detectors.get(&detection.target).await?;
    let failure = match status {
        DetectionStatus::InProgress => return Ok(Recorded::Running),
        DetectionStatus::Complete => None,
        DetectionStatus::Failed { reason }
            if is_rate_exceeded(&reason) && detection.attempt < 2 =>
        {
            match detector.start(&detection.stack).await {
                Ok(detection_id) => {
                    let new = DetectionData {
                        detection_id,
                        result: None,
                        attempt: detection.attempt + 1,
                        replaced_by: None,
                        ..detection.clone()
                    };
                    tracing::info!(%job_id, stack = %detection.stack, old = %detection.detection_id,
                        new = %new.detection_id, "drift detection hit the rate limit; started it again");
                    let replaced =
                        records::replace_detection(store, job_id, detection, &new, now).await?;
                    return Ok(if replaced {
                        Recorded::Restarted
                    } else {
                        Recorded::Duplicate
                    });
                }
                Err(e) => Some(format!(
                    "{reason} (Tollgate started the detection again, which failed: {e})"
                )),
            }
        }
        DetectionStatus::Failed { reason } if detection.attempt > 1 => Some(format!(
            "{reason} (this was the second detection: the first also failed with \"Rate exceeded\")"
        )),
        DetectionStatus::Failed { reason } => Some(reason),
    };
    let found = detector.drifts(&detection.stack).await?;
    let result = Detection {
        drifted: found.drifted,
        unchecked: found.unchecked,
        failure,
    };
    Ok(
        if records::complete_detection(store, job_id, detection, result).await? {
            Recorded::Done
        } else {
            Recorded::Duplicate
        },
    )
}

/// Decides and reports the job if every stack has a result and nobody else is on it.
pub async fn finish_if_complete(
    store: &impl StateStore,
    reporter: &impl JobReporter,
    job_id: &str,
    now: SystemTime,
) -> Result<Progress, CompletionError> {
    let Some(job) = records::load_job(store, job_id).await? else {
        return Ok(Progress::NotOurs);
    };
    if job.state != PENDING {
        return Ok(Progress::NotOurs);
    }
    match job.outcome_if_ready() {
        None => Ok(Progress::Waiting),
        Some(outcome) => report_as_owner(store, reporter, &job, PENDING, outcome, now).await,
    }
}

/// Takes the reporting lease (`from` → `REPORTING`; only one invocation can), reports
/// `outcome`, and closes the job. When reporting fails the lease is given back (the job goes to
/// `PENDING`, its verdict kept), so a retry or the reconciler can finish it.
pub async fn report_as_owner(
    store: &impl StateStore,
    reporter: &impl JobReporter,
    job: &StoredJob,
    from: &str,
    outcome: JobOutcome,
    now: SystemTime,
) -> Result<Progress, CompletionError> {
    let mut job = job.clone();
    job.data.verdict = records::Verdict::of(&outcome);
    let Some(data) = records::acquire_lease(store, &job, from, now).await? else {
        return Ok(Progress::NotOurs);
    };
    report_holding_lease(store, reporter, &job.job_id, &data, outcome).await
}

/// Takes over a `REPORTING` job whose lease is stale (its reporter died) and reports its
/// decided result.
pub async fn report_taken_over(
    store: &impl StateStore,
    reporter: &impl JobReporter,
    job: &StoredJob,
    now: SystemTime,
) -> Result<Progress, CompletionError> {
    let Some(data) = records::take_over_lease(store, job, now).await? else {
        return Ok(Progress::NotOurs);
    };
    tracing::warn!(job_id = %job.job_id, "took over a job whose reporting invocation did not finish");
    match job.outcome_if_ready() {
        Some(outcome) => report_holding_lease(store, reporter, &job.job_id, &data, outcome).await,
        None => {
            records::release_lease(store, &job.job_id, &data).await?;
            Ok(Progress::Waiting)
        }
    }
}

async fn report_holding_lease(
    store: &impl StateStore,
    reporter: &impl JobReporter,
    job_id: &str,
    data: &JobData,
    outcome: JobOutcome,
) -> Result<Progress, CompletionError> {
    if let Err(e) = report(reporter, job_id, &outcome).await {
        records::release_lease(store, job_id, data).await?;
        return Err(e.into());
    }
    records::close_job(store, job_id, REPORTING).await?;
    Ok(Progress::Reported(outcome))
}
