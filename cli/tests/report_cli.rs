//! The `tollgate` binary end to end: `dora report` against a ledger seeded in the sandbox's
//! DynamoDB (moto), and its errors.

use std::process::{Command, Output};
use std::time::SystemTime;

use dora::ledger;
use dora::model::{Deployment, Incident, LeadTimes};
use serde_json::Value;
use tollgate::state::{DynamoStateStore, epoch_seconds};
use tollgate_tests::{create_state_table, moto_config, moto_endpoint};

const H: i64 = 3_600;
const D: i64 = 86_400;

/// Runs `tollgate` with only the given environment (no AWS profile of the machine's user).
fn tollgate(args: &[&str], env: &[(&str, &str)]) -> Output {
    let home = std::env::temp_dir();
    Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args(args)
        .env_clear()
        .env("HOME", &home)
        .envs(env.iter().copied())
        .output()
        .expect("run tollgate")
}

fn sandbox_env(table: &str) -> Vec<(&'static str, String)> {
    vec![
        ("TABLE_NAME", table.to_string()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID", "testing".into()),
        ("AWS_SECRET_ACCESS_KEY", "testing".into()),
        ("AWS_ENDPOINT_URL", moto_endpoint().to_string()),
        ("TOLLGATE_MAX_ATTEMPTS", "1".into()),
    ]
}

fn deployment(pipeline: &str, id: &str, time: i64, trigger: &str) -> Deployment {
    Deployment {
        pipeline: pipeline.into(),
        execution_id: id.into(),
        time,
        commit: Some(format!("{id}0000")),
        repository: Some("acme/shop".into()),
        branch: Some("main".into()),
        commit_message: None,
        trigger_type: Some(trigger.into()),
    }
}

/// shop-prod over the last 7 days: 3 deployments (one a rollback), changes of 1 h, 3 h and 5 h,
/// the second deployment failed with an incident restored in 30 min, one incident still open;
/// one older deployment outside the window. api-prod: one deployment, one change of 10 min.
async fn seed(store: &DynamoStateStore, now: i64) {
    let shop = [
        deployment("shop-prod", "s0", now - 10 * D, "Webhook"),
        deployment("shop-prod", "s1", now - 5 * D, "Webhook"),
        deployment("shop-prod", "s2", now - 3 * D, "Webhook"),
        deployment("shop-prod", "s3", now - 2 * D, "ManualRollback"),
        deployment("api-prod", "a1", now - D, "Webhook"),
    ];
    for d in &shop {
        ledger::record_deployment(store, d, ledger::Retention::default())
            .await
            .expect("deployment");
    }
    for (pipeline, id, time, seconds) in [
        ("shop-prod", "s0", now - 10 * D, vec![60]),
        ("shop-prod", "s1", now - 5 * D, vec![H, 3 * H]),
        ("shop-prod", "s2", now - 3 * D, vec![5 * H]),
        ("api-prod", "a1", now - D, vec![600]),
    ] {
        let lead = LeadTimes {
            truncated_from: None,
            base_commit: None,
            pipeline: pipeline.into(),
            execution_id: id.into(),
            time,
            seconds,
        };
        ledger::record_lead_times(store, &lead, ledger::Retention::default())
            .await
            .expect("lead times");
    }
    ledger::record_failure(
        store,
        &shop[2],
        "oi-00000000000a",
        ledger::Retention::default(),
    )
    .await
    .expect("failure");
    ledger::record_failure(store, &shop[2], "rollback:s3", ledger::Retention::default())
        .await
        .expect("failure");
    for (id, created, restored) in [
        (
            "oi-00000000000a",
            now - 3 * D + H,
            Some(now - 3 * D + H + 1_800),
        ),
        ("oi-00000000000b", now - 2 * H, None),
    ] {
        let incident = Incident {
            id: id.into(),
            pipeline: "shop-prod".into(),
            execution_id: Some("s2".into()),
            created,
            restored,
        };
        ledger::record_incident(store, &incident, ledger::Retention::default())
            .await
            .expect("incident");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn report_json_shows_the_seeded_ledgers_four_keys_and_tiers() {
    let sdk = moto_config().await;
    let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
    let table = create_state_table(&dynamo).await;
    let store = DynamoStateStore::new(dynamo, &table);
    let now = epoch_seconds(SystemTime::now());
    seed(&store, now).await;

    let env = sandbox_env(&table);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let out = tollgate(&["dora", "report", "--days", "7", "--json"], &env);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "tollgate failed: {stderr}");
    let json: Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");

    assert_eq!(json["days"], 7);
    let names: Vec<&str> = json["pipelines"]
        .as_array()
        .expect("pipelines")
        .iter()
        .filter_map(|r| r["pipeline"].as_str())
        .collect();
    assert_eq!(names, ["api-prod", "shop-prod"]);

    let shop = &json["pipelines"][1];
    // s1, s2, s3 (rollback) in the window; s0 is 10 days old.
    assert_eq!(shop["deployments"], 3);
    assert_eq!(shop["rollbacks"], 1);
    assert_eq!(shop["deploymentsPerDay"], 3.0 / 7.0);
    assert_eq!(shop["tiers"]["deploymentFrequency"], "High");
    // Changes 1 h, 3 h, 5 h: median 3 h (Elite), p90 5 h.
    assert_eq!(shop["changes"], 3);
    assert_eq!(shop["leadTimeMedianSeconds"], 10_800.0);
    assert_eq!(shop["leadTimeP90Seconds"], 18_000);
    assert_eq!(shop["tiers"]["leadTime"], "Elite");
    // s2 failed (an incident and the rollback): 1 of 3, Low.
    assert_eq!(shop["failedDeployments"], 1);
    assert_eq!(shop["changeFailureRate"], 1.0 / 3.0);
    assert_eq!(shop["tiers"]["changeFailureRate"], "Low");
    // One incident restored in 30 min (Elite), one open.
    assert_eq!(shop["timeToRestoreMedianSeconds"], 1_800.0);
    assert_eq!(shop["tiers"]["timeToRestore"], "Elite");
    assert_eq!(shop["openIncidents"], 1);

    let all = &json["all"];
    // 4 deployments; changes 10 min, 1 h, 3 h, 5 h: median (1 h + 3 h) / 2 = 2 h.
    assert_eq!(all["deployments"], 4);
    assert_eq!(all["leadTimeMedianSeconds"], 7_200.0);
    assert_eq!(all["changeFailureRate"], 0.25);
}

#[tokio::test(flavor = "multi_thread")]
async fn report_table_lists_every_pipeline_and_the_total() {
    let sdk = moto_config().await;
    let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
    let table = create_state_table(&dynamo).await;
    let store = DynamoStateStore::new(dynamo, &table);
    let now = epoch_seconds(SystemTime::now());
    seed(&store, now).await;

    let env = sandbox_env(&table);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let out = tollgate(&["dora", "report", "--days", "7"], &env);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("UTF-8");
    let shop = text
        .lines()
        .find(|l| l.contains("shop-prod"))
        .unwrap_or_else(|| panic!("no shop-prod row in\n{text}"));
    assert!(
        shop.contains("3 (1 rollback)") && shop.contains("33.3% (1/3) Low"),
        "{shop}"
    );
    assert!(text.contains("(all pipelines)"), "{text}");
    assert!(text.starts_with("DORA metrics, last 7 days"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn benchmark_2023_is_the_default_and_the_header_names_it() {
    let sdk = moto_config().await;
    let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
    let table = create_state_table(&dynamo).await;
    let store = DynamoStateStore::new(dynamo, &table);
    let now = epoch_seconds(SystemTime::now());
    seed(&store, now).await;

    let env = sandbox_env(&table);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let default = tollgate(&["dora", "report", "--days", "7"], &env);
    let chosen = tollgate(
        &["dora", "report", "--days", "7", "--benchmark", "2023"],
        &env,
    );
    for out in [&default, &chosen] {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let header = |out: &Output| {
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        header(&chosen).ends_with(
            "benchmark: Accelerate State of DevOps Report 2023 (DORA), performance clusters"
        ),
        "{}",
        header(&chosen)
    );
    assert_eq!(header(&default), header(&chosen));
    let text = String::from_utf8_lossy(&chosen.stdout).to_string();
    assert!(
        text.contains("The 2025 DORA report publishes team archetypes, not tiers."),
        "{text}"
    );
}

#[test]
fn benchmark_2024_exits_one_saying_why_without_reading_the_table() {
    // TABLE_NAME names no table and no endpoint answers: the refusal comes first.
    let out = tollgate(
        &["dora", "report", "--benchmark", "2024"],
        &[
            ("TABLE_NAME", "no-such-table"),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:9"),
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.trim_end(),
        format!("error: {}", dora::tiers::UNAVAILABLE_2024)
    );
}

#[test]
fn report_without_table_name_fails_naming_the_variable() {
    let out = tollgate(
        &["dora", "report", "--days", "7"],
        &[("AWS_REGION", "us-east-1")],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("error: ") && stderr.contains("TABLE_NAME"),
        "{stderr}"
    );
}

#[test]
fn report_without_a_region_says_how_to_set_one() {
    let out = tollgate(&["dora", "report"], &[("TABLE_NAME", "tollgate-state")]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("AWS_REGION"), "{stderr}");
}

fn missing_table_env() -> Vec<(&'static str, &'static str)> {
    vec![
        ("TABLE_NAME", "no-such-table-anywhere"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_ENDPOINT_URL", moto_endpoint()),
        ("TOLLGATE_MAX_ATTEMPTS", "1"),
    ]
}

#[test]
fn a_wrong_table_name_in_report_names_the_table_and_the_variable_with_status_one() {
    let out = tollgate(&["dora", "report"], &missing_table_env());
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("\"no-such-table-anywhere\"")
            && stderr.contains("TABLE_NAME")
            && stderr.contains("does not exist in us-east-1"),
        "{stderr}"
    );
}

#[test]
fn a_backfill_into_a_wrong_table_exits_non_zero_before_replaying_anything() {
    let out = tollgate(&["dora", "backfill", "--days", "1"], &missing_table_env());
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no-such-table-anywhere") && stderr.contains("TABLE_NAME"),
        "{stderr}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).is_empty(), "{out:?}");
}

#[test]
fn a_connection_failure_reads_as_one_sentence_not_a_debug_dump() {
    for command in [
        &["dora", "report"][..],
        &["dora", "backfill", "--days", "1"][..],
    ] {
        let out = tollgate(
            command,
            &[
                ("TABLE_NAME", "tollgate-state"),
                ("AWS_REGION", "us-east-1"),
                ("AWS_ACCESS_KEY_ID", "testing"),
                ("AWS_SECRET_ACCESS_KEY", "testing"),
                ("AWS_ENDPOINT_URL", "http://127.0.0.1:9"),
                ("TOLLGATE_MAX_ATTEMPTS", "1"),
            ],
        );
        assert_eq!(out.status.code(), Some(1));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("Connection refused"), "{stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
        for dump in ["DispatchFailure {", "ConnectorError {", "Os {"] {
            assert!(!stderr.contains(dump), "{dump} in {stderr}");
        }
    }
}

#[test]
fn bad_days_are_a_usage_error_not_a_run() {
    let out = tollgate(&["dora", "report", "--days", "0"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--days"));
}

#[test]
fn help_explains_the_commands_for_a_platform_engineer() {
    let out = tollgate(&["dora", "--help"], &[]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(
        help.contains("backfill") && help.contains("report"),
        "{help}"
    );
    assert!(help.contains("TABLE_NAME"), "{help}");
}
