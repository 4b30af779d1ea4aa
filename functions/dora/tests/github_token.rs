//! The GitHub token secret against the sandbox's Secrets Manager (moto): a secret with no value
//! yet means "GitHub not set up" (lead time falls back to the trigger commit); a secret that does
//! not exist is a configuration error that names the variable.

use tollgate_tests::{moto_config, unique};

async fn secret(value: Option<&str>) -> String {
    let client = aws_sdk_secretsmanager::Client::new(&moto_config().await);
    let out = client
        .create_secret()
        .name(unique("dora-token"))
        .set_secret_string(value.map(str::to_string))
        .send()
        .await
        .expect("create secret");
    out.arn().expect("arn").to_string()
}

async fn github_with(arn: &str) -> Result<bool, String> {
    let sdk = moto_config().await;
    let env = [
        ("GITHUB_TOKEN_SECRET_ARN", arn),
        ("GITHUB_API_URL", "http://127.0.0.1:9"),
    ];
    dora::deps::github(&env, &sdk)
        .await
        .map(|client| client.is_some())
        .map_err(|e| e.to_string())
}

#[tokio::test]
async fn a_token_secret_with_no_value_yet_means_github_is_not_set_up() {
    let arn = secret(None).await;
    assert_eq!(github_with(&arn).await, Ok(false));
}

#[tokio::test]
async fn a_blank_token_means_github_is_not_set_up_and_a_token_sets_it_up() {
    assert_eq!(github_with(&secret(Some("  \n")).await).await, Ok(false));
    assert_eq!(
        github_with(&secret(Some("ghp_example")).await).await,
        Ok(true)
    );
}

#[tokio::test]
async fn a_token_secret_that_does_not_exist_is_an_error_naming_the_variable() {
    let arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:no-such-token-AbCdEf";
    let err = github_with(arn)
        .await
        .expect_err("a typo is not silently ignored");
    assert!(err.contains("GITHUB_TOKEN_SECRET_ARN"), "{err}");
    assert!(err.contains("ResourceNotFoundException"), "{err}");
}
