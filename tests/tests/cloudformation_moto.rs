//! The CloudFormation adapter's stack lookup, stack listing and cross-account targets against a
//! real moto server (moto implements stacks, change sets and STS AssumeRole, not drift
//! detection), and the gate's "did you mean" for a misspelt stack, end to end on moto.

use aws_config::Region;
use aws_sdk_cloudformation::types::ChangeSetType;
use aws_sdk_codepipeline::types::FailureType;
use drift::cloudformation::{AwsTargets, StackState, Targets};
use drift::model::Target;
use drift::suggest::similar_names;
use drift::{Deps, Settings};
use lambda_runtime::{Context, LambdaEvent};
use tollgate::state::DynamoStateStore;
use tollgate::testing::job_event;
use tollgate_tests::mocks::RecordingPipeline;
use tollgate_tests::{create_state_table, moto_config, unique};

const TEMPLATE: &str = r#"{"Resources": {"Queue": {"Type": "AWS::SQS::Queue"}}}"#;

#[tokio::test]
async fn existing_stack_is_present_with_its_status_and_unknown_stack_is_missing() {
    let sdk = moto_config().await;
    let name = unique("orders-api");
    aws_sdk_cloudformation::Client::new(&sdk)
        .create_stack()
        .stack_name(&name)
        .template_body(TEMPLATE)
        .send()
        .await
        .expect("create stack in moto");
    let detector = AwsTargets::new(sdk)
        .detector(&Target::default())
        .await
        .unwrap();
    match detector.stack(&name).await.unwrap() {
        StackState::Present { stack_id, status } => {
            assert_eq!(status, "CREATE_COMPLETE");
            assert!(
                stack_id.starts_with("arn:aws:cloudformation:us-east-1:"),
                "{stack_id}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        detector.stack(&unique("never-created")).await.unwrap(),
        StackState::Missing
    );
}

#[tokio::test]
async fn role_target_reaches_stacks_in_the_other_account_only() {
    let sdk = moto_config().await;
    let role = "arn:aws:iam::222222222222:role/tollgate-drift-reader";
    let name = unique("other-account-stack");
    // Create the stack as the other account, through the same assumed role.
    let provider = aws_config::sts::AssumeRoleProvider::builder(role)
        .session_name("test-setup")
        .configure(&sdk)
        .build()
        .await;
    let other = aws_sdk_cloudformation::config::Builder::from(&sdk)
        .credentials_provider(provider)
        .region(Region::from_static("eu-west-1"))
        .build();
    aws_sdk_cloudformation::Client::from_conf(other)
        .create_stack()
        .stack_name(&name)
        .template_body(TEMPLATE)
        .send()
        .await
        .expect("create stack in the other account");

    let targets = AwsTargets::new(sdk);
    let cross = Target {
        region: Some("eu-west-1".into()),
        role_arn: Some(role.into()),
    };
    match targets
        .detector(&cross)
        .await
        .unwrap()
        .stack(&name)
        .await
        .unwrap()
    {
        StackState::Present { stack_id, .. } => {
            assert!(stack_id.contains(":eu-west-1:222222222222:"), "{stack_id}")
        }
        other => panic!("{other:?}"),
    }
    let own = Target {
        region: Some("eu-west-1".into()),
        role_arn: None,
    };
    assert_eq!(
        targets
            .detector(&own)
            .await
            .unwrap()
            .stack(&name)
            .await
            .unwrap(),
        StackState::Missing
    );
}

async fn create_stack(sdk: &aws_config::SdkConfig, name: &str) {
    aws_sdk_cloudformation::Client::new(sdk)
        .create_stack()
        .stack_name(name)
        .template_body(TEMPLATE)
        .send()
        .await
        .expect("create stack in moto");
}

#[tokio::test]
async fn listed_stack_names_leave_out_deleted_stacks_and_suggest_the_misspelt_one() {
    let sdk = moto_config().await;
    let live = unique("orders-api");
    let deleted = format!("{live}-old");
    create_stack(&sdk, &live).await;
    create_stack(&sdk, &deleted).await;
    aws_sdk_cloudformation::Client::new(&sdk)
        .delete_stack()
        .stack_name(&deleted)
        .send()
        .await
        .expect("delete stack in moto");
    let detector = AwsTargets::new(sdk)
        .detector(&Target::default())
        .await
        .unwrap();
    let names = detector.stack_names().await.unwrap();
    assert!(names.contains(&live), "{names:?}");
    assert!(
        !names.contains(&deleted),
        "DELETE_COMPLETE is left out: {names:?}"
    );
    let typo = live.replacen("orders-api", "orders-apl", 1);
    assert_eq!(similar_names(&typo, &names, 3).first(), Some(&live));
}

#[tokio::test]
async fn a_stack_created_by_a_change_set_not_yet_executed_is_review_in_progress() {
    let sdk = moto_config().await;
    let name = unique("orders-api");
    aws_sdk_cloudformation::Client::new(&sdk)
        .create_change_set()
        .stack_name(&name)
        .change_set_name("first-deployment")
        .change_set_type(ChangeSetType::Create)
        .template_body(TEMPLATE)
        .send()
        .await
        .expect("create change set in moto");
    let detector = AwsTargets::new(sdk)
        .detector(&Target::default())
        .await
        .unwrap();
    assert_eq!(
        detector.stack(&name).await.unwrap(),
        StackState::ReviewInProgress
    );
}

#[tokio::test]
async fn a_misspelt_stack_fails_the_job_naming_the_region_and_the_real_stack() {
    let sdk = moto_config().await;
    let real = unique("orders-api");
    create_stack(&sdk, &real).await;
    let typo = real.replacen("orders-api", "orders-apl", 1);
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    let table = create_state_table(&dynamodb).await;
    let pipeline = RecordingPipeline::accepting();
    let deps = Deps {
        reporter: pipeline.reporter.clone(),
        store: DynamoStateStore::new(dynamodb, table),
        targets: AwsTargets::new(sdk),
        settings: Settings {
            region: Some("us-east-1".into()),
            ..Settings::default()
        },
    };
    let job_id = unique("job");
    let event = job_event(&job_id, Some(&format!(r#"{{"stacks":["{typo}"]}}"#)));
    let response = drift::gate::handler(&deps, LambdaEvent::new(event, Context::default()))
        .await
        .unwrap();
    assert_eq!(response["result"], "failed");
    let (kind, message) = pipeline.only_failure();
    assert_eq!(kind, FailureType::JobFailed);
    assert!(
        message.starts_with(&format!(
            "Stack {typo} does not exist in us-east-1 (account 111111111111) (whenStackMissing=fail). \
             Stacks there with similar names: {real}"
        )),
        "{message}"
    );
}
