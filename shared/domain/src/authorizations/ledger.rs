use async_trait::async_trait;
use time::OffsetDateTime;

use super::account::{Account, AccountId, AccountSettings, BankAccount};
use super::expiry::{DueHold, HoldRelease};
use super::record::{AuthorizationId, AuthorizationRecord, Event, RecordedDecision};
use crate::crypto::KeyedHash;
use crate::store::StoreError;
use crate::tenant::TenantId;
use crate::tracking::TrackingId;

/// The secondary names an account can be found by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LookupKey {
    /// A holder's document number (one entry per program).
    Document(String),
    /// A card's PAN hash.
    Pan(KeyedHash),
    /// A card's stored id.
    StoredId(String),
    /// A bank account.
    Bank(BankAccount),
}

/// Where a lookup points.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LookupTarget {
    /// The account.
    pub account_id: AccountId,
    /// Its program.
    pub program_id: i64,
    /// The card, for card lookups.
    pub card_id: Option<i64>,
}

/// What can be read from the ledger in one round trip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LedgerKey {
    /// The decision recorded for a tracking_id.
    Recorded(TrackingId),
    /// The authorization a tracking_id's decision made: the original of a confirmation or
    /// cancellation named by `original_tracking_id`, wanted in the same round trip as everything else.
    /// Reads to [`LedgerItem::Authorization`] where the store can give it with the tracking record, else
    /// to [`LedgerItem::Recorded`], which points at it by id (DynamoDB keeps a copy with the tracking
    /// record only while a settlement can act on it, and records written before it kept one have
    /// none). The copy can be stale only if something that does not keep it changed the authorization
    /// (an older version of this code during a deploy); a commit conditioned on the version read then
    /// fails as [`CommitError::Conflict`], and the authorization is read by id.
    AuthorizationOf(TrackingId),
    /// An account with its current balance.
    Account(AccountId),
    /// An account's settings. They are kept in the account's own item, so a read naming both this
    /// and [`LedgerKey::Account`] reads that item once (DynamoDB's `BatchGetItem` takes each item
    /// once); an account stored before a setting existed reads with it off.
    AccountSettings(AccountId),
    /// An authorization.
    Authorization(AuthorizationId),
    /// A lookup.
    Lookup(LookupKey),
}

/// What a key reads to.
// A request reads one to three of these and drops them: boxing the authorization would cost an
// allocation per read to save stack space nobody misses.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum LedgerItem {
    /// A recorded decision.
    Recorded(RecordedDecision),
    /// An account.
    Account(Account),
    /// An account's settings.
    AccountSettings(AccountSettings),
    /// An authorization.
    Authorization(AuthorizationRecord),
    /// A lookup's targets.
    Lookup(Vec<LookupTarget>),
}

/// A change to an account's available amount, with the conditions the decision relied on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BalanceChange {
    /// The account.
    pub account_id: AccountId,
    /// Added to `available` (negative to spend).
    pub delta: i64,
    /// Added to `held` (positive for a new hold, negative as one is confirmed or cancelled).
    pub held_delta: i64,
    /// Refuse if `available + delta` would fall below zero (a LEDGER check that ran unforced).
    pub keep_non_negative: bool,
    /// Refuse unless the account is still NORMAL (an ACCOUNT_STATUS check that ran unforced).
    pub require_normal: bool,
}

/// Everything one decision writes, committed in one transaction: all of it or none of it.
#[derive(Debug, Clone)]
pub struct Commit {
    /// The tenant.
    pub tenant: TenantId,
    /// The ledger change, if money moves.
    pub balance: Option<BalanceChange>,
    /// The new authorization (written only if its id is new).
    pub authorization: AuthorizationRecord,
    /// The original, updated (written only if still at `expected_version`); a copy the store keeps with
    /// its tracking record follows it in the same write.
    pub original: Option<(AuthorizationRecord, u64)>,
    /// The idempotency record (written only if the tracking_id is new).
    pub recorded: RecordedDecision,
    /// The decision's events.
    pub events: Vec<Event>,
}

/// Why a commit did not happen.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    /// The tracking_id already has a decision: another request with it won.
    #[error("the tracking_id already has a decision")]
    Duplicate,
    /// Something the decision relied on changed (balance, status, original, id taken), or is not as it
    /// was taken to be (a settlement's account, an original read from a stale copy): decide again,
    /// reading each from where it is kept.
    #[error("the ledger changed since it was read")]
    Conflict,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The port to the ledger: accounts, authorizations, idempotency records and events.
#[async_trait]
pub trait Ledger: Send + Sync {
    /// Reads `keys` in one round trip, answering in the same order: `None` where nothing is stored,
    /// an error where an item is stored but unreadable. The outer error is the round trip's.
    async fn get(
        &self,
        tenant: &TenantId,
        keys: &[LedgerKey],
    ) -> Result<Vec<Option<Result<LedgerItem, StoreError>>>, StoreError>;

    /// Applies `commit` atomically.
    async fn commit(&self, commit: &Commit) -> Result<(), CommitError>;

    /// Inserts `account`, its `settings` and its lookups unless the account exists; `true` if inserted.
    async fn insert_account(&self, account: &Account, settings: &AccountSettings) -> Result<bool, StoreError>;

    /// The holds due at `by` (every tenant's), in [`DueHold`] order, after `after` (the last of the page
    /// before), at most `limit`: from an index of due holds that every commit keeps in step with the
    /// authorization it changes ([`AuthorizationRecord::hold_due`]). An index that lags its items
    /// (DynamoDB's global secondary indexes) may still list a hold just settled: the caller reads it
    /// before acting.
    async fn due_holds(
        &self,
        by: OffsetDateTime,
        after: Option<&DueHold>,
        limit: usize,
    ) -> Result<Vec<DueHold>, StoreError>;

    /// Applies `release` atomically: the account's balance change, the authorization written only if
    /// still at `expected_version` (else [`CommitError::Conflict`]) and out of the due index, its
    /// tracking record's copy (where kept) following it, the event.
    async fn release_hold(&self, release: &HoldRelease) -> Result<(), CommitError>;
}
