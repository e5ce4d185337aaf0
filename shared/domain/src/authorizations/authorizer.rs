use std::sync::Arc;
use std::time::Duration;

use serde_json::value::RawValue;
use time::OffsetDateTime;

use super::engine::{AccountFact, CardFact, Facts, OriginalFact, Verdict, evaluate};
use super::ledger::{BalanceChange, Commit, CommitError, Ledger, LedgerItem, LedgerKey, LookupKey};
use super::record::{
    AuthorizationId, AuthorizationRecord, Category, DecisionStatus, RecordedDecision, Settlement, decision_events,
};
use super::request::original_required;
use super::{
    AccountId, AccountRef, AccountSettings, AuthorizationError, AuthorizationRequest, ClearingType, Mti, OriginalRef,
    Reason,
};
use crate::clock::Clock;
use crate::crypto::{HmacKeySource, HmacKeyring, KeyedHash, UnknownHmacKey};
use crate::ids::IdSource;
use crate::store::StoreError;
use crate::tenant::{Identity, TenantId};
use crate::tracking::TrackingId;

/// The scope a token needs to send `validation_rules`.
pub const OVERRIDE_SCOPE: &str = "authorizations:override";

/// How many times a decision is retaken when concurrent decisions keep changing the account.
const MAX_ATTEMPTS: u32 = 200;

/// Authorization ids: milliseconds since 2024-01-01 (41 bits, until 2093) then 12 random bits, so ids
/// sort by time, stay below 2^53, and need no counter round trip. A collision (two in one millisecond
/// with the same 12 bits) fails the commit's uniqueness condition and is retried with a new id.
const ID_EPOCH_MS: i128 = 1_704_067_200_000;

/// The authorization use case: idempotent decisions on a ledger that can never be overdrawn by a race.
pub struct Authorizer {
    pub(super) ledger: Arc<dyn Ledger>,
    hmac: Arc<dyn HmacKeySource>,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdSource>,
}

impl std::fmt::Debug for Authorizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authorizer").finish_non_exhaustive()
    }
}

/// What one read of the ledger found.
struct Read {
    recorded: Option<RecordedDecision>,
    account: AccountFact,
    /// The account's settings: read only for a request that could be a forced confirmation or places a
    /// hold (else off).
    settings: AccountSettings,
    card: CardFact,
    original: OriginalFact,
}

fn internal(e: StoreError) -> AuthorizationError {
    AuthorizationError::Internal(e.to_string())
}

/// The domain of request digests.
const REQUEST_DIGEST_DOMAIN: &str = "cofre:authorization-request:v1";

/// What a request to authorize gets: the decision's response, as recorded.
#[derive(Debug)]
pub struct Decision {
    /// The response, byte for byte as first answered.
    pub response: Box<RawValue>,
    /// `Some` when the tracking_id was already decided and this is that decision again.
    pub replayed: Option<Replay>,
}

/// How a replayed request compared with the one first decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replay {
    /// The same request (any key order or spacing).
    SameRequest,
    /// Another body under the same tracking_id (card networks retransmit with changed times and
    /// STAN): the reference's rule is that it is the same request and gets the same result.
    DifferentRequest,
    /// The first request's digest was made with an HMAC key the keyring no longer holds: whether the
    /// bodies differ cannot be told (the decision is replayed all the same).
    Uncompared,
}

/// The reference: "Different requests using the same tracking ID are considered to be the same
/// request and return the same result." A difference is logged (never the bodies: they hold PANs).
/// The recorded digest is compared under the key it was made with.
fn replay(recorded: RecordedDecision, keyring: &HmacKeyring, canonical: &[u8]) -> Decision {
    let replay =
        match KeyedHash::decode_hex(&recorded.digest).map(|d| keyring.verify(&d, REQUEST_DIGEST_DOMAIN, canonical)) {
            Some(Ok(true)) => Replay::SameRequest,
            Some(Ok(false)) | None => Replay::DifferentRequest,
            Some(Err(unknown)) => {
                tracing::warn!(
                    authorization_id = recorded.authorization_id.0,
                    error = %unknown,
                    "the request digest cannot be compared"
                );
                Replay::Uncompared
            }
        };
    match replay {
        Replay::SameRequest => {
            tracing::info!(authorization_id = recorded.authorization_id.0, "replayed the recorded decision");
        }
        Replay::DifferentRequest => tracing::warn!(
            authorization_id = recorded.authorization_id.0,
            "replayed the recorded decision for a request whose body differs from the one decided"
        ),
        Replay::Uncompared => {
            tracing::info!(authorization_id = recorded.authorization_id.0, "replayed the recorded decision");
        }
    }
    Decision { response: recorded.response, replayed: Some(replay) }
}

