//! A preview whose creation failed (CloudFormation as AWS documents it, mocked: moto's never
//! fails a create): its stack status change puts the failed resource and CloudFormation's reason
//! on the pull request's comment, not "creation started".

use aws_sdk_cloudformation::Client;
use aws_sdk_cloudformation::operation::describe_stack_events::DescribeStackEventsOutput;
use aws_sdk_cloudformation::operation::describe_stacks::DescribeStacksOutput;
use aws_sdk_cloudformation::types::{ResourceStatus, Stack, StackEvent, StackStatus, Tag};
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use aws_smithy_types::DateTime;
use branch_pipelines::adapters::{AwsStacks, BranchTemplate, Branches, FixedSecret};
use branch_pipelines::filters::{BranchFilter, DEFAULT_INCLUDE, RepositoryFilter};
use branch_pipelines::handler::{Deps, Mode, Settings};
use serde_json::{Value, json};
use tollgate::state::DynamoStateStore;
use tollgate::testing::fast_retries;
use tollgate_tests::{create_state_table, moto_config};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const STACK: &str = "bpfp-pull-request-9-5e0c1d2b3a";
const STACK_ID: &str = "arn:aws:cloudformation:us-east-1:123456789012:stack/bpfp-pull-request-9-5e0c1d2b3a/9a8b7c60-c8f3-11f0-9a7e-0a1b2c3d4e5f";
const REASON: &str = "Resource handler returned message: \"preview-assets already exists\" (HandlerErrorCode: AlreadyExists)";

fn event(id: &str, kind: &str, status: ResourceStatus, reason: &str, at: i64) -> StackEvent {
    StackEvent::builder()
        .stack_id(STACK_ID)
        .stack_name(STACK)
        .event_id(format!("{id}-{at}"))
        .logical_resource_id(id)
        .resource_type(kind)
        .resource_status(status)
        .resource_status_reason(reason)
        .timestamp(DateTime::from_secs(at))
        .build()
}

#[tokio::test]
async fn a_failed_previews_comment_names_the_failed_resource_and_cloudformations_reason() {
    let stacks = mock!(Client::describe_stacks).then_output(|| {
        DescribeStacksOutput::builder()
            .stacks(
                Stack::builder()
                    .stack_id(STACK_ID)
                    .stack_name(STACK)
                    .creation_time(DateTime::from_secs(1_795_000_000))
                    .stack_status(StackStatus::RollbackComplete)
                    .tags(Tag::builder().key("tollgate:managed").value("true").build())
                    .tags(
                        Tag::builder()
                            .key("tollgate:repository")
                            .value("octo-org/orders-api")
                            .build(),
                    )
                    .tags(
                        Tag::builder()
                            .key("tollgate:branch")
                            .value("pull-request=3A9")
                            .build(),
                    )
                    .tags(
                        Tag::builder()
                            .key("tollgate:source")
                            .value("github")
                            .build(),
                    )
                    .build(),
            )
            .build()
    });
    let events = mock!(Client::describe_stack_events).then_output(|| {
        let stack = "AWS::CloudFormation::Stack";
        DescribeStackEventsOutput::builder()
            .stack_events(event(STACK, stack, ResourceStatus::RollbackComplete, "", 9))
            .stack_events(event(
                "Assets",
                "AWS::S3::Bucket",
                ResourceStatus::DeleteComplete,
                "",
                8,
            ))
            .stack_events(event(
                STACK,
                stack,
                ResourceStatus::RollbackInProgress,
                "The following resource(s) failed to create: [Assets].",
                7,
            ))
            .stack_events(event(
                "Queue",
                "AWS::SQS::Queue",
                ResourceStatus::CreateFailed,
                "Resource creation cancelled",
                6,
            ))
            .stack_events(event(
                "Assets",
                "AWS::S3::Bucket",
                ResourceStatus::CreateFailed,
                REASON,
                5,
            ))
            .stack_events(event(
                STACK,
                stack,
                ResourceStatus::CreateInProgress,
                "User Initiated",
                1,
            ))
            .build()
    });
    let cloudformation = mock_client!(
        aws_sdk_cloudformation,
        RuleMode::MatchAny,
        [&stacks, &events],
        |c| c.retry_config(fast_retries())
    );
    let github = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/repos/octo-org/orders-api/issues/9/labels"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .mount(&github)
        .await;
    Mock::given(method("GET"))
        .and(path("/repos/octo-org/orders-api/issues/9/comments"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .mount(&github)
        .await;
    Mock::given(method("POST"))
        .and(path("/repos/octo-org/orders-api/issues/9/comments"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 1})))
        .expect(1)
        .mount(&github)
        .await;
    let sdk = moto_config().await;
    let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
    let table = create_state_table(&dynamo).await;
    let deps = Deps {
        settings: Settings {
            prefix: "bpfp".into(),
            template: BranchTemplate::Sample,
            parameters: Vec::new(),
            role_arn: None,
            filter: BranchFilter::new(DEFAULT_INCLUDE, "").expect("globs"),
            default_branch: "main".into(),
            max_stacks: 20,
            ttl_days: 30,
            empty_buckets: true,
            repositories: RepositoryFilter::new("octo-org/*").expect("globs"),
            account: "123456789012".into(),
            mode: Mode::PullRequest,
            include_drafts: false,
        },
        store: DynamoStateStore::new(dynamo, table),
        stacks: AwsStacks {
            cloudformation,
            s3: aws_sdk_s3::Client::new(&sdk),
        },
        branches: Branches {
            codecommit: aws_sdk_codecommit::Client::new(&sdk),
            github: tollgate::github::client(
                &github.uri(),
                None,
                branch_pipelines::adapters::GITHUB_TIMEOUTS,
            )
            .expect("a GitHub client"),
            token: None,
        },
        secret: FixedSecret(b"unused".to_vec()),
    };
    let out = deps
        .handle(json!({"version": "0", "id": "e1", "detail-type": "CloudFormation Stack Status Change",
            "source": "aws.cloudformation", "account": "123456789012", "time": "2026-11-22T10:04:12Z",
            "region": "us-east-1", "resources": [STACK_ID],
            "detail": {"stack-id": STACK_ID, "status-details": {"status": "ROLLBACK_COMPLETE", "status-reason": ""}}}))
        .await
        .expect("handled");
    assert_eq!(out["failedResource"], "Assets", "{out}");
    assert_eq!(out["reason"], REASON, "{out}");
    let requests = github.received_requests().await.unwrap_or_default();
    let posted: Value = requests
        .iter()
        .find(|r| r.method.as_str() == "POST")
        .and_then(|r| serde_json::from_slice(&r.body).ok())
        .expect("a comment posted");
    let body = posted["body"].as_str().unwrap_or_default();
    assert!(body.contains("**ROLLBACK\\_COMPLETE**"), "{body}");
    assert!(body.contains("| Failed resource | `Assets`: Resource handler returned message: \"preview-assets already exists\" (HandlerErrorCode: AlreadyExists) |"), "{body}");
    assert!(body.contains("creation failed"), "{body}");
}
