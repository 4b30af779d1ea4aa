//! Structured logging set-up and redaction of secrets before anything is logged.

use lambda_runtime::tracing::subscriber::EnvFilter;
use lambda_runtime::tracing::subscriber::filter::LevelFilter;
use serde_json::Value;

/// What replaces a secret value in logs.
pub const REDACTED: &str = "[REDACTED]";

/// The crates whose own log lines are kept at TRACE and DEBUG: Tollgate's. Every dependency is
/// held at DEBUG at most, because at TRACE the Lambda runtime logs each raw event (with the job's
/// `artifactCredentials` or a task token), the AWS SDK each request and response body, and the
/// request signer the signed headers.
pub const OWN_CRATES: &[&str] = &[
    "tollgate",
    "health_gate",
    "drift",
    "job_dead_letter",
    "approvals",
    "branch_pipelines",
    "dora",
];

/// The log level Lambda asks for (`AWS_LAMBDA_LOG_LEVEL`, else a plain level in `RUST_LOG`,
/// else INFO), as the runtime reads it.
pub fn requested_level(aws_lambda_log_level: Option<&str>, rust_log: Option<&str>) -> LevelFilter {
    aws_lambda_log_level
        .or(rust_log)
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or(LevelFilter::INFO)
}

/// The filter for a requested level: that level for [`OWN_CRATES`], at most DEBUG for the rest.
/// `RUST_LOG` directives are not read, so no setting can turn a dependency's TRACE output on.
pub fn log_filter(level: LevelFilter) -> EnvFilter {
    let dependencies = level.min(LevelFilter::DEBUG);
    let directives: Vec<String> = std::iter::once(dependencies.to_string())
        .chain(OWN_CRATES.iter().map(|c| format!("{c}={level}")))
        .collect();
    EnvFilter::builder().parse_lossy(directives.join(","))
}

/// Starts the tracing subscriber: JSON when Lambda's `AWS_LAMBDA_LOG_FORMAT=JSON`, the level
/// Lambda asks for (see [`log_filter`] for what dependencies may log). Call it first in `main`.
///
/// It also clears `AWS_LAMBDA_MAX_CONCURRENCY` when it is `1`: Tollgate's functions handle one
/// event at a time anyway, and the runtime would otherwise warn about it on every start.
pub fn init() {
    if std::env::var("AWS_LAMBDA_MAX_CONCURRENCY").is_ok_and(|v| v.trim() == "1") {
        // SAFETY: called at the top of `main`, before the runtime or any other thread that
        // could read the environment has started.
        unsafe { std::env::remove_var("AWS_LAMBDA_MAX_CONCURRENCY") };
    }
    let level = requested_level(
        std::env::var("AWS_LAMBDA_LOG_LEVEL").ok().as_deref(),
        std::env::var("RUST_LOG").ok().as_deref(),
    );
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    if json {
        use lambda_runtime::tracing::subscriber::util::SubscriberInitExt;
        json_subscriber(level, std::io::stdout).init();
    } else {
        lambda_runtime::tracing::subscriber::fmt()
            .with_target(false)
            .without_time()
            .with_env_filter(log_filter(level))
            .init();
    }
}

/// The JSON log format [`init`] sets up under `AWS_LAMBDA_LOG_FORMAT=JSON`, writing to `writer`:
/// one object a line, the event's text under `fields.message`.
pub fn json_subscriber<W>(
    level: LevelFilter,
    writer: W,
) -> impl tracing::Subscriber + Send + Sync + 'static
where
    W: for<'w> lambda_runtime::tracing::subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    lambda_runtime::tracing::subscriber::fmt()
        .with_target(false)
        .without_time()
        .with_env_filter(log_filter(level))
        .with_writer(writer)
        .json()
        .finish()
}

/// The CloudWatch namespace of Tollgate's own operational metrics.
pub const METRIC_NAMESPACE: &str = "Tollgate";

/// One CloudWatch Embedded Metric Format line: a `Count` metric in [`METRIC_NAMESPACE`] with the
/// dimension `FunctionName`. Lambda turns the line into a metric datapoint, with no API call.
pub fn metric_line(name: &str, value: u64, function_name: &str, timestamp_ms: u64) -> String {
    serde_json::json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": METRIC_NAMESPACE,
                "Dimensions": [["FunctionName"]],
                "Metrics": [{"Name": name, "Unit": "Count"}],
            }],
        },
        "FunctionName": function_name,
        name: value,
    })
    .to_string()
}

/// Emits a `Count` metric (see [`metric_line`]) for this function (`AWS_LAMBDA_FUNCTION_NAME`)
/// on standard output, where Lambda's log capture extracts it.
pub fn emit_count(name: &str, value: u64) {
    let function = std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| "local".into());
    println!("{}", metric_line(name, value, &function, crate::now_ms()));
}

/// Keys whose values are never logged: a key is secret when, lower-cased and stripped of `_`
/// and `-`, it contains one of these.
const SECRET_KEY_PARTS: &[&str] = &[
    "credential",
    "secret",
    "token",
    "password",
    "accesskeyid",
    "authorization",
    "signature",
];

