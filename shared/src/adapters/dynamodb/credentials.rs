//! DynamoDB as a `CredentialStore`: items written by `serde_dynamo` from the same item type the
//! embedded store uses.

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};

use crate::adapters::credential_item::{CredentialItem, credential_sort_key, partition_key};
use crate::adapters::sdk_error::{describe, describe_service};
use crate::credentials::{CredentialSlot, CredentialStore, ExpectedVersion, SaveError, StoreError, StoredCredential};

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

fn decode(item: std::collections::HashMap<String, AttributeValue>) -> Result<StoredCredential, StoreError> {
    let item: CredentialItem =
        serde_dynamo::from_item(item).map_err(|e| StoreError::Corrupt(format!("credential item: {e}")))?;
    item.try_into()
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
}
