//! The rule engine: a pure function from what was read to a decision. No I/O, so it is exhaustively
//! testable and cheap (see `benches/rule_engine.rs`).

use serde_json::{Value, json};
use time::OffsetDateTime;

use super::account::{Account, AccountId, AccountStatus, Card, CardMode, CardStatus};
use super::record::{AuthorizationRecord, DecisionStatus};
use super::rules::{DISABLED, NOT_EVALUATED, Overrides, Reason, RuleName, RuleStatus, ValidationResult};
use super::{AuthorizationRequest, Mti, OriginalRef, RequestMode, format_minor_units};

/// What was found for the request's account.
#[derive(Debug, Clone)]
pub enum AccountFact {
    /// Found.
    Found(Account),
    /// A confirmation's or cancellation's account, as its original recorded it (the request names
    /// none). Such a request only settles or releases what the original already took from it:
    /// nothing of the account's current state (balance, status) is judged, so it is not read. Its
    /// id and program never change, and its currency is the original's (CURRENCY cannot be forced).
    OfOriginal {
        /// The account.
        id: AccountId,
        /// Its program.
        program_id: Option<i64>,
    },
    /// No such account for this tenant.
    NotFound,
    /// Found by one name but another name contradicts it: the ACCOUNT rejection to give
    /// ([`Reason::DocumentMismatch`], [`Reason::AmbiguousDocument`]).
    Contradicted(Reason),
    /// It could not be read.
    Unreadable,
}

/// What was found for the request's card.
#[derive(Debug, Clone)]
pub enum CardFact {
    /// The request names no card.
    None,
    /// A card of the account.
    Found(Card),
    /// Named, but not a card of the account.
    NotFound,
}

/// What was found for a confirmation's or cancellation's original.
#[derive(Debug, Clone)]
pub enum OriginalFact {
    /// The request is an authorization: no original.
    NotApplicable,
    /// Found.
    Found(Box<AuthorizationRecord>),
    /// No such authorization for this tenant (or, for a 0202 that may be forced, none named).
    NotFound,
    /// Not named, or not found, and the confirmation is forced: the request is
    /// [`forcible`](AuthorizationRequest::forcible), its account was found and forces original
    /// authorization, and the caller holds the override scope. It posts `amount` on the account.
    ForcedConfirmation,
}

/// Everything the rules look at.
#[derive(Debug, Clone)]
pub struct Facts<'a> {
    /// The request.
    pub request: &'a AuthorizationRequest,
    /// Its account.
    pub account: AccountFact,
    /// Its card.
    pub card: CardFact,
    /// Its original.
    pub original: OriginalFact,
    /// Now (card expiry).
    pub now: OffsetDateTime,
}

/// The engine's verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// Every rule's result, in order.
    pub results: Vec<ValidationResult>,
    /// APPROVED unless an unforced rule rejected.
    pub status: DecisionStatus,
    /// "00" or the first unforced rejection's (possibly overridden) code.
    pub response_code: String,
    /// The first unforced rejection's (possibly overridden) denial code.
    pub denial_code: Option<String>,
    /// Whether LEDGER ran and was not forced: the commit must keep the balance non-negative.
    pub balance_enforced: bool,
    /// Whether ACCOUNT_STATUS ran and was not forced: the commit must find the account still NORMAL.
    pub status_enforced: bool,
    /// The amount this decision acts on, minor units (defaulted from the original for 0202/0400/0420; for
    /// a 0420, what it releases).
    pub amount: i64,
}

/// The amount a confirmation or cancellation acts on: the request's, or what the original has left.
fn operation_amount(request: &AuthorizationRequest, original: &AuthorizationRecord) -> i64 {
    match request.mti {
        Mti::Confirmation if request.has_error => original.held,
        Mti::Confirmation => request.amount.unwrap_or(original.held),
        Mti::Cancellation | Mti::ReversalAdvice => request.amount.unwrap_or(original.remaining()),
        _ => 0,
    }
}

