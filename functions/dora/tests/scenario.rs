//! The hand-computed scenario: a dozen executions of one pipeline, two incidents on one
//! deployment, one rollback and one incident still open, through the four calculators against
//! moto (state table, CloudWatch), mocked CodePipeline and OpsCenter, and a wiremock GitHub.

mod common;

use std::sync::{Arc, Mutex};

use aws_sdk_codepipeline::types::{PipelineExecutionStatus, TriggerType};
use aws_sdk_ssm::types::OpsItemStatus;
use common::*;
use dora::model::{
    DEPLOYMENT_COUNT, FAILED_DEPLOYMENT_COUNT, LEAD_TIME_FOR_CHANGES, TIME_TO_RESTORE,
};

fn exec(
    id: &str,
    time: i64,
    commit: &str,
    branch: &str,
    message: &str,
    trigger: TriggerType,
) -> Exec {
    Exec {
        pipeline: "web".into(),
        id: id.into(),
        status: PipelineExecutionStatus::Succeeded,
        trigger,
        time,
        commit: commit.into(),
        branch: branch.into(),
        message: message.into(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_four_keys_follow_the_definitions_on_a_hand_computed_week() {
    // Whole hours, three days ago: every datapoint is inside CloudWatch's two weeks.
    let t0 = (now() - 3 * 86_400) / H * H;
    let at = |hours: f64| t0 + (hours * H as f64) as i64;

    // main's history: c1..c18 with their committer times (hours after t0).
    let commit_hours = [
        0.0, 0.5, 2.0, 3.0, 4.5, 6.0, 7.0, 9.0, 10.0, 11.0, 13.0, 14.0, 15.5, 17.0, 18.0, 20.0,
        21.0, 23.0,
    ];
    let history: History = Arc::new(Mutex::new(
        commit_hours
            .iter()
            .enumerate()
            .map(|(i, h)| (format!("c{}", i + 1), at(*h)))
            .collect(),
    ));
    let (_server, gh) = github(&history).await;

    use TriggerType::{AutomatedRollback, StartPipelineExecution, Webhook};
    let runs = vec![
        exec("e01", at(1.0), "c2", "main", "Add cart", Webhook),
        exec("e02", at(4.0), "c4", "main", "Add checkout", Webhook),
        exec("e03", at(5.0), "c5", "main", "Faster search", Webhook),
        exec(
            "e04",
            at(8.0),
            "c7",
            "main",
            "Fix oi-aaa111: search timeout",
            Webhook,
        ),
        exec("e05", at(12.0), "c10", "main", "New pricing", Webhook),
        exec(
            "e06",
            at(12.5),
            "c7",
            "main",
            "Fix oi-aaa111: search timeout",
            AutomatedRollback,
        ),
        exec("e07", at(16.0), "c13", "main", "Pricing again", Webhook),
        exec("e08", at(19.0), "c15", "main", "Reviews", Webhook),
        exec("e09", at(22.0), "c17", "main", "Wishlist", Webhook),
        exec("e10", at(24.0), "c18", "main", "Copy changes", Webhook),
        exec(
            "e11",
            at(25.0),
            "c18",
            "feature/dark-mode",
            "Dark mode",
            Webhook,
        ),
        exec(
            "e12",
            at(26.0),
            "c18",
            "main",
            "Copy changes",
            StartPipelineExecution,
        ),
    ];
    let w = world();
    {
        let mut w = w.lock().unwrap();
        w.stages.insert(
            "web".into(),
            vec!["Source".into(), "Build".into(), "Deploy".into()],
        );
        w.executions = runs.clone();
    }
    let ns = tollgate_tests::unique("DORA");
    let (deps, _rules) = deps(&ns, "*", &w, Some(gh)).await;

    let item = |id: &str, created: f64, data: Vec<(String, String)>| Item {
        id: id.into(),
        created: at(created),
        modified: at(created),
        status: OpsItemStatus::Open,
        data,
    };
    // oi-aaa111: linked by the pipeline's ARN, created after e03 → e03; fixed by e04 (message).
    let aaa = item("oi-aaa111", 5.5, vec![resources_of("web")]);
    // oi-bbb222: names e03 itself, created after e04; resolved at hour 11.
    let bbb = item(
        "oi-bbb222",
        9.0,
        vec![
            ("tollgate:pipeline".into(), "web".into()),
            ("tollgate:execution-id".into(), "e03".into()),
        ],
    );
    // oi-ccc333: linked by ARN, created after e08 → e08; still open.
    let ccc = item("oi-ccc333", 20.0, vec![resources_of("web")]);

    // Events in time order, each to the four functions.
    let by_id = |id: &str| runs.iter().find(|e| e.id == id).unwrap().clone();
    for id in ["e01", "e02", "e03"] {
        deliver(&deps, &execution_event(&by_id(id))).await;
    }
    w.lock().unwrap().items.insert(aaa.id.clone(), aaa.clone());
    deliver(&deps, &opsitem_event(&aaa, false)).await;
    deliver(&deps, &execution_event(&by_id("e04"))).await;
    w.lock().unwrap().items.insert(bbb.id.clone(), bbb.clone());
    deliver(&deps, &opsitem_event(&bbb, false)).await;
    // oi-aaa111 resolved at hour 9, after its fixing deployment: the fix stays the restore time.
    let mut aaa_resolved = aaa.clone();
    aaa_resolved.status = OpsItemStatus::Resolved;
    aaa_resolved.modified = at(9.0);
    w.lock()
        .unwrap()
        .items
        .insert(aaa.id.clone(), aaa_resolved.clone());
    deliver(&deps, &opsitem_event(&aaa_resolved, true)).await;
    let mut bbb_resolved = bbb.clone();
    bbb_resolved.status = OpsItemStatus::Resolved;
    bbb_resolved.modified = at(11.0);
    w.lock()
        .unwrap()
        .items
        .insert(bbb.id.clone(), bbb_resolved.clone());
    deliver(&deps, &opsitem_event(&bbb_resolved, true)).await;
    for id in ["e05", "e06", "e07", "e08"] {
        deliver(&deps, &execution_event(&by_id(id))).await;
    }
    w.lock().unwrap().items.insert(ccc.id.clone(), ccc.clone());
    deliver(&deps, &opsitem_event(&ccc, false)).await;
    for id in ["e09", "e10", "e11", "e12"] {
        deliver(&deps, &execution_event(&by_id(id))).await;
    }

    let (start, end) = (at(-1.0), at(30.0));
    let web = |metric| stats(&ns, metric, Some("web"), start, end);

    // Deployment frequency: every SUCCEEDED execution on main is a production deployment, the
    // rollback e06 included; e11 (feature branch) is not: 12 − 1 = 11 datapoints of 1.
    let deployments = web(DEPLOYMENT_COUNT).await;
    assert_eq!((deployments.count, deployments.sum), (11.0, 11.0));

    // Lead time: one datapoint per newly deployed commit, deployment − commit time:
    //   e01 (first deployment: trigger commit c2 alone): 1h − 0.5h            = 1800
    //   e02 c2...c4 = c3, c4: 4h − 2h, 4h − 3h                                = 7200, 3600
    //   e03 c4...c5 = c5: 5h − 4.5h                                           = 1800
    //   e04 c5...c7 = c6, c7: 8h − 6h, 8h − 7h                                = 7200, 3600
    //   e05 c7...c10 = c8, c9, c10: 12h − 9h, − 10h, − 11h                    = 10800, 7200, 3600
    //   e06 rollback: none
    //   e07 from e05 (the rollback is skipped) c10...c13 = c11, c12, c13:
    //       16h − 13h, − 14h, − 15.5h                                         = 10800, 7200, 1800
    //   e08 c13...c15: 19h − 17h, − 18h                                       = 7200, 3600
    //   e09 c15...c17: 22h − 20h, − 21h                                       = 7200, 3600
    //   e10 c17...c18: 24h − 23h                                              = 3600
    //   e12 redeploys c18: nothing new
    // 1 + 2 + 1 + 2 + 3 + 3 + 2 + 2 + 1 = 17 datapoints; sum 1800 + 10800 + 1800 + 10800 +
    // 21600 + 19800 + 10800 + 10800 + 3600 = 91800; min 1800, max 10800.
    let lead = web(LEAD_TIME_FOR_CHANGES).await;
    assert_eq!(
        lead,
        Stats {
            count: 17.0,
            sum: 91_800.0,
            min: 1_800.0,
            max: 10_800.0
        }
    );

    // Change failure: e03 (two incidents, counted once), e05 (replaced by the rollback e06),
    // e08 (the open incident) → 3 failed deployments of 11.
    let failed = web(FAILED_DEPLOYMENT_COUNT).await;
    assert_eq!((failed.count, failed.sum), (3.0, 3.0));

    // Time to restore, once per restored incident:
    //   oi-aaa111: created 5.5h, fixed by e04 at 8h (resolved later at 9h)  = 2.5h = 9000
    //   oi-bbb222: created 9h, resolved at 11h (no fixing deployment)       = 2h   = 7200
    //   oi-ccc333: open → none.
    let ttr = web(TIME_TO_RESTORE).await;
    assert_eq!(
        ttr,
        Stats {
            count: 2.0,
            sum: 16_200.0,
            min: 7_200.0,
            max: 9_000.0
        }
    );

    // Each metric also has the all-pipelines series, with no dimension.
    for metric in dora::model::METRICS {
        assert_eq!(
            series(&ns, metric).await,
            vec![vec![], vec!["Pipeline=web".to_string()]],
            "{metric}"
        );
    }
    // Moto answers a query without dimensions with both series: twice the per-pipeline figures.
    assert_eq!(
        stats(&ns, DEPLOYMENT_COUNT, None, start, end).await.sum,
        22.0
    );

    // The ledger says the same, for the report.
    let ledger = dora::ledger::load(&deps.store).await.unwrap();
    assert_eq!(ledger.len(), 1);
    let web = &ledger[0];
    assert_eq!(web.deployments.len(), 11);
    assert_eq!(
        web.deployments.iter().filter(|d| d.is_rollback()).count(),
        1
    );
    let e04 = web
        .deployments
        .iter()
        .find(|d| d.execution_id == "e04")
        .unwrap();
    assert_eq!(
        (
            e04.commit.as_deref(),
            e04.repository.as_deref(),
            e04.branch.as_deref()
        ),
        (Some("c7"), Some(REPO), Some("main"))
    );
    assert_eq!(e04.time, at(8.0));
    let failed: Vec<(&str, Vec<String>)> = web
        .failures
        .iter()
        .map(|f| (f.execution_id.as_str(), f.causes.clone()))
        .collect();
    assert_eq!(
        failed,
        vec![
            (
                "e03",
                vec!["oi-aaa111".to_string(), "oi-bbb222".to_string()]
            ),
            ("e05", vec!["rollback:e06".to_string()]),
            ("e08", vec!["oi-ccc333".to_string()]),
        ]
    );
    let incidents: Vec<(&str, Option<&str>, Option<i64>)> = web
        .incidents
        .iter()
        .map(|i| {
            (
                i.id.as_str(),
                i.execution_id.as_deref(),
                i.time_to_restore(),
            )
        })
        .collect();
    assert_eq!(
        incidents,
        vec![
            ("oi-aaa111", Some("e03"), Some(9_000)),
            ("oi-bbb222", Some("e03"), Some(7_200)),
            ("oi-ccc333", Some("e08"), None),
        ]
    );
    let lead_count: usize = web.lead_times.iter().map(|l| l.seconds.len()).sum();
    assert_eq!(lead_count, 17);
}
