//! The command line: `tollgate dora backfill` and `tollgate dora report`.

use clap::{Args, Parser, Subcommand, ValueEnum};
use dora::tiers::Benchmark;

/// The longest window a report reads (ten years).
pub const MAX_REPORT_DAYS: u32 = 3_650;
/// The longest history backfill replays: CodePipeline keeps a year of execution history.
pub const MAX_BACKFILL_DAYS: u32 = 366;

const CONFIG_HELP: &str = "\
Configuration comes from the same environment variables as Tollgate's Lambda functions:
  TABLE_NAME               the Tollgate state table (required; the stack's StateTable)
  AWS_REGION, AWS_PROFILE  where and as whom, as for the AWS CLI
  AWS_ENDPOINT_URL         an endpoint override (a local sandbox)
Backfill also reads PROD_PIPELINES, PROD_STAGE_NAME, DEFAULT_MAIN_BRANCH, METRICS_NAMESPACE,
GITHUB_API_URL and GITHUB_TOKEN_SECRET_ARN (see docs/dora.md).";

/// Tollgate's command-line tool.
#[derive(Debug, Parser, PartialEq, Eq)]
#[command(name = "tollgate", version, about, long_about = None, after_help = CONFIG_HELP)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand, PartialEq, Eq)]
pub enum Command {
    /// DORA metrics of your CodePipeline pipelines: replay history, print the four keys.
    #[command(subcommand, after_help = CONFIG_HELP)]
    Dora(Dora),
    /// Email approvals' audit trail: who was asked, who decided what and when, from which IP,
    /// with which comment, and when the workflow was told.
    #[command(subcommand, after_help = CONFIG_HELP)]
    Approvals(Approvals),
}

#[derive(Debug, Subcommand, PartialEq, Eq)]
pub enum Approvals {
    /// List the approvals created in the last N days, newest first.
    #[command(after_help = CONFIG_HELP)]
    List(ApprovalListArgs),
    /// Show one approval: who was asked, each vote (when, from which IP, with which comment),
    /// the decision, and when the workflow was told.
    #[command(after_help = CONFIG_HELP)]
    Show(ApprovalShowArgs),
}

#[derive(Debug, Args, PartialEq, Eq)]
pub struct ApprovalListArgs {
    /// The window: approvals created in the last N days (1 to 366).
    #[arg(long, value_name = "N", default_value_t = 7,
          value_parser = clap::value_parser!(u32).range(1..=366))]
    pub days: u32,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args, PartialEq, Eq)]
pub struct ApprovalShowArgs {
    /// The approval's id (the last part of its link's path).
    pub id: String,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand, PartialEq, Eq)]
pub enum Dora {
    /// Replay the production pipelines' execution history into the deployment ledger and the
    /// DORA metrics, through the same calculators as live events.
    ///
    /// Safe to run at any time and more than once: a deployment already recorded (by a live
    /// event or an earlier backfill) adds nothing. Incidents (OpsItems) are not replayed; they
    /// come from live events.
    #[command(after_help = CONFIG_HELP)]
    Backfill(BackfillArgs),
    /// Print DORA's five metrics and their tier for each pipeline over the last N days, read from
    /// the deployment ledger in the state table.
    ///
    /// Columns: production deployments (rollbacks included) and per day; lead time for changes
    /// (median and p90 over the newly deployed commits); change failure rate (failed deployments
    /// / deployments); deployment rework rate; failed deployment recovery time (median over the
    /// incidents opened and restored in the window); incidents still open. Tiers follow the 2023
    /// Accelerate State of DevOps Report (--benchmark 2023, the default); the header names the
    /// benchmark. The 2025 DORA report publishes team archetypes, not tiers.
    #[command(after_help = CONFIG_HELP)]
    Report(ReportArgs),
}

#[derive(Debug, Args, PartialEq, Eq)]
pub struct BackfillArgs {
    /// How many days of pipeline history to replay, up to now (1 to 366).
    #[arg(long, value_name = "N", default_value_t = 30,
          value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_BACKFILL_DAYS)))]
    pub days: u32,
}

#[derive(Debug, Args, PartialEq, Eq)]
pub struct ReportArgs {
    /// The window: the last N days up to now (1 to 3650).
    #[arg(long, value_name = "N", default_value_t = 30,
          value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_REPORT_DAYS)))]
    pub days: u32,
    /// Print the report as JSON (figures in seconds and fractions) instead of a table.
    #[arg(long)]
    pub json: bool,
    /// The performance clusters the tiers come from: the Accelerate State of DevOps Report of
    /// that year. 2024 is refused, saying why (no primary source for its clusters yet).
    #[arg(long, value_enum, value_name = "YEAR", default_value_t = BenchmarkYear::Y2023)]
    pub benchmark: BenchmarkYear,
}

