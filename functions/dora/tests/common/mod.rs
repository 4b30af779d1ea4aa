//! Test worlds for the DORA calculators: moto (state table, CloudWatch), CodePipeline and SSM
//! answered by `aws-smithy-mocks` from a shared fake history, GitHub by wiremock behind the production GitHub client.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aws_sdk_cloudwatch::types::{Dimension, Statistic};
use aws_sdk_codepipeline::operation::get_pipeline::GetPipelineOutput;
use aws_sdk_codepipeline::operation::get_pipeline_execution::GetPipelineExecutionOutput;
use aws_sdk_codepipeline::operation::list_action_executions::ListActionExecutionsOutput;
use aws_sdk_codepipeline::operation::list_pipeline_executions::ListPipelineExecutionsOutput;
use aws_sdk_codepipeline::operation::list_pipelines::ListPipelinesOutput;
use aws_sdk_codepipeline::types::{
    ActionDeclaration, ActionExecutionDetail, ActionExecutionOutput, ActionExecutionStatus,
    ActionTypeId, ArtifactRevision, ExecutionTrigger, PipelineDeclaration, PipelineExecution,
    PipelineExecutionStatus, PipelineExecutionSummary, PipelineSummary, SourceRevision,
    StageDeclaration, TriggerType,
};
use aws_sdk_ssm::operation::describe_ops_items::DescribeOpsItemsOutput;
use aws_sdk_ssm::operation::get_ops_item::GetOpsItemOutput;
use aws_sdk_ssm::types::{
    OpsItem, OpsItemDataType, OpsItemDataValue, OpsItemStatus, OpsItemSummary,
};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use aws_smithy_types::DateTime;
use aws_smithy_types::date_time::Format;
use dora::adapters::{CloudWatchSink, CodePipelineHistory, GitHubCommits, SsmOpsItems};
use dora::handler::{Calculator, Deps, Settings};
use serde_json::{Value, json};
use tollgate::state::DynamoStateStore;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

pub const H: i64 = 3_600;
pub const ACCOUNT: &str = "111111111111";
pub const REPO: &str = "acme/web";

pub type TestDeps =
    Deps<DynamoStateStore, CloudWatchSink, CodePipelineHistory, SsmOpsItems, GitHubCommits>;

/// The processing time of every test: real now, so CloudWatch's two-week window holds.
pub fn now() -> i64 {
    tollgate::state::epoch_seconds(std::time::SystemTime::now())
}

/// An RFC 3339 time.
pub fn rfc3339(secs: i64) -> String {
    DateTime::from_secs(secs)
        .fmt(Format::DateTime)
        .expect("format time")
}

/// One execution of the fake CodePipeline.
#[derive(Debug, Clone)]
pub struct Exec {
    pub pipeline: String,
    pub id: String,
    pub status: PipelineExecutionStatus,
    pub trigger: TriggerType,
    /// lastUpdateTime: the end of a Succeeded execution.
    pub time: i64,
    pub commit: String,
    pub branch: String,
    pub message: String,
}

/// One OpsItem of the fake OpsCenter.
#[derive(Debug, Clone)]
pub struct Item {
    pub id: String,
    pub created: i64,
    pub modified: i64,
    pub status: OpsItemStatus,
    pub data: Vec<(String, String)>,
}

/// What the fake AWS APIs answer from.
#[derive(Debug, Default)]
pub struct World {
    /// Pipeline → its stage names.
    pub stages: HashMap<String, Vec<String>>,
    pub executions: Vec<Exec>,
    pub items: HashMap<String, Item>,
}

pub type Shared = Arc<Mutex<World>>;

pub fn world() -> Shared {
    Arc::new(Mutex::new(World::default()))
}

/// Seeds the single-environment pipeline `web` (stages Source, Deploy) with `runs` and `items`.
pub fn seed_web(w: &Shared, runs: &[Exec], items: &[Item]) {
    let mut w = w.lock().unwrap();
    w.stages
        .insert("web".into(), vec!["Source".into(), "Deploy".into()]);
    w.executions = runs.to_vec();
    for item in items {
        w.items.insert(item.id.clone(), item.clone());
    }
}

