//! The deployment ledger in the state table: time-ordered keys, bounded reads, idempotent writes.
//!
//! Layout (the report reads exactly this). `<t>` is an event time in epoch seconds, zero-padded
//! to 12 digits, so that sort keys sort by time:
//! - `DORA#PIPELINES` / `<pipeline>`: one index record per pipeline (no TTL: one small item each);
//! - `DORA#DEPLOY#<pipeline>` / `<t>#<executionId>`: a [`Deployment`], by time;
//! - `DORA#EXEC#<pipeline>` / `<executionId>`: the same [`Deployment`], by execution id (written
//!   with the first in one transaction: it makes the deployment once-per-execution);
//! - `DORA#LEAD#<pipeline>` / `<t>#<executionId>`: its [`LeadTimes`];
//! - `DORA#FAILED#<pipeline>` / `<t>#<executionId>`: a [`Failure`] (`<t>`: the deployment's);
//! - `DORA#INCIDENT#<pipeline>` / `<t>#<opsItemId>`: an [`Incident`] (`<t>`: its creation);
//! - `DORA#OPEN#<pipeline>` / `<opsItemId>`: the pipeline's open incidents, removed on restore;
//! - `DORA#EMITTED#<metric>` / `<pipeline>#<id>`: a datapoint-dedupe marker (TTL 15 days).
//!
//! Every ledger item expires ([`Retention`], `DORA_RETENTION_DAYS`) that many days after its
//! event time. Every read an event makes is bounded: one `Limit`ed query in reverse for "the
//! deployment before", a point read by execution id, the small open-incident partition, or a
//! time range; none reads a pipeline's whole history.

use serde::Serialize;
use serde::de::DeserializeOwned;
use tollgate::state::{Record, SkRange, StateError, StateStore, Write};

use crate::model::{Deployment, Failure, Incident, LeadTimes, PipelineLedger};

/// The partition key of the pipeline index.
pub const PIPELINES_PK: &str = "DORA#PIPELINES";

/// The default of `DORA_RETENTION_DAYS` (parameter `DoraRetentionDays`): a year and a month, enough
/// for a year-over-year report.
pub const DEFAULT_RETENTION_DAYS: u32 = 400;

/// How long ledger items are kept: DynamoDB may delete each this many days after its event time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    pub days: u32,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            days: DEFAULT_RETENTION_DAYS,
        }
    }
}

impl Retention {
    /// The `expires_at` of an item whose event time is `time` (epoch seconds).
    pub fn expires_at(self, time: i64) -> i64 {
        time.saturating_add(i64::from(self.days) * 86_400)
    }
}

/// `DORA#DEPLOY#<pipeline>`.
pub fn deploy_pk(pipeline: &str) -> String {
    format!("DORA#DEPLOY#{pipeline}")
}
/// `DORA#EXEC#<pipeline>`.
pub fn exec_pk(pipeline: &str) -> String {
    format!("DORA#EXEC#{pipeline}")
}
/// `DORA#LEAD#<pipeline>`.
pub fn lead_pk(pipeline: &str) -> String {
    format!("DORA#LEAD#{pipeline}")
}
/// `DORA#FAILED#<pipeline>`.
pub fn failed_pk(pipeline: &str) -> String {
    format!("DORA#FAILED#{pipeline}")
}
/// `DORA#INCIDENT#<pipeline>`.
pub fn incident_pk(pipeline: &str) -> String {
    format!("DORA#INCIDENT#{pipeline}")
}
/// `DORA#OPEN#<pipeline>`: the pipeline's open incidents.
pub fn open_pk(pipeline: &str) -> String {
    format!("DORA#OPEN#{pipeline}")
}
/// `DORA#EMITTED#<metric>`: the datapoint-dedupe markers of one metric.
pub fn emitted_pk(metric: &str) -> String {
    format!("DORA#EMITTED#{metric}")
}

/// The time-ordered sort key `<t>#<id>` (times before 1970 sort as 0).
pub fn time_sk(time: i64, id: &str) -> String {
    format!("{:012}#{id}", time.max(0))
}

/// The first sort key at `time`.
fn time_floor(time: i64) -> String {
    format!("{:012}#", time.max(0))
}

