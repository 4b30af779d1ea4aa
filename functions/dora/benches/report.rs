//! `report` over 10,000 ledger records: `summarize` in memory and, when `TOLLGATE_SANDBOX_URL`
//! names a running sandbox, `ledger::load` + `summarize` from its DynamoDB (moto) end to end.
//! Prints figures (one line each); it is not a timed test and asserts only that the two paths
//! agree. Run: `cargo bench -p dora --bench report`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use dora::ledger;
use dora::model::{Deployment, Failure, Incident, LeadTimes, PipelineLedger};
use dora::report::summarize;
use serde::Serialize;
use tollgate::state::DynamoStateStore;

const PIPELINES: usize = 10;
const DAYS: u32 = 90;
/// Per pipeline: 400 deployments + 400 lead-time records + 100 failures + 100 incidents = 1,000.
const DEPLOYMENTS: usize = 400;
const FAILURES: usize = 100;
const INCIDENTS: usize = 100;
const NOW: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z
const SUMMARIZE_RUNS: usize = 21;
const LOAD_RUNS: usize = 3;

/// A small deterministic generator (64-bit LCG), so every run builds the same ledger.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

fn ledgers() -> Vec<PipelineLedger> {
    let mut rng = Lcg(42);
    let span = i64::from(DAYS) * 86_400;
    (0..PIPELINES)
        .map(|p| {
            let pipeline = format!("pipeline-{p:02}");
            let mut deployments = Vec::with_capacity(DEPLOYMENTS);
            let mut lead_times = Vec::with_capacity(DEPLOYMENTS);
            for d in 0..DEPLOYMENTS {
                let time = NOW - span + (d as i64 * span / DEPLOYMENTS as i64) + 1;
                let execution_id = format!("{p:02}-{d:04}-0000-0000-000000000000");
                let rollback = rng.below(40) == 0;
                deployments.push(Deployment {
                    pipeline: pipeline.clone(),
                    execution_id: execution_id.clone(),
                    time,
                    commit: Some(format!("{:040x}", rng.below(u64::MAX))),
                    repository: Some("acme/shop".into()),
                    branch: Some("main".into()),
                    commit_message: Some("Ship it".into()),
                    trigger_type: Some(
                        if rollback {
                            "AutomatedRollback"
                        } else {
                            "Webhook"
                        }
                        .into(),
                    ),
                });
                let commits = 1 + rng.below(5) as usize;
                lead_times.push(LeadTimes {
                    truncated_from: None,
                    base_commit: None,
                    pipeline: pipeline.clone(),
                    execution_id,
                    time,
                    seconds: (0..commits)
                        .map(|_| 300 + rng.below(5 * 86_400) as i64)
                        .collect(),
                });
            }
            let failures = (0..FAILURES)
                .map(|f| {
                    let d = &deployments[f * DEPLOYMENTS / FAILURES];
                    Failure {
                        pipeline: pipeline.clone(),
                        execution_id: d.execution_id.clone(),
                        time: d.time,
                        causes: vec![format!("oi-{p:02}{f:010}")],
                    }
                })
                .collect();
            let incidents = (0..INCIDENTS)
                .map(|i| {
                    let d = &deployments[i * DEPLOYMENTS / INCIDENTS];
                    let created = d.time + 600;
                    Incident {
                        id: format!("oi-{p:02}{i:010}"),
                        pipeline: pipeline.clone(),
                        execution_id: Some(d.execution_id.clone()),
                        created,
                        restored: (i % 10 != 0)
                            .then(|| created + 60 + rng.below(2 * 86_400) as i64),
                    }
                })
                .collect();
            PipelineLedger {
                pipeline,
                deployments,
                lead_times,
                failures,
                incidents,
            }
        })
        .collect()
}

fn records(ledgers: &[PipelineLedger]) -> usize {
    ledgers
        .iter()
        .map(|l| l.deployments.len() + l.lead_times.len() + l.failures.len() + l.incidents.len())
        .sum()
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn millis(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1_000.0)
}

