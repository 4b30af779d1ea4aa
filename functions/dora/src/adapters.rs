//! Adapters behind small traits: `MetricSink` (CloudWatch), `CommitHistory` (GitHub's REST API
//! through octocrab, over the AWS SDK's own HTTPS connector), `OpsItems` (SSM GetOpsItem) and `PipelineHistory`
//! (CodePipeline), and `Accounts`,
//! the clients that read another account's pipelines and OpsItems (sts:AssumeRole).

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;

use std::time::Duration;

use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit};
use aws_smithy_types::DateTime;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::decide::{message_of_summary, parse_time, partition, repository_of_url, split_identity};
use crate::error::DoraError;
use crate::model::PIPELINE_DIMENSION;

// ---------------------------------------------------------------------------- metrics

/// The unit of a datapoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Seconds,
}

/// One datapoint of one pipeline; the sink writes it per pipeline and to the all-pipelines series.
#[derive(Debug, Clone, PartialEq)]
pub struct Datapoint {
    pub metric: &'static str,
    pub pipeline: String,
    /// The event's time (epoch seconds).
    pub time: i64,
    pub value: f64,
    pub unit: Unit,
}

/// Where datapoints go.
pub trait MetricSink: Send + Sync {
    /// Writes every datapoint (one request, at most [`MAX_POINTS_PER_PUT`] of them) or fails.
    fn put(&self, points: &[Datapoint]) -> impl Future<Output = Result<(), DoraError>> + Send;
}

/// CloudWatch takes 1,000 metric datums per PutMetricData; each datapoint is two of them.
pub const MAX_POINTS_PER_PUT: usize = 500;

/// The production [`MetricSink`]: CloudWatch PutMetricData.
#[derive(Debug, Clone)]
pub struct CloudWatchSink {
    pub client: aws_sdk_cloudwatch::Client,
    pub namespace: String,
}

fn datum(point: &Datapoint, pipeline: Option<&str>) -> MetricDatum {
    let unit = match point.unit {
        Unit::Count => StandardUnit::Count,
        Unit::Seconds => StandardUnit::Seconds,
    };
    let mut datum = MetricDatum::builder()
        .metric_name(point.metric)
        .timestamp(DateTime::from_secs(point.time))
        .value(point.value)
        .unit(unit);
    if let Some(pipeline) = pipeline {
        datum = datum.dimensions(
            Dimension::builder()
                .name(PIPELINE_DIMENSION)
                .value(pipeline)
                .build(),
        );
    }
    datum.build()
}

impl MetricSink for CloudWatchSink {
    async fn put(&self, points: &[Datapoint]) -> Result<(), DoraError> {
        if points.is_empty() {
            return Ok(());
        }
        let data: Vec<MetricDatum> = points
            .iter()
            .flat_map(|p| [datum(p, Some(&p.pipeline)), datum(p, None)])
            .collect();
        self.client
            .put_metric_data()
            .namespace(&self.namespace)
            .set_metric_data(Some(data))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| DoraError::Aws {
                action: "CloudWatch PutMetricData".into(),
                reason: tollgate::aws::error_text(&e),
            })
    }
}

// ---------------------------------------------------------------------------- GitHub

/// A commit and its author date (epoch seconds): when the change was written. The committer
/// date is the fallback; a rebase or a squash resets it, so it is not used when the author date
/// is there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitInfo {
    pub sha: String,
    pub time: i64,
}

/// At most this many commits of one comparison are read (ten pages of [`COMPARE_PAGE_SIZE`]):
/// a compare from a stale base stays inside the function's time and the rate limit.
pub const MAX_COMPARE_COMMITS: usize = 1_000;

/// A comparison, capped at [`MAX_COMPARE_COMMITS`]: the commits read, oldest first, and how many
/// GitHub says there are (`total` > `commits.len()` when it was capped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compared {
    pub commits: Vec<CommitInfo>,
    pub total: usize,
}

impl Compared {
    /// Whether commits were left unread (past the cap).
    pub fn truncated(&self) -> bool {
        self.total > self.commits.len()
    }
}