/// `--benchmark`'s values: a report's year.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BenchmarkYear {
    /// The 2023 Accelerate State of DevOps Report's clusters (the default).
    #[value(name = "2023")]
    Y2023,
    /// The 2024 report's clusters (not built in: refused with the reason).
    #[value(name = "2024")]
    Y2024,
}

impl From<BenchmarkYear> for Benchmark {
    fn from(year: BenchmarkYear) -> Self {
        match year {
            BenchmarkYear::Y2023 => Benchmark::Dora2023,
            BenchmarkYear::Y2024 => Benchmark::Dora2024,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;
    use clap::error::ErrorKind;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("tollgate").chain(args.iter().copied()))
    }

    #[test]
    fn the_command_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn report_takes_days_and_json() {
        let cli = parse(&["dora", "report", "--days", "7", "--json"]).expect("parses");
        assert_eq!(
            cli.command,
            Command::Dora(Dora::Report(ReportArgs {
                days: 7,
                json: true,
                benchmark: BenchmarkYear::Y2023,
            }))
        );
    }

    #[test]
    fn report_defaults_to_thirty_days_as_a_table() {
        let cli = parse(&["dora", "report"]).expect("parses");
        assert_eq!(
            cli.command,
            Command::Dora(Dora::Report(ReportArgs {
                days: 30,
                json: false,
                benchmark: BenchmarkYear::Y2023,
            }))
        );
    }

    #[test]
    fn report_benchmark_defaults_to_2023_and_takes_2024() {
        let default = parse(&["dora", "report"]).expect("parses");
        let Command::Dora(Dora::Report(args)) = default.command else {
            panic!("not a report: {default:?}");
        };
        assert_eq!(Benchmark::from(args.benchmark), Benchmark::Dora2023);
        let chosen = parse(&["dora", "report", "--benchmark", "2024"]).expect("parses");
        let Command::Dora(Dora::Report(args)) = chosen.command else {
            panic!("not a report: {chosen:?}");
        };
        assert_eq!(Benchmark::from(args.benchmark), Benchmark::Dora2024);
    }

    #[test]
    fn a_benchmark_year_without_clusters_is_refused_naming_the_years_there_are() {
        for bad in ["2025", "2022", "latest"] {
            let err = parse(&["dora", "report", "--benchmark", bad]).expect_err(bad);
            assert_eq!(err.kind(), ErrorKind::InvalidValue, "{bad}");
            let text = err.to_string();
            assert!(
                text.contains("2023") && text.contains("2024"),
                "{bad}: {text}"
            );
        }
    }

    #[test]
    fn backfill_takes_days() {
        let cli = parse(&["dora", "backfill", "--days", "90"]).expect("parses");
        assert_eq!(
            cli.command,
            Command::Dora(Dora::Backfill(BackfillArgs { days: 90 }))
        );
    }

    #[test]
    fn zero_negative_or_non_numeric_days_are_refused() {
        let err = parse(&["dora", "report", "--days", "0"]).expect_err("0 days");
        assert_eq!(err.kind(), ErrorKind::ValueValidation);
        for bad in ["-3", "week"] {
            let err = parse(&["dora", "report", "--days", bad]).expect_err(bad);
            let text = err.to_string();
            assert!(
                text.contains("--days") || text.contains(bad),
                "{bad}: {text}"
            );
        }
    }

    #[test]
    fn backfill_refuses_more_history_than_codepipeline_keeps() {
        assert!(parse(&["dora", "backfill", "--days", "366"]).is_ok());
        let err = parse(&["dora", "backfill", "--days", "367"]).expect_err("367 days");
        assert_eq!(err.kind(), ErrorKind::ValueValidation);
    }

    #[test]
    fn json_is_not_an_option_of_backfill() {
        let err = parse(&["dora", "backfill", "--json"]).expect_err("--json");
        assert_eq!(err.kind(), ErrorKind::UnknownArgument);
    }

    #[test]
    fn a_missing_subcommand_shows_help_instead_of_running() {
        let err = parse(&["dora"]).expect_err("no subcommand");
        assert_eq!(
            err.kind(),
            ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
        );
    }

    #[test]
    fn report_help_names_the_table_variable_and_the_tier_source() {
        let mut cmd = Cli::command();
        let help = cmd
            .find_subcommand_mut("dora")
            .and_then(|d| d.find_subcommand_mut("report"))
            .expect("dora report")
            .render_long_help()
            .to_string();
        assert!(help.contains("TABLE_NAME"), "{help}");
        assert!(help.contains("2023 Accelerate State of DevOps"), "{help}");
        assert!(help.contains("--json"), "{help}");
        assert!(help.contains("--benchmark"), "{help}");
        assert!(help.contains("archetypes, not tiers"), "{help}");
    }
}
