//! How a drift job lives in the state table, and the conditional steps that move it along.
//!
//! Items (all expire after [`RECORD_TTL`]):
//! - `JOB#<job-id>` / `JOB`: the job; state `CLAIMED` → `PENDING` → `REPORTING` → `REPORTED`
//!   (or `CLAIMED` → `REPORTING` when the gate decides the job itself). `REPORTING` is a lease
//!   with its own timestamp: only its holder reports, until it is stale.
//! - `JOB#<job-id>` / `DRIFT#<detection-id>`: one per detection; state `PENDING` → `DONE`, or
//!   `PENDING` → `RETIRED` when it was replaced by a new detection of the same stack.
//! - `JOB#<job-id>` / `TAKEOVER#<lease-id>`: marks a stale lease as taken over, so only one
//!   invocation can take over a given lease.
//! - `DRIFT#<detection-id>` / `DRIFT`: finds the job from a CloudFormation event.
//! - `OPEN#drift` / `<job-id>`: the jobs the reconciler looks after, removed once reported.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tollgate::pipeline_job::{FailureKind, JobOutcome};
use tollgate::state::{Record, StateError, StateStore, Write, epoch_seconds};

use crate::decision::{Detection, StackResult, decide};
use crate::model::Target;
use crate::params::DriftParams;

/// Records outlive any job: CodePipeline gives up on a job after 20 minutes.
pub const RECORD_TTL: Duration = Duration::from_secs(24 * 3600);
/// A `REPORTING` lease older than this belongs to an invocation that has ended (both functions
/// time out after 60 s), so the reconciler may take the job over.
pub const LEASE_STALE: Duration = Duration::from_secs(120);
pub const OPEN_PK: &str = "OPEN#drift";
pub const JOB_SK: &str = "JOB";
pub const POINTER_SK: &str = "DRIFT";

pub const CLAIMED: &str = "CLAIMED";
pub const PENDING: &str = "PENDING";
pub const REPORTING: &str = "REPORTING";
pub const REPORTED: &str = "REPORTED";
pub const DONE: &str = "DONE";
pub const RETIRED: &str = "RETIRED";

pub fn job_pk(job_id: &str) -> String {
    format!("JOB#{job_id}")
}

pub fn detection_sk(detection_id: &str) -> String {
    format!("DRIFT#{detection_id}")
}

pub fn pointer_pk(detection_id: &str) -> String {
    format!("DRIFT#{detection_id}")
}

/// A result decided before (or instead of) drift detection, kept so whoever reports the job
/// reports the same.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(tag = "result", rename_all = "camelCase")]
pub enum Verdict {
    #[serde(rename_all = "camelCase")]
    Failed {
        message: String,
        #[serde(default)]
        configuration_error: bool,
    },
    #[serde(rename_all = "camelCase")]
    Succeeded {
        summary: String,
        output_variables: BTreeMap<String, String>,
    },
}

impl Verdict {
    /// The verdict for a terminal outcome (`None` for `Waiting` and `Continue`).
    pub fn of(outcome: &JobOutcome) -> Option<Verdict> {
        match outcome {
            JobOutcome::Failure { kind, message } => Some(Verdict::Failed {
                message: message.clone(),
                configuration_error: *kind == FailureKind::ConfigurationError,
            }),
            JobOutcome::Success {
                summary,
                output_variables,
            } => Some(Verdict::Succeeded {
                summary: summary.clone(),
                output_variables: output_variables.clone(),
            }),
            _ => None,
        }
    }

    pub fn outcome(&self) -> JobOutcome {
        match self {
            Verdict::Failed {
                message,
                configuration_error: true,
            } => JobOutcome::misconfigured(message.clone()),
            Verdict::Failed { message, .. } => JobOutcome::failed(message.clone()),
            Verdict::Succeeded {
                summary,
                output_variables,
            } => JobOutcome::Success {
                summary: summary.clone(),
                output_variables: output_variables.clone(),
            },
        }
    }
}

/// Who may report a job, and since when.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Lease {
    /// Epoch seconds when the job moved to `REPORTING`.
    pub since: i64,
    /// Unique per acquisition: a takeover names the lease it replaces.
    pub id: String,
}

impl Lease {
    fn new(now: SystemTime) -> Lease {
        static SEQUENCE: AtomicU64 = AtomicU64::new(0);
        let nanos = now
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        Lease {
            since: epoch_seconds(now),
            id: format!("{nanos}-{}", SEQUENCE.fetch_add(1, Ordering::Relaxed)),
        }
    }
}

