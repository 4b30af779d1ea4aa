//! The health gate's logs, at TRACE, never hold the job's artifact credentials. Its own test
//! binary: the capturing subscriber is the process's global default, so no other test's thread
//! can make tracing cache a callsite as uninteresting before it is installed.

use std::io::Write;
use std::sync::{Arc, Mutex};

use tollgate_tests::health::{Gate, answers, issue, sample};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn logs_never_contain_the_jobs_artifact_credentials() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::set_global_default(subscriber)
        .expect("the only subscriber in this process");

    let gate = Gate::new(vec![answers(vec![issue(1, "LAMBDA", "us-east-1")])]).await;
    gate.invoke(sample("health-gate.healthy.json")).await;

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("pipeline job received"),
        "the event was logged: {logs}"
    );
    assert!(logs.contains("job failed"), "{logs}");
    for secret in [
        "AKIAIOSFODNN7EXAMPLE",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "FwoGZXIvYXdzEXAMPLESESSIONTOKEN",
    ] {
        assert!(!logs.contains(secret), "{secret} leaked into the logs");
    }
}
