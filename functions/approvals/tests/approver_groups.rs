//! Who may approve is fixed at deploy time: approver groups, quorums per group and no
//! self-approval, on the sandbox (Step Functions really waits in moto's executing mode; SES,
//! Secrets Manager and DynamoDB are moto's).

mod support;

use approvals::api::respond;
use approvals::mailer::handle;
use approvals::model::Status;
use approvals::store::now_secs;
use serde_json::json;
use support::*;
use tollgate_tests::unique;

/// Opens the link's page and presses `decision`: the reply's status and page.
async fn press(world: &World, link: &str, decision: &str, comment: &str) -> (u16, String) {
    let deps = world.api_deps();
    let page = respond(&deps, &get(link), now_secs()).await;
    assert_eq!(page.status, 200, "{}", page.html);
    let fields = form_fields(&page.html, decision);
    let reply = respond(&deps, &post(link, &fields, comment), now_secs()).await;
    (reply.status, reply.html)
}

#[tokio::test]
async fn an_out_of_group_address_refuses_the_request_with_no_email_and_fails_the_task() {
    let world = World::new().await;
    let members = approvers(1);
    let outsider = format!("{}@example.com", unique("outsider").replace('-', ""));
    let (execution, task_input) = world
        .start(release_input(&[members[0].clone(), outsider.clone()], 1))
        .await;
    let err = handle(&world.mailer_deps(SENDER), &task_input, now_secs())
        .await
        .expect_err("an address outside every group is refused");
    assert_eq!(err.error_type, "ApprovalRequestInvalid");
    assert!(
        err.error_message.contains(&outsider) && err.error_message.contains("ApproverGroups"),
        "{}",
        err.error_message
    );
    let (state, _, error, _) = world.finished(&execution).await;
    assert_eq!(
        (state.as_str(), error.as_str()),
        ("FAILED", "ApprovalRequestInvalid")
    );
    assert!(emails_to(&outsider).is_empty());
    assert!(
        emails_to(&members[0]).is_empty(),
        "nobody is emailed for a refused request"
    );
}

#[tokio::test]
async fn an_unknown_group_refuses_the_request_with_no_email() {
    let world = World::new().await;
    let members = approvers(1);
    let (execution, mut task_input) = world.start(release_input(&members, 1)).await;
    task_input["approvers"] = json!(["group:no-such-group", members[0]]);
    let err = handle(&world.mailer_deps(SENDER), &task_input, now_secs())
        .await
        .expect_err("an unknown group is refused");
    assert!(
        err.error_message.contains("group:no-such-group")
            && err.error_message.contains("ApproverGroups"),
        "{}",
        err.error_message
    );
    let (state, _, error, _) = world.finished(&execution).await;
    assert_eq!(
        (state.as_str(), error.as_str()),
        ("FAILED", "ApprovalRequestInvalid")
    );
    assert!(emails_to(&members[0]).is_empty());
}

#[tokio::test]
async fn a_group_quorum_with_an_overlapping_member_needs_a_second_person() {
    let world = World::new().await;
    // release: [release_only, both]; security: [both, security_only].
    let people = approvers(3);
    let (release_only, both, security_only) = (&people[0], &people[1], &people[2]);
    let security = unique("security").replace('-', "");
    declare_group(&security, &[both.clone(), security_only.clone()]);
    let mut input = release_input(&[], 1);
    input["approvers"] = json!([release_only, both, format!("group:{security}")]);
    input["requiredApprovals"] = json!({"release": 1, security.clone(): 1});
    let (execution, task_input) = world.start(input).await;
    let answer = handle(&world.mailer_deps(SENDER), &task_input, now_secs())
        .await
        .expect("emails sent");
    assert_eq!(answer["sentTo"], 3, "one email per person, {both} once");
    assert_eq!(emails_to(both).len(), 1);
    let both_link = approval_link(both);
    let (status, html) = press(&world, &both_link, "approve", "fine by me").await;
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains("The release waits for 1 more from"),
        "one person fills one group only: {html}"
    );
    assert_eq!(world.status(&execution).await, "RUNNING");
    // The page shows progress per group.
    let page = respond(
        &world.api_deps(),
        &get(&approval_link(release_only)),
        now_secs(),
    )
    .await;
    assert!(
        page.html.contains(&format!("Group {security}")) && page.html.contains("Group release"),
        "{}",
        page.html
    );
    let (status, html) = press(&world, &approval_link(release_only), "approve", "").await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("Per group:"), "{html}");
    let (state, output, _, _) = world.finished(&execution).await;
    assert_eq!(state, "SUCCEEDED");
    let progress = &output["approval"]["progress"];
    assert_eq!(
        progress,
        &json!([
            {"group": "release", "required": 1, "approvedBy": [release_only]},
            {"group": security, "required": 1, "approvedBy": [both]},
        ]),
        "{output}"
    );
}