/// A sort key after every `<t>#<id>` at `time` (U+10FFFF sorts after every id byte).
fn time_ceiling(time: i64) -> String {
    format!("{:012}#\u{10FFFF}", time.max(0))
}

fn corrupt(record: &Record, reason: impl ToString) -> StateError {
    StateError::Corrupt {
        pk: record.pk.clone(),
        sk: record.sk.clone(),
        reason: reason.to_string(),
    }
}

fn decode<T: DeserializeOwned>(record: &Record) -> Result<T, StateError> {
    serde_json::from_value(record.data.clone()).map_err(|e| corrupt(record, e))
}

fn encode<T: Serialize>(value: &T) -> Result<serde_json::Value, StateError> {
    serde_json::to_value(value).map_err(|e| StateError::Sdk(format!("cannot encode: {e}")))
}

/// The records of `pk` with event times in `from..=to`, oldest first.
async fn between<T: DeserializeOwned>(
    store: &impl StateStore,
    pk: &str,
    from: i64,
    to: i64,
) -> Result<Vec<T>, StateError> {
    let (lo, hi) = (time_floor(from), time_ceiling(to));
    store
        .query_range(pk, SkRange { from: &lo, to: &hi }, None, false)
        .await?
        .iter()
        .map(decode)
        .collect()
}

/// Every pipeline's ledger with event times in `from..=to`, plus every incident open now.
///
/// Pipelines come from the `DORA#PIPELINES` index, in name order; within one, records are sorted
/// by time (then id). Reads only the window: its cost is the window's records, not the history.
pub async fn load_window(
    store: &impl StateStore,
    from: i64,
    to: i64,
) -> Result<Vec<PipelineLedger>, StateError> {
    let mut ledgers = Vec::new();
    for index in store.query(PIPELINES_PK).await? {
        ledgers.push(pipeline_window(store, &index.sk, from, to).await?);
    }
    Ok(ledgers)
}

/// Every pipeline's whole ledger (all records still kept).
pub async fn load(store: &impl StateStore) -> Result<Vec<PipelineLedger>, StateError> {
    load_window(store, 0, i64::MAX / 2).await
}

/// One pipeline's whole ledger.
pub async fn pipeline(store: &impl StateStore, name: &str) -> Result<PipelineLedger, StateError> {
    pipeline_window(store, name, 0, i64::MAX / 2).await
}

/// One pipeline's records with event times in `from..=to`, and its open incidents.
pub async fn pipeline_window(
    store: &impl StateStore,
    name: &str,
    from: i64,
    to: i64,
) -> Result<PipelineLedger, StateError> {
    let deployments: Vec<Deployment> = between(store, &deploy_pk(name), from, to).await?;
    let lead_times: Vec<LeadTimes> = between(store, &lead_pk(name), from, to).await?;
    let failures: Vec<Failure> = between(store, &failed_pk(name), from, to).await?;
    let mut incidents: Vec<Incident> = between(store, &incident_pk(name), from, to).await?;
    for open in open_incidents(store, name).await? {
        if !incidents.iter().any(|i| i.id == open.id) {
            incidents.push(open);
        }
    }
    incidents.sort_by(|a, b| (a.created, &a.id).cmp(&(b.created, &b.id)));
    Ok(PipelineLedger {
        pipeline: name.to_string(),
        deployments,
        lead_times,
        failures,
        incidents,
    })
}

