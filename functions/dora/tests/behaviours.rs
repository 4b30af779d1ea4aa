//! Duplicates, out-of-order events, pagination, GitHub rate limits, non-production pipelines and
//! backfill, against moto, mocked CodePipeline/OpsCenter and a wiremock GitHub.

mod common;

use std::sync::{Arc, Mutex};

use aws_sdk_codepipeline::types::{PipelineExecutionStatus, TriggerType};
use aws_sdk_ssm::types::OpsItemStatus;
use common::*;
use dora::DoraError;
use dora::adapters::{Datapoint, MetricSink};
use dora::handler::{Calculator, Deps, Outcome};
use dora::model::{
    DEPLOYMENT_COUNT, FAILED_DEPLOYMENT_COUNT, LEAD_TIME_FOR_CHANGES, METRICS, TIME_TO_RESTORE,
};
use wiremock::{Mock, ResponseTemplate};

fn exec(pipeline: &str, id: &str, time: i64, commit: &str, trigger: TriggerType) -> Exec {
    Exec {
        pipeline: pipeline.into(),
        id: id.into(),
        status: PipelineExecutionStatus::Succeeded,
        trigger,
        time,
        commit: commit.into(),
        branch: "main".into(),
        message: format!("Deploy {commit}"),
    }
}

fn linear_history(t0: i64, n: usize, step: i64) -> History {
    Arc::new(Mutex::new(
        (0..n)
            .map(|i| (format!("c{i}"), t0 + i as i64 * step))
            .collect(),
    ))
}

