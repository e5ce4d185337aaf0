//! The embedded store as a `CredentialStore`.

use async_trait::async_trait;
use rusqlite::{Connection, params};

use super::{EmbeddedStore, read_body, unavailable, write_body};
use cofre_domain::credentials::{
    BeginUseError, CredentialSlot, CredentialStore, CredentialUse, CredentialWrite, ProxyValue, StoreError,
    StoredCredential, UseId,
};
use cofre_domain::items::credential_item::{CREDENTIAL_PREFIX, CredentialItem, credential_sort_key, partition_key};
use cofre_domain::items::use_item::{UseItem, use_prefix, use_sort_key};
use cofre_domain::tenant::TenantId;

fn decode(body: &str) -> Result<StoredCredential, StoreError> {
    let item: CredentialItem = serde_json::from_str(body).map_err(|e| {
        StoreError::Corrupt(format!("credential item: {:?} error at column {}", e.classify(), e.column()))
    })?;
    item.try_into()
}

fn decode_use(body: &str) -> Result<CredentialUse, StoreError> {
    let item: UseItem = serde_json::from_str(body)
        .map_err(|e| StoreError::Corrupt(format!("use item: {:?} error at column {}", e.classify(), e.column())))?;
    item.try_into()
}

/// The first key after every key starting with `prefix` (which ends in `#`).
fn prefix_end(prefix: &str) -> String {
    format!("{}$", &prefix[..prefix.len() - 1])
}

/// The bodies of `pk`'s items with sort keys in `[from, to)`, in key order (`descending`: reversed).
fn range(
    tx: &Connection,
    pk: &str,
    from: &str,
    to: &str,
    descending: bool,
    limit: usize,
) -> Result<Vec<String>, StoreError> {
    let order = if descending { "DESC" } else { "ASC" };
    let sql = format!("SELECT body FROM items WHERE pk = ?1 AND sk >= ?2 AND sk < ?3 ORDER BY sk {order} LIMIT ?4");
    let mut statement = tx.prepare_cached(&sql).map_err(unavailable)?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = statement.query_map(params![pk, from, to, limit], |row| row.get(0)).map_err(unavailable)?;
    rows.collect::<Result<_, _>>().map_err(unavailable)
}

fn credentials(tx: &Connection, tenant: &TenantId) -> Result<Vec<StoredCredential>, StoreError> {
    let bodies = range(tx, &partition_key(tenant), CREDENTIAL_PREFIX, &prefix_end(CREDENTIAL_PREFIX), false, 1_000)?;
    bodies.iter().map(|b| decode(b)).collect()
}

fn by_proxy(tx: &Connection, tenant: &TenantId, proxy: &ProxyValue) -> Result<Option<StoredCredential>, StoreError> {
    Ok(credentials(tx, tenant)?.into_iter().find(|c| &c.proxy == proxy))
}

#[async_trait]
impl CredentialStore for EmbeddedStore {
    async fn get(&self, slot: &CredentialSlot) -> Result<Option<StoredCredential>, StoreError> {
        let (pk, sk) = (partition_key(&slot.tenant), credential_sort_key(slot));
        self.read(|tx| read_body(tx, &pk, &sk)?.as_deref().map(decode).transpose())
    }

    async fn put(&self, write: &CredentialWrite) -> Result<StoredCredential, StoreError> {
        let write = write.clone();
        // One job of the writer thread: the read, the new version and the write happen with no other
        // write in between (jobs run one after another on the one write connection).
        self.transaction(move |tx| {
            let (pk, sk) = (partition_key(&write.slot.tenant), credential_sort_key(&write.slot));
            let current = read_body(tx, &pk, &sk)?.as_deref().map(decode).transpose()?;
            if let Some(current) = current.as_ref().filter(|c| write.is_stored_in(c)) {
                return Ok(current.clone());
            }
            let item = CredentialItem::from(&write.applied_to(current.as_ref()));
            let body = serde_json::to_string(&item).map_err(unavailable)?;
            write_body(tx, &pk, &sk, item.version, &body)?;
            // As stored (timestamps to the second), as `get` reads it back.
            item.try_into()
        })
        .await
    }

