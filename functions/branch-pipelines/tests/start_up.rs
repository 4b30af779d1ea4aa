//! How branch-pipelines reports a broken configuration and an event it does not know.

use lambda_runtime::Diagnostic;
use tollgate::testing::run_until_init_error;

#[test]
fn a_missing_setting_is_an_init_error_naming_the_stack_parameter_not_a_debug_dump() {
    let run = run_until_init_error(
        env!("CARGO_BIN_EXE_branch-pipelines"),
        &[
            ("AWS_REGION", "eu-west-1"),
            ("TABLE_NAME", "tollgate-state"),
        ],
    );
    assert_eq!(run.exit_code, Some(1), "{run:?}");
    assert_eq!(
        run.error_type_header.as_deref(),
        Some("Tollgate.ConfigurationError"),
        "{run:?}"
    );
    let body = run.body.as_ref().expect("an init error body");
    assert_eq!(body["errorType"], "Tollgate.ConfigurationError");
    let message = body["errorMessage"].as_str().unwrap_or_default();
    assert!(
        message.contains("STACK_PREFIX") && message.contains("BranchStackPrefix"),
        "{message}"
    );
    assert!(!run.stderr.contains("Error: "), "{}", run.stderr);
    assert!(!run.stderr.contains("Missing {"), "{}", run.stderr);
}

#[test]
fn an_empty_event_is_a_stable_invalid_event_error() {
    let err = branch_pipelines::events::classify(&serde_json::json!({})).unwrap_err();
    let diagnostic = Diagnostic::from(branch_pipelines::handler::HandlerError::Event(err));
    assert_eq!(diagnostic.error_type, "Tollgate.InvalidEvent");
}

#[test]
fn the_binary_answers_an_empty_event_with_a_stable_error_type_not_a_rust_type() {
    let answer = tollgate::testing::invoke_once(
        env!("CARGO_BIN_EXE_branch-pipelines"),
        &[
            ("AWS_REGION", "eu-west-1"),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("TABLE_NAME", "tollgate-state"),
            ("STACK_PREFIX", "tg-branch"),
            ("ACCOUNT_ID", "111111111111"),
            (
                "GITHUB_WEBHOOK_SECRET_ARN",
                "arn:aws:secretsmanager:eu-west-1:111111111111:secret:hook",
            ),
            // Read on the first GitHub call, never at start-up: an unreadable one stops nothing.
            (
                "GITHUB_TOKEN_SECRET_ARN",
                "arn:aws:secretsmanager:eu-west-1:111111111111:secret:no-such-token",
            ),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:9"),
        ],
        &serde_json::json!({}),
    )
    .expect("the function answered the invocation");
    assert_eq!(answer.outcome, "error", "{answer:?}");
    assert_eq!(
        answer.body["errorType"], "Tollgate.InvalidEvent",
        "{answer:?}"
    );
    assert!(
        !answer.body["errorType"]
            .as_str()
            .unwrap_or_default()
            .contains("::"),
        "{answer:?}"
    );
}
