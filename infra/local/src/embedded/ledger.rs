//! The embedded store as the `Ledger`: every commit one atomic write (a savepoint of the writer's
//! batch), every condition checked inside it, events appended to their own table in the same write;
//! reads on the read connections. An original named by tracking_id is read through its tracking
//! record within the same read transaction: a point read here costs no round trip, so no copy of it
//! is kept (nor has to be kept current by the writer).

use async_trait::async_trait;
use rusqlite::params;

use super::{EmbeddedStore, read_body, unavailable, write_body};
use cofre_domain::authorizations::{
    Account, AccountSettings, AccountStatus, Commit, CommitError, Ledger, LedgerItem, LedgerKey, LookupKey,
    LookupTarget,
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
            keys.iter()
                .map(|key| {
                    let (pk, sk) = ledger_key(tenant, key);
                    let Some(body) = read_body(tx, &pk, &sk)? else { return Ok(None) };
                    let item = decode(key, &body);
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
        let original = match &commit.original {
            Some((original, expected)) => Some((original.id, original.version, *expected, encode(original)?)),
            None => None,
        };
        let events = commit.events.iter().map(encode).collect::<Result<Vec<_>, _>>()?;
        self.transaction(move |tx| {
            let tenant = &tenant;
            if read_body(tx, &recorded_key.0, &recorded_key.1)?.is_some() {
                return Err(CommitError::Duplicate);
            }
            if let Some(change) = &balance {
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
                if (change.keep_non_negative && next < 0)
                    || (change.require_normal && account.status != AccountStatus::Normal)
                {
                    return Err(CommitError::Conflict);
                }
                account.available = next;
                account.held = held;
                write_body(tx, &pk, &sk, 0, &encode_account(&account, &settings)?)?;
            }
            let (pk, sk) = ledger_key(tenant, &LedgerKey::Authorization(authorization_id));
            if read_body(tx, &pk, &sk)?.is_some() {
                return Err(CommitError::Conflict);
            }
            write_body(tx, &pk, &sk, authorization.0, &authorization.1)?;
            if let Some((id, version, expected, body)) = &original {
                let (pk, sk) = ledger_key(tenant, &LedgerKey::Authorization(*id));
                let Some(current) = read_body(tx, &pk, &sk)? else { return Err(CommitError::Conflict) };
                let LedgerItem::Authorization(current) = decode(&LedgerKey::Authorization(*id), &current)? else {
                    return Err(CommitError::Conflict);
                };
                if current.version != *expected {
                    return Err(CommitError::Conflict);
                }
                write_body(tx, &pk, &sk, *version, body)?;
            }
            write_body(tx, &recorded_key.0, &recorded_key.1, 0, &recorded)?;
            let mut insert =
                tx.prepare_cached("INSERT INTO events (tenant, body) VALUES (?1, ?2)").map_err(unavailable)?;
            for event in &events {
                insert.execute(params![tenant.as_str(), event]).map_err(unavailable)?;
            }
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
