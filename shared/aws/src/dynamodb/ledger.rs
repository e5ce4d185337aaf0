//! DynamoDB as the `Ledger`: `BatchGetItem` (consistent) for reads, one `TransactWriteItems` per
//! decision: the balance update conditioned on what the rules relied on, the authorization, the
//! original's update conditioned on its version, the idempotency record and both events, or nothing.
//!
//! A tracking record keeps a copy of its authorization while a settlement can act on it
//! ([`TRACKED_AUTHORIZATION`]), written with the authorization and replaced in the same transaction as
//! every change to it, so that an original named by tracking_id is read with everything else in one
//! `BatchGetItem` instead of a second one by id. A record without it (written before copies were
//! kept, or no longer settleable) is read as the decision that points at the authorization.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, Put, TransactWriteItem, Update};

use crate::sdk_error::{describe, describe_service};
use cofre_domain::authorizations::{
    Account, AccountSettings, AuthorizationRecord, BalanceChange, Commit, CommitError, DueHold, Event, HoldRelease,
    Ledger, LedgerItem, LedgerKey, LookupKey, due_ms,
};
use cofre_domain::items::credential_item::partition_key;
use cofre_domain::items::ledger_item::{
    DUE_HOLD_SHARDS, DUE_HOLDS_INDEX, HOLD_DUE, HOLD_SHARD, TRACKED_AUTHORIZATION, account_lookups, decode,
    decode_authorization, due_hold_attributes, encode, encode_account, hold_due_key, ledger_key, parse_due_hold,
};
use cofre_domain::store::StoreError;
use cofre_domain::tenant::TenantId;
use time::OffsetDateTime;

/// The ledger in a DynamoDB table, events in another (whose stream carries them on).
#[derive(Debug, Clone)]
pub struct DynamoLedger {
    client: Client,
    table: String,
    events_table: String,
}

type Item = HashMap<String, AttributeValue>;

/// Cancellation reasons a fresh decision can get past.
const RETRYABLE_CANCELLATIONS: [&str; 3] = ["ConditionalCheckFailed", "TransactionConflict", "ThrottlingError"];