/// A repository's history.
pub trait CommitHistory: Send + Sync {
    /// Whether GitHub is set up (a token is there); read once, on the first deployment that
    /// needs it. An unreadable token secret is an error.
    fn configured(&self) -> impl Future<Output = Result<bool, DoraError>> + Send {
        async { Ok(true) }
    }
    /// The commits in `head` but not in `base` (`base...head`), oldest first, at most
    /// [`MAX_COMPARE_COMMITS`] of them; `None` when GitHub does not know one of them (a
    /// force-push, another repository).
    fn compare(
        &self,
        repository: &str,
        base: &str,
        head: &str,
    ) -> impl Future<Output = Result<Option<Compared>, DoraError>> + Send;
    /// One commit; `None` when GitHub does not know it.
    fn commit(
        &self,
        repository: &str,
        sha: &str,
    ) -> impl Future<Output = Result<Option<CommitInfo>, DoraError>> + Send;
}

/// The production [`CommitHistory`]: GitHub's REST API through octocrab (no retries: a rate limit
/// or a 5xx is returned as an error so that EventBridge retries the event), over the HTTPS
/// connector the AWS SDK already links ([`tollgate::github::client`]).
#[derive(Clone)]
pub struct GitHubCommits {
    /// `GITHUB_API_URL` (GitHub Enterprise Server: `https://<host>/api/v3`).
    api_url: String,
    client: octocrab::Octocrab,
}

impl std::fmt::Debug for GitHubCommits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the token.
        f.debug_struct("GitHubCommits")
            .field("api_url", &self.api_url)
            .finish_non_exhaustive()
    }
}

/// How long a connection to GitHub may take to open, and how long a response may leave a read
/// waiting.
pub const GITHUB_TIMEOUTS: tollgate::github::Timeouts = tollgate::github::Timeouts {
    connect: Duration::from_secs(5),
    read: Duration::from_secs(20),
};

/// `url` if it can be GitHub's API root (`http(s)://host[:port][/path]`), without a trailing `/`.
pub fn github_api_url(url: &str) -> Result<String, String> {
    tollgate::github::api_url(url)
        .map(|_| url.trim_end_matches('/').to_string())
        .map_err(|e| match e {
            tollgate::github::ClientError::ApiUrl { reason, .. } => reason,
            other => other.to_string(),
        })
}

impl GitHubCommits {
    /// A client of the API at `api_url` (see [`github_api_url`]) authenticated with `token`.
    pub fn new(api_url: &str, token: &str) -> Result<Self, String> {
        let client = tollgate::github::client(api_url, Some(token), GITHUB_TIMEOUTS)
            .map_err(|e| e.to_string())?;
        Ok(GitHubCommits {
            api_url: api_url.trim_end_matches('/').to_string(),
            client,
        })
    }

    /// GET `route` (`/repos/...`, `query` appended as given): the JSON body on 2xx, `None` on 404
    /// or 422 (GitHub's "no such commit"), an error naming `action` otherwise.
    async fn get<T: DeserializeOwned>(
        &self,
        route: &str,
        query: &str,
        action: &str,
    ) -> Result<Option<T>, DoraError> {
        // The request itself is not generic: one copy of it in the binary, whatever `T`.
        let Some(body) = self.get_body(route, query, action).await? else {
            return Ok(None);
        };
        serde_json::from_slice(&body)
            .map(Some)
            .map_err(|e| DoraError::GitHub {
                action: action.to_string(),
                reason: format!("a body that is not the expected JSON: {e}"),
            })
    }

    /// The body of a 2xx answer to GET `route`, `None` on 404 or 422, else an error.
    async fn get_body(
        &self,
        route: &str,
        query: &str,
        action: &str,
    ) -> Result<Option<Vec<u8>>, DoraError> {
        let route = if query.is_empty() {
            route.to_string()
        } else {
            format!("{route}?{query}")
        };
        let failed = |reason: String| DoraError::GitHub {
            action: action.to_string(),
            reason,
        };
        let answered = match self.client._get(route.as_str()).await {
            Ok(response) => octocrab::map_github_error(response).await,
            Err(e) => Err(e),
        };
        match answered {
            Ok(response) => self
                .client
                .body_to_string(response)
                .await
                .map(|text| Some(text.into_bytes()))
                .map_err(|e| failed(error_chain(&e))),
            Err(octocrab::Error::GitHub { source, .. }) => {
                let status = source.status_code.as_u16();
                let kind = match status {
                    404 | 422 => return Ok(None),
                    403 | 429 => "rate limited or forbidden",
                    500..=599 => "server error",
                    _ => "refused",
                };
                Err(failed(format!("{status} {kind}: {}", source.message)))
            }
            Err(other) => Err(failed(error_chain(&other))),
        }
    }
}

