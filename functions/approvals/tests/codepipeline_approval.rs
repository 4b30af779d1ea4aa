//! CodePipeline manual approvals answered by email: the SNS notification in, moto's SES and
//! DynamoDB for the email and the approval, and CodePipeline's `PutApprovalResult` (which moto
//! lacks) through the real SDK client answered by `aws-smithy-mocks` as AWS documents it.

mod support;

use approvals::api::respond;
use approvals::mailer::handle;
use approvals::model::Status;
use approvals::store::now_secs;
use aws_sdk_codepipeline::types::ApprovalStatus;
use support::*;
use tollgate_tests::unique;

fn token() -> String {
    format!("{}-573f-4ea7-a67e-0123456789ab", unique("cp"))
}

async fn asked(world: &World, aws: &MockedAws, custom: &str, defaults: &[String]) -> String {
    let token = token();
    let event = codepipeline_sns_event(&token, custom);
    let answer = handle(&world.mocked_mailer_deps(aws, defaults), &event, now_secs())
        .await
        .expect("emails sent");
    assert_eq!(answer["sentTo"], 1);
    token
}

async fn decide(world: &World, aws: &MockedAws, link: &str, decision: &str, comment: &str) -> u16 {
    let deps = world.mocked_api_deps(aws);
    let page = respond(&deps, &get(link), now_secs()).await;
    assert_eq!(page.status, 200, "{}", page.html);
    assert!(page.html.contains("orders-api"), "the pipeline is shown");
    respond(
        &deps,
        &post(link, &form_fields(&page.html, decision), comment),
        now_secs(),
    )
    .await
    .status
}

#[tokio::test]
async fn approving_puts_an_approved_result_for_the_pipelines_action_and_token() {
    let world = World::new().await;
    let aws = MockedAws::accepting();
    let people = approvers(1);
    let custom = format!(
        r#"{{"approvers": ["{}"], "summary": "Release 2.3 to production"}}"#,
        people[0]
    );
    let token = asked(&world, &aws, &custom, &[]).await;
    let (subject, html) = emails_to(&people[0]).remove(0);
    assert_eq!(
        subject,
        "Approval needed: orders-api / Approve / ReleaseManager"
    );
    assert!(
        !html.contains(&token),
        "the approval token is not in the email"
    );
    let link = approval_link(&people[0]);
    assert_eq!(decide(&world, &aws, &link, "approve", "go").await, 200);
    let sent = aws.pipeline_results.lock().unwrap().clone();
    assert_eq!(sent.len(), 1);
    let request = &sent[0];
    assert_eq!(request.pipeline_name(), Some("orders-api"));
    assert_eq!(request.stage_name(), Some("Approve"));
    assert_eq!(request.action_name(), Some("ReleaseManager"));
    assert_eq!(request.token(), Some(token.as_str()));
    let result = request.result().unwrap();
    assert_eq!(result.status(), &ApprovalStatus::Approved);
    assert!(result.summary().contains(&people[0]) && result.summary().contains("go"));
}

#[tokio::test]
async fn rejecting_puts_a_rejected_result_with_the_reason() {
    let world = World::new().await;
    let aws = MockedAws::accepting();
    let people = approvers(1);
    asked(
        &world,
        &aws,
        "Review the change set before approving.",
        &people,
    )
    .await;
    let link = approval_link(&people[0]);
    assert_eq!(
        decide(&world, &aws, &link, "reject", "change set deletes a table").await,
        200
    );
    let sent = aws.pipeline_results.lock().unwrap().clone();
    let result = sent[0].result().unwrap();
    assert_eq!(result.status(), &ApprovalStatus::Rejected);
    assert!(result.summary().contains("change set deletes a table"));
}

#[tokio::test]
async fn an_approval_codepipeline_no_longer_waits_for_is_marked_expired_with_410() {
    let world = World::new().await;
    let aws = MockedAws::failing_first(
        Some((
            400,
            "InvalidApprovalTokenException",
            "The approval request already received a response or has expired.",
        )),
        5,
    );
    let people = approvers(1);
    asked(&world, &aws, "", &people).await;
    let link = approval_link(&people[0]);
    assert_eq!(decide(&world, &aws, &link, "approve", "").await, 410);
    let loaded = world.store().load(&id_of(&link)).await.unwrap().unwrap();
    assert_eq!(loaded.status, Status::Expired);
}

