//! What a decision leaves behind: the authorization record, the idempotency record, the events.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use time::OffsetDateTime;

use super::rules::ValidationResult;
use super::{AccountId, ClearingType, Currency, Mti, format_minor_units};
use crate::clock::rfc3339;
use crate::tenant::TenantId;
use crate::tracking::TrackingId;

/// An authorization id: unique, positive, below 2^53 (safe in any JSON number).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AuthorizationId(pub u64);

impl AuthorizationId {
    /// The largest id: 2^53 - 1, the largest integer every JSON reader holds exactly.
    pub const MAX: u64 = (1 << 53) - 1;

    /// Reads an id as a path names it: decimal digits with no sign or leading zero, 1 to [`Self::MAX`].
    pub fn parse(raw: &str) -> Option<Self> {
        super::account::positive_decimal(raw).filter(|id| *id <= Self::MAX).map(Self)
    }
}

/// APPROVED or DENIED.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum DecisionStatus {
    /// Approved.
    Approved,
    /// Denied.
    Denied,
}

/// The event category of a decision (Platform authorization created).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Category {
    /// An approved authorization.
    Authorization,
    /// A full cancellation (or a 0202 with `has_error`).
    Cancellation,
    /// A partial cancellation.
    PartialCancellation,
    /// A denied authorization or confirmation.
    Denied,
    /// A denied cancellation.
    DeniedCancellation,
    /// A confirmation (of an authorization or of a cancellation).
    Confirmation,
}

/// One decision, as stored. For an approved 0100/0120/0200, `held` and `confirmed` are live: what it still
/// holds awaiting confirmation, and what was confirmed; both fall as it is cancelled. So is
/// `confirmed` of a forced confirmation (an approved 0202 with no original): what it posted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuthorizationRecord {
    /// Id.
    pub id: AuthorizationId,
    /// Owner.
    pub tenant: TenantId,
    /// The request's tracking_id.
    pub tracking_id: TrackingId,
    /// Message type.
    pub mti: Mti,
    /// Outcome.
    pub status: DecisionStatus,
    /// Event category.
    pub category: Category,
    /// The account, when one was found.
    pub account_id: Option<AccountId>,
    /// Its program.
    pub program_id: Option<i64>,
    /// The card, when the request named one.
    pub card_id: Option<i64>,
    /// Currency.
    pub currency: Currency,
    /// The amount of this operation, minor units (0 when none applies).
    pub amount: i64,
    /// Still held, awaiting confirmation (approved 0100s and 0120s).
    pub held: i64,
    /// Confirmed (approved 0200s, ONLINE 0120s, confirmed 0100s, forced confirmations).
    pub confirmed: i64,
    /// For approved 0400s: whether a 0402 confirmed it.
    pub cancellation_confirmed: bool,
    /// The original, for 0202/0400/0402 (and a 0420 whose original was found).
    pub original_authorization_id: Option<AuthorizationId>,
    /// ONLINE or OFFLINE.
    pub clearing_type: ClearingType,
    /// ISO 8583 response code.
    pub response_code: String,
    /// Denial code (denials only).
    pub denial_code: Option<String>,
    /// Six alphanumerics (approvals only).
    pub authorization_code: Option<String>,
    /// Every rule's result.
    pub validation_results: Vec<ValidationResult>,
    /// The overrides applied.
    pub overrides_applied: Vec<String>,
    /// The request's processing code.
    pub processing_code: Option<String>,
    /// Number of installments.
    pub installments: u32,
    /// Decision instant.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Bumped on every change: what conditional writes on an original check.
    pub version: u64,
    /// The request's `metadata`, as sent (JSON text): the reference's "only replicated to the events
    /// issued during the flow", so kept for them and never answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<String>,
    /// The request's `calculated_amounts`, each in the currency's minor units: recorded and passed on
    /// to the events; `amount` alone moves the ledger.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub calculated_amounts: BTreeMap<String, i64>,
    /// The approved confirmations and cancellations that acted on it, oldest first: its history as read
    /// back. Each is added by the settlement's own transaction, which rewrites this record anyway (a
    /// 0402 is listed on the 0400 it confirms). Denied ones changed nothing and are not listed. At most
    /// [`MAX_LISTED_SETTLEMENTS`], so that partial cancellations cannot grow the item without bound.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub settlements: Vec<Settlement>,
    /// How many more acted on it than are listed.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub settlements_unlisted: u32,
    /// When what it holds is released unless confirmed or cancelled first: set on an approved 0100
    /// (or OFFLINE 0120) that holds something, from its account's `hold_expiry_seconds`; `None` on
    /// everything else (and on holds placed before holds expired, which never do).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "time::serde::rfc3339::option")]
    pub hold_expires_at: Option<OffsetDateTime>,
    /// When the sweep released what it still held: read back as EXPIRED from then on.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "time::serde::rfc3339::option")]
    pub expired_at: Option<OffsetDateTime>,
    /// What the expiry released, minor units.
    #[serde(default, skip_serializing_if = "is_zero_amount")]
    pub expired: i64,
}

