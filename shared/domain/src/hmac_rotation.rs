//! Rotating the HMAC key of keyed hashes (connection fingerprints, card PAN hashes, request
//! digests), step by step (`docs/operations.md`, "Rotating the HMAC key"): a new key is added, then
//! made current (new hashes use it, old ones still compare under the key they name), stored hashes are
//! re-hashed, and only then is the old key retired, which is refused while anything stored still
//! names it.
//!
//! A fingerprint is re-made under the current key whenever its credentials are at hand: a rotation
//! writes the new set's, and a request that proves the set on file (one answered as already done)
//! re-keys it ([`crate::merchants::MerchantConnections::patch`]). Where the key service may open
//! connection credentials (the local keyring), [`HmacRotation::rehash`] also opens each one and
//! re-keys its fingerprint; on AWS `DataKey`'s policy lets nobody open them, so the re-hash lists the
//! connections left instead. A card's PAN is never stored: a card is re-hashed only by seeding its
//! account again with its PAN ([`crate::authorizations::AccountSeeder`]); the re-hash lists them too.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::authorizations::{AccountId, CardHashStore};
use crate::crypto::{HmacKeyId, HmacKeyring, HmacKeyringError, HmacKeyringStore, KeyService, open};
use crate::merchants::{
    ConnectionId, MerchantId, MerchantStore, connection_context, fingerprint_matches, fingerprint_of_canonical,
};
use crate::secret::SecretBytes;
use crate::store::{ScanCursor, StoreError};
use crate::tenant::TenantId;

/// Why a rotation step did not happen. Never carries key material.
#[derive(Debug, thiserror::Error)]
pub enum RotationError {
    /// The keyring refuses the change (unknown key, the current key, a key too short…).
    #[error(transparent)]
    Keyring(#[from] HmacKeyringError),
    /// The keyring could not be read or written.
    #[error("HMAC keyring: {0}")]
    KeyringStore(String),
    /// A store failed.
    #[error("store: {0}")]
    Store(String),
    /// Stored hashes still name the key to retire.
    #[error(
        "HMAC key `{key}` still hashes {fingerprints} connection fingerprint(s) and {cards} card PAN(s): re-hash them \
         first (`cofre-local hmac-key rehash`, then seed the cards' accounts again)"
    )]
    StillInUse {
        /// The key.
        key: HmacKeyId,
        /// Fingerprints made with it.
        fingerprints: usize,
        /// Card PAN hashes made with it.
        cards: usize,
    },
}

impl From<StoreError> for RotationError {
    fn from(e: StoreError) -> Self {
        Self::Store(e.to_string())
    }
}

/// How many stored hashes name one key.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct HashCount {
    /// Connection fingerprints.
    pub fingerprints: usize,
    /// Card PAN hashes.
    pub cards: usize,
}

/// A card whose PAN hash names another key than the current one: seeding its account again with its
/// PAN re-hashes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaleCard {
    /// The tenant.
    pub tenant: TenantId,
    /// The account.
    pub account: AccountId,
    /// The card.
    pub card_id: i64,
    /// The key its hash names.
    pub key_id: HmacKeyId,
}

/// A connection whose fingerprint names another key than the current one, left by the re-hash: its
/// credentials set or rotated again, or re-sent as they are on file, re-hash it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaleConnection {
    /// The tenant.
    pub tenant: TenantId,
    /// The merchant.
    pub merchant: MerchantId,
    /// The connection.
    pub connection: ConnectionId,
    /// The key its fingerprint names.
    pub key_id: HmacKeyId,
}

/// What a re-hash did, and what it left.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RehashReport {
    /// Connection fingerprints re-made under the current key.
    pub fingerprints_rehashed: usize,
    /// Fingerprints whose credentials changed while being re-hashed (a rotation, which re-hashes them
    /// itself, or a concurrent re-hash): nothing to do.
    pub fingerprints_changed: usize,
    /// Fingerprints that could not be re-hashed (credentials that do not open, or that the
    /// fingerprint does not match): logged by connection, left as they are.
    pub fingerprints_left: usize,
    /// Connections whose fingerprint names another key than the current one and was not re-hashed
    /// (no key service to open credentials with, or one of `fingerprints_left`).
    pub stale_connections: Vec<StaleConnection>,
    /// Cards whose PAN hash names another key than the current one.
    pub stale_cards: Vec<StaleCard>,
}