#[tokio::test]
async fn the_requester_gets_no_link_and_the_others_decide() {
    let world = World::new().await;
    let people = approvers(2);
    let (execution, mut task_input) = world.start(release_input(&people, 1)).await;
    task_input["requestedBy"] = json!(people[0].to_uppercase());
    let answer = handle(&world.mailer_deps(SENDER), &task_input, now_secs())
        .await
        .expect("emails sent to the other approver");
    assert_eq!(answer["sentTo"], 1);
    assert!(
        emails_to(&people[0]).is_empty(),
        "no link for the requester"
    );
    let link = approval_link(&people[1]);
    let loaded = world.store().load(&id_of(&link)).await.unwrap().unwrap();
    assert_eq!(
        loaded.approval.requested_by.as_deref(),
        Some(people[0].as_str())
    );
    assert!(!loaded.approval.has_approver(&people[0]));
    assert_eq!(press(&world, &link, "approve", "").await.0, 200);
    let (state, output, _, _) = world.finished(&execution).await;
    assert_eq!(state, "SUCCEEDED");
    assert_eq!(output["approval"]["approver"], people[1].as_str());
}

#[tokio::test]
async fn a_self_approval_the_quorum_needs_is_refused_at_once_with_no_email() {
    let world = World::new().await;
    let people = approvers(2);
    let (execution, mut task_input) = world.start(release_input(&people, 2)).await;
    task_input["requestedBy"] = json!(people[1]);
    let err = handle(&world.mailer_deps(SENDER), &task_input, now_secs())
        .await
        .expect_err("without the requester, 2 approvals cannot be reached");
    assert_eq!(err.error_type, "ApprovalRequestInvalid");
    assert!(
        err.error_message.contains("left out") && err.error_message.contains("AllowSelfApproval"),
        "{}",
        err.error_message
    );
    let (state, _, error, _) = world.finished(&execution).await;
    assert_eq!(
        (state.as_str(), error.as_str()),
        ("FAILED", "ApprovalRequestInvalid")
    );
    assert!(emails_to(&people[0]).is_empty() && emails_to(&people[1]).is_empty());
}

#[tokio::test]
async fn allow_self_approval_lets_the_requester_approve() {
    let world = World::new().await;
    let people = approvers(1);
    let (execution, mut task_input) = world.start(release_input(&people, 1)).await;
    task_input["requestedBy"] = json!(people[0]);
    let mut deps = world.mailer_deps(SENDER);
    deps.settings.policy.allow_self_approval = true;
    handle(&deps, &task_input, now_secs()).await.expect("sent");
    let link = approval_link(&people[0]);
    assert_eq!(press(&world, &link, "approve", "").await.0, 200);
    assert_eq!(world.finished(&execution).await.0, "SUCCEEDED");
    let loaded = world.store().load(&id_of(&link)).await.unwrap().unwrap();
    assert_eq!(loaded.status, Status::Approved);
}
