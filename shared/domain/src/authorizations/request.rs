//! A request body, read in two steps. Serde types (`WireRequest` and its parts) take every field of
//! the reference as sent, and never fail on one: a value of another type is kept as such. `TryFrom`
//! then turns them into the domain's types, one field rule at a time in a fixed order, so a body with
//! several faults is always refused for the same one, with its documented code and message.

use std::collections::BTreeMap;

use serde::de::{self, DeserializeOwned, IgnoredAny, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::account::{AccountId, BankAccount, Expiry, Pan, wire_enum};
use super::error::InvalidCode;
use super::rules::{Overrides, RESPONSE_CODES, Reason, RuleName, RuleOverride, RuleStatus};
use super::{AuthorizationError, Currency, parse_minor_units};
use crate::secret::SecretBytes;
use crate::tracking::TrackingId;

wire_enum!(
    /// Message type identifier.
    Mti {
        /** Authorization: approve and hold, awaiting confirmation. */ Authorization = "0100",
        /** Authorization advice: the network approved in stand-in; posted as a 0100 (or 0200) would be. */ AuthorizationAdvice = "0120",
        /** Authorization and confirmation at once. */ Financial = "0200",
        /** Confirmation of a 0100. */ Confirmation = "0202",
        /** Cancellation of an approved authorization. */ Cancellation = "0400",
        /** Confirmation of a cancellation. */ CancellationConfirmation = "0402",
        /** Reversal advice: the network reversed an authorization; released as a 0400 would. */ ReversalAdvice = "0420",
    }
);

impl Mti {
    /// Whether it takes new money from its account (0100, 0120, 0200): judged by every rule but
    /// ORIGINAL_AUTHORIZATION, and the original a confirmation or cancellation acts on.
    pub fn authorizes(self) -> bool {
        matches!(self, Self::Authorization | Self::AuthorizationAdvice | Self::Financial)
    }

    /// Whether it gives back what an original took (0400, 0420).
    pub fn cancels(self) -> bool {
        matches!(self, Self::Cancellation | Self::ReversalAdvice)
    }

    /// Whether it is an advice (0120, 0420): it reports a decision the network already made, so no
    /// rule denies it but those that make posting it impossible (`docs/authorization-rules.md#advices`).
    pub fn is_advice(self) -> bool {
        matches!(self, Self::AuthorizationAdvice | Self::ReversalAdvice)
    }
}

wire_enum!(
    /// When the authorization's transaction is created.
    ClearingType { /** At once. */ Online = "ONLINE", /** On confirmation. */ Offline = "OFFLINE" }
);

wire_enum!(
    /// The mode a card authorization asks for.
    RequestMode { /** Credit. */ Credit = "CREDIT", /** Debit. */ Debit = "DEBIT" }
);

/// How the request names its account, in priority order.
#[derive(Debug, Clone)]
pub enum AccountRef {
    /// `account_id`.
    Id(AccountId),
    /// `card.pan`.
    Pan(Pan),
    /// `card.stored_id`.
    StoredId(String),
    /// `document_number` (+ `program_id`).
    Document(String),
    /// `bank.account` + `bank.branch`.
    Bank(BankAccount),
}

/// How a confirmation or cancellation names its original.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OriginalRef {
    /// `original_authorization_id`.
    Id(u64),
    /// `original_tracking_id`.
    Tracking(TrackingId),
}

/// A request that passed every field rule.
#[derive(Debug, Clone)]
pub struct AuthorizationRequest {
    /// Message type.
    pub mti: Mti,
    /// Minor units; required for 0100/0120/0200.
    pub amount: Option<i64>,
    /// Currency.
    pub currency: Currency,
    /// The originating network.
    pub network: String,
    /// The account, by its first available name.
    pub account: Option<AccountRef>,
    /// `document_number`, also checked against the account found by another name.
    pub document_number: Option<String>,
    /// `program_id`.
    pub program_id: Option<i64>,
    /// Whether the request names a card (pan or stored_id).
    pub card: Option<AccountRef>,
    /// CREDIT or DEBIT.
    pub mode: Option<RequestMode>,
    /// The clearing type asked for (else the mti decides).
    pub confirmation_mode: Option<ClearingType>,
    /// `processing_code`.
    pub processing_code: Option<String>,
    /// 1 to 100.
    pub installments: u32,
    /// 0202 only: cancel instead of confirming.
    pub has_error: bool,
    /// The original of a 0202/0400/0402/0420 (a forced 0202 may name none).
    pub original: Option<OriginalRef>,
    /// The caller's idempotency key, if given.
    pub tracking_id: Option<TrackingId>,
    /// `validation_rules`.
    pub overrides: Overrides,
    /// `metadata` as sent (JSON text, at most [`MAX_METADATA_BYTES`]), for the decision's events.
    pub metadata: Option<String>,
    /// `calculated_amounts`: named amounts in the currency's minor units, recorded and passed on to the
    /// events; they never move the ledger (`amount` does).
    pub calculated_amounts: BTreeMap<String, i64>,
    /// The canonical body (sorted keys, the amount as written, `card.cvv` left out): secret, since it
    /// holds the PAN. The authorizer keys a digest of it (HMAC) to tell replays from reuse.
    pub canonical: SecretBytes,
}

impl AuthorizationRequest {
    /// Whether it gives what a forced confirmation needs: a confirmation (0202, not `has_error`) naming
    /// its account, with `amount` and `processing_code` (the reference: "If the original authorization is
    /// not available and a forced confirmation is requested, this field is also required").
    pub fn forcible(&self) -> bool {
        self.mti == Mti::Confirmation
            && !self.has_error
            && self.account.is_some()
            && self.amount.is_some()
            && self.processing_code.is_some()
    }

    /// The clearing type of this request.
    pub fn clearing_type(&self) -> ClearingType {
        self.confirmation_mode.unwrap_or(if self.mti == Mti::Financial {
            ClearingType::Online
        } else {
            ClearingType::Offline
        })
    }
}

/// The refusal of a confirmation or cancellation that names no original (and cannot be forced).
pub(crate) fn original_required(mti: Mti) -> AuthorizationError {
    missing("original_authorization_id or original_tracking_id", &format!("for mti {mti}"))
}

