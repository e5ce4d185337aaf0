//! The embedded store as the `CardHashStore`: a scan of its accounts by page, and per card re-keyed
//! one atomic write (the account's body, the look-up under the new hash added, the old one deleted).

use async_trait::async_trait;

use super::{EmbeddedStore, delete_item, read_body, scan_page, write_body};
use cofre_domain::authorizations::{Account, AccountId, CardHashStore, LedgerKey, LookupKey};
use cofre_domain::crypto::KeyedHash;
use cofre_domain::items::card_hash_item::{ACCOUNT_SORT_KEY_PREFIX, account_of_body, rekeyed_account_body};
use cofre_domain::items::ledger_item::{encode, ledger_key};
use cofre_domain::store::{Page, ScanCursor, StoreError};
use cofre_domain::tenant::TenantId;

#[async_trait]
impl CardHashStore for EmbeddedStore {
    async fn accounts_page(&self, after: Option<&ScanCursor>) -> Result<Page<Account>, StoreError> {
        let (bodies, next) = self.read(|tx| scan_page(tx, ACCOUNT_SORT_KEY_PREFIX, after))?;
        let items = bodies.iter().map(|body| account_of_body(body)).collect::<Result<_, _>>()?;
        Ok(Page { items, next })
    }

    async fn rekey_card(
        &self,
        tenant: &TenantId,
        account: AccountId,
        card_id: i64,
        expected: &KeyedHash,
        new: &KeyedHash,
    ) -> Result<bool, StoreError> {
        let (pk, sk) = ledger_key(tenant, &LedgerKey::Account(account));
        let (_, old_lookup) = ledger_key(tenant, &LedgerKey::Lookup(LookupKey::Pan(expected.clone())));
        let (_, new_lookup) = ledger_key(tenant, &LedgerKey::Lookup(LookupKey::Pan(new.clone())));
        let (expected, new) = (expected.clone(), new.clone());
        self.transaction(move |tx| {
            let Some(body) = read_body(tx, &pk, &sk)? else { return Ok(false) };
            let Some((body, target)) = rekeyed_account_body(&body, card_id, &expected, &new)? else { return Ok(false) };
            if read_body(tx, &pk, &new_lookup)?.is_some() {
                return Err(StoreError::Unavailable("the card's new look-up already points at a card".into()));
            }
            write_body(tx, &pk, &sk, 0, &body)?;
            write_body(tx, &pk, &new_lookup, 0, &encode(&vec![target])?)?;
            delete_item(tx, &pk, &old_lookup)?;
            Ok(true)
        })
        .await
    }
}