/// The job item's data.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JobData {
    pub params: DriftParams,
    /// Epoch seconds when the job was first claimed (its first delivery): every deadline counts
    /// from here.
    pub started_at: i64,
    /// Stacks skipped because they do not exist (whenStackMissing=pass).
    #[serde(default)]
    pub missing: Vec<String>,
    /// The result decided without drift detection (a failure found by the gate, or nothing to
    /// check), for whoever reports the job.
    #[serde(default)]
    pub verdict: Option<Verdict>,
    /// The reporting lease, while the job is `REPORTING`.
    #[serde(default)]
    pub lease: Option<Lease>,
}

fn first_attempt() -> u32 {
    1
}

/// One stack's detection item's data.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DetectionData {
    pub stack: String,
    pub detection_id: String,
    pub target: Target,
    pub result: Option<Detection>,
    /// 1 for the gate's detection, 2 when it was started again (after "Rate exceeded").
    #[serde(default = "first_attempt")]
    pub attempt: u32,
    /// The detection that replaced this one (when `RETIRED`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaced_by: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct Pointer {
    job_id: String,
}

/// A record whose data is not what this version of Tollgate wrote.
fn corrupt(record: &Record, e: serde_json::Error) -> StateError {
    StateError::Corrupt {
        pk: record.pk.clone(),
        sk: record.sk.clone(),
        reason: e.to_string(),
    }
}

fn to_value<T: Serialize>(data: &T) -> Value {
    serde_json::to_value(data).unwrap_or(Value::Null)
}

/// A job as stored: its state, data and detections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredJob {
    pub job_id: String,
    pub state: String,
    pub data: JobData,
    /// (state, data) of each detection, retired ones included.
    pub detections: Vec<(String, DetectionData)>,
}

impl StoredJob {
    /// The detections that count: every one not replaced by a newer one.
    pub fn live_detections(&self) -> impl Iterator<Item = &(String, DetectionData)> {
        self.detections.iter().filter(|(state, _)| state != RETIRED)
    }

    /// The live detections still waiting for a result.
    pub fn pending(&self) -> Vec<&DetectionData> {
        self.live_detections()
            .filter(|(state, _)| state == PENDING)
            .map(|(_, d)| d)
            .collect()
    }

    pub fn results(&self) -> Vec<StackResult> {
        self.live_detections()
            .filter_map(|(_, d)| {
                d.result.clone().map(|detection| StackResult {
                    stack: d.stack.clone(),
                    detection,
                })
            })
            .collect()
    }

    /// The job's result if it is known: the verdict decided without detection, or the decision
    /// once every live detection is done. `None` while anything is still running (or, for a
    /// job still `CLAIMED`, not yet started).
    pub fn outcome_if_ready(&self) -> Option<JobOutcome> {
        if let Some(verdict) = &self.data.verdict {
            return Some(verdict.outcome());
        }
        let mut live = self.live_detections().peekable();
        live.peek()?;
        if live.any(|(state, _)| state != DONE) {
            return None;
        }
        Some(decide(
            &self.data.params,
            &self.results(),
            &self.data.missing,
        ))
    }

    /// How long ago the job was first claimed.
    pub fn age(&self, now: SystemTime) -> Duration {
        since(now, self.data.started_at)
    }

    /// Whether the `REPORTING` lease is older than [`LEASE_STALE`] (a lease without a timestamp,
    /// written by an older Tollgate, counts from the claim).
    pub fn lease_is_stale(&self, now: SystemTime) -> bool {
        let since_ts = self
            .data
            .lease
            .as_ref()
            .map_or(self.data.started_at, |l| l.since);
        since(now, since_ts) >= LEASE_STALE
    }
}

fn since(now: SystemTime, epoch: i64) -> Duration {
    Duration::from_secs(u64::try_from(epoch_seconds(now).saturating_sub(epoch)).unwrap_or(0))
}

/// What a claim found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// This invocation owns the job.
    Claimed,
    /// Another delivery of the job claimed it first.
    Taken,
}

/// Claims a job for this invocation (the job item and its place on the reconciler's list, in
/// one transaction). A transaction cancelled by a concurrent write of the same items (the
/// other delivery claiming at the same moment) re-reads the job: a claim exists, so this
/// delivery steps back; if none does, it tries the claim once more.
pub async fn claim_job(
    store: &impl StateStore,
    job_id: &str,
    data: &JobData,
    now: SystemTime,
) -> Result<Claim, StateError> {
    let job = Record::new(job_pk(job_id), JOB_SK)
        .with_state(CLAIMED)
        .with_data(to_value(data))
        .expiring_after(now, RECORD_TTL);
    let open = Record::new(OPEN_PK, job_id)
        .with_data(serde_json::json!({ "startedAt": data.started_at }))
        .expiring_after(now, RECORD_TTL);
    let writes = [Write::Create(job), Write::Create(open)];
    match store.write_all(&writes).await {
        Ok(()) => return Ok(Claim::Claimed),
        Err(StateError::AlreadyExists { .. }) => return Ok(Claim::Taken),
        Err(StateError::TransactionConflict) => {
            tracing::info!(%job_id, "claim met a concurrent write; re-reading the job");
        }
        Err(e) => return Err(e),
    }
    if store.get(&job_pk(job_id), JOB_SK).await?.is_some() {
        return Ok(Claim::Taken);
    }
    match store.write_all(&writes).await {
        Ok(()) => Ok(Claim::Claimed),
        Err(StateError::AlreadyExists { .. }) => Ok(Claim::Taken),
        Err(e) => Err(e),
    }
}