/// One PAN's look-ups, one per key of the keyring, read as one: every target found (a card stored
/// again under a newer key points at the same account, and counts once), or the first failure.
fn merge_pan_lookups(
    current: Option<Result<LedgerItem, StoreError>>,
    older: Vec<Option<Result<LedgerItem, StoreError>>>,
) -> Option<Result<LedgerItem, StoreError>> {
    if older.iter().all(Option::is_none) {
        return current;
    }
    let mut targets = Vec::new();
    for item in std::iter::once(current).chain(older).flatten() {
        match item {
            Ok(LedgerItem::Lookup(found)) => {
                for target in found {
                    if !targets.contains(&target) {
                        targets.push(target);
                    }
                }
            }
            Ok(_) => {}
            Err(e) => return Some(Err(e)),
        }
    }
    Some(Ok(LedgerItem::Lookup(targets)))
}

impl Authorizer {
    /// Wires the use case to its ports.
    pub fn new(
        ledger: Arc<dyn Ledger>,
        hmac: Arc<dyn HmacKeySource>,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdSource>,
    ) -> Self {
        Self { ledger, hmac, clock, ids }
    }

    /// Decides `request` for `caller`, or replays the decision its tracking_id already has.
    ///
    /// Round trips: one read (a batch) and one transactional write when the account is named by
    /// `account_id`, or not at all (a confirmation or cancellation: its original's, named by id or by
    /// tracking_id); one more read when it is named by card, document or bank. A replay is one read.
    /// A PAN is looked up under every key of the HMAC keyring, each look-up in that same read: more
    /// keys, no more round trips.
    /// A confirmation that could be forced reads its account's settings with the account: the same
    /// item, in the same read.
    /// After a conflict, what the first attempt took without reading it (a settlement's account, an
    /// original's copy) is read where it is kept.
    pub async fn authorize(
        &self,
        caller: &Identity,
        fallback_tracking: &TrackingId,
        request: AuthorizationRequest,
    ) -> Result<Decision, AuthorizationError> {
        if !request.overrides.is_empty() && !caller.has_scope(OVERRIDE_SCOPE) {
            return Err(AuthorizationError::Forbidden);
        }
        // A confirmation naming no original asks to be forced (parsing let it through only if it names
        // its account, amount and processing_code): gated like validation_rules, before anything is read.
        let may_force = caller.has_scope(OVERRIDE_SCOPE);
        if request.mti == Mti::Confirmation && request.original.is_none() && !may_force {
            return Err(AuthorizationError::ForcedConfirmationForbidden);
        }
        let tracking = request.tracking_id.clone().unwrap_or_else(|| fallback_tracking.clone());
        // Keyed: the body holds the PAN, and its plain hash could be searched given first six / last four.
        let keyring = self.hmac.hmac_keyring().await.map_err(|e| AuthorizationError::Internal(e.to_string()))?;
        let digest = keyring.hash(REQUEST_DIGEST_DOMAIN, request.canonical.expose()).encode_hex();
        let mut thorough = false;
        for attempt in 1..=MAX_ATTEMPTS {
            let read = self.read(&caller.tenant, &tracking, &request, &keyring, thorough).await?;
            if let Some(recorded) = read.recorded {
                return Ok(replay(recorded, &keyring, request.canonical.expose()));
            }
            let forced = request.forcible()
                && may_force
                && read.settings.force_original_authorization
                && matches!(read.account, AccountFact::Found(_))
                && matches!(read.original, OriginalFact::NotFound);
            let original = if forced { OriginalFact::ForcedConfirmation } else { read.original };
            if request.mti == Mti::Confirmation && request.original.is_none() && !forced {
                // No original, and its account does not force original authorization (or was not found):
                // refused as a confirmation naming no original always was.
                return Err(original_required(request.mti));
            }
            let now = self.clock.now();
            let facts = Facts { request: &request, account: read.account, card: read.card, original, now };
            let verdict = evaluate(&facts, &request.overrides);
            let commit = self.commit_for(&caller.tenant, &tracking, &request, &digest, &facts, &read.settings, verdict);
            match self.ledger.commit(&commit).await {
                Ok(()) => {
                    let a = &commit.authorization;
                    tracing::info!(
                        authorization_id = a.id.0,
                        mti = %a.mti,
                        status = ?a.status,
                        response_code = %a.response_code,
                        attempt,
                        "authorization decided"
                    );
                    return Ok(Decision { response: commit.recorded.response, replayed: None });
                }
                // Another request with this tracking_id committed first: the next read replays it.
                Err(CommitError::Duplicate) => continue,
                Err(CommitError::Conflict) => {
                    // A race, or a shortcut that did not hold (the account is not as the original
                    // recorded it, the copy was stale): from now on, each from where it is kept.
                    thorough = true;
                    let jitter = self.ids.random_u64() % 4;
                    tokio::time::sleep(Duration::from_millis(u64::from(attempt.min(10)) + jitter)).await;
                }
                Err(CommitError::Store(e)) => return Err(internal(e)),
            }
        }
        Err(AuthorizationError::InProgress)
    }

