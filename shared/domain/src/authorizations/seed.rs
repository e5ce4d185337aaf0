use std::sync::Arc;

use serde_json::{Map, Value};

use super::account::{Account, AccountId, AccountSettings, BankAccount, Card, Expiry, MAX_HOLD_EXPIRY_SECONDS, Pan};
use super::{CardHashStore, Currency, Ledger, LedgerItem, LedgerKey, LookupKey, parse_minor_units};
use crate::crypto::{HmacKeySource, HmacKeyring, UnknownHmacKey};
use crate::tenant::TenantId;

/// Why an account fixture could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum AccountSeedError {
    /// A record is malformed; says which and why (never a PAN).
    #[error("accounts[{index}]: {reason}")]
    Invalid {
        /// Position in the file.
        index: usize,
        /// What is wrong.
        reason: String,
    },
    /// The HMAC key could not be had.
    #[error("PAN hashing: {0}")]
    Crypto(String),
    /// A card seeded again is stored hashed under a key the keyring no longer holds: whether its PAN
    /// is the one given cannot be told, so it is not re-hashed.
    #[error("accounts[{index}]: card {card_id}: {source}")]
    UnknownHmacKey {
        /// Position in the file.
        index: usize,
        /// The card.
        card_id: i64,
        /// The key.
        source: UnknownHmacKey,
    },
    /// The store failed.
    #[error("store: {0}")]
    Store(String),
}

/// What seeding did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct AccountSeedReport {
    /// Accounts inserted.
    pub inserted: usize,
    /// Accounts already there (left as they are, but for their cards' re-hashing).
    pub unchanged: usize,
    /// Cards of accounts already there whose PAN hash was re-made under the current key.
    pub rehashed: usize,
}

/// Loads fixture accounts: PANs are hashed and masked at load, never stored.
pub struct AccountSeeder {
    ledger: Arc<dyn Ledger>,
    cards: Arc<dyn CardHashStore>,
    hmac: Arc<dyn HmacKeySource>,
}

impl std::fmt::Debug for AccountSeeder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountSeeder").finish_non_exhaustive()
    }
}

fn text<'a>(o: &'a Map<String, Value>, field: &str) -> Result<&'a str, String> {
    o.get(field)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| format!("`{field}` must be a non-empty string"))
}

fn integer(o: &Map<String, Value>, field: &str) -> Result<i64, String> {
    o.get(field)
        .and_then(Value::as_i64)
        .filter(|v| *v > 0)
        .ok_or_else(|| format!("`{field}` must be a positive integer"))
}

fn hold_expiry_range() -> String {
    format!("`hold_expiry_seconds` must be a whole number of seconds from 1 to {MAX_HOLD_EXPIRY_SECONDS}")
}

fn parse_card(value: &Value, keyring: &HmacKeyring) -> Result<(Card, Pan), String> {
    let c = value.as_object().ok_or("each card must be an object")?;
    let id = integer(c, "id")?;
    let pan = Pan::parse(text(c, "pan")?).ok_or_else(|| format!("card {id}: `pan` must be 12 to 19 digits"))?;
    let card = Card {
        id,
        stored_id: Some(text(c, "stored_id")?)
            .filter(|s| super::request::key_safe(s))
            .ok_or_else(|| format!("card {id}: `stored_id` must be letters, digits, '.', '_' or '-'"))?
            .to_owned(),
        status: text(c, "status")?
            .parse()
            .map_err(|()| format!("card {id}: `status` must be NORMAL, BLOCKED or CANCELLED"))?,
        expiry: Expiry::parse(text(c, "expiry")?).ok_or_else(|| format!("card {id}: `expiry` must be YYYY-MM"))?,
        mode: text(c, "mode")?.parse().map_err(|()| format!("card {id}: `mode` must be CREDIT, DEBIT or COMBO"))?,
        pan_hash: pan.hash(keyring),
        masked_pan: pan.masked(),
    };
    Ok((card, pan))
}

