//! The task token never reaches a log line, at any log level: the whole flow (mailer, page,
//! decisions, failures, CodePipeline) runs under the filter the binaries use
//! (`tollgate::telemetry::log_filter`), with every line captured as Lambda would keep it (JSON).

mod support;

use std::sync::{Arc, Mutex};

use approvals::api::respond;
use approvals::mailer::handle;
use approvals::store::now_secs;
use lambda_runtime::tracing::subscriber::filter::LevelFilter;
use support::*;
use tollgate::telemetry::log_filter;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Everything the functions log while the flow runs at `level`, and the tokens they handled.
async fn flow_logs(level: LevelFilter) -> (String, Vec<String>) {
    let out = Captured::default();
    let writer = out.clone();
    let subscriber = lambda_runtime::tracing::subscriber::fmt()
        .json()
        .with_env_filter(log_filter(level))
        .with_writer(move || writer.clone())
        .finish();
    let guard = tracing::subscriber::set_default(subscriber);
    let mut tokens = Vec::new();

    // Step Functions on moto: ask, open, tamper, approve, click again.
    let world = World::new().await;
    let people = approvers(1);
    let (execution, input) = world.start(release_input(&people, 1)).await;
    tokens.push(input["taskToken"].as_str().unwrap().to_string());
    handle(&world.mailer_deps(SENDER), &input, now_secs())
        .await
        .unwrap();
    let link = approval_link(&people[0]);
    let deps = world.api_deps();
    let page = respond(&deps, &get(&link), now_secs()).await;
    respond(&deps, &get(&link.replace("sig=", "sig=x")), now_secs()).await;
    let fields = form_fields(&page.html, "approve");
    respond(&deps, &post(&link, &fields, "fine"), now_secs()).await;
    respond(&deps, &post(&link, &fields, "fine"), now_secs()).await;
    world.finished(&execution).await;

    // A 2,048-character token: an unusable input, an unverified sender, a throttled resume.
    let aws = MockedAws::failing_first(Some((400, "ThrottlingException", "Rate exceeded")), 3);
    let (token, mut bad) = task_input(&approvers(1), 1);
    tokens.push(token);
    bad["approvers"] = serde_json::json!("nobody");
    let _ = handle(&world.mocked_mailer_deps(&aws, &[]), &bad, now_secs()).await;
    let (token, input) = task_input(&approvers(1), 1);
    tokens.push(token);
    let mut unverified = world.mocked_mailer_deps(&aws, &[]);
    unverified.mailer = approvals::adapters::SesMailer::new(
        aws_sdk_ses::Client::new(&world.sdk),
        "x@unverified.example.org",
    );
    let _ = handle(&unverified, &input, now_secs()).await;
    let people = approvers(1);
    let (token, input) = task_input(&people, 1);
    tokens.push(token);
    handle(&world.mocked_mailer_deps(&aws, &[]), &input, now_secs())
        .await
        .unwrap();
    let link = approval_link(&people[0]);
    let deps = world.mocked_api_deps(&aws);
    let page = respond(&deps, &get(&link), now_secs()).await;
    respond(
        &deps,
        &post(&link, &form_fields(&page.html, "reject"), "no"),
        now_secs(),
    )
    .await;

    // CodePipeline through SNS.
    let people = approvers(1);
    let token = format!("{}-CODEPIPELINE-TOKEN", tollgate_tests::unique("cp"));
    tokens.push(token.clone());
    let aws = MockedAws::accepting();
    handle(
        &world.mocked_mailer_deps(&aws, &people),
        &codepipeline_sns_event(&token, "ship it"),
        now_secs(),
    )
    .await
    .unwrap();
    let link = approval_link(&people[0]);
    let deps = world.mocked_api_deps(&aws);
    let page = respond(&deps, &get(&link), now_secs()).await;
    respond(
        &deps,
        &post(&link, &form_fields(&page.html, "approve"), ""),
        now_secs(),
    )
    .await;

    drop(guard);
    let bytes = out.0.lock().unwrap().clone();
    (String::from_utf8_lossy(&bytes).to_string(), tokens)
}

#[tokio::test]
async fn the_task_token_is_in_no_log_line_at_any_level() {
    for level in [
        LevelFilter::TRACE,
        LevelFilter::DEBUG,
        LevelFilter::INFO,
        LevelFilter::WARN,
        LevelFilter::ERROR,
    ] {
        let (logs, tokens) = flow_logs(level).await;
        for token in &tokens {
            // The whole token, and any 24-character piece of it.
            let pieces: Vec<&str> = (0..token.len().saturating_sub(24))
                .step_by(24)
                .map(|i| &token[i..i + 24])
                .collect();
            let leaked: Vec<&str> = logs
                .lines()
                .filter(|line| line.contains(token.as_str()))
                .collect();
            assert!(
                leaked.is_empty(),
                "a token reached the logs at {level}: {leaked:?}"
            );
            for piece in pieces {
                assert!(
                    !logs.contains(piece),
                    "part of a token ({piece}) reached the logs at {level}"
                );
            }
        }
        // The capture works: the flow's own lines are there at the levels that keep them.
        if level >= LevelFilter::INFO {
            assert!(logs.contains("approval emails sent"), "at {level}: {logs}");
        }
        if level >= LevelFilter::ERROR {
            assert!(logs.contains("approval not sent"), "at {level}");
        }
        if level == LevelFilter::TRACE {
            assert!(
                logs.contains("approval request received"),
                "debug event lines are kept at TRACE"
            );
        }
    }
}
