//! Holds expire: an approved 0100 (or OFFLINE 0120) that is neither confirmed nor cancelled within its
//! account's `hold_expiry_seconds` gives back what it still holds, exactly once, with an event. The
//! sweep is one use case for every store; what runs it is the platform's scheduler (on AWS a rate
//! schedule invoking `expire-holds`, locally the server's own interval). See `docs/hold-expiry.md`.
//!
//! Exactly once against a racing confirmation or cancellation: both write the authorization only
//! if it is still at the version they read, in the same transaction as the account and the event.
//! Whichever commits first wins; the other finds the version moved, reads it again, and sees it
//! settled (the sweep then does nothing) or expired (the 0202/0400 is then denied ORIGINAL_EXPIRED).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;
use serde_json::value::RawValue;
use time::OffsetDateTime;

use super::AccountId;
use super::ledger::{BalanceChange, CommitError, Ledger, LedgerItem, LedgerKey};
use super::record::{AuthorizationId, AuthorizationRecord, Event, decimal, raw_json};
use crate::clock::{Clock, rfc3339};
use crate::store::StoreError;
use crate::tenant::TenantId;

/// The most keys one read names: DynamoDB's `BatchGetItem` takes at most 100.
pub const MAX_KEYS_PER_READ: usize = 100;

/// How many due holds one query of the index returns.
pub const SWEEP_PAGE: usize = 1000;

/// How many times one hold is tried when a racing write keeps changing it.
const MAX_ATTEMPTS: u32 = 5;

/// How many accounts' holds one sweep releases at once (each account's one after another).
pub const MAX_CONCURRENT_ACCOUNTS: usize = 32;

/// A hold the index lists as due. Ordered by due instant, then id, then tenant: the order the sweep
/// pages in, and that both stores' indexes keep.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct DueHold {
    /// When it falls due, milliseconds since the Unix epoch.
    pub due_ms: i64,
    /// The authorization.
    pub authorization_id: AuthorizationId,
    /// Its tenant.
    pub tenant: TenantId,
}

/// An instant as the due index keeps it: milliseconds since the Unix epoch.
pub fn due_ms(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// What one expiry writes, in one transaction: all of it or none of it.
#[derive(Debug, Clone)]
pub struct HoldRelease {
    /// The tenant.
    pub tenant: TenantId,
    /// What goes back to the account: `held` to `available`. Unconditional: the hold was the
    /// account's, and giving it back can break nothing the account must keep.
    pub balance: Option<BalanceChange>,
    /// The authorization, expired (written only if still at `expected_version`).
    pub authorization: AuthorizationRecord,
    /// The version it was read at.
    pub expected_version: u64,
    /// The `authorization-expired` event.
    pub events: Vec<Event>,
}

impl HoldRelease {
    /// The release of what `record` still holds, at `now`; `None` when it holds nothing that expires.
    pub fn of(record: &AuthorizationRecord, now: OffsetDateTime) -> Option<Self> {
        record.hold_due()?;
        let mut expired = record.clone();
        expired.expired = record.held;
        expired.held = 0;
        expired.expired_at = Some(now);
        expired.version = record.version + 1;
        let balance = record.account_id.map(|account_id| BalanceChange {
            account_id,
            delta: record.held,
            held_delta: -record.held,
            keep_non_negative: false,
            require_normal: false,
        });
        let events = vec![expiry_event(&expired, uuid::Uuid::new_v4().to_string())];
        Some(Self {
            tenant: record.tenant.clone(),
            balance,
            authorization: expired,
            expected_version: record.version,
            events,
        })
    }
}

/// "Authorization expired".
#[derive(Serialize)]
struct AuthorizationExpired<'a> {
    authorization_id: u64,
    tracking_id: &'a str,
    mti: &'a str,
    clearing_type: &'a str,
    account_id: Option<i64>,
    program_id: Option<i64>,
    card_id: Option<i64>,
    currency: &'a str,
    amount: Box<RawValue>,
    released_amount: Box<RawValue>,
    authorized_at: String,
    expired_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<Box<RawValue>>,
}

