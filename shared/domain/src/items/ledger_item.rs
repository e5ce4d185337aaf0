//! The ledger's stored layout, shared by both stores: one partition per tenant; accounts, authorizations,
//! idempotency records and lookups as items whose body is JSON. On DynamoDB the few attributes a
//! condition or an atomic update needs (`available`, `held`, `status`, `version`) live beside the body,
//! and so does the copy of a settleable authorization a tracking record keeps ([`TRACKED_AUTHORIZATION`]).

use super::credential_item::partition_key;
use crate::authorizations::{
    Account, AccountSettings, AuthorizationId, AuthorizationRecord, DueHold, LedgerItem, LedgerKey, LookupKey,
    LookupTarget, due_ms,
};
use crate::store::StoreError;
use crate::tenant::TenantId;

/// The attribute of a DynamoDB tracking record holding its authorization's JSON, as it stands now,
/// while a settlement can act on it (see [`LedgerKey::AuthorizationOf`]). Beside the body, not in it,
/// so that a commit changing the authorization can replace it without reading the record.
pub const TRACKED_AUTHORIZATION: &str = "authorization";

/// The DynamoDB global secondary index of due holds (`docs/hold-expiry.md`): sparse, only authorization
/// items that hold something that expires carry its keys, [`HOLD_SHARD`] and [`HOLD_DUE`].
pub const DUE_HOLDS_INDEX: &str = "due-holds";
/// The due index's partition key: one of [`DUE_HOLD_SHARDS`] shards, so that no one partition of the
/// index takes every hold's writes.
pub const HOLD_SHARD: &str = "hold_shard";
/// The due index's sort key: the due instant in milliseconds, zero-padded, then the id (see
/// [`hold_due_key`]): sorted as [`DueHold`]s are, and comparable with a bound.
pub const HOLD_DUE: &str = "hold_due";
/// How many shards the due index spreads holds over (by id: its low bits are random).
pub const DUE_HOLD_SHARDS: u64 = 4;

/// The due index's keys for `record` while its hold can expire: `(shard, sort key)`.
pub fn due_hold_attributes(record: &AuthorizationRecord) -> Option<(String, String)> {
    let due = record.hold_due()?;
    Some(((record.id.0 % DUE_HOLD_SHARDS).to_string(), hold_due_key(due_ms(due), record.id.0)))
}

/// The sort key of a hold due at `due_ms` (the shards' bound for "due by": the id `u64::MAX`, past every id).
pub fn hold_due_key(due_ms: i64, id: u64) -> String {
    format!("{due_ms:015}#{id:020}")
}

/// The due hold an index entry names: its item's `pk` (the tenant's partition) and [`HOLD_DUE`].
pub fn parse_due_hold(pk: &str, hold_due: &str) -> Result<DueHold, StoreError> {
    let bad = || StoreError::Corrupt(format!("due index entry {pk} {hold_due}"));
    let tenant = pk.strip_prefix("TENANT#").and_then(|t| TenantId::parse(t).ok()).ok_or_else(bad)?;
    let (due, id) = hold_due.split_once('#').ok_or_else(bad)?;
    Ok(DueHold {
        due_ms: due.parse().map_err(|_| bad())?,
        authorization_id: AuthorizationId(id.parse().map_err(|_| bad())?),
        tenant,
    })
}

/// The `(pk, sk)` of a ledger key.
pub fn ledger_key(tenant: &TenantId, key: &LedgerKey) -> (String, String) {
    let sk = match key {
        LedgerKey::Recorded(tracking) | LedgerKey::AuthorizationOf(tracking) => format!("TRACK#{tracking}"),
        // The settings are kept in the account's item.
        LedgerKey::Account(id) | LedgerKey::AccountSettings(id) => format!("ACCOUNT#{id}"),
        LedgerKey::Authorization(id) => format!("AUTH#{}", id.0),
        LedgerKey::Lookup(LookupKey::Document(document)) => format!("LOOKUP#DOC#{document}"),
        // `<key id>$<hash>`, or the hash alone under the legacy key (as before keys had ids).
        LedgerKey::Lookup(LookupKey::Pan(hash)) => format!("LOOKUP#PAN#{}", hash.encode_for_key()),
        LedgerKey::Lookup(LookupKey::StoredId(stored)) => format!("LOOKUP#STORED#{stored}"),
        LedgerKey::Lookup(LookupKey::Bank(bank)) => format!("LOOKUP#BANK#{}#{}", bank.branch, bank.account),
    };
    (partition_key(tenant), sk)
}

