//! The CloudFormation adapter's stack lookup and cross-account targets against a real moto
//! server (moto implements stacks and STS AssumeRole, not drift detection).

use aws_config::Region;
use drift_gate::cloudformation::{AwsTargets, StackState, Target, Targets};
use tollgate_tests::{moto_config, unique};

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