/// One state-table item as `tollgate::state::DynamoStateStore` writes it: `pk`, `sk`, optional
/// `state`, and `data` as a JSON string.
fn item<T: Serialize>(pk: String, sk: &str, state: Option<&str>, data: &T) -> WriteRequest {
    let mut item = HashMap::from([
        ("pk".to_string(), AttributeValue::S(pk)),
        ("sk".to_string(), AttributeValue::S(sk.to_string())),
        (
            "data".to_string(),
            AttributeValue::S(serde_json::to_string(data).expect("encode")),
        ),
    ]);
    if let Some(state) = state {
        item.insert("state".into(), AttributeValue::S(state.into()));
    }
    let put = PutRequest::builder()
        .set_item(Some(item))
        .build()
        .expect("put request");
    WriteRequest::builder().put_request(put).build()
}

fn writes(ledgers: &[PipelineLedger]) -> Vec<WriteRequest> {
    let mut all = Vec::new();
    for l in ledgers {
        all.push(item(
            ledger::PIPELINES_PK.into(),
            &l.pipeline,
            None,
            &serde_json::json!({ "pipeline": l.pipeline }),
        ));
        for d in &l.deployments {
            all.push(item(
                ledger::deploy_pk(&l.pipeline),
                &d.execution_id,
                None,
                d,
            ));
        }
        for t in &l.lead_times {
            all.push(item(ledger::lead_pk(&l.pipeline), &t.execution_id, None, t));
        }
        for f in &l.failures {
            all.push(item(
                ledger::failed_pk(&l.pipeline),
                &f.execution_id,
                Some("FAILED"),
                f,
            ));
        }
        for i in &l.incidents {
            let state = if i.restored.is_some() {
                "RESTORED"
            } else {
                "OPEN"
            };
            all.push(item(
                ledger::incident_pk(&l.pipeline),
                &i.id,
                Some(state),
                i,
            ));
        }
    }
    all
}

async fn seed(client: &aws_sdk_dynamodb::Client, table: &str, writes: Vec<WriteRequest>) {
    for chunk in writes.chunks(25) {
        let mut pending = chunk.to_vec();
        for _ in 0..10 {
            let out = client
                .batch_write_item()
                .request_items(table, pending)
                .send()
                .await
                .expect("BatchWriteItem");
            pending = out
                .unprocessed_items()
                .and_then(|u| u.get(table))
                .cloned()
                .unwrap_or_default();
            if pending.is_empty() {
                break;
            }
        }
        assert!(pending.is_empty(), "BatchWriteItem left items unprocessed");
    }
}

async fn end_to_end(ledgers: &[PipelineLedger], count: usize) {
    let sdk = tollgate_tests::moto_config().await;
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    let table = tollgate_tests::create_state_table(&client).await;
    let started = Instant::now();
    seed(&client, &table, writes(ledgers)).await;
    let seeded = started.elapsed();
    let store = DynamoStateStore::new(client, &table);
    let expected = summarize(ledgers, NOW, DAYS);
    let mut samples = Vec::with_capacity(LOAD_RUNS);
    for _ in 0..LOAD_RUNS {
        let started = Instant::now();
        let loaded = ledger::load(&store).await.expect("ledger::load");
        let report = summarize(&loaded, NOW, DAYS);
        samples.push(started.elapsed());
        assert_eq!(
            report, expected,
            "the sandbox's ledger gives another report"
        );
    }
    println!(
        "report: {count} records, seed {:.2} s (BatchWriteItem), load+summarize {:.2} s (median of {LOAD_RUNS})",
        seeded.as_secs_f64(),
        median(samples).as_secs_f64()
    );
}

fn main() {
    let ledgers = ledgers();
    let count = records(&ledgers);
    let mut samples = Vec::with_capacity(SUMMARIZE_RUNS);
    let mut report = None;
    for _ in 0..SUMMARIZE_RUNS {
        let started = Instant::now();
        report = Some(std::hint::black_box(summarize(
            std::hint::black_box(&ledgers),
            NOW,
            DAYS,
        )));
        samples.push(started.elapsed());
    }
    let deployments = report.map(|r| r.all.deployments).unwrap_or_default();
    println!(
        "report: {count} records ({PIPELINES} pipelines, {deployments} deployments over {DAYS} days), summarize {} (median of {SUMMARIZE_RUNS})",
        millis(median(samples))
    );
    match std::env::var("TOLLGATE_SANDBOX_URL") {
        Ok(url) if !url.is_empty() => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("tokio runtime")
            .block_on(end_to_end(&ledgers, count)),
        _ => println!(
            "report: load+summarize skipped (set TOLLGATE_SANDBOX_URL to a running sandbox)"
        ),
    }
}