/// Whether a rejection by `rule` denies an advice: only where it cannot be posted. ACCOUNT: there is no
/// account to post to (or which one is in doubt). CURRENCY: minor units of one currency never touch a
/// ledger kept in another. Every other rule records what it would have decided, and does not deny.
fn denies_advices(rule: RuleName) -> bool {
    matches!(rule, RuleName::Account | RuleName::Currency)
}

/// Judges one rule: `Some((reason, additional_data))`, the reason one of `rule`'s, or `None` when it has
/// nothing to check.
fn judge(rule: RuleName, facts: &Facts<'_>, account: Option<&Account>) -> Option<(Reason, Value)> {
    let request = facts.request;
    let authorizing = request.mti.authorizes();
    let forced_confirmation = matches!(facts.original, OriginalFact::ForcedConfirmation);
    let currency = match (&facts.account, &facts.original) {
        (AccountFact::Found(a), _) => Some(a.currency),
        (AccountFact::OfOriginal { .. }, OriginalFact::Found(original)) => Some(original.currency),
        _ => None,
    };
    let money = |minor: i64| currency.map_or_else(|| minor.to_string(), |c| format_minor_units(minor, c));
    Some(match rule {
        // A confirmation or cancellation takes its account from its original: with no original there is
        // no account to judge, and ORIGINAL_AUTHORIZATION says why.
        RuleName::Account
            if !authorizing && request.account.is_none() && matches!(facts.original, OriginalFact::NotFound) =>
        {
            return None;
        }
        RuleName::Account => match &facts.account {
            AccountFact::Found(a) => (Reason::AccountFound, json!({ "account_id": a.id.get() })),
            AccountFact::OfOriginal { id, .. } => (Reason::AccountFound, json!({ "account_id": id.get() })),
            AccountFact::NotFound => (Reason::AccountNotFound, json!({})),
            AccountFact::Contradicted(reason) => (*reason, json!({})),
            AccountFact::Unreadable => (Reason::AccountError, json!({})),
        },
        RuleName::AccountStatus if !authorizing => (Reason::AccountStatusNotApplicable, json!({})),
        RuleName::AccountStatus => match account?.status {
            AccountStatus::Normal => (Reason::AccountNormal, json!({})),
            AccountStatus::Blocked => (Reason::AccountBlocked, json!({})),
            AccountStatus::Cancelled => (Reason::AccountCancelled, json!({})),
        },
        RuleName::CardStatus if !authorizing => (Reason::CardStatusNoCard, json!({})),
        RuleName::Mode if !authorizing => (Reason::ModeNoCard, json!({})),
        RuleName::CardStatus => match &facts.card {
            CardFact::None => (Reason::CardStatusNoCard, json!({})),
            CardFact::NotFound => (Reason::CardNotFound, json!({})),
            CardFact::Found(card) => {
                let data = json!({ "card_id": card.id, "masked_pan": card.masked_pan });
                match card.status {
                    CardStatus::Blocked => (Reason::CardBlocked, data),
                    CardStatus::Cancelled => (Reason::CardCancelled, data),
                    CardStatus::Normal if card.expiry.expired_at(facts.now) => {
                        (Reason::CardExpired, json!({ "card_id": card.id, "expiry": card.expiry.to_string() }))
                    }
                    CardStatus::Normal => (Reason::CardNormal, data),
                }
            }
        },
        RuleName::Mode => match (&facts.card, request.mode) {
            (CardFact::Found(_), None) => (Reason::NoMode, json!({})),
            (CardFact::Found(card), Some(mode)) => {
                let allowed = matches!(
                    (card.mode, mode),
                    (CardMode::Combo, _)
                        | (CardMode::Credit, RequestMode::Credit)
                        | (CardMode::Debit, RequestMode::Debit)
                );
                let data = json!({ "card_mode": card.mode.as_str(), "requested_mode": mode.as_str() });
                (if allowed { Reason::ModeAllowed } else { Reason::ModeNotAllowed }, data)
            }
            (CardFact::None | CardFact::NotFound, _) => (Reason::ModeNoCard, json!({})),
        },
        RuleName::Currency => {
            let expected = match &facts.original {
                OriginalFact::Found(original) => original.currency,
                _ => account?.currency,
            };
            let data = json!({ "requested": request.currency.alpha(), "expected": expected.alpha() });
            (if expected == request.currency { Reason::CurrencyMatch } else { Reason::CurrencyMismatch }, data)
        }
        RuleName::Installments if !authorizing => (Reason::InstallmentsNotApplicable, json!({})),
        RuleName::Installments => {
            let card_mode = match &facts.card {
                CardFact::Found(card) => Some(card.mode),
                _ => None,
            };
            let debit = request.mode == Some(RequestMode::Debit)
                || (request.mode.is_none() && card_mode == Some(CardMode::Debit));
            let data = json!({ "number_of_installments": request.installments });
            (
                if request.installments > 1 && debit {
                    Reason::InstallmentsNotAllowed
                } else {
                    Reason::InstallmentsAllowed
                },
                data,
            )
        }
        RuleName::OriginalAuthorization => match &facts.original {
            OriginalFact::NotApplicable => (Reason::OriginalNotApplicable, json!({})),
            OriginalFact::NotFound => (Reason::OriginalNotFound, json!({})),
            OriginalFact::ForcedConfirmation => {
                let mut data = json!({ "original_found": false });
                match &request.original {
                    Some(OriginalRef::Id(id)) => data["original_authorization_id"] = json!(id),
                    Some(OriginalRef::Tracking(t)) => data["original_tracking_id"] = json!(t.as_str()),
                    None => {}
                }
                (Reason::ForcedConfirmation, data)
            }
            OriginalFact::Found(original) => {
                let data = json!({ "original_authorization_id": original.id.0, "original_mti": original.mti.as_str() });
                let named_other = matches!((&request.account, &facts.account), (Some(_), AccountFact::Found(a)) if Some(a.id) != original.account_id);
                let approved = original.status == DecisionStatus::Approved;
                let right_state = approved
                    && match request.mti {
                        Mti::Confirmation => original.mti.authorizes() && original.held > 0,
                        // A forced confirmation is the only record of what it posted: cancellable as a 0200.
                        Mti::Cancellation | Mti::ReversalAdvice => {
                            (original.mti.authorizes() || original.forced_confirmation()) && original.remaining() > 0
                        }
                        // A 0420 is final: the network's reversal needs no confirmation.
                        Mti::CancellationConfirmation => {
                            original.mti == Mti::Cancellation && !original.cancellation_confirmed
                        }
                        Mti::Authorization | Mti::AuthorizationAdvice | Mti::Financial => false,
                    };
                let available = match request.mti {
                    Mti::Confirmation => original.held,
                    _ => original.remaining(),
                };
                // Its hold expired: what it held is back on the account, and neither a confirmation
                // nor a cancellation can act on it (a 0420 is acknowledged and releases nothing).
                let expired = original.expired_at.filter(|_| {
                    original.mti.authorizes()
                        && matches!(request.mti, Mti::Confirmation | Mti::Cancellation | Mti::ReversalAdvice)
                });
                if named_other {
                    (Reason::OriginalOtherAccount, data)
                } else if let Some(at) = expired {
                    let mut data = data;
                    data["expired_at"] = json!(crate::clock::rfc3339(at));
                    (Reason::OriginalExpired, data)
                } else if !right_state {
                    (Reason::OriginalWrongState, data)
                } else if request.mti != Mti::CancellationConfirmation
                    && operation_amount(request, original) > available
                {
                    (
                        Reason::AmountAboveRemaining,
                        json!({ "original_authorization_id": original.id.0, "remaining": money(available) }),
                    )
                } else {
                    (Reason::OriginalFound, data)
                }
            }
        },
        // A forced confirmation spends: the amount is judged against the account as a 0200's is.
        RuleName::Ledger if !authorizing && !forced_confirmation => (Reason::LedgerNotApplicable, json!({})),
        RuleName::Ledger => {
            let account = account?;
            let requested = request.amount.unwrap_or(0);
            let data = json!({ "available": money(account.available), "requested": money(requested) });
            (if account.available >= requested { Reason::SufficientFunds } else { Reason::InsufficientFunds }, data)
        }
    })
}