#[tokio::test]
async fn two_of_three_approvers_approve_a_pipeline_once() {
    let world = World::new().await;
    let aws = MockedAws::accepting();
    let people = approvers(3);
    let custom = format!(
        r#"{{"approvers": {}, "requiredApprovals": 2}}"#,
        serde_json::json!(people)
    );
    let token = handle(
        &world.mocked_mailer_deps(&aws, &[]),
        &codepipeline_sns_event(&token(), &custom),
        now_secs(),
    )
    .await
    .unwrap();
    assert_eq!(token["sentTo"], 3);
    let links: Vec<String> = people.iter().map(|p| approval_link(p)).collect();
    assert_eq!(decide(&world, &aws, &links[2], "approve", "").await, 200);
    assert_eq!(
        aws.pipeline_results.lock().unwrap().len(),
        0,
        "one approval is not enough"
    );
    assert_eq!(decide(&world, &aws, &links[0], "approve", "").await, 200);
    let sent = aws.pipeline_results.lock().unwrap().clone();
    assert_eq!(sent.len(), 1);
    let summary = sent[0].result().unwrap().summary().to_string();
    assert!(
        summary.contains(&people[2]) && summary.contains(&people[0]),
        "{summary}"
    );
}

#[tokio::test]
async fn a_pipeline_approval_without_approvers_is_rejected_rather_than_left_waiting() {
    let world = World::new().await;
    let aws = MockedAws::accepting();
    let token = token();
    let err = handle(
        &world.mocked_mailer_deps(&aws, &[]),
        &codepipeline_sns_event(&token, "please review"),
        now_secs(),
    )
    .await
    .unwrap_err();
    assert_eq!(err.error_type, "ApprovalRequestInvalid");
    let sent = aws.pipeline_results.lock().unwrap().clone();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].token(), Some(token.as_str()));
    let result = sent[0].result().unwrap();
    assert_eq!(result.status(), &ApprovalStatus::Rejected);
    assert!(
        result.summary().contains("no approvers"),
        "{}",
        result.summary()
    );
}

/// Lambda's on-failure record for an approval-mailer invocation it gave up on.
fn gave_up_record(request: serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "version": "1.0",
        "timestamp": "2026-11-22T10:00:00.000Z",
        "requestContext": {
            "requestId": "e4b46cbf-b738-xmpl-8880-a18cdf61200e",
            "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:tollgate-approval-mailer:$LATEST",
            "condition": "RetriesExhausted",
            "approximateInvokeCount": 3
        },
        "requestPayload": request,
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": {"errorType": "ApprovalEmailRetry", "errorMessage": "1 of 2 approval emails sent; not yet: Throttling"}
    })
}

#[tokio::test]
async fn when_lambda_gives_up_on_the_mailer_the_pipeline_approval_is_rejected_naming_its_log_group()
{
    let world = World::new().await;
    let aws = MockedAws::accepting();
    let people = approvers(1);
    let custom = format!(r#"{{"approvers": ["{}"]}}"#, people[0]);
    let token = token();
    let event = codepipeline_sns_event(&token, &custom);
    handle(&world.mocked_mailer_deps(&aws, &[]), &event, now_secs())
        .await
        .expect("emails sent");
    let answer =
        approvals::api::mailer_gave_up(&world.mocked_api_deps(&aws), &gave_up_record(event))
            .await
            .expect("the workflow is failed");
    assert_eq!(answer["failedWorkflows"], 1);
    let sent = aws.pipeline_results.lock().unwrap().clone();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].token(), Some(token.as_str()));
    let result = sent[0].result().unwrap();
    assert_eq!(result.status(), &ApprovalStatus::Rejected);
    assert!(
        result
            .summary()
            .contains("/aws/lambda/tollgate-approval-mailer"),
        "{}",
        result.summary()
    );
    let link = approval_link(&people[0]);
    let loaded = world.store().load(&id_of(&link)).await.unwrap().unwrap();
    assert_eq!(loaded.status, Status::Withdrawn);
    assert!(approvals::api::is_mailer_failure(&gave_up_record(
        serde_json::json!({})
    )));
}

#[tokio::test]
async fn when_lambda_gives_up_on_a_step_functions_request_the_task_is_failed() {
    let world = World::new().await;
    let aws = MockedAws::accepting();
    let (token, input) = task_input(&approvers(1), 1);
    approvals::api::mailer_gave_up(&world.mocked_api_deps(&aws), &gave_up_record(input))
        .await
        .expect("the task is failed");
    let sent = aws.failures.lock().unwrap().clone();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].task_token(), Some(token.as_str()));
    assert_eq!(sent[0].error(), Some("ApprovalEmailNotSent"));
    assert!(sent[0].cause().unwrap().contains("RetriesExhausted"));
}
