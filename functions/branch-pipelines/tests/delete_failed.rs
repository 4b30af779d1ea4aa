//! A stack that ends `DELETE_FAILED` (CloudFormation as AWS documents it, mocked: moto's never
//! fails a delete) with a versioned bucket in moto's S3 that was written to again: the sweep
//! empties it and retries once, then retries retaining what failed and reports it, then reports
//! the stack on every sweep.

use aws_sdk_cloudformation::Client;
use aws_sdk_cloudformation::operation::delete_stack::DeleteStackOutput;
use aws_sdk_cloudformation::operation::describe_stack_resources::DescribeStackResourcesOutput;
use aws_sdk_cloudformation::operation::describe_stacks::DescribeStacksOutput;
use aws_sdk_cloudformation::types::{ResourceStatus, Stack, StackResource, StackStatus, Tag};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use aws_smithy_types::DateTime;
use branch_pipelines::adapters::{AwsStacks, BranchTemplate, Branches, FixedSecret};
use branch_pipelines::filters::{BranchFilter, DEFAULT_INCLUDE, RepositoryFilter};
use branch_pipelines::handler::{Deps, Mode, Settings, record_key};
use serde_json::json;
use tollgate::state::{DynamoStateStore, StateStore};
use tollgate::testing::fast_retries;
use tollgate_tests::{create_state_table, moto_config, unique};

const STACK: &str = "bpdf-feature-stuck-0123456789";
const STACK_ID: &str = "arn:aws:cloudformation:us-east-1:123456789012:stack/bpdf-feature-stuck-0123456789/6c3d5e20-8a4b-11ef-9f1e-0a1b2c3d4e5f";
const REASON: &str = "The bucket you tried to delete is not empty. You must delete all versions in the bucket. (Service: S3, Status Code: 409)";

fn failed_stack() -> Rule {
    mock!(Client::describe_stacks).then_output(|| {
        DescribeStacksOutput::builder()
            .stacks(
                Stack::builder()
                    .stack_id(STACK_ID)
                    .stack_name(STACK)
                    .creation_time(DateTime::from_secs(1_767_225_600))
                    .stack_status(StackStatus::DeleteFailed)
                    .stack_status_reason(
                        "The following resource(s) failed to delete: [Artifacts]. ",
                    )
                    .tags(Tag::builder().key("tollgate:managed").value("true").build())
                    .tags(
                        Tag::builder()
                            .key("tollgate:repository")
                            .value("orders-api")
                            .build(),
                    )
                    .tags(
                        Tag::builder()
                            .key("tollgate:branch")
                            .value("feature/stuck")
                            .build(),
                    )
                    .tags(
                        Tag::builder()
                            .key("tollgate:source")
                            .value("codecommit")
                            .build(),
                    )
                    .build(),
            )
            .build()
    })
}

fn resources(bucket: String) -> Rule {
    mock!(Client::describe_stack_resources).then_output(move || {
        DescribeStackResourcesOutput::builder()
            .stack_resources(
                StackResource::builder()
                    .stack_name(STACK)
                    .stack_id(STACK_ID)
                    .logical_resource_id("Artifacts")
                    .physical_resource_id(&bucket)
                    .resource_type("AWS::S3::Bucket")
                    .timestamp(DateTime::from_secs(1_767_229_200))
                    .resource_status(ResourceStatus::DeleteFailed)
                    .resource_status_reason(REASON)
                    .build(),
            )
            .stack_resources(
                StackResource::builder()
                    .stack_name(STACK)
                    .stack_id(STACK_ID)
                    .logical_resource_id("Pipeline")
                    .physical_resource_id("bpdf-feature-stuck-pipeline")
                    .resource_type("AWS::CodePipeline::Pipeline")
                    .timestamp(DateTime::from_secs(1_767_229_200))
                    .resource_status(ResourceStatus::DeleteComplete)
                    .build(),
            )
            .build()
    })
}

