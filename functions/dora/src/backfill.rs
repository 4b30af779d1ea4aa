//! Backfill: replays the pipelines' recent history through the same calculators as live events.
//!
//! Each SUCCEEDED execution of a production pipeline (ListPipelines, then ListPipelineExecutions,
//! every page) within the last N days becomes the same [`DeploymentInput`] a live event builds,
//! with the execution's `lastUpdateTime` as the event time, oldest first, and goes through all
//! four calculators. Live events of the same executions then find everything already written, so
//! backfill followed by live events gives exactly the ledger and datapoints of live events alone.
//!
//! What differs for a pipeline with a `PROD_STAGE_NAME` stage: the execution history has no
//! stage times, so the deployment time is the execution's end, not the production stage's; and
//! an execution that failed after its production stage succeeded is not replayed.
//!
//! Then the OpsItems of the backfill's account created in the window (DescribeOpsItems, then
//! GetOpsItem each) go through the change-failure-rate and recovery-time calculators, after the
//! deployments they are attributed to. A resolved OpsItem's resolution time is then its
//! LastModifiedTime, the only record of it without an event; an incident already restored by a
//! live event keeps the event's time (restores are recorded once).

use tollgate::state::StateStore;

use crate::adapters::{CommitHistory, MetricSink, OpsItems, PipelineHistory};
use crate::error::DoraError;
use crate::handler::{Calculator, DeploymentInput, Deps, Outcome};

/// Where a backfill is: `done` of `total` executions, the last one in `pipeline`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    pub pipeline: String,
    pub done: usize,
    pub total: usize,
}

/// What a backfill did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackfillSummary {
    /// Production pipelines replayed.
    pub pipelines: usize,
    /// Succeeded executions replayed (each a production deployment unless off the main branch).
    pub executions: usize,
    /// Of them, those recorded as production deployments.
    pub deployments: usize,
    /// OpsItems created in the window, replayed (DescribeOpsItems, then GetOpsItem each).
    pub ops_items: usize,
    /// New datapoints written (0 when everything was already there).
    pub datapoints: usize,
}

/// Replays the last `days` days (before `now`, epoch seconds) of every production pipeline's
/// history through the four calculators, calling `progress` after each execution. Idempotent
/// with live events and with itself.
pub async fn backfill<S, M, P, O, C>(
    deps: &Deps<S, M, P, O, C>,
    days: u32,
    now: i64,
    progress: &mut dyn FnMut(Progress),
) -> Result<BackfillSummary, DoraError>
where
    S: StateStore,
    M: MetricSink,
    P: PipelineHistory,
    O: OpsItems,
    C: CommitHistory,
{
    let since = now - i64::from(days) * 86_400;
    let mut inputs: Vec<DeploymentInput> = Vec::new();
    let mut summary = BackfillSummary::default();
    let mut pipelines = deps.pipelines.pipelines().await?;
    pipelines.retain(|p| deps.settings.prod_pipelines.matches(p));
    pipelines.sort();
    for pipeline in &pipelines {
        let mut runs: Vec<DeploymentInput> = deps
            .pipelines
            .executions(pipeline, since)
            .await?
            .into_iter()
            .filter(|e| e.status == "Succeeded")
            .filter_map(|e| {
                Some(DeploymentInput {
                    pipeline: pipeline.clone(),
                    time: e.last_update.filter(|t| *t >= since && *t <= now)?,
                    execution_id: e.execution_id,
                    trigger_type: e.trigger_type,
                })
            })
            .collect();
        runs.sort_by(|a, b| (a.time, &a.execution_id).cmp(&(b.time, &b.execution_id)));
        inputs.extend(runs);
    }
    summary.pipelines = pipelines.len();
    let total = inputs.len();
    for (i, input) in inputs.iter().enumerate() {
        if let Outcome::Recorded { datapoints } =
            deps.deployment(&Calculator::ALL, input, now).await?
        {
            summary.deployments += 1;
            summary.datapoints += datapoints;
        }
        summary.executions += 1;
        progress(Progress {
            pipeline: input.pipeline.clone(),
            done: i + 1,
            total,
        });
    }
    // Then the window's OpsItems, after the deployments they are attributed to.
    for id in deps.ops_items.created_since(since).await? {
        summary.datapoints += deps.replay_ops_item(&id, now).await?;
        summary.ops_items += 1;
    }
    // Now that the window's incidents are known, the deployments made during one are rework
    // (once: a second backfill finds the markers).
    for pipeline in &pipelines {
        let ledger = crate::ledger::pipeline_window(&deps.store, pipeline, since, now).await?;
        for d in &ledger.deployments {
            summary.datapoints += deps.rework_once(d, &ledger.incidents, now).await?;
        }
    }
    Ok(summary)
}
