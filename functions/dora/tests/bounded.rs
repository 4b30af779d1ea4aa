//! Bounded GitHub work: a compare is read up to 1,000 commits, the rest is flagged, not fetched.
mod common;

use std::sync::{Arc, Mutex};

use aws_sdk_codepipeline::types::{PipelineExecutionStatus, TriggerType};
use common::*;
use dora::model::LEAD_TIME_FOR_CHANGES;

fn exec(id: &str, time: i64, commit: &str) -> Exec {
    Exec {
        pipeline: "web".into(),
        id: id.into(),
        status: PipelineExecutionStatus::Succeeded,
        trigger: TriggerType::Webhook,
        time,
        commit: commit.into(),
        branch: "main".into(),
        message: format!("Deploy {commit}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_5000_commit_compare_is_capped_at_1000_commits_and_flagged_in_ledger_and_report() {
    let t0 = (now() - 2 * 86_400) / H * H;
    // c0 … c5000, ten seconds apart; d1 deploys c0, d2 all 5,000 after it.
    let history: History = Arc::new(Mutex::new(
        (0..=5_000)
            .map(|i| (format!("c{i}"), t0 + i as i64 * 10))
            .collect(),
    ));
    let (server, gh) = github(&history).await;
    let w = world();
    let runs = [exec("d1", t0 + H, "c0"), exec("d2", t0 + 20 * H, "c5000")];
    seed_web(&w, &runs, &[]);
    let ns = tollgate_tests::unique("DORA");
    let (deps, _rules) = deps(&ns, "*", &w, Some(gh)).await;
    for r in &runs {
        deliver(&deps, &execution_event(r)).await;
    }
    let compares = server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.url.path().contains("/compare/"))
        .count();
    assert!(compares <= 10, "{compares} compare pages read, at most 10");

    let ledger = dora::ledger::pipeline(&deps.store, "web").await.unwrap();
    let d2 = ledger
        .lead_times
        .iter()
        .find(|l| l.execution_id == "d2")
        .expect("d2's lead times");
    assert_eq!(d2.seconds.len(), 1_000);
    assert_eq!(d2.truncated_from, Some(5_000));
    // The first (oldest) commits: c1 is the first after d1's c0.
    assert_eq!(d2.seconds[0], t0 + 20 * H - (t0 + 10));

    let lead = stats(&ns, LEAD_TIME_FOR_CHANGES, Some("web"), t0, t0 + 21 * H).await;
    assert_eq!(lead.count, 1.0 + 1_000.0);

    let report = dora::report::summarize(&[ledger], now(), 30);
    assert_eq!(report.pipelines[0].truncated_deployments, 1);
    assert_eq!(report.all.truncated_deployments, 1);
}