/// Records the detections started for a claimed job and moves it to PENDING (with `data`, which
/// now names the missing stacks), in one transaction: a callback finds either all of them or
/// none. False when the job is no longer `CLAIMED` (the reconciler failed it meanwhile).
pub async fn commit_detections(
    store: &impl StateStore,
    job_id: &str,
    data: &JobData,
    detections: &[DetectionData],
    now: SystemTime,
) -> Result<bool, StateError> {
    let mut writes = Vec::with_capacity(detections.len() * 2 + 1);
    for detection in detections {
        writes.extend(detection_writes(job_id, detection, now));
    }
    writes.push(Write::Transition {
        pk: job_pk(job_id),
        sk: JOB_SK.to_string(),
        from: CLAIMED.to_string(),
        to: PENDING.to_string(),
        data: Some(to_value(data)),
    });
    match store.write_all(&writes).await {
        Ok(()) => Ok(true),
        Err(StateError::TransitionNotAllowed { .. }) => Ok(false),
        Err(e) => Err(e),
    }
}

/// A detection's pointer and its item under the job.
fn detection_writes(job_id: &str, detection: &DetectionData, now: SystemTime) -> [Write; 2] {
    [
        Write::Create(
            Record::new(pointer_pk(&detection.detection_id), POINTER_SK)
                .with_data(to_value(&Pointer {
                    job_id: job_id.to_string(),
                }))
                .expiring_after(now, RECORD_TTL),
        ),
        Write::Create(
            Record::new(job_pk(job_id), detection_sk(&detection.detection_id))
                .with_state(PENDING)
                .with_data(to_value(detection))
                .expiring_after(now, RECORD_TTL),
        ),
    ]
}

/// Replaces a pending detection by a new one of the same stack, in one transaction: the old
/// one is retired, the new one recorded (with its pointer). False when the old one was no
/// longer pending (another invocation recorded or replaced it).
pub async fn replace_detection(
    store: &impl StateStore,
    job_id: &str,
    old: &DetectionData,
    new: &DetectionData,
    now: SystemTime,
) -> Result<bool, StateError> {
    let retired = DetectionData {
        replaced_by: Some(new.detection_id.clone()),
        ..old.clone()
    };
    let mut writes = vec![Write::Transition {
        pk: job_pk(job_id),
        sk: detection_sk(&old.detection_id),
        from: PENDING.to_string(),
        to: RETIRED.to_string(),
        data: Some(to_value(&retired)),
    }];
    writes.extend(detection_writes(job_id, new, now));
    match store.write_all(&writes).await {
        Ok(()) => Ok(true),
        Err(StateError::TransitionNotAllowed { .. }) => Ok(false),
        Err(e) => Err(e),
    }
}

/// The job a detection belongs to, if Tollgate started it.
pub async fn job_of_detection(
    store: &impl StateStore,
    detection_id: &str,
) -> Result<Option<String>, StateError> {
    match store.get(&pointer_pk(detection_id), POINTER_SK).await? {
        None => Ok(None),
        Some(record) => {
            let pointer: Pointer =
                serde_json::from_value(record.data.clone()).map_err(|e| corrupt(&record, e))?;
            Ok(Some(pointer.job_id))
        }
    }
}

/// Reads a job and its detections (strongly consistent).
pub async fn load_job(
    store: &impl StateStore,
    job_id: &str,
) -> Result<Option<StoredJob>, StateError> {
    let mut job = None;
    let mut detections = Vec::new();
    for record in store.query(&job_pk(job_id)).await? {
        if record.sk == JOB_SK {
            let data: JobData =
                serde_json::from_value(record.data.clone()).map_err(|e| corrupt(&record, e))?;
            job = Some((record.state.clone().unwrap_or_default(), data));
        } else if record.sk.starts_with("DRIFT#") {
            let data: DetectionData =
                serde_json::from_value(record.data.clone()).map_err(|e| corrupt(&record, e))?;
            detections.push((record.state.clone().unwrap_or_default(), data));
        }
    }
    Ok(job.map(|(state, data)| StoredJob {
        job_id: job_id.to_string(),
        state,
        data,
        detections,
    }))
}

