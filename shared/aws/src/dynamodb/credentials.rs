//! DynamoDB as a `CredentialStore`: items written by `serde_dynamo` from the same item type the
//! embedded store uses.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update};

use crate::sdk_error::{describe, describe_service};
use cofre_domain::clock::rfc3339;
use cofre_domain::credentials::{
    BeginUseError, CredentialSlot, CredentialStore, CredentialUse, ExpectedVersion, ProxyValue, SaveError, StoreError,
    StoredCredential, UseId,
};
use cofre_domain::items::credential_item::{CREDENTIAL_PREFIX, CredentialItem, credential_sort_key, partition_key};
use cofre_domain::items::use_item::{UseItem, use_prefix, use_sort_key};
use cofre_domain::tenant::TenantId;

/// Credentials in a DynamoDB table.
#[derive(Debug, Clone)]
pub struct DynamoCredentialStore {
    client: Client,
    table: String,
}

impl DynamoCredentialStore {
    /// A store over `table`, with a client built once at cold start.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }
}

fn decode(item: HashMap<String, AttributeValue>) -> Result<StoredCredential, StoreError> {
    let item: CredentialItem =
        serde_dynamo::from_item(item).map_err(|e| StoreError::Corrupt(format!("credential item: {e}")))?;
    item.try_into()
}

fn decode_use(item: HashMap<String, AttributeValue>) -> Result<CredentialUse, StoreError> {
    let item: UseItem = serde_dynamo::from_item(item).map_err(|e| StoreError::Corrupt(format!("use item: {e}")))?;
    item.try_into()
}

type Item = HashMap<String, AttributeValue>;

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

impl DynamoCredentialStore {
    /// The tenant's credential items: one consistent `Query` (a tenant has at most one per supported
    /// provider and type, so one page).
    async fn credentials(&self, tenant: &TenantId) -> Result<Vec<StoredCredential>, StoreError> {
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", s(partition_key(tenant)))
            .expression_attribute_values(":prefix", s(CREDENTIAL_PREFIX))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::Unavailable(describe(&e)))?;
        output.items.unwrap_or_default().into_iter().map(decode).collect()
    }
}

/// How many times a use's transaction is retried when it only lost a race for the credential item.
const MAX_CONTENDED_ATTEMPTS: u32 = 8;

