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

    /// At most `limit` of `tenant`'s events committed after `after`, oldest first, and how far the
    /// table was read: every event up to that `seq` that is not in the page is another tenant's (or
    /// beyond the page), so the next read may start there. Without it, a tenant with few events
    /// would scan every other tenant's events after its cursor again at each look.
    pub fn tenant_events_after(
        &self,
        tenant: &TenantId,
        after: i64,
        limit: usize,
    ) -> Result<(Vec<OutboxEvent>, i64), StoreError> {
        let wanted = i64::try_from(limit).map_err(unavailable)?;
        self.read(|tx| {
            let mut statement = tx
                .prepare_cached("SELECT seq, body FROM events WHERE seq > ?1 AND tenant = ?2 ORDER BY seq LIMIT ?3")
                .map_err(unavailable)?;
            let rows = statement
                .query_map(params![after, tenant.as_str(), wanted], |row| {
                    Ok(OutboxEvent { seq: row.get(0)?, body: row.get(1)? })
                })
                .map_err(unavailable)?;
            let page = rows.collect::<Result<Vec<_>, _>>().map_err(unavailable)?;
            let read_to = match page.last() {
                Some(last) if page.len() == limit => last.seq,
                // A short page: the whole table (as of this snapshot) was read.
                _ => tx
                    .query_row("SELECT coalesce(max(seq), 0) FROM events", [], |row| row.get::<_, i64>(0))
                    .map_err(unavailable)?
                    .max(after),
            };
            Ok((page, read_to))
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

#[cfg(test)]
mod tests {
    // Test code: a failed unwrap is a failed test.
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[tokio::test]
    async fn a_tenants_events_are_read_in_order_and_the_read_moves_past_other_tenants_events() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        // seq 1..=6: a, b, a, b, b, b.
        store
            .transaction(|tx| {
                for (tenant, body) in [("a", "a1"), ("b", "b1"), ("a", "a2"), ("b", "b2"), ("b", "b3"), ("b", "b4")] {
                    tx.execute("INSERT INTO events (tenant, body) VALUES (?1, ?2)", params![tenant, body])
                        .map_err(unavailable)?;
                }
                Ok::<_, StoreError>(())
            })
            .await
            .unwrap();
        let (a, b) = (TenantId::parse("a").unwrap(), TenantId::parse("b").unwrap());
        let bodies = |page: &[OutboxEvent]| page.iter().map(|e| e.body.clone()).collect::<Vec<_>>();
        // A full page: read up to its last event.
        let (page, read_to) = store.tenant_events_after(&b, 0, 2).unwrap();
        assert_eq!((bodies(&page), read_to), (vec!["b1".to_owned(), "b2".to_owned()], 4));
        // A short page: read to the end of the table.
        let (page, read_to) = store.tenant_events_after(&a, 0, 10).unwrap();
        assert_eq!((bodies(&page), read_to), (vec!["a1".to_owned(), "a2".to_owned()], 6));
        assert_eq!(store.tenant_events_after(&a, 6, 10).unwrap(), (Vec::new(), 6));
        // Cursors: none yet is 0; they never move back.
        assert_eq!(store.webhook_cursor(&a, "http://h/").unwrap(), 0);
        store.advance_webhook_cursor(&a, "http://h/", 3).await.unwrap();
        store.advance_webhook_cursor(&a, "http://h/", 1).await.unwrap();
        assert_eq!(store.webhook_cursor(&a, "http://h/").unwrap(), 3);
        assert_eq!(store.webhook_cursor(&a, "http://other/").unwrap(), 0, "one cursor per URL");
    }
}
