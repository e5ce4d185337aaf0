//! The embedded store as the `Ledger`: every commit one atomic write (a savepoint of the writer's
//! batch), every condition checked inside it, events appended to their own table in the same write;
//! reads on the read connections. An original named by tracking_id is read through its tracking
//! record within the same read transaction: a point read here costs no round trip, so no copy of it
//! is kept (nor has to be kept current by the writer).

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use async_trait::async_trait;
use rusqlite::{Transaction, params};
use time::OffsetDateTime;

use super::{EmbeddedStore, read_body, unavailable, write_body};
use cofre_domain::authorizations::{
    Account, AccountSettings, AccountStatus, AuthorizationId, BalanceChange, Commit, CommitError, DueHold, HoldRelease,
    Ledger, LedgerItem, LedgerKey, LookupKey, LookupTarget, due_ms,
};
use cofre_domain::items::ledger_item::{account_lookups, decode, encode, encode_account, ledger_key};
use cofre_domain::store::StoreError;
use cofre_domain::tenant::TenantId;

#[async_trait]
impl Ledger for EmbeddedStore {
    async fn get(
        &self,
        tenant: &TenantId,
        keys: &[LedgerKey],
    ) -> Result<Vec<Option<Result<LedgerItem, StoreError>>>, StoreError> {
        self.read(|tx| {
            // Each row once, as the port promises (an account and its settings are one row), as
            // the DynamoDB adapter's one `BatchGetItem` does.
            let addresses: Vec<(String, String)> = keys.iter().map(|key| ledger_key(tenant, key)).collect();
            let mut bodies: HashMap<&(String, String), Option<String>> = HashMap::with_capacity(addresses.len());
            for address in &addresses {
                if let Entry::Vacant(vacant) = bodies.entry(address) {
                    vacant.insert(read_body(tx, &address.0, &address.1)?);
                }
            }
            keys.iter()
                .zip(&addresses)
                .map(|(key, address)| {
                    let Some(body) = bodies.get(address).and_then(Option::as_deref) else { return Ok(None) };
                    let item = decode(key, body);
                    match (key, item) {
                        (LedgerKey::AuthorizationOf(_), Ok(LedgerItem::Recorded(recorded))) => {
                            let by_id = LedgerKey::Authorization(recorded.authorization_id);
                            let (pk, sk) = ledger_key(tenant, &by_id);
                            Ok(Some(match read_body(tx, &pk, &sk)? {
                                Some(body) => decode(&by_id, &body),
                                None => Ok(LedgerItem::Recorded(recorded)),
                            }))
                        }
                        (_, item) => Ok(Some(item)),
                    }
                })
                .collect()
        })
    }

    async fn commit(&self, commit: &Commit) -> Result<(), CommitError> {
        // Everything that does not depend on what is stored is encoded here, not on the writer.
        let tenant = commit.tenant.clone();
        let recorded_key = ledger_key(&tenant, &LedgerKey::Recorded(commit.recorded.tracking_id.clone()));
        let recorded = encode(&commit.recorded)?;
        let balance = commit.balance.clone();
        let authorization_id = commit.authorization.id;
        let authorization = (commit.authorization.version, encode(&commit.authorization)?);
        let authorization_due = commit.authorization.hold_due().map(due_ms);
        let original = match &commit.original {
            Some((original, expected)) => {
                Some((original.id, original.version, *expected, encode(original)?, original.hold_due().map(due_ms)))
            }
            None => None,
        };
        let events = commit.events.iter().map(encode).collect::<Result<Vec<_>, _>>()?;
        self.transaction(move |tx| {
            let tenant = &tenant;
            if read_body(tx, &recorded_key.0, &recorded_key.1)?.is_some() {
                return Err(CommitError::Duplicate);
            }
            if let Some(change) = &balance {
                apply_balance(tx, tenant, change)?;
            }
            let (pk, sk) = ledger_key(tenant, &LedgerKey::Authorization(authorization_id));
            if read_body(tx, &pk, &sk)?.is_some() {
                return Err(CommitError::Conflict);
            }
            write_body(tx, &pk, &sk, authorization.0, &authorization.1)?;
            if let Some(due) = authorization_due {
                index_due_hold(tx, tenant, authorization_id, Some(due))?;
            }
            if let Some((id, version, expected, body, due)) = &original {
                let (pk, sk) = ledger_key(tenant, &LedgerKey::Authorization(*id));
                let Some(current) = read_body(tx, &pk, &sk)? else { return Err(CommitError::Conflict) };
                let LedgerItem::Authorization(current) = decode(&LedgerKey::Authorization(*id), &current)? else {
                    return Err(CommitError::Conflict);
                };
                if current.version != *expected {
                    return Err(CommitError::Conflict);
                }
                write_body(tx, &pk, &sk, *version, body)?;
                index_due_hold(tx, tenant, *id, *due)?;
            }
            write_body(tx, &recorded_key.0, &recorded_key.1, 0, &recorded)?;
            append_events(tx, tenant, &events)?;
            Ok(())
        })
        .await
    }