/// Runs every rule in order and decides.
pub fn evaluate(facts: &Facts<'_>, overrides: &Overrides) -> Verdict {
    let account = match &facts.account {
        AccountFact::Found(a) => Some(a),
        _ => None,
    };
    let advice = facts.request.mti.is_advice();
    let mut original_reason = None;
    let mut verdict = Verdict {
        results: Vec::with_capacity(RuleName::ALL.len()),
        status: DecisionStatus::Approved,
        response_code: "00".to_owned(),
        denial_code: None,
        balance_enforced: false,
        status_enforced: false,
        amount: match &facts.original {
            OriginalFact::Found(original) => operation_amount(facts.request, original),
            _ => facts.request.amount.unwrap_or(0),
        },
    };
    for &rule in RuleName::ALL {
        let o = overrides.get(rule);
        if o.is_some_and(|o| o.disable) {
            verdict.results.push(ValidationResult {
                name: rule.as_str().into(),
                status: RuleStatus::Skipped.as_str().into(),
                reason: DISABLED.into(),
                description: "Disabled by the request's validation_rules.".into(),
                additional_data: json!({}),
            });
            continue;
        }
        let Some((reason, mut data)) = judge(rule, facts, account) else {
            verdict.results.push(ValidationResult {
                name: rule.as_str().into(),
                status: RuleStatus::Skipped.as_str().into(),
                reason: NOT_EVALUATED.into(),
                description: "Nothing to check: what it checks (the account, or the original's) was not found.".into(),
                additional_data: json!({}),
            });
            continue;
        };
        debug_assert_eq!(reason.rule(), rule, "{reason} is not a reason of {rule}");
        if rule == RuleName::OriginalAuthorization {
            original_reason = Some(reason);
        }
        let reason = reason.row();
        // The network already decided these: a forced confirmation's LEDGER that finds it beyond the
        // available amount, and an advice's rejections but those that make posting impossible, record
        // what they found (`forced`, and `overdraft`) and do not deny.
        let posted_anyway = reason.status == RuleStatus::Rejected
            && ((rule == RuleName::Ledger
                && reason.reason == Reason::InsufficientFunds
                && matches!(facts.original, OriginalFact::ForcedConfirmation))
                || (advice && !denies_advices(rule)));
        let forced = o.is_some_and(|o| o.force) || posted_anyway;
        if reason.status == RuleStatus::Rejected {
            if forced {
                if let Value::Object(map) = &mut data {
                    map.insert("forced".into(), Value::Bool(true));
                    if rule == RuleName::Ledger
                        && let Some(account) = account
                    {
                        // What of the amount is beyond what was available: all of it on an account
                        // already overdrawn (this decision's share, not the depth the account reaches).
                        let overdraft = facts.request.amount.unwrap_or(0).saturating_sub(account.available.max(0));
                        map.insert("overdraft".into(), Value::String(format_minor_units(overdraft, account.currency)));
                    }
                    // A 0420 that releases less than the network reversed (or nothing) keeps what it said.
                    if rule == RuleName::OriginalAuthorization
                        && let Some(requested) = facts.request.amount
                    {
                        let requested = format_minor_units(requested, facts.request.currency);
                        map.insert("requested".into(), Value::String(requested));
                    }
                }
            } else if verdict.status == DecisionStatus::Approved {
                let (response, denial) = o
                    .and_then(|o| o.denial_reasons.get(&reason.reason))
                    .cloned()
                    .unwrap_or_else(|| (reason.response_code.to_owned(), reason.denial_code.to_owned()));
                verdict.status = DecisionStatus::Denied;
                verdict.response_code = response;
                verdict.denial_code = Some(denial);
            }
        }
        match rule {
            RuleName::Ledger => verdict.balance_enforced = reason.status != RuleStatus::Skipped && !forced,
            RuleName::AccountStatus => verdict.status_enforced = reason.status != RuleStatus::Skipped && !forced,
            _ => {}
        }
        verdict.results.push(ValidationResult {
            name: rule.as_str().into(),
            status: reason.status.as_str().into(),
            reason: reason.name.into(),
            description: reason.description.into(),
            additional_data: data,
        });
    }
    // A 0420 releases what its original still has, up to what the network reversed: nothing when the
    // original is unknown, another account's, or has nothing left; what remains when it asks for more.
    if facts.request.mti == Mti::ReversalAdvice {
        verdict.amount = match (&facts.original, original_reason) {
            (OriginalFact::Found(_), Some(Reason::OriginalFound)) => verdict.amount,
            (OriginalFact::Found(original), Some(Reason::AmountAboveRemaining)) => original.remaining(),
            _ => 0,
        };
    }
    verdict
}

