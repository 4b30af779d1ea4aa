//! Properties of `report::summarize` over generated ledgers: what must hold whatever the records.

use dora::model::{Deployment, Failure, Incident, LeadTimes, PipelineLedger};
use dora::report::{Report, summarize};
use proptest::prelude::*;

const NOW: i64 = 1_767_225_600;
const D: i64 = 86_400;
const NAMES: [&str; 3] = ["api", "shop", "web"];

/// One generated deployment and what hangs off it.
#[derive(Debug, Clone)]
struct Gen {
    pipeline: usize,
    offset: i64,
    rollback: bool,
    leads: Vec<i64>,
    failed: bool,
    incident: Option<(i64, Option<i64>)>,
}

fn deployment() -> impl Strategy<Value = Gen> {
    (
        0..NAMES.len(),
        -20 * D..D,
        any::<bool>(),
        proptest::collection::vec(0..40 * D, 0..4),
        any::<bool>(),
        proptest::option::of((0..D, proptest::option::of(0..20 * D))),
    )
        .prop_map(
            |(pipeline, offset, rollback, leads, failed, incident)| Gen {
                pipeline,
                offset,
                rollback,
                leads,
                failed,
                incident,
            },
        )
}

fn ledgers(gens: &[Gen]) -> Vec<PipelineLedger> {
    let mut ledgers: Vec<PipelineLedger> = NAMES
        .iter()
        .map(|n| PipelineLedger {
            pipeline: (*n).into(),
            ..PipelineLedger::default()
        })
        .collect();
    for (i, g) in gens.iter().enumerate() {
        let l = &mut ledgers[g.pipeline];
        let id = format!("e{i}");
        let time = NOW + g.offset;
        l.deployments.push(Deployment {
            pipeline: l.pipeline.clone(),
            execution_id: id.clone(),
            time,
            commit: None,
            repository: None,
            branch: None,
            commit_message: None,
            trigger_type: Some(
                if g.rollback {
                    "AutomatedRollback"
                } else {
                    "Webhook"
                }
                .into(),
            ),
        });
        if !g.leads.is_empty() {
            l.lead_times.push(LeadTimes {
                truncated_from: None,
                base_commit: None,
                pipeline: l.pipeline.clone(),
                execution_id: id.clone(),
                time,
                seconds: g.leads.clone(),
            });
        }
        if g.failed {
            l.failures.push(Failure {
                pipeline: l.pipeline.clone(),
                execution_id: id.clone(),
                time,
                causes: vec![format!("oi-{i}")],
            });
        }
        if let Some((after, restore)) = g.incident {
            l.incidents.push(Incident {
                id: format!("oi-{i}"),
                pipeline: l.pipeline.clone(),
                execution_id: Some(id),
                created: time + after,
                restored: restore.map(|r| time + after + r),
            });
        }
    }
    ledgers
}

fn reversed(ledgers: &[PipelineLedger]) -> Vec<PipelineLedger> {
    ledgers
        .iter()
        .rev()
        .map(|l| {
            let mut l = l.clone();
            l.deployments.reverse();
            l.lead_times.reverse();
            l.failures.reverse();
            l.incidents.reverse();
            l
        })
        .collect()
}

fn doubled(ledgers: &[PipelineLedger]) -> Vec<PipelineLedger> {
    ledgers
        .iter()
        .map(|l| {
            let mut d = l.clone();
            d.deployments.extend(l.deployments.iter().cloned());
            d.lead_times.extend(l.lead_times.iter().cloned());
            d.failures.extend(l.failures.iter().cloned());
            d.incidents.extend(l.incidents.iter().cloned());
            d
        })
        .collect()
}

fn report(gens: &[Gen], days: u32) -> (Vec<PipelineLedger>, Report) {
    let ledgers = ledgers(gens);
    let report = summarize(&ledgers, NOW, days);
    (ledgers, report)
}

proptest! {
    #[test]
    fn record_order_never_changes_the_report(gens in proptest::collection::vec(deployment(), 0..40), days in 1u32..30) {
        let (ledgers, report) = report(&gens, days);
        prop_assert_eq!(summarize(&reversed(&ledgers), NOW, days), report);
    }

    #[test]
    fn records_delivered_twice_count_once(gens in proptest::collection::vec(deployment(), 0..40), days in 1u32..30) {
        let (ledgers, report) = report(&gens, days);
        prop_assert_eq!(summarize(&doubled(&ledgers), NOW, days), report);
    }

    #[test]
    fn the_all_pipelines_row_adds_up_the_pipeline_rows(gens in proptest::collection::vec(deployment(), 0..40), days in 1u32..30) {
        let (_, report) = report(&gens, days);
        let sum = |f: fn(&dora::report::Row) -> u64| report.pipelines.iter().map(f).sum::<u64>();
        prop_assert_eq!(report.all.deployments, sum(|r| r.deployments));
        prop_assert_eq!(report.all.rollbacks, sum(|r| r.rollbacks));
        prop_assert_eq!(report.all.changes, sum(|r| r.changes));
        prop_assert_eq!(report.all.failed_deployments, sum(|r| r.failed_deployments));
        prop_assert_eq!(report.all.incidents, sum(|r| r.incidents));
        prop_assert_eq!(report.all.open_incidents, sum(|r| r.open_incidents));
    }

    #[test]
    fn figures_stay_in_range_and_tiers_appear_exactly_with_data(gens in proptest::collection::vec(deployment(), 0..40), days in 1u32..30) {
        let (_, report) = report(&gens, days);
        for row in report.pipelines.iter().chain(std::iter::once(&report.all)) {
            prop_assert!(row.rollbacks <= row.deployments);
            prop_assert!(row.restored_incidents <= row.incidents);
            prop_assert!((row.deployments_per_day - row.deployments as f64 / f64::from(days)).abs() < 1e-12);
            // Every failure generated is of a generated deployment at the same time.
            if let Some(rate) = row.change_failure_rate {
                prop_assert!((0.0..=1.0).contains(&rate), "{rate}");
            }
            if let (Some(median), Some(p90)) = (row.lead_time_median_seconds, row.lead_time_p90_seconds) {
                prop_assert!(median <= p90 as f64, "median {median} > p90 {p90}");
            }
            prop_assert_eq!(row.tiers.deployment_frequency.is_some(), row.deployments > 0);
            prop_assert_eq!(row.tiers.change_failure_rate.is_some(), row.deployments > 0);
            prop_assert_eq!(row.tiers.lead_time.is_some(), row.changes > 0);
            prop_assert_eq!(row.tiers.time_to_restore.is_some(), row.restored_incidents > 0);
        }
    }

    #[test]
    fn a_longer_window_never_counts_fewer_deployments(gens in proptest::collection::vec(deployment(), 0..40), days in 1u32..30) {
        let (ledgers, short) = report(&gens, days);
        let long = summarize(&ledgers, NOW, days + 1);
        prop_assert!(long.all.deployments >= short.all.deployments);
        prop_assert!(long.all.changes >= short.all.changes);
        prop_assert!(long.all.incidents >= short.all.incidents);
        // Open incidents are counted at the window's end, whatever its length.
        prop_assert_eq!(long.all.open_incidents, short.all.open_incidents);
    }
}