/// Whether `value` may be part of a storage key: letters, digits and `. _ -` only (never `#`, the
/// key separator), so two different names can never share a key.
pub(crate) fn key_safe(value: &str) -> bool {
    !value.is_empty() && value.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

fn invalid(field: &str, rule: &str) -> AuthorizationError {
    AuthorizationError::invalid(InvalidCode::InvalidField, format!("{field} {rule}"))
}

fn missing(field: &str, why: &str) -> AuthorizationError {
    AuthorizationError::invalid(InvalidCode::MissingField, format!("{field} is required {why}"))
}

/// `{at}.{name} is not a field`: a key the object at `at` does not have.
fn not_a_field(at: &str, name: &str) -> AuthorizationError {
    AuthorizationError::invalid(InvalidCode::UnknownField, format!("{at}.{} is not a field", echo(name)))
}

fn malformed(message: String) -> AuthorizationError {
    AuthorizationError::invalid(InvalidCode::MalformedJson, message)
}

/// A field name fit to echo in a message: a plain identifier, starting with a letter, with no run of
/// six or more digits (a PAN or a key sent as a field name is never echoed, nor logged).
fn echo(name: &str) -> String {
    let identifier = (1..=40).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.');
    let longest_digits = name.split(|c: char| !c.is_ascii_digit()).map(str::len).max().unwrap_or(0);
    if identifier && longest_digits < 6 { name.to_owned() } else { "(a field name not shown)".to_owned() }
}

// ---------------------------------------------------------------------------------------------
// The wire types: what the body says, field by field.
// ---------------------------------------------------------------------------------------------

/// One field as sent. Reading it never fails: a value of another type is kept as `Mistyped`, for the
/// conversion to refuse with the field's own message, in its turn.
#[derive(Debug, Default)]
enum Field<T> {
    /// Not in the body.
    #[default]
    Absent,
    /// `null`.
    Null,
    /// A value of the type expected.
    Given(T),
    /// A value of another type.
    Mistyped,
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Field<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = <&RawValue>::deserialize(deserializer)?;
        Ok(match raw.get() {
            "null" => Self::Null,
            json => serde_json::from_str(json).map_or(Self::Mistyped, Self::Given),
        })
    }
}

/// A JSON object, each value as written.
type RawObject = BTreeMap<String, Box<RawValue>>;

/// Any JSON object, its content unread.
type AnyObject = BTreeMap<String, IgnoredAny>;

/// A JSON object read as `T`, and the first of its keys (in key order) that `T` does not have.
#[derive(Debug)]
struct Object<T> {
    fields: T,
    unknown: Option<String>,
}

impl<T: DeserializeOwned> Object<T> {
    fn read(raw: &RawObject) -> Result<Self, serde_json::Error> {
        let known = field_names::<T>();
        let unknown = raw.keys().find(|k| !known.contains(&k.as_str())).cloned();
        let entries = raw.iter().map(|(k, v)| (k.as_str(), &**v));
        let fields = T::deserialize(de::value::MapDeserializer::<_, serde_json::Error>::new(entries))?;
        Ok(Self { fields, unknown })
    }
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Self::read(&RawObject::deserialize(deserializer)?).map_err(de::Error::custom)
    }
}

/// The keys a derived `Deserialize` struct reads, taken from the derive itself: the fields known are the
/// struct's, and no list of them can drift from it.
fn field_names<T: DeserializeOwned>() -> &'static [&'static str] {
    struct Names<'a>(&'a mut &'static [&'static str]);

    impl<'de> Deserializer<'de> for Names<'_> {
        type Error = de::value::Error;

        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(de::Error::custom("not a struct"))
        }

        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Self::Error> {
            *self.0 = fields;
            Err(de::Error::custom("names read"))
        }

        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit
            unit_struct newtype_struct seq tuple tuple_struct map enum identifier ignored_any
        }
    }

    let mut names: &'static [&'static str] = &[];
    // The error is the point: `deserialize_struct` has already written the names down.
    let _ = T::deserialize(Names(&mut names));
    names
}

/// The body of `POST /payment-methods/v1/authorization`: every field of Pismo's reference.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct WireRequest {
    /// As written, never through a float: a JSON number or a decimal string.
    amount: Option<Box<RawValue>>,
    currency: Field<String>,
    mti: Field<String>,
    network: Field<String>,
    account_id: Field<i64>,
    authentication: Field<AnyObject>,
    authorization_code: Field<String>,
    local_date_time: Field<String>,
    mode: Field<String>,
    bank: Field<Object<WireBank>>,
    beneficiary_id: Field<String>,
    calculated_amounts: Field<AnyObject>,
    card: Field<Object<WireCard>>,
    confirmation_mode: Field<String>,
    document_number: Field<String>,
    soft_descriptor: Field<String>,
    entry_mode: Field<String>,
    has_error: Field<bool>,
    installment_plan_id: Field<String>,
    merchant: Field<AnyObject>,
    metadata: Field<AnyObject>,
    nsu: Field<String>,
    number_of_installments: Field<i64>,
    original_authorization_id: Field<i64>,
    original_tracking_id: Field<String>,
    posting_date: Field<String>,
    pre_authorization: Field<bool>,
    processing_code: Field<String>,
    program_id: Field<i64>,
    statement_id: Field<i64>,
    transaction_id: Field<String>,
    tracking_id: Field<String>,
    validation_rules: Field<BTreeMap<String, Field<Object<WireRuleOverride>>>>,
    authorization_validations: Field<AnyObject>,
}

/// `card`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct WireCard {
    pan: Field<String>,
    stored_id: Field<String>,
    cvv: Field<String>,
    expiration_date: Field<String>,
}

/// `bank`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct WireBank {
    account: Field<String>,
    branch: Field<String>,
}

/// One rule of `validation_rules`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct WireRuleOverride {
    denial_reasons: Field<BTreeMap<String, Field<Object<WireCodes>>>>,
    disable: Field<bool>,
    force: Field<bool>,
}

/// One reason of `denial_reasons`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct WireCodes {
    response_code: Field<String>,
    denial_code: Field<String>,
}

