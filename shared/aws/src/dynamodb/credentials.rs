//! DynamoDB as a `CredentialStore`: items written by `serde_dynamo` from the same item type the
//! embedded store uses.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, Put, ReturnValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};

use crate::sdk_error::{describe, describe_service};
use cofre_domain::clock::rfc3339;
use cofre_domain::credentials::{
    BeginUseError, CredentialSlot, CredentialStore, CredentialUse, CredentialWrite, ProxyValue, StoreError,
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

/// How many times a write is retried when it only lost a race for the credential item: a use's
/// transaction, or a create-or-replace that met one.
const MAX_CONTENDED_ATTEMPTS: u32 = 8;

/// The pause before retry `attempt` of a write that lost a race: growing, and different between
/// contenders (the clock's nanoseconds: not a secret, only a spread).
async fn contention_pause(attempt: u32) {
    let jitter = u64::from(
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos()) % 8,
    );
    tokio::time::sleep(std::time::Duration::from_millis(u64::from(attempt.min(6)) * 5 + jitter)).await;
}

/// Attributes a replace keeps from the slot (`if_not_exists`): a create writes them.
const KEPT_BY_A_REPLACE: [&str; 2] = ["proxy", "created_at"];

impl DynamoCredentialStore {
    /// The one `UpdateItem` of a create-or-replace. The item is written whole as a create would
    /// write it, except what a replace keeps: `proxy` and `created_at` (`if_not_exists`),
    /// `last_used_at` (not written). `ADD version :one` makes the version 1 on a create and the
    /// slot's + 1 on a replace, inside the write, so concurrent replaces never conflict: DynamoDB
    /// applies writes to one item one at a time, each on the item the one before left. The condition
    /// only refuses the write's own item, already applied: a retry by the SDK of a write whose answer
    /// was lost then fails and returns the item (`ALL_OLD`), which is this write (and an item with no
    /// sealed key at all, unreadable, fails it too and is left as it is).
    fn put_request(
        &self,
        write: &CredentialWrite,
    ) -> Result<aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder, StoreError> {
        let created = CredentialItem::from(&write.applied_to(None));
        let wrapped_key = created.sealed_key.wrapped_key.clone();
        let mut attributes: Vec<(String, AttributeValue)> = serde_dynamo::to_item::<_, Item>(&created)
            .map_err(|e| StoreError::Unavailable(e.to_string()))?
            .into_iter()
            .filter(|(name, _)| !matches!(name.as_str(), "pk" | "sk" | "version" | "last_used_at"))
            .collect();
        attributes.sort_by(|a, b| a.0.cmp(&b.0));
        let sets: Vec<String> = attributes
            .iter()
            .map(|(name, _)| {
                if KEPT_BY_A_REPLACE.contains(&name.as_str()) {
                    format!("#{name} = if_not_exists(#{name}, :{name})")
                } else {
                    format!("#{name} = :{name}")
                }
            })
            .collect();
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(created.pk))
            .key("sk", s(created.sk))
            .update_expression(format!("SET {} ADD #version :one", sets.join(", ")))
            .condition_expression(
                "attribute_not_exists(pk) OR \
                 (attribute_exists(#sealed_key.#wrapped_key) AND #sealed_key.#wrapped_key <> :this_wrapped_key)",
            )
            .expression_attribute_names("#version", "version")
            .expression_attribute_names("#wrapped_key", "wrapped_key")
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":this_wrapped_key", s(wrapped_key))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        for (name, value) in attributes {
            request = request
                .expression_attribute_names(format!("#{name}"), name.clone())
                .expression_attribute_values(format!(":{name}"), value);
        }
        Ok(request)
    }
}

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

    async fn put(&self, write: &CredentialWrite) -> Result<StoredCredential, StoreError> {
        let request = self.put_request(write)?;
        // Plain writes to one item never conflict with each other. DynamoDB refuses one
        // (`TransactionConflictException`) only while a transaction holds the item (a use of the
        // credential recording itself), and then nothing was written: retried, as a use's
        // transaction is.
        let mut attempt = 0_u32;
        loop {
            let error = match request.clone().send().await {
                Ok(output) => {
                    let item = output.attributes.ok_or_else(|| StoreError::Unavailable("no item returned".into()))?;
                    return decode(item);
                }
                Err(e) => e.into_service_error(),
            };
            match error {
                UpdateItemError::ConditionalCheckFailedException(failed) => {
                    let current = decode(failed.item.unwrap_or_default())?;
                    return if write.is_stored_in(&current) {
                        Ok(current)
                    } else {
                        Err(StoreError::Unavailable("the write's condition failed on another item".into()))
                    };
                }
                UpdateItemError::TransactionConflictException(_)
                | UpdateItemError::ReplicatedWriteConflictException(_)
                    if attempt < MAX_CONTENDED_ATTEMPTS =>
                {
                    attempt += 1;
                    contention_pause(attempt).await;
                }
                other => return Err(StoreError::Unavailable(describe_service(&other))),
            }
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
            contention_pause(attempt).await;
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