#[cfg(test)]
mod tests {
    // Test code: a failed unwrap is a failed test.
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use crate::authorizations::{AuthorizationId, Category, ClearingType, Currency, parse_authorization_request};
    use crate::tenant::TenantId;
    use crate::tracking::TrackingId;

    fn original(
        mti: Mti,
        status: DecisionStatus,
        held: i64,
        confirmed: i64,
        cancellation_confirmed: bool,
    ) -> AuthorizationRecord {
        AuthorizationRecord {
            id: AuthorizationId(7),
            tenant: TenantId::parse("t").unwrap(),
            tracking_id: TrackingId::parse("o").unwrap(),
            mti,
            status,
            category: Category::Authorization,
            account_id: Some(AccountId::new(1).unwrap()),
            program_id: Some(3),
            card_id: None,
            currency: Currency::parse("BRL").unwrap(),
            amount: held + confirmed,
            held,
            confirmed,
            cancellation_confirmed,
            original_authorization_id: None,
            clearing_type: ClearingType::Offline,
            response_code: "00".into(),
            denial_code: None,
            authorization_code: None,
            validation_results: vec![],
            overrides_applied: vec![],
            processing_code: None,
            installments: 1,
            created_at: OffsetDateTime::UNIX_EPOCH,
            version: 1,
            metadata: None,
            calculated_amounts: std::collections::BTreeMap::new(),
            settlements: vec![],
            settlements_unlisted: 0,
            hold_expires_at: None,
            expired_at: None,
            expired: 0,
        }
    }

