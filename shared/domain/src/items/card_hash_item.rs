//! A card's PAN hash as both stores keep it: in its account's body, and as the sort key of the
//! look-up item the account is found by ([`super::ledger_item::ledger_key`]). Re-keying a card
//! changes both.

use crate::authorizations::{Account, AccountSettings, LookupTarget};
use crate::crypto::KeyedHash;
use crate::store::StoreError;

use super::ledger_item::encode_account;

/// How every account's sort key begins ([`super::ledger_item::ledger_key`]).
pub const ACCOUNT_SORT_KEY_PREFIX: &str = "ACCOUNT#";

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("account: {e}"))
}

/// An account item's body read back (on DynamoDB, `available` in it is the one it was inserted with:
/// the current one is kept beside it).
pub fn account_of_body(body: &str) -> Result<Account, StoreError> {
    serde_json::from_str(body).map_err(corrupt)
}

/// `body` (an account item's) with card `card_id`'s hash `expected` replaced by `new`, and where the
/// card's look-up points: `None` if the account has no such card with that hash.
pub fn rekeyed_account_body(
    body: &str,
    card_id: i64,
    expected: &KeyedHash,
    new: &KeyedHash,
) -> Result<Option<(String, LookupTarget)>, StoreError> {
    let mut account = account_of_body(body)?;
    let settings: AccountSettings = serde_json::from_str(body).map_err(corrupt)?;
    let Some(card) = account.cards.iter_mut().find(|c| c.id == card_id && c.pan_hash.matches(expected)) else {
        return Ok(None);
    };
    card.pan_hash = new.clone();
    let target = LookupTarget { account_id: account.id, program_id: account.program_id, card_id: Some(card_id) };
    Ok(Some((encode_account(&account, &settings)?, target)))
}

#[cfg(test)]
mod tests {
    // Test code: a failed unwrap is a failed test.
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::authorizations::{AccountId, AccountStatus, Card, CardMode, CardStatus, Currency, Expiry, LedgerKey};
    use crate::crypto::{HmacKeyId, HmacKeyring};
    use crate::items::ledger_item::ledger_key;
    use crate::secret::SecretBytes;
    use crate::tenant::TenantId;

    #[test]
    fn a_rekeyed_body_changes_only_the_card_s_hash() {
        let keyring = HmacKeyring::legacy(SecretBytes::new(vec![1; 32])).unwrap();
        let (old, other) = (keyring.hash("d", b"1"), keyring.hash("d", b"2"));
        let new = keyring
            .with_key(HmacKeyId::parse("k1").unwrap(), SecretBytes::new(vec![2; 32]))
            .unwrap()
            .with_current(&HmacKeyId::parse("k1").unwrap())
            .unwrap()
            .hash("d", b"1");
        let card = |id, pan_hash: &KeyedHash| Card {
            id,
            stored_id: format!("s{id}"),
            status: CardStatus::Normal,
            expiry: Expiry::parse("2030-01").unwrap(),
            mode: CardMode::Credit,
            pan_hash: pan_hash.clone(),
            masked_pan: "411111******1111".into(),
        };
        let account = Account {
            tenant: TenantId::parse("t").unwrap(),
            id: AccountId::new(7).unwrap(),
            program_id: 3,
            document_number: "d".into(),
            status: AccountStatus::Normal,
            currency: Currency::parse("BRL").unwrap(),
            limit: 100,
            available: 60,
            held: 0,
            bank: None,
            cards: vec![card(1, &old), card(2, &other)],
        };
        let settings = AccountSettings { force_original_authorization: true, ..AccountSettings::default() };
        let body = encode_account(&account, &settings).unwrap();
        let (rekeyed, target) = rekeyed_account_body(&body, 1, &old, &new).unwrap().unwrap();
        assert_eq!(target, LookupTarget { account_id: account.id, program_id: 3, card_id: Some(1) });
        let mut expected = account.clone();
        expected.cards[0].pan_hash = new.clone();
        assert_eq!(account_of_body(&rekeyed).unwrap(), expected);
        assert_eq!(rekeyed, encode_account(&expected, &settings).unwrap(), "settings kept");
        assert!(rekeyed_account_body(&rekeyed, 1, &old, &new).unwrap().is_none(), "no longer under the old hash");
        assert!(rekeyed_account_body(&body, 2, &old, &new).unwrap().is_none(), "another card's hash");
        assert!(rekeyed_account_body(&body, 9, &old, &new).unwrap().is_none(), "no such card");
        let (_, sk) = ledger_key(&account.tenant, &LedgerKey::Account(account.id));
        assert!(sk.starts_with(ACCOUNT_SORT_KEY_PREFIX), "{sk}");
    }
}
