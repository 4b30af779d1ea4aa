//! How a drift job lives in the state table, and the conditional steps that move it along.
//!
//! Items (all expire after [`RECORD_TTL`]):
//! - `JOB#<job-id>` / `JOB`: the job; state `CLAIMED` → `PENDING` → `REPORTING` → `REPORTED`.
//! - `JOB#<job-id>` / `DRIFT#<detection-id>`: one per stack; state `PENDING` → `DONE`.
//! - `DRIFT#<detection-id>` / `DRIFT`: finds the job from a CloudFormation event.
//! - `OPEN#drift` / `<job-id>`: the jobs the reconciler looks after, removed once reported.

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tollgate::state::{Record, StateError, StateStore, Write, epoch_seconds};

use crate::cloudformation::Target;
use crate::decision::{Detection, StackResult};
use crate::params::DriftParams;

/// Records outlive any job: CodePipeline gives up on a job after 20 minutes.
pub const RECORD_TTL: Duration = Duration::from_secs(24 * 3600);
pub const OPEN_PK: &str = "OPEN#drift";
pub const JOB_SK: &str = "JOB";
pub const POINTER_SK: &str = "DRIFT";

pub const CLAIMED: &str = "CLAIMED";
pub const PENDING: &str = "PENDING";
pub const REPORTING: &str = "REPORTING";
pub const REPORTED: &str = "REPORTED";
pub const DONE: &str = "DONE";

pub fn job_pk(job_id: &str) -> String {
    format!("JOB#{job_id}")
}

pub fn detection_sk(detection_id: &str) -> String {
    format!("DRIFT#{detection_id}")
}

pub fn pointer_pk(detection_id: &str) -> String {
    format!("DRIFT#{detection_id}")
}

/// The job item's data.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JobData {
    pub params: DriftParams,
    /// Epoch seconds when the gate claimed the job.
    pub started_at: i64,
    /// Stacks skipped because they do not exist (whenStackMissing=pass).
    #[serde(default)]
    pub missing: Vec<String>,
    /// The failure decided before every detection started, kept so a retry can report it.
    #[serde(default)]
    pub final_message: Option<String>,
}

/// One stack's detection item's data.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DetectionData {
    pub stack: String,
    pub detection_id: String,
    pub target: Target,
    pub result: Option<Detection>,
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
    pub detections: Vec<(String, DetectionData)>,
}

impl StoredJob {
    pub fn all_done(&self) -> bool {
        self.detections.iter().all(|(state, _)| state == DONE)
    }

    pub fn results(&self) -> Vec<StackResult> {
        self.detections
            .iter()
            .filter_map(|(_, d)| {
                d.result.clone().map(|detection| StackResult {
                    stack: d.stack.clone(),
                    detection,
                })
            })
            .collect()
    }
}

/// Claims a job for this invocation (the job item and its place on the reconciler's list, in
/// one transaction). False when it was claimed before (a retried delivery).
pub async fn claim_job(
    store: &impl StateStore,
    job_id: &str,
    data: &JobData,
    now: SystemTime,
) -> Result<bool, StateError> {
    let job = Record::new(job_pk(job_id), JOB_SK)
        .with_state(CLAIMED)
        .with_data(to_value(data))
        .expiring_after(now, RECORD_TTL);
    let open = Record::new(OPEN_PK, job_id)
        .with_data(serde_json::json!({ "startedAt": data.started_at }))
        .expiring_after(now, RECORD_TTL);
    match store
        .write_all(&[Write::Create(job), Write::Create(open)])
        .await
    {
        Ok(()) => Ok(true),
        Err(StateError::AlreadyExists { .. }) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Records the detections started for a claimed job and moves it to PENDING, in one
/// transaction: a callback finds either all of them or none.
pub async fn commit_detections(
    store: &impl StateStore,
    job_id: &str,
    detections: &[DetectionData],
    now: SystemTime,
) -> Result<(), StateError> {
    let mut writes = Vec::with_capacity(detections.len() * 2 + 1);
    for data in detections {
        writes.push(Write::Create(
            Record::new(pointer_pk(&data.detection_id), POINTER_SK)
                .with_data(to_value(&Pointer {
                    job_id: job_id.to_string(),
                }))
                .expiring_after(now, RECORD_TTL),
        ));
        writes.push(Write::Create(
            Record::new(job_pk(job_id), detection_sk(&data.detection_id))
                .with_state(PENDING)
                .with_data(to_value(data))
                .expiring_after(now, RECORD_TTL),
        ));
    }
    writes.push(Write::Transition {
        pk: job_pk(job_id),
        sk: JOB_SK.to_string(),
        from: CLAIMED.to_string(),
        to: PENDING.to_string(),
        data: None,
    });
    store.write_all(&writes).await
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

/// Marks a reported job done and stops the reconciler looking at it.
pub async fn close_job(store: &impl StateStore, job_id: &str) -> Result<(), StateError> {
    move_job(store, job_id, REPORTING, REPORTED, None).await?;
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