/// The rotation steps, over the keyring's store and the stores holding hashes.
pub struct HmacRotation {
    keyring: Arc<dyn HmacKeyringStore>,
    merchants: Arc<dyn MerchantStore>,
    cards: Arc<dyn CardHashStore>,
    /// Opens connection credentials, where that is allowed.
    opener: Option<Arc<dyn KeyService>>,
}

impl std::fmt::Debug for HmacRotation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HmacRotation").finish_non_exhaustive()
    }
}

impl HmacRotation {
    /// Wires the steps to the keyring's store, the merchant store and the cards' store.
    pub fn new(
        keyring: Arc<dyn HmacKeyringStore>,
        merchants: Arc<dyn MerchantStore>,
        cards: Arc<dyn CardHashStore>,
    ) -> Self {
        Self { keyring, merchants, cards, opener: None }
    }

    /// The same, re-hashing fingerprints by opening their credentials with `keys` (one `Decrypt`
    /// each): only where the key service allows it (the local keyring; not `DataKey` on AWS).
    pub fn opening_credentials_with(self, keys: Arc<dyn KeyService>) -> Self {
        Self { opener: Some(keys), ..self }
    }

    async fn load(&self) -> Result<HmacKeyring, RotationError> {
        self.keyring.load().await.map_err(|e| RotationError::KeyringStore(e.to_string()))
    }

    async fn save(&self, keyring: &HmacKeyring) -> Result<(), RotationError> {
        self.keyring.save(keyring).await.map_err(|e| RotationError::KeyringStore(e.to_string()))?;
        tracing::info!(current = %keyring.current(), keys = ?keyring.ids().collect::<Vec<_>>(), "HMAC keyring saved");
        Ok(())
    }

    /// The keyring as stored now.
    pub async fn keyring(&self) -> Result<HmacKeyring, RotationError> {
        self.load().await
    }

    /// Step 1: adds `key` (random, at least 32 bytes) under the next free id (`k1`, `k2`…), not
    /// current: readers learn it before any hash is made with it. A plain-string secret becomes a
    /// keyring document here, its key kept as `legacy`.
    pub async fn add(&self, key: SecretBytes) -> Result<HmacKeyId, RotationError> {
        let keyring = self.load().await?;
        let id = keyring.next_id();
        self.save(&keyring.with_key(id.clone(), key)?).await?;
        Ok(id)
    }

    /// Step 2: makes `id` current: every hash made from now on is made with it.
    pub async fn make_current(&self, id: &HmacKeyId) -> Result<(), RotationError> {
        let keyring = self.load().await?;
        self.save(&keyring.with_current(id)?).await
    }

