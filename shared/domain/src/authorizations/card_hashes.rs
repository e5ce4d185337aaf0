//! Where cards' PAN hashes are kept, for re-keying them: a card's hash lives in its account and names
//! the look-up item the account is found by. The PAN itself is never stored, so a card is re-hashed
//! only when its PAN is given again (seeding it again, [`super::AccountSeeder`]).

use async_trait::async_trait;

use super::{Account, AccountId};
use crate::crypto::KeyedHash;
use crate::store::{Page, ScanCursor, StoreError};
use crate::tenant::TenantId;

/// The port to cards' PAN hashes (the ledger's store).
#[async_trait]
pub trait CardHashStore: Send + Sync {
    /// One page of every account of every tenant, after `after` (from the start if `None`): a scan of
    /// the ledger, for maintenance (finding hashes under a key), never for a request.
    async fn accounts_page(&self, after: Option<&ScanCursor>) -> Result<Page<Account>, StoreError>;

    /// Gives `account`'s card `card_id` the hash `new` if its hash is still `expected`, and moves the
    /// card's look-up from `expected`'s entry to `new`'s, in one atomic write: `false` if the card
    /// changed or is gone; an error if `new`'s look-up already points at another card.
    async fn rekey_card(
        &self,
        tenant: &TenantId,
        account: AccountId,
        card_id: i64,
        expected: &KeyedHash,
        new: &KeyedHash,
    ) -> Result<bool, StoreError>;
}
