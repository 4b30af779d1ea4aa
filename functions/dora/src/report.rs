//! The per-pipeline report: DORA's five metrics over a window of the ledger, and the tier of each.
//!
//! How each figure is read from the ledger (the definitions are in `docs/dora.md`):
//! - **Window**: the `days` × 24 h before `now`, open at the start and closed at the end
//!   (`now − days·86400 < t ≤ now`), so consecutive windows never count a record twice. A window
//!   of 0 days is read as 1 day.
//! - **Deployments**: every production deployment in the window, rollbacks included. A rollback
//!   is a production deployment (the `DeploymentCount` metric counts it, and so does the
//!   denominator of the change failure rate), but it ships no new change: its lead times, if any
//!   were recorded, are left out. `rollbacks` says how many of the deployments were rollbacks.
//!   A deployment recorded twice (same execution id) counts once.
//! - **Deployments per day**: deployments ÷ days.
//! - **Lead time**: the median and the 90th percentile of the per-commit lead times of the
//!   window's non-rollback deployments: one value per newly deployed commit, so a deployment of
//!   ten commits weighs ten times one of a single commit (DORA's per-change median, not an average
//!   of per-deployment averages). The median of an even count is the mean of the two middle
//!   values; the p90 is the nearest-rank value (the smallest lead time that at least 90 % of the
//!   changes are at or under), so it is always a lead time that happened.
//! - **Change failure rate**: failed deployments ÷ deployments, where a failed deployment is a
//!   distinct execution id marked failed (by an OpsItem or a rollback) whose deployment time is in
//!   the window. No deployments: no rate.
//! - **Deployment rework rate**: rework deployments ÷ deployments, where a deployment of the
//!   window is rework by [`crate::decide::rework`] against the ledger's incidents. No
//!   deployments: no rate. It has no tier (the 2023 clusters give none).
//! - **Failed deployment recovery time** (formerly time to restore): the median of (restored − created) over the incidents created in the
//!   window and restored by `now`.
//! - **Open incidents**: incidents created by `now` and not restored by `now`, however old: an
//!   incident open for months is still open.
//! - **Tiers**: [`crate::tiers`] classifies each figure; a key without data has no tier. A
//!   pipeline with no deployment in the window has no frequency tier rather than Low: the ledger
//!   cannot tell a pipeline that did not deploy from one whose history was never backfilled.
//! - **All pipelines**: the same figures over the union of every pipeline's records (medians of
//!   all the values, not of the per-pipeline medians).

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::model::PipelineLedger;
use crate::tiers::{self, Tier};

/// The name of the all-pipelines row.
pub const ALL_PIPELINES: &str = "(all pipelines)";

const SECONDS_PER_DAY: i64 = 86_400;

/// The four keys for every pipeline over one window, and for all of them together.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// The window's length in days.
    pub days: u32,
    /// The window's start (exclusive) and end (inclusive), epoch seconds.
    pub from: i64,
    pub to: i64,
    /// Where the tier thresholds come from.
    pub tier_source: String,
    /// One row per pipeline in the ledger, by name.
    pub pipelines: Vec<Row>,
    /// Every pipeline together.
    pub all: Row,
}

/// The four keys of one pipeline (or of all of them) over the window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Row {
    pub pipeline: String,
    /// Production deployments, rollbacks included.
    pub deployments: u64,
    /// How many of `deployments` were rollbacks.
    pub rollbacks: u64,
    pub deployments_per_day: f64,
    /// Newly deployed commits with a lead time (the lead-time sample size).
    pub changes: u64,
    pub lead_time_median_seconds: Option<f64>,
    pub lead_time_p90_seconds: Option<i64>,
    /// Deployments whose commits were more than GitHub's compare was read for (1,000): their
    /// lead times are the first 1,000 commits' only.
    #[serde(default)]
    pub truncated_deployments: u64,
    pub failed_deployments: u64,
    /// Failed deployments ÷ deployments (0.25 is 25 %).
    pub change_failure_rate: Option<f64>,
    /// Deployments that were rework ([`crate::decide::rework`]).
    #[serde(default)]
    pub rework_deployments: u64,
    /// Deployment rework rate: rework deployments ÷ deployments. No deployments: no rate.
    #[serde(default)]
    pub rework_rate: Option<f64>,
    /// Incidents created in the window.
    pub incidents: u64,
    /// Of those, the ones restored by the window's end.
    pub restored_incidents: u64,
    pub time_to_restore_median_seconds: Option<f64>,
    /// Incidents not restored at the window's end, whenever they were created.
    pub open_incidents: u64,
    pub tiers: Tiers,
}

