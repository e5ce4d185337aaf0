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
        /** The account can cover the amount. */ Ledger = "LEDGER",
    }
);

wire_enum!(
    /// What a rule concluded.
    RuleStatus { /** Passed. */ Approved = "APPROVED", /** Failed. */ Rejected = "REJECTED", /** Not evaluated. */ Skipped = "SKIPPED" }
);

/// One row of [`REASONS`]: a reason, the rule giving it, its wire name and status, its codes
/// (rejections only) and its description.
#[derive(Debug, Clone, Copy)]
pub struct ReasonRow {
    /// The reason.
    pub reason: Reason,
    /// The rule.
    pub rule: RuleName,
    /// The reason's wire name.
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

/// Declares [`Reason`] and [`REASONS`] from one list, so the enum and the table cannot disagree.
macro_rules! reasons {
    ($($variant:ident: $rule:ident $name:literal $status:ident ($response:literal, $denial:literal) $description:literal;)+) => {
        /// A reason a rule gives: one variant per rule and reason, so a reason can only be given by its
        /// rule, and a misspelt one does not compile. Its wire name is [`Reason::as_str`]; rules that
        /// share a name (`NOT_APPLICABLE`, `NO_CARD`) have a variant each.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Reason {
            $(#[doc = $description] $variant),+
        }

        /// Every reason of every rule, in [`Reason`]'s order. `docs/authorization-rules.md` lists the same
        /// rows (a test holds them equal).
        pub const REASONS: &[ReasonRow] = &[$(ReasonRow {
            reason: Reason::$variant,
            rule: RuleName::$rule,
            name: $name,
            status: RuleStatus::$status,
            response_code: $response,
            denial_code: $denial,
            description: $description,
        }),+];
    };
}

reasons! {
    AccountFound: Account "ACCOUNT_FOUND" Approved ("00", "") "The account exists for this tenant.";
    AccountNotFound: Account "ACCOUNT_NOT_FOUND" Rejected ("62", "IAD") "No account of this tenant matches the request.";
    DocumentMismatch: Account "DOCUMENT_MISMATCH" Rejected ("62", "IDN")
        "document_number does not belong to the account the request names.";
    AmbiguousDocument: Account "AMBIGUOUS_DOCUMENT" Rejected ("62", "DND")
        "document_number has accounts in several programs and no program_id was given.";
    AccountError: Account "ACCOUNT_ERROR" Rejected ("96", "SED") "The account could not be read.";
    AccountNormal: AccountStatus "ACCOUNT_NORMAL" Approved ("00", "") "The account is NORMAL.";
    AccountBlocked: AccountStatus "ACCOUNT_BLOCKED" Rejected ("57", "ABL") "The account is BLOCKED.";
    AccountCancelled: AccountStatus "ACCOUNT_CANCELLED" Rejected ("62", "ACN") "The account is CANCELLED.";
    AccountStatusNotApplicable: AccountStatus "NOT_APPLICABLE" Skipped ("", "")
        "Confirmations and cancellations release or settle what was already approved.";
    CardNormal: CardStatus "CARD_NORMAL" Approved ("00", "") "The card is NORMAL and within its expiry month.";
    CardStatusNoCard: CardStatus "NO_CARD" Skipped ("", "")
        "The request names no card, or is a confirmation or cancellation.";
    CardNotFound: CardStatus "CARD_NOT_FOUND" Rejected ("14", "CNF") "The card named is not a card of the account.";
    CardBlocked: CardStatus "CARD_BLOCKED" Rejected ("57", "CBL") "The card is BLOCKED.";
    CardCancelled: CardStatus "CARD_CANCELLED" Rejected ("14", "CCN") "The card is CANCELLED.";
    CardExpired: CardStatus "CARD_EXPIRED" Rejected ("54", "CEX") "The card's expiry month has passed.";
    ModeAllowed: Mode "MODE_ALLOWED" Approved ("00", "") "The card supports the requested mode.";
    ModeNoCard: Mode "NO_CARD" Skipped ("", "") "The request names no card, or is a confirmation or cancellation.";
    NoMode: Mode "NO_MODE" Skipped ("", "") "The request asks for no mode.";
    ModeNotAllowed: Mode "MODE_NOT_ALLOWED" Rejected ("57", "MNA")
        "A CREDIT card asked to debit, or a DEBIT card asked for credit.";
    CurrencyMatch: Currency "CURRENCY_MATCH" Approved ("00", "") "The request's currency is the account's.";
    CurrencyMismatch: Currency "CURRENCY_MISMATCH" Rejected ("12", "CMM")
        "The request's currency is not the account's, or not the original's (no conversion is offered).";
    InstallmentsAllowed: Installments "INSTALLMENTS_ALLOWED" Approved ("00", "")
        "One installment, or several in CREDIT mode.";
    InstallmentsNotAllowed: Installments "INSTALLMENTS_NOT_ALLOWED" Rejected ("12", "INA")
        "Several installments in DEBIT mode.";
    InstallmentsNotApplicable: Installments "NOT_APPLICABLE" Skipped ("", "")
        "Confirmations and cancellations take the original's installments.";
    OriginalFound: OriginalAuthorization "ORIGINAL_FOUND" Approved ("00", "")
        "The original exists and can take this operation.";
    ForcedConfirmation: OriginalAuthorization "FORCED_CONFIRMATION" Approved ("00", "")
        "A 0202 whose original is not named or not found, on an account that forces original authorization: it posts its amount.";
    OriginalNotApplicable: OriginalAuthorization "NOT_APPLICABLE" Skipped ("", "")
        "Authorizations (0100, 0120, 0200) have no original.";
    OriginalNotFound: OriginalAuthorization "ORIGINAL_NOT_FOUND" Rejected ("12", "ONF")
        "No authorization of this tenant has that id or tracking_id.";
    OriginalWrongState: OriginalAuthorization "ORIGINAL_WRONG_STATE" Rejected ("12", "OWS")
        "The original was denied, already confirmed, already fully cancelled, or is of the wrong kind.";
    OriginalExpired: OriginalAuthorization "ORIGINAL_EXPIRED" Rejected ("12", "OEX")
        "The original's hold expired unconfirmed and was released (see docs/hold-expiry.md).";
    AmountAboveRemaining: OriginalAuthorization "AMOUNT_ABOVE_REMAINING" Rejected ("12", "OAR")
        "The amount is more than the original still holds.";
    OriginalOtherAccount: OriginalAuthorization "ORIGINAL_OTHER_ACCOUNT" Rejected ("12", "OOA")
        "The request names an account other than the original's.";
    SufficientFunds: Ledger "SUFFICIENT_FUNDS" Approved ("00", "") "The available amount covers the request.";
    InsufficientFunds: Ledger "INSUFFICIENT_FUNDS" Rejected ("51", "NSF")
        "The available amount does not cover the request.";
    LedgerNotApplicable: Ledger "NOT_APPLICABLE" Skipped ("", "")
        "Confirmations and cancellations never spend more than was approved.";
}

impl Reason {
    /// Its row of [`REASONS`].
    pub fn row(self) -> &'static ReasonRow {
        // `reasons!` lists the variants and the rows in the same order.
        &REASONS[self as usize]
    }