/// A cancelled transaction none of whose own conditions says more: a condition relied on no longer
/// holds, or a concurrent transaction or throttling got in the way (act again on a fresh read), or
/// something retrying cannot help (ValidationError, ItemCollectionSizeLimitExceeded…).
fn other_cancellation(codes: &[&str]) -> CommitError {
    if codes.iter().all(|c| RETRYABLE_CANCELLATIONS.contains(c)) {
        CommitError::Conflict
    } else {
        CommitError::Store(StoreError::Unavailable(format!("transaction cancelled: {}", codes.join(", "))))
    }
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn keyed(pk: String, sk: String) -> Item {
    HashMap::from([("pk".to_owned(), s(pk)), ("sk".to_owned(), s(sk))])
}

fn built<T, E: std::fmt::Display>(result: Result<T, E>) -> Result<T, StoreError> {
    result.map_err(|e| StoreError::Unavailable(format!("request could not be built: {e}")))
}

/// What a stored item reads to: [`body_of`] decoded, or, for [`LedgerKey::AuthorizationOf`], the
/// tracking record's copy of its authorization when it keeps one.
fn item_of(key: &LedgerKey, item: &Item) -> Result<LedgerItem, StoreError> {
    if let LedgerKey::AuthorizationOf(_) = key
        && let Some(copy) = item.get(TRACKED_AUTHORIZATION)
    {
        let copy = copy.as_s().map_err(|_| StoreError::Corrupt("tracked authorization is not a string".into()))?;
        return decode_authorization(copy).map(LedgerItem::Authorization);
    }
    decode(key, &body_of(key, item)?)
}

/// The body of a stored item: lookups keep their targets as a list (so documents can be appended to),
/// accounts keep `available` and `held` beside the body (so they can be updated atomically).
fn body_of(key: &LedgerKey, item: &Item) -> Result<String, StoreError> {
    if let LedgerKey::Lookup(_) = key {
        let targets = item
            .get("targets")
            .and_then(|t| t.as_l().ok())
            .ok_or_else(|| StoreError::Corrupt("lookup without targets".into()))?;
        let parsed: Vec<serde_json::Value> = targets
            .iter()
            .map(|t| {
                t.as_s()
                    .ok()
                    .and_then(|t| serde_json::from_str(t).ok())
                    .ok_or_else(|| StoreError::Corrupt("bad lookup target".into()))
            })
            .collect::<Result<_, _>>()?;
        return Ok(serde_json::Value::Array(parsed).to_string());
    }
    let body =
        item.get("body").and_then(|b| b.as_s().ok()).ok_or_else(|| StoreError::Corrupt("item without body".into()))?;
    if let LedgerKey::Account(_) = key {
        let number = |name: &str| item.get(name).map(|a| a.as_n().ok().and_then(|a| a.parse::<i64>().ok()));
        let available =
            number("available").flatten().ok_or_else(|| StoreError::Corrupt("account without available".into()))?;
        let mut account: serde_json::Value =
            serde_json::from_str(body).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        account["available"] = serde_json::Value::from(available);
        // An account stored before holds were counted has none yet: its body's (none, read as 0) stands.
        match number("held") {
            Some(Some(held)) => account["held"] = serde_json::Value::from(held),
            Some(None) => return Err(StoreError::Corrupt("account with an unreadable held".into())),
            None => {}
        }
        return Ok(account.to_string());
    }
    Ok(body.clone())
}

/// A stored item: key, body, version.
fn stored(tenant: &TenantId, key: LedgerKey, body: String, version: u64) -> Item {
    let (pk, sk) = ledger_key(tenant, &key);
    let mut item = keyed(pk, sk);
    item.insert("body".into(), s(body));
    item.insert("version".into(), n(version));
    item
}

/// An authorization's item: in the due index while its hold can expire (a put without the index's
/// keys takes it out).
fn authorization_item(tenant: &TenantId, record: &AuthorizationRecord, body: String) -> Item {
    let mut item = stored(tenant, LedgerKey::Authorization(record.id), body, record.version);
    if let Some((shard, due)) = due_hold_attributes(record) {
        item.insert(HOLD_SHARD.into(), s(shard));
        item.insert(HOLD_DUE.into(), s(due));
    }
    item
}

impl DynamoLedger {
    /// A ledger over `table` and `events_table`, with a client built once at cold start.
    pub fn new(client: Client, table: impl Into<String>, events_table: impl Into<String>) -> Self {
        Self { client, table: table.into(), events_table: events_table.into() }
    }

    fn put(&self, table: &str, item: Item, condition: &str) -> Result<TransactWriteItem, StoreError> {
        let put = built(Put::builder().table_name(table).set_item(Some(item)).condition_expression(condition).build())?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// The conditional update moving `change` on its account.
    fn balance_update(&self, tenant: &TenantId, change: &BalanceChange) -> Result<TransactWriteItem, StoreError> {
        let (pk, sk) = ledger_key(tenant, &LedgerKey::Account(change.account_id));
        // The account is there, with a balance to move: a settlement does not read it first.
        let mut condition = "attribute_exists(available)".to_owned();
        let mut update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(keyed(pk, sk)))
            .update_expression("SET available = available + :delta, held = if_not_exists(held, :zero) + :held")
            .expression_attribute_values(":delta", n(change.delta))
            .expression_attribute_values(":held", n(change.held_delta))
            .expression_attribute_values(":zero", n(0));
        if change.keep_non_negative {
            condition.push_str(" AND available >= :need");
            update = update.expression_attribute_values(":need", n(-change.delta));
        }
        if change.require_normal {
            condition.push_str(" AND #status = :normal");
            update = update
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":normal", s("NORMAL"));
        }
        Ok(TransactWriteItem::builder().update(built(update.condition_expression(condition).build())?).build())
    }

    /// The writes of a change to an existing authorization: its item, only if still at `expected`, then
    /// its tracking record's copy; and the index of the copy's write among them.
    fn original_writes(
        &self,
        tenant: &TenantId,
        original: &AuthorizationRecord,
        expected: u64,
    ) -> Result<(Vec<TransactWriteItem>, usize), StoreError> {
        let original_json = encode(original)?;
        let put = built(
            Put::builder()
                .table_name(&self.table)
                .set_item(Some(authorization_item(tenant, original, original_json.clone())))
                .condition_expression("#version = :expected")
                .expression_attribute_names("#version", "version")
                .expression_attribute_values(":expected", n(expected))
                .build(),
        )?;
        // Its tracking record's copy follows it (or goes, once nothing can act on it). No condition
        // on the copy's version: the one on the authorization's decides, in this transaction.
        let (pk, sk) = ledger_key(tenant, &LedgerKey::Recorded(original.tracking_id.clone()));
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(keyed(pk, sk)))
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#copy", TRACKED_AUTHORIZATION);
        let update = if original.settleable() {
            update.update_expression("SET #copy = :copy").expression_attribute_values(":copy", s(original_json))
        } else {
            update.update_expression("REMOVE #copy")
        };
        Ok((
            vec![
                TransactWriteItem::builder().put(put).build(),
                TransactWriteItem::builder().update(built(update.build())?).build(),
            ],
            1,
        ))
    }

    /// The puts of `events`, in the events table (whose stream carries them on).
    fn event_puts(&self, tenant: &TenantId, events: &[Event]) -> Result<Vec<TransactWriteItem>, StoreError> {
        events
            .iter()
            .map(|event| {
                let mut item = keyed(partition_key(tenant), format!("EVENT#{}#{}", event.timestamp, event.event_id));
                item.insert("body".into(), s(encode(event)?));
                item.insert("event_type".into(), s(event.event_type.clone()));
                self.put(&self.events_table, item, "attribute_not_exists(pk)")
            })
            .collect()
    }

    async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<(), TransactWriteItemsError> {
        self.client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| e.into_service_error())
    }
}

