//! The embedded store as a `MerchantStore`: the same checks DynamoDB's condition expressions make,
//! inside one atomic write (a savepoint of the writer's batch); reads on the read connections.

use async_trait::async_trait;
use rusqlite::params;

use super::{EmbeddedStore, read_body, scan_page, unavailable, write_body};
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

/// A conflict carrying the merchant as it is, as DynamoDB's `ALL_OLD` does.
fn conflict(item: MerchantItem) -> Result<ConnectionWriteError, StoreError> {
    Ok(ConnectionWriteError::Conflict { current: Some(Box::new(item.try_into()?)) })
}

fn decode(body: &str) -> Result<MerchantItem, StoreError> {
    serde_json::from_str(body)
        .map_err(|e| StoreError::Corrupt(format!("merchant item: {:?} error at column {}", e.classify(), e.column())))
}

#[async_trait]
impl MerchantStore for EmbeddedStore {
    async fn merchant(&self, tenant: &TenantId, id: &MerchantId) -> Result<Option<Merchant>, StoreError> {
        let (pk, sk) = (partition_key(tenant), merchant_sort_key(id));
        self.read(|tx| read_body(tx, &pk, &sk)?.as_deref().map(|b| decode(b)?.try_into()).transpose())
    }

    async fn write_connection(
        &self,
        tenant: &TenantId,
        id: &MerchantId,
        write: &ConnectionWrite,
    ) -> Result<Merchant, ConnectionWriteError> {
        let (pk, sk) = (partition_key(tenant), merchant_sort_key(id));
        let write = write.clone();
        self.transaction(move |tx| {
            let Some(body) = read_body(tx, &pk, &sk)? else {
                return Err(ConnectionWriteError::Conflict { current: None });
            };
            let mut item = decode(&body)?;
            let Some(connection) = item.connections.get_mut(write.connection_id.as_str()) else {
                return Err(conflict(item)?);
            };
            let on_file = connection.credentials.as_ref().map(|c| c.fingerprint.as_str());
            let expected = write.expected_fingerprint.as_ref().map(CredentialsItem::encode_fingerprint);
            if connection.version != write.expected_version || on_file != expected.as_deref() {
                return Err(conflict(item)?);
            }
            connection.credentials = Some(CredentialsItem::from(&write.credentials));
            connection.status = write.status.as_str().to_owned();
            connection.version += 1;
            item.modified_on = cofre_domain::clock::rfc3339(write.modified_on);
            item.modified_by = write.modified_by.clone();
            let body = serde_json::to_string(&item).map_err(unavailable)?;
            write_body(tx, &pk, &sk, 0, &body)?;
            Ok(item.try_into()?)
        })
        .await
    }

    async fn guard_proof(
        &self,
        tenant: &TenantId,
        id: &MerchantId,
        connection: &ConnectionId,
        seen: u32,
        next: &ProofGuard,
    ) -> Result<bool, StoreError> {
        let (pk, sk) = (partition_key(tenant), merchant_sort_key(id));
        let (connection, next) = (connection.clone(), ProofGuardItem::from(next));
        self.transaction(move |tx| {
            let Some(body) = read_body(tx, &pk, &sk)? else { return Ok(false) };
            let mut item = decode(&body)?;
            let Some(stored) = item.connections.get_mut(connection.as_str()) else { return Ok(false) };
            if stored.proof_guard.as_ref().map_or(0, |g| g.failures) != seen {
                return Ok(false);
            }
            stored.proof_guard = Some(next);
            let body = serde_json::to_string(&item).map_err(unavailable)?;
            write_body(tx, &pk, &sk, 0, &body)?;
            Ok(true)
        })
        .await
    }

    async fn merchants_page(&self, after: Option<&ScanCursor>) -> Result<Page<Merchant>, StoreError> {
        let (bodies, next) = self.read(|tx| scan_page(tx, MERCHANT_SORT_KEY_PREFIX, after))?;
        let items = bodies.iter().map(|body| decode(body)?.try_into()).collect::<Result<_, StoreError>>()?;
        Ok(Page { items, next })
    }

    async fn rekey_fingerprint(
        &self,
        tenant: &TenantId,
        id: &MerchantId,
        connection: &ConnectionId,
        expected: &KeyedHash,
        new: &KeyedHash,
    ) -> Result<bool, StoreError> {
        let (pk, sk) = (partition_key(tenant), merchant_sort_key(id));
        let connection = connection.clone();
        let (expected, new) = (CredentialsItem::encode_fingerprint(expected), CredentialsItem::encode_fingerprint(new));
        self.transaction(move |tx| {
            let Some(body) = read_body(tx, &pk, &sk)? else { return Ok(false) };
            let mut item = decode(&body)?;
            let Some(credentials) = item.connections.get_mut(connection.as_str()).and_then(|c| c.credentials.as_mut())
            else {
                return Ok(false);
            };
            if credentials.fingerprint != expected {
                return Ok(false);
            }
            credentials.fingerprint = new;
            let body = serde_json::to_string(&item).map_err(unavailable)?;
            write_body(tx, &pk, &sk, 0, &body)?;
            Ok(true)
        })
        .await
    }

    async fn insert_merchant(&self, merchant: &Merchant) -> Result<bool, StoreError> {
        let item = MerchantItem::from(merchant);
        let body = serde_json::to_string(&item).map_err(unavailable)?;
        self.transaction(move |tx| {
            let inserted = tx
                .execute(
                    "INSERT OR IGNORE INTO items (pk, sk, version, body) VALUES (?1, ?2, 0, ?3)",
                    params![item.pk, item.sk, body],
                )
                .map_err(unavailable)?;
            Ok(inserted == 1)
        })
        .await
    }
}