    fn settle(mti: &str, original: &AuthorizationRecord) -> Verdict {
        let body = format!(r#"{{"mti":"{mti}","currency":"BRL","network":"VISA","original_authorization_id":7}}"#);
        let request = parse_authorization_request(body.as_bytes()).unwrap();
        let facts = Facts {
            request: &request,
            account: AccountFact::OfOriginal { id: original.account_id.unwrap(), program_id: original.program_id },
            card: CardFact::None,
            original: OriginalFact::Found(Box::new(original.clone())),
            now: OffsetDateTime::UNIX_EPOCH,
        };
        evaluate(&facts, &Overrides::default())
    }

    /// A store keeps a copy of an authorization with its tracking record only while it is settleable:
    /// exactly while some confirmation or cancellation would find it in the right state.
    #[test]
    fn settleable_is_exactly_what_a_settlement_can_act_on_judged_on_the_original_s_account() {
        use DecisionStatus::{Approved, Denied};
        let mut cases = 0;
        for &mti in Mti::ALL {
            for status in [Approved, Denied] {
                for (held, confirmed) in [(0, 0), (500, 0), (0, 500), (200, 300)] {
                    for cancellation_confirmed in [false, true] {
                        let o = original(mti, status, held, confirmed, cancellation_confirmed);
                        let verdicts: Vec<Verdict> =
                            ["0202", "0400", "0402", "0420"].iter().map(|m| settle(m, &o)).collect();
                        // A 0420 is acknowledged whatever it finds: it acts on its original only if it
                        // releases something.
                        let acts = |(m, v): (&&str, &Verdict)| v.status == Approved && (*m != "0420" || v.amount > 0);
                        let approved = ["0202", "0400", "0402", "0420"].iter().zip(&verdicts).any(acts);
                        assert_eq!(o.settleable(), approved, "{o:?}");
                        for v in &verdicts {
                            let account = v.results.iter().find(|r| r.name == "ACCOUNT").unwrap();
                            assert_eq!(
                                (account.reason.as_str(), &account.additional_data),
                                ("ACCOUNT_FOUND", &json!({ "account_id": 1 }))
                            );
                            assert!(
                                !v.balance_enforced && !v.status_enforced,
                                "nothing of the account's state is relied on"
                            );
                        }
                        cases += 1;
                    }
                }
            }
        }
        assert_eq!(cases, 112);
    }

    #[test]
    fn what_remains_is_shown_in_the_original_s_currency() {
        let body = r#"{"mti":"0202","currency":"BRL","network":"VISA","original_authorization_id":7,"amount":5.01}"#;
        let request = parse_authorization_request(body.as_bytes()).unwrap();
        let o = original(Mti::Authorization, DecisionStatus::Approved, 500, 0, false);
        let facts = Facts {
            request: &request,
            account: AccountFact::OfOriginal { id: AccountId::new(1).unwrap(), program_id: Some(3) },
            card: CardFact::None,
            original: OriginalFact::Found(Box::new(o)),
            now: OffsetDateTime::UNIX_EPOCH,
        };
        let verdict = evaluate(&facts, &Overrides::default());
        let result = verdict.results.iter().find(|r| r.name == "ORIGINAL_AUTHORIZATION").unwrap();
        assert_eq!(
            (result.reason.as_str(), &result.additional_data["remaining"]),
            ("AMOUNT_ABOVE_REMAINING", &json!("5.00"))
        );
    }

    fn forced(body: &str, available: i64, currency: &str) -> Verdict {
        let request = parse_authorization_request(body.as_bytes()).unwrap();
        let account = Account {
            tenant: TenantId::parse("t").unwrap(),
            id: AccountId::new(1).unwrap(),
            program_id: 3,
            document_number: "1".into(),
            status: AccountStatus::Blocked,
            currency: Currency::parse(currency).unwrap(),
            limit: 1_000,
            available,
            held: 0,
            bank: None,
            cards: vec![],
        };
        let facts = Facts {
            request: &request,
            account: AccountFact::Found(account),
            card: CardFact::None,
            original: OriginalFact::ForcedConfirmation,
            now: OffsetDateTime::UNIX_EPOCH,
        };
        evaluate(&facts, &request.overrides)
    }

    fn reason_of<'a>(verdict: &'a Verdict, rule: &str) -> (&'a str, &'a str, &'a Value) {
        let r = verdict.results.iter().find(|r| r.name == rule).unwrap();
        (r.status.as_str(), r.reason.as_str(), &r.additional_data)
    }