/// An error and its sources, as one line.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Commits per page of a comparison (GitHub's maximum).
pub const COMPARE_PAGE_SIZE: u32 = 100;

#[derive(Deserialize)]
struct GitUser {
    #[serde(default)]
    date: Option<String>,
}

#[derive(Deserialize)]
struct GitCommit {
    #[serde(default)]
    committer: Option<GitUser>,
    #[serde(default)]
    author: Option<GitUser>,
}

#[derive(Deserialize)]
struct ApiCommit {
    sha: String,
    commit: GitCommit,
}

#[derive(Deserialize)]
struct Comparison {
    #[serde(default)]
    total_commits: Option<usize>,
    #[serde(default)]
    commits: Vec<ApiCommit>,
}

fn commit_info(c: &ApiCommit) -> Option<CommitInfo> {
    let date = c
        .commit
        .author
        .as_ref()
        .and_then(|u| u.date.as_deref())
        .or_else(|| c.commit.committer.as_ref().and_then(|u| u.date.as_deref()))?;
    Some(CommitInfo {
        sha: c.sha.clone(),
        time: parse_time(date)?,
    })
}

impl CommitHistory for GitHubCommits {
    async fn compare(
        &self,
        repository: &str,
        base: &str,
        head: &str,
    ) -> Result<Option<Compared>, DoraError> {
        let route = format!(
            "/repos/{}/compare/{}...{}",
            tollgate::github::path(repository),
            tollgate::github::path(base),
            tollgate::github::path(head)
        );
        let action = format!("compare {repository} {base}...{head}");
        let mut commits = Vec::new();
        let mut total = 0;
        let pages = MAX_COMPARE_COMMITS.div_ceil(COMPARE_PAGE_SIZE as usize);
        for page in 1..=u32::try_from(pages).unwrap_or(u32::MAX) {
            let query = format!("per_page={COMPARE_PAGE_SIZE}&page={page}");
            let Some(got) = self.get::<Comparison>(&route, &query, &action).await? else {
                return Ok(None);
            };
            let n = got.commits.len();
            commits.extend(got.commits.iter().filter_map(commit_info));
            total = got.total_commits.unwrap_or(0);
            if n < COMPARE_PAGE_SIZE as usize || commits.len() >= total {
                break;
            }
        }
        commits.truncate(MAX_COMPARE_COMMITS);
        let total = total.max(commits.len());
        if total > commits.len() {
            tracing::warn!(
                repository,
                base,
                head,
                total,
                read = commits.len(),
                "compare capped: lead time from the first commits only"
            );
        }
        Ok(Some(Compared { commits, total }))
    }

    async fn commit(&self, repository: &str, sha: &str) -> Result<Option<CommitInfo>, DoraError> {
        let route = format!(
            "/repos/{}/commits/{}",
            tollgate::github::path(repository),
            tollgate::github::path(sha)
        );
        let action = format!("commit {repository}@{sha}");
        Ok(self
            .get::<ApiCommit>(&route, "", &action)
            .await?
            .as_ref()
            .and_then(commit_info))
    }
}

/// The [`CommitHistory`] of a calculator that never reads GitHub (all but lead time): it has
/// no value, so the GitHub client is not even linked into those binaries.
#[derive(Debug, Clone, Copy)]
pub enum NoGitHub {}

impl CommitHistory for NoGitHub {
    async fn compare(
        &self,
        _repository: &str,
        _base: &str,
        _head: &str,
    ) -> Result<Option<Compared>, DoraError> {
        match *self {}
    }

    async fn commit(&self, _repository: &str, _sha: &str) -> Result<Option<CommitInfo>, DoraError> {
        match *self {}
    }
}

// ---------------------------------------------------------------------------- OpsItems

