//! The state store: one DynamoDB table (`pk`/`sk`, TTL attribute `expires_at`) with conditional writes.

use std::collections::HashMap;
use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::Value;

use crate::aws::error_text;

/// The TTL attribute DynamoDB expires items by (epoch seconds).
pub const TTL_ATTRIBUTE: &str = "expires_at";

/// One item of the state table.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub pk: String,
    pub sk: String,
    /// The item's lifecycle state (`PENDING`, `APPROVED`, ...), for conditional transitions.
    pub state: Option<String>,
    /// Free-form JSON payload.
    pub data: Value,
    /// When DynamoDB may delete the item (epoch seconds).
    pub expires_at: Option<i64>,
}

impl Record {
    pub fn new(pk: impl Into<String>, sk: impl Into<String>) -> Self {
        Record {
            pk: pk.into(),
            sk: sk.into(),
            state: None,
            data: Value::Null,
            expires_at: None,
        }
    }

    pub fn with_state(mut self, state: impl Into<String>) -> Self {
        self.state = Some(state.into());
        self
    }

    pub fn with_data(mut self, data: Value) -> Self {
        self.data = data;
        self
    }

    /// Expire `ttl` after `now`.
    pub fn expiring_after(mut self, now: SystemTime, ttl: Duration) -> Self {
        self.expires_at = Some(epoch_seconds(now + ttl));
        self
    }
}

/// Seconds since the Unix epoch (0 for times before it).
pub fn epoch_seconds(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// State store failures; the first two are the expected outcomes of a conditional write.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StateError {
    #[error("{pk}/{sk} already exists")]
    AlreadyExists { pk: String, sk: String },
    #[error("{pk}/{sk} cannot move from {from} to {to}: it is {}", current.as_deref().unwrap_or("absent"))]
    TransitionNotAllowed {
        pk: String,
        sk: String,
        from: String,
        to: String,
        current: Option<String>,
    },
    /// DynamoDB cancelled the write because another request was changing the same item at the
    /// same moment (a transaction's `TransactionConflict` reason, or `TransactionConflictException`
    /// for a single write). Nothing was written; re-read the item to see who won.
    #[error("the state table write collided with a concurrent write of the same item")]
    TransactionConflict,
    #[error("state item {pk}/{sk} is corrupt: {reason}")]
    Corrupt {
        pk: String,
        sk: String,
        reason: String,
    },
    #[error("state table call failed: {0}")]
    Sdk(String),
}

/// One write of an all-or-nothing [`StateStore::write_all`].
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    /// Put the record only if no item has its key.
    Create(Record),
    /// Move an item from state `from` to `to` (optionally replacing its data) only if it is in `from`.
    Transition {
        pk: String,
        sk: String,
        from: String,
        to: String,
        data: Option<Value>,
    },
}

impl Write {
    fn key(&self) -> (&str, &str) {
        match self {
            Write::Create(r) => (&r.pk, &r.sk),
            Write::Transition { pk, sk, .. } => (pk, sk),
        }
    }

    /// The error for this write's condition failing.
    fn conflict(&self) -> StateError {
        match self {
            Write::Create(r) => StateError::AlreadyExists {
                pk: r.pk.clone(),
                sk: r.sk.clone(),
            },
            Write::Transition {
                pk, sk, from, to, ..
            } => StateError::TransitionNotAllowed {
                pk: pk.clone(),
                sk: sk.clone(),
                from: from.clone(),
                to: to.clone(),
                current: None,
            },
        }
    }
}

/// An inclusive range of sort keys, for [`StateStore::query_range`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SkRange<'a> {
    pub from: &'a str,
    pub to: &'a str,
}

impl SkRange<'_> {
    /// Whether `sk` is within the range (byte order, as DynamoDB compares strings).
    pub fn contains(&self, sk: &str) -> bool {
        self.from <= sk && sk <= self.to
    }
}