/// Connection-style artifact revision URL, as CodePipeline gives for GitHub through CodeConnections.
fn revision_url(commit: &str) -> String {
    format!(
        "https://us-east-1.console.aws.amazon.com/codesuite/settings/connections/redirect?connectionArn=arn:aws:codeconnections:us-east-1:{ACCOUNT}:connection/3f2e1d0c&referenceType=COMMIT&FullRepositoryId={REPO}&Commit={commit}"
    )
}

fn stage(name: &str) -> StageDeclaration {
    StageDeclaration::builder()
        .name(name)
        .actions(
            ActionDeclaration::builder()
                .name(name)
                .action_type_id(
                    ActionTypeId::builder()
                        .category("Deploy".into())
                        .owner("AWS".into())
                        .provider("CloudFormation")
                        .version("1")
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .build()
        .unwrap()
}

/// CodePipeline answering GetPipeline, GetPipelineExecution, ListActionExecutions, ListPipelines
/// (pages of 2) and ListPipelineExecutions (newest first, pages of 3) from `world`.
pub fn codepipeline(world: &Shared) -> (aws_sdk_codepipeline::Client, Vec<Rule>) {
    use aws_sdk_codepipeline::Client;
    let w = world.clone();
    let get_pipeline = mock!(Client::get_pipeline).then_compute_output(move |req| {
        let w = w.lock().unwrap();
        let name = req.name().unwrap_or_default();
        let stages = w.stages.get(name).cloned().unwrap_or_default();
        let mut decl = PipelineDeclaration::builder()
            .name(name)
            .role_arn(format!("arn:aws:iam::{ACCOUNT}:role/pipeline"));
        for s in &stages {
            decl = decl.stages(stage(s));
        }
        GetPipelineOutput::builder()
            .pipeline(decl.build().unwrap())
            .build()
    });
    let w = world.clone();
    let get_execution = mock!(Client::get_pipeline_execution).then_compute_output(move |req| {
        let w = w.lock().unwrap();
        let id = req.pipeline_execution_id().unwrap_or_default();
        let e = w
            .executions
            .iter()
            .find(|e| e.id == id)
            .expect("known execution")
            .clone();
        GetPipelineExecutionOutput::builder()
            .pipeline_execution(
                PipelineExecution::builder()
                    .pipeline_name(&e.pipeline)
                    .pipeline_version(1)
                    .pipeline_execution_id(&e.id)
                    .status(e.status.clone())
                    .artifact_revisions(
                        ArtifactRevision::builder()
                            .name("SourceArtifact")
                            .revision_id(&e.commit)
                            .revision_summary(
                                json!({"ProviderType": "GitHub", "CommitMessage": e.message})
                                    .to_string(),
                            )
                            .revision_url(revision_url(&e.commit))
                            .created(DateTime::from_secs(e.time - 600))
                            .build(),
                    )
                    .trigger(
                        ExecutionTrigger::builder()
                            .trigger_type(e.trigger.clone())
                            .trigger_detail(format!(
                                "arn:aws:codeconnections:us-east-1:{ACCOUNT}:connection/3f2e1d0c"
                            ))
                            .build(),
                    )
                    .build(),
            )
            .build()
    });
    let w = world.clone();
    let list_actions = mock!(Client::list_action_executions).then_compute_output(move |req| {
        let w = w.lock().unwrap();
        let id = req
            .filter()
            .and_then(|f| f.pipeline_execution_id())
            .unwrap_or_default();
        let e = w
            .executions
            .iter()
            .find(|e| e.id == id)
            .expect("known execution")
            .clone();
        let deploy = ActionExecutionDetail::builder()
            .pipeline_execution_id(&e.id)
            .action_execution_id(format!("{}-deploy", e.id))
            .stage_name("Deploy")
            .action_name("Deploy")
            .status(ActionExecutionStatus::Succeeded)
            .build();
        let source = ActionExecutionDetail::builder()
            .pipeline_execution_id(&e.id)
            .action_execution_id(format!("{}-source", e.id))
            .stage_name("Source")
            .action_name("Source")
            .status(ActionExecutionStatus::Succeeded)
            .output(
                ActionExecutionOutput::builder()
                    .output_variables("BranchName", &e.branch)
                    .output_variables("CommitId", &e.commit)
                    .output_variables("CommitMessage", &e.message)
                    .output_variables("FullRepositoryName", REPO)
                    .output_variables(
                        "ConnectionArn",
                        format!("arn:aws:codeconnections:us-east-1:{ACCOUNT}:connection/3f2e1d0c"),
                    )
                    .output_variables("ProviderType", "GitHub")
                    // The commit's author date: the head commit was authored 30 minutes before.
                    .output_variables("AuthorDate", rfc3339(e.time - 1_800))
                    .build(),
            )
            .build();
        ListActionExecutionsOutput::builder()
            .action_execution_details(deploy)
            .action_execution_details(source)
            .build()
    });
    let w = world.clone();
    let list_pipelines = mock!(Client::list_pipelines).then_compute_output(move |req| {
        let w = w.lock().unwrap();
        let mut names: Vec<&String> = w.stages.keys().collect();
        names.sort();
        let start: usize = req.next_token().and_then(|t| t.parse().ok()).unwrap_or(0);
        let mut out = ListPipelinesOutput::builder();
        for n in names.iter().skip(start).take(2) {
            out = out.pipelines(
                PipelineSummary::builder()
                    .name(n.as_str())
                    .version(1)
                    .build(),
            );
        }
        if start + 2 < names.len() {
            out = out.next_token((start + 2).to_string());
        }
        out.build()
    });
    let w = world.clone();
    let list_executions = mock!(Client::list_pipeline_executions).then_compute_output(move |req| {
        let w = w.lock().unwrap();
        let mut runs: Vec<&Exec> = w
            .executions
            .iter()
            .filter(|e| Some(e.pipeline.as_str()) == req.pipeline_name())
            .collect();
        runs.sort_by_key(|e| std::cmp::Reverse(e.time));
        let start: usize = req.next_token().and_then(|t| t.parse().ok()).unwrap_or(0);
        let mut out = ListPipelineExecutionsOutput::builder();
        for e in runs.iter().skip(start).take(3) {
            out = out.pipeline_execution_summaries(
                PipelineExecutionSummary::builder()
                    .pipeline_execution_id(&e.id)
                    .status(e.status.clone())
                    .start_time(DateTime::from_secs(e.time - 600))
                    .last_update_time(DateTime::from_secs(e.time))
                    .source_revisions(
                        SourceRevision::builder()
                            .action_name("Source")
                            .revision_id(&e.commit)
                            .revision_summary(&e.message)
                            .build()
                            .unwrap(),
                    )
                    .trigger(
                        ExecutionTrigger::builder()
                            .trigger_type(e.trigger.clone())
                            .build(),
                    )
                    .build(),
            );
        }
        if start + 3 < runs.len() {
            out = out.next_token((start + 3).to_string());
        }
        out.build()
    });
    let rules = vec![
        get_pipeline,
        get_execution,
        list_actions,
        list_pipelines,
        list_executions,
    ];
    let client = mock_client!(aws_sdk_codepipeline, RuleMode::MatchAny, rules.iter());
    (client, rules)
}

/// SSM answering GetOpsItem from `world`.
pub fn ssm(world: &Shared) -> (aws_sdk_ssm::Client, Rule) {
    let w = world.clone();
    let rule = mock!(aws_sdk_ssm::Client::get_ops_item).then_compute_output(move |req| {
        let w = w.lock().unwrap();
        let item = w
            .items
            .get(req.ops_item_id().unwrap_or_default())
            .expect("known OpsItem")
            .clone();
        let mut b = OpsItem::builder()
            .ops_item_id(&item.id)
            .title("Checkout errors")
            .source("aws.ssm")
            .ops_item_type("/aws/issue")
            .status(item.status.clone())
            .created_time(DateTime::from_secs(item.created))
            .last_modified_time(DateTime::from_secs(item.modified))
            .ops_item_arn(format!(
                "arn:aws:ssm:us-east-1:{ACCOUNT}:opsitem/{}",
                item.id
            ));
        for (k, v) in &item.data {
            b = b.operational_data(
                k,
                OpsItemDataValue::builder()
                    .value(v)
                    .r#type(OpsItemDataType::SearchableString)
                    .build(),
            );
        }
        GetOpsItemOutput::builder().ops_item(b.build()).build()
    });
    let w = world.clone();
    let describe = mock!(aws_sdk_ssm::Client::describe_ops_items).then_compute_output(move |req| {
        // The CreatedTime GreaterThan filter backfill sends.
        let after = req
            .ops_item_filters()
            .iter()
            .flat_map(|f| f.values())
            .filter_map(|v| DateTime::from_str(v, Format::DateTime).ok())
            .map(|t| t.secs())
            .max()
            .unwrap_or(0);
        let w = w.lock().unwrap();
        let mut items: Vec<&Item> = w.items.values().filter(|i| i.created > after).collect();
        items.sort_by(|a, b| a.id.cmp(&b.id));
        DescribeOpsItemsOutput::builder()
            .set_ops_item_summaries(Some(
                items
                    .iter()
                    .map(|i| OpsItemSummary::builder().ops_item_id(&i.id).build())
                    .collect(),
            ))
            .build()
    });
    let client = mock_client!(aws_sdk_ssm, RuleMode::MatchAny, [&rule, &describe]);
    (client, rule)
}

/// `/aws/resources` naming a pipeline, as OpsCenter stores related resources.
pub fn resources_of(pipeline: &str) -> (String, String) {
    (
        "/aws/resources".into(),
        json!([{"arn": format!("arn:aws:codepipeline:us-east-1:{ACCOUNT}:{pipeline}")}])
            .to_string(),
    )
}

// ---------------------------------------------------------------------------- GitHub

/// A linear history: (sha, committer time), oldest first.
pub type History = Arc<Mutex<Vec<(String, i64)>>>;

fn api_commit(sha: &str, time: i64) -> Value {
    let who = json!({"name": "Dev", "email": "dev@example.com", "date": rfc3339(time)});
    json!({
        "sha": sha,
        "node_id": "C_kwDO",
        "url": format!("https://api.github.com/repos/{REPO}/commits/{sha}"),
        "html_url": format!("https://github.com/{REPO}/commit/{sha}"),
        "commit": {"author": who, "committer": who, "message": format!("change {sha}"), "comment_count": 0},
        "parents": []
    })
}

fn query(req: &Request, key: &str) -> Option<usize> {
    req.url
        .query_pairs()
        .find(|(k, _)| k == key)
        .and_then(|(_, v)| v.parse().ok())
}

/// GitHub's compare (paginated by `per_page`/`page`) and single-commit endpoints over a history.
pub struct FakeGitHub(pub History);

impl Respond for FakeGitHub {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let history = self.0.lock().unwrap();
        let not_found = ResponseTemplate::new(404).set_body_json(json!({
            "message": "Not Found",
            "documentation_url": "https://docs.github.com/rest/commits/commits#compare-two-commits",
            "status": "404"
        }));
        let index = |sha: &str| history.iter().position(|(s, _)| s == sha);
        let path = req.url.path().to_string();
        if let Some(range) = path.strip_prefix(&format!("/repos/{REPO}/compare/")) {
            let Some((base, head)) = range.split_once("...") else {
                return not_found;
            };
            let (Some(b), Some(h)) = (index(base), index(head)) else {
                return not_found;
            };
            let new: Vec<&(String, i64)> = history
                .iter()
                .skip(b + 1)
                .take(h.saturating_sub(b))
                .collect();
            let per_page = query(req, "per_page").unwrap_or(250);
            let page = query(req, "page").unwrap_or(1);
            let commits: Vec<Value> = new
                .iter()
                .skip((page - 1) * per_page)
                .take(per_page)
                .map(|(s, t)| api_commit(s, *t))
                .collect();
            return ResponseTemplate::new(200).set_body_json(json!({
                "url": format!("https://api.github.com/repos/{REPO}/compare/{range}"),
                "status": "ahead",
                "ahead_by": new.len(),
                "behind_by": 0,
                "total_commits": new.len(),
                "commits": commits,
                "files": []
            }));
        }
        if let Some(sha) = path.strip_prefix(&format!("/repos/{REPO}/commits/")) {
            return match index(sha) {
                Some(i) => ResponseTemplate::new(200).set_body_json(api_commit(sha, history[i].1)),
                None => not_found,
            };
        }
        not_found
    }
}

/// A wiremock GitHub serving `history`, and the client of it.
pub async fn github(history: &History) -> (MockServer, GitHubCommits) {
    let server = MockServer::start().await;
    Mock::given(wiremock::matchers::method("GET"))
        .respond_with(FakeGitHub(history.clone()))
        .mount(&server)
        .await;
    let client = github_client(&server);
    (server, client)
}

/// The production GitHub client, pointed at `server`.
pub fn github_client(server: &MockServer) -> GitHubCommits {
    GitHubCommits::new(&server.uri(), "ghp_test_token").expect("a GitHub client")
}

// ---------------------------------------------------------------------------- deps

pub fn settings(namespace: &str, prod: &str) -> Settings {
    let mut s = dora::deps::settings(&[("METRICS_NAMESPACE", namespace), ("PROD_PIPELINES", prod)])
        .unwrap();
    s.namespace = namespace.to_string();
    s
}

/// Moto's state table and CloudWatch, plus the mocks and GitHub given.
pub async fn deps(
    namespace: &str,
    prod: &str,
    world: &Shared,
    github: Option<GitHubCommits>,
) -> (TestDeps, Vec<Rule>) {
    let sdk = tollgate_tests::moto_config().await;
    let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
    let table = tollgate_tests::create_state_table(&dynamo).await;
    deps_on_table(namespace, prod, world, github, &table).await
}

pub async fn deps_on_table(
    namespace: &str,
    prod: &str,
    world: &Shared,
    github: Option<GitHubCommits>,
    table: &str,
) -> (TestDeps, Vec<Rule>) {
    let sdk = tollgate_tests::moto_config().await;
    let (cp, mut rules) = codepipeline(world);
    let (ssm, rule) = ssm(world);
    rules.push(rule);
    let deps = Deps::new(
        settings(namespace, prod),
        DynamoStateStore::new(aws_sdk_dynamodb::Client::new(&sdk), table),
        CloudWatchSink {
            client: aws_sdk_cloudwatch::Client::new(&sdk),
            namespace: namespace.to_string(),
        },
        CodePipelineHistory::new(cp),
        SsmOpsItems::new(ssm),
        github,
    );
    (deps, rules)
}

// ---------------------------------------------------------------------------- events

pub fn execution_event(e: &Exec) -> Value {
    json!({
        "version": "0",
        "id": format!("evt-{}", e.id),
        "detail-type": "CodePipeline Pipeline Execution State Change",
        "source": "aws.codepipeline",
        "account": ACCOUNT,
        "time": rfc3339(e.time),
        "region": "us-east-1",
        "resources": [format!("arn:aws:codepipeline:us-east-1:{ACCOUNT}:{}", e.pipeline)],
        "detail": {
            "pipeline": e.pipeline,
            "execution-id": e.id,
            "start-time": rfc3339(e.time - 600),
            "execution-trigger": {"trigger-type": e.trigger.as_str(), "trigger-detail": "arn:aws:codeconnections:us-east-1:111111111111:connection/3f2e1d0c"},
            "state": "SUCCEEDED",
            "version": 1,
            "pipeline-execution-attempt": 1
        }
    })
}

pub fn stage_event(e: &Exec, stage: &str, state: &str) -> Value {
    json!({
        "version": "0",
        "id": format!("evt-{}-{stage}", e.id),
        "detail-type": "CodePipeline Stage Execution State Change",
        "source": "aws.codepipeline",
        "account": ACCOUNT,
        "time": rfc3339(e.time),
        "region": "us-east-1",
        "resources": [format!("arn:aws:codepipeline:us-east-1:{ACCOUNT}:{}", e.pipeline)],
        "detail": {
            "pipeline": e.pipeline,
            "execution-id": e.id,
            "stage": stage,
            "start-time": rfc3339(e.time - 300),
            "state": state,
            "version": 1,
            "pipeline-execution-attempt": 1
        }
    })
}

pub fn opsitem_event(item: &Item, update: bool) -> Value {
    // OpsCenter creates OpsItems Open; the item's current status is an Update's.
    let status = if update { item.status.as_str() } else { "Open" };
    let time = if update { item.modified } else { item.created };
    let mut detail = json!({
        "created-by": format!("arn:aws:iam::{ACCOUNT}:user/oncall"),
        "created-time": rfc3339(item.created),
        "source": "aws.ssm",
        "status": status,
        "ops-item-id": item.id,
        "title": "Checkout errors",
        "ops-item-type": "/aws/issue"
    });
    if update {
        detail["modified-by"] = json!(format!("arn:aws:iam::{ACCOUNT}:user/oncall"));
        detail["modified-time"] = json!(rfc3339(item.modified));
    }
    json!({
        "version": "0",
        "id": format!("evt-{}-{}", item.id, if update { "update" } else { "create" }),
        "detail-type": if update { "OpsItem Update" } else { "OpsItem Create" },
        "source": "aws.ssm",
        "account": ACCOUNT,
        "time": rfc3339(time),
        "region": "us-east-1",
        "resources": [format!("arn:aws:ssm:us-east-1:{ACCOUNT}:opsitem/{}", item.id)],
        "detail": detail
    })
}

/// Delivers `event` to every calculator, as EventBridge delivers it to the four functions.
pub async fn deliver(deps: &TestDeps, event: &Value) {
    for c in Calculator::ALL {
        deps.handle(c, event, now())
            .await
            .unwrap_or_else(|e| panic!("{c:?}: {e}"));
    }
}

// ---------------------------------------------------------------------------- CloudWatch

/// Datapoints of one series over `[start, end)`: (count, sum, min, max).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stats {
    pub count: f64,
    pub sum: f64,
    pub min: f64,
    pub max: f64,
}

