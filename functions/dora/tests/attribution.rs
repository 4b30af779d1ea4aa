//! Figures that hold up: an OpsItem fails only its own account's pipelines, recovery time comes
//! from event times, and Tollgate's own branch pipelines are never production.
mod common;

use aws_sdk_codepipeline::types::{PipelineExecutionStatus, TriggerType};
use aws_sdk_ssm::types::OpsItemStatus;
use common::*;
use dora::handler::{Calculator, Outcome};
use dora::model::{DEPLOYMENT_COUNT, FAILED_DEPLOYMENT_COUNT, TIME_TO_RESTORE};
use serde_json::json;

fn exec(pipeline: &str, id: &str, time: i64, commit: &str) -> Exec {
    Exec {
        pipeline: pipeline.into(),
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
async fn an_opsitem_naming_another_accounts_pipeline_is_ignored() {
    let t0 = (now() - 86_400) / H * H;
    let w = world();
    let run = exec("web", "d1", t0, "c1");
    // In this account (the event's), but its related resource is account 222222222222's `web`.
    let item = Item {
        id: "oi-0000000other".into(),
        created: t0 + 600,
        modified: t0 + 1_200,
        status: OpsItemStatus::Open,
        data: vec![(
            "/aws/resources".into(),
            json!([{"arn": "arn:aws:codepipeline:us-east-1:222222222222:web"}]).to_string(),
        )],
    };
    seed_web(&w, std::slice::from_ref(&run), std::slice::from_ref(&item));
    let ns = tollgate_tests::unique("DORA");
    let (deps, _rules) = deps(&ns, "*", &w, None).await;
    deliver(&deps, &execution_event(&run)).await;
    for c in [Calculator::ChangeFailureRate, Calculator::TimeToRestore] {
        let outcome = deps
            .handle(c, &opsitem_event(&item, false), now())
            .await
            .unwrap();
        assert!(matches!(outcome, Outcome::Ignored(_)), "{c:?}: {outcome:?}");
    }
    let failed = stats(&ns, FAILED_DEPLOYMENT_COUNT, Some("web"), t0 - H, t0 + H).await;
    assert_eq!(failed.count, 0.0);
    for ledger in dora::ledger::load(&deps.store).await.unwrap() {
        assert!(ledger.incidents.is_empty(), "{ledger:?}");
        assert!(ledger.failures.is_empty(), "{ledger:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn recovery_time_comes_from_the_resolving_events_time_not_a_later_edit() {
    let t0 = (now() - 86_400) / H * H;
    let w = world();
    let run = exec("web", "d1", t0, "c1");
    // Resolved an hour after creation (the Update event's time); edited again four hours later,
    // which is what GetOpsItem's LastModifiedTime says by the time the event is handled.
    let item = Item {
        id: "oi-00000000edit".into(),
        created: t0 + 600,
        modified: t0 + 600 + 5 * H,
        status: OpsItemStatus::Resolved,
        data: vec![resources_of("web")],
    };
    seed_web(&w, std::slice::from_ref(&run), std::slice::from_ref(&item));
    let ns = tollgate_tests::unique("DORA");
    let (deps, _rules) = deps(&ns, "*", &w, None).await;
    deliver(&deps, &execution_event(&run)).await;
    let created = Item {
        status: OpsItemStatus::Open,
        ..item.clone()
    };
    deliver(&deps, &opsitem_event(&created, false)).await;
    let resolving = Item {
        modified: t0 + 600 + H,
        ..item.clone()
    };
    deliver(&deps, &opsitem_event(&resolving, true)).await;
    // The later edit's own event changes nothing.
    let mut edit = opsitem_event(&item, true);
    edit["id"] = json!("evt-later-edit");
    deliver(&deps, &edit).await;
    let ttr = stats(&ns, TIME_TO_RESTORE, Some("web"), t0, t0 + 6 * H).await;
    assert_eq!((ttr.count, ttr.sum), (1.0, 3_600.0));
    let ledger = dora::ledger::pipeline(&deps.store, "web").await.unwrap();
    assert_eq!(ledger.incidents[0].time_to_restore(), Some(3_600));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_branch_pipeline_deployment_is_not_counted_even_with_prod_pipelines_star() {
    let t0 = (now() - 86_400) / H * H;
    let w = world();
    let branch = "tollgate-branch-orders-feature-login-1a2b3c4d5e";
    let runs = [
        exec("web", "d1", t0, "c1"),
        exec(branch, "b1", t0 + H, "c2"),
    ];
    seed_web(&w, &runs, &[]);
    w.lock()
        .unwrap()
        .stages
        .insert(branch.into(), vec!["Source".into(), "Deploy".into()]);
    let ns = tollgate_tests::unique("DORA");
    let (mut deps, _rules) = deps(&ns, "*", &w, None).await;
    deps.settings.branch_prefix = Some("tollgate-branch".into());
    for r in &runs {
        deliver(&deps, &execution_event(r)).await;
    }
    let outcome = deps
        .handle(
            Calculator::DeploymentFrequency,
            &execution_event(&runs[1]),
            now(),
        )
        .await
        .unwrap();
    assert!(
        matches!(&outcome, Outcome::Ignored(why) if why.contains("branch pipeline")),
        "{outcome:?}"
    );
    let pipelines: Vec<String> = dora::ledger::load(&deps.store)
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.pipeline)
        .collect();
    assert_eq!(pipelines, vec!["web".to_string()]);
    assert_eq!(
        stats(&ns, DEPLOYMENT_COUNT, Some(branch), t0, t0 + 2 * H)
            .await
            .count,
        0.0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn out_of_order_deliveries_give_each_commit_to_its_first_deployment() {
    use dora::model::LEAD_TIME_FOR_CHANGES;
    use std::sync::{Arc, Mutex};
    let t0 = (now() - 2 * 86_400) / H * H;
    // c0 … c4 an hour apart; d0 ships c0, d1 c1–c2, d2 c3–c4.
    let history: History = Arc::new(Mutex::new(
        (0..5).map(|i| (format!("c{i}"), t0 + i * H)).collect(),
    ));
    let (_server, gh) = github(&history).await;
    let w = world();
    let runs = [
        exec("web", "d0", t0 + 30 * 60, "c0"),
        exec("web", "d1", t0 + 2 * H + 30 * 60, "c2"),
        exec("web", "d2", t0 + 4 * H + 30 * 60, "c4"),
    ];
    seed_web(&w, &runs, &[]);
    let ns = tollgate_tests::unique("DORA");
    let (deps, _rules) = deps(&ns, "*", &w, Some(gh)).await;
    // d1's event arrives last.
    for r in [&runs[0], &runs[2], &runs[1]] {
        deliver(&deps, &execution_event(r)).await;
    }
    // And again, in every order: nothing changes.
    for r in &runs {
        deliver(&deps, &execution_event(r)).await;
    }
    let ledger = dora::ledger::pipeline(&deps.store, "web").await.unwrap();
    let seconds = |id: &str| {
        ledger
            .lead_times
            .iter()
            .find(|l| l.execution_id == id)
            .map(|l| l.seconds.clone())
            .unwrap_or_default()
    };
    let half = 30 * 60;
    assert_eq!(seconds("d0"), vec![half]);
    assert_eq!(seconds("d1"), vec![H + half, half]);
    assert_eq!(seconds("d2"), vec![H + half, half]);
    // The report reads the ledger: five changes, each once.
    let report = dora::report::summarize(&[ledger], now(), 30);
    assert_eq!(report.pipelines[0].changes, 5);
    // CloudWatch cannot take datapoints back: d2's went out with c1–c4, so d1 adds none and
    // every commit is counted once there too.
    let lead = stats(&ns, LEAD_TIME_FOR_CHANGES, Some("web"), t0, t0 + 6 * H).await;
    assert_eq!(lead.count, 5.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn backfill_replays_opsitems_and_a_second_run_adds_nothing() {
    let t0 = (now() - 2 * 86_400) / H * H;
    let w = world();
    let runs = [
        exec("web", "d1", t0, "c1"),
        exec("web", "d2", t0 + 3 * H, "c2"),
    ];
    let item = Item {
        id: "oi-0000000back1".into(),
        created: t0 + H,
        modified: t0 + 2 * H,
        status: OpsItemStatus::Resolved,
        data: vec![resources_of("web")],
    };
    seed_web(&w, &runs, std::slice::from_ref(&item));
    let ns = tollgate_tests::unique("DORA");
    let (deps, _rules) = deps(&ns, "*", &w, None).await;
    let first = dora::backfill::backfill(&deps, 5, now(), &mut |_| {})
        .await
        .unwrap();
    assert_eq!((first.deployments, first.ops_items), (2, 1));
    let second = dora::backfill::backfill(&deps, 5, now(), &mut |_| {})
        .await
        .unwrap();
    assert_eq!((second.ops_items, second.datapoints), (1, 0));
    // And live events of the same OpsItem afterwards add nothing either.
    deliver(&deps, &opsitem_event(&item, false)).await;
    deliver(&deps, &opsitem_event(&item, true)).await;

    let (start, end) = (t0 - H, t0 + 4 * H);
    let failed = stats(&ns, FAILED_DEPLOYMENT_COUNT, Some("web"), start, end).await;
    let ttr = stats(&ns, TIME_TO_RESTORE, Some("web"), start, end).await;
    assert_eq!(failed.count, 1.0);
    assert_eq!((ttr.count, ttr.sum), (1.0, 3_600.0));
    let ledger = dora::ledger::pipeline(&deps.store, "web").await.unwrap();
    assert_eq!(ledger.incidents.len(), 1);
    assert_eq!(ledger.incidents[0].execution_id.as_deref(), Some("d1"));
    assert_eq!(ledger.failures.len(), 1);
}