// ---------------------------------------------------------------------------------------------
// The field rules.
// ---------------------------------------------------------------------------------------------

impl<T> Field<T> {
    /// The value, if given (`null` is not); of another type, `name` and `rule` say what it must be.
    fn given(&self, name: &str, rule: &str) -> Result<Option<&T>, AuthorizationError> {
        match self {
            Self::Absent | Self::Null => Ok(None),
            Self::Given(value) => Ok(Some(value)),
            Self::Mistyped => Err(invalid(name, rule)),
        }
    }
}

impl Field<String> {
    /// A string of 1 to `max` characters, if given.
    fn text(&self, name: &str, max: usize) -> Result<Option<&str>, AuthorizationError> {
        match self.given(name, "must be a string")? {
            Some(s) if !s.is_empty() && s.chars().count() <= max => Ok(Some(s)),
            Some(_) => Err(invalid(name, &format!("must be 1 to {max} characters"))),
            None => Ok(None),
        }
    }

    /// One of the wire names of `T`, if given.
    fn one_of<T: std::str::FromStr>(&self, name: &str, allowed: &str) -> Result<Option<T>, AuthorizationError> {
        self.text(name, 16)?
            .map(|s| s.parse().map_err(|_| invalid(name, &format!("must be one of {allowed}"))))
            .transpose()
    }
}

impl Field<i64> {
    /// An integer from `min` to `max`, if given.
    fn integer(&self, name: &str, min: i64, max: i64) -> Result<Option<i64>, AuthorizationError> {
        let rule = format!("must be an integer from {min} to {max}");
        match self.given(name, &rule)? {
            Some(&v) if (min..=max).contains(&v) => Ok(Some(v)),
            Some(_) => Err(invalid(name, &rule)),
            None => Ok(None),
        }
    }
}

impl Field<bool> {
    /// A boolean, if given.
    fn flag(&self, name: &str) -> Result<Option<bool>, AuthorizationError> {
        self.given(name, "must be a boolean").map(|b| b.copied())
    }
}

/// The amount: decimal text, a JSON number or string, read exactly in `currency`'s minor units.
fn minor_units(raw: &RawValue, currency: Currency) -> Result<i64, AuthorizationError> {
    parse_minor_units(raw.get().trim_matches('"'), currency, false).map_err(|e| invalid("amount", &e.to_string()))
}

/// A body read: its fields, and its canonical form.
struct Body {
    fields: WireRequest,
    canonical: SecretBytes,
}

impl TryFrom<Body> for AuthorizationRequest {
    type Error = AuthorizationError;