/// What Tollgate needs from its state table.
pub trait StateStore: Send + Sync {
    /// Writes `record` only if no item has its key.
    fn create(&self, record: &Record) -> impl Future<Output = Result<(), StateError>> + Send;
    /// Moves an item from state `from` to state `to` (optionally replacing its data), only if it
    /// is in `from` now.
    fn transition(
        &self,
        pk: &str,
        sk: &str,
        from: &str,
        to: &str,
        data: Option<&Value>,
    ) -> impl Future<Output = Result<(), StateError>> + Send;
    fn get(
        &self,
        pk: &str,
        sk: &str,
    ) -> impl Future<Output = Result<Option<Record>, StateError>> + Send;
    /// Every item under `pk`, in `sk` order.
    fn query(&self, pk: &str) -> impl Future<Output = Result<Vec<Record>, StateError>> + Send;
    /// The items under `pk` whose `sk` is within `range` (both ends inclusive), in `sk` order
    /// (newest first when `reverse`), at most `limit` of them: one bounded read, whatever else
    /// the partition holds. The default filters [`StateStore::query`]; the DynamoDB store issues
    /// one `Query` with `BETWEEN`, `ScanIndexForward` and `Limit`.
    fn query_range(
        &self,
        pk: &str,
        range: SkRange<'_>,
        limit: Option<usize>,
        reverse: bool,
    ) -> impl Future<Output = Result<Vec<Record>, StateError>> + Send {
        async move {
            let mut records: Vec<Record> = self
                .query(pk)
                .await?
                .into_iter()
                .filter(|r| range.contains(&r.sk))
                .collect();
            if reverse {
                records.reverse();
            }
            if let Some(limit) = limit {
                records.truncate(limit);
            }
            Ok(records)
        }
    }
    /// Applies every write or none (one DynamoDB transaction, at most 100 writes). When a
    /// condition fails, the error is that write's ([`StateError::AlreadyExists`] or
    /// [`StateError::TransitionNotAllowed`], without the current state); when DynamoDB cancels
    /// it because of a concurrent write of the same items, [`StateError::TransactionConflict`].
    fn write_all(&self, writes: &[Write]) -> impl Future<Output = Result<(), StateError>> + Send;
    /// Removes an item; removing one that is not there is not an error.
    fn delete(&self, pk: &str, sk: &str) -> impl Future<Output = Result<(), StateError>> + Send;
}

/// Records `event_id` as seen. Returns true on its first delivery, false on a duplicate.
pub async fn first_delivery(
    store: &impl StateStore,
    event_id: &str,
    now: SystemTime,
    ttl: Duration,
) -> Result<bool, StateError> {
    let record = Record::new(format!("EVENT#{event_id}"), "EVENT").expiring_after(now, ttl);
    match store.create(&record).await {
        Ok(()) => Ok(true),
        Err(StateError::AlreadyExists { .. }) => Ok(false),
        Err(e) => Err(e),
    }
}

/// The production [`StateStore`] on DynamoDB.
#[derive(Debug, Clone)]
pub struct DynamoStateStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl DynamoStateStore {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }
}

fn sdk_error<E>(err: SdkError<E>) -> StateError
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
{
    StateError::Sdk(error_text(&err))
}

fn is_condition_failure<E>(err: &SdkError<E>) -> bool
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata,
{
    err.as_service_error()
        .and_then(|e| e.code())
        .is_some_and(|code| code == "ConditionalCheckFailedException")
}

fn is_transaction_conflict<E>(err: &SdkError<E>) -> bool
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata,
{
    err.as_service_error()
        .and_then(|e| e.code())
        .is_some_and(|code| code == "TransactionConflictException")
}

/// The update expression, names and values of a conditional state transition.
struct TransitionUpdate {
    expression: &'static str,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl TransitionUpdate {
    const CONDITION: &'static str = "#state = :from";

    fn new(from: &str, to: &str, data: Option<&Value>) -> Self {
        let mut names = HashMap::from([("#state".to_string(), "state".to_string())]);
        let mut values = HashMap::from([
            (":from".to_string(), AttributeValue::S(from.to_string())),
            (":to".to_string(), AttributeValue::S(to.to_string())),
        ]);
        let expression = match data {
            Some(data) => {
                names.insert("#data".into(), "data".into());
                values.insert(":data".into(), AttributeValue::S(data.to_string()));
                "SET #state = :to, #data = :data"
            }
            None => "SET #state = :to",
        };
        TransitionUpdate {
            expression,
            names,
            values,
        }
    }
}

