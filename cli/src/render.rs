//! What the commands print: the report as a table or JSON, and the backfill's summary.

use chrono::DateTime;
use comfy_table::{CellAlignment, Table, presets};
use dora::backfill::BackfillSummary;
use dora::report::{Report, Row};
use dora::tiers::Tier;

/// Shown where a key has no data in the window.
pub const NO_DATA: &str = "–";

/// The report as pretty-printed JSON (the `Report` fields, camelCase), with a final newline.
pub fn json(report: &Report) -> Result<String, serde_json::Error> {
    serde_json::to_string_pretty(report).map(|text| text + "\n")
}

/// The report as a table: a title line, one row per pipeline and the all-pipelines row, then
/// where the tiers come from.
pub fn table(report: &Report) -> String {
    let mut table = Table::new();
    table
        .load_preset(presets::UTF8_FULL_CONDENSED)
        .set_header(vec![
            "Pipeline",
            "Deployments",
            "Per day",
            "Lead time p50",
            "Lead time p90",
            "Change failure rate",
            "Rework rate",
            "Failed deployment recovery p50",
            "Open incidents",
        ]);
    for row in report.pipelines.iter().chain(std::iter::once(&report.all)) {
        table.add_row(cells(row));
    }
    for column in 1..9 {
        if let Some(column) = table.column_mut(column) {
            column.set_cell_alignment(CellAlignment::Right);
        }
    }
    let truncated: Vec<String> = report
        .pipelines
        .iter()
        .filter(|r| r.truncated_deployments > 0)
        .map(|r| format!("{} ({})", r.pipeline, r.truncated_deployments))
        .collect();
    let truncated = if truncated.is_empty() {
        String::new()
    } else {
        format!(
            "Truncated: deployments that shipped more than 1,000 commits count only their first 1,000 in lead time: {}.\n",
            truncated.join(", ")
        )
    };
    format!(
        "DORA metrics, last {days} day{s} ({from} to {to}); benchmark: {source}\n{table}\n{truncated}Tiers: {source}. The 2025 DORA report publishes team archetypes, not tiers.\n",
        days = report.days,
        s = if report.days == 1 { "" } else { "s" },
        from = utc(report.from),
        to = utc(report.to),
        source = report.tier_source,
    )
}

fn cells(row: &Row) -> Vec<String> {
    let deployments = match row.rollbacks {
        0 => row.deployments.to_string(),
        1 => format!("{} (1 rollback)", row.deployments),
        n => format!("{} ({n} rollbacks)", row.deployments),
    };
    let per_day = with_tier(
        format!("{:.2}", row.deployments_per_day),
        row.tiers.deployment_frequency,
    );
    let lead_median = row
        .lead_time_median_seconds
        .map(|s| with_tier(duration(s), row.tiers.lead_time));
    let lead_p90 = row.lead_time_p90_seconds.map(|s| duration(s as f64));
    let failure_rate = row.change_failure_rate.map(|rate| {
        with_tier(
            format!(
                "{:.1}% ({}/{})",
                rate * 100.0,
                row.failed_deployments,
                row.deployments
            ),
            row.tiers.change_failure_rate,
        )
    });
    let rework_rate = row.rework_rate.map(|rate| {
        format!(
            "{:.1}% ({}/{})",
            rate * 100.0,
            row.rework_deployments,
            row.deployments
        )
    });
    let restore = row
        .time_to_restore_median_seconds
        .map(|s| with_tier(duration(s), row.tiers.time_to_restore));
    vec![
        row.pipeline.clone(),
        deployments,
        per_day,
        lead_median.unwrap_or_else(|| NO_DATA.into()),
        lead_p90.unwrap_or_else(|| NO_DATA.into()),
        failure_rate.unwrap_or_else(|| NO_DATA.into()),
        rework_rate.unwrap_or_else(|| NO_DATA.into()),
        restore.unwrap_or_else(|| NO_DATA.into()),
        row.open_incidents.to_string(),
    ]
}

fn with_tier(figure: String, tier: Option<Tier>) -> String {
    match tier {
        Some(tier) => format!("{figure} {tier}"),
        None => figure,
    }
}

/// A duration for people: `42s`, `5m 03s`, `2h 15m`, `3d 04h` (rounded to the second).
pub fn duration(seconds: f64) -> String {
    let total = seconds.round() as i64;
    let sign = if total < 0 { "-" } else { "" };
    let s = total.unsigned_abs();
    let body = match s {
        0..60 => format!("{s}s"),
        60..3_600 => format!("{}m {:02}s", s / 60, s % 60),
        3_600..86_400 => format!("{}h {:02}m", s / 3_600, s % 3_600 / 60),
        _ => format!("{}d {:02}h", s / 86_400, s % 86_400 / 3_600),
    };
    format!("{sign}{body}")
}