    /// The rule that gives it.
    pub fn rule(self) -> RuleName {
        self.row().rule
    }

    /// What the rule concluded.
    pub fn status(self) -> RuleStatus {
        self.row().status
    }

    /// The wire name (`INSUFFICIENT_FUNDS`).
    pub fn as_str(self) -> &'static str {
        self.row().name
    }

    /// The reason `rule` gives under the wire name `name`, if it has one.
    pub fn of(rule: RuleName, name: &str) -> Option<Self> {
        REASONS.iter().find(|r| r.rule == rule && r.name == name).map(|r| r.reason)
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How `overrides_applied` names a forced confirmation: not an override a request can send in
/// `validation_rules` (ORIGINAL_AUTHORIZATION cannot be forced), but one it applies, gated the same way.
pub const FORCED_CONFIRMATION_APPLIED: &str = "ORIGINAL_AUTHORIZATION:forced_confirmation";

/// The reason a rule gives when a request disables it.
pub const DISABLED: &str = "DISABLED_BY_REQUEST";
/// The reason a rule gives when what it checks (the account, or the original's) was not found.
pub const NOT_EVALUATED: &str = "NOT_EVALUATED";

/// The response codes Cofre answers, with their meaning.
pub const RESPONSE_CODES: &[(&str, &str)] = &[
    ("00", "Approved (to an advice, 0120/0420: acknowledged)"),
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

/// What a request asks of one rule in `validation_rules`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleOverride {
    /// Skip the rule.
    pub disable: bool,
    /// Run and record the rule, but never let it deny.
    pub force: bool,
    /// Replacement `(response_code, denial_code)` per rejection reason of the rule.
    pub denial_reasons: BTreeMap<Reason, (String, String)>,
}

/// The overrides of one request, by rule.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides(pub BTreeMap<RuleName, RuleOverride>);

impl Overrides {
    /// The override of `rule`, if any.
    pub fn get(&self, rule: RuleName) -> Option<&RuleOverride> {
        self.0.get(&rule)
    }

    /// Whether the request overrides anything (and so needs the override scope).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// [`Overrides::applied`], and when the decision is a forced confirmation
    /// ([`Reason::ForcedConfirmation`]) [`FORCED_CONFIRMATION_APPLIED`] too, among its rule's.
    pub fn applied_to(&self, forced_confirmation: bool) -> Vec<String> {
        let mut applied = self.applied();
        if forced_confirmation {
            let rule = RuleName::OriginalAuthorization.as_str();
            let at =
                applied.iter().position(|a| a.split(':').next().is_some_and(|r| r >= rule)).unwrap_or(applied.len());
            applied.insert(at, FORCED_CONFIRMATION_APPLIED.to_owned());
        }
        applied
    }

    /// The overrides applied, as recorded with the decision: `LEDGER:force`,
    /// `ACCOUNT_STATUS:disable`, `LEDGER:denial_reason:INSUFFICIENT_FUNDS`. Rules come in the order
    /// of their names, and each rule's reasons in the order of theirs, as every recorded decision has them.
    pub fn applied(&self) -> Vec<String> {
        let mut rules: Vec<_> = self.0.iter().collect();
        rules.sort_by_key(|(rule, _)| rule.as_str());
        let mut applied = Vec::new();
        for (rule, o) in rules {
            if o.disable {
                applied.push(format!("{rule}:disable"));
            }
            if o.force {
                applied.push(format!("{rule}:force"));
            }
            let mut reasons: Vec<_> = o.denial_reasons.keys().collect();
            reasons.sort_by_key(|reason| reason.as_str());
            applied.extend(reasons.into_iter().map(|r| format!("{rule}:denial_reason:{r}")));
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
    fn each_reason_is_its_own_row_and_named_once_per_rule() {
        for (i, row) in REASONS.iter().enumerate() {
            assert_eq!(row.reason as usize, i, "{}", row.name);
            assert_eq!(row.reason.row().name, row.name);
            assert_eq!(Reason::of(row.rule, row.name), Some(row.reason), "{} {}", row.rule, row.name);
            let same = REASONS.iter().filter(|r| r.rule == row.rule && r.name == row.name).count();
            assert_eq!(same, 1, "{} {}", row.rule, row.name);
        }
        assert_eq!(Reason::of(RuleName::Ledger, "CARD_EXPIRED"), None, "a reason belongs to its rule");
        assert_eq!(Reason::of(RuleName::Ledger, "NOT_APPLICABLE"), Some(Reason::LedgerNotApplicable));
        assert_eq!(Reason::InsufficientFunds.to_string(), "INSUFFICIENT_FUNDS");
    }

    #[test]
    fn overrides_are_listed_by_name_whatever_the_order_of_the_enums() {
        let mut overrides = Overrides::default();
        let codes = || ("05".to_owned(), "XYZ".to_owned());
        overrides.0.insert(
            RuleName::Account,
            RuleOverride {
                denial_reasons: [(Reason::DocumentMismatch, codes()), (Reason::AccountError, codes())].into(),
                ..RuleOverride::default()
            },
        );
        overrides.0.insert(RuleName::CardStatus, RuleOverride { disable: true, ..RuleOverride::default() });
        overrides.0.insert(RuleName::Ledger, RuleOverride { force: true, ..RuleOverride::default() });
        assert_eq!(
            overrides.applied(),
            [
                "ACCOUNT:denial_reason:ACCOUNT_ERROR",
                "ACCOUNT:denial_reason:DOCUMENT_MISMATCH",
                "CARD_STATUS:disable",
                "LEDGER:force"
            ]
        );
    }

    #[test]
    fn a_forced_confirmation_is_listed_among_its_rule_s_overrides() {
        let mut overrides = Overrides::default();
        assert_eq!(overrides.applied_to(true), [FORCED_CONFIRMATION_APPLIED]);
        assert!(overrides.applied_to(false).is_empty());
        overrides.0.insert(RuleName::Ledger, RuleOverride { force: true, ..RuleOverride::default() });
        overrides.0.insert(
            RuleName::OriginalAuthorization,
            RuleOverride {
                denial_reasons: [(Reason::OriginalNotFound, ("05".to_owned(), "XYZ".to_owned()))].into(),
                ..RuleOverride::default()
            },
        );
        assert_eq!(
            overrides.applied_to(true),
            [
                "LEDGER:force",
                "ORIGINAL_AUTHORIZATION:forced_confirmation",
                "ORIGINAL_AUTHORIZATION:denial_reason:ORIGINAL_NOT_FOUND"
            ]
        );
        assert_eq!(overrides.applied_to(false), overrides.applied());
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