fn to_item(record: &Record) -> HashMap<String, AttributeValue> {
    let mut item = HashMap::from([
        ("pk".to_string(), AttributeValue::S(record.pk.clone())),
        ("sk".to_string(), AttributeValue::S(record.sk.clone())),
    ]);
    if let Some(state) = &record.state {
        item.insert("state".into(), AttributeValue::S(state.clone()));
    }
    if !record.data.is_null() {
        item.insert("data".into(), AttributeValue::S(record.data.to_string()));
    }
    if let Some(expires) = record.expires_at {
        item.insert(TTL_ATTRIBUTE.into(), AttributeValue::N(expires.to_string()));
    }
    item
}

fn from_item(item: &HashMap<String, AttributeValue>) -> Result<Record, StateError> {
    let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
    let pk = text("pk").unwrap_or_default();
    let sk = text("sk").unwrap_or_default();
    let corrupt = |reason: String| StateError::Corrupt {
        pk: pk.clone(),
        sk: sk.clone(),
        reason,
    };
    let data = match text("data") {
        Some(json) => serde_json::from_str(&json).map_err(|e| corrupt(format!("data: {e}")))?,
        None => Value::Null,
    };
    let expires_at = match item.get(TTL_ATTRIBUTE).map(|v| v.as_n()) {
        None => None,
        Some(Ok(n)) => Some(
            n.parse()
                .map_err(|e| corrupt(format!("{TTL_ATTRIBUTE}: {e}")))?,
        ),
        Some(Err(_)) => return Err(corrupt(format!("{TTL_ATTRIBUTE} is not a number"))),
    };
    Ok(Record {
        state: text("state"),
        data,
        expires_at,
        pk,
        sk,
    })
}

