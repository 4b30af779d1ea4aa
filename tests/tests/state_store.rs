//! The DynamoDB state store against a real moto server: conditional writes, transitions, TTL.

use std::time::{Duration, SystemTime};

use aws_sdk_dynamodb::types::{AttributeValue, TimeToLiveStatus};
use serde_json::json;
use tollgate::state::{
    DynamoStateStore, Record, StateError, StateStore, TTL_ATTRIBUTE, first_delivery,
};
use tollgate_tests::{create_state_table, moto_config};

async fn store() -> (DynamoStateStore, aws_sdk_dynamodb::Client, String) {
    let client = aws_sdk_dynamodb::Client::new(&moto_config().await);
    let table = create_state_table(&client).await;
    (DynamoStateStore::new(client.clone(), &table), client, table)
}

#[tokio::test]
async fn create_is_refused_for_an_existing_key_and_keeps_the_first_item() {
    let (store, _, _) = store().await;
    let first = Record::new("JOB#1", "DRIFT#a")
        .with_state("PENDING")
        .with_data(json!({"n": 1}));
    store.create(&first).await.unwrap();
    let second = Record::new("JOB#1", "DRIFT#a")
        .with_state("DONE")
        .with_data(json!({"n": 2}));
    assert_eq!(
        store.create(&second).await,
        Err(StateError::AlreadyExists {
            pk: "JOB#1".into(),
            sk: "DRIFT#a".into()
        })
    );
    assert_eq!(store.get("JOB#1", "DRIFT#a").await.unwrap(), Some(first));
}

#[tokio::test]
async fn transition_happens_once_and_a_second_one_reports_the_current_state() {
    let (store, _, _) = store().await;
    store
        .create(&Record::new("APPROVAL#x", "APPROVAL").with_state("PENDING"))
        .await
        .unwrap();
    store
        .transition(
            "APPROVAL#x",
            "APPROVAL",
            "PENDING",
            "APPROVED",
            Some(&json!({"by": "ana"})),
        )
        .await
        .unwrap();
    let again = store
        .transition("APPROVAL#x", "APPROVAL", "PENDING", "REJECTED", None)
        .await;
    assert_eq!(
        again,
        Err(StateError::TransitionNotAllowed {
            pk: "APPROVAL#x".into(),
            sk: "APPROVAL".into(),
            from: "PENDING".into(),
            to: "REJECTED".into(),
            current: Some("APPROVED".into()),
        })
    );
    let item = store.get("APPROVAL#x", "APPROVAL").await.unwrap().unwrap();
    assert_eq!(item.state.as_deref(), Some("APPROVED"));
    assert_eq!(item.data, json!({"by": "ana"}));
}

#[tokio::test]
async fn transition_of_a_missing_item_is_not_allowed_and_creates_nothing() {
    let (store, _, _) = store().await;
    let result = store
        .transition("JOB#none", "JOB", "PENDING", "DONE", None)
        .await;
    assert!(
        matches!(
            result,
            Err(StateError::TransitionNotAllowed { current: None, .. })
        ),
        "{result:?}"
    );
    assert_eq!(store.get("JOB#none", "JOB").await.unwrap(), None);
}

#[tokio::test]
async fn concurrent_transitions_let_exactly_one_writer_win() {
    let (store, _, _) = store().await;
    store
        .create(&Record::new("JOB#race", "JOB").with_state("PENDING"))
        .await
        .unwrap();
    let attempts = (0..8).map(|i| {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .transition(
                    "JOB#race",
                    "JOB",
                    "PENDING",
                    "REPORTED",
                    Some(&json!({"winner": i})),
                )
                .await
        })
    });
    let mut wins = 0;
    for attempt in attempts {
        if attempt.await.unwrap().is_ok() {
            wins += 1;
        }
    }
    assert_eq!(wins, 1);
}