    async fn find_by_proxy(
        &self,
        tenant: &TenantId,
        proxy: &ProxyValue,
    ) -> Result<Option<StoredCredential>, StoreError> {
        self.read(|tx| by_proxy(tx, tenant, proxy))
    }

    async fn list(&self, tenant: &TenantId) -> Result<Vec<StoredCredential>, StoreError> {
        self.read(|tx| credentials(tx, tenant))
    }

    async fn revoke(&self, tenant: &TenantId, proxy: &ProxyValue) -> Result<bool, StoreError> {
        let (tenant, proxy) = (tenant.clone(), proxy.clone());
        self.transaction(move |tx| {
            let Some(credential) = by_proxy(tx, &tenant, &proxy)? else {
                return Ok(false);
            };
            tx.execute(
                "DELETE FROM items WHERE pk = ?1 AND sk = ?2",
                params![partition_key(&tenant), credential_sort_key(&credential.slot)],
            )
            .map_err(unavailable)?;
            Ok(true)
        })
        .await
    }

    async fn begin_use(&self, record: &CredentialUse) -> Result<(), BeginUseError> {
        let item = UseItem::from(record);
        let body = serde_json::to_string(&item).map_err(|e| BeginUseError::Store(unavailable(e)))?;
        let (slot, proxy, version, at) =
            (record.slot.clone(), record.proxy.clone(), record.credential_version, record.started_at);
        self.transaction(move |tx| {
            let (pk, sk) = (partition_key(&slot.tenant), credential_sort_key(&slot));
            let current = read_body(tx, &pk, &sk)?.as_deref().map(decode).transpose()?;
            let Some(mut credential) = current.filter(|c| c.version == version && c.proxy == proxy) else {
                return Err(BeginUseError::CredentialChanged);
            };
            credential.last_used_at = Some(at);
            let credential_body = serde_json::to_string(&CredentialItem::from(&credential)).map_err(unavailable)?;
            write_body(tx, &pk, &sk, credential.version, &credential_body)?;
            if read_body(tx, &item.pk, &item.sk)?.is_some() {
                return Err(BeginUseError::Store(StoreError::Unavailable("use id already recorded".into())));
            }
            write_body(tx, &item.pk, &item.sk, 0, &body)?;
            Ok(())
        })
        .await
    }

    async fn finish_use(&self, record: &CredentialUse) -> Result<(), StoreError> {
        let item = UseItem::from(record);
        let body = serde_json::to_string(&item).map_err(unavailable)?;
        // Queued, not awaited, as the port allows: the use was recorded, synced, before the partner
        // call; a completion lost to a crash leaves it PENDING ("sent, answer not recorded").
        let span = tracing::error_span!("use_completion", use_id = %record.id);
        self.queue_unsynced(span, move |tx| {
            if read_body(tx, &item.pk, &item.sk)?.is_none() {
                return Err(StoreError::Unavailable("the use was never begun".into()));
            }
            write_body(tx, &item.pk, &item.sk, 0, &body)
        })
    }

    async fn uses(
        &self,
        tenant: &TenantId,
        proxy: &ProxyValue,
        before: Option<&UseId>,
        limit: usize,
    ) -> Result<Vec<CredentialUse>, StoreError> {
        let pk = partition_key(tenant);
        let prefix = use_prefix(proxy);
        let to = before.map_or_else(|| prefix_end(&prefix), |id| use_sort_key(proxy, id));
        self.read_after_queued_writes(|tx| {
            range(tx, &pk, &prefix, &to, true, limit)?.iter().map(|b| decode_use(b)).collect()
        })
        .await
    }
}