/// Creates `record` unless its key exists; true when this call created it.
async fn create_once(store: &impl StateStore, record: Record) -> Result<bool, StateError> {
    match store.create(&record).await {
        Ok(()) => Ok(true),
        Err(StateError::AlreadyExists { .. }) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Adds `pipeline` to the index (once).
pub async fn index_pipeline(store: &impl StateStore, pipeline: &str) -> Result<(), StateError> {
    let record =
        Record::new(PIPELINES_PK, pipeline).with_data(serde_json::json!({ "pipeline": pipeline }));
    create_once(store, record).await.map(|_| ())
}

fn expiring(record: Record, retention: Retention, time: i64) -> Record {
    Record {
        expires_at: Some(retention.expires_at(time)),
        ..record
    }
}

/// Records a production deployment once per execution id. Returns the ledger's deployment: the
/// one given when this call recorded it, the one already there on a duplicate.
pub async fn record_deployment(
    store: &impl StateStore,
    deployment: &Deployment,
    retention: Retention,
) -> Result<Deployment, StateError> {
    index_pipeline(store, &deployment.pipeline).await?;
    let data = encode(deployment)?;
    let by_exec = Record::new(exec_pk(&deployment.pipeline), &deployment.execution_id)
        .with_data(data.clone());
    let by_time = Record::new(
        deploy_pk(&deployment.pipeline),
        time_sk(deployment.time, &deployment.execution_id),
    )
    .with_data(data);
    let writes = [
        Write::Create(expiring(by_exec, retention, deployment.time)),
        Write::Create(expiring(by_time, retention, deployment.time)),
    ];
    match store.write_all(&writes).await {
        Ok(()) => Ok(deployment.clone()),
        Err(StateError::AlreadyExists { .. }) | Err(StateError::TransactionConflict) => Ok(
            deployment_by_execution(store, &deployment.pipeline, &deployment.execution_id)
                .await?
                .unwrap_or_else(|| deployment.clone()),
        ),
        Err(e) => Err(e),
    }
}

/// The deployment of `execution_id`, if it is recorded (one point read).
pub async fn deployment_by_execution(
    store: &impl StateStore,
    pipeline: &str,
    execution_id: &str,
) -> Result<Option<Deployment>, StateError> {
    match store.get(&exec_pk(pipeline), execution_id).await? {
        Some(record) => decode(&record).map(Some),
        None => Ok(None),
    }
}

/// How many deployments one reverse query reads while looking for the one before.
const PAGE: usize = 10;

/// The pipeline's latest deployment before `this` (by time, then execution id) that `accept`s,
/// read newest first: usually one query of two items (`this` and the one before), then pages of
/// [`PAGE`] while it skips rollbacks.
async fn latest_before(
    store: &impl StateStore,
    this: &Deployment,
    accept: impl Fn(&Deployment) -> bool,
) -> Result<Option<Deployment>, StateError> {
    let pk = deploy_pk(&this.pipeline);
    let floor = time_floor(0);
    let mut upper = time_sk(this.time, &this.execution_id);
    // The first page is `this` and the one before it; later ones (past rollbacks) are larger.
    let mut size = 2;
    loop {
        let page = store
            .query_range(
                &pk,
                SkRange {
                    from: &floor,
                    to: &upper,
                },
                Some(size),
                true,
            )
            .await?;
        let full = page.len() == size;
        size = PAGE;
        for record in &page {
            if record.sk == upper {
                continue; // `this` itself (the range is inclusive)
            }
            let d: Deployment = decode(record)?;
            if d.execution_id != this.execution_id
                && (d.time, &d.execution_id) < (this.time, &this.execution_id)
                && accept(&d)
            {
                return Ok(Some(d));
            }
        }
        match page.last() {
            Some(last) if full && last.sk != upper => upper = last.sk.clone(),
            _ => return Ok(None),
        }
    }
}

/// The deployment `this` shipped on top of: the latest non-rollback deployment before it
/// (see [`crate::decide::previous_deployment`]), with one bounded reverse query.
pub async fn previous_deployment(
    store: &impl StateStore,
    this: &Deployment,
) -> Result<Option<Deployment>, StateError> {
    latest_before(store, this, |d| !d.is_rollback()).await
}

/// The pipeline's latest deployment at or before `time` (any kind): one `Limit 1` reverse query.
pub async fn latest_at_or_before(
    store: &impl StateStore,
    pipeline: &str,
    time: i64,
) -> Result<Option<Deployment>, StateError> {
    let (lo, hi) = (time_floor(0), time_ceiling(time));
    let page = store
        .query_range(
            &deploy_pk(pipeline),
            SkRange { from: &lo, to: &hi },
            Some(1),
            true,
        )
        .await?;
    page.first().map(decode).transpose()
}

/// The pipeline's deployments with times in `from..=to`, oldest first.
pub async fn deployments_between(
    store: &impl StateStore,
    pipeline: &str,
    from: i64,
    to: i64,
) -> Result<Vec<Deployment>, StateError> {
    between(store, &deploy_pk(pipeline), from, to).await
}

/// The lead times recorded for `deployment`, if any (one point read).
pub async fn lead_times_of(
    store: &impl StateStore,
    deployment: &Deployment,
) -> Result<Option<LeadTimes>, StateError> {
    let sk = time_sk(deployment.time, &deployment.execution_id);
    match store.get(&lead_pk(&deployment.pipeline), &sk).await? {
        Some(record) => decode(&record).map(Some),
        None => Ok(None),
    }
}

/// The pipeline's first non-rollback deployment after `this` (by time, then execution id): one
/// forward query, usually of two items.
pub async fn next_deployment(
    store: &impl StateStore,
    this: &Deployment,
) -> Result<Option<Deployment>, StateError> {
    let pk = deploy_pk(&this.pipeline);
    let mut lower = time_sk(this.time, &this.execution_id);
    let ceiling = time_ceiling(i64::MAX / 2);
    let mut size = 2;
    loop {
        let page = store
            .query_range(
                &pk,
                SkRange {
                    from: &lower,
                    to: &ceiling,
                },
                Some(size),
                false,
            )
            .await?;
        let full = page.len() == size;
        size = PAGE;
        for record in &page {
            if record.sk == lower {
                continue;
            }
            let d: Deployment = decode(record)?;
            if d.execution_id != this.execution_id && !d.is_rollback() {
                return Ok(Some(d));
            }
        }
        match page.last() {
            Some(last) if full && last.sk != lower => lower = last.sk.clone(),
            _ => return Ok(None),
        }
    }
}

/// The state of a lead-time record (so that a correction can replace it).
const RECORDED: &str = "RECORDED";

/// Replaces the lead times of a deployment (a late earlier deployment corrected them).
pub async fn replace_lead_times(
    store: &impl StateStore,
    lead: &LeadTimes,
) -> Result<(), StateError> {
    let sk = time_sk(lead.time, &lead.execution_id);
    match store
        .transition(
            &lead_pk(&lead.pipeline),
            &sk,
            RECORDED,
            RECORDED,
            Some(&encode(lead)?),
        )
        .await
    {
        Ok(()) => Ok(()),
        Err(StateError::TransitionNotAllowed { .. }) => {
            tracing::warn!(execution_id = %lead.execution_id, "lead times not replaceable (recorded before corrections existed)");
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// Records the lead times of a deployment (once).
pub async fn record_lead_times(
    store: &impl StateStore,
    lead: &LeadTimes,
    retention: Retention,
) -> Result<(), StateError> {
    let record = Record::new(
        lead_pk(&lead.pipeline),
        time_sk(lead.time, &lead.execution_id),
    )
    .with_state(RECORDED)
    .with_data(encode(lead)?);
    create_once(store, expiring(record, retention, lead.time))
        .await
        .map(|_| ())
}

/// Marks a deployment failed, or adds `cause` to its causes. True when the deployment was not
/// failed before (so its one `FailedDeploymentCount` datapoint is due).
pub async fn record_failure(
    store: &impl StateStore,
    deployment: &Deployment,
    cause: &str,
    retention: Retention,
) -> Result<bool, StateError> {
    let pk = failed_pk(&deployment.pipeline);
    let sk = time_sk(deployment.time, &deployment.execution_id);
    let failure = Failure {
        pipeline: deployment.pipeline.clone(),
        execution_id: deployment.execution_id.clone(),
        time: deployment.time,
        causes: vec![cause.to_string()],
    };
    let record = Record::new(&pk, &sk)
        .with_state("FAILED")
        .with_data(encode(&failure)?);
    if create_once(store, expiring(record, retention, deployment.time)).await? {
        return Ok(true);
    }
    // Already failed: add the cause (best effort: a lost race only loses a cause's name).
    if let Some(existing) = store.get(&pk, &sk).await? {
        let mut known: Failure = decode(&existing)?;
        if !known.causes.iter().any(|c| c == cause) {
            known.causes.push(cause.to_string());
            known.causes.sort();
            let state = existing.state.as_deref().unwrap_or("FAILED");
            match store
                .transition(&pk, &sk, state, state, Some(&encode(&known)?))
                .await
            {
                Ok(()) | Err(StateError::TransitionNotAllowed { .. }) => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(false)
}

/// The incident as recorded (by the OpsItem id and its creation time), if it is.
pub async fn incident(
    store: &impl StateStore,
    pipeline: &str,
    created: i64,
    id: &str,
) -> Result<Option<Incident>, StateError> {
    match store
        .get(&incident_pk(pipeline), &time_sk(created, id))
        .await?
    {
        Some(record) => decode(&record).map(Some),
        None => Ok(None),
    }
}

/// The pipeline's open incidents: the small `DORA#OPEN#` partition, not its history.
pub async fn open_incidents(
    store: &impl StateStore,
    pipeline: &str,
) -> Result<Vec<Incident>, StateError> {
    store
        .query(&open_pk(pipeline))
        .await?
        .iter()
        .map(decode)
        .collect()
}

const OPEN: &str = "OPEN";
const RESTORED: &str = "RESTORED";

/// Records an incident once (open, or already restored); returns the ledger's incident (the
/// existing one on a duplicate).
pub async fn record_incident(
    store: &impl StateStore,
    incident: &Incident,
    retention: Retention,
) -> Result<Incident, StateError> {
    index_pipeline(store, &incident.pipeline).await?;
    let pk = incident_pk(&incident.pipeline);
    let sk = time_sk(incident.created, &incident.id);
    let data = encode(incident)?;
    let state = if incident.restored.is_some() {
        RESTORED
    } else {
        OPEN
    };
    let mut writes = vec![Write::Create(expiring(
        Record::new(&pk, &sk)
            .with_state(state)
            .with_data(data.clone()),
        retention,
        incident.created,
    ))];
    if incident.restored.is_none() {
        writes.push(Write::Create(expiring(
            Record::new(open_pk(&incident.pipeline), &incident.id).with_data(data),
            retention,
            incident.created,
        )));
    }
    match store.write_all(&writes).await {
        Ok(()) => Ok(incident.clone()),
        Err(StateError::AlreadyExists { .. }) | Err(StateError::TransactionConflict) => {
            match store.get(&pk, &sk).await? {
                Some(existing) => decode(&existing),
                None => Ok(incident.clone()),
            }
        }
        Err(e) => Err(e),
    }
}

/// Fills in the restore time of an open incident, once, and takes it off the open list. True
/// when this call did it; false when it was already restored (by another event).
pub async fn restore_incident(
    store: &impl StateStore,
    incident: &Incident,
    restored: i64,
) -> Result<bool, StateError> {
    let mut done = incident.clone();
    done.restored = Some(restored);
    let changed = match store
        .transition(
            &incident_pk(&incident.pipeline),
            &time_sk(incident.created, &incident.id),
            OPEN,
            RESTORED,
            Some(&encode(&done)?),
        )
        .await
    {
        Ok(()) => true,
        Err(StateError::TransitionNotAllowed { .. }) => false,
        Err(e) => return Err(e),
    };
    store
        .delete(&open_pk(&incident.pipeline), &incident.id)
        .await?;
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_keys_sort_by_time_then_id() {
        let mut keys = vec![
            time_sk(1_700_000_100, "a"),
            time_sk(999, "z"),
            time_sk(1_700_000_000, "b"),
            time_sk(-5, "x"),
        ];
        keys.sort();
        assert_eq!(
            keys,
            vec![
                time_sk(-5, "x"),
                time_sk(999, "z"),
                time_sk(1_700_000_000, "b"),
                time_sk(1_700_000_100, "a"),
            ]
        );
        assert!(time_floor(999) <= time_sk(999, "z") && time_sk(999, "z") <= time_ceiling(999));
        assert!(time_ceiling(999) < time_floor(1000));
    }

    #[test]
    fn retention_expires_items_days_after_their_event_time() {
        assert_eq!(Retention { days: 400 }.expires_at(0), 400 * 86_400);
        assert_eq!(Retention::default().days, 400);
    }
}