#[async_trait]
impl Ledger for DynamoLedger {
    async fn get(
        &self,
        tenant: &TenantId,
        keys: &[LedgerKey],
    ) -> Result<Vec<Option<Result<LedgerItem, StoreError>>>, StoreError> {
        let addresses: Vec<(String, String)> = keys.iter().map(|k| ledger_key(tenant, k)).collect();
        let mut unique: Vec<&(String, String)> = addresses.iter().collect();
        unique.sort();
        unique.dedup();
        let mut request = built(
            KeysAndAttributes::builder()
                .set_keys(Some(unique.iter().map(|(pk, sk)| keyed(pk.clone(), sk.clone())).collect()))
                .consistent_read(true)
                .build(),
        )?;
        let mut found: HashMap<(String, String), Item> = HashMap::new();
        // BatchGetItem may leave keys unprocessed under load: ask again for those, backing off.
        for attempt in 0..8_u32 {
            if attempt > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(10 << attempt)).await;
            }
            let output = self
                .client
                .batch_get_item()
                .request_items(&self.table, request.clone())
                .send()
                .await
                .map_err(|e| StoreError::Unavailable(describe(&e)))?;
            for item in output.responses.and_then(|mut r| r.remove(&self.table)).unwrap_or_default() {
                let pk = item.get("pk").and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
                let sk = item.get("sk").and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
                found.insert((pk, sk), item);
            }
            match output.unprocessed_keys.and_then(|mut u| u.remove(&self.table)) {
                Some(rest) if !rest.keys().is_empty() => request = rest,
                _ => {
                    return Ok(keys
                        .iter()
                        .zip(&addresses)
                        .map(|(key, address)| found.get(address).map(|item| item_of(key, item)))
                        .collect());
                }
            }
        }
        Err(StoreError::Unavailable("BatchGetItem kept keys unprocessed".into()))
    }

    async fn commit(&self, commit: &Commit) -> Result<(), CommitError> {
        let tenant = &commit.tenant;
        let mut items = Vec::new();
        if let Some(change) = &commit.balance {
            items.push(self.balance_update(tenant, change)?);
        }
        let authorization = &commit.authorization;
        let authorization_json = encode(authorization)?;
        items.push(self.put(
            &self.table,
            authorization_item(tenant, authorization, authorization_json.clone()),
            "attribute_not_exists(pk)",
        )?);
        let mut copy_index = None;
        if let Some((original, expected)) = &commit.original {
            let (writes, copy) = self.original_writes(tenant, original, *expected)?;
            copy_index = Some(items.len() + copy);
            items.extend(writes);
        }
        let recorded_index = items.len();
        let mut recorded =
            stored(tenant, LedgerKey::Recorded(commit.recorded.tracking_id.clone()), encode(&commit.recorded)?, 1);
        if authorization.settleable() {
            recorded.insert(TRACKED_AUTHORIZATION.into(), s(authorization_json));
        }
        items.push(self.put(&self.table, recorded, "attribute_not_exists(pk)")?);
        items.extend(self.event_puts(tenant, &commit.events)?);
        match self.transact(items).await {
            Ok(()) => Ok(()),
            Err(TransactWriteItemsError::TransactionCanceledException(cancelled)) => {
                let reasons = cancelled.cancellation_reasons();
                let codes: Vec<&str> = reasons.iter().filter_map(|r| r.code()).filter(|c| *c != "None").collect();
                let failed = |index: Option<usize>| {
                    index.and_then(|i| reasons.get(i)).and_then(|r| r.code()) == Some("ConditionalCheckFailed")
                };
                if failed(Some(recorded_index)) {
                    Err(CommitError::Duplicate)
                } else if failed(copy_index) {
                    // Every authorization is written with its tracking record: deciding again cannot help.
                    Err(CommitError::Store(StoreError::Corrupt("the original's tracking record is missing".into())))
                } else {
                    Err(other_cancellation(&codes))
                }
            }
            Err(TransactWriteItemsError::TransactionInProgressException(_)) => Err(CommitError::Conflict),
            Err(other) => Err(CommitError::Store(StoreError::Unavailable(describe_service(&other)))),
        }
    }

    async fn due_holds(
        &self,
        by: OffsetDateTime,
        after: Option<&DueHold>,
        limit: usize,
    ) -> Result<Vec<DueHold>, StoreError> {
        let to = hold_due_key(due_ms(by), u64::MAX);
        let from = after.map(|a| hold_due_key(a.due_ms, a.authorization_id.0));
        let page_limit = i32::try_from(limit).unwrap_or(i32::MAX);
        let mut due = Vec::new();
        // Each shard's first `limit` after the cursor: together they hold the first `limit` of all.
        for shard in 0..DUE_HOLD_SHARDS {
            let mut taken = 0;
            let mut start = None;
            loop {
                let query = self
                    .client
                    .query()
                    .table_name(&self.table)
                    .index_name(DUE_HOLDS_INDEX)
                    .expression_attribute_names("#shard", HOLD_SHARD)
                    .expression_attribute_names("#due", HOLD_DUE)
                    .expression_attribute_values(":shard", s(shard.to_string()))
                    .expression_attribute_values(":to", s(to.clone()))
                    .limit(page_limit)
                    .set_exclusive_start_key(start);
                let query = match &from {
                    Some(from) => query
                        .key_condition_expression("#shard = :shard AND #due BETWEEN :from AND :to")
                        .expression_attribute_values(":from", s(from.clone())),
                    None => query.key_condition_expression("#shard = :shard AND #due <= :to"),
                };
                let output = query.send().await.map_err(|e| StoreError::Unavailable(describe(&e)))?;
                for item in output.items() {
                    let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).map(String::as_str);
                    let hold = parse_due_hold(text("pk").unwrap_or_default(), text(HOLD_DUE).unwrap_or_default())?;
                    if after.is_none_or(|a| &hold > a) {
                        due.push(hold);
                        taken += 1;
                    }
                }
                start = output.last_evaluated_key;
                if start.is_none() || taken >= limit {
                    break;
                }
            }
        }
        due.sort();
        due.truncate(limit);
        Ok(due)
    }

    async fn release_hold(&self, release: &HoldRelease) -> Result<(), CommitError> {
        let tenant = &release.tenant;
        let mut items = Vec::new();
        if let Some(change) = &release.balance {
            items.push(self.balance_update(tenant, change)?);
        }
        let authorization_index = items.len();
        let (writes, copy) = self.original_writes(tenant, &release.authorization, release.expected_version)?;
        let copy_index = authorization_index + copy;
        items.extend(writes);
        items.extend(self.event_puts(tenant, &release.events)?);
        match self.transact(items).await {
            Ok(()) => Ok(()),
            Err(TransactWriteItemsError::TransactionCanceledException(cancelled)) => {
                let reasons = cancelled.cancellation_reasons();
                let code = |i: usize| reasons.get(i).and_then(|r| r.code());
                let codes: Vec<&str> = reasons.iter().filter_map(|r| r.code()).filter(|c| *c != "None").collect();
                if code(authorization_index) == Some("ConditionalCheckFailed") {
                    // Confirmed, cancelled or expired since it was read: the sweep reads it again.
                    Err(CommitError::Conflict)
                } else if code(copy_index) == Some("ConditionalCheckFailed") {
                    Err(CommitError::Store(StoreError::Corrupt(
                        "the authorization's tracking record is missing".into(),
                    )))
                } else {
                    Err(other_cancellation(&codes))
                }
            }
            Err(TransactWriteItemsError::TransactionInProgressException(_)) => Err(CommitError::Conflict),
            Err(other) => Err(CommitError::Store(StoreError::Unavailable(describe_service(&other)))),
        }
    }

    async fn insert_account(&self, account: &Account, settings: &AccountSettings) -> Result<bool, StoreError> {
        let (pk, sk) = ledger_key(&account.tenant, &LedgerKey::Account(account.id));
        let mut item = keyed(pk, sk);
        // The settings in the body: read with the account, never updated by a decision.
        item.insert("body".into(), s(encode_account(account, settings)?));
        item.insert("available".into(), n(account.available));
        item.insert("held".into(), n(account.held));
        item.insert("status".into(), s(account.status.as_str()));
        let mut items = vec![self.put(&self.table, item, "attribute_not_exists(pk)")?];
        for (lookup, target) in account_lookups(account) {
            let document = matches!(lookup, LookupKey::Document(_));
            let (pk, sk) = ledger_key(&account.tenant, &LedgerKey::Lookup(lookup));
            let target = AttributeValue::L(vec![s(encode(&target)?)]);
            if document {
                let update = Update::builder()
                    .table_name(&self.table)
                    .set_key(Some(keyed(pk, sk)))
                    .update_expression("SET targets = list_append(if_not_exists(targets, :empty), :target)")
                    .expression_attribute_values(":empty", AttributeValue::L(vec![]))
                    .expression_attribute_values(":target", target);
                items.push(TransactWriteItem::builder().update(built(update.build())?).build());
            } else {
                let mut item = keyed(pk, sk);
                item.insert("targets".into(), target);
                items.push(self.put(&self.table, item, "attribute_not_exists(pk)")?);
            }
        }
        match self.transact(items).await {
            Ok(()) => Ok(true),
            Err(TransactWriteItemsError::TransactionCanceledException(cancelled)) => {
                let reasons = cancelled.cancellation_reasons();
                if reasons.first().and_then(|r| r.code()) == Some("ConditionalCheckFailed") {
                    Ok(false)
                } else {
                    Err(StoreError::Unavailable("a card or bank account already belongs to another account".into()))
                }
            }
            Err(other) => Err(StoreError::Unavailable(describe_service(&other))),
        }
    }
}