    async fn due_holds(
        &self,
        by: OffsetDateTime,
        after: Option<&DueHold>,
        limit: usize,
    ) -> Result<Vec<DueHold>, StoreError> {
        let by = due_ms(by);
        let after =
            after.map(|a| (a.due_ms, i64::try_from(a.authorization_id.0).unwrap_or(i64::MAX), a.tenant.clone()));
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(|tx| {
            // Row values compare in index order: a page starts right after the last one's hold.
            let (due, id, tenant) = after.unwrap_or((i64::MIN, i64::MIN, TenantId::parse("-").map_err(unavailable)?));
            let mut statement = tx
                .prepare_cached(
                    "SELECT due_ms, authorization_id, tenant FROM due_holds
                     WHERE due_ms <= ?1 AND (due_ms, authorization_id, tenant) > (?2, ?3, ?4)
                     ORDER BY due_ms, authorization_id, tenant LIMIT ?5",
                )
                .map_err(unavailable)?;
            let rows = statement
                .query_map(params![by, due, id, tenant.as_str(), limit], |row| {
                    Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?, row.get::<_, String>(2)?))
                })
                .map_err(unavailable)?;
            rows.map(|row| {
                let (due_ms, id, tenant) = row.map_err(unavailable)?;
                Ok(DueHold {
                    due_ms,
                    authorization_id: AuthorizationId(u64::try_from(id).map_err(unavailable)?),
                    tenant: TenantId::parse(&tenant).map_err(|e| StoreError::Corrupt(format!("due hold: {e}")))?,
                })
            })
            .collect()
        })
    }

    async fn release_hold(&self, release: &HoldRelease) -> Result<(), CommitError> {
        let tenant = release.tenant.clone();
        let balance = release.balance.clone();
        let (id, version, expected) =
            (release.authorization.id, release.authorization.version, release.expected_version);
        let body = encode(&release.authorization)?;
        let due = release.authorization.hold_due().map(due_ms);
        let events = release.events.iter().map(encode).collect::<Result<Vec<_>, _>>()?;
        self.transaction(move |tx| {
            let tenant = &tenant;
            let (pk, sk) = ledger_key(tenant, &LedgerKey::Authorization(id));
            let Some(current) = read_body(tx, &pk, &sk)? else { return Err(CommitError::Conflict) };
            let LedgerItem::Authorization(current) = decode(&LedgerKey::Authorization(id), &current)? else {
                return Err(CommitError::Conflict);
            };
            if current.version != expected {
                return Err(CommitError::Conflict);
            }
            if let Some(change) = &balance {
                apply_balance(tx, tenant, change)?;
            }
            write_body(tx, &pk, &sk, version, &body)?;
            index_due_hold(tx, tenant, id, due)?;
            append_events(tx, tenant, &events)?;
            Ok(())
        })
        .await
    }

    async fn insert_account(&self, account: &Account, settings: &AccountSettings) -> Result<bool, StoreError> {
        let (account, body) = (account.clone(), encode_account(account, settings)?);
        self.transaction(move |tx| {
            let (pk, sk) = ledger_key(&account.tenant, &LedgerKey::Account(account.id));
            if read_body(tx, &pk, &sk)?.is_some() {
                return Ok(false);
            }
            write_body(tx, &pk, &sk, 0, &body)?;
            for (lookup, target) in account_lookups(&account) {
                let key = LedgerKey::Lookup(lookup);
                let (pk, sk) = ledger_key(&account.tenant, &key);
                let mut targets: Vec<LookupTarget> = match read_body(tx, &pk, &sk)? {
                    Some(body) => serde_json::from_str(&body).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                    None => Vec::new(),
                };
                let unique = !matches!(key, LedgerKey::Lookup(LookupKey::Document(_)));
                if unique && !targets.is_empty() {
                    return Err(StoreError::Unavailable(
                        "a card or bank account already belongs to another account".into(),
                    ));
                }
                targets.push(target);
                write_body(tx, &pk, &sk, 0, &encode(&targets)?)?;
            }
            Ok(true)
        })
        .await
    }
}

