//! The deployment ledger in the state table: keys, idempotent writes and the whole-ledger read.
//!
//! Layout (the report reads exactly this):
//! - `DORA#PIPELINES` / `<pipeline>`: one index record per pipeline;
//! - `DORA#DEPLOY#<pipeline>` / `<executionId>`: a [`Deployment`];
//! - `DORA#LEAD#<pipeline>` / `<executionId>`: its [`LeadTimes`];
//! - `DORA#FAILED#<pipeline>` / `<executionId>`: a [`Failure`];
//! - `DORA#INCIDENT#<pipeline>` / `<opsItemId>`: an [`Incident`];
//! - `DORA#EMITTED#<metric>` / `<pipeline>#<id>`: a datapoint-dedupe marker (TTL'd).

use serde::Serialize;
use serde::de::DeserializeOwned;
use tollgate::state::{Record, StateError, StateStore};

use crate::model::{Deployment, Failure, Incident, LeadTimes, PipelineLedger};

/// The partition key of the pipeline index.
pub const PIPELINES_PK: &str = "DORA#PIPELINES";

/// `DORA#DEPLOY#<pipeline>`.
pub fn deploy_pk(pipeline: &str) -> String {
    format!("DORA#DEPLOY#{pipeline}")
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
/// `DORA#EMITTED#<metric>`: the datapoint-dedupe markers of one metric.
pub fn emitted_pk(metric: &str) -> String {
    format!("DORA#EMITTED#{metric}")
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

async fn all<T: DeserializeOwned>(store: &impl StateStore, pk: &str) -> Result<Vec<T>, StateError> {
    store.query(pk).await?.iter().map(decode).collect()
}

/// Every pipeline's ledger (all records; the report filters by time).
///
/// Pipelines come from the `DORA#PIPELINES` index, in name order; within one, deployments are
/// sorted by time (then execution id), the other records likewise.
pub async fn load(store: &impl StateStore) -> Result<Vec<PipelineLedger>, StateError> {
    let mut ledgers = Vec::new();
    for index in store.query(PIPELINES_PK).await? {
        ledgers.push(pipeline(store, &index.sk).await?);
    }
    Ok(ledgers)
}

/// One pipeline's ledger.
pub async fn pipeline(store: &impl StateStore, name: &str) -> Result<PipelineLedger, StateError> {
    let mut deployments: Vec<Deployment> = all(store, &deploy_pk(name)).await?;
    deployments.sort_by(|a, b| (a.time, &a.execution_id).cmp(&(b.time, &b.execution_id)));
    let mut lead_times: Vec<LeadTimes> = all(store, &lead_pk(name)).await?;
    lead_times.sort_by(|a, b| (a.time, &a.execution_id).cmp(&(b.time, &b.execution_id)));
    let mut failures: Vec<Failure> = all(store, &failed_pk(name)).await?;
    failures.sort_by(|a, b| (a.time, &a.execution_id).cmp(&(b.time, &b.execution_id)));
    let mut incidents: Vec<Incident> = all(store, &incident_pk(name)).await?;
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

/// Records a production deployment once per execution id. Returns the ledger's deployment: the
/// one given when this call recorded it, the one already there on a duplicate.
pub async fn record_deployment(
    store: &impl StateStore,
    deployment: &Deployment,
) -> Result<Deployment, StateError> {
    index_pipeline(store, &deployment.pipeline).await?;
    let pk = deploy_pk(&deployment.pipeline);
    let record = Record::new(&pk, &deployment.execution_id).with_data(encode(deployment)?);
    if create_once(store, record).await? {
        return Ok(deployment.clone());
    }
    match store.get(&pk, &deployment.execution_id).await? {
        Some(existing) => decode(&existing),
        None => Ok(deployment.clone()),
    }
}

/// The pipeline's deployments, by time.
pub async fn deployments(
    store: &impl StateStore,
    pipeline: &str,
) -> Result<Vec<Deployment>, StateError> {
    let mut all: Vec<Deployment> = all(store, &deploy_pk(pipeline)).await?;
    all.sort_by(|a, b| (a.time, &a.execution_id).cmp(&(b.time, &b.execution_id)));
    Ok(all)
}

/// Records the lead times of a deployment (once).
pub async fn record_lead_times(
    store: &impl StateStore,
    lead: &LeadTimes,
) -> Result<(), StateError> {
    let record = Record::new(lead_pk(&lead.pipeline), &lead.execution_id).with_data(encode(lead)?);
    create_once(store, record).await.map(|_| ())
}

/// Marks a deployment failed, or adds `cause` to its causes. True when the deployment was not
/// failed before (so its one `FailedDeploymentCount` datapoint is due).
pub async fn record_failure(
    store: &impl StateStore,
    deployment: &Deployment,
    cause: &str,
) -> Result<bool, StateError> {
    let pk = failed_pk(&deployment.pipeline);
    let failure = Failure {
        pipeline: deployment.pipeline.clone(),
        execution_id: deployment.execution_id.clone(),
        time: deployment.time,
        causes: vec![cause.to_string()],
    };
    let record = Record::new(&pk, &deployment.execution_id)
        .with_state("FAILED")
        .with_data(encode(&failure)?);
    if create_once(store, record).await? {
        return Ok(true);
    }
    // Already failed: add the cause (best effort: a lost race only loses a cause's name).
    if let Some(existing) = store.get(&pk, &deployment.execution_id).await? {
        let mut known: Failure = decode(&existing)?;
        if !known.causes.iter().any(|c| c == cause) {
            known.causes.push(cause.to_string());
            known.causes.sort();
            let state = existing.state.as_deref().unwrap_or("FAILED");
            match store
                .transition(
                    &pk,
                    &deployment.execution_id,
                    state,
                    state,
                    Some(&encode(&known)?),
                )
                .await
            {
                Ok(()) | Err(StateError::TransitionNotAllowed { .. }) => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(false)
}

/// The incident as recorded, if it is.
pub async fn incident(
    store: &impl StateStore,
    pipeline: &str,
    id: &str,
) -> Result<Option<Incident>, StateError> {
    match store.get(&incident_pk(pipeline), id).await? {
        Some(record) => decode(&record).map(Some),
        None => Ok(None),
    }
}

/// The pipeline's incidents.
pub async fn incidents(
    store: &impl StateStore,
    pipeline: &str,
) -> Result<Vec<Incident>, StateError> {
    all(store, &incident_pk(pipeline)).await
}

/// Records an open incident once; returns the ledger's incident (the existing one on a duplicate).
pub async fn record_incident(
    store: &impl StateStore,
    incident: &Incident,
) -> Result<Incident, StateError> {
    index_pipeline(store, &incident.pipeline).await?;
    let pk = incident_pk(&incident.pipeline);
    let state = if incident.restored.is_some() {
        RESTORED
    } else {
        OPEN
    };
    let record = Record::new(&pk, &incident.id)
        .with_state(state)
        .with_data(encode(incident)?);
    if create_once(store, record).await? {
        return Ok(incident.clone());
    }
    match store.get(&pk, &incident.id).await? {
        Some(existing) => decode(&existing),
        None => Ok(incident.clone()),
    }
}

const OPEN: &str = "OPEN";
const RESTORED: &str = "RESTORED";

/// Fills in the restore time of an open incident, once. True when this call did it; false when
/// it was already restored (by another event).
pub async fn restore_incident(
    store: &impl StateStore,
    incident: &Incident,
    restored: i64,
) -> Result<bool, StateError> {
    let mut done = incident.clone();
    done.restored = Some(restored);
    match store
        .transition(
            &incident_pk(&incident.pipeline),
            &incident.id,
            OPEN,
            RESTORED,
            Some(&encode(&done)?),
        )
        .await
    {
        Ok(()) => Ok(true),
        Err(StateError::TransitionNotAllowed { .. }) => Ok(false),
        Err(e) => Err(e),
    }
}