impl StateStore for DynamoStateStore {
    async fn create(&self, record: &Record) -> Result<(), StateError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(record)))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failure(&e) => Err(StateError::AlreadyExists {
                pk: record.pk.clone(),
                sk: record.sk.clone(),
            }),
            Err(e) if is_transaction_conflict(&e) => Err(StateError::TransactionConflict),
            Err(e) => Err(sdk_error(e)),
        }
    }

    async fn transition(
        &self,
        pk: &str,
        sk: &str,
        from: &str,
        to: &str,
        data: Option<&Value>,
    ) -> Result<(), StateError> {
        let t = TransitionUpdate::new(from, to, data);
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(pk.to_string()))
            .key("sk", AttributeValue::S(sk.to_string()))
            .condition_expression(TransitionUpdate::CONDITION)
            .update_expression(t.expression)
            .set_expression_attribute_names(Some(t.names))
            .set_expression_attribute_values(Some(t.values));
        match update.send().await {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failure(&e) => {
                let current = self.get(pk, sk).await?.and_then(|r| r.state);
                Err(StateError::TransitionNotAllowed {
                    pk: pk.to_string(),
                    sk: sk.to_string(),
                    from: from.to_string(),
                    to: to.to_string(),
                    current,
                })
            }
            Err(e) if is_transaction_conflict(&e) => Err(StateError::TransactionConflict),
            Err(e) => Err(sdk_error(e)),
        }
    }

    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Record>, StateError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(pk.to_string()))
            .key("sk", AttributeValue::S(sk.to_string()))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_error)?;
        out.item().map(from_item).transpose()
    }

    async fn write_all(&self, writes: &[Write]) -> Result<(), StateError> {
        use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
        use aws_sdk_dynamodb::types::{Put, TransactWriteItem, Update};
        let build_error =
            |e: aws_smithy_types::error::operation::BuildError| StateError::Sdk(e.to_string());
        let mut items = Vec::with_capacity(writes.len());
        for write in writes {
            let item = match write {
                Write::Create(record) => TransactWriteItem::builder()
                    .put(
                        Put::builder()
                            .table_name(&self.table)
                            .set_item(Some(to_item(record)))
                            .condition_expression("attribute_not_exists(pk)")
                            .build()
                            .map_err(build_error)?,
                    )
                    .build(),
                Write::Transition {
                    pk,
                    sk,
                    from,
                    to,
                    data,
                } => {
                    let t = TransitionUpdate::new(from, to, data.as_ref());
                    let update = Update::builder()
                        .table_name(&self.table)
                        .key("pk", AttributeValue::S(pk.clone()))
                        .key("sk", AttributeValue::S(sk.clone()))
                        .condition_expression(TransitionUpdate::CONDITION)
                        .update_expression(t.expression)
                        .set_expression_attribute_names(Some(t.names))
                        .set_expression_attribute_values(Some(t.values))
                        .build()
                        .map_err(build_error)?;
                    TransactWriteItem::builder().update(update).build()
                }
            };
            items.push(item);
        }
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => {
                if let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) =
                    e.as_service_error()
                {
                    let failed = cancelled
                        .cancellation_reasons()
                        .iter()
                        .position(|r| r.code() == Some("ConditionalCheckFailed"));
                    if let Some(write) = failed.and_then(|i| writes.get(i)) {
                        tracing::debug!(key = ?write.key(), "transaction condition failed");
                        return Err(write.conflict());
                    }
                    // Another request was writing one of these items at the same moment (a
                    // concurrent transaction): not a failed condition, and nothing was written.
                    if cancelled
                        .cancellation_reasons()
                        .iter()
                        .any(|r| r.code() == Some("TransactionConflict"))
                    {
                        tracing::debug!("transaction cancelled by a concurrent write");
                        return Err(StateError::TransactionConflict);
                    }
                }
                Err(sdk_error(e))
            }
        }
    }

    async fn delete(&self, pk: &str, sk: &str) -> Result<(), StateError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(pk.to_string()))
            .key("sk", AttributeValue::S(sk.to_string()))
            .send()
            .await
            .map(drop)
            .map_err(sdk_error)
    }

    async fn query_range(
        &self,
        pk: &str,
        range: SkRange<'_>,
        limit: Option<usize>,
        reverse: bool,
    ) -> Result<Vec<Record>, StateError> {
        let mut records = Vec::new();
        let mut start = None;
        loop {
            let want = limit.map(|l| l.saturating_sub(records.len()));
            if want == Some(0) {
                break;
            }
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND sk BETWEEN :from AND :to")
                .expression_attribute_values(":pk", AttributeValue::S(pk.to_string()))
                .expression_attribute_values(":from", AttributeValue::S(range.from.to_string()))
                .expression_attribute_values(":to", AttributeValue::S(range.to.to_string()))
                .scan_index_forward(!reverse)
                .set_limit(want.map(|w| i32::try_from(w).unwrap_or(i32::MAX)))
                .set_exclusive_start_key(start.take())
                .consistent_read(true)
                .send()
                .await
                .map_err(sdk_error)?;
            for item in page.items() {
                records.push(from_item(item)?);
            }
            match page.last_evaluated_key() {
                Some(key) if !key.is_empty() => start = Some(key.clone()),
                _ => break,
            }
        }
        Ok(records)
    }

    async fn query(&self, pk: &str) -> Result<Vec<Record>, StateError> {
        let mut records = Vec::new();
        let mut pages = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", AttributeValue::S(pk.to_string()))
            .consistent_read(true)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            for item in page.map_err(sdk_error)?.items() {
                records.push(from_item(item)?);
            }
        }
        Ok(records)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_round_trips_through_a_dynamodb_item() {
        let record = Record::new("JOB#1", "DRIFT#a")
            .with_state("PENDING")
            .with_data(serde_json::json!({"stacks": ["app"]}))
            .expiring_after(UNIX_EPOCH, Duration::from_secs(3600));
        let item = to_item(&record);
        assert_eq!(item[TTL_ATTRIBUTE], AttributeValue::N("3600".into()));
        assert_eq!(from_item(&item).unwrap(), record);
    }

    #[test]
    fn corrupt_data_is_reported_not_panicked_on() {
        let mut item = to_item(&Record::new("A", "B"));
        item.insert("data".into(), AttributeValue::S("{not json".into()));
        assert!(matches!(from_item(&item), Err(StateError::Corrupt { .. })));
    }
}