    async fn read(
        &self,
        tenant: &TenantId,
        tracking: &TrackingId,
        request: &AuthorizationRequest,
        keyring: &HmacKeyring,
        thorough: bool,
    ) -> Result<Read, AuthorizationError> {
        // The PAN, wherever the request names it, is only ever handled as its keyed hashes, one per key
        // of the keyring (the current key's first): made once.
        let pan_hashes = match (&request.card, &request.account) {
            (Some(AccountRef::Pan(pan)), _) | (_, Some(AccountRef::Pan(pan))) => pan.hashes(keyring),
            _ => Vec::new(),
        };
        let account_key = request.account.as_ref().map(|r| match r {
            AccountRef::Id(id) => LedgerKey::Account(*id),
            AccountRef::Pan(pan) => {
                LedgerKey::Lookup(LookupKey::Pan(pan_hashes.first().cloned().unwrap_or_else(|| pan.hash(keyring))))
            }
            AccountRef::StoredId(s) => LedgerKey::Lookup(LookupKey::StoredId(s.clone())),
            AccountRef::Document(d) => LedgerKey::Lookup(LookupKey::Document(d.clone())),
            AccountRef::Bank(b) => LedgerKey::Lookup(LookupKey::Bank(b.clone())),
        });
        // A confirmation or cancellation (0202, 0400, 0402, 0420) reads the original it acts on.
        let settles = !request.mti.authorizes();
        // A request that could be a forced confirmation, or that may place a hold (whose expiry the
        // account sets), reads its account's settings with the account (the same item: no more round
        // trips); every other request reads what it always did.
        let settings_key = |key: &LedgerKey| match key {
            LedgerKey::Account(id) if request.forcible() || request.mti.authorizes() => {
                Some(LedgerKey::AccountSettings(*id))
            }
            _ => None,
        };
        let original_key = request.original.as_ref().filter(|_| settles).map(|o| match o {
            OriginalRef::Id(id) => LedgerKey::Authorization(AuthorizationId(*id)),
            // The authorization itself, where the store keeps it with the tracking record.
            OriginalRef::Tracking(t) if !thorough => LedgerKey::AuthorizationOf(t.clone()),
            OriginalRef::Tracking(t) => LedgerKey::Recorded(t.clone()),
        });

        // A card hashed under an older key of the keyring is found by its look-up under that key: in the
        // same read.
        let older_pan_keys: Vec<LedgerKey> = match &request.account {
            Some(AccountRef::Pan(_)) => {
                pan_hashes.iter().skip(1).map(|h| LedgerKey::Lookup(LookupKey::Pan(h.clone()))).collect()
            }
            _ => Vec::new(),
        };

        // Round one: everything addressable directly.
        let first_settings_key = account_key.as_ref().and_then(settings_key);
        let mut keys = vec![LedgerKey::Recorded(tracking.clone())];
        keys.extend(account_key.clone());
        keys.extend(older_pan_keys.iter().cloned());
        keys.extend(first_settings_key.clone());
        keys.extend(original_key.clone());
        let mut items = self.ledger.get(tenant, &keys).await.map_err(internal)?.into_iter();
        let recorded = match items.next().flatten() {
            Some(Ok(LedgerItem::Recorded(r))) => Some(r),
            Some(Err(e)) => return Err(internal(e)),
            _ => None,
        };
        if recorded.is_some() {
            return Ok(Read {
                recorded,
                account: AccountFact::NotFound,
                settings: AccountSettings::default(),
                card: CardFact::None,
                original: OriginalFact::NotApplicable,
            });
        }
        let account_item = account_key.as_ref().map(|_| items.next().flatten());
        let older_pan_items: Vec<_> = older_pan_keys.iter().map(|_| items.next().flatten()).collect();
        let account_item = account_item.map(|item| merge_pan_lookups(item, older_pan_items));
        let settings_item = first_settings_key.as_ref().and_then(|_| items.next().flatten());
        let original_item = original_key.as_ref().map(|_| items.next().flatten());

        // Round two: what round one pointed at.
        let mut account_id: Option<AccountId> = None;
        let mut account = AccountFact::NotFound;
        let mut card_from_lookup = None;
        match account_item {
            None => {}
            Some(None) => {}
            Some(Some(Ok(LedgerItem::Account(a)))) => account = AccountFact::Found(a),
            Some(Some(Ok(LedgerItem::Lookup(targets)))) => {
                let matching: Vec<_> =
                    targets.iter().filter(|t| request.program_id.is_none_or(|p| p == t.program_id)).collect();
                match matching.as_slice() {
                    [] => {}
                    [target] => {
                        account_id = Some(target.account_id);
                        card_from_lookup = target.card_id;
                    }
                    _ => account = AccountFact::Contradicted(Reason::AmbiguousDocument),
                }
            }
            Some(Some(Ok(_))) => {}
            Some(Some(Err(StoreError::Corrupt(_)))) => account = AccountFact::Unreadable,
            Some(Some(Err(e))) => return Err(internal(e)),
        }
        let original = match (original_key.as_ref().and(request.original.as_ref()), original_item) {
            // A confirmation naming no original (parsing lets only one that may be forced through).
            (None, _) if settles => OriginalFact::NotFound,
            (None, _) => OriginalFact::NotApplicable,
            (Some(_), Some(Some(Ok(LedgerItem::Authorization(a))))) => OriginalFact::Found(Box::new(a)),
            (Some(_), Some(Some(Ok(LedgerItem::Recorded(r))))) => {
                // Named by tracking_id, with no copy at hand: its decision points at the authorization.
                match self
                    .ledger
                    .get(tenant, &[LedgerKey::Authorization(r.authorization_id)])
                    .await
                    .map_err(internal)?
                    .pop()
                    .flatten()
                {
                    Some(Ok(LedgerItem::Authorization(a))) => OriginalFact::Found(Box::new(a)),
                    Some(Err(e)) => return Err(internal(e)),
                    _ => OriginalFact::NotFound,
                }
            }
            (Some(_), Some(Some(Err(e)))) => return Err(internal(e)),
            (Some(_), _) => OriginalFact::NotFound,
        };
        if let (None, OriginalFact::Found(o)) = (&request.account, &original) {
            match o.account_id {
                // Nothing of the account's current state is judged: taken as the original recorded it.
                Some(id) if !thorough => account = AccountFact::OfOriginal { id, program_id: o.program_id },
                other => account_id = other,
            }
        }
        let mut settings_item = settings_item;
        if let (AccountFact::NotFound, Some(id)) = (&account, account_id) {
            let mut keys = vec![LedgerKey::Account(id)];
            keys.extend(settings_key(&LedgerKey::Account(id)));
            let mut items = self.ledger.get(tenant, &keys).await.map_err(internal)?.into_iter();
            account = match items.next().flatten() {
                Some(Ok(LedgerItem::Account(a))) => AccountFact::Found(a),
                Some(Err(StoreError::Corrupt(_))) => AccountFact::Unreadable,
                Some(Err(e)) => return Err(internal(e)),
                _ => AccountFact::NotFound,
            };
            if keys.len() > 1 {
                settings_item = items.next().flatten();
            }
        }
        // Unreadable settings are off (the account itself, in the same item, reads as unreadable).
        let settings = match settings_item {
            Some(Ok(LedgerItem::AccountSettings(settings))) => settings,
            _ => AccountSettings::default(),
        };

        // Cross-checks: the document named must be the account's; the card named must be one of its cards.
        if let (AccountFact::Found(a), Some(document)) = (&account, &request.document_number)
            && &a.document_number != document
        {
            account = AccountFact::Contradicted(Reason::DocumentMismatch);
        }
        let card = match (&request.card, &account) {
            (None, _) => CardFact::None,
            (Some(named), AccountFact::Found(a)) => {
                let found = a.cards.iter().find(|c| match named {
                    AccountRef::Pan(_) => pan_hashes.iter().any(|h| h.matches(&c.pan_hash)),
                    AccountRef::StoredId(s) => &c.stored_id == s,
                    _ => card_from_lookup == Some(c.id),
                });
                // A card hashed under a key the keyring no longer holds cannot be compared: refused, never
                // taken for another card.
                if let (None, AccountRef::Pan(_)) = (found, named)
                    && let Some(card) = a.cards.iter().find(|c| !keyring.holds(c.pan_hash.key_id()))
                {
                    let unknown = UnknownHmacKey(card.pan_hash.key_id().clone());
                    tracing::error!(
                        account_id = %a.id,
                        card_id = card.id,
                        error = %unknown,
                        "a card's PAN hash cannot be compared"
                    );
                    return Err(AuthorizationError::Internal(unknown.to_string()));
                }
                found.cloned().map_or(CardFact::NotFound, CardFact::Found)
            }
            (Some(_), _) => CardFact::NotFound,
        };
        Ok(Read { recorded: None, account, settings, card, original })
    }