    /// Every field rule, in the order that decides which fault a body with several is refused for.
    fn try_from(Body { fields: w, canonical }: Body) -> Result<Self, Self::Error> {
        let mti = match w.mti.text("mti", 4)? {
            None => return Err(missing("mti", "")),
            Some(m) => m
                .parse::<Mti>()
                .map_err(|()| invalid("mti", "must be one of 0100, 0120, 0200, 0202, 0400, 0402, 0420"))?,
        };
        let currency = w.currency.text("currency", 3)?.ok_or_else(|| missing("currency", ""))?;
        let currency = Currency::parse(currency)
            .ok_or_else(|| invalid("currency", "must be an ISO 4217 code, alphabetic (BRL) or numeric (986)"))?;
        let amount = w.amount.as_deref().map(|raw| minor_units(raw, currency)).transpose()?;
        let network = w.network.text("network", 32)?.ok_or_else(|| missing("network", ""))?.to_owned();
        let account_id = w.account_id.integer("account_id", 1, i64::MAX)?.and_then(AccountId::new);
        let program_id = w.program_id.integer("program_id", 1, i64::MAX)?;
        let document_number = w.document_number.text("document_number", 32)?.map(str::to_owned);
        if document_number.as_deref().is_some_and(|d| !key_safe(d)) {
            return Err(invalid("document_number", "must be letters, digits, '.', '_' or '-'"));
        }
        let card = w.card.given("card", "must be an object")?.map(AccountRef::try_from).transpose()?;
        let bank = w.bank.given("bank", "must be an object")?.map(BankAccount::try_from).transpose()?;
        let mode = w.mode.one_of::<RequestMode>("mode", "CREDIT, DEBIT")?;
        let confirmation_mode = w.confirmation_mode.one_of::<ClearingType>("confirmation_mode", "ONLINE, OFFLINE")?;
        let entry_mode = w.entry_mode.text("entry_mode", 3)?;
        if let Some(e) = entry_mode
            && (!(2..=3).contains(&e.len()) || !e.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(invalid("entry_mode", "must be 2 or 3 digits"));
        }
        let processing_code = w.processing_code.text("processing_code", 32)?.map(str::to_owned);
        let installments = w.number_of_installments.integer("number_of_installments", 1, 100)?.map_or(1, |n| n as u32);
        let has_error = w.has_error.flag("has_error")?.unwrap_or(false);
        w.pre_authorization.flag("pre_authorization")?;
        let authorization_code = w.authorization_code.text("authorization_code", 6)?;
        if authorization_code.is_some_and(|c| !c.bytes().all(|b| b.is_ascii_alphanumeric())) {
            return Err(invalid("authorization_code", "must be 1 to 6 letters or digits"));
        }
        if let Some(when) = w.local_date_time.text("local_date_time", 40)? {
            time::OffsetDateTime::parse(when, &time::format_description::well_known::Rfc3339)
                .map_err(|_| invalid("local_date_time", "must be an RFC 3339 date-time"))?;
        }
        if let Some(date) = w.posting_date.text("posting_date", 10)? {
            time::Date::parse(date, time::macros::format_description!("[year]-[month]-[day]"))
                .map_err(|_| invalid("posting_date", "must be a date, YYYY-MM-DD"))?;
        }
        for (name, field) in [
            ("beneficiary_id", &w.beneficiary_id),
            ("installment_plan_id", &w.installment_plan_id),
            ("nsu", &w.nsu),
            ("transaction_id", &w.transaction_id),
        ] {
            field.text(name, 64)?;
        }
        w.soft_descriptor.text("soft_descriptor", 100)?;
        w.statement_id.integer("statement_id", 1, i64::MAX)?;
        for (name, field) in [
            ("authentication", &w.authentication),
            ("calculated_amounts", &w.calculated_amounts),
            ("merchant", &w.merchant),
            ("metadata", &w.metadata),
            ("authorization_validations", &w.authorization_validations),
        ] {
            field.given(name, "must be an object")?;
        }
        let tracking_rule = "must be 1 to 128 characters of A-Z a-z 0-9 . _ : -";
        let original = match (
            w.original_authorization_id.integer("original_authorization_id", 1, (1 << 53) - 1)?,
            w.original_tracking_id.text("original_tracking_id", 128)?,
        ) {
            (Some(id), _) => Some(OriginalRef::Id(id as u64)),
            (None, Some(t)) => Some(OriginalRef::Tracking(
                TrackingId::parse(t).ok_or_else(|| invalid("original_tracking_id", tracking_rule))?,
            )),
            (None, None) => None,
        };
        let tracking_id = w
            .tracking_id
            .text("tracking_id", 128)?
            .map(|t| TrackingId::parse(t).ok_or_else(|| invalid("tracking_id", tracking_rule)))
            .transpose()?;
        let overrides = w
            .validation_rules
            .given("validation_rules", "must be an object")?
            .map(Overrides::try_from)
            .transpose()?
            .unwrap_or_default();

        let account = account_id
            .map(AccountRef::Id)
            .or_else(|| card.clone())
            .or_else(|| document_number.clone().map(AccountRef::Document))
            .or_else(|| bank.clone().map(AccountRef::Bank));
        if mti.authorizes() {
            let why = format!("for mti {mti}");
            if amount.is_none() {
                return Err(missing("amount", &why));
            }
            if entry_mode.is_none() {
                return Err(missing("entry_mode", &why));
            }
            if processing_code.is_none() {
                return Err(missing("processing_code", &why));
            }
            if account.is_none() {
                return Err(missing("one of account_id, document_number, card.pan, card.stored_id or bank", &why));
            }
            // The reference: "REQUIRED for card authorization requests … with the mti values 0100 and 0120".
            if matches!(mti, Mti::Authorization | Mti::AuthorizationAdvice) && card.is_some() && mode.is_none() {
                return Err(missing("mode", &format!("for card authorizations (mti {mti})")));
            }
        } else if original.is_none() {
            // Only a confirmation naming its account can leave its original out: to be forced, when the
            // account forces original authorization (the authorizer's to find out; if not, this same
            // refusal). It must then give what the reference requires of a forced confirmation.
            if mti != Mti::Confirmation || has_error || account.is_none() {
                return Err(original_required(mti));
            }
            let why = "for forced confirmations (mti 0202 without original_authorization_id or original_tracking_id)";
            if amount.is_none() {
                return Err(missing("amount", why));
            }
            if processing_code.is_none() {
                return Err(missing("processing_code", why));
            }
        }
        if has_error && mti != Mti::Confirmation {
            return Err(invalid("has_error", "may be true only for confirmations (mti 0202)"));
        }
        // Overrides decide whether and how rules deny. An advice is denied only where it cannot be posted
        // (ACCOUNT, CURRENCY: neither can be disabled or forced), with the reason's own codes, so the answer
        // to a network's advice never depends on what the caller asked of the rules.
        if mti.is_advice() && !overrides.is_empty() {
            return Err(invalid(
                "validation_rules",
                "may not be sent with advices (mti 0120, 0420): an advice reports a decision already made",
            ));
        }

        Ok(AuthorizationRequest {
            mti,
            amount,
            currency,
            network,
            account,
            document_number,
            program_id,
            card,
            mode,
            confirmation_mode,
            processing_code,
            installments,
            has_error,
            original,
            tracking_id,
            overrides,
            // Read from the raw body by parse_authorization_request (they need it as sent).
            metadata: None,
            calculated_amounts: BTreeMap::new(),
            canonical,
        })
    }
}

/// `card`: the card the request names, by PAN or stored id.
impl TryFrom<&Object<WireCard>> for AccountRef {
    type Error = AuthorizationError;

    fn try_from(card: &Object<WireCard>) -> Result<Self, Self::Error> {
        if let Some(extra) = &card.unknown {
            return Err(not_a_field("card", extra));
        }
        let WireCard { pan, stored_id, cvv, expiration_date } = &card.fields;
        let text = |field, name| Field::<String>::given(field, name, "must be a string");
        if let Some(cvv) = text(cvv, "card.cvv")?
            && (!(3..=4).contains(&cvv.len()) || !cvv.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(invalid("card.cvv", "must be 3 or 4 digits"));
        }
        if let Some(expiry) = text(expiration_date, "card.expiration_date")? {
            Expiry::parse(expiry).ok_or_else(|| invalid("card.expiration_date", "must be YYYY-MM"))?;
        }
        match (text(pan, "card.pan")?, text(stored_id, "card.stored_id")?) {
            (Some(pan), _) => {
                Pan::parse(pan).map(Self::Pan).ok_or_else(|| invalid("card.pan", "must be 12 to 19 digits"))
            }
            (None, Some(stored)) if (1..=64).contains(&stored.len()) && key_safe(stored) => {
                Ok(Self::StoredId(stored.clone()))
            }
            (None, Some(_)) => Err(invalid("card.stored_id", "must be 1 to 64 letters, digits, '.', '_' or '-'")),
            (None, None) => Err(missing("card.pan or card.stored_id", "when card is given")),
        }
    }
}

/// `bank`: both parts, each a storage-key-safe string (`null` is not one).
impl TryFrom<&Object<WireBank>> for BankAccount {
    type Error = AuthorizationError;

    fn try_from(bank: &Object<WireBank>) -> Result<Self, Self::Error> {
        if let Some(extra) = &bank.unknown {
            return Err(not_a_field("bank", extra));
        }
        let part = |name: &str, field: &Field<String>| match field {
            Field::Given(s) if (1..=32).contains(&s.len()) && key_safe(s) => Ok(s.clone()),
            Field::Given(_) => {
                Err(invalid(&format!("bank.{name}"), "must be 1 to 32 letters, digits, '.', '_' or '-'"))
            }
            Field::Null | Field::Mistyped => Err(invalid(&format!("bank.{name}"), "must be a string")),
            Field::Absent => Err(missing(&format!("bank.{name}"), "when bank is given")),
        };
        Ok(Self { account: part("account", &bank.fields.account)?, branch: part("branch", &bank.fields.branch)? })
    }
}