fn is_zero_amount(n: &i64) -> bool {
    *n == 0
}

/// The most settlements an authorization lists: a few hundred bytes each, so the record (and the copy
/// a DynamoDB tracking record keeps of it) stays far below an item's 400 KB.
pub const MAX_LISTED_SETTLEMENTS: usize = 100;

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// An approved confirmation or cancellation, as listed on the authorization it acted on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settlement {
    /// The settlement's own authorization id.
    pub id: AuthorizationId,
    /// Its tracking_id.
    pub tracking_id: TrackingId,
    /// 0202, 0400, 0402 or 0420.
    pub mti: Mti,
    /// CONFIRMATION, CANCELLATION (a whole cancellation, or a 0202 with `has_error`) or
    /// PARTIAL_CANCELLATION.
    pub category: Category,
    /// Its amount, minor units.
    pub amount: i64,
    /// Its decision instant.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// Exact decimal text as a JSON number: amounts never pass through a float (a `serde_json::Value`
/// would make "10.50" the float 10.5).
pub(super) fn decimal(minor: i64, currency: Currency) -> Box<RawValue> {
    RawValue::from_string(format_minor_units(minor, currency)).unwrap_or_else(|_| zero())
}

fn zero() -> Box<RawValue> {
    // "0" is valid JSON; the fallback exists only because from_string is fallible.
    serde_json::value::to_raw_value(&0).unwrap_or_else(|_| Box::<RawValue>::default())
}

/// Serializes to raw JSON, keeping raw numbers raw.
pub(super) fn raw_json(value: &impl Serialize) -> Box<RawValue> {
    serde_json::value::to_raw_value(value).unwrap_or_else(|_| zero())
}

#[derive(Serialize)]
struct DecisionBody<'a> {
    authorization_id: u64,
    tracking_id: &'a str,
    mti: &'a str,
    status: DecisionStatus,
    response_code: &'a str,
    denial_code: Option<&'a str>,
    authorization_code: Option<&'a str>,
    amount: Box<RawValue>,
    currency: &'a str,
    account_id: Option<i64>,
    original_authorization_id: Option<u64>,
    clearing_type: &'a str,
    validation_results: &'a [ValidationResult],
    overrides_applied: &'a [String],
    created_at: String,
}