/// The event of an expiry: `payment-methods` / `authorization-expired`, carrying what was released and
/// the decision's `metadata` as sent.
pub fn expiry_event(expired: &AuthorizationRecord, event_id: String) -> Event {
    let when = rfc3339(expired.expired_at.unwrap_or(expired.created_at));
    let data = raw_json(&AuthorizationExpired {
        authorization_id: expired.id.0,
        tracking_id: expired.tracking_id.as_str(),
        mti: expired.mti.as_str(),
        clearing_type: expired.clearing_type.as_str(),
        account_id: expired.account_id.map(AccountId::get),
        program_id: expired.program_id,
        card_id: expired.card_id,
        currency: expired.currency.alpha(),
        amount: decimal(expired.amount, expired.currency),
        released_amount: decimal(expired.expired, expired.currency),
        authorized_at: rfc3339(expired.created_at),
        expired_at: when.clone(),
        metadata: expired.metadata.as_ref().and_then(|m| RawValue::from_string(m.clone()).ok()),
    });
    Event {
        event_id,
        domain: "payment-methods".to_owned(),
        event_type: "authorization-expired".to_owned(),
        schema_version: 1,
        org_id: expired.tenant.to_string(),
        cid: expired.tracking_id.to_string(),
        timestamp: when,
        data,
    }
}

/// What one sweep did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SweepReport {
    /// Holds the index listed as due.
    pub due: usize,
    /// Holds released by this sweep.
    pub expired: usize,
    /// Listed, but settled (confirmed, cancelled, expired by another sweep) before this one could
    /// release them: nothing to do.
    pub settled_first: usize,
    /// Releases retried after a racing write changed the authorization.
    pub retried: usize,
    /// Holds left for the next sweep: unreadable, or changed by racing writes at every attempt.
    pub left: usize,
}

/// The expiry use case: releases every hold due, each in its own conditional transaction.
pub struct HoldExpirer {
    ledger: Arc<dyn Ledger>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for HoldExpirer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HoldExpirer").finish_non_exhaustive()
    }
}

enum Outcome {
    Expired,
    SettledFirst,
    Left,
    /// The store refused this hold's release: it is left due, and the sweep goes on to the others
    /// (one hold the store keeps refusing must not stop every later one), unless too many fail.
    Failed(StoreError),
}

/// Releases the store refuses in one sweep before the sweep stops: more is the store down, not one
/// bad hold.
const MAX_FAILED_RELEASES: usize = 16;

impl HoldExpirer {
    /// Wires the use case to the ledger and the clock that says what is due.
    pub fn new(ledger: Arc<dyn Ledger>, clock: Arc<dyn Clock>) -> Self {
        Self { ledger, clock }
    }

    /// Releases the holds due now, at most `max_holds` of them (the rest wait for the next sweep).
    ///
    /// Round trips: one query of the index per [`SWEEP_PAGE`] holds, one read per
    /// [`MAX_KEYS_PER_READ`] of a tenant's, then one conditional transaction per hold, up to
    /// [`MAX_CONCURRENT_ACCOUNTS`] accounts' at once; a race costs one read and one transaction more.
    /// A failed read of the index or of the holds ends the sweep, as do [`MAX_FAILED_RELEASES`]
    /// refused releases; a hold whose release alone is refused is left due and the sweep goes on.
    /// Whatever a sweep did not release is still due, and the next sweep takes it.
    pub async fn sweep(&self, max_holds: usize) -> Result<SweepReport, StoreError> {
        self.sweep_until(max_holds, None).await
    }

