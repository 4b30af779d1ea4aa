//! How the DORA calculators report a broken configuration at start-up.

use tollgate::testing::run_until_init_error;

#[test]
fn lead_time_without_its_table_posts_an_init_error_instead_of_a_debug_dump() {
    let run = run_until_init_error(
        env!("CARGO_BIN_EXE_dora-lead-time"),
        &[
            ("AWS_REGION", "eu-west-1"),
            (
                "GITHUB_TOKEN_SECRET_ARN",
                "arn:aws:secretsmanager:eu-west-1:111111111111:secret:token",
            ),
        ],
    );
    assert_eq!(run.exit_code, Some(1), "{run:?}");
    assert_eq!(
        run.error_type_header.as_deref(),
        Some("Tollgate.ConfigurationError"),
        "{run:?}"
    );
    let body = run.body.as_ref().expect("an init error body");
    let message = body["errorMessage"].as_str().unwrap_or_default();
    assert!(
        message.contains("TABLE_NAME") && message.contains("StateTable"),
        "{message}"
    );
    assert!(!run.stderr.contains("Error: "), "{}", run.stderr);
    assert!(!run.stderr.contains("Invalid {"), "{}", run.stderr);
}

#[test]
fn a_calculator_with_a_bad_setting_names_the_stack_parameter_in_its_init_error() {
    let run = run_until_init_error(
        env!("CARGO_BIN_EXE_dora-deployment-frequency"),
        &[
            ("AWS_REGION", "eu-west-1"),
            ("TABLE_NAME", "tollgate-state"),
            ("PROD_PIPELINES", "prod-["),
        ],
    );
    assert_eq!(run.exit_code, Some(1), "{run:?}");
    let body = run.body.as_ref().expect("an init error body");
    assert_eq!(body["errorType"], "Tollgate.ConfigurationError");
    let message = body["errorMessage"].as_str().unwrap_or_default();
    assert!(message.contains("DoraProdPipelines"), "{message}");
}

#[test]
fn lead_time_starts_without_reading_its_token_secret_and_names_a_bad_event_stably() {
    // Nothing answers at the AWS endpoint: a start-up that read the secret would fail.
    let answer = tollgate::testing::invoke_once(
        env!("CARGO_BIN_EXE_dora-lead-time"),
        &[
            ("AWS_REGION", "eu-west-1"),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:9"),
            ("TOLLGATE_MAX_ATTEMPTS", "1"),
            ("TABLE_NAME", "tollgate-state"),
            (
                "GITHUB_TOKEN_SECRET_ARN",
                "arn:aws:secretsmanager:eu-west-1:111111111111:secret:token",
            ),
        ],
        // A CodePipeline event without its detail: no retry can fix it.
        &serde_json::json!({
            "source": "aws.codepipeline",
            "detail-type": "CodePipeline Pipeline Execution State Change",
            "detail": {}
        }),
    )
    .expect("the function started and answered the invocation");
    assert_eq!(answer.outcome, "error", "{answer:?}");
    assert_eq!(
        answer.body["errorType"], "Tollgate.InvalidEvent",
        "{answer:?}"
    );
}
