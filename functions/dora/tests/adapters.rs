//! The CodePipeline and OpsCenter adapters against the real SDK clients, with responses mocked as
//! AWS documents them, errors included.

mod common;

use aws_sdk_codepipeline::types::{PipelineExecutionStatus, TriggerType};
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use common::*;
use dora::adapters::{CodePipelineHistory, OpsItems, PipelineHistory, SsmOpsItems};
use dora::handler::Calculator;
use tollgate::testing::aws_json_error;

#[tokio::test]
async fn an_unknown_opsitem_is_an_error_naming_aws_code() {
    let rule = mock!(aws_sdk_ssm::Client::get_ops_item).then_http_response(|| {
        aws_json_error(
            400,
            "OpsItemNotFoundException",
            "The specified OpsItem ID doesn't exist. Verify the ID and try again.",
        )
    });
    let client = mock_client!(aws_sdk_ssm, RuleMode::Sequential, [&rule], |c| c
        .retry_config(tollgate::testing::fast_retries()));
    let err = SsmOpsItems::new(client)
        .get("oi-000000000000")
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("GetOpsItem oi-000000000000") && text.contains("OpsItemNotFoundException"),
        "{text}"
    );
}

#[tokio::test]
async fn an_unknown_execution_is_an_error_naming_aws_code() {
    let rule =
        mock!(aws_sdk_codepipeline::Client::get_pipeline_execution).then_http_response(|| {
            aws_json_error(
                400,
                "PipelineExecutionNotFoundException",
                "The pipeline execution ID was not found",
            )
        });
    let client = mock_client!(aws_sdk_codepipeline, RuleMode::Sequential, [&rule], |c| c
        .retry_config(tollgate::testing::fast_retries()));
    let err = CodePipelineHistory::new(client)
        .execution_source("web", "missing")
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("PipelineExecutionNotFoundException"),
        "{err}"
    );
}

#[tokio::test]
async fn execution_source_reads_the_revision_and_the_source_action_variables() {
    let w = world();
    w.lock().unwrap().executions.push(Exec {
        pipeline: "web".into(),
        id: "x1".into(),
        status: PipelineExecutionStatus::Succeeded,
        trigger: TriggerType::WebhookV2,
        time: 1_800_000_000,
        commit: "0123abcd".into(),
        branch: "main".into(),
        message: "Fix oi-0a1b2c: retry".into(),
    });
    let (client, _rules) = codepipeline(&w);
    let source = CodePipelineHistory::new(client)
        .execution_source("web", "x1")
        .await
        .unwrap();
    assert_eq!(source.commit.as_deref(), Some("0123abcd"));
    assert_eq!(source.repository.as_deref(), Some(REPO));
    assert_eq!(source.branch.as_deref(), Some("main"));
    assert_eq!(
        source.commit_message.as_deref(),
        Some("Fix oi-0a1b2c: retry")
    );
    assert_eq!(source.trigger_type.as_deref(), Some("WebhookV2"));
}

#[tokio::test]
async fn executions_are_read_page_by_page_until_older_than_the_window() {
    let w = world();
    {
        let mut g = w.lock().unwrap();
        g.stages.insert("web".into(), vec!["Deploy".into()]);
        for i in 0..8 {
            g.executions.push(Exec {
                pipeline: "web".into(),
                id: format!("x{i}"),
                status: PipelineExecutionStatus::Succeeded,
                trigger: TriggerType::Webhook,
                time: 1_000 * i,
                commit: format!("c{i}"),
                branch: "main".into(),
                message: String::new(),
            });
        }
    }
    let (client, rules) = codepipeline(&w);
    let history = CodePipelineHistory::new(client);
    // Newest first in pages of 3: x7 x6 x5 | x4 x3 x2 | x1 x0; since 2500 stops after page two.
    let got: Vec<String> = history
        .executions("web", 2_500)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.execution_id)
        .collect();
    assert_eq!(got, ["x7", "x6", "x5", "x4", "x3"]);
    assert_eq!(rules[4].num_calls(), 2);
    let all = history.executions("web", 0).await.unwrap();
    assert_eq!(all.len(), 8);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_pipeline_structure_is_read_once_per_cold_start() {
    let w = world();
    let runs: Vec<Exec> = (0..3)
        .map(|i| Exec {
            pipeline: "web".into(),
            id: format!("s{i}"),
            status: PipelineExecutionStatus::Succeeded,
            trigger: TriggerType::Webhook,
            time: now() - 3_600 + i,
            commit: format!("c{i}"),
            branch: "main".into(),
            message: String::new(),
        })
        .collect();
    {
        let mut g = w.lock().unwrap();
        g.stages.insert("web".into(), vec!["Deploy".into()]);
        g.executions = runs.clone();
    }
    let ns = tollgate_tests::unique("DORA");
    let (deps, rules) = deps(&ns, "*", &w, None).await;
    for r in &runs {
        deps.handle(Calculator::DeploymentFrequency, &execution_event(r), now())
            .await
            .unwrap();
    }
    // GetPipeline is rules[0].
    assert_eq!(rules[0].num_calls(), 1);
}

