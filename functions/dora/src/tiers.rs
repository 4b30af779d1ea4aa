//! The DORA performance tiers and the classification of each key's figure into one.
//!
//! # Source
//!
//! The thresholds come from the **2023 Accelerate State of DevOps Report** (DORA, Google Cloud,
//! <https://dora.dev/research/2023/dora-report/>): its table of the four software delivery
//! performance levels found by cluster analysis, reproduced here:
//!
//! | cluster | deployment frequency           | change lead time  | change failure rate | failed deployment recovery time |
//! |---------|--------------------------------|-------------------|---------------------|---------------------------------|
//! | Elite   | on demand                      | less than 1 day   | 5 %                 | less than 1 hour                |
//! | High    | between once a day and once a week | between 1 day and 1 week | 10 %   | less than 1 day                 |
//! | Medium  | between once a week and once a month | between 1 week and 1 month | 15 % | between 1 day and 1 week       |
//! | Low     | between once a week and once a month | between 1 week and 1 month | 64 % | between 1 month and 6 months   |
//!
//! # Making the table contiguous
//!
//! The published clusters overlap (Low's frequency and lead time are the same ranges as
//! Medium's), leave a gap (recovery between 1 week and 1 month belongs to no cluster) and give
//! the failure rate as one value per cluster. Tollgate closes them with these rules, so that
//! every value has exactly one tier:
//! - a month is 30 days, a week 7 days;
//! - **ranges**: each tier starts where the better tier ends. Low is everything slower than
//!   Medium (frequency under once a month, lead time of a month or more, restore of a week or
//!   more: the 1 week – 1 month gap goes to Low);
//! - **a value exactly on a boundary belongs to the slower tier**, as the report's own words
//!   read: "less than one day" excludes the day, so a median lead time of exactly 1 day is High;
//!   "on demand" means several deployments a day, so exactly one a day is High;
//! - **failure rates**: each cluster's published value is its tier's ceiling, inclusive
//!   (5 % is Elite, 5.1 % is High); above 15 % is Low.
//!
//! # Thresholds (for the dashboard's annotations)
//!
//! | key                               | Elite           | High                  | Medium                   | Low              |
//! |-----------------------------------|-----------------|-----------------------|--------------------------|------------------|
//! | deployment frequency (per day)    | > 1             | > 1/7 (0.142857), ≤ 1 | > 1/30 (0.033333), ≤ 1/7 | ≤ 1/30           |
//! | lead time for changes (seconds)   | < 86 400        | 86 400 – < 604 800    | 604 800 – < 2 592 000    | ≥ 2 592 000      |
//! | change failure rate (fraction)    | ≤ 0.05          | > 0.05, ≤ 0.10        | > 0.10, ≤ 0.15           | > 0.15           |
//! | time to restore (seconds)         | < 3 600         | 3 600 – < 86 400      | 86 400 – < 604 800       | ≥ 604 800        |
//!
//! Lead time and time to restore are medians of per-change / per-incident values; deployment
//! frequency is production deployments per day over the report's window.

use serde::{Deserialize, Serialize};

/// One hour, in seconds.
pub const HOUR: i64 = 3_600;
/// One day, in seconds.
pub const DAY: i64 = 86_400;
/// One week (7 days), in seconds.
pub const WEEK: i64 = 7 * DAY;
/// One month (30 days), in seconds.
pub const MONTH: i64 = 30 * DAY;

/// Elite deploys more than once a day ("on demand").
pub const DEPLOYS_PER_DAY_ELITE: f64 = 1.0;
/// High deploys more than once a week.
pub const DEPLOYS_PER_DAY_HIGH: f64 = 1.0 / 7.0;
/// Medium deploys more than once a month; at or under it is Low.
pub const DEPLOYS_PER_DAY_MEDIUM: f64 = 1.0 / 30.0;

/// Elite's median lead time is under a day.
pub const LEAD_TIME_ELITE_SECONDS: i64 = DAY;
/// High's is under a week.
pub const LEAD_TIME_HIGH_SECONDS: i64 = WEEK;
/// Medium's is under a month; a month or more is Low.
pub const LEAD_TIME_MEDIUM_SECONDS: i64 = MONTH;

/// Elite's change failure rate is at most 5 %.
pub const CHANGE_FAILURE_RATE_ELITE: f64 = 0.05;
/// High's is at most 10 %.
pub const CHANGE_FAILURE_RATE_HIGH: f64 = 0.10;
/// Medium's is at most 15 %; above is Low.
pub const CHANGE_FAILURE_RATE_MEDIUM: f64 = 0.15;