/// What the calculators need of an OpsItem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpsItemInfo {
    pub id: String,
    /// `Open`, `InProgress`, `Resolved`, …
    pub status: Option<String>,
    /// CreatedTime (epoch seconds).
    pub created: i64,
    /// LastModifiedTime (epoch seconds): the resolution time once it is `Resolved`.
    pub last_modified: Option<i64>,
    /// OperationalData key → value.
    pub data: HashMap<String, String>,
}

/// OpsCenter.
pub trait OpsItems: Send + Sync {
    /// The OpsItem `item`: its id (`oi-…`) in the function's own account, `<account>/<id>` in
    /// another one (see [`crate::decide::identity`]).
    fn get(&self, item: &str) -> impl Future<Output = Result<OpsItemInfo, DoraError>> + Send;
    /// The ids of the function's own account's OpsItems created after `since` (epoch seconds),
    /// every page (DescribeOpsItems): what backfill replays.
    fn created_since(
        &self,
        since: i64,
    ) -> impl Future<Output = Result<Vec<String>, DoraError>> + Send;
}

/// The production [`OpsItems`]: SSM GetOpsItem, in the function's account with `client`, in
/// another account with the client `accounts` gives for it.
#[derive(Debug)]
pub struct SsmOpsItems<A = AssumedRoles<aws_sdk_ssm::Client>> {
    pub client: aws_sdk_ssm::Client,
    pub accounts: A,
}

impl SsmOpsItems {
    /// OpsItems of the function's own account only (another account's is an error naming
    /// `CROSS_ACCOUNT_ROLE_NAME`).
    pub fn new(client: aws_sdk_ssm::Client) -> Self {
        SsmOpsItems {
            client,
            accounts: AssumedRoles::none(),
        }
    }
}

impl<A: Accounts<aws_sdk_ssm::Client>> OpsItems for SsmOpsItems<A> {
    async fn created_since(&self, since: i64) -> Result<Vec<String>, DoraError> {
        use aws_sdk_ssm::types::{OpsItemFilter, OpsItemFilterKey, OpsItemFilterOperator};
        let action = "SSM DescribeOpsItems";
        let after = aws_smithy_types::DateTime::from_secs(since)
            .fmt(aws_smithy_types::date_time::Format::DateTime)
            .map_err(|e| DoraError::Aws {
                action: action.into(),
                reason: e.to_string(),
            })?;
        let filter = OpsItemFilter::builder()
            .key(OpsItemFilterKey::CreatedTime)
            .operator(OpsItemFilterOperator::GreaterThan)
            .values(after)
            .build()
            .map_err(|e| DoraError::Aws {
                action: action.into(),
                reason: e.to_string(),
            })?;
        let mut ids = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let out = self
                .client
                .describe_ops_items()
                .ops_item_filters(filter.clone())
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| DoraError::aws(action, &e))?;
            ids.extend(
                out.ops_item_summaries()
                    .iter()
                    .filter_map(|s| s.ops_item_id().map(str::to_string)),
            );
            match out.next_token() {
                Some(next) if !next.is_empty() => token = Some(next.to_string()),
                _ => break,
            }
        }
        ids.sort();
        ids.dedup();
        Ok(ids)
    }

    async fn get(&self, item: &str) -> Result<OpsItemInfo, DoraError> {
        let (account, id) = split_identity(item);
        let client = match account {
            Some(account) => self.accounts.client(account).await?,
            None => self.client.clone(),
        };
        let action = format!("SSM GetOpsItem {item}");
        let out = client
            .get_ops_item()
            .ops_item_id(id)
            .send()
            .await
            .map_err(|e| DoraError::aws(&action, &e))?;
        let item = out.ops_item().ok_or_else(|| DoraError::Aws {
            action: action.clone(),
            reason: "the answer has no OpsItem".into(),
        })?;
        let created = item
            .created_time()
            .map(|t| t.secs())
            .ok_or_else(|| DoraError::Aws {
                action: action.clone(),
                reason: "the OpsItem has no CreatedTime".into(),
            })?;
        Ok(OpsItemInfo {
            id: item.ops_item_id().unwrap_or(id).to_string(),
            status: item.status().map(|s| s.as_str().to_string()),
            created,
            last_modified: item.last_modified_time().map(|t| t.secs()),
            data: item
                .operational_data()
                .map(|d| {
                    d.iter()
                        .filter_map(|(k, v)| Some((k.clone(), v.value()?.to_string())))
                        .collect()
                })
                .unwrap_or_default(),
        })
    }
}

