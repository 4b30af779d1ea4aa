//! The `tollgate` command-line tool: DORA backfill and report over the Tollgate state table.

pub mod approvals;
pub mod args;
pub mod render;

use std::io::IsTerminal;
use std::time::SystemTime;

use dora::backfill::Progress;
use dora::report::{Report, summarize};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tollgate::config::{ConfigError, Env, required};
use tollgate::state::{DynamoStateStore, StateError, StateStore, epoch_seconds};

use crate::args::{BackfillArgs, Cli, Command, Dora, ReportArgs};

/// Why a command failed; `main` prints it and exits with status 1.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(
        "environment variable TABLE_NAME is not set: set it to Tollgate's state table (the \
         StateTableName output of your Tollgate stack)"
    )]
    NoTable,
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(
        "no AWS region is configured: set AWS_REGION (or AWS_DEFAULT_REGION), or a region in your \
         AWS profile"
    )]
    NoRegion,
    #[error(
        "the state table {table:?} (TABLE_NAME) does not exist in {region}: set TABLE_NAME to \
         Tollgate's state table (the StateTableName output of your Tollgate stack) and AWS_REGION \
         to the stack's region"
    )]
    NoSuchTable { table: String, region: String },
    #[error("reading the deployment ledger failed: {0}")]
    Ledger(#[from] StateError),
    #[error("backfill failed: {0}")]
    Backfill(#[from] dora::DoraError),
    #[error("cannot write the report as JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("reading the approvals failed: {0}")]
    Approvals(String),
    #[error(
        "there is no approval {0:?} in the state table (unknown id, or removed after ApprovalRetentionDays)"
    )]
    NoSuchApproval(String),
    /// A benchmark Tollgate has no thresholds for; the text says why.
    #[error("{0}")]
    Benchmark(&'static str),
}

/// Runs the parsed command with settings from `env`; returns what to print on stdout.
pub async fn run(cli: Cli, env: &impl Env) -> Result<String, CliError> {
    let now = epoch_seconds(SystemTime::now());
    match cli.command {
        Command::Dora(Dora::Report(args)) => report(env, &args, now).await,
        Command::Dora(Dora::Backfill(args)) => backfill(env, &args, now).await,
        Command::Approvals(args::Approvals::List(args)) => approvals::list(env, &args, now).await,
        Command::Approvals(args::Approvals::Show(args)) => approvals::show(env, &args).await,
    }
}

/// `tollgate dora report`: reads the ledger from `TABLE_NAME` and renders the report.
pub async fn report(env: &impl Env, args: &ReportArgs, now: i64) -> Result<String, CliError> {
    // A benchmark without thresholds fails before anything is read.
    dora::tiers::Benchmark::from(args.benchmark)
        .source()
        .map_err(CliError::Benchmark)?;
    let table = table_name(env)?;
    let sdk = sdk_config(env).await?;
    let store = DynamoStateStore::new(aws_sdk_dynamodb::Client::new(&sdk), table.clone());
    let report = report_from(&store, now, args.days)
        .await
        .map_err(|e| missing_table(e, &table, &sdk))?;
    if args.json {
        Ok(render::json(&report)?)
    } else {
        Ok(render::table(&report))
    }
}

/// The report over the ledger in `store`.
pub async fn report_from(store: &impl StateStore, now: i64, days: u32) -> Result<Report, CliError> {
    // Only the window is read: the report's cost is the window's records, not the history.
    let from = now.saturating_sub(i64::from(days.max(1)) * 86_400);
    let ledgers = dora::ledger::load_window(store, from, now).await?;
    Ok(summarize(&ledgers, now, days))
}

/// `tollgate dora backfill`: replays history through the calculators, with a progress bar on
/// stderr when it is a terminal.
pub async fn backfill(env: &impl Env, args: &BackfillArgs, now: i64) -> Result<String, CliError> {
    // Check the table and region first: a wrong TABLE_NAME fails before any history is read,
    // rather than after replaying it (or, with no history, not at all).
    let table = table_name(env)?;
    let sdk = sdk_config(env).await?;
    let deps = dora::deps::from_env(env).await?;
    deps.store
        .get(TABLE_PROBE_KEY, TABLE_PROBE_KEY)
        .await
        .map_err(|e| missing_table(CliError::Ledger(e), &table, &sdk))?;
    let bar = progress_bar(std::io::stderr().is_terminal());
    let mut on_progress = |p: Progress| advance(&bar, &p);
    let summary = dora::backfill::backfill(&deps, args.days, now, &mut on_progress).await;
    bar.finish_and_clear();
    let summary = summary.map_err(|e| missing_table(CliError::Backfill(e), &table, &sdk))?;
    Ok(render::backfill_summary(&summary, args.days))
}