/// Elite restores in under an hour.
pub const TIME_TO_RESTORE_ELITE_SECONDS: i64 = HOUR;
/// High in under a day.
pub const TIME_TO_RESTORE_HIGH_SECONDS: i64 = DAY;
/// Medium in under a week; a week or more is Low.
pub const TIME_TO_RESTORE_MEDIUM_SECONDS: i64 = WEEK;

/// Where the thresholds come from, for output that shows a tier.
pub const SOURCE: &str = "Accelerate State of DevOps Report 2023 (DORA), performance clusters";

/// Why `--benchmark 2024` is refused (see `docs/dora.md`, "Benchmarks").
pub const UNAVAILABLE_2024: &str = "the 2024 benchmark is not available: Tollgate takes tier \
     thresholds only from DORA's own publication, and the cluster table of the Accelerate State of \
     DevOps Report 2024 (in its PDF, https://dora.dev/research/2024/dora-report/) could not be read \
     from a primary copy when this version was built; secondary write-ups of it disagree with each \
     other. Use --benchmark 2023 (the default); docs/dora.md, \"Benchmarks\", says more";

/// A published set of performance clusters a report can be classified against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Benchmark {
    /// The 2023 Accelerate State of DevOps Report's clusters (the thresholds above): the default.
    #[default]
    Dora2023,
    /// The 2024 report's clusters: not built in (see [`UNAVAILABLE_2024`]).
    Dora2024,
}

impl Benchmark {
    /// The report's year.
    pub fn year(self) -> u16 {
        match self {
            Benchmark::Dora2023 => 2023,
            Benchmark::Dora2024 => 2024,
        }
    }

    /// Where its thresholds come from (for a report's header), or why Tollgate has none for it.
    pub fn source(self) -> Result<&'static str, &'static str> {
        match self {
            Benchmark::Dora2023 => Ok(SOURCE),
            Benchmark::Dora2024 => Err(UNAVAILABLE_2024),
        }
    }
}

/// A DORA performance tier, best first (so `Elite < Low` in `Ord`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Tier {
    Elite,
    High,
    Medium,
    Low,
}

impl Tier {
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Elite => "Elite",
            Tier::High => "High",
            Tier::Medium => "Medium",
            Tier::Low => "Low",
        }
    }
}

impl std::fmt::Display for Tier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The tier of a deployment frequency, in production deployments per day.
pub fn deployment_frequency(per_day: f64) -> Tier {
    if per_day > DEPLOYS_PER_DAY_ELITE {
        Tier::Elite
    } else if per_day > DEPLOYS_PER_DAY_HIGH {
        Tier::High
    } else if per_day > DEPLOYS_PER_DAY_MEDIUM {
        Tier::Medium
    } else {
        Tier::Low
    }
}

/// Lower is better: the first ceiling the value is strictly under names its tier.
fn shorter_is_better(seconds: f64, elite: i64, high: i64, medium: i64) -> Tier {
    if seconds < elite as f64 {
        Tier::Elite
    } else if seconds < high as f64 {
        Tier::High
    } else if seconds < medium as f64 {
        Tier::Medium
    } else {
        Tier::Low
    }
}

/// The tier of a median lead time for changes, in seconds.
pub fn lead_time(median_seconds: f64) -> Tier {
    shorter_is_better(
        median_seconds,
        LEAD_TIME_ELITE_SECONDS,
        LEAD_TIME_HIGH_SECONDS,
        LEAD_TIME_MEDIUM_SECONDS,
    )
}

/// The tier of a change failure rate, as a fraction (0.05 is 5 %).
pub fn change_failure_rate(rate: f64) -> Tier {
    if rate <= CHANGE_FAILURE_RATE_ELITE {
        Tier::Elite
    } else if rate <= CHANGE_FAILURE_RATE_HIGH {
        Tier::High
    } else if rate <= CHANGE_FAILURE_RATE_MEDIUM {
        Tier::Medium
    } else {
        Tier::Low
    }
}

