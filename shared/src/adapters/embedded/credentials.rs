//! The embedded store as a `CredentialStore`.

use async_trait::async_trait;

use super::{EmbeddedStore, read_body, unavailable, write_body};
use crate::adapters::credential_item::{CredentialItem, credential_sort_key, partition_key};
use crate::credentials::{CredentialSlot, CredentialStore, ExpectedVersion, SaveError, StoreError, StoredCredential};

fn decode(body: &str) -> Result<StoredCredential, StoreError> {
    let item: CredentialItem = serde_json::from_str(body).map_err(|e| {
        StoreError::Corrupt(format!("credential item: {:?} error at column {}", e.classify(), e.column()))
    })?;
    item.try_into()
}

impl From<StoreError> for SaveError {
    fn from(e: StoreError) -> Self {
        Self::Write(e)
    }
}

#[async_trait]
impl CredentialStore for EmbeddedStore {
    async fn get(&self, slot: &CredentialSlot) -> Result<Option<StoredCredential>, StoreError> {
        let (pk, sk) = (partition_key(&slot.tenant), credential_sort_key(slot));
        self.transaction(move |tx| read_body(tx, &pk, &sk)?.as_deref().map(decode).transpose()).await
    }

    async fn save(&self, record: &StoredCredential, expected: ExpectedVersion) -> Result<(), SaveError> {
        let item = CredentialItem::from(record);
        let body = serde_json::to_string(&item).map_err(|e| SaveError::Write(unavailable(e)))?;
        self.transaction(move |tx| {
            let current = read_body(tx, &item.pk, &item.sk)
                .map_err(SaveError::Read)?
                .map(|body| decode(&body))
                .transpose()
                .map_err(SaveError::Read)?;
            let holds = match (&current, expected) {
                (None, ExpectedVersion::Absent) => true,
                (Some(c), ExpectedVersion::Exactly(v)) => c.version == v,
                _ => false,
            };
            if !holds {
                return Err(SaveError::Conflict { current: current.map(Box::new) });
            }
            write_body(tx, &item.pk, &item.sk, item.version, &body).map_err(SaveError::Write)
        })
        .await
    }
}