/// Reads a metric back from moto with GetMetricStatistics (hourly buckets, added up). With
/// `pipeline`, the `Pipeline` series; without, moto answers every series of the metric (both the
/// per-pipeline and the all-pipelines one), unlike CloudWatch, which answers the series with
/// no dimension alone.
pub async fn stats(
    namespace: &str,
    metric: &str,
    pipeline: Option<&str>,
    start: i64,
    end: i64,
) -> Stats {
    let sdk = tollgate_tests::moto_config().await;
    let cw = aws_sdk_cloudwatch::Client::new(&sdk);
    let mut req = cw
        .get_metric_statistics()
        .namespace(namespace)
        .metric_name(metric)
        .start_time(DateTime::from_secs(start))
        .end_time(DateTime::from_secs(end))
        .period(3_600)
        .statistics(Statistic::SampleCount)
        .statistics(Statistic::Sum)
        .statistics(Statistic::Minimum)
        .statistics(Statistic::Maximum);
    if let Some(p) = pipeline {
        req = req.dimensions(Dimension::builder().name("Pipeline").value(p).build());
    }
    let out = req.send().await.expect("GetMetricStatistics");
    let mut s = Stats {
        count: 0.0,
        sum: 0.0,
        min: f64::INFINITY,
        max: f64::NEG_INFINITY,
    };
    for d in out.datapoints() {
        s.count += d.sample_count().unwrap_or(0.0);
        s.sum += d.sum().unwrap_or(0.0);
        s.min = s.min.min(d.minimum().unwrap_or(f64::INFINITY));
        s.max = s.max.max(d.maximum().unwrap_or(f64::NEG_INFINITY));
    }
    s
}

/// The metric's series as ListMetrics names them: each one's dimensions as `name=value`.
pub async fn series(namespace: &str, metric: &str) -> Vec<Vec<String>> {
    let sdk = tollgate_tests::moto_config().await;
    let cw = aws_sdk_cloudwatch::Client::new(&sdk);
    let out = cw
        .list_metrics()
        .namespace(namespace)
        .metric_name(metric)
        .send()
        .await
        .expect("ListMetrics");
    let mut all: Vec<Vec<String>> = out
        .metrics()
        .iter()
        .map(|m| {
            m.dimensions()
                .iter()
                .map(|d| {
                    format!(
                        "{}={}",
                        d.name().unwrap_or_default(),
                        d.value().unwrap_or_default()
                    )
                })
                .collect()
        })
        .collect();
    all.sort();
    all.dedup();
    all
}
