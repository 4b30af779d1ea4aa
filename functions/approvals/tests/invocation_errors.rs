//! What the approval binaries answer the Lambda Runtime API when an invocation fails.

use serde_json::json;
use tollgate::testing::invoke_once;

#[test]
fn approval_api_answers_a_payload_that_is_no_http_request_with_tollgate_invalid_event() {
    let answer = invoke_once(
        env!("CARGO_BIN_EXE_approval-api"),
        &[
            ("AWS_REGION", "eu-west-1"),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("TABLE_NAME", "tollgate-state"),
            (
                "APPROVAL_SIGNING_SECRET",
                "arn:aws:secretsmanager:eu-west-1:111111111111:secret:signing",
            ),
        ],
        &json!({}),
    )
    .expect("the function answered the invocation");
    assert_eq!(answer.outcome, "error", "{answer:?}");
    assert_eq!(
        answer.body["errorType"], "Tollgate.InvalidEvent",
        "{answer:?}"
    );
}

#[test]
fn a_misconfigured_mailer_fails_each_invocation_with_the_parameter_to_set() {
    let answer = invoke_once(
        env!("CARGO_BIN_EXE_approval-mailer"),
        &[
            ("AWS_REGION", "eu-west-1"),
            ("TABLE_NAME", "tollgate-state"),
            ("APPROVAL_BASE_URL", "https://approvals.example.com"),
            (
                "APPROVAL_SIGNING_SECRET",
                "arn:aws:secretsmanager:eu-west-1:111111111111:secret:signing",
            ),
        ],
        &json!({}),
    )
    .expect("the function answered the invocation");
    assert_eq!(answer.outcome, "error", "{answer:?}");
    assert_eq!(
        answer.body["errorType"], "Tollgate.ConfigurationError",
        "{answer:?}"
    );
    let message = answer.body["errorMessage"].as_str().unwrap_or_default();
    assert!(
        message.contains("APPROVAL_SENDER") && message.contains("ApprovalSender"),
        "{message}"
    );
    assert!(!message.contains("declare it"), "{message}");
}