impl AuthorizationRecord {
    /// What the caller receives, as raw JSON: the decision, amounts exact, never a PAN.
    pub fn response(&self) -> Box<RawValue> {
        raw_json(&DecisionBody {
            authorization_id: self.id.0,
            tracking_id: self.tracking_id.as_str(),
            mti: self.mti.as_str(),
            status: self.status,
            response_code: &self.response_code,
            denial_code: self.denial_code.as_deref(),
            authorization_code: self.authorization_code.as_deref(),
            amount: decimal(self.amount, self.currency),
            currency: self.currency.alpha(),
            account_id: self.account_id.map(AccountId::get),
            original_authorization_id: self.original_authorization_id.map(|id| id.0),
            clearing_type: self.clearing_type.as_str(),
            validation_results: &self.validation_results,
            overrides_applied: &self.overrides_applied,
            created_at: rfc3339(self.created_at),
        })
    }

    /// What an approved 0100/0120/0200 (or a forced confirmation) can still release: held plus confirmed.
    pub fn remaining(&self) -> i64 {
        self.held + self.confirmed
    }

    /// Whether it took money from its account: an approved 0100/0120/0200 or forced confirmation. Only these
    /// ever hold or confirm anything; what else is decided moves (or gives back) theirs.
    pub fn takes_money(&self) -> bool {
        self.status == DecisionStatus::Approved && (self.mti.authorizes() || self.forced_confirmation())
    }

    /// Lists `settlement` among what acted on it, or counts it past [`MAX_LISTED_SETTLEMENTS`].
    pub fn list_settlement(&mut self, settlement: Settlement) {
        if self.settlements.len() < MAX_LISTED_SETTLEMENTS {
            self.settlements.push(settlement);
        } else {
            self.settlements_unlisted = self.settlements_unlisted.saturating_add(1);
        }
    }

    /// When its hold falls due, while it holds something that can expire: what the stores index the
    /// sweep by (written with every change to it, so the index never outlives the hold).
    pub fn hold_due(&self) -> Option<OffsetDateTime> {
        self.hold_expires_at
            .filter(|_| self.status == DecisionStatus::Approved && self.held > 0 && self.expired_at.is_none())
    }

    /// Whether it is an approved forced confirmation: a 0202 with no original, the only record of
    /// what it posted (`confirmed`), which a 0400 may cancel as it would a 0200's.
    pub fn forced_confirmation(&self) -> bool {
        self.status == DecisionStatus::Approved
            && self.mti == Mti::Confirmation
            && self.original_authorization_id.is_none()
    }

    /// Whether a confirmation or cancellation can still act on it: an approved 0100/0120/0200 or forced
    /// confirmation with something left, an approved 0400 not yet confirmed. A store that keeps copies of authorizations with their
    /// tracking records (to find an original named by tracking_id in one read) keeps only these: the
    /// others could only be refused ORIGINAL_WRONG_STATE, which a second read answers as well.
    pub fn settleable(&self) -> bool {
        self.status == DecisionStatus::Approved
            && match self.mti {
                Mti::Authorization | Mti::AuthorizationAdvice | Mti::Financial => self.remaining() > 0,
                Mti::Cancellation => !self.cancellation_confirmed,
                Mti::Confirmation => self.original_authorization_id.is_none() && self.remaining() > 0,
                // A 0420 is final: no 0402 confirms it.
                Mti::CancellationConfirmation | Mti::ReversalAdvice => false,
            }
    }
}

/// The idempotency record: the decision a tracking_id got, and the body it got it for.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecordedDecision {
    /// The key.
    pub tracking_id: TrackingId,
    /// SHA-256 of the canonical body.
    pub digest: String,
    /// The decision's authorization.
    pub authorization_id: AuthorizationId,
    /// The response, replayed byte for byte.
    pub response: Box<RawValue>,
}

/// An event, in its envelope.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Event {
    /// Unique id.
    pub event_id: String,
    /// `platform-authorization` or `payment-methods`.
    pub domain: String,
    /// `platform-authorization` or `authorization`.
    pub event_type: String,
    /// 1.
    pub schema_version: u32,
    /// The tenant.
    pub org_id: String,
    /// The request's tracking_id.
    pub cid: String,
    /// When.
    pub timestamp: String,
    /// The payload (raw JSON: amounts exact).
    pub data: Box<RawValue>,
}

