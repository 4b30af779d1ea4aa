//! Test support: the local AWS sandbox on 127.0.0.1 (moto behind a front that also answers what
//! moto lacks) that starts itself, SDK config pointed at it, and mocked clients.

pub mod health;
pub mod mocks;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::Credentials;

/// The workspace root (this crate lives in `tests/`).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default()
}

/// The sandbox endpoint for this test process: moto behind the sandbox's front, which also answers
/// AWS Health, CodePipeline job results and CloudFormation drift detection, and translates
/// CloudWatch's CBOR protocol for moto. `TOLLGATE_SANDBOX_URL` when the test script started one
/// (`TOLLGATE_MOTO_URL`, its former name, is still read), otherwise one this process starts with
/// `scripts/sandbox.py serve` on a free 127.0.0.1 port, which stops when this process exits.
pub fn moto_endpoint() -> &'static str {
    static ENDPOINT: OnceLock<String> = OnceLock::new();
    ENDPOINT.get_or_init(|| {
        ["TOLLGATE_SANDBOX_URL", "TOLLGATE_MOTO_URL"]
            .iter()
            .filter_map(|name| std::env::var(name).ok())
            .find(|url| !url.is_empty())
            .unwrap_or_else(start_sandbox)
    })
}

/// The sandbox venv's Python (`scripts/tools.sh` makes it), or `TOLLGATE_SANDBOX_PYTHON`.
fn sandbox_python() -> PathBuf {
    match std::env::var_os("TOLLGATE_SANDBOX_PYTHON") {
        Some(path) => PathBuf::from(path),
        None => workspace_root().join(".tools/sandbox/bin/python"),
    }
}

// The sandbox outlives this function on purpose: it watches this process and stops when it ends.
#[allow(clippy::zombie_processes)]
fn start_sandbox() -> String {
    let python = sandbox_python();
    assert!(
        python.exists(),
        "the sandbox's Python is not at {}: run scripts/tools.sh (the README's test command does it for you)",
        python.display()
    );
    let mut child = Command::new(&python)
        .arg(workspace_root().join("scripts/sandbox.py"))
        .args(["serve", "--parent-pid"])
        .arg(std::process::id().to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the sandbox (scripts/sandbox.py serve)");
    // Its first line on stdout is its URL; it writes nothing else there.
    let stdout = child.stdout.take().expect("the sandbox's stdout");
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = sender.send(line);
    });
    let line = receiver
        .recv_timeout(Duration::from_secs(60))
        .unwrap_or_default();
    let url = line.trim().to_string();
    assert!(
        url.starts_with("http://127.0.0.1:"),
        "the sandbox did not start within 60s (scripts/sandbox.py serve printed {line:?}; its errors, if any, are above)"
    );
    url
}

/// SDK configuration for moto: its endpoint, dummy credentials, us-east-1, and one attempt per
/// call (moto answers what it does not implement with a 500, which is not worth retrying).
pub async fn moto_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(moto_endpoint())
        .region(Region::from_static("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "moto"))
        .retry_config(RetryConfig::standard().with_max_attempts(1))
        .load()
        .await
}

/// A name no other test in this run uses (tests share one moto server).
pub fn unique(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}-{}-{}-{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Creates a state table shaped as `template.yaml` declares it (pk/sk strings, TTL on
/// `expires_at`) and returns its name.
pub async fn create_state_table(client: &aws_sdk_dynamodb::Client) -> String {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
        TimeToLiveSpecification,
    };
    let name = unique("tollgate-state");
    let key = |attr: &str, kind| {
        KeySchemaElement::builder()
            .attribute_name(attr)
            .key_type(kind)
            .build()
            .expect("key schema")
    };
    let attr = |attr: &str| {
        AttributeDefinition::builder()
            .attribute_name(attr)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .expect("attribute definition")
    };
    client
        .create_table()
        .table_name(&name)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range))
        .attribute_definitions(attr("pk"))
        .attribute_definitions(attr("sk"))
        .send()
        .await
        .expect("create state table in moto");
    client
        .update_time_to_live()
        .table_name(&name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name(tollgate::state::TTL_ATTRIBUTE)
                .enabled(true)
                .build()
                .expect("ttl spec"),
        )
        .send()
        .await
        .expect("enable TTL in moto");
    name
}

/// Creates (or updates) a metric alarm in moto and, when `state` is given, sets its state and reason.
pub async fn put_alarm(
    client: &aws_sdk_cloudwatch::Client,
    name: &str,
    state: Option<(&str, aws_sdk_cloudwatch::types::StateValue)>,
) {
    use aws_sdk_cloudwatch::types::{ComparisonOperator, Statistic};
    client
        .put_metric_alarm()
        .alarm_name(name)
        .namespace("Tollgate/Test")
        .metric_name("Errors")
        .statistic(Statistic::Sum)
        .period(60)
        .evaluation_periods(1)
        .threshold(5.0)
        .comparison_operator(ComparisonOperator::GreaterThanThreshold)
        .send()
        .await
        .expect("put alarm in moto");
    if let Some((reason, value)) = state {
        client
            .set_alarm_state()
            .alarm_name(name)
            .state_value(value)
            .state_reason(reason)
            .send()
            .await
            .expect("set alarm state in moto");
    }
}