#[tokio::test]
async fn duplicate_event_delivery_is_seen_once_even_when_concurrent() {
    let (store, _, _) = store().await;
    let now = SystemTime::now();
    let deliveries = (0..6).map(|_| {
        let store = store.clone();
        tokio::spawn(async move {
            first_delivery(&store, "evt-42", now, Duration::from_secs(86_400)).await
        })
    });
    let mut firsts = 0;
    for d in deliveries {
        if d.await.unwrap().unwrap() {
            firsts += 1;
        }
    }
    assert_eq!(firsts, 1);
    assert!(
        !first_delivery(&store, "evt-42", now, Duration::from_secs(60))
            .await
            .unwrap()
    );
    assert!(
        first_delivery(&store, "evt-43", now, Duration::from_secs(60))
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn expiry_is_written_as_a_number_in_the_tables_ttl_attribute() {
    let (store, client, table) = store().await;
    let now = SystemTime::now();
    let record = Record::new("EVENT#ttl", "EVENT").expiring_after(now, Duration::from_secs(3600));
    store.create(&record).await.unwrap();

    let ttl = client
        .describe_time_to_live()
        .table_name(&table)
        .send()
        .await
        .unwrap();
    let ttl = ttl.time_to_live_description().unwrap();
    assert_eq!(ttl.attribute_name(), Some(TTL_ATTRIBUTE));
    assert_eq!(ttl.time_to_live_status(), Some(&TimeToLiveStatus::Enabled));

    let raw = client
        .get_item()
        .table_name(&table)
        .key("pk", AttributeValue::S("EVENT#ttl".into()))
        .key("sk", AttributeValue::S("EVENT".into()))
        .send()
        .await
        .unwrap();
    let expires: i64 = raw.item().unwrap()[TTL_ATTRIBUTE]
        .as_n()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(expires, tollgate::state::epoch_seconds(now) + 3600);
}

#[tokio::test]
async fn query_returns_every_item_of_a_partition_in_sort_key_order() {
    let (store, _, _) = store().await;
    for sk in [
        "2026-11-22T10:00:00Z#b",
        "2026-11-22T09:00:00Z#a",
        "2026-11-22T11:00:00Z#c",
    ] {
        store.create(&Record::new("DEPLOY#app", sk)).await.unwrap();
    }
    store
        .create(&Record::new("DEPLOY#other", "x"))
        .await
        .unwrap();
    let sks: Vec<String> = store
        .query("DEPLOY#app")
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.sk)
        .collect();
    assert_eq!(
        sks,
        [
            "2026-11-22T09:00:00Z#a",
            "2026-11-22T10:00:00Z#b",
            "2026-11-22T11:00:00Z#c"
        ]
    );
}

#[tokio::test]
async fn missing_table_is_an_sdk_error_naming_the_problem() {
    let client = aws_sdk_dynamodb::Client::new(&moto_config().await);
    let store = DynamoStateStore::new(client, "no-such-table");
    match store.get("a", "b").await {
        Err(StateError::Sdk(message)) => {
            assert!(message.contains("ResourceNotFoundException"), "{message}")
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn delete_removes_an_item_and_deleting_again_is_fine() {
    let (store, _, _) = store().await;
    store
        .create(&Record::new("OPEN#drift", "job-1"))
        .await
        .unwrap();
    store.delete("OPEN#drift", "job-1").await.unwrap();
    assert_eq!(store.get("OPEN#drift", "job-1").await.unwrap(), None);
    store.delete("OPEN#drift", "job-1").await.unwrap();
}

#[tokio::test]
async fn write_all_applies_every_write_or_none() {
    use tollgate::state::Write;
    let (store, _, _) = store().await;
    store
        .create(&Record::new("JOB#t", "JOB").with_state("CLAIMED"))
        .await
        .unwrap();
    store
        .create(&Record::new("DRIFT#taken", "DRIFT"))
        .await
        .unwrap();

    // One create collides: nothing is written, and the error names the colliding key.
    let colliding = [
        Write::Create(Record::new("DRIFT#new", "DRIFT")),
        Write::Create(Record::new("DRIFT#taken", "DRIFT")),
        Write::Transition {
            pk: "JOB#t".into(),
            sk: "JOB".into(),
            from: "CLAIMED".into(),
            to: "PENDING".into(),
            data: None,
        },
    ];
    assert_eq!(
        store.write_all(&colliding).await,
        Err(StateError::AlreadyExists {
            pk: "DRIFT#taken".into(),
            sk: "DRIFT".into()
        })
    );
    assert_eq!(store.get("DRIFT#new", "DRIFT").await.unwrap(), None);
    assert_eq!(
        store
            .get("JOB#t", "JOB")
            .await
            .unwrap()
            .unwrap()
            .state
            .as_deref(),
        Some("CLAIMED")
    );

    // Without the collision every write lands.
    store
        .write_all(&[colliding[0].clone(), colliding[2].clone()])
        .await
        .unwrap();
    assert!(store.get("DRIFT#new", "DRIFT").await.unwrap().is_some());
    assert_eq!(
        store
            .get("JOB#t", "JOB")
            .await
            .unwrap()
            .unwrap()
            .state
            .as_deref(),
        Some("PENDING")
    );

    // A transition from the wrong state fails the whole transaction.
    let stale = [
        Write::Create(Record::new("DRIFT#other", "DRIFT")),
        Write::Transition {
            pk: "JOB#t".into(),
            sk: "JOB".into(),
            from: "CLAIMED".into(),
            to: "PENDING".into(),
            data: None,
        },
    ];
    assert!(matches!(
        store.write_all(&stale).await,
        Err(StateError::TransitionNotAllowed { .. })
    ));
    assert_eq!(store.get("DRIFT#other", "DRIFT").await.unwrap(), None);
}
