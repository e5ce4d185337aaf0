//! The events table as the webhooks' outbox: each webhook reads its tenant's events after its cursor,
//! in `seq` order, and moves the cursor once its receiver has accepted one. An event is appended in
//! the same write as its decision, and `seq` grows in commit order (one writer), so no event can
//! appear later behind a cursor that has passed its place.

use rusqlite::{OptionalExtension, params};

use super::{EmbeddedStore, unavailable};
use cofre_domain::store::StoreError;
use cofre_domain::tenant::TenantId;

/// One event of the outbox: its place in the events table and its body as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEvent {
    /// Its `seq`: the order the events were committed in.
    pub seq: i64,
    /// The event's JSON, as `cofre-local events` prints it.
    pub body: String,
}

impl EmbeddedStore {
    /// The `seq` of the last event the webhook at `url` accepted for `tenant` (0: none yet).
    pub fn webhook_cursor(&self, tenant: &TenantId, url: &str) -> Result<i64, StoreError> {
        self.read(|tx| {
            let mut statement = tx
                .prepare_cached("SELECT delivered FROM webhook_cursors WHERE tenant = ?1 AND url = ?2")
                .map_err(unavailable)?;
            let delivered = statement
                .query_row(params![tenant.as_str(), url], |row| row.get::<_, i64>(0))
                .optional()
                .map_err(unavailable)?;
            Ok(delivered.unwrap_or(0))
        })
    }

    /// At most `limit` of `tenant`'s events committed after `after`, oldest first.
    pub fn tenant_events_after(
        &self,
        tenant: &TenantId,
        after: i64,
        limit: usize,
    ) -> Result<Vec<OutboxEvent>, StoreError> {
        let limit = i64::try_from(limit).map_err(unavailable)?;
        self.read(|tx| {
            let mut statement = tx
                .prepare_cached("SELECT seq, body FROM events WHERE seq > ?1 AND tenant = ?2 ORDER BY seq LIMIT ?3")
                .map_err(unavailable)?;
            let rows = statement
                .query_map(params![after, tenant.as_str(), limit], |row| {
                    Ok(OutboxEvent { seq: row.get(0)?, body: row.get(1)? })
                })
                .map_err(unavailable)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(unavailable)
        })
    }

    /// Records that the webhook at `url` accepted `tenant`'s events up to `seq`. Never moves a cursor
    /// back. Not synced on its own: a power failure may lose it, and the event is then delivered
    /// again (at least once), never skipped.
    pub async fn advance_webhook_cursor(&self, tenant: &TenantId, url: &str, seq: i64) -> Result<(), StoreError> {
        let (tenant, url) = (tenant.as_str().to_owned(), url.to_owned());
        self.transaction_unsynced(move |tx| {
            tx.prepare_cached(
                "INSERT INTO webhook_cursors (tenant, url, delivered) VALUES (?1, ?2, ?3)
                 ON CONFLICT (tenant, url) DO UPDATE SET delivered = max(delivered, excluded.delivered)",
            )
            .and_then(|mut statement| statement.execute(params![tenant, url, seq]))
            .map_err(unavailable)?;
            Ok(())
        })
        .await
    }
}
