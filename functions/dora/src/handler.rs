//! The four calculators: an event in, the ledger and the datapoints out, idempotently.
//!
//! Every calculator that receives a production-deployment event first records the deployment
//! (the same record whichever function writes it: the event's time and trigger type, the commit,
//! repository, branch and message from GetPipelineExecution's artifact revision and the source
//! action's output variables), then does its own part. CodePipeline's events carry no commit, so
//! the commit always comes from GetPipelineExecution; the trigger type comes from the event's
//! `execution-trigger` when it has one (stage events do not), else from GetPipelineExecution.
//!
//! Duplicates: ledger records are conditional creates, and each datapoint request is preceded by
//! a marker (`DORA#EMITTED#<metric>` / `<pipeline>#<id>`), removed again if CloudWatch fails, so
//! a replayed or retried event never adds a datapoint twice.
//!
//! Out of order: each calculator reads the ledger as it is when the event arrives. Deployment
//! counts, failures and restorations do not depend on the order. Lead time would where two
//! deployments of one pipeline arrive in reverse order; the earlier one, handled last, takes its
//! commits back from the later one's ledger record (see `docs/dora.md`, out-of-order deliveries).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::Value;
use tollgate::state::{Record, StateError, StateStore};

use crate::adapters::{
    CommitHistory, Compared, Datapoint, ExecutionSource, MAX_POINTS_PER_PUT, MetricSink, OpsItems,
    PipelineHistory, Unit,
};
use crate::decide::{
    PipelineFilter, Signal, branch_counts, fixes, identity, is_branch_pipeline,
    is_production_deployment, lead_times, linked_identities, restore_time, rework, split_identity,
    within_cloudwatch_window,
};
use crate::error::DoraError;
use crate::events::{self, Trigger};
use crate::ledger;
use crate::model::{
    DEPLOYMENT_COUNT, Deployment, FAILED_DEPLOYMENT_COUNT, Incident, LEAD_TIME_FOR_CHANGES,
    LeadTimes, MAX_LEAD_TIMES, REWORK_DEPLOYMENT_COUNT, TIME_TO_RESTORE,
};

/// How long a datapoint-dedupe marker is kept: past it, CloudWatch refuses the datapoint anyway.
pub const MARKER_TTL: Duration = Duration::from_secs(15 * 86_400);

/// The settings every calculator reads once per cold start.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `METRICS_NAMESPACE` (default `DORA`).
    pub namespace: String,
    /// `PROD_PIPELINES` (default `*`).
    pub prod_pipelines: PipelineFilter,
    /// `PROD_STAGE_NAME` (default `DeployPROD`).
    pub prod_stage: String,
    /// `DEFAULT_MAIN_BRANCH` (default `main`).
    pub main_branch: String,
    /// `HOME_ACCOUNT_ID`: the function's own account. Pipelines of other accounts are
    /// `<account>/<name>`; unset, every event is treated as the function's own.
    pub home_account: Option<String>,
    /// `DORA_RETENTION_DAYS` (parameter `DoraRetentionDays`, default 400): ledger items expire
    /// that many days after their event time.
    pub retention: ledger::Retention,
    /// `BRANCH_STACK_PREFIX` (parameter `BranchStackPrefix`): pipelines named `<prefix>-…` are
    /// Tollgate's branch pipelines, never production.
    pub branch_prefix: Option<String>,
}

/// One of the four keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Calculator {
    DeploymentFrequency,
    LeadTime,
    ChangeFailureRate,
    TimeToRestore,
}

impl Calculator {
    pub const ALL: [Calculator; 4] = [
        Calculator::DeploymentFrequency,
        Calculator::LeadTime,
        Calculator::ChangeFailureRate,
        Calculator::TimeToRestore,
    ];
}

/// What handling an event did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing to do, and why.
    Ignored(String),
    /// The ledger is up to date; `datapoints` new datapoints were written (0 for a duplicate).
    Recorded { datapoints: usize },
}