/// The DORA tier of each key; `None` when the key has no data.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tiers {
    pub deployment_frequency: Option<Tier>,
    pub lead_time: Option<Tier>,
    pub change_failure_rate: Option<Tier>,
    pub time_to_restore: Option<Tier>,
}

/// The window's raw figures, before medians and rates.
#[derive(Debug, Default)]
struct Tally {
    deployments: u64,
    rollbacks: u64,
    lead_times: Vec<i64>,
    truncated: u64,
    rework: u64,
    failed: u64,
    incidents: u64,
    restore_times: Vec<i64>,
    open: u64,
}

impl Tally {
    fn add(&mut self, other: &Tally) {
        self.deployments += other.deployments;
        self.rollbacks += other.rollbacks;
        self.lead_times.extend_from_slice(&other.lead_times);
        self.truncated += other.truncated;
        self.rework += other.rework;
        self.failed += other.failed;
        self.incidents += other.incidents;
        self.restore_times.extend_from_slice(&other.restore_times);
        self.open += other.open;
    }

    fn row(mut self, pipeline: &str, days: u32) -> Row {
        self.lead_times.sort_unstable();
        self.restore_times.sort_unstable();
        let deployments_per_day = self.deployments as f64 / f64::from(days);
        let lead_median = median(&self.lead_times);
        let restore_median = median(&self.restore_times);
        let change_failure_rate =
            (self.deployments > 0).then(|| self.failed as f64 / self.deployments as f64);
        Row {
            pipeline: pipeline.to_string(),
            deployments: self.deployments,
            rollbacks: self.rollbacks,
            deployments_per_day,
            changes: self.lead_times.len() as u64,
            lead_time_median_seconds: lead_median,
            lead_time_p90_seconds: nearest_rank(&self.lead_times, 90),
            truncated_deployments: self.truncated,
            failed_deployments: self.failed,
            change_failure_rate,
            rework_deployments: self.rework,
            rework_rate: (self.deployments > 0)
                .then(|| self.rework as f64 / self.deployments as f64),
            incidents: self.incidents,
            restored_incidents: self.restore_times.len() as u64,
            time_to_restore_median_seconds: restore_median,
            open_incidents: self.open,
            tiers: Tiers {
                deployment_frequency: (self.deployments > 0)
                    .then(|| tiers::deployment_frequency(deployments_per_day)),
                lead_time: lead_median.map(tiers::lead_time),
                change_failure_rate: change_failure_rate.map(tiers::change_failure_rate),
                time_to_restore: restore_median.map(tiers::time_to_restore),
            },
        }
    }
}

/// The window `(from, to]`.
#[derive(Debug, Clone, Copy)]
struct Window {
    from: i64,
    to: i64,
}

impl Window {
    fn contains(self, t: i64) -> bool {
        self.from < t && t <= self.to
    }
}

/// Adds one ledger's records in `window` to `tally`, ignoring records already seen under the
/// same key (`seen` is per pipeline name).
fn tally_ledger(ledger: &PipelineLedger, window: Window, seen: &mut Seen, tally: &mut Tally) {
    for d in &ledger.deployments {
        if window.contains(d.time) && seen.deployments.insert(d.execution_id.clone()) {
            tally.deployments += 1;
            if crate::decide::rework(d, &ledger.incidents).is_some() {
                tally.rework += 1;
            }
            if d.is_rollback() {
                tally.rollbacks += 1;
            }
        }
    }
    for l in &ledger.lead_times {
        if window.contains(l.time)
            && !seen.rollbacks.contains(&l.execution_id)
            && seen.lead_times.insert(l.execution_id.clone())
        {
            tally.lead_times.extend_from_slice(&l.seconds);
            if l.truncated_from.is_some() {
                tally.truncated += 1;
            }
        }
    }
    for f in &ledger.failures {
        if window.contains(f.time) && seen.failures.insert(f.execution_id.clone()) {
            tally.failed += 1;
        }
    }
    for i in &ledger.incidents {
        if i.created > window.to || !seen.incidents.insert(i.id.clone()) {
            continue;
        }
        let restored_by_end = i.restored.is_some_and(|r| r <= window.to);
        if !restored_by_end {
            tally.open += 1;
        }
        if window.contains(i.created) {
            tally.incidents += 1;
            if restored_by_end && let Some(seconds) = i.time_to_restore() {
                tally.restore_times.push(seconds);
            }
        }
    }
}