// ---------------------------------------------------------------------------- CodePipeline

/// What an execution deployed: from GetPipelineExecution (artifact revisions, trigger) and the
/// source action's output variables (ListActionExecutions).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecutionSource {
    pub trigger_type: Option<String>,
    pub commit: Option<String>,
    pub repository: Option<String>,
    pub branch: Option<String>,
    pub commit_message: Option<String>,
    /// The commit's committer (else author) date, when the source action says it.
    pub commit_time: Option<i64>,
}

/// One execution of ListPipelineExecutions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutionSummary {
    pub execution_id: String,
    /// `Succeeded`, `Failed`, `InProgress`, …
    pub status: String,
    pub trigger_type: Option<String>,
    /// lastUpdateTime (epoch seconds): when a Succeeded execution finished.
    pub last_update: Option<i64>,
}

/// CodePipeline's pipelines and their history.
pub trait PipelineHistory: Send + Sync {
    /// The pipeline's stage names (GetPipeline).
    fn stage_names(
        &self,
        pipeline: &str,
    ) -> impl Future<Output = Result<Vec<String>, DoraError>> + Send;
    /// What an execution deployed.
    fn execution_source(
        &self,
        pipeline: &str,
        execution_id: &str,
    ) -> impl Future<Output = Result<ExecutionSource, DoraError>> + Send;
    /// Every pipeline's name (ListPipelines, every page).
    fn pipelines(&self) -> impl Future<Output = Result<Vec<String>, DoraError>> + Send;
    /// The pipeline's executions updated at or after `since` (ListPipelineExecutions, newest
    /// first, every page until older ones).
    fn executions(
        &self,
        pipeline: &str,
        since: i64,
    ) -> impl Future<Output = Result<Vec<ExecutionSummary>, DoraError>> + Send;
}

/// The production [`PipelineHistory`]: the CodePipeline API, in the function's account with
/// `client`, for a pipeline of another account (`<account>/<name>`) with the client `accounts`
/// gives for it.
#[derive(Debug)]
pub struct CodePipelineHistory<A = AssumedRoles<aws_sdk_codepipeline::Client>> {
    pub client: aws_sdk_codepipeline::Client,
    pub accounts: A,
}

impl CodePipelineHistory {
    /// Pipelines of the function's own account only (another account's is an error naming
    /// `CROSS_ACCOUNT_ROLE_NAME`).
    pub fn new(client: aws_sdk_codepipeline::Client) -> Self {
        CodePipelineHistory {
            client,
            accounts: AssumedRoles::none(),
        }
    }
}

impl<A: Accounts<aws_sdk_codepipeline::Client>> CodePipelineHistory<A> {
    /// The client for a pipeline identity, and the pipeline's bare name.
    async fn client_for<'a>(
        &self,
        pipeline: &'a str,
    ) -> Result<(aws_sdk_codepipeline::Client, &'a str), DoraError> {
        match split_identity(pipeline) {
            (Some(account), name) => Ok((self.accounts.client(account).await?, name)),
            (None, name) => Ok((self.client.clone(), name)),
        }
    }
}

fn cp_error<E, R>(action: String, err: &aws_sdk_codepipeline::error::SdkError<E, R>) -> DoraError
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    DoraError::Aws {
        action,
        reason: tollgate::aws::error_text(err),
    }
}

/// The source action's output variables that say what was deployed.
fn apply_output_variables(source: &mut ExecutionSource, vars: &HashMap<String, String>) {
    let get = |k: &str| vars.get(k).filter(|v| !v.is_empty()).cloned();
    source.branch = source.branch.take().or_else(|| get("BranchName"));
    source.commit = source.commit.take().or_else(|| get("CommitId"));
    source.commit_message = source
        .commit_message
        .take()
        .or_else(|| get("CommitMessage"));
    if let Some(repo) = get("FullRepositoryName") {
        source.repository = Some(repo);
    } else if source.repository.is_none() {
        source.repository = get("RepositoryName");
    }
    source.commit_time = source.commit_time.or_else(|| {
        get("CommitterDate")
            .or_else(|| get("AuthorDate"))
            .and_then(|d| parse_time(&d))
    });
}

