//! Per-event cost does not grow with history: the same queries, and the same items read, after
//! 10 or 10,000 prior deployments of the pipeline (against moto's DynamoDB).
mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use aws_sdk_codepipeline::types::{PipelineExecutionStatus, TriggerType};
use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use aws_sdk_ssm::types::OpsItemStatus;
use common::*;
use dora::adapters::{CloudWatchSink, CodePipelineHistory, SsmOpsItems};
use dora::handler::{Calculator, Deps};
use dora::model::Deployment;
use serde_json::Value;
use tollgate::state::{DynamoStateStore, Record, SkRange, StateError, StateStore, Write};

/// What one event read from the state table.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Reads {
    /// Query requests (whole-partition or ranged).
    queries: usize,
    /// Items those queries returned.
    items: usize,
    /// GetItem requests.
    gets: usize,
}

/// A [`StateStore`] that counts the reads it passes on to the real one.
struct Counting<S> {
    inner: S,
    queries: AtomicUsize,
    items: AtomicUsize,
    gets: AtomicUsize,
}

impl<S> Counting<S> {
    fn new(inner: S) -> Self {
        Counting {
            inner,
            queries: AtomicUsize::new(0),
            items: AtomicUsize::new(0),
            gets: AtomicUsize::new(0),
        }
    }

    fn take(&self) -> Reads {
        Reads {
            queries: self.queries.swap(0, Ordering::SeqCst),
            items: self.items.swap(0, Ordering::SeqCst),
            gets: self.gets.swap(0, Ordering::SeqCst),
        }
    }

    fn counted(&self, records: Vec<Record>) -> Vec<Record> {
        self.queries.fetch_add(1, Ordering::SeqCst);
        self.items.fetch_add(records.len(), Ordering::SeqCst);
        records
    }
}

impl<S: StateStore> StateStore for Counting<S> {
    async fn create(&self, record: &Record) -> Result<(), StateError> {
        self.inner.create(record).await
    }
    async fn transition(
        &self,
        pk: &str,
        sk: &str,
        from: &str,
        to: &str,
        data: Option<&Value>,
    ) -> Result<(), StateError> {
        self.inner.transition(pk, sk, from, to, data).await
    }
    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Record>, StateError> {
        self.gets.fetch_add(1, Ordering::SeqCst);
        self.inner.get(pk, sk).await
    }
    async fn query(&self, pk: &str) -> Result<Vec<Record>, StateError> {
        Ok(self.counted(self.inner.query(pk).await?))
    }
    async fn query_range(
        &self,
        pk: &str,
        range: SkRange<'_>,
        limit: Option<usize>,
        reverse: bool,
    ) -> Result<Vec<Record>, StateError> {
        Ok(self.counted(self.inner.query_range(pk, range, limit, reverse).await?))
    }
    async fn write_all(&self, writes: &[Write]) -> Result<(), StateError> {
        self.inner.write_all(writes).await
    }
    async fn delete(&self, pk: &str, sk: &str) -> Result<(), StateError> {
        self.inner.delete(pk, sk).await
    }
}

type CountingDeps = Deps<
    Counting<DynamoStateStore>,
    CloudWatchSink,
    CodePipelineHistory,
    SsmOpsItems,
    dora::adapters::GitHubCommits,
>;