fn is_secret_key(key: &str) -> bool {
    let normalised: String = key
        .chars()
        .filter(|c| *c != '_' && *c != '-')
        .flat_map(char::to_lowercase)
        .collect();
    SECRET_KEY_PARTS
        .iter()
        .any(|part| normalised.contains(part))
}

/// A copy of `value` with every secret-looking field (artifact credentials, task tokens,
/// passwords, tokens, signatures) replaced by [`REDACTED`], at any depth.
pub fn redacted(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let v = if is_secret_key(k) {
                        Value::String(REDACTED.to_string())
                    } else {
                        redacted(v)
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(redacted).collect()),
        other => other.clone(),
    }
}

/// An event for a log line: [`redacted`], as one line of JSON cut to
/// [`crate::limits::LOG_VALUE_MAX_BYTES`], so no payload can flood the logs.
pub fn redacted_for_log(value: &Value) -> String {
    crate::limits::for_log(&redacted(value).to_string()).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn requested_level_prefers_lambdas_setting_and_defaults_to_info() {
        assert_eq!(
            requested_level(Some("TRACE"), Some("error")),
            LevelFilter::TRACE
        );
        assert_eq!(requested_level(None, Some("debug")), LevelFilter::DEBUG);
        assert_eq!(
            requested_level(None, Some("info,lambda_runtime=trace")),
            LevelFilter::INFO
        );
        assert_eq!(requested_level(Some("nonsense"), None), LevelFilter::INFO);
        assert_eq!(requested_level(None, None), LevelFilter::INFO);
    }

    /// Log lines written through [`log_filter`] at `level`.
    fn logged_at(level: LevelFilter) -> String {
        use std::sync::{Arc, Mutex};
        let out = Arc::new(Mutex::new(Vec::<u8>::new()));
        let sink = out.clone();
        let subscriber = lambda_runtime::tracing::subscriber::fmt()
            .with_env_filter(log_filter(level))
            .with_writer(move || Sink(sink.clone()))
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::trace!(target: "lambda_runtime::layers::api_response", body = "artifactCredentials AKIA", "raw JSON event received from Lambda");
            tracing::trace!(target: "aws_smithy_runtime::client::orchestrator", "transmitting request taskToken");
            tracing::trace!(target: "aws_sigv4::http_request::sign", "calculated signing parameters");
            tracing::debug!(target: "aws_smithy_runtime::client::orchestrator", "beginning attempt #1");
            tracing::trace!(target: "tollgate::pipeline_job", "own trace line");
            tracing::trace!(target: "health_gate", "gate trace line");
        });
        let bytes = out.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    struct Sink(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
    impl std::io::Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// Every key of every object in a JSON text, in order, duplicates kept (serde_json's own
    /// `Value` keeps only the last of duplicate keys).
    fn objects_keys(line: &str) -> Vec<Vec<String>> {
        use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
        struct Keys<'a>(&'a std::cell::RefCell<Vec<Vec<String>>>);
        impl<'de> Visitor<'de> for Keys<'_> {
            type Value = ();
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("JSON")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
                let mut keys = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    keys.push(key);
                    map.next_value_seed(Seed(self.0))?;
                }
                self.0.borrow_mut().push(keys);
                Ok(())
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
                while seq.next_element_seed(Seed(self.0))?.is_some() {}
                Ok(())
            }
            fn visit_str<E>(self, _: &str) -> Result<(), E> {
                Ok(())
            }
            fn visit_bool<E>(self, _: bool) -> Result<(), E> {
                Ok(())
            }
            fn visit_i64<E>(self, _: i64) -> Result<(), E> {
                Ok(())
            }
            fn visit_u64<E>(self, _: u64) -> Result<(), E> {
                Ok(())
            }
            fn visit_f64<E>(self, _: f64) -> Result<(), E> {
                Ok(())
            }
            fn visit_unit<E>(self) -> Result<(), E> {
                Ok(())
            }
        }
        struct Seed<'a>(&'a std::cell::RefCell<Vec<Vec<String>>>);
        impl<'de> serde::de::DeserializeSeed<'de> for Seed<'_> {
            type Value = ();
            fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
                d.deserialize_any(Keys(self.0))
            }
        }
        let found = std::cell::RefCell::new(Vec::new());
        let mut de = serde_json::Deserializer::from_str(line);
        de.deserialize_any(Keys(&found)).unwrap();
        let _ = IgnoredAny;
        found.into_inner()
    }

    /// The JSON lines [`json_subscriber`] writes while `work` runs.
    fn json_lines(work: impl FnOnce()) -> Vec<String> {
        use std::sync::{Arc, Mutex};
        let out = Arc::new(Mutex::new(Vec::<u8>::new()));
        let sink = out.clone();
        let subscriber = json_subscriber(LevelFilter::INFO, move || Sink(sink.clone()));
        tracing::subscriber::with_default(subscriber, work);
        let bytes = out.lock().unwrap().clone();
        String::from_utf8(bytes)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    }

    struct NoReporter;
    impl crate::pipeline_job::JobReporter for NoReporter {
        async fn report(
            &self,
            _job_id: &str,
            _outcome: &crate::pipeline_job::JobOutcome,
        ) -> Result<(), crate::pipeline_job::ReportError> {
            Ok(())
        }
    }

    #[test]
    fn a_failed_job_logs_one_json_message_key_holding_the_event_text() {
        let lines = json_lines(|| {
            let event = crate::testing::job_event("11111111-2222-3333-4444-555555555555", None);
            let runtime = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            runtime
                .block_on(crate::pipeline_job::run_job(
                    &NoReporter,
                    &event,
                    None,
                    |_| async {
                        Ok::<_, std::convert::Infallible>(crate::pipeline_job::JobOutcome::failed(
                            "stack web-prod drifted",
                        ))
                    },
                ))
                .unwrap();
        });
        let line = lines
            .iter()
            .find(|l| l.contains("job failed"))
            .unwrap_or_else(|| panic!("no job-failed line in {lines:?}"));
        for keys in objects_keys(line) {
            let mut unique = keys.clone();
            unique.sort();
            unique.dedup();
            assert_eq!(
                unique.len(),
                keys.len(),
                "duplicate keys {keys:?} in {line}"
            );
        }
        let value: Value = serde_json::from_str(line).unwrap();
        assert_eq!(value["fields"]["message"], "job failed", "{line}");
        assert_eq!(
            value["fields"]["reason"], "stack web-prod drifted",
            "{line}"
        );
    }

    #[test]
    fn the_key_reader_sees_duplicate_keys() {
        assert_eq!(
            objects_keys(r#"{"fields":{"message":"a","message":"b"}}"#),
            vec![
                vec!["message".to_string(), "message".to_string()],
                vec!["fields".to_string()]
            ]
        );
    }

    #[test]
    fn at_trace_dependencies_are_held_at_debug_and_tollgate_crates_get_trace() {
        let logs = logged_at(LevelFilter::TRACE);
        for leak in ["raw JSON event", "AKIA", "taskToken", "signing parameters"] {
            assert!(!logs.contains(leak), "{leak} reached the logs: {logs}");
        }
        for kept in ["beginning attempt", "own trace line", "gate trace line"] {
            assert!(logs.contains(kept), "{kept} missing: {logs}");
        }
    }

    #[test]
    fn at_info_neither_trace_nor_debug_lines_are_written() {
        let logs = logged_at(LevelFilter::INFO);
        assert!(logs.is_empty(), "{logs}");
    }

    #[test]
    fn metric_line_is_embedded_metric_format_with_the_function_dimension() {
        let line: Value = serde_json::from_str(&metric_line(
            "JobsFailed",
            3,
            "tollgate-drift-callback",
            1_795_000_000_000,
        ))
        .unwrap();
        assert_eq!(line["JobsFailed"], 3);
        assert_eq!(line["FunctionName"], "tollgate-drift-callback");
        let spec = &line["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(spec["Namespace"], METRIC_NAMESPACE);
        assert_eq!(spec["Dimensions"], json!([["FunctionName"]]));
        assert_eq!(
            spec["Metrics"][0],
            json!({"Name": "JobsFailed", "Unit": "Count"})
        );
        assert_eq!(line["_aws"]["Timestamp"], 1_795_000_000_000u64);
    }

    #[test]
    fn an_event_logged_is_redacted_and_cut_to_the_log_bound() {
        let event = json!({"name": "x".repeat(2_000_000), "taskToken": "AAAA"});
        let line = redacted_for_log(&event);
        assert!(
            line.len() <= crate::limits::LOG_VALUE_MAX_BYTES,
            "{}",
            line.len()
        );
        assert!(!line.contains("AAAA"));
        assert_eq!(redacted_for_log(&json!({"a": 1})), r#"{"a":1}"#);
    }

    #[test]
    fn artifact_credentials_and_task_tokens_are_redacted_at_any_depth() {
        let event = json!({
            "CodePipeline.job": {
                "id": "job-1",
                "data": {
                    "artifactCredentials": {
                        "accessKeyId": "AKIAEXAMPLE",
                        "secretAccessKey": "wJalrXUtnFEMI",
                        "sessionToken": "FwoGZXIvYXdzEXAMPLE"
                    },
                    "continuationToken": "opaque"
                }
            },
            "steps": [{"TaskToken": "AAAAKgAAAAIAAAAA"}, {"region": "eu-west-1", "client-secret": "hunter2"}]
        });
        let text = redacted(&event).to_string();
        for secret in [
            "AKIAEXAMPLE",
            "wJalrXUtnFEMI",
            "FwoGZXIvYXdzEXAMPLE",
            "AAAAKgAAAAIAAAAA",
            "opaque",
            "hunter2",
        ] {
            assert!(!text.contains(secret), "{secret} leaked in {text}");
        }
        assert!(
            text.contains("job-1") && text.contains("eu-west-1"),
            "non-secret fields stay: {text}"
        );
        assert!(text.contains(REDACTED));
    }
}