impl<A: Accounts<aws_sdk_codepipeline::Client>> PipelineHistory for CodePipelineHistory<A> {
    async fn stage_names(&self, pipeline: &str) -> Result<Vec<String>, DoraError> {
        let (client, name) = self.client_for(pipeline).await?;
        let out = client
            .get_pipeline()
            .name(name)
            .send()
            .await
            .map_err(|e| cp_error(format!("CodePipeline GetPipeline {pipeline}"), &e))?;
        Ok(out
            .pipeline()
            .map(|p| p.stages().iter().map(|s| s.name().to_string()).collect())
            .unwrap_or_default())
    }

    async fn execution_source(
        &self,
        pipeline: &str,
        execution_id: &str,
    ) -> Result<ExecutionSource, DoraError> {
        let (client, name) = self.client_for(pipeline).await?;
        let out = client
            .get_pipeline_execution()
            .pipeline_name(name)
            .pipeline_execution_id(execution_id)
            .send()
            .await
            .map_err(|e| {
                cp_error(
                    format!("CodePipeline GetPipelineExecution {pipeline} {execution_id}"),
                    &e,
                )
            })?;
        let mut source = ExecutionSource::default();
        if let Some(execution) = out.pipeline_execution() {
            source.trigger_type = execution
                .trigger()
                .and_then(|t| t.trigger_type())
                .map(|t| t.as_str().to_string());
            // The first revision with a commit is the source that triggered it.
            if let Some(rev) = execution
                .artifact_revisions()
                .iter()
                .find(|r| r.revision_id().is_some())
            {
                source.commit = rev.revision_id().map(str::to_string);
                source.commit_message = rev.revision_summary().map(message_of_summary);
                source.repository = rev.revision_url().and_then(repository_of_url);
            }
        }
        let actions = client
            .list_action_executions()
            .pipeline_name(name)
            .filter(
                aws_sdk_codepipeline::types::ActionExecutionFilter::builder()
                    .pipeline_execution_id(execution_id)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| {
                cp_error(
                    format!("CodePipeline ListActionExecutions {pipeline} {execution_id}"),
                    &e,
                )
            })?;
        let source_vars = actions.action_execution_details().iter().find_map(|a| {
            let vars = a.output()?.output_variables()?;
            (vars.contains_key("CommitId") || vars.contains_key("BranchName")).then_some(vars)
        });
        if let Some(vars) = source_vars {
            apply_output_variables(&mut source, vars);
        }
        Ok(source)
    }

    async fn pipelines(&self) -> Result<Vec<String>, DoraError> {
        let mut names = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let out = self
                .client
                .list_pipelines()
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| cp_error("CodePipeline ListPipelines".into(), &e))?;
            names.extend(
                out.pipelines()
                    .iter()
                    .filter_map(|p| p.name().map(str::to_string)),
            );
            match out.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => break,
            }
        }
        Ok(names)
    }

    async fn executions(
        &self,
        pipeline: &str,
        since: i64,
    ) -> Result<Vec<ExecutionSummary>, DoraError> {
        let (client, name) = self.client_for(pipeline).await?;
        let mut all = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let out = client
                .list_pipeline_executions()
                .pipeline_name(name)
                .max_results(100)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| {
                    cp_error(
                        format!("CodePipeline ListPipelineExecutions {pipeline}"),
                        &e,
                    )
                })?;
            let mut older = false;
            for e in out.pipeline_execution_summaries() {
                let last_update = e.last_update_time().map(|t| t.secs());
                if last_update.is_some_and(|t| t < since) {
                    older = true;
                    continue;
                }
                let Some(id) = e.pipeline_execution_id() else {
                    continue;
                };
                all.push(ExecutionSummary {
                    execution_id: id.to_string(),
                    status: e
                        .status()
                        .map(|s| s.as_str().to_string())
                        .unwrap_or_default(),
                    trigger_type: e
                        .trigger()
                        .and_then(|t| t.trigger_type())
                        .map(|t| t.as_str().to_string()),
                    last_update,
                });
            }
            match out.next_token() {
                Some(t) if !t.is_empty() && !older => token = Some(t.to_string()),
                _ => break,
            }
        }
        Ok(all)
    }
}

