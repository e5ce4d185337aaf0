//! The validation rules: names, reasons and codes in one table, the overrides a caller may apply,
//! and the result each rule records. `docs/authorization-rules.md` documents this table.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use super::account::wire_enum;

wire_enum!(
    /// A validation rule, in evaluation order.
    RuleName {
        /** The account exists and is the one the request names. */ Account = "ACCOUNT",
        /** The account may transact. */ AccountStatus = "ACCOUNT_STATUS",
        /** The card may transact. */ CardStatus = "CARD_STATUS",
        /** The card supports the requested mode. */ Mode = "MODE",
        /** The request's currency is the account's. */ Currency = "CURRENCY",
        /** Installments are allowed for the request. */ Installments = "INSTALLMENTS",
        /** The original of a confirmation or cancellation exists and can take it. */ OriginalAuthorization = "ORIGINAL_AUTHORIZATION",
        /** The account can cover the amount. */ Balance = "BALANCE",
    }
);

wire_enum!(
    /// What a rule concluded.
    RuleStatus { /** Passed. */ Approved = "APPROVED", /** Failed. */ Rejected = "REJECTED", /** Not evaluated. */ Skipped = "SKIPPED" }
);

/// One reason a rule can give, with its codes (rejections only) and its description.
#[derive(Debug, Clone, Copy)]
pub struct Reason {
    /// The rule.
    pub rule: RuleName,
    /// The reason's name.
    pub name: &'static str,
    /// Its status.
    pub status: RuleStatus,
    /// ISO 8583 response code answered when this rejection denies.
    pub response_code: &'static str,
    /// Denial code answered when this rejection denies.
    pub denial_code: &'static str,
    /// What it means.
    pub description: &'static str,
}

const fn reason(
    rule: RuleName,
    name: &'static str,
    status: RuleStatus,
    codes: (&'static str, &'static str),
    description: &'static str,
) -> Reason {
    Reason { rule, name, status, response_code: codes.0, denial_code: codes.1, description }
}

use RuleName as R;
use RuleStatus::{Approved as A, Rejected as X, Skipped as S};

/// Every reason of every rule.
pub const REASONS: &[Reason] = &[
    reason(R::Account, "ACCOUNT_FOUND", A, ("00", ""), "The account exists for this tenant."),
    reason(R::Account, "ACCOUNT_NOT_FOUND", X, ("62", "IAD"), "No account of this tenant matches the request."),
    reason(
        R::Account,
        "DOCUMENT_MISMATCH",
        X,
        ("62", "IDN"),
        "document_number does not belong to the account the request names.",
    ),
    reason(
        R::Account,
        "AMBIGUOUS_DOCUMENT",
        X,
        ("62", "DND"),
        "document_number has accounts in several programs and no program_id was given.",
    ),
    reason(R::Account, "ACCOUNT_ERROR", X, ("96", "SED"), "The account could not be read."),
    reason(R::AccountStatus, "ACCOUNT_NORMAL", A, ("00", ""), "The account is NORMAL."),
    reason(R::AccountStatus, "ACCOUNT_BLOCKED", X, ("57", "ABL"), "The account is BLOCKED."),
    reason(R::AccountStatus, "ACCOUNT_CANCELLED", X, ("62", "ACN"), "The account is CANCELLED."),
    reason(
        R::AccountStatus,
        "NOT_APPLICABLE",
        S,
        ("", ""),
        "Confirmations and cancellations release or settle what was already approved.",
    ),
    reason(R::CardStatus, "CARD_NORMAL", A, ("00", ""), "The card is NORMAL and within its expiry month."),
    reason(R::CardStatus, "NO_CARD", S, ("", ""), "The request names no card, or is a confirmation or cancellation."),
    reason(R::CardStatus, "CARD_NOT_FOUND", X, ("14", "CNF"), "The card named is not a card of the account."),
    reason(R::CardStatus, "CARD_BLOCKED", X, ("57", "CBL"), "The card is BLOCKED."),
    reason(R::CardStatus, "CARD_CANCELLED", X, ("14", "CCN"), "The card is CANCELLED."),
    reason(R::CardStatus, "CARD_EXPIRED", X, ("54", "CEX"), "The card's expiry month has passed."),
    reason(R::Mode, "MODE_ALLOWED", A, ("00", ""), "The card supports the requested mode."),
    reason(R::Mode, "NO_CARD", S, ("", ""), "The request names no card, or is a confirmation or cancellation."),
    reason(R::Mode, "NO_MODE", S, ("", ""), "The request asks for no mode."),
    reason(
        R::Mode,
        "MODE_NOT_ALLOWED",
        X,
        ("57", "MNA"),
        "A CREDIT card asked to debit, or a DEBIT card asked for credit.",
    ),
    reason(R::Currency, "CURRENCY_MATCH", A, ("00", ""), "The request's currency is the account's."),
    reason(
        R::Currency,
        "CURRENCY_MISMATCH",
        X,
        ("12", "CMM"),
        "The request's currency is not the account's, or not the original's (no conversion is offered).",
    ),
    reason(R::Installments, "INSTALLMENTS_ALLOWED", A, ("00", ""), "One installment, or several in CREDIT mode."),
    reason(R::Installments, "INSTALLMENTS_NOT_ALLOWED", X, ("12", "INA"), "Several installments in DEBIT mode."),
    reason(
        R::Installments,
        "NOT_APPLICABLE",
        S,
        ("", ""),
        "Confirmations and cancellations take the original's installments.",
    ),
    reason(
        R::OriginalAuthorization,
        "ORIGINAL_FOUND",
        A,
        ("00", ""),
        "The original exists and can take this operation.",
    ),
    reason(R::OriginalAuthorization, "NOT_APPLICABLE", S, ("", ""), "Authorizations (0100, 0200) have no original."),
    reason(
        R::OriginalAuthorization,
        "ORIGINAL_NOT_FOUND",
        X,
        ("12", "ONF"),
        "No authorization of this tenant has that id or tracking_id.",
    ),
    reason(
        R::OriginalAuthorization,
        "ORIGINAL_WRONG_STATE",
        X,
        ("12", "OWS"),
        "The original was denied, already confirmed, already fully cancelled, or is of the wrong kind.",
    ),
    reason(
        R::OriginalAuthorization,
        "AMOUNT_ABOVE_REMAINING",
        X,
        ("12", "OAR"),
        "The amount is more than the original still holds.",
    ),
    reason(
        R::OriginalAuthorization,
        "ORIGINAL_OTHER_ACCOUNT",
        X,
        ("12", "OOA"),
        "The request names an account other than the original's.",
    ),
    reason(R::Balance, "SUFFICIENT_FUNDS", A, ("00", ""), "The available amount covers the request."),
    reason(R::Balance, "INSUFFICIENT_FUNDS", X, ("51", "NSF"), "The available amount does not cover the request."),
    reason(
        R::Balance,
        "NOT_APPLICABLE",
        S,
        ("", ""),
        "Confirmations and cancellations never spend more than was approved.",
    ),
];