/// Moves a job between states; false when another invocation moved it first.
pub async fn move_job(
    store: &impl StateStore,
    job_id: &str,
    from: &str,
    to: &str,
    data: Option<&JobData>,
) -> Result<bool, StateError> {
    let value = data.map(to_value);
    match store
        .transition(&job_pk(job_id), JOB_SK, from, to, value.as_ref())
        .await
    {
        Ok(()) => Ok(true),
        Err(StateError::TransitionNotAllowed { .. }) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Stores a detection's result; false when it was already stored (a duplicate event).
pub async fn complete_detection(
    store: &impl StateStore,
    job_id: &str,
    data: &DetectionData,
    result: Detection,
) -> Result<bool, StateError> {
    let done = DetectionData {
        result: Some(result),
        ..data.clone()
    };
    match store
        .transition(
            &job_pk(job_id),
            &detection_sk(&data.detection_id),
            PENDING,
            DONE,
            Some(&to_value(&done)),
        )
        .await
    {
        Ok(()) => Ok(true),
        Err(StateError::TransitionNotAllowed { .. }) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Takes the reporting lease: moves the job from `from` to `REPORTING`, stamping a new lease.
/// Only one invocation can; the others get `None`. Returns the job data as now stored.
pub async fn acquire_lease(
    store: &impl StateStore,
    job: &StoredJob,
    from: &str,
    now: SystemTime,
) -> Result<Option<JobData>, StateError> {
    let data = JobData {
        lease: Some(Lease::new(now)),
        ..job.data.clone()
    };
    Ok(move_job(store, &job.job_id, from, REPORTING, Some(&data))
        .await?
        .then_some(data))
}

/// Takes over a `REPORTING` job whose lease is stale, with a new lease. Only one invocation
/// can take over a given lease (it records `TAKEOVER#<lease-id>` in the same transaction);
/// `None` when someone else did, or the job moved on.
pub async fn take_over_lease(
    store: &impl StateStore,
    job: &StoredJob,
    now: SystemTime,
) -> Result<Option<JobData>, StateError> {
    let old = job.data.lease.as_ref().map_or_else(
        || format!("claim-{}", job.data.started_at),
        |l| l.id.clone(),
    );
    let data = JobData {
        lease: Some(Lease::new(now)),
        ..job.data.clone()
    };
    let writes = [
        Write::Create(
            Record::new(job_pk(&job.job_id), format!("TAKEOVER#{old}"))
                .expiring_after(now, RECORD_TTL),
        ),
        Write::Transition {
            pk: job_pk(&job.job_id),
            sk: JOB_SK.to_string(),
            from: REPORTING.to_string(),
            to: REPORTING.to_string(),
            data: Some(to_value(&data)),
        },
    ];
    match store.write_all(&writes).await {
        Ok(()) => Ok(Some(data)),
        Err(
            StateError::AlreadyExists { .. }
            | StateError::TransitionNotAllowed { .. }
            | StateError::TransactionConflict,
        ) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Gives the lease back (reporting failed): the job returns to `PENDING`, keeping its verdict,
/// so the next delivery, event or reconciler run reports it.
pub async fn release_lease(
    store: &impl StateStore,
    job_id: &str,
    data: &JobData,
) -> Result<bool, StateError> {
    let data = JobData {
        lease: None,
        ..data.clone()
    };
    move_job(store, job_id, REPORTING, PENDING, Some(&data)).await
}

/// Marks a reported job done (from `from`: `REPORTING` for the lease holder, `CLAIMED` for a
/// gate that reported without deciding, e.g. when it ran out of time) and stops the reconciler
/// looking at it.
pub async fn close_job(
    store: &impl StateStore,
    job_id: &str,
    from: &str,
) -> Result<(), StateError> {
    move_job(store, job_id, from, REPORTED, None).await?;
    store.delete(OPEN_PK, job_id).await
}

/// The jobs still open, oldest first: (job id, epoch seconds started).
pub async fn open_jobs(store: &impl StateStore) -> Result<Vec<(String, i64)>, StateError> {
    let mut jobs: Vec<(String, i64)> = store
        .query(OPEN_PK)
        .await?
        .into_iter()
        .map(|r| {
            let started = r.data.get("startedAt").and_then(Value::as_i64).unwrap_or(0);
            (r.sk, started)
        })
        .collect();
    jobs.sort_by_key(|(_, started)| *started);
    Ok(jobs)
}

/// Seconds since the epoch, as stored in `startedAt`.
pub fn now_seconds(now: SystemTime) -> i64 {
    epoch_seconds(now)
}
