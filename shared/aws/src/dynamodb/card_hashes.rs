//! DynamoDB as the `CardHashStore`, over the ledger's table: a `Scan` of its accounts by page, and
//! per card re-keyed one consistent `GetItem` of its account then one `TransactWriteItems`: the
//! account's body replaced (conditioned on the body read), the look-up under the new hash put (on
//! none being there) and the one under the old hash deleted. Maintenance only, never a request's path.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem, Update};

use super::merchants::{cursor, start_key};
use crate::sdk_error::{describe, describe_service};
use cofre_domain::authorizations::{Account, AccountId, CardHashStore, LedgerKey, LookupKey};
use cofre_domain::crypto::KeyedHash;
use cofre_domain::items::card_hash_item::{ACCOUNT_SORT_KEY_PREFIX, account_of_body, rekeyed_account_body};
use cofre_domain::items::ledger_item::{encode, ledger_key};
use cofre_domain::store::{Page, ScanCursor, StoreError};
use cofre_domain::tenant::TenantId;

/// Cards' PAN hashes in the ledger's DynamoDB table.
#[derive(Debug, Clone)]
pub struct DynamoCardHashes {
    client: Client,
    table: String,
}

impl DynamoCardHashes {
    /// Over the ledger's `table`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn keyed((pk, sk): (String, String)) -> HashMap<String, AttributeValue> {
    HashMap::from([("pk".to_owned(), s(pk)), ("sk".to_owned(), s(sk))])
}

fn built<T, E: std::fmt::Display>(result: Result<T, E>) -> Result<T, StoreError> {
    result.map_err(|e| StoreError::Unavailable(format!("request could not be built: {e}")))
}

fn body(item: &HashMap<String, AttributeValue>) -> Result<&String, StoreError> {
    item.get("body").and_then(|b| b.as_s().ok()).ok_or_else(|| StoreError::Corrupt("account without body".into()))
}

#[async_trait]
impl CardHashStore for DynamoCardHashes {
    async fn accounts_page(&self, after: Option<&ScanCursor>) -> Result<Page<Account>, StoreError> {
        let output = self
            .client
            .scan()
            .table_name(&self.table)
            .filter_expression("begins_with(sk, :account)")
            .expression_attribute_values(":account", s(ACCOUNT_SORT_KEY_PREFIX))
            .consistent_read(true)
            .set_exclusive_start_key(start_key(after))
            .send()
            .await
            .map_err(|e| StoreError::Unavailable(describe(&e)))?;
        let items = output
            .items
            .unwrap_or_default()
            .iter()
            .map(|item| account_of_body(body(item)?))
            .collect::<Result<_, _>>()?;
        Ok(Page { items, next: cursor(output.last_evaluated_key) })
    }

    async fn rekey_card(
        &self,
        tenant: &TenantId,
        account: AccountId,
        card_id: i64,
        expected: &KeyedHash,
        new: &KeyedHash,
    ) -> Result<bool, StoreError> {
        let account_key = keyed(ledger_key(tenant, &LedgerKey::Account(account)));
        let read = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(account_key.clone()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::Unavailable(describe(&e)))?;
        let Some(item) = read.item else { return Ok(false) };
        let old_body = body(&item)?;
        let Some((new_body, target)) = rekeyed_account_body(old_body, card_id, expected, new)? else {
            return Ok(false);
        };

        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(account_key))
            .update_expression("SET body = :new")
            .condition_expression("body = :old")
            .expression_attribute_values(":new", s(new_body))
            .expression_attribute_values(":old", s(old_body.clone()));
        let mut lookup = keyed(ledger_key(tenant, &LedgerKey::Lookup(LookupKey::Pan(new.clone()))));
        lookup.insert("targets".into(), AttributeValue::L(vec![s(encode(&target)?)]));
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(lookup))
            .condition_expression("attribute_not_exists(pk)");
        let delete = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(keyed(ledger_key(tenant, &LedgerKey::Lookup(LookupKey::Pan(expected.clone()))))));
        let items = vec![
            TransactWriteItem::builder().update(built(update.build())?).build(),
            TransactWriteItem::builder().put(built(put.build())?).build(),
            TransactWriteItem::builder().delete(built(delete.build())?).build(),
        ];
        let written = self.client.transact_write_items().set_transact_items(Some(items)).send().await;
        match written.map_err(|e| e.into_service_error()) {
            Ok(_) => Ok(true),
            Err(TransactWriteItemsError::TransactionCanceledException(cancelled)) => {
                let reasons = cancelled.cancellation_reasons();
                let failed = |i: usize| reasons.get(i).and_then(|r| r.code()) == Some("ConditionalCheckFailed");
                if failed(0) {
                    Ok(false)
                } else if failed(1) {
                    Err(StoreError::Unavailable("the card's new look-up already points at a card".into()))
                } else {
                    Err(StoreError::Unavailable("re-keying the card was cancelled".into()))
                }
            }
            Err(other) => Err(StoreError::Unavailable(describe_service(&other))),
        }
    }
}