/// A production deployment as detected, before its commit is looked up: the domain input that
/// live events and the backfill both build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentInput {
    pub pipeline: String,
    pub execution_id: String,
    /// The event's time (epoch seconds).
    pub time: i64,
    /// The trigger type when the event says it (else GetPipelineExecution's is used).
    pub trigger_type: Option<String>,
}

/// Everything a calculator uses: settings and adapters, built once per cold start.
pub struct Deps<S, M, P, O, C> {
    pub settings: Settings,
    pub store: S,
    pub metrics: M,
    pub pipelines: P,
    pub ops_items: O,
    /// GitHub; `None` when no token is configured (lead time then uses the trigger commit alone).
    pub github: Option<C>,
    /// Whether each pipeline has a `PROD_STAGE_NAME` stage (GetPipeline once per cold start).
    stage_cache: Mutex<HashMap<String, bool>>,
}

impl<S, M, P, O, C> Deps<S, M, P, O, C>
where
    S: StateStore,
    M: MetricSink,
    P: PipelineHistory,
    O: OpsItems,
    C: CommitHistory,
{
    pub fn new(
        settings: Settings,
        store: S,
        metrics: M,
        pipelines: P,
        ops_items: O,
        github: Option<C>,
    ) -> Self {
        Deps {
            settings,
            store,
            metrics,
            pipelines,
            ops_items,
            github,
            stage_cache: Mutex::new(HashMap::new()),
        }
    }

    /// Handles one EventBridge event for `calculator`; `now` is the processing time (epoch
    /// seconds), used only for CloudWatch's two-week limit and marker expiry.
    pub async fn handle(
        &self,
        calculator: Calculator,
        event: &Value,
        now: i64,
    ) -> Result<Outcome, DoraError> {
        let trigger = events::parse(event)?;
        let outcome = match trigger {
            Trigger::Other {
                source,
                detail_type,
            } => Outcome::Ignored(format!("not a DORA event: {source} / {detail_type}")),
            Trigger::OpsItem {
                id,
                account,
                status,
                time,
            } => match calculator {
                Calculator::ChangeFailureRate | Calculator::TimeToRestore => {
                    // Resolved at this event's time when this event says so: never a time read
                    // later (an edit after resolution moves LastModifiedTime).
                    let resolved_at = status
                        .as_deref()
                        .is_some_and(|s| s == "Resolved")
                        .then_some(time);
                    self.ops_item(
                        calculator,
                        &id,
                        account.as_deref(),
                        Resolution::Event(resolved_at),
                        now,
                    )
                    .await?
                }
                _ => Outcome::Ignored(format!("OpsItem {id}: not this calculator's event")),
            },
            pipeline_event => match self.production_deployment(&pipeline_event).await? {
                Ok(input) => self.deployment(&[calculator], &input, now).await?,
                Err(reason) => Outcome::Ignored(reason),
            },
        };
        match &outcome {
            Outcome::Ignored(reason) => tracing::info!(%reason, "event ignored"),
            Outcome::Recorded { datapoints } => tracing::info!(datapoints, "event recorded"),
        }
        Ok(outcome)
    }

    /// Whether a CodePipeline event is a production deployment (`Err` says why not).
    async fn production_deployment(
        &self,
        trigger: &Trigger,
    ) -> Result<Result<DeploymentInput, String>, DoraError> {
        let (account, pipeline, execution_id, state, signal, trigger_type, time) = match trigger {
            Trigger::Execution {
                account,
                pipeline,
                execution_id,
                state,
                trigger_type,
                time,
            } => (
                account,
                pipeline,
                execution_id,
                state,
                Signal::ExecutionSucceeded,
                trigger_type.clone(),
                *time,
            ),
            Trigger::Stage {
                account,
                pipeline,
                execution_id,
                stage,
                state,
                time,
            } => (
                account,
                pipeline,
                execution_id,
                state,
                Signal::StageSucceeded { stage },
                None,
                *time,
            ),
            other => return Ok(Err(format!("not a pipeline event: {other:?}"))),
        };
        if state != "SUCCEEDED" {
            return Ok(Err(format!(
                "{pipeline} {execution_id}: {state}, not SUCCEEDED"
            )));
        }
        if is_branch_pipeline(pipeline, self.settings.branch_prefix.as_deref()) {
            return Ok(Err(format!(
                "{pipeline} is a branch pipeline (BRANCH_STACK_PREFIX={}-): never production",
                self.settings.branch_prefix.as_deref().unwrap_or_default()
            )));
        }
        if !self.settings.prod_pipelines.matches(pipeline) {
            return Ok(Err(format!(
                "{pipeline} is not a production pipeline (PROD_PIPELINES={})",
                self.settings.prod_pipelines.as_str()
            )));
        }
        // PROD_PIPELINES matched the bare name; from here on the pipeline is its identity.
        let pipeline = &self.identity(account.as_deref(), pipeline);
        let has_prod_stage = match signal {
            // A stage event names its stage: no need to read the pipeline.
            Signal::StageSucceeded { .. } => true,
            Signal::ExecutionSucceeded => self.has_prod_stage(pipeline).await?,
        };
        if !is_production_deployment(signal, &self.settings.prod_stage, has_prod_stage) {
            return Ok(Err(format!(
                "{pipeline} {execution_id}: not its production step (stage {})",
                self.settings.prod_stage
            )));
        }
        Ok(Ok(DeploymentInput {
            pipeline: pipeline.clone(),
            execution_id: execution_id.clone(),
            time,
            trigger_type,
        }))
    }

    /// The identity of `name` in `account` (the event's): see [`crate::decide::identity`].
    pub fn identity(&self, account: Option<&str>, name: &str) -> String {
        identity(self.settings.home_account.as_deref(), account, name)
    }

    async fn has_prod_stage(&self, pipeline: &str) -> Result<bool, DoraError> {
        let cached = self
            .stage_cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(pipeline)
            .copied();
        if let Some(known) = cached {
            return Ok(known);
        }
        let stages = self.pipelines.stage_names(pipeline).await?;
        let has = stages.contains(&self.settings.prod_stage);
        self.stage_cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(pipeline.to_string(), has);
        Ok(has)
    }

    /// Looks up what a production deployment shipped and records it in the ledger (once per
    /// execution id). `None` when its branch is known and is not the main branch.
    pub async fn record(
        &self,
        input: &DeploymentInput,
    ) -> Result<Option<(Deployment, ExecutionSource)>, DoraError> {
        let source = self
            .pipelines
            .execution_source(&input.pipeline, &input.execution_id)
            .await?;
        if !branch_counts(source.branch.as_deref(), &self.settings.main_branch) {
            tracing::info!(
                pipeline = %input.pipeline,
                execution_id = %input.execution_id,
                branch = ?source.branch,
                "not the main branch: not a production deployment"
            );
            return Ok(None);
        }
        let deployment = Deployment {
            pipeline: input.pipeline.clone(),
            execution_id: input.execution_id.clone(),
            time: input.time,
            commit: source.commit.clone(),
            repository: source.repository.clone(),
            branch: source.branch.clone(),
            commit_message: source.commit_message.clone(),
            trigger_type: input.trigger_type.clone().or(source.trigger_type.clone()),
        };
        let recorded =
            ledger::record_deployment(&self.store, &deployment, self.settings.retention).await?;
        Ok(Some((recorded, source)))
    }

    /// Records a production deployment, then does each calculator's part for it.
    pub async fn deployment(
        &self,
        calculators: &[Calculator],
        input: &DeploymentInput,
        now: i64,
    ) -> Result<Outcome, DoraError> {
        let Some((deployment, source)) = self.record(input).await? else {
            return Ok(Outcome::Ignored(format!(
                "{} {}: not the {} branch",
                input.pipeline, input.execution_id, self.settings.main_branch
            )));
        };
        let mut datapoints = 0;
        for calculator in calculators {
            datapoints += match calculator {
                Calculator::DeploymentFrequency => {
                    self.emit(
                        DEPLOYMENT_COUNT,
                        &deployment.pipeline,
                        &deployment.execution_id,
                        deployment.time,
                        &[1.0],
                        Unit::Count,
                        now,
                    )
                    .await?
                        + self.rework(&deployment, now).await?
                }
                Calculator::LeadTime => self.lead_time(&deployment, &source, now).await?,
                Calculator::ChangeFailureRate => self.rollback(&deployment, now).await?,
                Calculator::TimeToRestore => self.fixing_deployment(&deployment, now).await?,
            };
        }
        Ok(Outcome::Recorded { datapoints })
    }

    /// Writes datapoints (all at `time`) once: a marker per request is created first; if
    /// CloudWatch then fails, the marker is removed and the error returned (the event is retried).
    #[allow(clippy::too_many_arguments)]
    async fn emit(
        &self,
        metric: &'static str,
        pipeline: &str,
        key: &str,
        time: i64,
        values: &[f64],
        unit: Unit,
        now: i64,
    ) -> Result<usize, DoraError> {
        if values.is_empty() {
            return Ok(0);
        }
        if !within_cloudwatch_window(time, now) {
            tracing::info!(
                metric,
                pipeline,
                key,
                time,
                "datapoint outside CloudWatch's two-week window: ledger only"
            );
            return Ok(0);
        }
        let mut written = 0;
        for (i, chunk) in values.chunks(MAX_POINTS_PER_PUT).enumerate() {
            let sk = if i == 0 {
                format!("{pipeline}#{key}")
            } else {
                format!("{pipeline}#{key}#{i}")
            };
            let pk = ledger::emitted_pk(metric);
            let marker = Record::new(&pk, &sk).expiring_after(
                std::time::UNIX_EPOCH + Duration::from_secs(u64::try_from(now).unwrap_or(0)),
                MARKER_TTL,
            );
            match self.store.create(&marker).await {
                Ok(()) => {}
                Err(StateError::AlreadyExists { .. }) => {
                    tracing::info!(metric, pipeline, key, "datapoints already written");
                    continue;
                }
                Err(e) => return Err(e.into()),
            }
            let points: Vec<Datapoint> = chunk
                .iter()
                .map(|&value| Datapoint {
                    metric,
                    pipeline: pipeline.to_string(),
                    time,
                    value,
                    unit,
                })
                .collect();
            if let Err(e) = self.metrics.put(&points).await {
                if let Err(undo) = self.store.delete(&pk, &sk).await {
                    tracing::error!(error = %undo, "could not remove the datapoint marker");
                }
                return Err(e);
            }
            written += points.len();
        }
        Ok(written)
    }

    /// Deployment rework: one `ReworkDeploymentCount` datapoint when the deployment is rework
    /// (a rollback, during an open incident of its pipeline, or naming an OpsItem).
    async fn rework(&self, deployment: &Deployment, now: i64) -> Result<usize, DoraError> {
        let open = if deployment.is_rollback() {
            Vec::new()
        } else {
            ledger::open_incidents(&self.store, &deployment.pipeline).await?
        };
        self.rework_by(deployment, &open, now).await
    }

    async fn rework_by(
        &self,
        deployment: &Deployment,
        incidents: &[Incident],
        now: i64,
    ) -> Result<usize, DoraError> {
        let Some(why) = rework(deployment, incidents) else {
            return Ok(0);
        };
        tracing::info!(execution_id = %deployment.execution_id, ?why, "rework deployment");
        self.emit(
            REWORK_DEPLOYMENT_COUNT,
            &deployment.pipeline,
            &deployment.execution_id,
            deployment.time,
            &[1.0],
            Unit::Count,
            now,
        )
        .await
    }

    /// Lead time: one datapoint per newly deployed commit (none for a rollback).
    async fn lead_time(
        &self,
        deployment: &Deployment,
        source: &ExecutionSource,
        now: i64,
    ) -> Result<usize, DoraError> {
        if deployment.is_rollback() {
            tracing::info!(execution_id = %deployment.execution_id, "a rollback ships no change: no lead time");
            return Ok(0);
        }
        let lead = match ledger::lead_times_of(&self.store, deployment).await? {
            Some(lead) => lead,
            None => {
                let base = ledger::previous_deployment(&self.store, deployment).await?;
                let lead = self
                    .measure(deployment, source, base.and_then(|b| b.commit))
                    .await?;
                ledger::record_lead_times(&self.store, &lead, self.settings.retention).await?;
                // Arrived late? The next deployment's lead times were measured past this one:
                // give this one's commits back to it, and keep CloudWatch from counting them twice.
                if self.correct_next(deployment).await? {
                    self.mark_emitted(LEAD_TIME_FOR_CHANGES, deployment, now)
                        .await?;
                    return Ok(0);
                }
                lead
            }
        };
        let values: Vec<f64> = lead.seconds.iter().map(|&s| s as f64).collect();
        self.emit(
            LEAD_TIME_FOR_CHANGES,
            &deployment.pipeline,
            &deployment.execution_id,
            deployment.time,
            &values,
            Unit::Seconds,
            now,
        )
        .await
    }

    /// The lead times of the commits `deployment` newly shipped since `base` (a commit), at
    /// most [`MAX_LEAD_TIMES`] of them.
    async fn measure(
        &self,
        deployment: &Deployment,
        source: &ExecutionSource,
        base: Option<String>,
    ) -> Result<LeadTimes, DoraError> {
        let (commit_times, shipped) = self
            .new_commit_times(deployment, source, base.clone())
            .await?;
        let mut seconds = lead_times(deployment.time, &commit_times);
        seconds.truncate(MAX_LEAD_TIMES);
        Ok(LeadTimes {
            pipeline: deployment.pipeline.clone(),
            execution_id: deployment.execution_id.clone(),
            time: deployment.time,
            truncated_from: (shipped > seconds.len())
                .then(|| u64::try_from(shipped).unwrap_or(u64::MAX)),
            seconds,
            base_commit: base,
        })
    }

    /// When `deployment` arrived after the next deployment of its pipeline (by event time) had
    /// its lead times measured from an earlier base, measures them again from `deployment`'s
    /// commit and replaces them in the ledger: each commit belongs to the first deployment that
    /// shipped it. True when the next one's datapoints had already gone to CloudWatch (so the
    /// commits `deployment` shipped are in CloudWatch already, under the next deployment).
    async fn correct_next(&self, deployment: &Deployment) -> Result<bool, DoraError> {
        let Some(commit) = deployment.commit.clone() else {
            return Ok(false);
        };
        let Some(next) = ledger::next_deployment(&self.store, deployment).await? else {
            return Ok(false);
        };
        let Some(stale) = ledger::lead_times_of(&self.store, &next).await? else {
            return Ok(false); // not measured yet: it will compare from this deployment
        };
        if stale.base_commit.as_deref() == Some(commit.as_str()) {
            return Ok(false);
        }
        let source = ExecutionSource {
            commit: next.commit.clone(),
            repository: next.repository.clone(),
            ..ExecutionSource::default()
        };
        let corrected = self.measure(&next, &source, Some(commit)).await?;
        tracing::info!(
            pipeline = %deployment.pipeline,
            late = %deployment.execution_id,
            next = %next.execution_id,
            before = stale.seconds.len(),
            after = corrected.seconds.len(),
            "deployment arrived after the next one: its commits moved back to it in the ledger"
        );
        ledger::replace_lead_times(&self.store, &corrected).await?;
        let marker = self
            .store
            .get(
                &ledger::emitted_pk(LEAD_TIME_FOR_CHANGES),
                &format!("{}#{}", next.pipeline, next.execution_id),
            )
            .await?;
        Ok(marker.is_some())
    }

    /// Records the datapoints of `deployment` as written without writing them (they are in
    /// CloudWatch already, under another deployment).
    async fn mark_emitted(
        &self,
        metric: &'static str,
        deployment: &Deployment,
        now: i64,
    ) -> Result<(), DoraError> {
        let marker = Record::new(
            ledger::emitted_pk(metric),
            format!("{}#{}", deployment.pipeline, deployment.execution_id),
        )
        .expiring_after(
            std::time::UNIX_EPOCH + Duration::from_secs(u64::try_from(now).unwrap_or(0)),
            MARKER_TTL,
        );
        match self.store.create(&marker).await {
            Ok(()) | Err(StateError::AlreadyExists { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// The commit times of the commits `deployment` newly shipped since `base` (at most
    /// [`crate::adapters::MAX_COMPARE_COMMITS`]), and how many it shipped.
    async fn new_commit_times(
        &self,
        deployment: &Deployment,
        source: &ExecutionSource,
        base: Option<String>,
    ) -> Result<(Vec<i64>, usize), DoraError> {
        let times = self.commit_times(deployment, source, base).await?;
        Ok(match times {
            Ok(compared) => {
                let shipped = compared.total;
                (compared.commits.iter().map(|c| c.time).collect(), shipped)
            }
            Err(times) => {
                let n = times.len();
                (times, n)
            }
        })
    }

    /// The comparison from the previous deployment (`Ok`), or the commit times of a fallback.
    async fn commit_times(
        &self,
        deployment: &Deployment,
        source: &ExecutionSource,
        base: Option<String>,
    ) -> Result<Result<Compared, Vec<i64>>, DoraError> {
        let Some(head) = deployment.commit.as_deref() else {
            tracing::warn!(execution_id = %deployment.execution_id, "no commit known: no lead time");
            return Ok(Err(Vec::new()));
        };
        let fallback = |why: &str| -> Vec<i64> {
            match source.commit_time {
                Some(t) => {
                    tracing::info!(execution_id = %deployment.execution_id, why, "lead time from the trigger commit alone");
                    vec![t]
                }
                None => {
                    tracing::warn!(execution_id = %deployment.execution_id, why, "the trigger commit's date is unknown: no lead time");
                    Vec::new()
                }
            }
        };
        // The token is read on the first deployment that needs it (`configured`), not at start-up.
        let github = match &self.github {
            Some(github) if github.configured().await? => Some(github),
            _ => None,
        };
        let (Some(github), Some(repository)) = (github, deployment.repository.as_deref()) else {
            let why = if github.is_none() {
                "GitHub is not configured (GITHUB_TOKEN_SECRET_ARN)"
            } else {
                "the repository is unknown"
            };
            return Ok(Err(fallback(why)));
        };
        match base {
            Some(base) if base == head => Ok(Err(Vec::new())),
            Some(base) => match github.compare(repository, &base, head).await? {
                Some(compared) => Ok(Ok(compared)),
                None => self
                    .trigger_commit(github, repository, head, &fallback)
                    .await
                    .map(Err),
            },
            None => self
                .trigger_commit(github, repository, head, &fallback)
                .await
                .map(Err),
        }
    }

    async fn trigger_commit(
        &self,
        github: &C,
        repository: &str,
        head: &str,
        fallback: &dyn Fn(&str) -> Vec<i64>,
    ) -> Result<Vec<i64>, DoraError> {
        match github.commit(repository, head).await? {
            Some(c) => Ok(vec![c.time]),
            None => Ok(fallback("GitHub does not know the commit")),
        }
    }

    /// Marks `deployment` failed (once) and writes its one FailedDeploymentCount datapoint.
    async fn fail(
        &self,
        deployment: &Deployment,
        cause: &str,
        now: i64,
    ) -> Result<usize, DoraError> {
        ledger::record_failure(&self.store, deployment, cause, self.settings.retention).await?;
        self.emit(
            FAILED_DEPLOYMENT_COUNT,
            &deployment.pipeline,
            &deployment.execution_id,
            deployment.time,
            &[1.0],
            Unit::Count,
            now,
        )
        .await
    }

    /// A rollback marks the deployment it replaced as failed.
    async fn rollback(&self, deployment: &Deployment, now: i64) -> Result<usize, DoraError> {
        if !deployment.is_rollback() {
            return Ok(0);
        }
        match ledger::previous_deployment(&self.store, deployment).await? {
            Some(replaced) => {
                self.fail(
                    &replaced,
                    &format!("rollback:{}", deployment.execution_id),
                    now,
                )
                .await
            }
            None => {
                tracing::info!(execution_id = %deployment.execution_id, "rollback with no earlier deployment in the ledger");
                Ok(0)
            }
        }
    }

    /// A production deployment naming an open incident's OpsItem id restores it.
    async fn fixing_deployment(
        &self,
        deployment: &Deployment,
        now: i64,
    ) -> Result<usize, DoraError> {
        let mut datapoints = 0;
        for incident in ledger::open_incidents(&self.store, &deployment.pipeline).await? {
            if incident.restored.is_none() && fixes(deployment, &incident) {
                datapoints += self.restore(&incident, deployment.time, now).await?;
            }
        }
        Ok(datapoints)
    }

    /// Fills in the restore time once and writes its one TimeToRestore datapoint.
    async fn restore(
        &self,
        incident: &Incident,
        restored: i64,
        now: i64,
    ) -> Result<usize, DoraError> {
        if incident.restored.is_none() {
            ledger::restore_incident(&self.store, incident, restored).await?;
        }
        let current = ledger::incident(
            &self.store,
            &incident.pipeline,
            incident.created,
            &incident.id,
        )
        .await?
        .unwrap_or_else(|| incident.clone());
        let (Some(at), Some(seconds)) = (current.restored, current.time_to_restore()) else {
            return Ok(0);
        };
        self.emit(
            TIME_TO_RESTORE,
            &current.pipeline,
            &current.id,
            at,
            &[seconds as f64],
            Unit::Seconds,
            now,
        )
        .await
    }

    /// An OpsItem was created or updated: link it, attribute it, fail its deployment (change
    /// failure rate) or restore it (time to restore).
    async fn ops_item(
        &self,
        calculator: Calculator,
        id: &str,
        account: Option<&str>,
        resolution: Resolution,
        now: i64,
    ) -> Result<Outcome, DoraError> {
        let item = self.ops_items.get(&self.identity(account, id)).await?;
        let resolved_at = match resolution {
            Resolution::Event(at) => at,
            // Backfill has no event: the resolution's only record is LastModifiedTime.
            Resolution::Replay => item
                .status
                .as_deref()
                .is_some_and(|s| s == "Resolved")
                .then_some(item.last_modified)
                .flatten(),
        };
        let home = self.settings.home_account.as_deref();
        let links: Vec<_> = linked_identities(&item.data, home, account)
            .into_iter()
            .filter(|l| {
                let name = split_identity(&l.pipeline).1;
                self.settings.prod_pipelines.matches(name)
                    && !is_branch_pipeline(name, self.settings.branch_prefix.as_deref())
            })
            .collect();
        if links.is_empty() {
            return Ok(Outcome::Ignored(format!(
                "OpsItem {id} is linked to no production pipeline"
            )));
        }
        let resolved = resolved_at;
        let mut datapoints = 0;
        for link in links {
            let named = match link.execution_id.as_deref() {
                Some(execution) => {
                    ledger::deployment_by_execution(&self.store, &link.pipeline, execution).await?
                }
                None => None,
            };
            let attributed = match named {
                Some(d) => Some(d),
                None => {
                    ledger::latest_at_or_before(&self.store, &link.pipeline, item.created).await?
                }
            };
            let incident = ledger::record_incident(
                &self.store,
                &Incident {
                    id: item.id.clone(),
                    pipeline: link.pipeline.clone(),
                    execution_id: attributed.as_ref().map(|d| d.execution_id.clone()),
                    created: item.created,
                    restored: None,
                },
                self.settings.retention,
            )
            .await?;
            match calculator {
                Calculator::ChangeFailureRate => {
                    // The ledger's attribution (the first event's), whatever this one found.
                    let failed = match incident.execution_id.as_deref() {
                        Some(e) if attributed.as_ref().is_some_and(|d| d.execution_id == e) => {
                            attributed.clone()
                        }
                        Some(e) => {
                            ledger::deployment_by_execution(&self.store, &link.pipeline, e).await?
                        }
                        None => None,
                    };
                    match failed {
                        Some(d) => datapoints += self.fail(&d, &item.id, now).await?,
                        None => tracing::info!(
                            ops_item = %item.id,
                            pipeline = %link.pipeline,
                            "no production deployment before the OpsItem: no failed deployment"
                        ),
                    }
                }
                Calculator::TimeToRestore => {
                    // Only the deployments between the incident's creation and its end (its
                    // resolution, or now while open) can have fixed it: a bounded read.
                    let until = resolved.unwrap_or(now).max(incident.created);
                    let candidates = ledger::deployments_between(
                        &self.store,
                        &link.pipeline,
                        incident.created,
                        until,
                    )
                    .await?;
                    if let Some(at) = restore_time(&incident, &candidates, resolved) {
                        datapoints += self.restore(&incident, at, now).await?;
                    }
                }
                _ => {}
            }
        }
        Ok(Outcome::Recorded { datapoints })
    }
}

/// Where an OpsItem's resolution time comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resolution {
    /// A live event: its time when it reports `Resolved`, else not resolved (by this event).
    Event(Option<i64>),
    /// Backfill: `LastModifiedTime` of an OpsItem that is `Resolved` now.
    Replay,
}

impl<S, M, P, O, C> Deps<S, M, P, O, C>
where
    S: StateStore,
    M: MetricSink,
    P: PipelineHistory,
    O: OpsItems,
    C: CommitHistory,
{
    /// Writes `deployment`'s `ReworkDeploymentCount` datapoint if it is rework by `incidents`
    /// (its pipeline's, from the ledger) and it has none yet (backfill, after the OpsItems).
    pub async fn rework_once(
        &self,
        deployment: &Deployment,
        incidents: &[Incident],
        now: i64,
    ) -> Result<usize, DoraError> {
        self.rework_by(deployment, incidents, now).await
    }

    /// Replays one OpsItem of the function's own account through the change-failure-rate and
    /// recovery-time calculators (backfill); idempotent with live events and with itself.
    pub async fn replay_ops_item(&self, id: &str, now: i64) -> Result<usize, DoraError> {
        let mut datapoints = 0;
        for calculator in [Calculator::ChangeFailureRate, Calculator::TimeToRestore] {
            if let Outcome::Recorded { datapoints: n } = self
                .ops_item(calculator, id, None, Resolution::Replay, now)
                .await?
            {
                datapoints += n;
            }
        }
        Ok(datapoints)
    }
}

/// Runs `calculator` as a Lambda function with `deps` (built once per cold start): every event is
/// handled at its arrival time; an error goes back to Lambda, which retries the event and then
/// sends it to the dead-letter queue.
pub async fn serve<S, M, P, O, C>(
    deps: Deps<S, M, P, O, C>,
    calculator: Calculator,
) -> Result<(), lambda_runtime::Error>
where
    S: StateStore,
    M: MetricSink,
    P: PipelineHistory,
    O: OpsItems,
    C: CommitHistory,
{
    let deps = &deps;
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<Value>| async move {
            let now = tollgate::state::epoch_seconds(std::time::SystemTime::now());
            deps.handle(calculator, &event.payload, now)
                .await
                .map(|_| ())
                .map_err(lambda_runtime::Diagnostic::from)
        },
    ))
    .await
}