    /// [`Self::sweep`], starting no page of the index and no batch of holds at or after `stop_at`
    /// (by the clock): an invocation with a time limit ends its sweep in time, and holds it did not
    /// start are counted `left` (still due, for the next sweep).
    pub async fn sweep_until(
        &self,
        max_holds: usize,
        stop_at: Option<OffsetDateTime>,
    ) -> Result<SweepReport, StoreError> {
        let now = self.clock.now();
        let out_of_time = || stop_at.is_some_and(|stop| self.clock.now() >= stop);
        let mut report = SweepReport::default();
        let mut failed_releases = 0;
        let mut after: Option<DueHold> = None;
        while report.due < max_holds && !out_of_time() {
            let limit = SWEEP_PAGE.min(max_holds - report.due);
            let page = self.ledger.due_holds(now, after.as_ref(), limit).await?;
            let full = page.len() == limit;
            after = page.last().cloned();
            report.due += page.len();
            let mut page = page;
            // A tenant's holds are read together (the ledger reads one tenant per round trip).
            page.sort_by(|a, b| (&a.tenant, a.authorization_id).cmp(&(&b.tenant, b.authorization_id)));
            for chunk in page.chunk_by(|a, b| a.tenant == b.tenant) {
                for reads in chunk.chunks(MAX_KEYS_PER_READ) {
                    if out_of_time() {
                        report.left += reads.len();
                        continue;
                    }
                    let tenant = &reads[0].tenant;
                    let keys: Vec<LedgerKey> =
                        reads.iter().map(|h| LedgerKey::Authorization(h.authorization_id)).collect();
                    let items = self.ledger.get(tenant, &keys).await?;
                    // One account's holds one after another (their transactions would only conflict
                    // on its item), different accounts' at once.
                    let mut by_account: BTreeMap<Option<AccountId>, Vec<AuthorizationRecord>> = BTreeMap::new();
                    for (hold, item) in reads.iter().zip(items) {
                        match item {
                            Some(Ok(LedgerItem::Authorization(record))) => {
                                by_account.entry(record.account_id).or_default().push(record);
                            }
                            Some(Err(e)) => {
                                tracing::error!(
                                    authorization_id = hold.authorization_id.0,
                                    error = %e,
                                    "a due hold cannot be read"
                                );
                                report.left += 1;
                            }
                            _ => report.settled_first += 1,
                        }
                    }
                    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONCURRENT_ACCOUNTS));
                    let mut accounts = tokio::task::JoinSet::new();
                    for records in by_account.into_values() {
                        let (ledger, slots) = (Arc::clone(&self.ledger), Arc::clone(&slots));
                        accounts.spawn(async move {
                            let _slot = slots.acquire_owned().await;
                            let mut outcomes = Vec::with_capacity(records.len());
                            for record in records {
                                outcomes.push(expire(ledger.as_ref(), record, now).await?);
                            }
                            Ok::<_, StoreError>(outcomes)
                        });
                    }
                    let mut failed = None;
                    while let Some(done) = accounts.join_next().await {
                        let outcomes = match done {
                            Ok(Ok(outcomes)) => outcomes,
                            Ok(Err(e)) => {
                                failed.get_or_insert(e);
                                continue;
                            }
                            Err(e) => {
                                failed.get_or_insert(StoreError::Unavailable(format!("a sweep task ended: {e}")));
                                continue;
                            }
                        };
                        for (outcome, retried) in outcomes {
                            report.retried += retried;
                            match outcome {
                                Outcome::Expired => report.expired += 1,
                                Outcome::SettledFirst => report.settled_first += 1,
                                Outcome::Left => report.left += 1,
                                Outcome::Failed(e) => {
                                    report.left += 1;
                                    failed_releases += 1;
                                    if failed_releases >= MAX_FAILED_RELEASES {
                                        failed.get_or_insert(e);
                                    }
                                }
                            }
                        }
                    }
                    if let Some(e) = failed {
                        return Err(e);
                    }
                }
            }
            if !full {
                break;
            }
        }
        if report.due > 0 {
            tracing::info!(
                due = report.due,
                expired = report.expired,
                settled_first = report.settled_first,
                retried = report.retried,
                left = report.left,
                "swept due holds"
            );
        }
        Ok(report)
    }
}

/// Releases what `record` holds if it is still due, retrying on a fresh read when a racing write
/// moved it first; with how many retries it took.
async fn expire(
    ledger: &dyn Ledger,
    mut record: AuthorizationRecord,
    now: OffsetDateTime,
) -> Result<(Outcome, usize), StoreError> {
    let mut retried = 0;
    for attempt in 1..=MAX_ATTEMPTS {
        if record.hold_due().is_none_or(|due| due > now) {
            return Ok((Outcome::SettledFirst, retried));
        }
        let Some(release) = HoldRelease::of(&record, now) else { return Ok((Outcome::SettledFirst, retried)) };
        match ledger.release_hold(&release).await {
            Ok(()) => {
                tracing::info!(authorization_id = record.id.0, released = record.held, attempt, "hold expired");
                return Ok((Outcome::Expired, retried));
            }
            Err(CommitError::Conflict | CommitError::Duplicate) => {
                retried += 1;
                let key = [LedgerKey::Authorization(record.id)];
                record = match ledger.get(&record.tenant, &key).await?.pop().flatten() {
                    Some(Ok(LedgerItem::Authorization(fresh))) => fresh,
                    Some(Err(e)) => {
                        tracing::error!(authorization_id = record.id.0, error = %e, "a due hold cannot be read");
                        return Ok((Outcome::Left, retried));
                    }
                    _ => return Ok((Outcome::SettledFirst, retried)),
                };
            }
            Err(CommitError::Store(StoreError::Corrupt(e))) => {
                tracing::error!(authorization_id = record.id.0, error = %e, "a due hold cannot be released");
                return Ok((Outcome::Left, retried));
            }
            Err(CommitError::Store(e)) => {
                tracing::error!(authorization_id = record.id.0, error = %e, "a due hold's release was refused");
                return Ok((Outcome::Failed(e), retried));
            }
        }
    }
    Ok((Outcome::Left, retried))
}