    /// The network already confirmed it: a forced confirmation posts its amount whatever the account's
    /// standing, and beyond the available amount with the overdraft recorded; the commit keeps the
    /// balance non-negative only when LEDGER found it covered, so no race can overdraw unrecorded.
    #[test]
    fn a_forced_confirmation_posts_judged_by_ledger_but_never_denied_by_it() {
        let body =
            r#"{"mti":"0202","currency":"BRL","network":"VISA","account_id":1,"amount":3,"processing_code":"00"}"#;
        let covered = forced(body, 500, "BRL");
        assert_eq!((covered.status, covered.amount), (DecisionStatus::Approved, 300));
        assert_eq!(
            reason_of(&covered, "ORIGINAL_AUTHORIZATION"),
            ("APPROVED", "FORCED_CONFIRMATION", &json!({ "original_found": false }))
        );
        assert_eq!(
            reason_of(&covered, "LEDGER"),
            ("APPROVED", "SUFFICIENT_FUNDS", &json!({ "available": "5.00", "requested": "3.00" }))
        );
        assert_eq!(reason_of(&covered, "ACCOUNT_STATUS").1, "NOT_APPLICABLE", "a BLOCKED account still posts");
        assert!(covered.balance_enforced && !covered.status_enforced);

        let overdrawn = forced(body, 100, "BRL");
        assert_eq!((overdrawn.status, overdrawn.response_code.as_str()), (DecisionStatus::Approved, "00"));
        assert_eq!(
            reason_of(&overdrawn, "LEDGER"),
            (
                "REJECTED",
                "INSUFFICIENT_FUNDS",
                &json!({ "available": "1.00", "requested": "3.00", "forced": true, "overdraft": "2.00" })
            )
        );
        assert!(!overdrawn.balance_enforced, "the overdraft was judged and recorded");

        let named = r#"{"mti":"0202","currency":"BRL","network":"VISA","account_id":1,"amount":3,"processing_code":"00","original_tracking_id":"gone"}"#;
        assert_eq!(
            reason_of(&forced(named, 500, "BRL"), "ORIGINAL_AUTHORIZATION").2,
            &json!({ "original_found": false, "original_tracking_id": "gone" })
        );
        // CURRENCY still judges it (it cannot be forced): another currency never touches the ledger.
        let other = forced(body, 500, "USD");
        assert_eq!((other.status, other.denial_code.as_deref()), (DecisionStatus::Denied, Some("CMM")));
        // A LEDGER the request forces or disables is not checked at commit, as for any decision.
        let disabled = body.replace('}', r#","validation_rules":{"LEDGER":{"disable":true}}}"#);
        assert!(!forced(&disabled, 500, "BRL").balance_enforced);
    }

    fn advised(body: &str, status: AccountStatus, available: i64, currency: &str, original: OriginalFact) -> Verdict {
        let request = parse_authorization_request(body.as_bytes()).unwrap();
        let account = Account {
            tenant: TenantId::parse("t").unwrap(),
            id: AccountId::new(1).unwrap(),
            program_id: 3,
            document_number: "1".into(),
            status,
            currency: Currency::parse(currency).unwrap(),
            limit: 1_000,
            available,
            held: 0,
            bank: None,
            cards: vec![],
        };
        let account = match original {
            OriginalFact::Found(_) => AccountFact::OfOriginal { id: account.id, program_id: Some(3) },
            _ => AccountFact::Found(account),
        };
        let facts =
            Facts { request: &request, account, card: CardFact::None, original, now: OffsetDateTime::UNIX_EPOCH };
        evaluate(&facts, &request.overrides)
    }

    /// An advice reports what the network decided in stand-in: every rule runs and says what it found,
    /// and only ACCOUNT and CURRENCY, which make posting impossible, deny it. What passed is held at
    /// commit (so the record stays true under races); what did not is recorded as forced.
    #[test]
    fn an_advice_posts_whatever_the_rules_find_unless_it_cannot_be_posted() {
        use AccountStatus::{Blocked, Normal};
        let body = r#"{"mti":"0120","currency":"BRL","network":"VISA","account_id":1,"amount":3,"entry_mode":"01","processing_code":"00"}"#;
        let covered = advised(body, Normal, 500, "BRL", OriginalFact::NotApplicable);
        assert_eq!(
            (covered.status, covered.response_code.as_str(), covered.amount),
            (DecisionStatus::Approved, "00", 300)
        );
        assert_eq!(reason_of(&covered, "LEDGER").1, "SUFFICIENT_FUNDS");
        assert_eq!(reason_of(&covered, "ORIGINAL_AUTHORIZATION").1, "NOT_APPLICABLE");
        assert!(covered.balance_enforced && covered.status_enforced, "what passed must still hold at commit");

        let overdrawn = advised(body, Blocked, 100, "BRL", OriginalFact::NotApplicable);
        assert_eq!((overdrawn.status, overdrawn.response_code.as_str()), (DecisionStatus::Approved, "00"));
        assert_eq!(overdrawn.denial_code, None);
        assert_eq!(
            reason_of(&overdrawn, "ACCOUNT_STATUS"),
            ("REJECTED", "ACCOUNT_BLOCKED", &json!({ "forced": true }))
        );
        assert_eq!(
            reason_of(&overdrawn, "LEDGER"),
            (
                "REJECTED",
                "INSUFFICIENT_FUNDS",
                &json!({ "available": "1.00", "requested": "3.00", "forced": true, "overdraft": "2.00" })
            )
        );
        assert!(!overdrawn.balance_enforced && !overdrawn.status_enforced, "judged and recorded: not checked again");
        let deeper = advised(body, Normal, -200, "BRL", OriginalFact::NotApplicable);
        assert_eq!(
            reason_of(&deeper, "LEDGER").2,
            &json!({ "available": "-2.00", "requested": "3.00", "forced": true, "overdraft": "3.00" }),
            "on an account already overdrawn, all of it is beyond what was available"
        );

        let other = advised(body, Normal, 500, "USD", OriginalFact::NotApplicable);
        assert_eq!(
            (other.status, other.response_code.as_str(), other.denial_code.as_deref()),
            (DecisionStatus::Denied, "12", Some("CMM"))
        );
        assert_eq!(reason_of(&other, "CURRENCY").2, &json!({ "requested": "BRL", "expected": "USD" }), "not forced");
        let request = parse_authorization_request(body.as_bytes()).unwrap();
        let nowhere = Facts {
            request: &request,
            account: AccountFact::NotFound,
            card: CardFact::None,
            original: OriginalFact::NotApplicable,
            now: OffsetDateTime::UNIX_EPOCH,
        };
        let nowhere = evaluate(&nowhere, &Overrides::default());
        assert_eq!((nowhere.status, nowhere.denial_code.as_deref()), (DecisionStatus::Denied, Some("IAD")));
    }

    /// A 0420 releases what its original still has, up to what the network reversed; where it finds
    /// nothing to release it is acknowledged all the same, releasing 0.00, saying what it was asked.
    #[test]
    fn a_reversal_advice_releases_what_remains_and_nothing_without_an_original() {
        use AccountStatus::Normal;
        let reverse = |amount: &str| {
            format!(r#"{{"mti":"0420","currency":"BRL","network":"VISA","original_authorization_id":7{amount}}}"#)
        };
        let held = || {
            OriginalFact::Found(Box::new(original(Mti::AuthorizationAdvice, DecisionStatus::Approved, 500, 0, false)))
        };
        let whole = advised(&reverse(""), Normal, 0, "BRL", held());
        assert_eq!((whole.status, whole.amount), (DecisionStatus::Approved, 500));
        assert_eq!(reason_of(&whole, "ORIGINAL_AUTHORIZATION").1, "ORIGINAL_FOUND");
        assert_eq!(advised(&reverse(r#","amount":2"#), Normal, 0, "BRL", held()).amount, 200);

        let above = advised(&reverse(r#","amount":9"#), Normal, 0, "BRL", held());
        assert_eq!((above.status, above.response_code.as_str(), above.amount), (DecisionStatus::Approved, "00", 500));
        assert_eq!(
            reason_of(&above, "ORIGINAL_AUTHORIZATION"),
            (
                "REJECTED",
                "AMOUNT_ABOVE_REMAINING",
                &json!({ "original_authorization_id": 7, "remaining": "5.00", "forced": true, "requested": "9.00" })
            )
        );
        let unknown = advised(&reverse(r#","amount":9"#), Normal, 0, "BRL", OriginalFact::NotFound);
        assert_eq!((unknown.status, unknown.amount), (DecisionStatus::Approved, 0));
        assert_eq!(
            reason_of(&unknown, "ORIGINAL_AUTHORIZATION"),
            ("REJECTED", "ORIGINAL_NOT_FOUND", &json!({ "forced": true, "requested": "9.00" }))
        );
        let settled =
            OriginalFact::Found(Box::new(original(Mti::Authorization, DecisionStatus::Approved, 0, 0, false)));
        let nothing_left = advised(&reverse(""), Normal, 0, "BRL", settled);
        assert_eq!((nothing_left.status, nothing_left.amount), (DecisionStatus::Approved, 0));
        assert_eq!(reason_of(&nothing_left, "ORIGINAL_AUTHORIZATION").1, "ORIGINAL_WRONG_STATE");
        let usd = advised(&reverse("").replace("BRL", "USD"), Normal, 0, "BRL", held());
        assert_eq!((usd.status, usd.denial_code.as_deref()), (DecisionStatus::Denied, Some("CMM")));
    }
}
