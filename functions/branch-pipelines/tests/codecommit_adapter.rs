//! The CodeCommit side of the branch source (GetBranch, GetRepository) against the real client, with
//! responses mocked as AWS documents them (moto does not implement GetBranch), and what the sweeper
//! and the creator make of each answer.

use aws_sdk_codecommit::Client;
use aws_sdk_codecommit::operation::get_branch::GetBranchOutput;
use aws_sdk_codecommit::operation::get_repository::GetRepositoryOutput;
use aws_sdk_codecommit::types::{BranchInfo, RepositoryMetadata};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use branch_pipelines::adapters::{AwsStacks, BranchSource, BranchTemplate, Branches, FixedSecret};
use branch_pipelines::events::Source;
use branch_pipelines::filters::{BranchFilter, DEFAULT_INCLUDE, RepositoryFilter};
use branch_pipelines::handler::{Deps, Mode, Settings};
use serde_json::json;
use tollgate::state::DynamoStateStore;
use tollgate::testing::{aws_json_error, fast_retries};
use tollgate_tests::{moto_config, unique};

fn branches(rules: &[&Rule]) -> Branches {
    Branches {
        codecommit: mock_client!(
            aws_sdk_codecommit,
            RuleMode::Sequential,
            rules.iter().copied(),
            |c| c.retry_config(fast_retries())
        ),
        // Never called for CodeCommit; a closed port makes any call fail loudly.
        github: tollgate::github::client(
            "http://127.0.0.1:9",
            None,
            branch_pipelines::adapters::GITHUB_TIMEOUTS,
        )
        .expect("a GitHub client"),
        token: None,
    }
}

fn get_branch_ok() -> Rule {
    mock!(Client::get_branch)
        .match_requests(|r| {
            r.repository_name() == Some("orders") && r.branch_name() == Some("feature/pay")
        })
        .then_output(|| {
            GetBranchOutput::builder()
                .branch(
                    BranchInfo::builder()
                        .branch_name("feature/pay")
                        .commit_id("3f1c2a9e8b7d6c5f4e3d2c1b0a9f8e7d6c5b4a39")
                        .build(),
                )
                .build()
        })
}

#[tokio::test]
async fn a_branch_codecommit_returns_exists() {
    let rule = get_branch_ok();
    let source = branches(&[&rule]);
    assert!(
        source
            .exists(Source::CodeCommit, "orders", "feature/pay")
            .await
            .expect("answered")
    );
    assert_eq!(rule.num_calls(), 1);
}

#[tokio::test]
async fn branch_does_not_exist_means_gone_so_the_sweeper_may_delete() {
    let rule = mock!(Client::get_branch).then_http_response(|| {
        aws_json_error(
            400,
            "BranchDoesNotExistException",
            "Could not find branch feature/pay in repository orders",
        )
    });
    let source = branches(&[&rule]);
    assert!(
        !source
            .exists(Source::CodeCommit, "orders", "feature/pay")
            .await
            .expect("answered")
    );
}

#[tokio::test]
async fn a_missing_repository_or_throttling_is_an_error_not_a_deleted_branch() {
    let missing = mock!(Client::get_branch).then_http_response(|| {
        aws_json_error(
            400,
            "RepositoryDoesNotExistException",
            "orders does not exist",
        )
    });
    let source = branches(&[&missing]);
    let err = source
        .exists(Source::CodeCommit, "orders", "feature/pay")
        .await
        .expect_err("fails closed");
    assert!(
        err.to_string().contains("RepositoryDoesNotExistException"),
        "{err}"
    );

    let throttled = mock!(Client::get_branch)
        .match_requests(|r| r.repository_name() == Some("orders"))
        .then_http_response(|| aws_json_error(400, "ThrottlingException", "Rate exceeded"));
    let source = branches(&[&throttled, &throttled, &throttled]);
    let err = source
        .exists(Source::CodeCommit, "orders", "feature/pay")
        .await
        .expect_err("fails closed");
    assert!(err.to_string().contains("Rate exceeded"), "{err}");
    assert_eq!(throttled.num_calls(), 3, "the SDK's retries were used");
}

fn get_repository(default_branch: Option<&'static str>) -> Rule {
    mock!(Client::get_repository)
        .match_requests(|r| r.repository_name() == Some("orders"))
        .then_output(move || {
            GetRepositoryOutput::builder()
                .repository_metadata(
                    RepositoryMetadata::builder()
                        .repository_name("orders")
                        .repository_id("f7579e13-b83e-4027-aaef-650c0EXAMPLE")
                        .set_default_branch(default_branch.map(str::to_string))
                        .build(),
                )
                .build()
        })
}

#[tokio::test]
async fn the_repositorys_default_branch_is_read_and_a_new_repository_has_none() {
    let with = get_repository(Some("feature/trunk"));
    assert_eq!(
        branches(&[&with])
            .default_branch("orders")
            .await
            .expect("answered")
            .as_deref(),
        Some("feature/trunk")
    );
    let without = get_repository(None);
    assert_eq!(
        branches(&[&without])
            .default_branch("orders")
            .await
            .expect("answered"),
        None
    );
}

#[tokio::test]
async fn codecommits_default_branch_is_never_given_a_stack_even_when_the_filters_include_it() {
    let repository = get_repository(Some("feature/trunk"));
    let sdk = moto_config().await;
    let deps = Deps {
        settings: Settings {
            prefix: "bpcc".into(),
            template: BranchTemplate::Sample,
            parameters: Vec::new(),
            role_arn: None,
            filter: BranchFilter::new(DEFAULT_INCLUDE, "").expect("globs"),
            default_branch: "main".into(),
            max_stacks: 20,
            ttl_days: 0,
            empty_buckets: true,
            repositories: RepositoryFilter::new("").expect("globs"),
            account: "123456789012".into(),
            mode: Mode::Both,
            include_drafts: false,
        },
        store: DynamoStateStore::new(aws_sdk_dynamodb::Client::new(&sdk), unique("unused")),
        stacks: AwsStacks {
            cloudformation: aws_sdk_cloudformation::Client::new(&sdk),
            s3: aws_sdk_s3::Client::new(&sdk),
        },
        branches: branches(&[&repository]),
        secret: FixedSecret(b"unused".to_vec()),
    };
    let event = json!({
        "version": "0", "id": unique("evt"), "detail-type": "CodeCommit Repository State Change",
        "source": "aws.codecommit", "account": "123456789012", "region": "us-east-1",
        "time": "2026-05-04T09:30:00Z",
        "detail": {"event": "referenceCreated", "referenceType": "branch",
                   "referenceName": "feature/trunk", "referenceFullName": "refs/heads/feature/trunk",
                   "repositoryName": "orders"}
    });
    let out = deps.handle(event).await.expect("handled");
    assert_eq!(out["outcome"], "skipped", "{out}");
    assert!(
        out["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("default branch"),
        "{out}"
    );
    assert_eq!(repository.num_calls(), 1);
}