/// Keys already counted for one pipeline.
#[derive(Debug, Default)]
struct Seen {
    deployments: HashSet<String>,
    rollbacks: HashSet<String>,
    lead_times: HashSet<String>,
    failures: HashSet<String>,
    incidents: HashSet<String>,
}

/// The report over the `days` before `now` (epoch seconds): one row per pipeline, by name, and
/// the all-pipelines row. Pure: the same ledgers give the same report.
pub fn summarize(ledgers: &[PipelineLedger], now: i64, days: u32) -> Report {
    let days = days.max(1);
    let window = Window {
        from: now.saturating_sub(i64::from(days) * SECONDS_PER_DAY),
        to: now,
    };
    // Rollback ids first, so a rollback's lead times are left out whatever the record order.
    let mut by_pipeline: BTreeMap<&str, (Seen, Tally)> = BTreeMap::new();
    for ledger in ledgers {
        let (seen, _) = by_pipeline.entry(&ledger.pipeline).or_default();
        seen.rollbacks.extend(
            ledger
                .deployments
                .iter()
                .filter(|d| d.is_rollback())
                .map(|d| d.execution_id.clone()),
        );
    }
    for ledger in ledgers {
        if let Some((seen, tally)) = by_pipeline.get_mut(ledger.pipeline.as_str()) {
            tally_ledger(ledger, window, seen, tally);
        }
    }
    let mut all = Tally::default();
    let pipelines = by_pipeline
        .into_iter()
        .map(|(name, (_, tally))| {
            all.add(&tally);
            tally.row(name, days)
        })
        .collect();
    Report {
        days,
        from: window.from,
        to: window.to,
        tier_source: tiers::SOURCE.to_string(),
        pipelines,
        all: all.row(ALL_PIPELINES, days),
    }
}

/// The median of sorted values: the middle one, or the mean of the two middle ones.
fn median(sorted: &[i64]) -> Option<f64> {
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2] as f64),
        _ => Some((sorted[n / 2 - 1] as f64 + sorted[n / 2] as f64) / 2.0),
    }
}