/// The lookups an account is reachable by, with the target each points at.
pub fn account_lookups(account: &Account) -> Vec<(LookupKey, LookupTarget)> {
    let target = |card_id| LookupTarget { account_id: account.id, program_id: account.program_id, card_id };
    let mut lookups = vec![(LookupKey::Document(account.document_number.clone()), target(None))];
    for card in &account.cards {
        lookups.push((LookupKey::Pan(card.pan_hash.clone()), target(Some(card.id))));
        lookups.push((LookupKey::StoredId(card.stored_id.clone()), target(Some(card.id))));
    }
    if let Some(bank) = &account.bank {
        lookups.push((LookupKey::Bank(bank.clone()), target(None)));
    }
    lookups
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

/// Decodes a stored body into the item its key names (for [`LedgerKey::AuthorizationOf`], the
/// tracking record's body: the decision that points at the authorization).
pub fn decode(key: &LedgerKey, body: &str) -> Result<LedgerItem, StoreError> {
    Ok(match key {
        LedgerKey::Recorded(_) | LedgerKey::AuthorizationOf(_) => {
            LedgerItem::Recorded(serde_json::from_str(body).map_err(|e| corrupt("recorded decision", e))?)
        }
        LedgerKey::Account(_) => LedgerItem::Account(serde_json::from_str(body).map_err(|e| corrupt("account", e))?),
        LedgerKey::AccountSettings(_) => {
            LedgerItem::AccountSettings(serde_json::from_str(body).map_err(|e| corrupt("account settings", e))?)
        }
        LedgerKey::Authorization(_) => LedgerItem::Authorization(decode_authorization(body)?),
        LedgerKey::Lookup(_) => LedgerItem::Lookup(serde_json::from_str(body).map_err(|e| corrupt("lookup", e))?),
    })
}

/// Decodes an authorization's JSON (an authorization item's body, or a tracking record's copy).
pub fn decode_authorization(body: &str) -> Result<AuthorizationRecord, StoreError> {
    serde_json::from_str(body).map_err(|e| corrupt("authorization", e))
}

/// An account item's body: the account's fields, then those of its settings that are on (none, for an
/// account with every setting off: the body an account had before settings existed).
pub fn encode_account(account: &Account, settings: &AccountSettings) -> Result<String, StoreError> {
    #[derive(serde::Serialize)]
    struct Body<'a> {
        #[serde(flatten)]
        account: &'a Account,
        #[serde(flatten)]
        settings: &'a AccountSettings,
    }
    encode(&Body { account, settings })
}

/// JSON of a stored value.
pub fn encode(value: &impl serde::Serialize) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Unavailable(format!("encoding: {e}")))
}

#[cfg(test)]
mod tests {
    // Test code: a failed unwrap is a failed test.
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::authorizations::{AccountId, AccountStatus, Currency};

    #[test]
    fn due_index_keys_sort_as_due_holds_do_and_read_back_to_them() {
        let tenant = TenantId::parse("t-1").unwrap();
        let holds = [(999, 7_u64), (1_000, 3), (1_000, 12), (1_764_000_000_000, AuthorizationId::MAX)];
        let keys: Vec<String> = holds.iter().map(|(due, id)| hold_due_key(*due, *id)).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(sorted, keys, "as text in due, then id, order");
        assert!(hold_due_key(1_000, u64::MAX) > keys[2] && hold_due_key(1_000, u64::MAX) < hold_due_key(1_001, 0));
        for ((due, id), key) in holds.iter().zip(&keys) {
            let hold = parse_due_hold(&partition_key(&tenant), key).unwrap();
            assert_eq!(hold, DueHold { due_ms: *due, authorization_id: AuthorizationId(*id), tenant: tenant.clone() });
        }
        for (pk, key) in [("TENANT#t-1", "x#1"), ("ACCOUNT#1", &keys[0]), ("TENANT#t-1", "1000")] {
            assert!(matches!(parse_due_hold(pk, key), Err(StoreError::Corrupt(_))), "{pk} {key}");
        }
    }

    #[test]
    fn an_account_s_settings_live_in_its_body_and_are_off_where_absent() {
        let account = Account {
            tenant: TenantId::parse("t").unwrap(),
            id: AccountId::new(1).unwrap(),
            program_id: 1,
            document_number: "d".into(),
            status: AccountStatus::Normal,
            currency: Currency::parse("BRL").unwrap(),
            limit: 100,
            available: 100,
            held: 0,
            bank: None,
            cards: vec![],
        };
        let off = AccountSettings::default();
        let on = AccountSettings { force_original_authorization: true, ..AccountSettings::default() };
        // Off: byte for byte the body an account had before settings existed.
        assert_eq!(encode_account(&account, &off).unwrap(), encode(&account).unwrap());
        let body = encode_account(&account, &on).unwrap();
        assert!(body.ends_with(r#","force_original_authorization":true}"#), "{body}");
        let (account_key, settings_key) = (LedgerKey::Account(account.id), LedgerKey::AccountSettings(account.id));
        assert_eq!(ledger_key(&account.tenant, &account_key), ledger_key(&account.tenant, &settings_key));
        assert!(matches!(decode(&account_key, &body).unwrap(), LedgerItem::Account(a) if a == account));
        assert!(matches!(decode(&settings_key, &body).unwrap(), LedgerItem::AccountSettings(s) if s == on));
        let old = encode(&account).unwrap();
        assert!(matches!(decode(&settings_key, &old).unwrap(), LedgerItem::AccountSettings(s) if s == off));
    }
}