// ---------------------------------------------------------------------------- other accounts

/// Clients that read another account: what the CodePipeline and SSM adapters need to follow an
/// event forwarded from a tooling account.
pub trait Accounts<T>: Send + Sync {
    /// The client for `account` (a 12-digit id other than the function's own).
    fn client(&self, account: &str) -> impl Future<Output = Result<T, DoraError>> + Send;
}

/// A service client whose credentials come from a role assumed through STS.
pub trait AssumableClient: Clone + Send + Sync + 'static {
    fn assuming(sdk: &aws_config::SdkConfig, role: aws_config::sts::AssumeRoleProvider) -> Self;
}

impl AssumableClient for aws_sdk_codepipeline::Client {
    fn assuming(sdk: &aws_config::SdkConfig, role: aws_config::sts::AssumeRoleProvider) -> Self {
        let config = aws_sdk_codepipeline::config::Builder::from(sdk)
            .credentials_provider(role)
            .build();
        aws_sdk_codepipeline::Client::from_conf(config)
    }
}

impl AssumableClient for aws_sdk_ssm::Client {
    fn assuming(sdk: &aws_config::SdkConfig, role: aws_config::sts::AssumeRoleProvider) -> Self {
        let config = aws_sdk_ssm::config::Builder::from(sdk)
            .credentials_provider(role)
            .build();
        aws_sdk_ssm::Client::from_conf(config)
    }
}

/// The variable naming the role assumed in other accounts.
pub const CROSS_ACCOUNT_ROLE_VAR: &str = "CROSS_ACCOUNT_ROLE_NAME";

/// The session name the role is assumed with (CloudTrail in the tooling account shows it).
pub const SESSION_NAME: &str = "tollgate-dora";

/// The production [`Accounts`]: `arn:<partition>:iam::<account>:role/<CROSS_ACCOUNT_ROLE_NAME>`
/// assumed through STS, one client per account per cold start (the client caches and renews the
/// credentials). Without a role name, every other account is an error naming the variable.
pub struct AssumedRoles<T> {
    role: Option<(aws_config::SdkConfig, String)>,
    built: Mutex<HashMap<String, T>>,
}

impl<T> std::fmt::Debug for AssumedRoles<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AssumedRoles")
            .field("role_name", &self.role.as_ref().map(|(_, name)| name))
            .finish()
    }
}

impl<T> AssumedRoles<T> {
    /// No role: other accounts cannot be read.
    pub fn none() -> Self {
        AssumedRoles {
            role: None,
            built: Mutex::new(HashMap::new()),
        }
    }

    /// Assumes `role_name` (when given) in other accounts, with the function's credentials.
    pub fn new(sdk: &aws_config::SdkConfig, role_name: Option<String>) -> Self {
        AssumedRoles {
            role: role_name.map(|name| (sdk.clone(), name)),
            built: Mutex::new(HashMap::new()),
        }
    }

    /// The role ARN assumed in `account`, when a role name is set.
    pub fn role_arn(&self, account: &str) -> Option<String> {
        let (sdk, name) = self.role.as_ref()?;
        let partition = partition(sdk.region().map(|r| r.as_ref()));
        Some(format!("arn:{partition}:iam::{account}:role/{name}"))
    }
}

