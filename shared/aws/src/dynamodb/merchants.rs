//! DynamoDB as a `MerchantStore`: one `GetItem` to read a merchant, one conditional `UpdateItem`
//! (condition on the connection's version and fingerprint, `ALL_NEW` returned) to rotate, one
//! conditional `UpdateItem` (on the failure count read) to guard a proof. For maintenance only: a
//! `Scan` of the table by page, and one conditional `UpdateItem` per fingerprint re-keyed.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};

use crate::sdk_error::{describe, describe_service};
use cofre_domain::clock::rfc3339;
use cofre_domain::crypto::KeyedHash;
use cofre_domain::items::credential_item::partition_key;
use cofre_domain::items::merchant_item::{
    CredentialsItem, MERCHANT_SORT_KEY_PREFIX, MerchantItem, ProofGuardItem, merchant_sort_key,
};
use cofre_domain::merchants::{
    ConnectionId, ConnectionWrite, ConnectionWriteError, Merchant, MerchantId, MerchantStore, ProofGuard,
};
use cofre_domain::store::{Page, ScanCursor, StoreError};
use cofre_domain::tenant::TenantId;

/// Merchants in a DynamoDB table.
#[derive(Debug, Clone)]
pub struct DynamoMerchantStore {
    client: Client,
    table: String,
}

impl DynamoMerchantStore {
    /// A store over `table`, with a client built once at cold start.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }
}

fn decode(item: HashMap<String, AttributeValue>) -> Result<Merchant, StoreError> {
    let item: MerchantItem =
        serde_dynamo::from_item(item).map_err(|e| StoreError::Corrupt(format!("merchant item: {e}")))?;
    item.try_into()
}

/// A scan's start key from a cursor, and a cursor from its last evaluated key.
pub(super) fn start_key(after: Option<&ScanCursor>) -> Option<HashMap<String, AttributeValue>> {
    after.map(|c| {
        HashMap::from([
            ("pk".to_owned(), AttributeValue::S(c.pk.clone())),
            ("sk".to_owned(), AttributeValue::S(c.sk.clone())),
        ])
    })
}

pub(super) fn cursor(last: Option<HashMap<String, AttributeValue>>) -> Option<ScanCursor> {
    let last = last?;
    let text = |name: &str| last.get(name).and_then(|v| v.as_s().ok()).cloned();
    Some(ScanCursor { pk: text("pk")?, sk: text("sk")? })
}

fn key(tenant: &TenantId, id: &MerchantId) -> HashMap<String, AttributeValue> {
    HashMap::from([
        ("pk".to_owned(), AttributeValue::S(partition_key(tenant))),
        ("sk".to_owned(), AttributeValue::S(merchant_sort_key(id))),
    ])
}

/// Whether a conditional `UpdateItem` was applied: `false` if its condition failed.
fn applied<T>(
    result: Result<T, aws_sdk_dynamodb::error::SdkError<UpdateItemError, aws_smithy_runtime_api::http::Response>>,
) -> Result<bool, StoreError> {
    match result {
        Ok(_) => Ok(true),
        Err(e) => match e.into_service_error() {
            UpdateItemError::ConditionalCheckFailedException(_) => Ok(false),
            other => Err(StoreError::Unavailable(describe_service(&other))),
        },
    }
}

