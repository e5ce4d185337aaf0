//! Card and payment authorizations: request (0100/0200), confirmation (0202), cancellation
//! (0400/0402) and advices (0120/0420, posted whatever the rules find unless they cannot be),
//! idempotent on `tracking_id`, judged by ordered rules a caller may override, on an account ledger
//! that races cannot overdraw unrecorded; read back as they stand, with accounts' balances. See
//! `POST /payment-methods/v1/authorization`, the `GET` routes beside it and `docs/authorization-rules.md`.

mod account;
mod authorizer;
mod card_hashes;
mod engine;
mod error;
mod expiry;
mod ledger;
mod money;
mod read_back;
mod record;
mod request;
mod rules;
mod seed;

pub use account::{
    Account, AccountId, AccountSettings, AccountStatus, BankAccount, Card, CardMode, CardStatus,
    DEFAULT_HOLD_EXPIRY_SECONDS, Expiry, MAX_HOLD_EXPIRY_SECONDS, PAN_HASH_DOMAIN, Pan,
};
pub use authorizer::{Authorizer, Decision, OVERRIDE_SCOPE, Replay};
pub use card_hashes::CardHashStore;
pub use engine::{AccountFact, CardFact, Facts, OriginalFact, Verdict, evaluate};
pub use error::{AuthorizationError, InvalidCode};
pub use expiry::{
    DueHold, HoldExpirer, HoldRelease, MAX_CONCURRENT_ACCOUNTS, MAX_KEYS_PER_READ, SWEEP_PAGE, SweepReport, due_ms,
    expiry_event,
};
pub use ledger::{BalanceChange, Commit, CommitError, Ledger, LedgerItem, LedgerKey, LookupKey, LookupTarget};
pub use money::{AmountError, Currency, MAX_MINOR_UNITS, format_minor_units, parse_minor_units};
pub use read_back::AuthorizationRef;
pub use record::{
    AuthorizationId, AuthorizationRecord, Category, DecisionStatus, Event, MAX_LISTED_SETTLEMENTS, RecordedDecision,
    Settlement, decision_events,
};
pub use request::{
    AccountRef, AuthorizationRequest, ClearingType, Mti, OriginalRef, RequestMode, parse_authorization_request,
};
pub use rules::{
    DISABLED, NOT_EVALUATED, Overrides, REASONS, RESPONSE_CODES, Reason, ReasonRow, RuleName, RuleOverride, RuleStatus,
    ValidationResult,
};
pub use seed::{AccountSeedError, AccountSeedReport, AccountSeeder};