impl AccountSeeder {
    /// Wires the seeder to the ledger, where its cards' hashes are kept, and the PAN-hash keyring.
    pub fn new(ledger: Arc<dyn Ledger>, cards: Arc<dyn CardHashStore>, hmac: Arc<dyn HmacKeySource>) -> Self {
        Self { ledger, cards, hmac }
    }

    /// Loads `records` (the seed file's `accounts`); existing accounts are left as they are, so seeding
    /// twice changes nothing, but for one thing: a card of an existing account whose PAN hash was made
    /// under another key than the current one, and whose PAN is the one given, is re-hashed under the
    /// current key (how PAN hashes follow a key rotation: the PAN is never stored).
    pub async fn seed(&self, records: &[Value]) -> Result<AccountSeedReport, AccountSeedError> {
        let keyring = self.hmac.hmac_keyring().await.map_err(|e| AccountSeedError::Crypto(e.to_string()))?;
        let mut report = AccountSeedReport::default();
        for (index, record) in records.iter().enumerate() {
            let invalid = |reason: String| AccountSeedError::Invalid { index, reason };
            let mut pans = Vec::new();
            let (account, settings) = (|| -> Result<(Account, AccountSettings), String> {
                let o = record.as_object().ok_or("must be an object")?;
                let tenant = TenantId::parse(text(o, "tenant_id")?).map_err(|e| e.to_string())?;
                let currency = Currency::parse(text(o, "currency")?).ok_or("`currency` must be an ISO 4217 code")?;
                let limit = parse_minor_units(text(o, "limit")?, currency, true).map_err(|e| format!("`limit` {e}"))?;
                let available = match o.get("available") {
                    None | Some(Value::Null) => limit,
                    Some(_) => parse_minor_units(text(o, "available")?, currency, true)
                        .map_err(|e| format!("`available` {e}"))?,
                };
                let bank = match o.get("bank") {
                    None | Some(Value::Null) => None,
                    Some(Value::Object(b)) => Some(BankAccount {
                        account: text(b, "account")?.to_owned(),
                        branch: text(b, "branch")?.to_owned(),
                    }),
                    Some(_) => return Err("`bank` must be an object".into()),
                };
                let cards = match o.get("cards") {
                    None => Vec::new(),
                    Some(Value::Array(cards)) => {
                        let parsed: Vec<(Card, Pan)> =
                            cards.iter().map(|c| parse_card(c, &keyring)).collect::<Result<_, _>>()?;
                        parsed
                            .into_iter()
                            .map(|(card, pan)| {
                                pans.push((card.id, pan));
                                card
                            })
                            .collect()
                    }
                    Some(_) => return Err("`cards` must be an array".into()),
                };
                let settings = AccountSettings {
                    force_original_authorization: match o.get("force_original_authorization") {
                        None | Some(Value::Null) => false,
                        Some(Value::Bool(on)) => *on,
                        Some(_) => return Err("`force_original_authorization` must be true or false".into()),
                    },
                    hold_expiry_seconds: match o.get("hold_expiry_seconds") {
                        None | Some(Value::Null) => None,
                        Some(Value::Number(n)) => Some(
                            n.as_u64()
                                .and_then(|s| u32::try_from(s).ok())
                                .filter(|s| (1..=MAX_HOLD_EXPIRY_SECONDS).contains(s))
                                .ok_or_else(hold_expiry_range)?,
                        ),
                        Some(_) => return Err(hold_expiry_range()),
                    },
                };
                let account = Account {
                    id: AccountId::new(integer(o, "account_id")?).ok_or("`account_id` must be positive")?,
                    program_id: integer(o, "program_id")?,
                    document_number: Some(text(o, "document_number")?)
                        .filter(|d| super::request::key_safe(d))
                        .ok_or("`document_number` must be letters, digits, '.', '_' or '-'")?
                        .to_owned(),
                    status: text(o, "status")?
                        .parse()
                        .map_err(|()| "`status` must be NORMAL, BLOCKED or CANCELLED".to_owned())?,
                    tenant,
                    currency,
                    limit,
                    available,
                    // Nothing is held before any authorization.
                    held: 0,
                    bank,
                    cards,
                };
                Ok((account, settings))
            })()
            .map_err(invalid)?;
            self.refuse_pans_of_other_accounts(index, &account, &pans, &keyring).await?;
            if self
                .ledger
                .insert_account(&account, &settings)
                .await
                .map_err(|e| AccountSeedError::Store(e.to_string()))?
            {
                report.inserted += 1;
            } else {
                report.unchanged += 1;
                report.rehashed += self.rehash_cards(index, &account, &pans, &keyring).await?;
            }
        }
        Ok(report)
    }