/// Moves `change` on its account: the same checks DynamoDB's conditional update makes.
fn apply_balance(tx: &Transaction<'_>, tenant: &TenantId, change: &BalanceChange) -> Result<(), CommitError> {
    let (pk, sk) = ledger_key(tenant, &LedgerKey::Account(change.account_id));
    let Some(body) = read_body(tx, &pk, &sk)? else { return Err(CommitError::Conflict) };
    // Unreadable: not as the decision took it (a settlement does not read it first); deciding
    // again reads it, and denies.
    let Ok(mut account) = serde_json::from_str::<Account>(&body) else { return Err(CommitError::Conflict) };
    // Kept in the same body, written back as they were.
    let Ok(settings) = serde_json::from_str::<AccountSettings>(&body) else {
        return Err(CommitError::Conflict);
    };
    // Beyond i64 no ledger can go; refusing is the only honest answer.
    let (Some(next), Some(held)) =
        (account.available.checked_add(change.delta), account.held.checked_add(change.held_delta))
    else {
        return Err(CommitError::Conflict);
    };
    if (change.keep_non_negative && next < 0) || (change.require_normal && account.status != AccountStatus::Normal) {
        return Err(CommitError::Conflict);
    }
    account.available = next;
    account.held = held;
    write_body(tx, &pk, &sk, 0, &encode_account(&account, &settings)?)?;
    Ok(())
}

/// Puts an authorization in the due index at `due` (milliseconds), or takes it out (`None`): in the
/// write that changes it, so the index never outlives its hold nor misses one.
fn index_due_hold(
    tx: &Transaction<'_>,
    tenant: &TenantId,
    id: AuthorizationId,
    due: Option<i64>,
) -> Result<(), StoreError> {
    let id = i64::try_from(id.0).map_err(unavailable)?;
    match due {
        Some(due) => tx
            .prepare_cached(
                "INSERT INTO due_holds (tenant, authorization_id, due_ms) VALUES (?1, ?2, ?3)
                 ON CONFLICT (tenant, authorization_id) DO UPDATE SET due_ms = excluded.due_ms",
            )
            .and_then(|mut s| s.execute(params![tenant.as_str(), id, due])),
        None => tx
            .prepare_cached("DELETE FROM due_holds WHERE tenant = ?1 AND authorization_id = ?2")
            .and_then(|mut s| s.execute(params![tenant.as_str(), id])),
    }
    .map_err(unavailable)?;
    Ok(())
}

fn append_events(tx: &Transaction<'_>, tenant: &TenantId, events: &[String]) -> Result<(), StoreError> {
    let mut insert = tx.prepare_cached("INSERT INTO events (tenant, body) VALUES (?1, ?2)").map_err(unavailable)?;
    for event in events {
        insert.execute(params![tenant.as_str(), event]).map_err(unavailable)?;
    }
    Ok(())
}

impl EmbeddedStore {
    /// Every event committed, oldest first, as JSON lines (for `cofre-local events`).
    pub async fn events(&self) -> Result<Vec<String>, StoreError> {
        // A scan of the whole table: on a blocking thread, not the caller's.
        let store = self.clone();
        let scan = tokio::task::spawn_blocking(move || {
            store.read(|tx| {
                let mut statement = tx.prepare("SELECT body FROM events ORDER BY seq").map_err(unavailable)?;
                let rows = statement.query_map([], |row| row.get::<_, String>(0)).map_err(unavailable)?;
                rows.collect::<Result<Vec<_>, _>>().map_err(unavailable)
            })
        });
        scan.await.map_err(unavailable)?
    }
}