impl<T: AssumableClient> Accounts<T> for AssumedRoles<T> {
    async fn client(&self, account: &str) -> Result<T, DoraError> {
        let cached = self
            .built
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(account)
            .cloned();
        if let Some(client) = cached {
            return Ok(client);
        }
        let (Some((sdk, _)), Some(arn)) = (&self.role, self.role_arn(account)) else {
            return Err(DoraError::CrossAccount {
                account: account.to_string(),
                reason: format!(
                    "the event comes from another account, and {CROSS_ACCOUNT_ROLE_VAR} is not set \
                     (template parameter CrossAccountRoleName): set it, and deploy \
                     templates/dora-forwarder.yaml's read role in that account (docs/dora.md#cross-account)"
                ),
            });
        };
        let role = aws_config::sts::AssumeRoleProvider::builder(arn)
            .session_name(SESSION_NAME)
            .configure(sdk)
            .build()
            .await;
        let client = T::assuming(sdk, role);
        self.built
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(account.to_string())
            .or_insert_with(|| client.clone());
        Ok(client)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_variables_fill_what_the_revision_lacks_and_name_the_repository() {
        let mut source = ExecutionSource {
            commit: Some("abc".into()),
            ..Default::default()
        };
        let vars = HashMap::from([
            ("BranchName".to_string(), "main".to_string()),
            ("CommitId".to_string(), "other".to_string()),
            ("FullRepositoryName".to_string(), "acme/web".to_string()),
            ("AuthorDate".to_string(), "1970-01-01T01:00:00Z".to_string()),
        ]);
        apply_output_variables(&mut source, &vars);
        assert_eq!(source.commit.as_deref(), Some("abc"));
        assert_eq!(source.branch.as_deref(), Some("main"));
        assert_eq!(source.repository.as_deref(), Some("acme/web"));
        assert_eq!(source.commit_time, Some(3_600));
    }

    #[test]
    fn each_datapoint_becomes_a_pipeline_datum_and_an_all_pipelines_datum() {
        let p = Datapoint {
            metric: "DeploymentCount",
            pipeline: "web".into(),
            time: 1_000,
            value: 1.0,
            unit: Unit::Count,
        };
        let with = datum(&p, Some("web"));
        assert_eq!(with.dimensions().len(), 1);
        assert_eq!(with.dimensions()[0].value(), Some("web"));
        assert!(datum(&p, None).dimensions().is_empty());
        assert_eq!(with.timestamp().map(|t| t.secs()), Some(1_000));
    }

    #[test]
    fn a_github_api_url_keeps_its_path_and_loses_a_trailing_slash() {
        assert_eq!(
            github_api_url("https://api.github.com/").as_deref(),
            Ok("https://api.github.com")
        );
        // GitHub Enterprise Server's API lives under /api/v3: routes are appended to it.
        assert_eq!(
            github_api_url("https://ghe.example.com/api/v3").as_deref(),
            Ok("https://ghe.example.com/api/v3")
        );
        assert_eq!(
            github_api_url("http://127.0.0.1:8080").as_deref(),
            Ok("http://127.0.0.1:8080")
        );
    }

    #[test]
    fn a_github_api_url_without_scheme_or_host_or_with_a_query_is_refused() {
        for bad in [
            "api.github.com",
            "ftp://api.github.com",
            "https://",
            "https://api.github.com/?x=1",
            "not a url",
        ] {
            assert!(github_api_url(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn the_github_client_never_shows_its_token() {
        let client =
            GitHubCommits::new("https://api.github.com", "ghp_secret_value").expect("a client");
        let shown = format!("{client:?}");
        assert!(!shown.contains("ghp_secret_value"), "{shown}");
        assert!(shown.contains("https://api.github.com"), "{shown}");
    }

    #[test]
    fn a_token_no_header_can_carry_is_refused_without_showing_it() {
        let err = GitHubCommits::new("https://api.github.com", "ghp_line\nbreak")
            .expect_err("a newline cannot go into a header");
        assert!(!err.contains("ghp_line"), "{err}");
    }
}

#[cfg(test)]
mod commit_date_tests {
    use super::*;

    #[test]
    fn lead_time_uses_the_author_date_not_the_committer_date_a_rebase_resets() {
        let c: ApiCommit = serde_json::from_value(serde_json::json!({
            "sha": "abc",
            "commit": {
                "author": {"date": "2026-01-01T00:00:00Z"},
                "committer": {"date": "2026-01-05T00:00:00Z"}
            }
        }))
        .unwrap();
        assert_eq!(
            commit_info(&c).unwrap().time,
            parse_time("2026-01-01T00:00:00Z").unwrap()
        );
        let no_author: ApiCommit = serde_json::from_value(serde_json::json!({
            "sha": "abc",
            "commit": {"committer": {"date": "2026-01-05T00:00:00Z"}}
        }))
        .unwrap();
        assert_eq!(
            commit_info(&no_author).unwrap().time,
            parse_time("2026-01-05T00:00:00Z").unwrap()
        );
    }
}
