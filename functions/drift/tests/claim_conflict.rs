//! Claiming a job against the real DynamoDB client, answered as DynamoDB documents a transaction
//! cancelled by a concurrent write (`TransactionCanceledException` with the reason
//! `TransactionConflict`) or by a failed condition (`ConditionalCheckFailed`).

use std::time::SystemTime;

use aws_sdk_dynamodb::operation::get_item::GetItemOutput;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsOutput;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use drift::records::{self, Claim, JobData};
use tollgate::state::DynamoStateStore;
use tollgate::testing::HttpResponse;

/// TransactWriteItems cancelled, as DynamoDB answers it (awsJson1_0): one reason per write.
fn cancelled(reasons: &[(&str, &str)]) -> HttpResponse {
    let codes: Vec<&str> = reasons.iter().map(|(code, _)| *code).collect();
    let body = serde_json::json!({
        "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
        "Message": format!(
            "Transaction cancelled, please refer cancellation reasons for specific reasons [{}]",
            codes.join(", ")
        ),
        "CancellationReasons": reasons
            .iter()
            .map(|(code, message)| if message.is_empty() {
                serde_json::json!({ "Code": code })
            } else {
                serde_json::json!({ "Code": code, "Message": message })
            })
            .collect::<Vec<_>>(),
    });
    let mut response = HttpResponse::new(
        400u16.try_into().expect("400 is a status"),
        aws_smithy_types::body::SdkBody::from(body.to_string()),
    );
    response
        .headers_mut()
        .insert("Content-Type", "application/x-amz-json-1.0");
    response
        .headers_mut()
        .insert("x-amzn-ErrorType", "TransactionCanceledException");
    response
}

fn store(rules: &[&Rule]) -> DynamoStateStore {
    let client = mock_client!(
        aws_sdk_dynamodb,
        RuleMode::Sequential,
        rules.iter().copied(),
        |c| c.retry_config(tollgate::testing::fast_retries())
    );
    DynamoStateStore::new(client, "tollgate-state")
}

fn data() -> JobData {
    JobData {
        params: drift::params::parse(Some(r#"{"stacks":["orders-api"]}"#), &Default::default())
            .expect("params"),
        started_at: 1_795_000_000,
        missing: vec![],
        verdict: None,
        lease: None,
    }
}

#[tokio::test]
async fn a_claim_cancelled_by_a_concurrent_claim_re_reads_the_job_and_steps_back() {
    let conflict = mock!(aws_sdk_dynamodb::Client::transact_write_items).then_http_response(|| {
        cancelled(&[
            ("TransactionConflict", "Transaction is ongoing for the item"),
            ("None", ""),
        ])
    });
    let claimed_by_other = mock!(aws_sdk_dynamodb::Client::get_item)
        .match_requests(|r| {
            r.key().and_then(|k| k.get("pk")) == Some(&AttributeValue::S("JOB#job-1".into()))
                && r.consistent_read() == Some(true)
        })
        .then_output(|| {
            GetItemOutput::builder()
                .item("pk", AttributeValue::S("JOB#job-1".into()))
                .item("sk", AttributeValue::S("JOB".into()))
                .item("state", AttributeValue::S("CLAIMED".into()))
                .build()
        });
    let store = store(&[&conflict, &claimed_by_other]);
    let claim = records::claim_job(&store, "job-1", &data(), SystemTime::now())
        .await
        .unwrap();
    assert_eq!(claim, Claim::Taken);
    assert_eq!(conflict.num_calls(), 1, "a conflict is not retried blindly");
    assert_eq!(claimed_by_other.num_calls(), 1);
}

#[tokio::test]
async fn a_claim_cancelled_by_a_conflict_with_no_claim_behind_it_is_made_once_more() {
    let conflict = mock!(aws_sdk_dynamodb::Client::transact_write_items).then_http_response(|| {
        cancelled(&[
            ("None", ""),
            ("TransactionConflict", "Transaction is ongoing for the item"),
        ])
    });
    let nothing_there =
        mock!(aws_sdk_dynamodb::Client::get_item).then_output(|| GetItemOutput::builder().build());
    let claimed = mock!(aws_sdk_dynamodb::Client::transact_write_items)
        .then_output(|| TransactWriteItemsOutput::builder().build());
    let store = store(&[&conflict, &nothing_there, &claimed]);
    let claim = records::claim_job(&store, "job-1", &data(), SystemTime::now())
        .await
        .unwrap();
    assert_eq!(claim, Claim::Claimed);
    assert_eq!(claimed.num_calls(), 1);
}

#[tokio::test]
async fn a_claim_whose_condition_failed_was_claimed_before_without_a_re_read() {
    let taken = mock!(aws_sdk_dynamodb::Client::transact_write_items).then_http_response(|| {
        cancelled(&[
            ("ConditionalCheckFailed", "The conditional request failed"),
            ("None", ""),
        ])
    });
    let store = store(&[&taken]);
    let claim = records::claim_job(&store, "job-1", &data(), SystemTime::now())
        .await
        .unwrap();
    assert_eq!(claim, Claim::Taken);
}