/// The tier of a median time to restore, in seconds.
pub fn time_to_restore(median_seconds: f64) -> Tier {
    shorter_is_better(
        median_seconds,
        TIME_TO_RESTORE_ELITE_SECONDS,
        TIME_TO_RESTORE_HIGH_SECONDS,
        TIME_TO_RESTORE_MEDIUM_SECONDS,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (just below, at, just above) a boundary, as the nearest representable values.
    fn around(x: f64) -> [f64; 3] {
        [x.next_down(), x, x.next_up()]
    }

    fn seconds_around(x: i64) -> [f64; 3] {
        [(x - 1) as f64, x as f64, (x + 1) as f64]
    }

    #[test]
    fn deploying_more_than_once_a_day_is_elite_and_exactly_once_a_day_is_high() {
        let [below, at, above] = around(DEPLOYS_PER_DAY_ELITE);
        assert_eq!(deployment_frequency(below), Tier::High);
        assert_eq!(deployment_frequency(at), Tier::High);
        assert_eq!(deployment_frequency(above), Tier::Elite);
        // 7 deployments in a week is once a day; 8 is more.
        assert_eq!(deployment_frequency(7.0 / 7.0), Tier::High);
        assert_eq!(deployment_frequency(8.0 / 7.0), Tier::Elite);
    }

    #[test]
    fn deploying_more_than_once_a_week_is_high_and_exactly_once_a_week_is_medium() {
        let [below, at, above] = around(DEPLOYS_PER_DAY_HIGH);
        assert_eq!(deployment_frequency(below), Tier::Medium);
        assert_eq!(deployment_frequency(at), Tier::Medium);
        assert_eq!(deployment_frequency(above), Tier::High);
        // Over 28 days: 4 deployments is once a week, 5 is more.
        assert_eq!(deployment_frequency(4.0 / 28.0), Tier::Medium);
        assert_eq!(deployment_frequency(5.0 / 28.0), Tier::High);
    }

    #[test]
    fn deploying_more_than_once_a_month_is_medium_and_exactly_once_a_month_is_low() {
        let [below, at, above] = around(DEPLOYS_PER_DAY_MEDIUM);
        assert_eq!(deployment_frequency(below), Tier::Low);
        assert_eq!(deployment_frequency(at), Tier::Low);
        assert_eq!(deployment_frequency(above), Tier::Medium);
        // Over 90 days: 3 deployments is once a month, 4 is more.
        assert_eq!(deployment_frequency(3.0 / 90.0), Tier::Low);
        assert_eq!(deployment_frequency(4.0 / 90.0), Tier::Medium);
    }

    #[test]
    fn never_deploying_is_low() {
        assert_eq!(deployment_frequency(0.0), Tier::Low);
    }

    #[test]
    fn a_lead_time_under_a_day_is_elite_and_exactly_a_day_is_high() {
        let [below, at, above] = seconds_around(DAY);
        assert_eq!(lead_time(below), Tier::Elite);
        assert_eq!(lead_time(at), Tier::High);
        assert_eq!(lead_time(above), Tier::High);
    }

    #[test]
    fn a_lead_time_under_a_week_is_high_and_exactly_a_week_is_medium() {
        let [below, at, above] = seconds_around(WEEK);
        assert_eq!(lead_time(below), Tier::High);
        assert_eq!(lead_time(at), Tier::Medium);
        assert_eq!(lead_time(above), Tier::Medium);
    }

    #[test]
    fn a_lead_time_under_thirty_days_is_medium_and_thirty_days_or_more_is_low() {
        let [below, at, above] = seconds_around(30 * DAY);
        assert_eq!(lead_time(below), Tier::Medium);
        assert_eq!(lead_time(at), Tier::Low);
        assert_eq!(lead_time(above), Tier::Low);
    }

    #[test]
    fn a_half_second_median_lead_time_is_classified_on_its_exact_value() {
        assert_eq!(lead_time(DAY as f64 - 0.5), Tier::Elite);
        assert_eq!(lead_time(0.0), Tier::Elite);
    }

    #[test]
    fn a_failure_rate_of_five_percent_is_still_elite_and_just_above_is_high() {
        let [below, at, above] = around(CHANGE_FAILURE_RATE_ELITE);
        assert_eq!(change_failure_rate(below), Tier::Elite);
        assert_eq!(change_failure_rate(at), Tier::Elite);
        assert_eq!(change_failure_rate(above), Tier::High);
        // 1 failure in 20 deployments is 5 %; 2 in 39 is 5.1 %.
        assert_eq!(change_failure_rate(1.0 / 20.0), Tier::Elite);
        assert_eq!(change_failure_rate(2.0 / 39.0), Tier::High);
    }

    #[test]
    fn a_failure_rate_of_ten_percent_is_still_high_and_just_above_is_medium() {
        let [below, at, above] = around(CHANGE_FAILURE_RATE_HIGH);
        assert_eq!(change_failure_rate(below), Tier::High);
        assert_eq!(change_failure_rate(at), Tier::High);
        assert_eq!(change_failure_rate(above), Tier::Medium);
        assert_eq!(change_failure_rate(1.0 / 10.0), Tier::High);
    }

    #[test]
    fn a_failure_rate_of_fifteen_percent_is_still_medium_and_just_above_is_low() {
        let [below, at, above] = around(CHANGE_FAILURE_RATE_MEDIUM);
        assert_eq!(change_failure_rate(below), Tier::Medium);
        assert_eq!(change_failure_rate(at), Tier::Medium);
        assert_eq!(change_failure_rate(above), Tier::Low);
        // 3 failures in 20 deployments is 15 %; 4 in 20 is 20 %.
        assert_eq!(change_failure_rate(3.0 / 20.0), Tier::Medium);
        assert_eq!(change_failure_rate(4.0 / 20.0), Tier::Low);
    }

    #[test]
    fn no_failures_is_elite_and_every_deployment_failing_is_low() {
        assert_eq!(change_failure_rate(0.0), Tier::Elite);
        assert_eq!(change_failure_rate(1.0), Tier::Low);
    }

    #[test]
    fn restoring_in_under_an_hour_is_elite_and_exactly_an_hour_is_high() {
        let [below, at, above] = seconds_around(HOUR);
        assert_eq!(time_to_restore(below), Tier::Elite);
        assert_eq!(time_to_restore(at), Tier::High);
        assert_eq!(time_to_restore(above), Tier::High);
    }

    #[test]
    fn restoring_in_under_a_day_is_high_and_exactly_a_day_is_medium() {
        let [below, at, above] = seconds_around(DAY);
        assert_eq!(time_to_restore(below), Tier::High);
        assert_eq!(time_to_restore(at), Tier::Medium);
        assert_eq!(time_to_restore(above), Tier::Medium);
    }

    #[test]
    fn restoring_in_under_a_week_is_medium_and_a_week_or_more_is_low() {
        let [below, at, above] = seconds_around(WEEK);
        assert_eq!(time_to_restore(below), Tier::Medium);
        assert_eq!(time_to_restore(at), Tier::Low);
        assert_eq!(time_to_restore(above), Tier::Low);
    }

    #[test]
    fn a_restore_time_in_the_reports_gap_between_a_week_and_a_month_is_low() {
        assert_eq!(time_to_restore((2 * WEEK) as f64), Tier::Low);
        assert_eq!(time_to_restore((MONTH - 1) as f64), Tier::Low);
    }

    #[test]
    fn published_thresholds_are_the_units_the_dashboard_cites() {
        assert_eq!(LEAD_TIME_ELITE_SECONDS, 86_400);
        assert_eq!(LEAD_TIME_HIGH_SECONDS, 604_800);
        assert_eq!(LEAD_TIME_MEDIUM_SECONDS, 2_592_000);
        assert_eq!(TIME_TO_RESTORE_ELITE_SECONDS, 3_600);
        assert_eq!(TIME_TO_RESTORE_HIGH_SECONDS, 86_400);
        assert_eq!(TIME_TO_RESTORE_MEDIUM_SECONDS, 604_800);
    }

    #[test]
    fn the_default_benchmark_is_2023_and_cites_its_report() {
        assert_eq!(Benchmark::default(), Benchmark::Dora2023);
        assert_eq!(Benchmark::default().year(), 2023);
        let source = Benchmark::default().source().expect("2023 is built in");
        assert!(source.contains("2023"), "{source}");
        assert_eq!(source, SOURCE);
    }

    #[test]
    fn the_2024_benchmark_is_refused_with_the_reason_and_a_way_forward() {
        let why = Benchmark::Dora2024
            .source()
            .expect_err("no primary source for 2024's clusters");
        assert_eq!(Benchmark::Dora2024.year(), 2024);
        assert!(why.contains("2024"), "{why}");
        assert!(why.contains("primary"), "{why}");
        assert!(
            why.contains("https://dora.dev/research/2024/dora-report/"),
            "{why}"
        );
        assert!(why.contains("--benchmark 2023"), "{why}");
    }

    #[test]
    fn tiers_order_best_first_and_serialize_by_name() {
        assert!(Tier::Elite < Tier::High && Tier::High < Tier::Medium && Tier::Medium < Tier::Low);
        assert_eq!(
            serde_json::to_string(&Tier::Medium).expect("serialize"),
            "\"Medium\""
        );
        assert_eq!(Tier::Low.to_string(), "Low");
    }
}