    /// Step 3: re-hashes every connection fingerprint made with another key than the current one
    /// (where credentials may be opened), and lists the connections and cards still hashed under
    /// another key (see the module documentation). Safe to run again, and beside requests: each
    /// fingerprint is replaced only if it is still the one read.
    pub async fn rehash(&self) -> Result<RehashReport, RotationError> {
        let keyring = self.load().await?;
        let mut report = RehashReport::default();
        let mut after: Option<ScanCursor> = None;
        loop {
            let page = self.merchants.merchants_page(after.as_ref()).await?;
            for merchant in &page.items {
                for connection in &merchant.connections {
                    let Some(on_file) = &connection.credentials else { continue };
                    if on_file.fingerprint.key_id() == keyring.current() {
                        continue;
                    }
                    let stale = StaleConnection {
                        tenant: merchant.tenant.clone(),
                        merchant: merchant.id.clone(),
                        connection: connection.id.clone(),
                        key_id: on_file.fingerprint.key_id().clone(),
                    };
                    let Some(opener) = &self.opener else {
                        report.stale_connections.push(stale);
                        continue;
                    };
                    let context = connection_context(&merchant.tenant, &merchant.id, &connection.id);
                    let canonical = match open(opener.as_ref(), &context, &on_file.sealed).await {
                        Ok(canonical) => canonical,
                        Err(e) => {
                            tracing::error!(
                                tenant_id = %merchant.tenant,
                                merchant_id = %merchant.id,
                                connection_id = %connection.id,
                                error = %e,
                                "connection credentials do not open: fingerprint left as it is"
                            );
                            report.fingerprints_left += 1;
                            report.stale_connections.push(stale);
                            continue;
                        }
                    };
                    let (tenant, id, cid) = (&merchant.tenant, &merchant.id, &connection.id);
                    // Checked under its own key when the keyring still holds it; otherwise the credentials,
                    // opened, are what it fingerprinted.
                    if let Ok(false) = fingerprint_matches(&keyring, &on_file.fingerprint, tenant, id, cid, &canonical)
                    {
                        tracing::error!(
                            tenant_id = %tenant,
                            merchant_id = %id,
                            connection_id = %cid,
                            "the fingerprint does not match the credentials: left as it is"
                        );
                        report.fingerprints_left += 1;
                        report.stale_connections.push(stale);
                        continue;
                    }
                    let new = fingerprint_of_canonical(&keyring, tenant, id, cid, &canonical);
                    if self.merchants.rekey_fingerprint(tenant, id, cid, &on_file.fingerprint, &new).await? {
                        report.fingerprints_rehashed += 1;
                    } else {
                        report.fingerprints_changed += 1;
                    }
                }
            }
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        report.stale_cards = self.cards_not_under(keyring.current()).await?;
        tracing::info!(
            rehashed = report.fingerprints_rehashed,
            changed = report.fingerprints_changed,
            left = report.fingerprints_left,
            stale_connections = report.stale_connections.len(),
            stale_cards = report.stale_cards.len(),
            "re-hash done"
        );
        Ok(report)
    }

    async fn cards_not_under(&self, current: &HmacKeyId) -> Result<Vec<StaleCard>, RotationError> {
        let mut stale = Vec::new();
        let mut after: Option<ScanCursor> = None;
        loop {
            let page = self.cards.accounts_page(after.as_ref()).await?;
            for account in &page.items {
                for card in account.cards.iter().filter(|c| c.pan_hash.key_id() != current) {
                    stale.push(StaleCard {
                        tenant: account.tenant.clone(),
                        account: account.id,
                        card_id: card.id,
                        key_id: card.pan_hash.key_id().clone(),
                    });
                }
            }
            match page.next {
                Some(next) => after = Some(next),
                None => return Ok(stale),
            }
        }
    }

    /// How many stored hashes name each key (keys of the keyring named by nothing included, with 0;
    /// keys named by something but no longer in the keyring included too).
    pub async fn usage(&self) -> Result<BTreeMap<HmacKeyId, HashCount>, RotationError> {
        let keyring = self.load().await?;
        let mut usage: BTreeMap<HmacKeyId, HashCount> =
            keyring.ids().map(|id| (id.clone(), HashCount::default())).collect();
        let mut after: Option<ScanCursor> = None;
        loop {
            let page = self.merchants.merchants_page(after.as_ref()).await?;
            for credentials in page.items.iter().flat_map(|m| &m.connections).filter_map(|c| c.credentials.as_ref()) {
                usage.entry(credentials.fingerprint.key_id().clone()).or_default().fingerprints += 1;
            }
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        let mut after: Option<ScanCursor> = None;
        loop {
            let page = self.cards.accounts_page(after.as_ref()).await?;
            for card in page.items.iter().flat_map(|a| &a.cards) {
                usage.entry(card.pan_hash.key_id().clone()).or_default().cards += 1;
            }
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        Ok(usage)
    }

    /// Step 4: removes `id` from the keyring, unless it is current or any stored fingerprint or card
    /// hash still names it ([`RotationError::StillInUse`]). Request digests are not counted: they are
    /// only compared to log whether a retransmission's body differs, and after this they cannot be.
    pub async fn retire(&self, id: &HmacKeyId) -> Result<(), RotationError> {
        let keyring = self.load().await?;
        let next = keyring.without(id)?;
        let count = self.usage().await?.get(id).copied().unwrap_or_default();
        if count != HashCount::default() {
            return Err(RotationError::StillInUse {
                key: id.clone(),
                fingerprints: count.fingerprints,
                cards: count.cards,
            });
        }
        self.save(&next).await
    }
}