/// The nearest-rank percentile of sorted values: the value at rank ⌈p/100 · n⌉.
fn nearest_rank(sorted: &[i64], percent: usize) -> Option<i64> {
    let rank = (percent * sorted.len()).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Deployment, Failure, Incident, LeadTimes};

    const NOW: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z
    const H: i64 = 3_600;
    const D: i64 = 86_400;

    fn deployment(pipeline: &str, id: &str, time: i64, trigger: &str) -> Deployment {
        Deployment {
            pipeline: pipeline.into(),
            execution_id: id.into(),
            time,
            commit: Some(format!("sha-{id}")),
            repository: Some("acme/shop".into()),
            branch: Some("main".into()),
            commit_message: None,
            trigger_type: Some(trigger.into()),
        }
    }

    fn lead(pipeline: &str, id: &str, time: i64, seconds: &[i64]) -> LeadTimes {
        LeadTimes {
            truncated_from: None,
            base_commit: None,
            pipeline: pipeline.into(),
            execution_id: id.into(),
            time,
            seconds: seconds.to_vec(),
        }
    }

    fn failure(pipeline: &str, id: &str, time: i64, cause: &str) -> Failure {
        Failure {
            pipeline: pipeline.into(),
            execution_id: id.into(),
            time,
            causes: vec![cause.into()],
        }
    }

    fn incident(pipeline: &str, id: &str, created: i64, restored: Option<i64>) -> Incident {
        Incident {
            id: id.into(),
            pipeline: pipeline.into(),
            execution_id: None,
            created,
            restored,
        }
    }

    /// `web`: five deployments in the week (one a rollback, one recorded twice), one failed
    /// deployment with two incidents, one incident still open and one open since long ago.
    fn web() -> PipelineLedger {
        PipelineLedger {
            pipeline: "web".into(),
            deployments: vec![
                deployment("web", "w0", NOW - 8 * D, "Webhook"),
                deployment("web", "w1", NOW - 6 * D, "Webhook"),
                deployment("web", "w2", NOW - 5 * D, "Webhook"),
                deployment("web", "w2", NOW - 5 * D, "Webhook"),
                deployment("web", "w3", NOW - 4 * D, "Webhook"),
                deployment("web", "w4", NOW - 3 * D, "AutomatedRollback"),
                deployment("web", "w5", NOW - D, "StartPipelineExecution"),
            ],
            lead_times: vec![
                lead("web", "w0", NOW - 8 * D, &[50]),
                lead("web", "w1", NOW - 6 * D, &[H, 2 * H]),
                lead("web", "w2", NOW - 5 * D, &[600]),
                lead("web", "w3", NOW - 4 * D, &[D, 1_800, 5_400]),
                lead("web", "w4", NOW - 3 * D, &[999_999]),
                lead("web", "w5", NOW - D, &[300]),
            ],
            failures: vec![
                failure("web", "w0", NOW - 8 * D, "oi-000000000000"),
                failure("web", "w3", NOW - 4 * D, "oi-111111111111"),
                failure("web", "w3", NOW - 4 * D, "rollback:w4"),
            ],
            incidents: vec![
                incident(
                    "web",
                    "oi-1",
                    NOW - 4 * D + 600,
                    Some(NOW - 4 * D + 600 + 1_800),
                ),
                incident(
                    "web",
                    "oi-2",
                    NOW - 4 * D + 900,
                    Some(NOW - 4 * D + 900 + 5_400),
                ),
                incident(
                    "web",
                    "oi-2",
                    NOW - 4 * D + 900,
                    Some(NOW - 4 * D + 900 + 5_400),
                ),
                incident("web", "oi-3", NOW - 2 * H, None),
                incident("web", "oi-old", NOW - 10 * D, Some(NOW - 10 * D + 60)),
                incident("web", "oi-older", NOW - 20 * D, None),
            ],
        }
    }

    /// `api`: two deployments in the week (plus one exactly at the window's open start and one
    /// after `now`), four changes, no failure, no incident.
    fn api() -> PipelineLedger {
        PipelineLedger {
            pipeline: "api".into(),
            deployments: vec![
                deployment("api", "a0", NOW - 7 * D, "Webhook"),
                deployment("api", "a1", NOW - 2 * D, "Webhook"),
                deployment("api", "a2", NOW, "Webhook"),
                deployment("api", "a3", NOW + 10, "Webhook"),
            ],
            lead_times: vec![
                lead("api", "a0", NOW - 7 * D, &[7]),
                lead("api", "a1", NOW - 2 * D, &[100, 400]),
                lead("api", "a2", NOW, &[300, 200]),
            ],
            ..PipelineLedger::default()
        }
    }

    /// `quiet`: nothing in the window.
    fn quiet() -> PipelineLedger {
        PipelineLedger {
            pipeline: "quiet".into(),
            deployments: vec![deployment("quiet", "q1", NOW - 30 * D, "Webhook")],
            ..PipelineLedger::default()
        }
    }

    fn row<'a>(report: &'a Report, name: &str) -> &'a Row {
        report
            .pipelines
            .iter()
            .find(|r| r.pipeline == name)
            .unwrap_or_else(|| panic!("no row for {name}"))
    }

    #[test]
    fn rows_come_one_per_pipeline_sorted_by_name_with_the_window_stated() {
        let report = summarize(&[web(), quiet(), api()], NOW, 7);
        let names: Vec<&str> = report
            .pipelines
            .iter()
            .map(|r| r.pipeline.as_str())
            .collect();
        assert_eq!(names, ["api", "quiet", "web"]);
        assert_eq!((report.from, report.to, report.days), (NOW - 7 * D, NOW, 7));
        assert_eq!(report.all.pipeline, ALL_PIPELINES);
    }

    #[test]
    fn deployments_count_rollbacks_once_per_execution_within_the_window() {
        let report = summarize(&[web()], NOW, 7);
        let web = row(&report, "web");
        // w1, w2 (twice in the ledger), w3, w4 (rollback), w5; w0 is 8 days old.
        assert_eq!((web.deployments, web.rollbacks), (5, 1));
        assert_eq!(web.deployments_per_day, 5.0 / 7.0);
        assert_eq!(web.tiers.deployment_frequency, Some(Tier::High));
    }

    #[test]
    fn lead_time_is_the_per_change_median_and_nearest_rank_p90_without_rollbacks() {
        let report = summarize(&[web()], NOW, 7);
        let web = row(&report, "web");
        // w1..w5 without the rollback w4: 300, 600, 1800, 3600, 5400, 7200, 86400.
        assert_eq!(web.changes, 7);
        assert_eq!(web.lead_time_median_seconds, Some(3_600.0));
        // rank ⌈0.9 × 7⌉ = 7: the largest.
        assert_eq!(web.lead_time_p90_seconds, Some(86_400));
        assert_eq!(web.tiers.lead_time, Some(Tier::Elite));
    }

    #[test]
    fn an_even_number_of_changes_has_the_mean_of_the_two_middle_ones_as_median() {
        let report = summarize(&[api()], NOW, 7);
        let api = row(&report, "api");
        // a1 and a2 (a2 at exactly `now` counts; a0 at exactly the start does not): 100..400.
        assert_eq!(api.deployments, 2);
        assert_eq!(api.changes, 4);
        assert_eq!(api.lead_time_median_seconds, Some(250.0));
        // rank ⌈0.9 × 4⌉ = 4.
        assert_eq!(api.lead_time_p90_seconds, Some(400));
    }

    #[test]
    fn a_deployment_with_two_incidents_and_a_rollback_fails_once() {
        let report = summarize(&[web()], NOW, 7);
        let web = row(&report, "web");
        // w3 failed (oi-111… and the rollback): 1 of 5. w0's failure is outside the window.
        assert_eq!(web.failed_deployments, 1);
        assert_eq!(web.change_failure_rate, Some(0.2));
        assert_eq!(web.tiers.change_failure_rate, Some(Tier::Low));
    }

    #[test]
    fn no_failures_among_deployments_is_a_zero_rate_and_elite() {
        let report = summarize(&[api()], NOW, 7);
        let api = row(&report, "api");
        assert_eq!(api.change_failure_rate, Some(0.0));
        assert_eq!(api.tiers.change_failure_rate, Some(Tier::Elite));
    }

    #[test]
    fn time_to_restore_is_the_median_over_restored_incidents_created_in_the_window() {
        let report = summarize(&[web()], NOW, 7);
        let web = row(&report, "web");
        // oi-1 (1800 s), oi-2 (5400 s, recorded twice), oi-3 open; oi-old is 10 days old.
        assert_eq!((web.incidents, web.restored_incidents), (3, 2));
        assert_eq!(web.time_to_restore_median_seconds, Some(3_600.0));
        // Exactly an hour is High, not Elite.
        assert_eq!(web.tiers.time_to_restore, Some(Tier::High));
    }

    #[test]
    fn open_incidents_count_every_unrestored_one_however_old() {
        let report = summarize(&[web()], NOW, 7);
        // oi-3 (2 hours) and oi-older (20 days).
        assert_eq!(row(&report, "web").open_incidents, 2);
    }

    #[test]
    fn an_incident_restored_after_the_window_is_open_at_its_end() {
        let ledger = PipelineLedger {
            pipeline: "web".into(),
            incidents: vec![incident("web", "oi-9", NOW - H, Some(NOW + H))],
            ..PipelineLedger::default()
        };
        let report = summarize(&[ledger], NOW, 1);
        let web = row(&report, "web");
        assert_eq!(
            (web.incidents, web.restored_incidents, web.open_incidents),
            (1, 0, 1)
        );
        assert_eq!(web.time_to_restore_median_seconds, None);
    }

    #[test]
    fn a_pipeline_without_data_in_the_window_has_figures_of_zero_and_no_tiers() {
        let report = summarize(&[quiet()], NOW, 7);
        let quiet = row(&report, "quiet");
        assert_eq!((quiet.deployments, quiet.deployments_per_day), (0, 0.0));
        assert_eq!(quiet.change_failure_rate, None);
        assert_eq!(quiet.lead_time_median_seconds, None);
        assert_eq!(quiet.lead_time_p90_seconds, None);
        assert_eq!(quiet.time_to_restore_median_seconds, None);
        assert_eq!(quiet.tiers, Tiers::default());
    }

    #[test]
    fn the_all_pipelines_row_takes_medians_over_every_value_not_of_medians() {
        let report = summarize(&[web(), api(), quiet()], NOW, 7);
        let all = &report.all;
        // 5 + 2 + 0 deployments in 7 days: exactly once a day, which is High.
        assert_eq!((all.deployments, all.rollbacks), (7, 1));
        assert_eq!(all.deployments_per_day, 1.0);
        assert_eq!(all.tiers.deployment_frequency, Some(Tier::High));
        // 100 200 300 300 400 600 1800 3600 5400 7200 86400: the 6th is 600.
        assert_eq!(all.changes, 11);
        assert_eq!(all.lead_time_median_seconds, Some(600.0));
        // rank ⌈0.9 × 11⌉ = 10.
        assert_eq!(all.lead_time_p90_seconds, Some(7_200));
        assert_eq!(all.failed_deployments, 1);
        assert_eq!(all.change_failure_rate, Some(1.0 / 7.0));
        assert_eq!(all.time_to_restore_median_seconds, Some(3_600.0));
        assert_eq!((all.incidents, all.open_incidents), (3, 2));
    }

    #[test]
    fn a_rollbacks_lead_times_are_left_out_even_when_recorded_before_it() {
        let ledger = PipelineLedger {
            pipeline: "web".into(),
            lead_times: vec![lead("web", "r1", NOW - H, &[10])],
            deployments: vec![deployment("web", "r1", NOW - H, "ManualRollback")],
            ..PipelineLedger::default()
        };
        let report = summarize(&[ledger], NOW, 1);
        assert_eq!(row(&report, "web").changes, 0);
    }

    #[test]
    fn two_ledgers_of_the_same_pipeline_merge_into_one_row_without_double_counting() {
        let report = summarize(&[web(), web()], NOW, 7);
        assert_eq!(report.pipelines.len(), 1);
        let web = row(&report, "web");
        assert_eq!(
            (web.deployments, web.changes, web.failed_deployments),
            (5, 7, 1)
        );
    }

    #[test]
    fn an_empty_ledger_gives_no_rows_and_an_all_row_without_tiers() {
        let report = summarize(&[], NOW, 30);
        assert!(report.pipelines.is_empty());
        assert_eq!(report.all.deployments, 0);
        assert_eq!(report.all.tiers, Tiers::default());
    }

    #[test]
    fn a_zero_day_window_is_read_as_one_day() {
        let report = summarize(&[api()], NOW, 0);
        assert_eq!((report.days, report.from), (1, NOW - D));
        // Only a2, at `now`.
        assert_eq!(row(&report, "api").deployments, 1);
    }

    #[test]
    fn the_report_serializes_with_camel_case_keys_and_null_for_missing_figures() {
        let report = summarize(&[quiet()], NOW, 7);
        let json = serde_json::to_value(&report).expect("serialize");
        let quiet = &json["pipelines"][0];
        assert_eq!(quiet["pipeline"], "quiet");
        assert_eq!(quiet["deploymentsPerDay"], 0.0);
        assert!(quiet["leadTimeMedianSeconds"].is_null());
        assert!(quiet["tiers"]["deploymentFrequency"].is_null());
        let back: Report = serde_json::from_value(json).expect("deserialize");
        assert_eq!(back, report);
    }

    #[test]
    fn nearest_rank_and_median_handle_one_value() {
        assert_eq!(median(&[42]), Some(42.0));
        assert_eq!(nearest_rank(&[42], 90), Some(42));
        assert_eq!(nearest_rank(&[], 90), None);
    }
}