    /// The store refuses a card whose look-up under the current key belongs to another account; one
    /// stored under an older key of the keyring has its look-up under that key, checked here (one
    /// read, only while the keyring holds more than one key).
    async fn refuse_pans_of_other_accounts(
        &self,
        index: usize,
        account: &Account,
        pans: &[(i64, Pan)],
        keyring: &HmacKeyring,
    ) -> Result<(), AccountSeedError> {
        let older: Vec<(i64, LedgerKey)> = pans
            .iter()
            .flat_map(|(card, pan)| {
                pan.hashes(keyring).into_iter().skip(1).map(move |h| (*card, LedgerKey::Lookup(LookupKey::Pan(h))))
            })
            .collect();
        if older.is_empty() {
            return Ok(());
        }
        let keys: Vec<LedgerKey> = older.iter().map(|(_, key)| key.clone()).collect();
        let found =
            self.ledger.get(&account.tenant, &keys).await.map_err(|e| AccountSeedError::Store(e.to_string()))?;
        for ((card, _), item) in older.iter().zip(found) {
            if let Some(Ok(LedgerItem::Lookup(targets))) = item
                && targets.iter().any(|t| t.account_id != account.id)
            {
                return Err(AccountSeedError::Invalid {
                    index,
                    reason: format!("card {card}: its PAN already belongs to another account"),
                });
            }
        }
        Ok(())
    }

    /// Re-hashes, under the current key, the cards of the stored `account` hashed under another key
    /// whose PAN is the one seeded; returns how many.
    async fn rehash_cards(
        &self,
        index: usize,
        seeded: &Account,
        pans: &[(i64, Pan)],
        keyring: &HmacKeyring,
    ) -> Result<usize, AccountSeedError> {
        let store = |e: crate::store::StoreError| AccountSeedError::Store(e.to_string());
        let stored = match self.ledger.get(&seeded.tenant, &[LedgerKey::Account(seeded.id)]).await.map_err(store)?.pop()
        {
            Some(Some(Ok(LedgerItem::Account(stored)))) => stored,
            Some(Some(Err(e))) => return Err(store(e)),
            _ => return Ok(0),
        };
        let mut rehashed = 0;
        for card in &stored.cards {
            let Some((_, pan)) = pans.iter().find(|(id, _)| *id == card.id) else { continue };
            if card.pan_hash.key_id() == keyring.current() {
                continue;
            }
            match pan.verify(keyring, &card.pan_hash) {
                Ok(true) => {
                    let new = pan.hash(keyring);
                    if self
                        .cards
                        .rekey_card(&stored.tenant, stored.id, card.id, &card.pan_hash, &new)
                        .await
                        .map_err(store)?
                    {
                        rehashed += 1;
                    }
                }
                Ok(false) => tracing::warn!(
                    account_id = %stored.id,
                    card_id = card.id,
                    "the seeded PAN is not the card's: its hash is left as it is"
                ),
                Err(source) => return Err(AccountSeedError::UnknownHmacKey { index, card_id: card.id, source }),
            }
        }
        Ok(rehashed)
    }
}