#[tokio::test]
async fn a_delete_failed_stack_with_a_refilled_versioned_bucket_is_emptied_and_retried_then_retained_and_reported()
 {
    let sdk = moto_config().await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(true)
            .build(),
    );
    let bucket = unique("bpdf-feature-stuck-artifacts").to_lowercase();
    s3.create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("bucket");
    s3.put_bucket_versioning()
        .bucket(&bucket)
        .versioning_configuration(
            aws_sdk_s3::types::VersioningConfiguration::builder()
                .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .expect("versioning");
    for body in ["v1", "v2"] {
        s3.put_object()
            .bucket(&bucket)
            .key("artifact.zip")
            .body(body.as_bytes().to_vec().into())
            .send()
            .await
            .expect("put");
    }
    s3.delete_object()
        .bucket(&bucket)
        .key("artifact.zip")
        .send()
        .await
        .expect("delete marker");

    let stacks = failed_stack();
    let described = resources(bucket.clone());
    let plain_delete = mock!(Client::delete_stack)
        .match_requests(|r| r.retain_resources().is_empty())
        .then_output(|| DeleteStackOutput::builder().build());
    let retaining_delete = mock!(Client::delete_stack)
        .match_requests(|r| r.retain_resources() == ["Artifacts".to_string()])
        .then_output(|| DeleteStackOutput::builder().build());
    let cloudformation = mock_client!(
        aws_sdk_cloudformation,
        RuleMode::MatchAny,
        [&stacks, &described, &plain_delete, &retaining_delete],
        |c| c.retry_config(fast_retries())
    );
    let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
    let table = create_state_table(&dynamo).await;
    let deps = Deps {
        settings: Settings {
            prefix: "bpdf".into(),
            template: BranchTemplate::Sample,
            parameters: Vec::new(),
            role_arn: None,
            filter: BranchFilter::new(DEFAULT_INCLUDE, "").expect("globs"),
            default_branch: "main".into(),
            max_stacks: 20,
            ttl_days: 30,
            empty_buckets: true,
            repositories: RepositoryFilter::new("").expect("globs"),
            account: "123456789012".into(),
            mode: Mode::Both,
            include_drafts: false,
        },
        store: DynamoStateStore::new(dynamo, table),
        stacks: AwsStacks {
            cloudformation,
            s3: s3.clone(),
        },
        branches: Branches {
            codecommit: aws_sdk_codecommit::Client::new(&sdk),
            github: tollgate::github::client(
                "http://127.0.0.1:9",
                None,
                branch_pipelines::adapters::GITHUB_TIMEOUTS,
            )
            .expect("a GitHub client"),
            token: None,
        },
        secret: FixedSecret(b"unused".to_vec()),
    };
    let schedule = json!({"id": unique("sweep"), "source": "aws.events", "detail-type": "Scheduled Event", "detail": {}});

    // Sweep 1: the bucket is emptied again (every version and delete marker), the delete retried.
    let out = deps.handle(schedule.clone()).await.expect("swept");
    let first = &out["destroyed"][0]["result"];
    assert_eq!(first["outcome"], "retrying-delete", "{out}");
    assert_eq!(first["emptiedBuckets"], json!([bucket]), "{out}");
    assert_eq!(first["retained"], json!([]), "{out}");
    let left = s3
        .list_object_versions()
        .bucket(&bucket)
        .send()
        .await
        .expect("list");
    assert!(
        left.versions().is_empty() && left.delete_markers().is_empty(),
        "{left:?}"
    );
    assert_eq!(
        (plain_delete.num_calls(), retaining_delete.num_calls()),
        (1, 0)
    );

    // Sweep 2: still DELETE_FAILED: deleted retaining the resource that failed, reported.
    let out = deps.handle(schedule.clone()).await.expect("swept");
    let second = &out["destroyed"][0]["result"];
    assert_eq!(second["outcome"], "retrying-delete", "{out}");
    assert_eq!(second["retained"], json!(["Artifacts"]), "{out}");
    assert_eq!(
        (plain_delete.num_calls(), retaining_delete.num_calls()),
        (1, 1)
    );
    let (pk, sk) = record_key("orders-api", "feature/stuck");
    let record = deps
        .store
        .get(&pk, &sk)
        .await
        .expect("get")
        .expect("record");
    assert_eq!(record.data["retained"], json!(["Artifacts"]));
    assert_eq!(record.data["deleteRetries"], json!(2));

    // Sweep 3: nothing more is tried; the stack is reported failed (metric, log) every sweep.
    let out = deps.handle(schedule).await.expect("swept");
    let third = &out["destroyed"][0]["result"];
    assert_eq!(third["outcome"], "delete-failed", "{out}");
    assert!(
        third["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("a person must look"),
        "{out}"
    );
    assert_eq!(
        (plain_delete.num_calls(), retaining_delete.num_calls()),
        (1, 1)
    );
}