/// Cofre's first name for the reference's LEDGER rule (the balance check), still accepted in
/// `validation_rules`; answers, events and recorded overrides say LEDGER.
pub const LEDGER_ALIAS: &str = "BALANCE";

/// `validation_rules`, rule by rule in the order of their names.
impl TryFrom<&BTreeMap<String, Field<Object<WireRuleOverride>>>> for Overrides {
    type Error = AuthorizationError;

    fn try_from(rules: &BTreeMap<String, Field<Object<WireRuleOverride>>>) -> Result<Self, Self::Error> {
        let mut overrides = Self::default();
        if rules.contains_key(LEDGER_ALIAS) && rules.contains_key(RuleName::Ledger.as_str()) {
            return Err(invalid(
                &format!("validation_rules.{LEDGER_ALIAS}"),
                "names the same rule as validation_rules.LEDGER: send one of them",
            ));
        }
        for (name, config) in rules {
            let rule: RuleName = if name == LEDGER_ALIAS {
                RuleName::Ledger
            } else {
                name.parse().map_err(|()| {
                    AuthorizationError::invalid(
                        InvalidCode::UnknownValidationRule,
                        format!("validation_rules.{} is not a rule", echo(name)),
                    )
                })?
            };
            // Faults are reported under the name as sent, alias included.
            let o = rule_override(rule, &format!("validation_rules.{name}"), config)?;
            if o != RuleOverride::default() {
                overrides.0.insert(rule, o);
            }
        }
        Ok(overrides)
    }
}

/// One rule's override. A body with several faults in it is refused for the one at the first key, in
/// key order (`denial_reasons`, `disable`, `force`, and any unknown key where it sorts).
fn rule_override(
    rule: RuleName,
    field: &str,
    config: &Field<Object<WireRuleOverride>>,
) -> Result<RuleOverride, AuthorizationError> {
    let Field::Given(config) = config else { return Err(invalid(field, "must be an object")) };
    let WireRuleOverride { denial_reasons, disable, force } = &config.fields;
    let flag = |key: &str, value: &Field<bool>| match value {
        Field::Absent => Ok(false),
        Field::Given(b) => Ok(*b),
        Field::Null | Field::Mistyped => Err(invalid(&format!("{field}.{key}"), "must be a boolean")),
    };
    let mut o = RuleOverride::default();
    let mut faults: Vec<(&str, AuthorizationError)> = Vec::new();
    match denial_codes(rule, field, denial_reasons) {
        Ok(reasons) => o.denial_reasons = reasons,
        Err(fault) => faults.push(("denial_reasons", fault)),
    }
    match flag("disable", disable) {
        Ok(b) => o.disable = b,
        Err(fault) => faults.push(("disable", fault)),
    }
    match flag("force", force) {
        Ok(b) => o.force = b,
        Err(fault) => faults.push(("force", fault)),
    }
    if let Some(extra) = &config.unknown {
        faults.push((extra, not_a_field(field, extra)));
    }
    if let Some((_, fault)) = faults.into_iter().min_by_key(|(key, _)| *key) {
        return Err(fault);
    }
    if o.disable && o.force {
        return Err(invalid(field, "cannot both disable and force"));
    }
    if (o.disable || o.force) && matches!(rule, RuleName::Account | RuleName::OriginalAuthorization) {
        return Err(invalid(field, "cannot be disabled or forced: without it there is nothing to authorize against"));
    }
    // Minor units mean nothing outside their currency: 1.234 KWD posted to a BRL ledger would be
    // 12.34 BRL.
    if (o.disable || o.force) && rule == RuleName::Currency {
        return Err(invalid(
            field,
            "cannot be disabled or forced: an amount in another currency cannot touch the ledger",
        ));
    }
    Ok(o)
}

/// `denial_reasons` of `rule`: replacement codes for its rejection reasons, reason by reason in the
/// order of their names. A code left out (or `null`) keeps the reason's own; one that is not a
/// string is refused, never silently replaced.
fn denial_codes(
    rule: RuleName,
    field: &str,
    reasons: &Field<BTreeMap<String, Field<Object<WireCodes>>>>,
) -> Result<BTreeMap<Reason, (String, String)>, AuthorizationError> {
    let mut replaced = BTreeMap::new();
    let reasons = match reasons {
        Field::Absent => return Ok(replaced),
        Field::Given(reasons) => reasons,
        Field::Null | Field::Mistyped => return Err(invalid(&format!("{field}.denial_reasons"), "must be an object")),
    };
    for (name, codes) in reasons {
        let reason = Reason::of(rule, name).filter(|r| r.status() == RuleStatus::Rejected).ok_or_else(|| {
            AuthorizationError::invalid(
                InvalidCode::UnknownDenialReason,
                format!("{field}.denial_reasons.{} is not a rejection reason of {rule}", echo(name)),
            )
        })?;
        let at = format!("{field}.denial_reasons.{reason}");
        let Field::Given(codes) = codes else { return Err(invalid(&at, "must be an object")) };
        if let Some(extra) = &codes.unknown {
            return Err(not_a_field(&at, extra));
        }
        let own = reason.row();
        let string = |code: &Field<String>, name: &str, default: &'static str| match code {
            Field::Given(code) => Ok(code.clone()),
            Field::Absent | Field::Null => Ok(default.to_owned()),
            Field::Mistyped => Err(invalid(&format!("{at}.{name}"), "must be a string")),
        };
        let response = string(&codes.fields.response_code, "response_code", own.response_code)?;
        let denial = string(&codes.fields.denial_code, "denial_code", own.denial_code)?;
        let (response, denial) = (response.as_str(), denial.as_str());
        if response == "00" || !RESPONSE_CODES.iter().any(|(c, _)| *c == response) {
            return Err(invalid(
                &format!("{at}.response_code"),
                "must be a denial response code (05, 12, 14, 30, 51, 54, 55, 57, 59, 62, 63, 75, 92, 96)",
            ));
        }
        if denial.len() != 3 || !denial.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(invalid(&format!("{at}.denial_code"), "must be three capital letters"));
        }
        replaced.insert(reason, (response.to_owned(), denial.to_owned()));
    }
    Ok(replaced)
}