/// "Platform authorization created".
#[derive(Serialize)]
struct PlatformAuthorizationCreated<'a> {
    authorization_id: u64,
    category: Category,
    clearing_type: &'a str,
    code: String,
    contract_amount: Box<RawValue>,
    principal_amount: Box<RawValue>,
    installment_amount: Box<RawValue>,
    operation: &'a str,
    original_authorization_id: u64,
    processing_code: Option<&'a str>,
    response_code: &'a str,
    event_datetime: &'a str,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    calculated_amounts: BTreeMap<&'a str, Box<RawValue>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<Box<RawValue>>,
}

/// "Payment methods authorization created".
#[derive(Serialize)]
struct PaymentMethodsAuthorizationCreated<'a> {
    tracking_id: &'a str,
    category: &'a str,
    mti: &'a str,
    clearing_type: &'a str,
    account_id: Option<i64>,
    program_id: Option<i64>,
    card_id: Option<i64>,
    card_mode_id: Option<i64>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    calculated_amounts: BTreeMap<&'a str, Box<RawValue>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<Box<RawValue>>,
}

/// The two events of a decision.
pub fn decision_events(record: &AuthorizationRecord, event_ids: [String; 2]) -> Vec<Event> {
    let amount = |minor| decimal(minor, record.currency);
    let installment = record.amount / i64::from(record.installments.max(1));
    let operation = match record.category {
        Category::Cancellation | Category::PartialCancellation | Category::DeniedCancellation => "CASH_IN",
        _ => "CASH_OUT",
    };
    let original = record.original_authorization_id.unwrap_or(record.id);
    let when = rfc3339(record.created_at);
    let calculated = || record.calculated_amounts.iter().map(|(name, minor)| (name.as_str(), amount(*minor))).collect();
    // Validated JSON when recorded; a record that somehow holds none passes none on.
    let metadata = || record.metadata.as_ref().and_then(|m| RawValue::from_string(m.clone()).ok());
    let platform = raw_json(&PlatformAuthorizationCreated {
        authorization_id: record.id.0,
        category: record.category,
        clearing_type: record.clearing_type.as_str(),
        code: record.authorization_code.clone().unwrap_or_default(),
        contract_amount: amount(record.amount),
        principal_amount: amount(record.amount),
        installment_amount: amount(installment),
        operation,
        original_authorization_id: original.0,
        processing_code: record.processing_code.as_deref(),
        response_code: &record.response_code,
        event_datetime: &when,
        calculated_amounts: calculated(),
        metadata: metadata(),
    });
    let payment_category = match (record.status, record.category) {
        (DecisionStatus::Denied, _) => "DECLINED",
        (_, Category::Cancellation | Category::PartialCancellation) => "CANCELLATION",
        _ => "AUTHORIZATION",
    };
    let payment_methods = raw_json(&PaymentMethodsAuthorizationCreated {
        tracking_id: record.tracking_id.as_str(),
        category: payment_category,
        mti: record.mti.as_str(),
        clearing_type: record.clearing_type.as_str(),
        account_id: record.account_id.map(AccountId::get),
        program_id: record.program_id,
        card_id: record.card_id,
        card_mode_id: None,
        calculated_amounts: calculated(),
        metadata: metadata(),
    });
    let [platform_id, payment_id] = event_ids;
    let envelope = |event_id: String, domain: &str, event_type: &str, data: Box<RawValue>| Event {
        event_id,
        domain: domain.to_owned(),
        event_type: event_type.to_owned(),
        schema_version: 1,
        org_id: record.tenant.to_string(),
        cid: record.tracking_id.to_string(),
        timestamp: when.clone(),
        data,
    };
    vec![
        envelope(platform_id, "platform-authorization", "platform-authorization", platform),
        envelope(payment_id, "payment-methods", "authorization", payment_methods),
    ]
}