async fn all_stats(ns: &str, pipeline: &str, start: i64, end: i64) -> Vec<Stats> {
    let mut out = Vec::new();
    for m in METRICS {
        out.push(stats(ns, m, Some(pipeline), start, end).await);
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn duplicate_events_add_no_datapoint_twice() {
    let t0 = (now() - 2 * 86_400) / H * H;
    let history = linear_history(t0, 5, H);
    let (_server, gh) = github(&history).await;
    let w = world();
    let runs = [
        exec("web", "d1", t0 + H, "c1", TriggerType::Webhook),
        exec("web", "d2", t0 + 5 * H, "c4", TriggerType::Webhook),
    ];
    let item = Item {
        id: "oi-dup1".into(),
        created: t0 + 6 * H,
        modified: t0 + 7 * H,
        status: OpsItemStatus::Resolved,
        data: vec![resources_of("web")],
    };
    seed_web(&w, &runs, std::slice::from_ref(&item));
    let ns = tollgate_tests::unique("DORA");
    let (deps, _rules) = deps(&ns, "*", &w, Some(gh)).await;
    for _ in 0..3 {
        for r in &runs {
            deliver(&deps, &execution_event(r)).await;
        }
        deliver(&deps, &opsitem_event(&item, false)).await;
        deliver(&deps, &opsitem_event(&item, true)).await;
    }
    let (start, end) = (t0 - H, t0 + 10 * H);
    // 2 deployments; lead times: d1 = c1 alone (1h − 1h = 0), d2 = c2, c3, c4 (3h, 2h, 1h);
    // one failure (d2); one restore of 1h.
    assert_eq!(
        stats(&ns, DEPLOYMENT_COUNT, Some("web"), start, end)
            .await
            .count,
        2.0
    );
    let lead = stats(&ns, LEAD_TIME_FOR_CHANGES, Some("web"), start, end).await;
    assert_eq!(
        (lead.count, lead.sum),
        (4.0, 0.0 + 3.0 * 3_600.0 + 2.0 * 3_600.0 + 3_600.0)
    );
    assert_eq!(
        stats(&ns, FAILED_DEPLOYMENT_COUNT, Some("web"), start, end)
            .await
            .count,
        1.0
    );
    let ttr = stats(&ns, TIME_TO_RESTORE, Some("web"), start, end).await;
    assert_eq!((ttr.count, ttr.sum), (1.0, 3_600.0));
    let ledger = dora::ledger::load(&deps.store).await.unwrap();
    assert_eq!(ledger[0].deployments.len(), 2);
    assert_eq!(ledger[0].incidents.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn out_of_order_events_record_each_deployment_once_and_restore_from_the_resolution() {
    let t0 = (now() - 2 * 86_400) / H * H;
    let history = linear_history(t0, 6, H);
    let (_server, gh) = github(&history).await;
    let w = world();
    let runs = [
        exec("web", "o1", t0 + H, "c1", TriggerType::Webhook),
        exec("web", "o2", t0 + 3 * H, "c3", TriggerType::Webhook),
        exec("web", "o3", t0 + 5 * H, "c5", TriggerType::Webhook),
    ];
    let resolved = Item {
        id: "oi-late1".into(),
        created: t0 + 4 * H,
        modified: t0 + 4 * H + 1_800,
        status: OpsItemStatus::Resolved,
        data: vec![resources_of("web")],
    };
    seed_web(&w, &runs, std::slice::from_ref(&resolved));
    let ns = tollgate_tests::unique("DORA");
    let (deps, _rules) = deps(&ns, "*", &w, Some(gh)).await;
    // In order: o1, o2; then the OpsItem's update arrives before its create; o3 last.
    deliver(&deps, &execution_event(&runs[0])).await;
    deliver(&deps, &execution_event(&runs[1])).await;
    deliver(&deps, &opsitem_event(&resolved, true)).await;
    deliver(&deps, &opsitem_event(&resolved, false)).await;
    deliver(&deps, &execution_event(&runs[2])).await;
    // Then a replay of o1, long after o3.
    deliver(&deps, &execution_event(&runs[0])).await;

    let (start, end) = (t0 - H, t0 + 10 * H);
    assert_eq!(
        stats(&ns, DEPLOYMENT_COUNT, Some("web"), start, end)
            .await
            .count,
        3.0
    );
    // Lead times: o1 = c1 (0), o2 = c2, c3 (1h, 0), o3 = c4, c5 (1h, 0): 5 datapoints, 2h.
    let lead = stats(&ns, LEAD_TIME_FOR_CHANGES, Some("web"), start, end).await;
    assert_eq!((lead.count, lead.sum), (5.0, 7_200.0));
    // The incident (created 4h) goes to o2 (3h), restored at its resolution: 30 min.
    let ttr = stats(&ns, TIME_TO_RESTORE, Some("web"), start, end).await;
    assert_eq!((ttr.count, ttr.sum), (1.0, 1_800.0));
    let ledger = dora::ledger::load(&deps.store).await.unwrap();
    assert_eq!(ledger[0].failures.len(), 1);
    assert_eq!(ledger[0].failures[0].execution_id, "o2");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deployment_of_300_new_commits_reads_every_page_and_emits_300_lead_times() {
    let t0 = (now() - 3 * 86_400) / H * H;
    // c0 deployed first; then c1..c300, one a minute.
    let history = linear_history(t0, 301, 60);
    let (server, gh) = github(&history).await;
    let w = world();
    let deploy_at = t0 + 300 * 60 + 600;
    let runs = [
        exec("web", "p1", t0 + 30, "c0", TriggerType::Webhook),
        exec("web", "p2", deploy_at, "c300", TriggerType::Webhook),
    ];
    seed_web(&w, &runs, &[]);
    let ns = tollgate_tests::unique("DORA");
    let (deps, _rules) = deps(&ns, "*", &w, Some(gh)).await;
    for r in &runs {
        deps.handle(Calculator::LeadTime, &execution_event(r), now())
            .await
            .unwrap();
    }
    let lead = stats(
        &ns,
        LEAD_TIME_FOR_CHANGES,
        Some("web"),
        t0 - H,
        deploy_at + H,
    )
    .await;
    // p2: commit i (1..=300) at t0 + 60i, deployed at t0 + 18600 → 18600 − 60i; the sum over i
    // is 300 × 18600 − 60 × (300 × 301 / 2) = 5,580,000 − 2,709,000 = 2,871,000. Plus p1's
    // trigger commit c0: 30 s.
    assert_eq!(lead.count, 301.0);
    assert_eq!(lead.sum, 2_871_000.0 + 30.0);
    assert_eq!((lead.min, lead.max), (30.0, 18_540.0));
    let pages: Vec<String> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path().contains("/compare/"))
        .map(|r| r.url.query().unwrap_or_default().to_string())
        .collect();
    assert_eq!(
        pages,
        [
            "per_page=100&page=1",
            "per_page=100&page=2",
            "per_page=100&page=3"
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn github_rate_limited_then_recovering_emits_lead_times_exactly_once() {
    let t0 = (now() - 86_400) / H * H;
    let history = linear_history(t0, 4, H);
    let w = world();
    let runs = [
        exec("web", "r1", t0 + H, "c1", TriggerType::Webhook),
        exec("web", "r2", t0 + 4 * H, "c3", TriggerType::Webhook),
    ];
    seed_web(&w, &runs, &[]);
    let (server, gh) = github(&history).await;
    let ns = tollgate_tests::unique("DORA");
    let (deps, _rules) = deps(&ns, "*", &w, Some(gh)).await;
    deps.handle(Calculator::LeadTime, &execution_event(&runs[0]), now())
        .await
        .unwrap();

    // The next two compare calls: a rate limit (403, remaining 0), then a 502.
    Mock::given(wiremock::matchers::path_regex("/compare/"))
        .respond_with(
            ResponseTemplate::new(403)
                .insert_header("x-ratelimit-remaining", "0")
                .insert_header("x-ratelimit-reset", (now() + 60).to_string())
                .set_body_json(serde_json::json!({
                    "message": "API rate limit exceeded for user ID 1.",
                    "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"
                })),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    let event = execution_event(&runs[1]);
    let err = deps
        .handle(Calculator::LeadTime, &event, now())
        .await
        .unwrap_err();
    assert!(matches!(err, DoraError::GitHub { .. }), "{err}");
    assert!(err.to_string().contains("403"), "{err}");
    Mock::given(wiremock::matchers::path_regex("/compare/"))
        .respond_with(
            ResponseTemplate::new(502)
                .set_body_json(serde_json::json!({"message": "Server Error"})),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    let err = deps
        .handle(Calculator::LeadTime, &event, now())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("502"), "{err}");
    let (start, end) = (t0 - H, t0 + 6 * H);
    // Only r1's datapoint so far, and no marker or lead record left for r2.
    assert_eq!(
        stats(&ns, LEAD_TIME_FOR_CHANGES, Some("web"), start, end)
            .await
            .count,
        1.0
    );
    assert!(
        dora::ledger::pipeline(&deps.store, "web")
            .await
            .unwrap()
            .lead_times
            .iter()
            .all(|l| l.execution_id != "r2")
    );

    // Recovered: r2's commits c2, c3 (2h, 1h), once, however often the event comes.
    for _ in 0..2 {
        deps.handle(Calculator::LeadTime, &event, now())
            .await
            .unwrap();
    }
    let lead = stats(&ns, LEAD_TIME_FOR_CHANGES, Some("web"), start, end).await;
    assert_eq!((lead.count, lead.sum), (3.0, 0.0 + 7_200.0 + 3_600.0));
}

/// A sink that fails its first `failures` calls, then writes to the real one.
struct Flaky<M> {
    inner: M,
    failures: Mutex<usize>,
}

impl<M: MetricSink> MetricSink for Flaky<M> {
    async fn put(&self, points: &[Datapoint]) -> Result<(), DoraError> {
        let fail = {
            let mut left = self.failures.lock().unwrap();
            let fail = *left > 0;
            *left = left.saturating_sub(1);
            fail
        };
        if fail {
            return Err(DoraError::Aws {
                action: "CloudWatch PutMetricData".into(),
                reason: "ServiceUnavailable: try again".into(),
            });
        }
        self.inner.put(points).await
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_put_leaves_no_marker_so_the_retry_writes_the_datapoint_once() {
    let t0 = (now() - 86_400) / H * H;
    let w = world();
    let run = exec("web", "f1", t0, "c1", TriggerType::Webhook);
    {
        let mut w = w.lock().unwrap();
        w.stages.insert("web".into(), vec!["Deploy".into()]);
        w.executions = vec![run.clone()];
    }
    let ns = tollgate_tests::unique("DORA");
    let (real, _rules) = deps(&ns, "*", &w, None).await;
    let deps = Deps::new(
        real.settings.clone(),
        real.store,
        Flaky {
            inner: real.metrics,
            failures: Mutex::new(1),
        },
        real.pipelines,
        real.ops_items,
        real.github,
    );
    let event = execution_event(&run);
    let err = deps
        .handle(Calculator::DeploymentFrequency, &event, now())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("PutMetricData"), "{err}");
    for _ in 0..2 {
        deps.handle(Calculator::DeploymentFrequency, &event, now())
            .await
            .unwrap();
    }
    let s = stats(&ns, DEPLOYMENT_COUNT, Some("web"), t0 - H, t0 + H).await;
    assert_eq!(s.count, 1.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn non_production_pipelines_and_stages_are_ignored() {
    let t0 = (now() - 86_400) / H * H;
    let w = world();
    let dev = exec("dev-web", "n1", t0, "c1", TriggerType::Webhook);
    let multi = exec("prod-multi", "n2", t0 + H, "c2", TriggerType::Webhook);
    let single = exec("prod-single", "n3", t0 + 2 * H, "c3", TriggerType::Webhook);
    let dev_item = Item {
        id: "oi-dev1".into(),
        created: t0 + 3 * H,
        modified: t0 + 3 * H,
        status: OpsItemStatus::Open,
        data: vec![resources_of("dev-web")],
    };
    {
        let mut w = w.lock().unwrap();
        w.stages.insert("dev-web".into(), vec!["Deploy".into()]);
        w.stages.insert(
            "prod-multi".into(),
            vec!["DeployBeta".into(), "DeployPROD".into()],
        );
        w.stages.insert("prod-single".into(), vec!["Deploy".into()]);
        w.executions = vec![dev.clone(), multi.clone(), single.clone()];
        w.items.insert(dev_item.id.clone(), dev_item.clone());
    }
    let ns = tollgate_tests::unique("DORA");
    let (deps, _rules) = deps(&ns, "prod-*", &w, None).await;
    let ignored = |o: Outcome| matches!(o, Outcome::Ignored(_));
    let df = Calculator::DeploymentFrequency;
    assert!(ignored(
        deps.handle(df, &execution_event(&dev), now())
            .await
            .unwrap()
    ));
    assert!(ignored(
        deps.handle(
            Calculator::ChangeFailureRate,
            &opsitem_event(&dev_item, false),
            now()
        )
        .await
        .unwrap()
    ));
    // A multi-environment pipeline: neither its execution nor its beta stage is production.
    assert!(ignored(
        deps.handle(df, &execution_event(&multi), now())
            .await
            .unwrap()
    ));
    assert!(ignored(
        deps.handle(df, &stage_event(&multi, "DeployBeta", "SUCCEEDED"), now())
            .await
            .unwrap()
    ));
    assert!(ignored(
        deps.handle(df, &stage_event(&multi, "DeployPROD", "FAILED"), now())
            .await
            .unwrap()
    ));
    assert!(!ignored(
        deps.handle(df, &stage_event(&multi, "DeployPROD", "SUCCEEDED"), now())
            .await
            .unwrap()
    ));
    assert!(!ignored(
        deps.handle(df, &execution_event(&single), now())
            .await
            .unwrap()
    ));
    let unrelated =
        serde_json::json!({"source": "aws.s3", "detail-type": "Object Created", "detail": {}});
    assert!(ignored(deps.handle(df, &unrelated, now()).await.unwrap()));

    let ledger = dora::ledger::load(&deps.store).await.unwrap();
    let names: Vec<&str> = ledger.iter().map(|l| l.pipeline.as_str()).collect();
    assert_eq!(names, ["prod-multi", "prod-single"]);
    assert!(
        ledger
            .iter()
            .all(|l| l.deployments.len() == 1 && l.incidents.is_empty())
    );
    assert!(
        series(&ns, DEPLOYMENT_COUNT)
            .await
            .iter()
            .all(|s| !s.contains(&"Pipeline=dev-web".to_string()))
    );
    assert_eq!(
        stats(
            &ns,
            DEPLOYMENT_COUNT,
            Some("prod-multi"),
            t0 - H,
            t0 + 4 * H
        )
        .await
        .count,
        1.0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn backfill_then_live_events_equals_live_events_alone() {
    let t0 = (now() - 4 * 86_400) / H * H;
    let history = linear_history(t0, 10, H);
    let mut runs = vec![
        exec("web", "b1", t0 + H, "c1", TriggerType::Webhook),
        exec("web", "b2", t0 + 3 * H, "c3", TriggerType::Webhook),
        exec("web", "b3", t0 + 5 * H, "c5", TriggerType::Webhook),
        exec(
            "web",
            "b4",
            t0 + 5 * H + 900,
            "c3",
            TriggerType::AutomatedRollback,
        ),
        exec("web", "b5", t0 + 7 * H, "c6", TriggerType::Webhook),
        exec("web", "b6", t0 + 9 * H, "c9", TriggerType::Webhook),
        exec("api", "a1", t0 + 2 * H, "c2", TriggerType::Webhook),
        exec("dev", "x1", t0 + 2 * H, "c2", TriggerType::Webhook),
    ];
    let mut failed = exec("web", "b7", t0 + 8 * H, "c8", TriggerType::Webhook);
    failed.status = PipelineExecutionStatus::Failed;
    runs.push(failed);
    let mut feature = exec("web", "b8", t0 + 8 * H + 60, "c8", TriggerType::Webhook);
    feature.branch = "feature/x".into();
    runs.push(feature);
    // Older than the backfill window: in neither run.
    let old = exec("web", "b0", t0 - 5 * 86_400, "c0", TriggerType::Webhook);
    let make_world = || {
        let w = world();
        {
            let mut g = w.lock().unwrap();
            for p in ["web", "api", "dev"] {
                g.stages
                    .insert(p.into(), vec!["Source".into(), "Deploy".into()]);
            }
            g.executions = runs.iter().cloned().chain([old.clone()]).collect();
        }
        w
    };
    let live: Vec<&Exec> = runs
        .iter()
        .filter(|e| e.status == PipelineExecutionStatus::Succeeded)
        .collect();

    // Live events alone.
    let (_s1, gh1) = github(&history).await;
    let w1 = make_world();
    let ns1 = tollgate_tests::unique("DORA");
    let (alone, _r1) = deps(&ns1, "web,api", &w1, Some(gh1)).await;
    let mut ordered = live.clone();
    ordered.sort_by_key(|e| e.time);
    for e in &ordered {
        deliver(&alone, &execution_event(e)).await;
    }

    // Backfill over the last 5 days, then the same live events.
    let (_s2, gh2) = github(&history).await;
    let w2 = make_world();
    let ns2 = tollgate_tests::unique("DORA");
    let (both, _r2) = deps(&ns2, "web,api", &w2, Some(gh2)).await;
    let mut seen = Vec::new();
    let summary = dora::backfill::backfill(&both, 5, now(), &mut |p| seen.push((p.done, p.total)))
        .await
        .unwrap();
    // web: b1..b6 and b8 succeeded in the window (b8 is off main); api: a1; dev is not production.
    assert_eq!(
        (summary.pipelines, summary.executions, summary.deployments),
        (2, 8, 7)
    );
    assert_eq!(seen.last(), Some(&(8, 8)));
    for e in &ordered {
        deliver(&both, &execution_event(e)).await;
    }

    let (start, end) = (t0 - H, t0 + 12 * H);
    for p in ["web", "api"] {
        assert_eq!(
            all_stats(&ns1, p, start, end).await,
            all_stats(&ns2, p, start, end).await,
            "{p}"
        );
    }
    // And what they are: web has 6 deployments (the rollback included), api 1.
    assert_eq!(
        stats(&ns2, DEPLOYMENT_COUNT, Some("web"), start, end)
            .await
            .count,
        6.0
    );
    assert_eq!(
        stats(&ns2, FAILED_DEPLOYMENT_COUNT, Some("web"), start, end)
            .await
            .count,
        1.0
    );
    assert_eq!(
        dora::ledger::load(&alone.store).await.unwrap(),
        dora::ledger::load(&both.store).await.unwrap()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn without_github_lead_time_is_the_trigger_commit_alone() {
    let t0 = (now() - 86_400) / H * H;
    let w = world();
    let runs = [
        exec("web", "g1", t0, "c1", TriggerType::Webhook),
        exec("web", "g2", t0 + 2 * H, "c5", TriggerType::Webhook),
    ];
    {
        let mut g = w.lock().unwrap();
        g.stages.insert("web".into(), vec!["Deploy".into()]);
        g.executions = runs.to_vec();
    }
    let ns = tollgate_tests::unique("DORA");
    let (deps, _rules) = deps(&ns, "*", &w, None).await;
    for r in &runs {
        deps.handle(Calculator::LeadTime, &execution_event(r), now())
            .await
            .unwrap();
    }
    // Each deployment: its head commit alone, authored 30 minutes before (the source action's
    // AuthorDate), whatever was deployed in between.
    let lead = stats(&ns, LEAD_TIME_FOR_CHANGES, Some("web"), t0 - H, t0 + 3 * H).await;
    assert_eq!((lead.count, lead.sum), (2.0, 3_600.0));
}

#[tokio::test(flavor = "multi_thread")]
async fn deployments_older_than_two_weeks_reach_the_ledger_but_not_cloudwatch() {
    let old = now() - 15 * 86_400;
    let w = world();
    let run = exec("web", "old1", old, "c1", TriggerType::Webhook);
    {
        let mut g = w.lock().unwrap();
        g.stages.insert("web".into(), vec!["Deploy".into()]);
        g.executions = vec![run.clone()];
    }
    let ns = tollgate_tests::unique("DORA");
    let (deps, _rules) = deps(&ns, "*", &w, None).await;
    let outcome = deps
        .handle(
            Calculator::DeploymentFrequency,
            &execution_event(&run),
            now(),
        )
        .await
        .unwrap();
    assert_eq!(outcome, Outcome::Recorded { datapoints: 0 });
    assert!(series(&ns, DEPLOYMENT_COUNT).await.is_empty());
    let ledger = dora::ledger::load(&deps.store).await.unwrap();
    assert_eq!(ledger[0].deployments[0].time, old);
}