/// The reason a rule gives when a request disables it.
pub const DISABLED: &str = "DISABLED_BY_REQUEST";
/// The reason a rule gives when what it checks (the account, or the original's) was not found.
pub const NOT_EVALUATED: &str = "NOT_EVALUATED";

/// The response codes Cofre answers, with their meaning.
pub const RESPONSE_CODES: &[(&str, &str)] = &[
    ("00", "Approved"),
    ("05", "Do not honor"),
    ("12", "Invalid transaction"),
    ("14", "Invalid card"),
    ("30", "Invalid format"),
    ("51", "Insufficient funds"),
    ("54", "Expired card"),
    ("55", "Invalid PIN"),
    ("57", "Action not permitted"),
    ("59", "Suspected fraud"),
    ("62", "Invalid account"),
    ("63", "Security violation"),
    ("75", "PIN tries exceeded"),
    ("92", "External system error"),
    ("96", "Internal system error"),
];

/// The reason named `name` of `rule`.
pub fn reason_of(rule: RuleName, name: &str) -> Option<&'static Reason> {
    REASONS.iter().find(|r| r.rule == rule && r.name == name)
}

/// What a request asks of one rule in `validation_rules`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleOverride {
    /// Skip the rule.
    pub disable: bool,
    /// Run and record the rule, but never let it deny.
    pub force: bool,
    /// Replacement `(response_code, denial_code)` per rejection reason.
    pub denial_reasons: BTreeMap<&'static str, (String, String)>,
}

/// The overrides of one request, by rule.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides(pub BTreeMap<&'static str, RuleOverride>);

impl Overrides {
    /// The override of `rule`, if any.
    pub fn get(&self, rule: RuleName) -> Option<&RuleOverride> {
        self.0.get(rule.as_str())
    }

    /// Whether the request overrides anything (and so needs the override scope).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The overrides applied, as recorded with the decision: `BALANCE:force`,
    /// `ACCOUNT_STATUS:disable`, `BALANCE:denial_reason:INSUFFICIENT_FUNDS`.
    pub fn applied(&self) -> Vec<String> {
        let mut applied = Vec::new();
        for (rule, o) in &self.0 {
            if o.disable {
                applied.push(format!("{rule}:disable"));
            }
            if o.force {
                applied.push(format!("{rule}:force"));
            }
            applied.extend(o.denial_reasons.keys().map(|r| format!("{rule}:denial_reason:{r}")));
        }
        applied
    }
}

/// One rule's outcome, as the response and the record carry it.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct ValidationResult {
    /// The rule.
    pub name: String,
    /// APPROVED, REJECTED or SKIPPED.
    pub status: String,
    /// The reason.
    pub reason: String,
    /// What it means.
    pub description: String,
    /// Rule-specific detail (`forced`, amounts…).
    pub additional_data: Value,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rules document is the table's twin: every row of `REASONS` and of `RESPONSE_CODES` appears in
    /// it exactly as the code has it.
    #[test]
    fn the_documentation_lists_every_rule_reason_and_code() {
        let doc = include_str!("../../../../docs/authorization-rules.md");
        for r in REASONS {
            let dash = |s: &str| if s.is_empty() { "–".to_owned() } else { s.to_owned() };
            let row = format!(
                "| {} | {} | {} | {} | {} | {} |",
                r.rule,
                r.name,
                r.status,
                dash(r.response_code),
                dash(r.denial_code),
                r.description
            );
            assert!(doc.contains(&row), "docs/authorization-rules.md lacks: {row}");
        }
        for (code, meaning) in RESPONSE_CODES {
            assert!(doc.contains(&format!("| {code} | {meaning} |")), "missing response code {code}");
        }
        for rule in RuleName::ALL {
            assert!(doc.contains(rule.as_str()), "missing rule {rule}");
        }
    }

    #[test]
    fn every_rejection_has_codes_and_every_other_reason_has_none_to_deny_with() {
        for r in REASONS {
            match r.status {
                RuleStatus::Rejected => {
                    assert!(
                        RESPONSE_CODES.iter().any(|(c, _)| *c == r.response_code) && r.response_code != "00",
                        "{}",
                        r.name
                    );
                    assert!(
                        r.denial_code.len() == 3 && r.denial_code.bytes().all(|b| b.is_ascii_uppercase()),
                        "{}",
                        r.name
                    );
                }
                _ => assert!(r.denial_code.is_empty(), "{}", r.name),
            }
        }
    }
}
