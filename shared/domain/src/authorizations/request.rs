use std::collections::BTreeMap;

use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::account::{AccountId, BankAccount, Pan, wire_enum};
use super::rules::{Overrides, REASONS, RESPONSE_CODES, RuleName, RuleOverride, RuleStatus};
use super::{AuthorizationError, Currency, parse_minor_units};
use crate::tracking::TrackingId;

wire_enum!(
    /// Message type identifier.
    Mti {
        /** Authorization: approve and hold, awaiting confirmation. */ Authorization = "0100",
        /** Authorization and confirmation at once. */ Financial = "0200",
        /** Confirmation of a 0100. */ Confirmation = "0202",
        /** Cancellation of an approved authorization. */ Cancellation = "0400",
        /** Confirmation of a cancellation. */ CancellationConfirmation = "0402",
    }
);

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
    /// Minor units; required for 0100/0200.
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
    /// The original of a 0202/0400/0402.
    pub original: Option<OriginalRef>,
    /// The caller's idempotency key, if given.
    pub tracking_id: Option<TrackingId>,
    /// `validation_rules`.
    pub overrides: Overrides,
    /// The canonical body (sorted keys, the amount as written, `card.cvv` left out): secret, since it
    /// holds the PAN. The authorizer keys a digest of it (HMAC) to tell replays from reuse.
    pub canonical: crate::secret::SecretBytes,
}

impl AuthorizationRequest {
    /// The clearing type of this request.
    pub fn clearing_type(&self) -> ClearingType {
        self.confirmation_mode.unwrap_or(if self.mti == Mti::Financial {
            ClearingType::Online
        } else {
            ClearingType::Offline
        })
    }
}

/// Every field of the reference body.
const FIELDS: &[&str] = &[
    "amount",
    "currency",
    "mti",
    "network",
    "account_id",
    "authentication",
    "authorization_code",
    "local_date_time",
    "mode",
    "bank",
    "beneficiary_id",
    "calculated_amounts",
    "card",
    "confirmation_mode",
    "document_number",
    "soft_descriptor",
    "entry_mode",
    "has_error",
    "installment_plan_id",
    "merchant",
    "metadata",
    "nsu",
    "number_of_installments",
    "original_authorization_id",
    "original_tracking_id",
    "posting_date",
    "pre_authorization",
    "processing_code",
    "program_id",
    "statement_id",
    "transaction_id",
    "tracking_id",
    "validation_rules",
    "authorization_validations",
];