    fn new_id(&self, now: OffsetDateTime) -> AuthorizationId {
        let millis = (now.unix_timestamp_nanos() / 1_000_000 - ID_EPOCH_MS).clamp(0, (1 << 41) - 1) as u64;
        AuthorizationId((millis << 12) | (self.ids.random_u64() & 0xFFF))
    }

    fn authorization_code(&self) -> String {
        const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
        let mut bits = self.ids.random_u64();
        (0..6)
            .map(|_| {
                let c = ALPHABET[(bits % 36) as usize] as char;
                bits /= 36;
                c
            })
            .collect()
    }

    #[allow(clippy::too_many_arguments)]
    fn commit_for(
        &self,
        tenant: &TenantId,
        tracking: &TrackingId,
        request: &AuthorizationRequest,
        digest: &str,
        facts: &Facts<'_>,
        settings: &AccountSettings,
        verdict: Verdict,
    ) -> Commit {
        let now = facts.now;
        let approved = verdict.status == DecisionStatus::Approved;
        let (account_id, program_id) = match &facts.account {
            AccountFact::Found(a) => (Some(a.id), Some(a.program_id)),
            AccountFact::OfOriginal { id, program_id } => (Some(*id), *program_id),
            AccountFact::NotFound | AccountFact::Contradicted(_) | AccountFact::Unreadable => (None, None),
        };
        let original = match &facts.original {
            OriginalFact::Found(o) => Some(o.as_ref()),
            _ => None,
        };
        let amount = verdict.amount;
        let forced_confirmation = matches!(facts.original, OriginalFact::ForcedConfirmation);
        let clearing_type = original.map_or_else(|| request.clearing_type(), |o| o.clearing_type);
        let category = match (request.mti, approved) {
            (Mti::Authorization | Mti::AuthorizationAdvice | Mti::Financial, true) => Category::Authorization,
            (Mti::Authorization | Mti::AuthorizationAdvice | Mti::Financial | Mti::Confirmation, false) => {
                Category::Denied
            }
            (Mti::Confirmation, true) if request.has_error => Category::Cancellation,
            (Mti::Confirmation | Mti::CancellationConfirmation, true) => Category::Confirmation,
            (Mti::Cancellation | Mti::ReversalAdvice, true)
                if original.is_some_and(|o| amount > 0 && amount < o.remaining()) =>
            {
                Category::PartialCancellation
            }
            // A 0420 that releases nothing is acknowledged as a cancellation of 0.00.
            (Mti::Cancellation | Mti::ReversalAdvice, true) => Category::Cancellation,
            (Mti::Cancellation | Mti::CancellationConfirmation | Mti::ReversalAdvice, false) => {
                Category::DeniedCancellation
            }
        };
        let id = self.new_id(now);
        let (mut held, mut confirmed, mut balance, mut updated_original) = (0, 0, None, None);
        if approved {
            // `delta` to the account's available amount, `held_delta` to what it holds awaiting confirmation.
            let change = |delta: i64, held_delta: i64, enforce: bool, normal: bool| {
                account_id.filter(|_| delta != 0 || held_delta != 0).map(|account_id| BalanceChange {
                    account_id,
                    delta,
                    held_delta,
                    keep_non_negative: enforce,
                    require_normal: normal,
                })
            };
            // What the original lists among what acted on it.
            let settlement = || Settlement {
                id,
                tracking_id: tracking.clone(),
                mti: request.mti,
                category,
                amount,
                created_at: now,
            };
            match (request.mti, original) {
                // An advice posts as the 0100 (or, cleared ONLINE, the 0200) it reports would have: LEDGER's
                // and ACCOUNT_STATUS's checks hold at commit only where they passed (`balance_enforced`).
                (Mti::Authorization | Mti::AuthorizationAdvice | Mti::Financial, _) => {
                    if clearing_type == ClearingType::Online {
                        confirmed = amount
                    } else {
                        held = amount
                    }
                    balance = change(-amount, held, verdict.balance_enforced, verdict.status_enforced);
                }
                // Posts what the network confirmed, as a 0200 would; LEDGER's check holds at commit
                // unless it already recorded an overdraft (ACCOUNT_STATUS does not apply to confirmations).
                (Mti::Confirmation, None) if forced_confirmation => {
                    confirmed = amount;
                    balance = change(-amount, 0, verdict.balance_enforced, verdict.status_enforced);
                }
                (Mti::Confirmation, Some(o)) => {
                    let confirm = if request.has_error { 0 } else { amount };
                    let mut next = o.clone();
                    next.held = 0;
                    next.confirmed += confirm;
                    next.list_settlement(settlement());
                    balance = change(o.held - confirm, -o.held, false, false);
                    updated_original = Some(next);
                }
                // A 0420 releasing nothing (see `evaluate`) touches neither the original nor the account.
                (Mti::Cancellation | Mti::ReversalAdvice, Some(o)) if amount > 0 => {
                    let mut next = o.clone();
                    let from_held = amount.min(o.held);
                    next.held -= from_held;
                    next.confirmed -= amount - from_held;
                    next.list_settlement(settlement());
                    balance = change(amount, -from_held, false, false);
                    updated_original = Some(next);
                }
                (Mti::CancellationConfirmation, Some(o)) => {
                    let mut next = o.clone();
                    next.cancellation_confirmed = true;
                    next.list_settlement(settlement());
                    updated_original = Some(next);
                }
                _ => {}
            }
        }
        let record = AuthorizationRecord {
            id,
            tenant: tenant.clone(),
            tracking_id: tracking.clone(),
            mti: request.mti,
            status: verdict.status,
            category,
            account_id: account_id.or_else(|| original.and_then(|o| o.account_id)),
            program_id,
            card_id: match &facts.card {
                CardFact::Found(c) => Some(c.id),
                _ => original.and_then(|o| o.card_id),
            },
            currency: request.currency,
            amount,
            held,
            confirmed,
            cancellation_confirmed: false,
            original_authorization_id: original.map(|o| o.id),
            clearing_type,
            response_code: verdict.response_code,
            denial_code: verdict.denial_code,
            authorization_code: approved.then(|| self.authorization_code()),
            validation_results: verdict.results,
            overrides_applied: request.overrides.applied_to(forced_confirmation),
            // Confirmations and cancellations take their original's processing code and installments (a
            // forced confirmation, with none, its own).
            processing_code: original.map_or_else(|| request.processing_code.clone(), |o| o.processing_code.clone()),
            installments: original.map_or(request.installments, |o| o.installments),
            created_at: now,
            version: 1,
            metadata: request.metadata.clone(),
            calculated_amounts: request.calculated_amounts.clone(),
            settlements: vec![],
            settlements_unlisted: 0,
            // A hold lasts as long as its account says; the sweep releases it after (`HoldExpirer`).
            hold_expires_at: (held > 0).then(|| now.saturating_add(settings.hold_expiry())),
            expired_at: None,
            expired: 0,
        };
        let events = decision_events(&record, [uuid::Uuid::new_v4().to_string(), uuid::Uuid::new_v4().to_string()]);
        let recorded = RecordedDecision {
            tracking_id: tracking.clone(),
            digest: digest.to_owned(),
            authorization_id: record.id,
            response: record.response(),
        };
        Commit {
            tenant: tenant.clone(),
            balance,
            original: updated_original.map(|mut next| {
                let expected = next.version;
                next.version += 1;
                (next, expected)
            }),
            authorization: record,
            recorded,
            events,
        }
    }
}