#[async_trait]
impl MerchantStore for DynamoMerchantStore {
    async fn merchant(&self, tenant: &TenantId, id: &MerchantId) -> Result<Option<Merchant>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(tenant, id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::Unavailable(describe(&e)))?;
        output.item.map(decode).transpose()
    }

    async fn write_connection(
        &self,
        tenant: &TenantId,
        id: &MerchantId,
        write: &ConnectionWrite,
    ) -> Result<Merchant, ConnectionWriteError> {
        let credentials = serde_dynamo::to_attribute_value(CredentialsItem::from(&write.credentials))
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let fingerprint_condition = match &write.expected_fingerprint {
            None => "attribute_not_exists(#c.#cid.#cr)",
            Some(_) => "#c.#cid.#cr.#fp = :fp",
        };
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(tenant, id)))
            .update_expression(
                "SET #c.#cid.#cr = :credentials, #c.#cid.#st = :status, #c.#cid.#v = :next, #mo = :now, #mb = :by",
            )
            .condition_expression(format!("#c.#cid.#v = :expected AND {fingerprint_condition}"))
            .expression_attribute_names("#c", "connections")
            .expression_attribute_names("#cid", write.connection_id.as_str())
            .expression_attribute_names("#cr", "credentials")
            .expression_attribute_names("#st", "status")
            .expression_attribute_names("#v", "version")
            .expression_attribute_names("#mo", "modified_on")
            .expression_attribute_names("#mb", "modified_by")
            .expression_attribute_values(":credentials", credentials)
            .expression_attribute_values(":status", AttributeValue::S(write.status.as_str().to_owned()))
            .expression_attribute_values(":expected", AttributeValue::N(write.expected_version.to_string()))
            .expression_attribute_values(":next", AttributeValue::N((write.expected_version + 1).to_string()))
            .expression_attribute_values(":now", AttributeValue::S(rfc3339(write.modified_on)))
            .expression_attribute_values(":by", AttributeValue::S(write.modified_by.clone()))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        if let Some(fingerprint) = &write.expected_fingerprint {
            request = request.expression_attribute_names("#fp", "fingerprint").expression_attribute_values(
                ":fp",
                AttributeValue::S(CredentialsItem::encode_fingerprint(fingerprint)),
            );
        }
        match request.send().await {
            Ok(output) => {
                let item = output.attributes.ok_or_else(|| StoreError::Corrupt("no attributes returned".into()))?;
                Ok(decode(item)?)
            }
            Err(e) => match e.into_service_error() {
                UpdateItemError::ConditionalCheckFailedException(failed) => {
                    Err(ConnectionWriteError::Conflict { current: failed.item.map(decode).transpose()?.map(Box::new) })
                }
                other => Err(StoreError::Unavailable(describe_service(&other)).into()),
            },
        }
    }

    async fn guard_proof(
        &self,
        tenant: &TenantId,
        id: &MerchantId,
        connection: &ConnectionId,
        seen: u32,
        next: &ProofGuard,
    ) -> Result<bool, StoreError> {
        let guard = serde_dynamo::to_attribute_value(ProofGuardItem::from(next))
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        // A guard never written counts zero failures.
        let unguarded = if seen == 0 { "attribute_not_exists(#c.#cid.#pg) OR " } else { "" };
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(tenant, id)))
            .update_expression("SET #c.#cid.#pg = :guard")
            .condition_expression(format!("attribute_exists(#c.#cid) AND ({unguarded}#c.#cid.#pg.#f = :seen)"))
            .expression_attribute_names("#c", "connections")
            .expression_attribute_names("#cid", connection.as_str())
            .expression_attribute_names("#pg", "proof_guard")
            .expression_attribute_names("#f", "failures")
            .expression_attribute_values(":guard", guard)
            .expression_attribute_values(":seen", AttributeValue::N(seen.to_string()))
            .send()
            .await;
        applied(result)
    }

    async fn merchants_page(&self, after: Option<&ScanCursor>) -> Result<Page<Merchant>, StoreError> {
        let output = self
            .client
            .scan()
            .table_name(&self.table)
            .filter_expression("begins_with(sk, :merchant)")
            .expression_attribute_values(":merchant", AttributeValue::S(MERCHANT_SORT_KEY_PREFIX.to_owned()))
            .consistent_read(true)
            .set_exclusive_start_key(start_key(after))
            .send()
            .await
            .map_err(|e| StoreError::Unavailable(describe(&e)))?;
        let items = output.items.unwrap_or_default().into_iter().map(decode).collect::<Result<_, _>>()?;
        Ok(Page { items, next: cursor(output.last_evaluated_key) })
    }

    async fn rekey_fingerprint(
        &self,
        tenant: &TenantId,
        id: &MerchantId,
        connection: &ConnectionId,
        expected: &KeyedHash,
        new: &KeyedHash,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(tenant, id)))
            .update_expression("SET #c.#cid.#cr.#fp = :new")
            .condition_expression("#c.#cid.#cr.#fp = :expected")
            .expression_attribute_names("#c", "connections")
            .expression_attribute_names("#cid", connection.as_str())
            .expression_attribute_names("#cr", "credentials")
            .expression_attribute_names("#fp", "fingerprint")
            .expression_attribute_values(":new", AttributeValue::S(CredentialsItem::encode_fingerprint(new)))
            .expression_attribute_values(":expected", AttributeValue::S(CredentialsItem::encode_fingerprint(expected)))
            .send()
            .await;
        applied(result)
    }

    async fn insert_merchant(&self, merchant: &Merchant) -> Result<bool, StoreError> {
        let item =
            serde_dynamo::to_item(MerchantItem::from(merchant)).map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) => match e.into_service_error() {
                PutItemError::ConditionalCheckFailedException(_) => Ok(false),
                other => Err(StoreError::Unavailable(describe_service(&other))),
            },
        }
    }
}