/// Whether `value` may be part of a storage key: letters, digits and `. _ -` only (never `#`, the
/// key separator), so two different names can never share a key.
pub(crate) fn key_safe(value: &str) -> bool {
    !value.is_empty() && value.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

fn invalid(field: &str, rule: &str) -> AuthorizationError {
    AuthorizationError::invalid("INVALID_FIELD", format!("{field} {rule}"))
}

fn missing(field: &str, why: &str) -> AuthorizationError {
    AuthorizationError::invalid("MISSING_FIELD", format!("{field} is required {why}"))
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

struct Body {
    fields: BTreeMap<String, Value>,
    raw_amount: Option<String>,
}

impl Body {
    fn value(&self, name: &str) -> Option<&Value> {
        self.fields.get(name).filter(|v| !v.is_null())
    }

    fn string(&self, name: &str, max: usize) -> Result<Option<&str>, AuthorizationError> {
        match self.value(name) {
            None => Ok(None),
            Some(Value::String(s)) if !s.is_empty() && s.chars().count() <= max => Ok(Some(s)),
            Some(Value::String(_)) => Err(invalid(name, &format!("must be 1 to {max} characters"))),
            Some(_) => Err(invalid(name, "must be a string")),
        }
    }

    fn integer(&self, name: &str, min: i64, max: i64) -> Result<Option<i64>, AuthorizationError> {
        match self.value(name) {
            None => Ok(None),
            Some(Value::Number(n)) => match n.as_i64() {
                Some(v) if (min..=max).contains(&v) => Ok(Some(v)),
                _ => Err(invalid(name, &format!("must be an integer from {min} to {max}"))),
            },
            Some(_) => Err(invalid(name, &format!("must be an integer from {min} to {max}"))),
        }
    }

    fn boolean(&self, name: &str) -> Result<Option<bool>, AuthorizationError> {
        match self.value(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(invalid(name, "must be a boolean")),
        }
    }

    fn object(&self, name: &str) -> Result<Option<&Map<String, Value>>, AuthorizationError> {
        match self.value(name) {
            None => Ok(None),
            Some(Value::Object(o)) => Ok(Some(o)),
            Some(_) => Err(invalid(name, "must be an object")),
        }
    }

    fn enumerated<T: std::str::FromStr>(&self, name: &str, allowed: &str) -> Result<Option<T>, AuthorizationError> {
        self.string(name, 16)?
            .map(|s| s.parse().map_err(|_| invalid(name, &format!("must be one of {allowed}"))))
            .transpose()
    }
}

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

fn canonical_body(fields: &BTreeMap<String, Value>, raw_amount: Option<&str>) -> crate::secret::SecretBytes {
    let mut text = String::new();
    let mut object: Map<String, Value> = fields.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    // The amount as written ("10.00" and "10.0" are different requests), not as a float.
    if let Some(raw) = raw_amount {
        object.insert("amount".into(), Value::String(raw.to_owned()));
    }
    // PCI DSS: nothing derived from a card verification code is ever stored.
    if let Some(Value::Object(card)) = object.get_mut("card") {
        card.remove("cvv");
    }
    canonical(&Value::Object(object), &mut text);
    crate::secret::SecretBytes::new(text.into_bytes())
}

fn parse_overrides(rules: &Map<String, Value>) -> Result<Overrides, AuthorizationError> {
    let mut overrides = Overrides::default();
    for (name, config) in rules {
        let rule: RuleName = name.parse().map_err(|()| {
            AuthorizationError::invalid(
                "UNKNOWN_VALIDATION_RULE",
                format!("validation_rules.{} is not a rule", echo(name)),
            )
        })?;
        let field = format!("validation_rules.{rule}");
        let Value::Object(config) = config else { return Err(invalid(&field, "must be an object")) };
        let mut o = RuleOverride::default();
        for (key, value) in config {
            match (key.as_str(), value) {
                ("disable", Value::Bool(b)) => o.disable = *b,
                ("force", Value::Bool(b)) => o.force = *b,
                ("disable" | "force", _) => return Err(invalid(&format!("{field}.{key}"), "must be a boolean")),
                ("denial_reasons", Value::Object(reasons)) => {
                    for (reason_name, codes) in reasons {
                        let reason = REASONS
                            .iter()
                            .find(|r| r.rule == rule && r.name == reason_name && r.status == RuleStatus::Rejected)
                            .ok_or_else(|| {
                                AuthorizationError::invalid(
                                    "UNKNOWN_DENIAL_REASON",
                                    format!(
                                        "{field}.denial_reasons.{} is not a rejection reason of {rule}",
                                        echo(reason_name)
                                    ),
                                )
                            })?;
                        let at = format!("{field}.denial_reasons.{}", reason.name);
                        let Value::Object(codes) = codes else { return Err(invalid(&at, "must be an object")) };
                        if let Some(extra) =
                            codes.keys().find(|k| !matches!(k.as_str(), "response_code" | "denial_code"))
                        {
                            return Err(AuthorizationError::invalid(
                                "UNKNOWN_FIELD",
                                format!("{at}.{} is not a field", echo(extra)),
                            ));
                        }
                        let response =
                            codes.get("response_code").and_then(Value::as_str).unwrap_or(reason.response_code);
                        let denial = codes.get("denial_code").and_then(Value::as_str).unwrap_or(reason.denial_code);
                        if response == "00" || !RESPONSE_CODES.iter().any(|(c, _)| *c == response) {
                            return Err(invalid(
                                &format!("{at}.response_code"),
                                "must be a denial response code (05, 12, 14, 30, 51, 54, 55, 57, 59, 62, 63, 75, 92, 96)",
                            ));
                        }
                        if denial.len() != 3 || !denial.bytes().all(|b| b.is_ascii_uppercase()) {
                            return Err(invalid(&format!("{at}.denial_code"), "must be three capital letters"));
                        }
                        o.denial_reasons.insert(reason.name, (response.to_owned(), denial.to_owned()));
                    }
                }
                ("denial_reasons", _) => return Err(invalid(&format!("{field}.denial_reasons"), "must be an object")),
                (other, _) => {
                    return Err(AuthorizationError::invalid(
                        "UNKNOWN_FIELD",
                        format!("{field}.{} is not a field", echo(other)),
                    ));
                }
            }
        }
        if o.disable && o.force {
            return Err(invalid(&field, "cannot both disable and force"));
        }
        if (o.disable || o.force) && matches!(rule, RuleName::Account | RuleName::OriginalAuthorization) {
            return Err(invalid(
                &field,
                "cannot be disabled or forced: without it there is nothing to authorize against",
            ));
        }
        if o != RuleOverride::default() {
            overrides.0.insert(rule.as_str(), o);
        }
    }
    Ok(overrides)
}

fn parse_card(card: &Map<String, Value>) -> Result<AccountRef, AuthorizationError> {
    if let Some(extra) = card.keys().find(|k| !matches!(k.as_str(), "pan" | "stored_id" | "cvv" | "expiration_date")) {
        return Err(AuthorizationError::invalid("UNKNOWN_FIELD", format!("card.{} is not a field", echo(extra))));
    }
    let text = |name: &str| match card.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(_) => Err(invalid(&format!("card.{name}"), "must be a string")),
    };
    if let Some(cvv) = text("cvv")?
        && (!(3..=4).contains(&cvv.len()) || !cvv.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(invalid("card.cvv", "must be 3 or 4 digits"));
    }
    if let Some(expiry) = text("expiration_date")? {
        super::account::Expiry::parse(expiry).ok_or_else(|| invalid("card.expiration_date", "must be YYYY-MM"))?;
    }
    match (text("pan")?, text("stored_id")?) {
        (Some(pan), _) => {
            Pan::parse(pan).map(AccountRef::Pan).ok_or_else(|| invalid("card.pan", "must be 12 to 19 digits"))
        }
        (None, Some(stored)) if (1..=64).contains(&stored.len()) && key_safe(stored) => {
            Ok(AccountRef::StoredId(stored.to_owned()))
        }
        (None, Some(_)) => Err(invalid("card.stored_id", "must be 1 to 64 letters, digits, '.', '_' or '-'")),
        (None, None) => Err(missing("card.pan or card.stored_id", "when card is given")),
    }
}

/// Parses and validates a request body.
pub fn parse_authorization_request(body: &[u8]) -> Result<AuthorizationRequest, AuthorizationError> {
    let raw: BTreeMap<String, Box<RawValue>> = serde_json::from_slice(body).map_err(|e| {
        AuthorizationError::invalid(
            "MALFORMED_JSON",
            format!("body must be a JSON object (line {}, column {})", e.line(), e.column()),
        )
    })?;
    if let Some(unknown) = raw.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(AuthorizationError::invalid(
            "UNKNOWN_FIELD",
            format!("{} is not a field of this request", echo(unknown)),
        ));
    }
    let raw_amount = raw.get("amount").map(|v| v.get().to_owned()).filter(|v| v != "null");
    let fields = raw
        .iter()
        .map(|(k, v)| serde_json::from_str::<Value>(v.get()).map(|v| (k.clone(), v)))
        .collect::<Result<BTreeMap<_, _>, _>>()
        .map_err(|_| AuthorizationError::invalid("MALFORMED_JSON", "body must be a JSON object"))?;
    let body = Body { fields, raw_amount };

    let mti = match body.string("mti", 4)? {
        None => return Err(missing("mti", "")),
        Some("0120" | "0420") => {
            return Err(AuthorizationError::invalid(
                "UNSUPPORTED_MTI",
                "mti 0120 and 0420 (advices) are not supported",
            ));
        }
        Some(m) => m.parse::<Mti>().map_err(|()| invalid("mti", "must be one of 0100, 0200, 0202, 0400, 0402"))?,
    };
    let currency = body.string("currency", 3)?.ok_or_else(|| missing("currency", ""))?;
    let currency = Currency::parse(currency)
        .ok_or_else(|| invalid("currency", "must be an ISO 4217 code, alphabetic (BRL) or numeric (986)"))?;
    let amount = match &body.raw_amount {
        None => None,
        Some(raw) => {
            let text = raw.trim_matches('"');
            if raw.starts_with('"') && !body.value("amount").is_some_and(Value::is_string) {
                return Err(invalid("amount", "must be a decimal number"));
            }
            Some(parse_minor_units(text, currency, false).map_err(|e| invalid("amount", &e.to_string()))?)
        }
    };
    let network = body.string("network", 32)?.ok_or_else(|| missing("network", ""))?.to_owned();
    let account_id = body.integer("account_id", 1, i64::MAX)?.and_then(AccountId::new);
    let program_id = body.integer("program_id", 1, i64::MAX)?;
    let document_number = body.string("document_number", 32)?.map(str::to_owned);
    if document_number.as_deref().is_some_and(|d| !key_safe(d)) {
        return Err(invalid("document_number", "must be letters, digits, '.', '_' or '-'"));
    }
    let card = body.object("card")?.map(parse_card).transpose()?;
    let bank = match body.object("bank")? {
        None => None,
        Some(bank) => {
            if let Some(extra) = bank.keys().find(|k| !matches!(k.as_str(), "account" | "branch")) {
                return Err(AuthorizationError::invalid(
                    "UNKNOWN_FIELD",
                    format!("bank.{} is not a field", echo(extra)),
                ));
            }
            let part = |name: &str| match bank.get(name) {
                Some(Value::String(s)) if (1..=32).contains(&s.len()) && key_safe(s) => Ok(s.clone()),
                Some(Value::String(_)) => {
                    Err(invalid(&format!("bank.{name}"), "must be 1 to 32 letters, digits, '.', '_' or '-'"))
                }
                Some(_) => Err(invalid(&format!("bank.{name}"), "must be a string")),
                None => Err(missing(&format!("bank.{name}"), "when bank is given")),
            };
            Some(BankAccount { account: part("account")?, branch: part("branch")? })
        }
    };
    let mode = body.enumerated::<RequestMode>("mode", "CREDIT, DEBIT")?;
    let confirmation_mode = body.enumerated::<ClearingType>("confirmation_mode", "ONLINE, OFFLINE")?;
    let entry_mode = body.string("entry_mode", 3)?;
    if let Some(e) = entry_mode
        && (!(2..=3).contains(&e.len()) || !e.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(invalid("entry_mode", "must be 2 or 3 digits"));
    }
    let processing_code = body.string("processing_code", 32)?.map(str::to_owned);
    let installments = body.integer("number_of_installments", 1, 100)?.map_or(1, |n| n as u32);
    let has_error = body.boolean("has_error")?.unwrap_or(false);
    body.boolean("pre_authorization")?;
    let authorization_code = body.string("authorization_code", 6)?;
    if authorization_code.is_some_and(|c| !c.bytes().all(|b| b.is_ascii_alphanumeric())) {
        return Err(invalid("authorization_code", "must be 1 to 6 letters or digits"));
    }
    if let Some(when) = body.string("local_date_time", 40)? {
        time::OffsetDateTime::parse(when, &time::format_description::well_known::Rfc3339)
            .map_err(|_| invalid("local_date_time", "must be an RFC 3339 date-time"))?;
    }
    if let Some(date) = body.string("posting_date", 10)? {
        time::Date::parse(date, time::macros::format_description!("[year]-[month]-[day]"))
            .map_err(|_| invalid("posting_date", "must be a date, YYYY-MM-DD"))?;
    }
    for name in ["beneficiary_id", "installment_plan_id", "nsu", "transaction_id"] {
        body.string(name, 64)?;
    }
    body.string("soft_descriptor", 100)?;
    body.integer("statement_id", 1, i64::MAX)?;
    for name in ["authentication", "calculated_amounts", "merchant", "metadata", "authorization_validations"] {
        body.object(name)?;
    }
    let original =
        match (body.integer("original_authorization_id", 1, (1 << 53) - 1)?, body.string("original_tracking_id", 128)?)
        {
            (Some(id), _) => Some(OriginalRef::Id(id as u64)),
            (None, Some(t)) => Some(OriginalRef::Tracking(TrackingId::parse(t).ok_or_else(|| {
                invalid("original_tracking_id", "must be 1 to 128 characters of A-Z a-z 0-9 . _ : -")
            })?)),
            (None, None) => None,
        };
    let tracking_id = body
        .string("tracking_id", 128)?
        .map(|t| {
            TrackingId::parse(t)
                .ok_or_else(|| invalid("tracking_id", "must be 1 to 128 characters of A-Z a-z 0-9 . _ : -"))
        })
        .transpose()?;
    let overrides = body.object("validation_rules")?.map(parse_overrides).transpose()?.unwrap_or_default();

    let account = account_id
        .map(AccountRef::Id)
        .or_else(|| card.clone())
        .or_else(|| document_number.clone().map(AccountRef::Document))
        .or_else(|| bank.clone().map(AccountRef::Bank));
    let authorizing = matches!(mti, Mti::Authorization | Mti::Financial);
    if authorizing {
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
        if mti == Mti::Authorization && card.is_some() && mode.is_none() {
            return Err(missing("mode", "for card authorizations (mti 0100)"));
        }
    } else if original.is_none() {
        return Err(missing("original_authorization_id or original_tracking_id", &format!("for mti {mti}")));
    }
    if has_error && mti != Mti::Confirmation {
        return Err(invalid("has_error", "may be true only for confirmations (mti 0202)"));
    }

    let canonical = canonical_body(&body.fields, body.raw_amount.as_deref());
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
        canonical,
    })
}
