//! `tollgate approvals list` and `show` end to end: approvals stored in the sandbox's DynamoDB
//! (moto) as approval-mailer and approval-api store them, read back by the binary.

use std::process::{Command, Output};

use approvals::groups::Quorum;
use approvals::model::{Approval, Choice, Decision, Status, Target, Vote};
use approvals::store::{ApprovalStore, now_secs};
use serde_json::Value;
use tollgate::state::DynamoStateStore;
use tollgate_tests::{create_state_table, moto_config, moto_endpoint};

fn tollgate(args: &[&str], table: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args(args)
        .env_clear()
        .env("HOME", std::env::temp_dir())
        .envs([
            ("TABLE_NAME", table),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_ENDPOINT_URL", moto_endpoint()),
            ("TOLLGATE_MAX_ATTEMPTS", "1"),
        ])
        .output()
        .expect("run tollgate")
}

fn approval(id: &str, created_at: i64) -> Approval {
    Approval {
        id: id.into(),
        target: Target::StepFunctions {
            task_token: format!("SECRET-TOKEN-{id}"),
        },
        approvers: vec!["alice@example.com".into(), "bob@example.com".into()],
        required_approvals: 1,
        quorum: Some(Quorum::Count(1)),
        membership: vec![],
        requested_by: Some("carol@example.com".into()),
        subject: format!("Release {id}"),
        summary: String::new(),
        details: vec![],
        links: vec![],
        created_at,
        expires_at: created_at + 86_400,
        decision: None,
        resumed_at: None,
        closed_reason: None,
    }
}

#[tokio::test]
async fn list_and_show_print_who_was_asked_who_decided_from_where_and_when_the_workflow_was_told() {
    let sdk = moto_config().await;
    let table = create_state_table(&aws_sdk_dynamodb::Client::new(&sdk)).await;
    let store = ApprovalStore::new(
        DynamoStateStore::new(aws_sdk_dynamodb::Client::new(&sdk), &table),
        std::time::Duration::from_secs(3600),
    );
    let now = now_secs();
    let decided = approval("AAAAAAAAAAAAAAAAAAAAA1", now - 600);
    let old = approval("AAAAAAAAAAAAAAAAAAAAA2", now - 20 * 86_400);
    assert!(store.create(&decided).await.unwrap());
    assert!(store.create(&old).await.unwrap());
    let vote = Vote {
        approver: "alice@example.com".into(),
        choice: Choice::Approve,
        comment: "change set reviewed".into(),
        at: now - 300,
        source_ip: Some("198.51.100.7".into()),
        user_agent: None,
    };
    let mut after = decided.clone();
    after.decision = Some(Decision {
        outcome: Choice::Approve,
        approver: vote.approver.clone(),
        approved_by: vec![vote.approver.clone()],
        comment: vote.comment.clone(),
        at: vote.at,
        progress: vec![],
    });
    store
        .vote(&decided, &vote, Status::Approved, Some(&after))
        .await
        .unwrap();
    after.resumed_at = Some(now - 299);
    store
        .transition(&after, Status::Approved, Status::Approved)
        .await
        .unwrap();

    let out = tollgate(&["approvals", "list", "--days", "7", "--json"], &table);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let ids: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        ["AAAAAAAAAAAAAAAAAAAAA1"],
        "the 20-day-old one is outside 7 days"
    );
    let out = tollgate(&["approvals", "list", "--days", "30"], &table);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("AAAAAAAAAAAAAAAAAAAAA2") && text.contains("APPROVED alice@example.com"),
        "{text}"
    );
    assert!(
        text.contains("2 approval(s) created in the last 30 day(s)."),
        "{text}"
    );

    let out = tollgate(
        &["approvals", "show", "AAAAAAAAAAAAAAAAAAAAA1", "--json"],
        &table,
    );
    let shown: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(
        shown["asked"],
        serde_json::json!(["alice@example.com", "bob@example.com"])
    );
    assert_eq!(shown["requestedBy"], "carol@example.com");
    assert_eq!(shown["votes"][0]["sourceIp"], "198.51.100.7");
    assert_eq!(shown["votes"][0]["comment"], "change set reviewed");
    assert_eq!(shown["decision"]["by"], "alice@example.com");
    assert!(shown["workflowToldAt"].as_str().unwrap().ends_with('Z'));
    let out = tollgate(&["approvals", "show", "AAAAAAAAAAAAAAAAAAAAA1"], &table);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("198.51.100.7") && text.contains("Workflow told: 20"),
        "{text}"
    );
    assert!(
        !text.contains("SECRET-TOKEN"),
        "the token is never printed: {text}"
    );

    let out = tollgate(&["approvals", "show", "nosuchid"], &table);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no approval"));
}
