//! tollgate::github::client: octocrab over the AWS SDK's HTTPS connector, against a local HTTP
//! server (127.0.0.1).

use std::time::Duration;

use tollgate::github::{ClientError, Timeouts, api_url, client};
use wiremock::matchers::{body_json, header, header_exists, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const TIMEOUTS: Timeouts = Timeouts {
    connect: Duration::from_secs(2),
    read: Duration::from_secs(5),
};

#[tokio::test]
async fn a_request_carries_the_bearer_token_and_githubs_headers_under_the_base_path() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v3/repos/acme/shop"))
        .and(header("authorization", "Bearer ghp_secret"))
        .and(header("accept", "application/vnd.github+json"))
        .and(header("x-github-api-version", "2022-11-28"))
        .and(header("user-agent", "tollgate"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({"id": 7})))
        .expect(1)
        .mount(&server)
        .await;
    let github = client(
        &format!("{}/api/v3/", server.uri()),
        Some("ghp_secret"),
        TIMEOUTS,
    )
    .expect("client");
    let repo: serde_json::Value = match github.get("/repos/acme/shop", None::<&()>).await {
        Ok(repo) => repo,
        Err(e) => panic!("{e}; the server got {:?}", server.received_requests().await),
    };
    assert_eq!(repo["id"], 7);
}

#[tokio::test]
async fn without_a_token_no_authorization_header_is_sent() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/shop"))
        .respond_with(|request: &Request| {
            let authorized = request.headers.contains_key("authorization");
            ResponseTemplate::new(if authorized { 500 } else { 200 })
                .set_body_json(serde_json::json!({"id": 1}))
        })
        .expect(1)
        .mount(&server)
        .await;
    let github = client(&server.uri(), None, TIMEOUTS).expect("client");
    github
        .get::<serde_json::Value, _, ()>("/repos/acme/shop", None)
        .await
        .expect("answered without an authorization header");
}

#[tokio::test]
async fn a_post_sends_its_json_body_and_githubs_error_keeps_status_and_message() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/repos/acme/shop/issues/3/comments"))
        .and(body_json(serde_json::json!({"body": "preview ready"})))
        .and(header_exists("content-length"))
        .respond_with(ResponseTemplate::new(201).set_body_json(serde_json::json!({"id": 11})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/gone"))
        .respond_with(
            ResponseTemplate::new(404).set_body_json(serde_json::json!({"message": "Not Found"})),
        )
        .mount(&server)
        .await;
    let github = client(&server.uri(), Some("ghp_secret"), TIMEOUTS).expect("client");
    let created: serde_json::Value = github
        .post(
            "/repos/acme/shop/issues/3/comments",
            Some(&serde_json::json!({"body": "preview ready"})),
        )
        .await
        .expect("201");
    assert_eq!(created["id"], 11);
    match github
        .get::<serde_json::Value, _, ()>("/repos/acme/gone", None)
        .await
    {
        Err(octocrab::Error::GitHub { source, .. }) => {
            assert_eq!(source.status_code.as_u16(), 404);
            assert_eq!(source.message, "Not Found");
        }
        other => panic!("expected GitHub's 404, got {other:?}"),
    }
}

#[tokio::test]
async fn nothing_listening_is_an_error_that_does_not_show_the_token() {
    let github = client("http://127.0.0.1:9", Some("ghp_secret"), TIMEOUTS).expect("client");
    let err = github
        .get::<serde_json::Value, _, ()>("/repos/acme/shop", None)
        .await
        .expect_err("connection refused");
    assert!(!format!("{err:?}").contains("ghp_secret"));
}

#[test]
fn an_api_url_that_cannot_be_githubs_root_is_refused_with_the_reason() {
    for (url, reason) in [
        ("ftp://github.example", "https://"),
        ("api.github.com", "https://"),
        ("https://github.example/api/v3?x=1", "query string"),
        ("https://exa mple", "not a URL"),
    ] {
        match api_url(url) {
            Err(ClientError::ApiUrl {
                url: named,
                reason: why,
            }) => {
                assert_eq!(named, url);
                assert!(why.contains(reason), "{url}: {why}");
            }
            other => panic!("{url}: expected a refusal, got {other:?}"),
        }
    }
    assert_eq!(
        api_url("https://github.example/api/v3/")
            .expect("ok")
            .path(),
        "/api/v3"
    );
}

#[test]
fn a_token_an_http_header_cannot_carry_is_refused_without_showing_it() {
    let err =
        client("https://api.github.com", Some("ghp_\nsecret"), TIMEOUTS).expect_err("refused");
    assert_eq!(err, ClientError::Token);
    assert!(!err.to_string().contains("secret"));
}
