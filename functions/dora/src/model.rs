//! The DORA domain: deployments, lead times, failures and incidents as the ledger holds them (no I/O).
//!
//! This file is the contract between the calculators (which write the ledger) and the report
//! (which reads it): add fields with `#[serde(default)]`, never rename or remove one.

use serde::{Deserialize, Serialize};

/// The metric every production deployment adds one datapoint of (value 1, unit Count).
pub const DEPLOYMENT_COUNT: &str = "DeploymentCount";
/// One datapoint per newly deployed commit: deployment time − commit time (unit Seconds).
pub const LEAD_TIME_FOR_CHANGES: &str = "LeadTimeForChanges";
/// One datapoint per failed production deployment (value 1, unit Count), at the deployment's time.
pub const FAILED_DEPLOYMENT_COUNT: &str = "FailedDeploymentCount";
/// DORA's **failed deployment recovery time** (formerly "time to restore"): one datapoint per
/// restored incident, restore time − OpsItem creation time (unit Seconds). The metric keeps the
/// name `TimeToRestore`: dashboards and alarms in the field read it.
pub const TIME_TO_RESTORE: &str = "TimeToRestore";
/// The same metric under DORA's current name (an alias of [`TIME_TO_RESTORE`]).
pub const FAILED_DEPLOYMENT_RECOVERY_TIME: &str = TIME_TO_RESTORE;
/// One datapoint per production deployment that is rework (value 1, unit Count), at the
/// deployment's time: see [`crate::decide::rework`].
pub const REWORK_DEPLOYMENT_COUNT: &str = "ReworkDeploymentCount";
/// Every metric Tollgate's DORA calculators write; the dashboard reads exactly these.
pub const METRICS: [&str; 5] = [
    DEPLOYMENT_COUNT,
    LEAD_TIME_FOR_CHANGES,
    FAILED_DEPLOYMENT_COUNT,
    TIME_TO_RESTORE,
    REWORK_DEPLOYMENT_COUNT,
];
/// The per-pipeline dimension (the all-pipelines series has no dimension).
pub const PIPELINE_DIMENSION: &str = "Pipeline";
/// The default namespace (`METRICS_NAMESPACE`).
pub const DEFAULT_NAMESPACE: &str = "DORA";

/// The execution trigger types that roll back rather than ship a change.
pub const ROLLBACK_TRIGGERS: [&str; 2] = ["AutomatedRollback", "ManualRollback"];

/// One production deployment: a SUCCEEDED production execution (or production stage), recorded
/// once per execution id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Deployment {
    pub pipeline: String,
    pub execution_id: String,
    /// When it reached production (epoch seconds): the event's time.
    pub time: i64,
    /// The deployed commit SHA, when known.
    #[serde(default)]
    pub commit: Option<String>,
    /// `owner/name` for GitHub, the repository name for CodeCommit, when known.
    #[serde(default)]
    pub repository: Option<String>,
    #[serde(default)]
    pub branch: Option<String>,
    /// The commit's message (first line is enough), when known: it may name an OpsItem (`oi-…`).
    #[serde(default)]
    pub commit_message: Option<String>,
    /// CodePipeline's trigger type (`Webhook`, `StartPipelineExecution`, `AutomatedRollback`, …).
    #[serde(default)]
    pub trigger_type: Option<String>,
}

impl Deployment {
    /// A rollback is recorded but ships no new change.
    pub fn is_rollback(&self) -> bool {
        self.trigger_type
            .as_deref()
            .is_some_and(|t| ROLLBACK_TRIGGERS.contains(&t))
    }
}

/// The lead times of one deployment's newly deployed commits, in seconds (one per commit).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LeadTimes {
    pub pipeline: String,
    pub execution_id: String,
    /// The deployment's time (epoch seconds).
    pub time: i64,
    /// One value per newly deployed commit, at most [`MAX_LEAD_TIMES`] of them.
    pub seconds: Vec<i64>,
    /// Set when the deployment shipped more commits than were read (GitHub's compare is capped
    /// at 1,000 commits): how many it shipped. `seconds` then holds the first (oldest) ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truncated_from: Option<u64>,
    /// The commit they were measured from (the previous deployment's), when there was one: a
    /// deployment that arrives late between the two corrects them (see `docs/dora.md`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_commit: Option<String>,
}

/// At most this many lead times are stored per deployment (about 12 KB of JSON, far below
/// DynamoDB's 400 KB item limit), whatever the commit count.
pub const MAX_LEAD_TIMES: usize = 1_000;

/// A production deployment marked as failed (by a linked OpsItem or by a rollback).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Failure {
    pub pipeline: String,
    pub execution_id: String,
    /// The failed deployment's time (epoch seconds).
    pub time: i64,
    /// What marked it: `oi-…` ids and/or `rollback:<execution id>`.
    #[serde(default)]
    pub causes: Vec<String>,
}

/// An incident: an OpsItem linked to a pipeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Incident {
    /// The OpsItem id (`oi-…`).
    pub id: String,
    pub pipeline: String,
    /// The production deployment it is attributed to, when there is one.
    #[serde(default)]
    pub execution_id: Option<String>,
    /// The OpsItem's creation time (epoch seconds).
    pub created: i64,
    /// When service was restored (epoch seconds): the first of a fixing deployment and the
    /// OpsItem's resolution. `None` while it is open.
    #[serde(default)]
    pub restored: Option<i64>,
}

impl Incident {
    /// Seconds from creation to restoration, once restored.
    pub fn time_to_restore(&self) -> Option<i64> {
        self.restored.map(|r| r.saturating_sub(self.created).max(0))
    }
}

/// Everything the ledger holds about one pipeline (what the report reads).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PipelineLedger {
    pub pipeline: String,
    pub deployments: Vec<Deployment>,
    pub lead_times: Vec<LeadTimes>,
    pub failures: Vec<Failure>,
    pub incidents: Vec<Incident>,
}
