//! What Step Functions is told, and what happens when it refuses: the real SDK client answered
//! by `aws-smithy-mocks` as AWS documents SendTaskSuccess / SendTaskFailure, with the approval,
//! the email and the page on the sandbox (moto's DynamoDB, SES and Secrets Manager).

mod support;

use approvals::api::respond;
use approvals::mailer::handle;
use approvals::model::Status;
use approvals::store::now_secs;
use support::*;

/// Runs the mailer for a task whose token is 2,048 characters, and opens the approver's page.
async fn asked(world: &World, aws: &MockedAws) -> (String, String, Vec<String>) {
    let people = approvers(1);
    let (token, input) = task_input(&people, 1);
    handle(&world.mocked_mailer_deps(aws, &[]), &input, now_secs())
        .await
        .expect("emails sent");
    (token, approval_link(&people[0]), people)
}

async fn decide(
    world: &World,
    aws: &MockedAws,
    link: &str,
    decision: &str,
    comment: &str,
) -> (u16, String) {
    let deps = world.mocked_api_deps(aws);
    let page = respond(&deps, &get(link), now_secs()).await;
    assert_eq!(page.status, 200, "{}", page.html);
    let reply = respond(
        &deps,
        &post(link, &form_fields(&page.html, decision), comment),
        now_secs(),
    )
    .await;
    (reply.status, reply.html)
}

async fn status_of(world: &World, link: &str) -> Status {
    world
        .store()
        .load(&id_of(link))
        .await
        .unwrap()
        .unwrap()
        .status
}

#[tokio::test]
async fn approval_sends_task_success_with_decision_approver_comment_and_time_for_the_full_token() {
    let world = World::new().await;
    let aws = MockedAws::accepting();
    let (token, link, people) = asked(&world, &aws).await;
    assert!(!link.contains(&token[..40]), "the token is not in the link");
    let (status, _) = decide(&world, &aws, &link, "approve", "ship it").await;
    assert_eq!(status, 200);
    let sent = aws.successes.lock().unwrap().clone();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].task_token(), Some(token.as_str()));
    let output: serde_json::Value = serde_json::from_str(sent[0].output().unwrap()).unwrap();
    assert_eq!(output["decision"], "APPROVED");
    assert_eq!(output["approver"], people[0].as_str());
    assert_eq!(output["comment"], "ship it");
    assert!(output["time"].as_str().unwrap().ends_with('Z'));
}

#[tokio::test]
async fn rejection_sends_task_failure_approval_rejected_with_the_reason_as_cause() {
    let world = World::new().await;
    let aws = MockedAws::accepting();
    let (token, link, people) = asked(&world, &aws).await;
    let (status, _) = decide(&world, &aws, &link, "reject", "p99 latency regressed").await;
    assert_eq!(status, 200);
    let sent = aws.failures.lock().unwrap().clone();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].task_token(), Some(token.as_str()));
    assert_eq!(sent[0].error(), Some("ApprovalRejected"));
    let cause = sent[0].cause().unwrap();
    assert!(
        cause.starts_with("p99 latency regressed") && cause.contains(&people[0]),
        "{cause}"
    );
}

#[tokio::test]
async fn a_task_that_timed_out_marks_the_approval_expired_with_410() {
    for (code, message) in [
        (
            "TaskTimedOut",
            "Task Timed Out: 'Provided task has timed out'",
        ),
        ("TaskDoesNotExist", "Task does not exist anymore"),
        ("InvalidToken", "Invalid Token: 'Invalid token'"),
    ] {
        let world = World::new().await;
        let aws = MockedAws::failing_first(Some((400, code, message)), 5);
        let (_, link, _) = asked(&world, &aws).await;
        let (status, html) = decide(&world, &aws, &link, "approve", "").await;
        assert_eq!(status, 410, "{code}: {html}");
        assert!(html.contains(code), "{html}");
        assert_eq!(status_of(&world, &link).await, Status::Expired, "{code}");
        let again = respond(&world.mocked_api_deps(&aws), &get(&link), now_secs()).await;
        assert_eq!(again.status, 410);
    }
}

#[tokio::test]
async fn throttling_after_every_retry_keeps_the_decision_and_offers_a_retry_that_resumes_once() {
    let world = World::new().await;
    // Three attempts (the retry policy) all throttled, then Step Functions accepts.
    let aws = MockedAws::failing_first(Some((400, "ThrottlingException", "Rate exceeded")), 3);
    let (_, link, _) = asked(&world, &aws).await;
    let deps = world.mocked_api_deps(&aws);
    let page = respond(&deps, &get(&link), now_secs()).await;
    let first = respond(
        &deps,
        &post(&link, &form_fields(&page.html, "approve"), ""),
        now_secs(),
    )
    .await;
    assert_eq!(first.status, 502, "{}", first.html);
    assert!(first.html.contains("Deliver now"));
    assert_eq!(status_of(&world, &link).await, Status::Approved);
    assert_eq!(aws.calls(), 0);
    let retry = respond(
        &deps,
        &post(&link, &form_fields(&first.html, "deliver"), ""),
        now_secs(),
    )
    .await;
    assert_eq!(retry.status, 200, "{}", retry.html);
    assert_eq!(aws.successes.lock().unwrap().len(), 1);
    let later = respond(
        &deps,
        &post(&link, &form_fields(&first.html, "deliver"), ""),
        now_secs(),
    )
    .await;
    assert_eq!(later.status, 409);
    assert_eq!(aws.successes.lock().unwrap().len(), 1, "told once");
}

#[tokio::test]
async fn an_unusable_task_input_fails_the_task_at_once() {
    let world = World::new().await;
    let aws = MockedAws::accepting();
    let (token, mut input) = task_input(&approvers(1), 1);
    input["approvers"] = serde_json::json!(["release managers"]);
    let err = handle(&world.mocked_mailer_deps(&aws, &[]), &input, now_secs())
        .await
        .unwrap_err();
    assert_eq!(err.error_type, "ApprovalRequestInvalid");
    let sent = aws.failures.lock().unwrap().clone();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].task_token(), Some(token.as_str()));
    assert_eq!(sent[0].error(), Some("ApprovalRequestInvalid"));
    assert!(sent[0].cause().unwrap().contains("not an email address"));
}
