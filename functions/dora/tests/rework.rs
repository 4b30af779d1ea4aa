//! Deployment rework rate on a hand-computed week: a rollback, a deployment during an open
//! incident and one whose commit message names an OpsItem are rework; the others are not.
mod common;

use aws_sdk_codepipeline::types::{PipelineExecutionStatus, TriggerType};
use aws_sdk_ssm::types::OpsItemStatus;
use common::*;
use dora::model::{DEPLOYMENT_COUNT, REWORK_DEPLOYMENT_COUNT};

fn exec(id: &str, time: i64, commit: &str, trigger: TriggerType, message: &str) -> Exec {
    Exec {
        pipeline: "web".into(),
        id: id.into(),
        status: PipelineExecutionStatus::Succeeded,
        trigger,
        time,
        commit: commit.into(),
        branch: "main".into(),
        message: message.into(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn rework_rate_of_a_hand_computed_week_is_three_of_five() {
    let t0 = (now() - 3 * 86_400) / H * H;
    let incident = Item {
        id: "oi-00000000000a".into(),
        created: t0 + H,
        modified: t0 + 4 * H,
        status: OpsItemStatus::Resolved,
        data: vec![resources_of("web")],
    };
    let runs = [
        // Not rework: an ordinary change.
        exec("d1", t0, "c1", TriggerType::Webhook, "Add search"),
        // Rework: deployed while oi-…0a is open (created t0+1h, resolved t0+4h).
        exec("d2", t0 + 2 * H, "c2", TriggerType::Webhook, "Tune cache"),
        // Rework: a rollback.
        exec(
            "d3",
            t0 + 3 * H,
            "c1",
            TriggerType::ManualRollback,
            "Add search",
        ),
        // Rework: names an OpsItem (another one, closed long ago), after the incident.
        exec(
            "d4",
            t0 + 5 * H,
            "c3",
            TriggerType::Webhook,
            "Follow-up for OI-00000000000b",
        ),
        // Not rework.
        exec("d5", t0 + 6 * H, "c4", TriggerType::Webhook, "Add filters"),
    ];
    let w = world();
    seed_web(&w, &runs, std::slice::from_ref(&incident));
    let ns = tollgate_tests::unique("DORA");
    let (deps, _rules) = deps(&ns, "*", &w, None).await;
    deliver(&deps, &execution_event(&runs[0])).await;
    deliver(&deps, &opsitem_event(&incident, false)).await;
    deliver(&deps, &execution_event(&runs[1])).await;
    deliver(&deps, &execution_event(&runs[2])).await;
    deliver(&deps, &opsitem_event(&incident, true)).await;
    deliver(&deps, &execution_event(&runs[3])).await;
    deliver(&deps, &execution_event(&runs[4])).await;
    // Twice: nothing is counted twice.
    for r in &runs {
        deliver(&deps, &execution_event(r)).await;
    }
    let (start, end) = (t0 - H, t0 + 7 * H);
    let deployed = stats(&ns, DEPLOYMENT_COUNT, Some("web"), start, end).await;
    let rework = stats(&ns, REWORK_DEPLOYMENT_COUNT, Some("web"), start, end).await;
    assert_eq!((deployed.count, rework.count), (5.0, 3.0));

    let ledger = dora::ledger::load(&deps.store).await.unwrap();
    let report = dora::report::summarize(&ledger, now(), 7);
    let row = &report.pipelines[0];
    assert_eq!((row.deployments, row.rework_deployments), (5, 3));
    assert_eq!(row.rework_rate, Some(0.6));
    assert_eq!(report.all.rework_rate, Some(0.6));
}