#[async_trait]
impl CredentialStore for DynamoCredentialStore {
    async fn get(&self, slot: &CredentialSlot) -> Result<Option<StoredCredential>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(partition_key(&slot.tenant)))
            .key("sk", AttributeValue::S(credential_sort_key(slot)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::Unavailable(describe(&e)))?;
        output.item.map(decode).transpose()
    }

    async fn save(&self, record: &StoredCredential, expected: ExpectedVersion) -> Result<(), SaveError> {
        let item = serde_dynamo::to_item(CredentialItem::from(record))
            .map_err(|e| SaveError::Write(StoreError::Unavailable(e.to_string())))?;
        let request = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        let request = match expected {
            ExpectedVersion::Absent => request.condition_expression("attribute_not_exists(pk)"),
            ExpectedVersion::Exactly(version) => request
                .condition_expression("#version = :expected")
                .expression_attribute_names("#version", "version")
                .expression_attribute_values(":expected", AttributeValue::N(version.to_string())),
        };
        match request.send().await {
            Ok(_) => Ok(()),
            Err(e) => match e.into_service_error() {
                PutItemError::ConditionalCheckFailedException(failed) => Err(SaveError::Conflict {
                    current: failed.item.map(decode).transpose().map_err(SaveError::Read)?.map(Box::new),
                }),
                other => Err(SaveError::Write(StoreError::Unavailable(describe_service(&other)))),
            },
        }
    }

    async fn find_by_proxy(
        &self,
        tenant: &TenantId,
        proxy: &ProxyValue,
    ) -> Result<Option<StoredCredential>, StoreError> {
        Ok(self.credentials(tenant).await?.into_iter().find(|c| &c.proxy == proxy))
    }

    async fn list(&self, tenant: &TenantId) -> Result<Vec<StoredCredential>, StoreError> {
        self.credentials(tenant).await
    }

    async fn revoke(&self, tenant: &TenantId, proxy: &ProxyValue) -> Result<bool, StoreError> {
        let Some(credential) = self.find_by_proxy(tenant, proxy).await? else {
            return Ok(false);
        };
        let deleted = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(partition_key(tenant)))
            .key("sk", s(credential_sort_key(&credential.slot)))
            .condition_expression("proxy = :proxy")
            .expression_attribute_values(":proxy", s(proxy.as_str()))
            .send()
            .await;
        match deleted {
            Ok(_) => Ok(true),
            Err(e) => match e.into_service_error() {
                DeleteItemError::ConditionalCheckFailedException(_) => Ok(false),
                other => Err(StoreError::Unavailable(describe_service(&other))),
            },
        }
    }

    async fn begin_use(&self, record: &CredentialUse) -> Result<(), BeginUseError> {
        let item: Item =
            serde_dynamo::to_item(UseItem::from(record)).map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let touch = Update::builder()
            .table_name(&self.table)
            .key("pk", s(partition_key(&record.slot.tenant)))
            .key("sk", s(credential_sort_key(&record.slot)))
            .update_expression("SET last_used_at = :at")
            .condition_expression("#version = :version AND proxy = :proxy")
            .expression_attribute_names("#version", "version")
            .expression_attribute_values(":at", s(rfc3339(record.started_at)))
            .expression_attribute_values(":version", AttributeValue::N(record.credential_version.to_string()))
            .expression_attribute_values(":proxy", s(record.proxy.as_str()))
            .build()
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        // Concurrent uses of one credential each touch its item in a transaction, and DynamoDB cancels
        // transactions that overlap on an item (TransactionConflict) rather than queue them: retried
        // here, with a growing jittered pause, so a busy credential slows down instead of failing.
        let mut attempt = 0_u32;
        loop {
            let result = self
                .client
                .transact_write_items()
                .transact_items(TransactWriteItem::builder().update(touch.clone()).build())
                .transact_items(TransactWriteItem::builder().put(put.clone()).build())
                .send()
                .await;
            let cancelled = match result {
                Ok(_) => return Ok(()),
                Err(e) => match e.into_service_error() {
                    TransactWriteItemsError::TransactionCanceledException(cancelled) => cancelled,
                    other => return Err(BeginUseError::Store(StoreError::Unavailable(describe_service(&other)))),
                },
            };
            let codes: Vec<&str> = cancelled.cancellation_reasons().iter().filter_map(|r| r.code()).collect();
            if codes.first() == Some(&"ConditionalCheckFailed") {
                return Err(BeginUseError::CredentialChanged);
            }
            let contended = codes.iter().any(|c| matches!(*c, "TransactionConflict" | "ThrottlingError"));
            if !contended || attempt >= MAX_CONTENDED_ATTEMPTS {
                return Err(BeginUseError::Store(StoreError::Unavailable(format!(
                    "the use could not be recorded: {}",
                    codes.join(", ")
                ))));
            }
            attempt += 1;
            // A pause that differs between contenders; not a secret, so the clock's nanoseconds do.
            let jitter = u64::from(
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos()) % 8,
            );
            tokio::time::sleep(std::time::Duration::from_millis(u64::from(attempt.min(6)) * 5 + jitter)).await;
        }
    }

    async fn finish_use(&self, record: &CredentialUse) -> Result<(), StoreError> {
        let item: Item =
            serde_dynamo::to_item(UseItem::from(record)).map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let written = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_exists(pk)")
            .send()
            .await;
        match written {
            Ok(_) => Ok(()),
            Err(e) => match e.into_service_error() {
                PutItemError::ConditionalCheckFailedException(_) => {
                    Err(StoreError::Unavailable("the use was never begun".into()))
                }
                other => Err(StoreError::Unavailable(describe_service(&other))),
            },
        }
    }

    async fn uses(
        &self,
        tenant: &TenantId,
        proxy: &ProxyValue,
        before: Option<&UseId>,
        limit: usize,
    ) -> Result<Vec<CredentialUse>, StoreError> {
        let prefix = use_prefix(proxy);
        // BETWEEN is inclusive: ask for one more and drop the cursor's own item.
        let to = before.map_or_else(|| format!("{}$", &prefix[..prefix.len() - 1]), |id| use_sort_key(proxy, id));
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND sk BETWEEN :from AND :to")
            .expression_attribute_values(":pk", s(partition_key(tenant)))
            .expression_attribute_values(":from", s(&prefix))
            .expression_attribute_values(":to", s(&to))
            .scan_index_forward(false)
            .limit(i32::try_from(limit + 1).unwrap_or(i32::MAX))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::Unavailable(describe(&e)))?;
        let uses: Vec<CredentialUse> =
            output.items.unwrap_or_default().into_iter().map(decode_use).collect::<Result<_, _>>()?;
        Ok(uses.into_iter().filter(|u| Some(&u.id) != before).take(limit).collect())
    }
}