// ---------------------------------------------------------------------------------------------
// The canonical body, and the entry point.
// ---------------------------------------------------------------------------------------------

/// Sorted-key JSON: the same body always digests the same, whatever its key order or spacing.
fn canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let sorted: BTreeMap<&String, &Value> = map.iter().collect();
            out.push('{');
            for (i, (k, v)) in sorted.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                canonical(v, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(v, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// The canonical body: every field, the amount as written ("10.00" and "10.0" are different requests,
/// not the same float), and no `card.cvv`. Recorded digests depend on it byte for byte.
fn canonical_body(raw: &RawObject) -> Result<SecretBytes, AuthorizationError> {
    let mut object = raw
        .iter()
        .map(|(k, v)| serde_json::from_str::<Value>(v.get()).map(|v| (k.clone(), v)))
        .collect::<Result<Map<String, Value>, _>>()
        .map_err(|_| malformed("body must be a JSON object".to_owned()))?;
    if let Some(amount) = raw.get("amount").map(|v| v.get()).filter(|v| *v != "null") {
        object.insert("amount".into(), Value::String(amount.to_owned()));
    }
    // PCI DSS: nothing derived from a card verification code is ever stored.
    if let Some(Value::Object(card)) = object.get_mut("card") {
        card.remove("cvv");
    }
    let mut text = String::new();
    canonical(&Value::Object(object), &mut text);
    Ok(SecretBytes::new(text.into_bytes()))
}

/// Parses and validates a request body.
pub fn parse_authorization_request(body: &[u8]) -> Result<AuthorizationRequest, AuthorizationError> {
    let raw: RawObject = serde_json::from_slice(body)
        .map_err(|e| malformed(format!("body must be a JSON object (line {}, column {})", e.line(), e.column())))?;
    let body = Object::<WireRequest>::read(&raw).map_err(|_| malformed("body must be a JSON object".to_owned()))?;
    if let Some(unknown) = &body.unknown {
        return Err(AuthorizationError::invalid(
            InvalidCode::UnknownField,
            format!("{} is not a field of this request", echo(unknown)),
        ));
    }
    let canonical = canonical_body(&raw)?;
    let mut request = AuthorizationRequest::try_from(Body { fields: body.fields, canonical })?;
    request.metadata = metadata(&raw)?;
    request.calculated_amounts = calculated_amounts(&raw, request.currency)?;
    Ok(request)
}

/// The most JSON `metadata` may hold: it travels with the decision (twice, on DynamoDB: the
/// authorization and its copy on the tracking record) and into both events.
pub const MAX_METADATA_BYTES: usize = 4096;

/// The most entries `calculated_amounts` may have.
pub const MAX_CALCULATED_AMOUNTS: usize = 16;

/// `metadata` as sent; its shape (an object) was checked with the other fields.
fn metadata(raw: &RawObject) -> Result<Option<String>, AuthorizationError> {
    let Some(text) = raw.get("metadata").map(|v| v.get()).filter(|v| *v != "null") else { return Ok(None) };
    if text.len() > MAX_METADATA_BYTES {
        return Err(invalid("metadata", &format!("must be at most {MAX_METADATA_BYTES} bytes of JSON")));
    }
    Ok(Some(text.to_owned()))
}

/// `calculated_amounts`: up to [`MAX_CALCULATED_AMOUNTS`] names (1 to 64 of `A-Z a-z 0-9 _`), each
/// an amount in `currency` read as exactly as `amount` is (zero allowed).
fn calculated_amounts(raw: &RawObject, currency: Currency) -> Result<BTreeMap<String, i64>, AuthorizationError> {
    let Some(text) = raw.get("calculated_amounts").filter(|v| v.get() != "null") else { return Ok(BTreeMap::new()) };
    let entries: RawObject =
        serde_json::from_str(text.get()).map_err(|_| invalid("calculated_amounts", "must be an object"))?;
    if entries.len() > MAX_CALCULATED_AMOUNTS {
        return Err(invalid("calculated_amounts", &format!("must have at most {MAX_CALCULATED_AMOUNTS} amounts")));
    }
    let mut amounts = BTreeMap::new();
    for (name, value) in &entries {
        let valid_name = (1..=64).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !valid_name {
            return Err(invalid(
                &format!("calculated_amounts.{}", echo(name)),
                "is not a name of 1 to 64 of A-Z a-z 0-9 _",
            ));
        }
        let minor = parse_minor_units(value.get().trim_matches('"'), currency, true)
            .map_err(|e| invalid(&format!("calculated_amounts.{name}"), &e.to_string()))?;
        amounts.insert(name.clone(), minor);
    }
    Ok(amounts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(body: &str) -> (&'static str, String) {
        match parse_authorization_request(body.as_bytes()) {
            Err(AuthorizationError::Invalid { code, message }) => (code.as_str(), message),
            other => panic!("{body}: {other:?}"),
        }
    }

    const BASE: &str =
        r#""mti":"0100","amount":1,"currency":"BRL","network":"VISA","entry_mode":"05","processing_code":"1""#;

    /// Recorded digests are of this text: it must not change, byte for byte.
    #[test]
    fn the_canonical_body_sorts_keys_keeps_the_amount_as_written_and_drops_the_cvv() {
        let body = r#"{ "tracking_id":"t-1", "mti":"0100","amount":10.50,"currency":"BRL","network":"VISA",
            "card":{"pan":"4111111111111111","cvv":"123","expiration_date":"2030-01"},"mode":"CREDIT",
            "entry_mode":"051","processing_code":"003000","metadata":{"b":1.0,"a":[1e2,"x\u00e9"]},"program_id":null}"#;
        let request = parse_authorization_request(body.as_bytes()).unwrap();
        assert_eq!(
            String::from_utf8_lossy(request.canonical.expose()),
            r#"{"amount":"10.50","card":{"expiration_date":"2030-01","pan":"4111111111111111"},"currency":"BRL","entry_mode":"051","metadata":{"a":[100.0,"xé"],"b":1.0},"mode":"CREDIT","mti":"0100","network":"VISA","processing_code":"003000","program_id":null,"tracking_id":"t-1"}"#
        );
        assert_eq!(request.amount, Some(1050));
        let body = r#"{"mti":"0202","currency":"986","network":"VISA","original_authorization_id":42,"amount":"6.0"}"#;
        let request = parse_authorization_request(body.as_bytes()).unwrap();
        assert_eq!(
            String::from_utf8_lossy(request.canonical.expose()),
            r#"{"amount":"\"6.0\"","currency":"986","mti":"0202","network":"VISA","original_authorization_id":42}"#,
            "a decimal string is another request than the same number"
        );
        assert_eq!(request.amount, Some(600));
    }

    #[test]
    fn a_body_with_several_faults_is_refused_for_the_first_in_the_rules_order() {
        let cases = [
            (r#"{"zzz":1,"card":5,"mti":7}"#, ("UNKNOWN_FIELD", "zzz is not a field of this request")),
            (r#"{"mti":5,"currency":5,"amount":"ten","account_id":"1"}"#, ("INVALID_FIELD", "mti must be a string")),
            (
                r#"{"mti":"0100","currency":"BRL","amount":"ten","account_id":"1"}"#,
                ("INVALID_FIELD", "amount must be a decimal number"),
            ),
            (&format!(r#"{{{BASE},"card":{{"zz":1,"pan":5}}}}"#), ("UNKNOWN_FIELD", "card.zz is not a field")),
            (
                &format!(r#"{{{BASE},"bank":{{"account":null,"branch":"1"}}}}"#),
                ("INVALID_FIELD", "bank.account must be a string"),
            ),
            // Within one rule's override, the first fault in key order.
            (
                &format!(r#"{{{BASE},"account_id":1,"validation_rules":{{"LEDGER":{{"force":"yes","skip":1}}}}}}"#),
                ("INVALID_FIELD", "validation_rules.LEDGER.force must be a boolean"),
            ),
            (
                &format!(r#"{{{BASE},"account_id":1,"validation_rules":{{"LEDGER":{{"aaa":1,"force":"yes"}}}}}}"#),
                ("UNKNOWN_FIELD", "validation_rules.LEDGER.aaa is not a field"),
            ),
        ];
        for (body, (code, message)) in cases {
            assert_eq!(refusal(body), (code, message.to_owned()), "{body}");
        }
    }

    #[test]
    fn balance_is_an_alias_of_the_reference_s_ledger_rule() {
        let body = format!(r#"{{{BASE},"account_id":1,"validation_rules":{{"BALANCE":{{"force":true}}}}}}"#);
        let request = parse_authorization_request(body.as_bytes()).unwrap();
        assert!(request.overrides.get(RuleName::Ledger).unwrap().force);
        assert_eq!(request.overrides.applied(), ["LEDGER:force"], "recorded under the reference's name");
        let faulty = format!(r#"{{{BASE},"account_id":1,"validation_rules":{{"BALANCE":{{"force":"yes"}}}}}}"#);
        assert_eq!(
            refusal(&faulty),
            ("INVALID_FIELD", "validation_rules.BALANCE.force must be a boolean".to_owned()),
            "a fault is named as sent"
        );
        let both = format!(
            r#"{{{BASE},"account_id":1,"validation_rules":{{"BALANCE":{{"force":true}},"LEDGER":{{"disable":true}}}}}}"#
        );
        assert_eq!(
            refusal(&both),
            (
                "INVALID_FIELD",
                "validation_rules.BALANCE names the same rule as validation_rules.LEDGER: send one of them".to_owned()
            )
        );
    }

    #[test]
    fn overrides_are_typed_by_rule_and_reason() {
        let body = format!(
            r#"{{{BASE},"account_id":1,"validation_rules":{{"CARD_STATUS":{{"denial_reasons":{{"CARD_EXPIRED":{{"response_code":"05","denial_code":"XYZ"}}}}}},"LEDGER":{{"force":true}},"MODE":{{"disable":false}}}}}}"#
        );
        let request = parse_authorization_request(body.as_bytes()).unwrap();
        let card = request.overrides.get(RuleName::CardStatus).unwrap();
        assert_eq!(card.denial_reasons.get(&Reason::CardExpired), Some(&("05".to_owned(), "XYZ".to_owned())));
        assert!(request.overrides.get(RuleName::Ledger).unwrap().force);
        assert!(request.overrides.get(RuleName::Mode).is_none(), "an override of nothing is none");
        assert_eq!(request.overrides.applied(), ["CARD_STATUS:denial_reason:CARD_EXPIRED", "LEDGER:force"]);
        // A code left out keeps the reason's own; one that is not a string is refused.
        let body = format!(
            r#"{{{BASE},"account_id":1,"validation_rules":{{"LEDGER":{{"denial_reasons":{{"INSUFFICIENT_FUNDS":{{"denial_code":null}}}}}}}}}}"#
        );
        let request = parse_authorization_request(body.as_bytes()).unwrap();
        let balance = request.overrides.get(RuleName::Ledger).unwrap();
        assert_eq!(balance.denial_reasons.get(&Reason::InsufficientFunds), Some(&("51".to_owned(), "NSF".to_owned())));
        let body = format!(
            r#"{{{BASE},"account_id":1,"validation_rules":{{"LEDGER":{{"denial_reasons":{{"INSUFFICIENT_FUNDS":{{"response_code":5}}}}}}}}}}"#
        );
        let err = parse_authorization_request(body.as_bytes()).unwrap_err();
        assert!(
            err.to_string()
                .contains("validation_rules.LEDGER.denial_reasons.INSUFFICIENT_FUNDS.response_code must be a string"),
            "{err}"
        );
    }

    /// A confirmation may leave its original out only to be forced: naming its account, with what the
    /// reference requires of a forced confirmation; anything else is refused as it always was.
    #[test]
    fn a_confirmation_without_an_original_must_name_its_account_amount_and_processing_code() {
        const CONFIRM: &str = r#""mti":"0202","currency":"BRL","network":"VISA""#;
        let body = format!(r#"{{{CONFIRM},"account_id":1,"amount":2,"processing_code":"003000"}}"#);
        let request = parse_authorization_request(body.as_bytes()).unwrap();
        assert!(request.original.is_none() && request.forcible());
        let by_card = format!(r#"{{{CONFIRM},"card":{{"stored_id":"tok"}},"amount":2,"processing_code":"1"}}"#);
        assert!(parse_authorization_request(by_card.as_bytes()).unwrap().forcible());
        let original_required = |mti: &str| {
            ("MISSING_FIELD", format!("original_authorization_id or original_tracking_id is required for mti {mti}"))
        };
        let forced = "for forced confirmations (mti 0202 without original_authorization_id or original_tracking_id)";
        let cases = [
            (format!(r#"{{{CONFIRM},"amount":2,"processing_code":"1"}}"#), original_required("0202")),
            (
                format!(r#"{{{CONFIRM},"account_id":1,"amount":2,"processing_code":"1","has_error":true}}"#),
                original_required("0202"),
            ),
            (
                format!(r#"{{{CONFIRM},"account_id":1,"processing_code":"1"}}"#),
                ("MISSING_FIELD", format!("amount is required {forced}")),
            ),
            (
                format!(r#"{{{CONFIRM},"account_id":1,"amount":2}}"#),
                ("MISSING_FIELD", format!("processing_code is required {forced}")),
            ),
            (
                r#"{"mti":"0402","currency":"BRL","network":"VISA","account_id":1,"amount":2,"processing_code":"1"}"#
                    .to_owned(),
                original_required("0402"),
            ),
            (
                r#"{"mti":"0400","currency":"BRL","network":"VISA","account_id":1,"amount":2,"processing_code":"1"}"#
                    .to_owned(),
                original_required("0400"),
            ),
        ];
        for (body, (code, message)) in cases {
            assert_eq!(refusal(&body), (code, message), "{body}");
        }
        // Naming an original, nothing more is required (it is forced only if not found and forcible).
        let named = format!(r#"{{{CONFIRM},"account_id":1,"original_tracking_id":"t"}}"#);
        assert!(!parse_authorization_request(named.as_bytes()).unwrap().forcible());
    }

    /// Advices need what the reference asks of them (a 0120 what a 0100 needs, a 0420 its original)
    /// and take no overrides; an empty `validation_rules` overrides nothing and is no override.
    #[test]
    fn advices_need_what_their_kind_needs_and_take_no_overrides() {
        const ADVICE: &str =
            r#""mti":"0120","amount":1,"currency":"BRL","network":"VISA","entry_mode":"05","processing_code":"1""#;
        let request = parse_authorization_request(format!(r#"{{{ADVICE},"account_id":1}}"#).as_bytes()).unwrap();
        assert!(request.mti.is_advice() && request.mti.authorizes() && !request.mti.cancels());
        assert_eq!(request.clearing_type(), ClearingType::Offline, "the advice of a 0100");
        let online = format!(r#"{{{ADVICE},"account_id":1,"confirmation_mode":"ONLINE"}}"#);
        assert_eq!(parse_authorization_request(online.as_bytes()).unwrap().clearing_type(), ClearingType::Online);
        let reversal = r#"{"mti":"0420","currency":"BRL","network":"VISA","original_tracking_id":"t"}"#;
        let request = parse_authorization_request(reversal.as_bytes()).unwrap();
        assert!(request.mti.is_advice() && request.mti.cancels() && request.original.is_some());
        let empty = format!(r#"{{{ADVICE},"account_id":1,"validation_rules":{{}}}}"#);
        assert!(parse_authorization_request(empty.as_bytes()).is_ok());
        let refused = "may not be sent with advices (mti 0120, 0420): an advice reports a decision already made";
        let cases = [
            (
                format!(r#"{{{ADVICE}}}"#),
                (
                    "MISSING_FIELD",
                    "one of account_id, document_number, card.pan, card.stored_id or bank is required for mti 0120"
                        .to_owned(),
                ),
            ),
            (
                format!(r#"{{{ADVICE},"account_id":1,"amount":null}}"#),
                ("MISSING_FIELD", "amount is required for mti 0120".to_owned()),
            ),
            (
                format!(r#"{{{ADVICE},"card":{{"stored_id":"tok"}}}}"#),
                ("MISSING_FIELD", "mode is required for card authorizations (mti 0120)".to_owned()),
            ),
            (
                format!(r#"{{{ADVICE},"account_id":1,"has_error":true}}"#),
                ("INVALID_FIELD", "has_error may be true only for confirmations (mti 0202)".to_owned()),
            ),
            (
                format!(r#"{{{ADVICE},"account_id":1,"validation_rules":{{"LEDGER":{{"force":true}}}}}}"#),
                ("INVALID_FIELD", format!("validation_rules {refused}")),
            ),
            (
                reversal
                    .replace('}', r#","validation_rules":{"CURRENCY":{"denial_reasons":{"CURRENCY_MISMATCH":{}}}}}"#),
                ("INVALID_FIELD", format!("validation_rules {refused}")),
            ),
            (
                r#"{"mti":"0420","currency":"BRL","network":"VISA","account_id":1,"amount":1}"#.to_owned(),
                (
                    "MISSING_FIELD",
                    "original_authorization_id or original_tracking_id is required for mti 0420".to_owned(),
                ),
            ),
            (
                r#"{"mti":"0220","currency":"BRL","network":"VISA"}"#.to_owned(),
                ("INVALID_FIELD", "mti must be one of 0100, 0120, 0200, 0202, 0400, 0402, 0420".to_owned()),
            ),
        ];
        for (body, (code, message)) in cases {
            assert_eq!(refusal(&body), (code, message), "{body}");
        }
    }

    #[test]
    fn the_known_fields_are_the_wire_structs() {
        assert_eq!(field_names::<WireBank>(), ["account", "branch"]);
        assert_eq!(field_names::<WireRequest>().len(), 34);
        assert!(field_names::<WireRequest>().contains(&"authorization_validations"));
    }
}