/// GitHub's REST API through the production client (the AWS SDK's HTTPS connector), against
/// wiremock: what it sends, and how it reads GitHub's answers.
mod github_rest {
    use dora::adapters::{CommitHistory, GitHubCommits};
    use dora::error::DoraError;
    use wiremock::matchers::{header, method, path, query_param};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    fn comparison() -> serde_json::Value {
        serde_json::json!({
            "total_commits": 1,
            "commits": [{"sha": "b", "commit": {"author": {"date": "2026-01-01T00:00:00Z"}}}]
        })
    }

    #[tokio::test]
    async fn a_compare_sends_the_token_as_a_bearer_and_asks_for_full_pages() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/repos/acme/shop/compare/a...b"))
            .and(header("authorization", "Bearer ghp_test_token"))
            .and(header("accept", "application/vnd.github+json"))
            .and(header("x-github-api-version", "2022-11-28"))
            .and(query_param("per_page", "100"))
            .and(query_param("page", "1"))
            .respond_with(ResponseTemplate::new(200).set_body_json(comparison()))
            .expect(1)
            .mount(&server)
            .await;
        let github = GitHubCommits::new(&server.uri(), "ghp_test_token").expect("client");
        let compared = github
            .compare("acme/shop", "a", "b")
            .await
            .expect("compare")
            .expect("found");
        assert_eq!(compared.total, 1);
        assert_eq!(compared.commits.len(), 1);
        assert_eq!(compared.commits[0].sha, "b");
        assert_eq!(compared.commits[0].time, 1_767_225_600);
    }

    #[tokio::test]
    async fn a_github_enterprise_api_path_prefixes_every_route() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/api/v3/repos/acme/shop/commits/b"))
            .respond_with(ResponseTemplate::new(200).set_body_json(
                serde_json::json!({"sha": "b", "commit": {"author": {"date": "2026-01-01T00:00:00Z"}}}),
            ))
            .expect(1)
            .mount(&server)
            .await;
        let api = format!("{}/api/v3/", server.uri());
        let github = GitHubCommits::new(&api, "ghp_test_token").expect("client");
        let commit = github.commit("acme/shop", "b").await.expect("commit");
        assert_eq!(commit.map(|c| c.sha).as_deref(), Some("b"));
    }

    #[tokio::test]
    async fn an_unknown_commit_is_none_and_a_rate_limit_is_an_error_with_githubs_message() {
        let server = MockServer::start().await;
        Mock::given(path("/repos/acme/shop/commits/gone"))
            .respond_with(
                ResponseTemplate::new(422)
                    .set_body_json(serde_json::json!({"message": "No commit found for SHA: gone"})),
            )
            .mount(&server)
            .await;
        Mock::given(path("/repos/acme/shop/compare/a...b"))
            .respond_with(ResponseTemplate::new(403).set_body_json(
                serde_json::json!({"message": "API rate limit exceeded for user ID 1."}),
            ))
            .mount(&server)
            .await;
        let github = GitHubCommits::new(&server.uri(), "ghp_test_token").expect("client");
        assert_eq!(
            github.commit("acme/shop", "gone").await.expect("no error"),
            None
        );
        let err = github
            .compare("acme/shop", "a", "b")
            .await
            .expect_err("403");
        assert!(matches!(err, DoraError::GitHub { .. }), "{err:?}");
        let text = err.to_string();
        assert!(
            text.contains("compare acme/shop a...b")
                && text.contains("403 rate limited or forbidden")
                && text.contains("API rate limit exceeded"),
            "{text}"
        );
        assert!(!text.contains("ghp_test_token"), "{text}");
    }

    #[tokio::test]
    async fn nothing_listening_is_an_error_not_a_panic() {
        let github = GitHubCommits::new("http://127.0.0.1:9", "ghp_test_token").expect("client");
        let err = github
            .compare("acme/shop", "a", "b")
            .await
            .expect_err("connection refused");
        assert!(matches!(err, DoraError::GitHub { .. }), "{err:?}");
    }
}