/// Writes `n` deployments of `web` (commit c0, a minute apart, ending an hour before `until`)
/// straight into the ledger's time-ordered partition, 25 to a BatchWriteItem.
async fn seed_history(dynamo: &aws_sdk_dynamodb::Client, table: &str, n: usize, until: i64) {
    let items: Vec<WriteRequest> = (0..n)
        .map(|i| {
            let d = Deployment {
                pipeline: "web".into(),
                execution_id: format!("old-{i:05}"),
                time: until - H - (n - i) as i64 * 60,
                commit: Some("c0".into()),
                repository: Some(REPO.into()),
                branch: Some("main".into()),
                commit_message: Some("Deploy c0".into()),
                trigger_type: Some("Webhook".into()),
            };
            let item = [
                ("pk", AttributeValue::S(dora::ledger::deploy_pk("web"))),
                (
                    "sk",
                    AttributeValue::S(dora::ledger::time_sk(d.time, &d.execution_id)),
                ),
                (
                    "data",
                    AttributeValue::S(serde_json::to_string(&d).expect("json")),
                ),
                (
                    "expires_at",
                    AttributeValue::N((d.time + 400 * 86_400).to_string()),
                ),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
            WriteRequest::builder()
                .put_request(
                    PutRequest::builder()
                        .set_item(Some(item))
                        .build()
                        .expect("put"),
                )
                .build()
        })
        .collect();
    for chunk in items.chunks(25) {
        dynamo
            .batch_write_item()
            .request_items(table, chunk.to_vec())
            .send()
            .await
            .expect("batch write");
    }
    dora::ledger::index_pipeline(&DynamoStateStore::new(dynamo.clone(), table), "web")
        .await
        .expect("index");
}

/// The reads of each calculator for one new deployment, then for an OpsItem created after it
/// and resolved, with `prior` deployments already in the ledger.
async fn reads_after(prior: usize) -> Vec<(String, Reads)> {
    let t = (now() - 86_400) / H * H;
    let history: History = Arc::new(Mutex::new(
        (0..4)
            .map(|i| (format!("c{i}"), t - 4 * H + i * H))
            .collect(),
    ));
    let (_server, gh) = github(&history).await;
    let w = world();
    let run = Exec {
        pipeline: "web".into(),
        id: "new".into(),
        status: PipelineExecutionStatus::Succeeded,
        trigger: TriggerType::Webhook,
        time: t,
        commit: "c3".into(),
        branch: "main".into(),
        message: "Deploy c3".into(),
    };
    let item = Item {
        id: "oi-0000000scale".into(),
        created: t + 600,
        modified: t + 1_200,
        status: OpsItemStatus::Resolved,
        data: vec![resources_of("web")],
    };
    seed_web(&w, std::slice::from_ref(&run), std::slice::from_ref(&item));
    let sdk = tollgate_tests::moto_config().await;
    let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
    let table = tollgate_tests::create_state_table(&dynamo).await;
    seed_history(&dynamo, &table, prior, t).await;
    let ns = tollgate_tests::unique("DORA");
    let (cp, _rules) = codepipeline(&w);
    let (ssm, _rule) = ssm(&w);
    let deps: CountingDeps = Deps::new(
        settings(&ns, "*"),
        Counting::new(DynamoStateStore::new(dynamo, &table)),
        CloudWatchSink {
            client: aws_sdk_cloudwatch::Client::new(&sdk),
            namespace: ns.clone(),
        },
        CodePipelineHistory::new(cp),
        SsmOpsItems::new(ssm),
        Some(gh),
    );
    let mut reads = Vec::new();
    for (name, event) in [
        ("deployment", execution_event(&run)),
        ("OpsItem", opsitem_event(&item, true)),
    ] {
        for c in Calculator::ALL {
            deps.store.take();
            deps.handle(c, &event, now())
                .await
                .unwrap_or_else(|e| panic!("{c:?}: {e}"));
            reads.push((format!("{name} {c:?}"), deps.store.take()));
        }
    }
    reads
}

#[tokio::test(flavor = "multi_thread")]
async fn ten_thousand_prior_deployments_do_not_change_the_reads_an_event_makes() {
    let few = reads_after(10).await;
    let many = reads_after(10_000).await;
    for ((event, a), (_, b)) in few.iter().zip(&many) {
        println!("{event}: after 10 {a:?}, after 10,000 {b:?}");
    }
    assert_eq!(few, many);
    // And each is small: no event reads more than a handful of items.
    for (event, r) in &many {
        assert!(r.items <= 5 && r.queries <= 5, "{event}: {r:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_ledger_item_expires_retention_days_after_its_event_time() {
    let t = (now() - 86_400) / H * H;
    let w = world();
    let runs = [
        Exec {
            pipeline: "web".into(),
            id: "r1".into(),
            status: PipelineExecutionStatus::Succeeded,
            trigger: TriggerType::Webhook,
            time: t,
            commit: "c1".into(),
            branch: "main".into(),
            message: "Deploy c1".into(),
        },
        Exec {
            pipeline: "web".into(),
            id: "r2".into(),
            status: PipelineExecutionStatus::Succeeded,
            trigger: TriggerType::ManualRollback,
            time: t + H,
            commit: "c0".into(),
            branch: "main".into(),
            message: "Roll back".into(),
        },
    ];
    let item = Item {
        id: "oi-00000000ttl1".into(),
        created: t + 600,
        modified: t + 1_200,
        status: OpsItemStatus::Open,
        data: vec![resources_of("web")],
    };
    seed_web(&w, &runs, std::slice::from_ref(&item));
    let sdk = tollgate_tests::moto_config().await;
    let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
    let table = tollgate_tests::create_state_table(&dynamo).await;
    let ns = tollgate_tests::unique("DORA");
    let (deps, _rules) = deps_on_table(&ns, "*", &w, None, &table).await;
    for r in &runs {
        deliver(&deps, &execution_event(r)).await;
    }
    deliver(&deps, &opsitem_event(&item, false)).await;
    let items = dynamo
        .scan()
        .table_name(&table)
        .send()
        .await
        .expect("scan")
        .items
        .unwrap_or_default();
    let mut kinds = std::collections::BTreeSet::new();
    for item in &items {
        let pk = item["pk"].as_s().expect("pk");
        if pk == dora::ledger::PIPELINES_PK || pk.starts_with("EVENT#") {
            continue;
        }
        let kind = pk.split('#').take(2).collect::<Vec<_>>().join("#");
        let expires: i64 = item
            .get("expires_at")
            .unwrap_or_else(|| panic!("{pk} has no expires_at"))
            .as_n()
            .expect("number")
            .parse()
            .expect("epoch seconds");
        if !pk.starts_with("DORA#EMITTED#") {
            // 400 days (the default) after an event time of this test's day.
            let days = (expires - t) as f64 / 86_400.0;
            assert!((399.0..=401.0).contains(&days), "{pk}: {days} days");
        }
        kinds.insert(kind);
    }
    for kind in [
        "DORA#DEPLOY",
        "DORA#EXEC",
        "DORA#FAILED",
        "DORA#INCIDENT",
        "DORA#OPEN",
        "DORA#EMITTED",
    ] {
        assert!(kinds.contains(kind), "no {kind} item in {kinds:?}");
    }
}