/// Epoch seconds as `2026-01-01 00:00 UTC`.
fn utc(epoch: i64) -> String {
    DateTime::from_timestamp(epoch, 0)
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| epoch.to_string())
}

/// The backfill's closing summary.
pub fn backfill_summary(summary: &BackfillSummary, days: u32) -> String {
    let note = if summary.datapoints == 0 && summary.deployments > 0 {
        " (everything was already recorded)"
    } else {
        ""
    };
    format!(
        "Backfilled the last {days} days of {pipelines} production pipeline{ps}: \
         {executions} succeeded execution{es} replayed, {deployments} production deployment{ds}, \
         {ops_items} OpsItem{os}, {datapoints} new datapoint{dps}{note}.\n",
        pipelines = summary.pipelines,
        ps = plural(summary.pipelines),
        executions = summary.executions,
        es = plural(summary.executions),
        deployments = summary.deployments,
        ds = plural(summary.deployments),
        ops_items = summary.ops_items,
        os = plural(summary.ops_items),
        datapoints = summary.datapoints,
        dps = plural(summary.datapoints),
    )
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dora::model::{Deployment, Failure, Incident, LeadTimes, PipelineLedger};
    use dora::report::summarize;

    const NOW: i64 = 1_767_225_600; // 2026-01-01 00:00 UTC
    const D: i64 = 86_400;

    fn deployment(id: &str, time: i64, trigger: &str) -> Deployment {
        Deployment {
            pipeline: "shop-prod".into(),
            execution_id: id.into(),
            time,
            commit: None,
            repository: None,
            branch: None,
            commit_message: None,
            trigger_type: Some(trigger.into()),
        }
    }

    /// shop-prod over 7 days: 4 deployments (1 rollback), changes of 30 min, 2 h and 3 days, one
    /// failed deployment, one incident restored in 45 min and one still open; billing: nothing.
    fn known_report() -> Report {
        let shop = PipelineLedger {
            pipeline: "shop-prod".into(),
            deployments: vec![
                deployment("e1", NOW - 6 * D, "Webhook"),
                deployment("e2", NOW - 4 * D, "Webhook"),
                deployment("e3", NOW - 3 * D, "ManualRollback"),
                deployment("e4", NOW - D, "Webhook"),
            ],
            lead_times: vec![
                LeadTimes {
                    truncated_from: None,
                    base_commit: None,
                    pipeline: "shop-prod".into(),
                    execution_id: "e1".into(),
                    time: NOW - 6 * D,
                    seconds: vec![1_800, 7_200],
                },
                LeadTimes {
                    truncated_from: None,
                    base_commit: None,
                    pipeline: "shop-prod".into(),
                    execution_id: "e4".into(),
                    time: NOW - D,
                    seconds: vec![3 * D],
                },
            ],
            failures: vec![Failure {
                pipeline: "shop-prod".into(),
                execution_id: "e2".into(),
                time: NOW - 4 * D,
                causes: vec!["oi-0123456789ab".into()],
            }],
            incidents: vec![
                Incident {
                    id: "oi-0123456789ab".into(),
                    pipeline: "shop-prod".into(),
                    execution_id: Some("e2".into()),
                    created: NOW - 4 * D + 600,
                    restored: Some(NOW - 4 * D + 600 + 2_700),
                },
                Incident {
                    id: "oi-ba9876543210".into(),
                    pipeline: "shop-prod".into(),
                    execution_id: Some("e4".into()),
                    created: NOW - 3_600,
                    restored: None,
                },
            ],
        };
        let billing = PipelineLedger {
            pipeline: "billing-prod".into(),
            ..PipelineLedger::default()
        };
        summarize(&[shop, billing], NOW, 7)
    }

    fn lines(text: &str) -> Vec<&str> {
        text.lines().collect()
    }

    fn line_of<'a>(text: &'a str, pipeline: &str) -> &'a str {
        text.lines()
            .find(|l| l.contains(pipeline))
            .unwrap_or_else(|| panic!("no line for {pipeline} in\n{text}"))
    }

    #[test]
    fn durations_read_in_the_largest_sensible_units() {
        assert_eq!(duration(0.0), "0s");
        assert_eq!(duration(59.4), "59s");
        assert_eq!(duration(59.6), "1m 00s");
        assert_eq!(duration(303.0), "5m 03s");
        assert_eq!(duration(8_100.0), "2h 15m");
        assert_eq!(duration(86_400.0), "1d 00h");
        assert_eq!(duration(3.0 * 86_400.0 + 4.0 * 3_600.0), "3d 04h");
        assert_eq!(duration(-90.0), "-1m 30s");
    }

    #[test]
    fn the_table_shows_each_key_with_its_tier_per_pipeline() {
        let text = table(&known_report());
        let shop = line_of(&text, "shop-prod");
        // 4 deployments in 7 days = 0.57/day: more than once a week, High.
        assert!(shop.contains("4 (1 rollback)"), "{shop}");
        assert!(shop.contains("0.57 High"), "{shop}");
        // Changes 1800, 7200, 259200 s: median 2 h (Elite, under a day); p90 3 days.
        assert!(shop.contains("2h 00m Elite"), "{shop}");
        assert!(shop.contains("3d 00h"), "{shop}");
        // 1 failed of 4: 25 %, Low.
        assert!(shop.contains("25.0% (1/4) Low"), "{shop}");
        // One incident restored in 45 min: Elite. One open.
        assert!(shop.contains("45m 00s Elite"), "{shop}");
        assert!(shop.trim_end_matches(['│', ' ']).ends_with('1'), "{shop}");
    }

    #[test]
    fn a_pipeline_without_data_shows_dashes_not_zero_tiers() {
        let text = table(&known_report());
        let billing = line_of(&text, "billing-prod");
        assert!(billing.contains("0.00"), "{billing}");
        // Issue 17 added the rework rate: five figures without data.
        assert_eq!(billing.matches(NO_DATA).count(), 5, "{billing}");
        for tier in ["Elite", "High", "Medium", "Low"] {
            assert!(!billing.contains(tier), "{billing}");
        }
    }

    #[test]
    fn the_table_ends_with_the_all_pipelines_row_and_cites_the_tier_source() {
        let text = table(&known_report());
        let lines = lines(&text);
        assert_eq!(
            lines[0],
            "DORA metrics, last 7 days (2025-12-25 00:00 UTC to 2026-01-01 00:00 UTC); benchmark: Accelerate State of DevOps Report 2023 (DORA), performance clusters"
        );
        let all = lines
            .iter()
            .position(|l| l.contains("(all pipelines)"))
            .expect("all row");
        let shop = lines
            .iter()
            .position(|l| l.contains("shop-prod"))
            .expect("shop row");
        let billing = lines
            .iter()
            .position(|l| l.contains("billing-prod"))
            .expect("billing row");
        assert!(billing < shop && shop < all, "{text}");
        assert!(
            text.ends_with(
                "Tiers: Accelerate State of DevOps Report 2023 (DORA), performance clusters. The 2025 DORA report publishes team archetypes, not tiers.\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn json_output_is_the_report_and_reads_back_equal() {
        let report = known_report();
        let text = json(&report).expect("json");
        assert!(text.ends_with("}\n"));
        let value: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
        assert_eq!(value["days"], 7);
        assert_eq!(value["pipelines"][1]["pipeline"], "shop-prod");
        assert_eq!(value["pipelines"][1]["changeFailureRate"], 0.25);
        assert_eq!(value["pipelines"][1]["leadTimeMedianSeconds"], 7_200.0);
        assert_eq!(value["pipelines"][1]["tiers"]["leadTime"], "Elite");
        assert_eq!(value["all"]["pipeline"], "(all pipelines)");
        let back: Report = serde_json::from_value(value).expect("a Report");
        assert_eq!(back, report);
    }

    #[test]
    fn the_backfill_summary_says_what_was_replayed_and_written() {
        let summary = BackfillSummary {
            pipelines: 2,
            executions: 13,
            deployments: 12,
            ops_items: 3,
            datapoints: 40,
        };
        assert_eq!(
            backfill_summary(&summary, 30),
            "Backfilled the last 30 days of 2 production pipelines: 13 succeeded executions \
             replayed, 12 production deployments, 3 OpsItems, 40 new datapoints.\n"
        );
    }

    #[test]
    fn a_second_backfill_says_everything_was_already_recorded() {
        let summary = BackfillSummary {
            pipelines: 1,
            executions: 1,
            deployments: 1,
            ops_items: 0,
            datapoints: 0,
        };
        let text = backfill_summary(&summary, 7);
        assert!(
            text.contains("1 production pipeline:")
                && text.contains("0 new datapoints (everything was already recorded)"),
            "{text}"
        );
    }
}