/// The key read once to check that the state table exists (no item has it).
const TABLE_PROBE_KEY: &str = "TOLLGATE#CLI-TABLE-CHECK";

/// `err`, or [`CliError::NoSuchTable`] when DynamoDB said the table does not exist.
fn missing_table(err: CliError, table: &str, sdk: &aws_config::SdkConfig) -> CliError {
    let not_found = match &err {
        CliError::Ledger(StateError::Sdk(text))
        | CliError::Backfill(dora::DoraError::State(StateError::Sdk(text))) => {
            text.starts_with("ResourceNotFoundException")
        }
        _ => false,
    };
    if not_found {
        CliError::NoSuchTable {
            table: table.to_string(),
            region: sdk
                .region()
                .map_or_else(|| "the configured region".to_string(), |r| r.to_string()),
        }
    } else {
        err
    }
}

/// `TABLE_NAME`, with an error that says where to find it.
fn table_name(env: &impl Env) -> Result<String, CliError> {
    required(env, "TABLE_NAME").map_err(|_| CliError::NoTable)
}

/// The SDK configuration (`AWS_REGION`, `AWS_PROFILE`, `AWS_ENDPOINT_URL`, …); an error when no
/// region is configured anywhere, rather than a failure on the first call.
async fn sdk_config(env: &impl Env) -> Result<aws_config::SdkConfig, CliError> {
    let sdk = tollgate::aws::load(env).await?;
    if sdk.region().is_none() {
        return Err(CliError::NoRegion);
    }
    Ok(sdk)
}

/// A progress bar on stderr, or a hidden one when stderr is not a terminal (piped, CI logs).
pub fn progress_bar(on_terminal: bool) -> ProgressBar {
    let target = if on_terminal {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    };
    let bar = ProgressBar::with_draw_target(None, target);
    if let Ok(style) = ProgressStyle::with_template("{bar:40} {pos}/{len} executions  {wide_msg}") {
        bar.set_style(style);
    }
    bar
}

/// Moves the bar to where the backfill is.
pub fn advance(bar: &ProgressBar, progress: &Progress) {
    bar.set_length(progress.total as u64);
    bar.set_position(progress.done as u64);
    bar.set_message(progress.pipeline.clone());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn report_without_table_name_names_the_variable() {
        let args = ReportArgs {
            days: 7,
            json: true,
            benchmark: args::BenchmarkYear::Y2023,
        };
        let err = report(&[("AWS_REGION", "us-east-1")], &args, 0)
            .await
            .expect_err("no TABLE_NAME");
        assert!(err.to_string().contains("TABLE_NAME"), "{err}");
    }

    #[tokio::test]
    async fn report_with_the_2024_benchmark_fails_saying_why_before_reading_anything() {
        let args = ReportArgs {
            days: 7,
            json: false,
            benchmark: args::BenchmarkYear::Y2024,
        };
        // No TABLE_NAME and no region: the benchmark is refused first, so nothing was read.
        let err = report(&[], &args, 0).await.expect_err("2024 is refused");
        assert!(matches!(err, CliError::Benchmark(_)), "{err:?}");
        let text = err.to_string();
        assert_eq!(text, dora::tiers::UNAVAILABLE_2024);
        assert!(!text.contains("TABLE_NAME"), "{text}");
    }

    #[tokio::test]
    async fn backfill_without_table_name_names_the_variable() {
        let err = backfill(&[], &BackfillArgs { days: 7 }, 0)
            .await
            .expect_err("no TABLE_NAME");
        assert!(err.to_string().contains("TABLE_NAME"), "{err}");
    }

    #[test]
    fn the_bar_follows_the_backfill_and_is_hidden_off_a_terminal() {
        let bar = progress_bar(false);
        assert!(bar.is_hidden());
        advance(
            &bar,
            &Progress {
                pipeline: "shop-prod".into(),
                done: 3,
                total: 12,
            },
        );
        assert_eq!((bar.position(), bar.length()), (3, Some(12)));
        assert_eq!(bar.message(), "shop-prod");
    }
}
