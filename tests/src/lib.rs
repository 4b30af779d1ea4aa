//! Test support: a moto server on 127.0.0.1 that starts itself, SDK config pointed at it, and
//! mocked clients for the APIs moto lacks.

pub mod mocks;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

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

/// The moto endpoint for this test process: `TOLLGATE_MOTO_URL` when the test script started
/// one, otherwise a moto server this process starts on a free 127.0.0.1 port. A watchdog shell
/// stops that server as soon as the test process exits.
pub fn moto_endpoint() -> &'static str {
    static ENDPOINT: OnceLock<String> = OnceLock::new();
    ENDPOINT.get_or_init(|| match std::env::var("TOLLGATE_MOTO_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => start_moto(),
    })
}

fn moto_binary() -> PathBuf {
    match std::env::var_os("TOLLGATE_MOTO_SERVER") {
        Some(path) => PathBuf::from(path),
        None => workspace_root().join(".tools/sandbox/bin/moto_server"),
    }
}

// The watchdog outlives this function on purpose: it ends (and stops moto) when the test process does.
#[allow(clippy::zombie_processes)]
fn start_moto() -> String {
    let binary = moto_binary();
    assert!(
        binary.exists(),
        "moto server not found at {}: run scripts/tools.sh (the README's test command does it for you)",
        binary.display()
    );
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on 127.0.0.1");
    let log = std::env::temp_dir().join(format!("tollgate-moto-{port}.log"));
    // The watchdog polls this process and stops moto when it is gone, so no server outlives the tests.
    let script = r#"parent=$1; "$2" -H 127.0.0.1 -p "$3" >"$4" 2>&1 & moto=$!
while kill -0 "$parent" 2>/dev/null && kill -0 "$moto" 2>/dev/null; do sleep 0.2; done
kill "$moto" 2>/dev/null; wait "$moto" 2>/dev/null"#;
    Command::new("sh")
        .args(["-c", script, "tollgate-moto-watchdog"])
        .arg(std::process::id().to_string())
        .arg(&binary)
        .arg(port.to_string())
        .arg(&log)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start moto server");
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let started = Instant::now();
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "moto did not start on {addr} within 60s; see {}",
            log.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    format!("http://{addr}")
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
