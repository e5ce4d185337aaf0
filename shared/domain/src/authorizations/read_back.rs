//! Reading back: an authorization as it stands (its decision with the rules' trace, what it holds now,
//! the confirmations and cancellations that acted on it) and an account's balance. Reads are scoped
//! to the caller's tenant by the store's partition: another tenant's id reads as nothing, and is
//! answered as not found, exactly as an id nobody has.

use serde::Serialize;
use serde_json::value::RawValue;

use super::AuthorizationError;
use super::account::{Account, AccountId};
use super::authorizer::Authorizer;
use super::ledger::{LedgerItem, LedgerKey};
use super::record::{AuthorizationId, AuthorizationRecord, Category, DecisionStatus, decimal, raw_json};
use crate::clock::rfc3339;
use crate::store::StoreError;
use crate::tenant::TenantId;
use crate::tracking::TrackingId;

/// How a read names an authorization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizationRef {
    /// Its `authorization_id`.
    Id(AuthorizationId),
    /// The `tracking_id` it was decided under.
    Tracking(TrackingId),
}

#[derive(Serialize)]
struct Settled<'a> {
    authorization_id: u64,
    tracking_id: &'a str,
    mti: &'a str,
    category: Category,
    amount: Box<RawValue>,
    created_at: String,
}

/// What an authorization is now: its decision's status, or EXPIRED once its hold expired.
#[derive(Serialize)]
#[serde(rename_all = "UPPERCASE")]
enum Status {
    Approved,
    Denied,
    Expired,
}

/// An authorization as read back. `status` is what it is now (EXPIRED once its hold expired), which
/// is why it is not simply `decision.status`.
#[derive(Serialize)]
struct Standing<'a> {
    authorization_id: u64,
    tracking_id: &'a str,
    status: Status,
    currency: &'a str,
    held: Box<RawValue>,
    confirmed: Box<RawValue>,
    cancelled: Box<RawValue>,
    expired: Box<RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expired_at: Option<String>,
    history: Vec<Settled<'a>>,
    history_unlisted: u32,
    decision: Box<RawValue>,
}

#[derive(Serialize)]
struct Balance<'a> {
    account_id: i64,
    currency: &'a str,
    limit: Box<RawValue>,
    available: Box<RawValue>,
    held: Box<RawValue>,
}

/// The answer for `record`: amounts exact, in its currency's precision.
fn standing(record: &AuthorizationRecord) -> Box<RawValue> {
    let money = |minor: i64| decimal(minor, record.currency);
    // Only an approved 0100/0120/0200 or forced confirmation ever holds or confirms anything; whatever of its
    // amount it no longer does was given back (cancelled, or released by a confirmation for less).
    // What expired was given back too, but not by a cancellation.
    let cancelled = if record.takes_money() { (record.amount - record.remaining() - record.expired).max(0) } else { 0 };
    let status = match (record.status, record.expired_at) {
        (_, Some(_)) => Status::Expired,
        (DecisionStatus::Approved, None) => Status::Approved,
        (DecisionStatus::Denied, None) => Status::Denied,
    };
    raw_json(&Standing {
        authorization_id: record.id.0,
        tracking_id: record.tracking_id.as_str(),
        status,
        currency: record.currency.alpha(),
        held: money(record.held),
        confirmed: money(record.confirmed),
        cancelled: money(cancelled),
        expired: money(record.expired),
        expired_at: record.expired_at.map(rfc3339),
        history: record
            .settlements
            .iter()
            .map(|s| Settled {
                authorization_id: s.id.0,
                tracking_id: s.tracking_id.as_str(),
                mti: s.mti.as_str(),
                category: s.category,
                amount: money(s.amount),
                created_at: rfc3339(s.created_at),
            })
            .collect(),
        history_unlisted: record.settlements_unlisted,
        decision: record.response(),
    })
}

fn balance(account: &Account) -> Box<RawValue> {
    let money = |minor: i64| decimal(minor, account.currency);
    raw_json(&Balance {
        account_id: account.id.get(),
        currency: account.currency.alpha(),
        limit: money(account.limit),
        available: money(account.available),
        // Below zero only on an account stored before holds were counted (see `Account::held`): those
        // holds are unknown, not negative.
        held: money(account.held.max(0)),
    })
}

fn internal(e: StoreError) -> AuthorizationError {
    AuthorizationError::Internal(e.to_string())
}

impl Authorizer {
    async fn read_one(&self, tenant: &TenantId, key: LedgerKey) -> Result<Option<LedgerItem>, AuthorizationError> {
        match self.ledger.get(tenant, &[key]).await.map_err(internal)?.pop().flatten() {
            Some(item) => item.map(Some).map_err(internal),
            None => Ok(None),
        }
    }

    /// The authorization `name` names, as it stands: the answer of
    /// `GET /payment-methods/v1/authorizations/{authorization_id}` and `…/by-tracking-id/{tracking_id}`.
    ///
    /// Round trips: one by id. By tracking_id, one while a confirmation or cancellation can still act
    /// on it (a store that keeps it with its tracking record gives it in the same read, as it does to
    /// a settlement naming it so), else two: its decision, then it.
    pub async fn read_back(
        &self,
        tenant: &TenantId,
        name: &AuthorizationRef,
    ) -> Result<Box<RawValue>, AuthorizationError> {
        let key = match name {
            AuthorizationRef::Id(id) => LedgerKey::Authorization(*id),
            AuthorizationRef::Tracking(tracking) => LedgerKey::AuthorizationOf(tracking.clone()),
        };
        let record = match self.read_one(tenant, key).await? {
            Some(LedgerItem::Authorization(record)) => record,
            Some(LedgerItem::Recorded(recorded)) => {
                match self.read_one(tenant, LedgerKey::Authorization(recorded.authorization_id)).await? {
                    Some(LedgerItem::Authorization(record)) => record,
                    // Every decision is committed with its authorization: one without is not a 404.
                    _ => {
                        return Err(AuthorizationError::Internal(format!(
                            "the decision of a tracking_id has no authorization {}",
                            recorded.authorization_id.0
                        )));
                    }
                }
            }
            _ => return Err(AuthorizationError::NotFound),
        };
        Ok(standing(&record))
    }

    /// The balance of `account`: the answer of `GET /payment-methods/v1/accounts/{account_id}/balance`.
    /// One round trip.
    pub async fn balance(&self, tenant: &TenantId, account: AccountId) -> Result<Box<RawValue>, AuthorizationError> {
        match self.read_one(tenant, LedgerKey::Account(account)).await? {
            Some(LedgerItem::Account(account)) => Ok(balance(&account)),
            _ => Err(AuthorizationError::AccountNotFound),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authorizations::{MAX_LISTED_SETTLEMENTS, Mti, Settlement};

    /// An approved 0100 of 10.50 BRL, as stored before settlements were listed.
    const STORED: &str = r#"{"id":7,"tenant":"t","tracking_id":"o","mti":"0100","status":"APPROVED","category":"AUTHORIZATION","account_id":1,"program_id":1,"card_id":null,"currency":"BRL","amount":1050,"held":1050,"confirmed":0,"cancellation_confirmed":false,"original_authorization_id":null,"clearing_type":"OFFLINE","response_code":"00","denial_code":null,"authorization_code":"ABC123","validation_results":[],"overrides_applied":[],"processing_code":"003000","installments":1,"created_at":"2026-01-01T00:00:00Z","version":1}"#;

    fn answer(record: &AuthorizationRecord) -> serde_json::Value {
        serde_json::from_str(standing(record).get()).unwrap()
    }

    #[test]
    fn a_record_stored_before_settlements_were_listed_reads_with_none_and_is_written_as_it_was() {
        let record: AuthorizationRecord = serde_json::from_str(STORED).unwrap();
        assert!(record.settlements.is_empty() && record.settlements_unlisted == 0);
        assert_eq!(serde_json::to_string(&record).unwrap(), STORED, "no settlement, no new field");
        let text = standing(&record);
        assert!(text.get().contains(
            r#""held":10.50,"confirmed":0.00,"cancelled":0.00,"expired":0.00,"history":[],"history_unlisted":0"#
        ));
    }

    #[test]
    fn an_authorization_lists_its_first_settlements_and_counts_the_rest() {
        let mut record: AuthorizationRecord = serde_json::from_str(STORED).unwrap();
        let settlement = |n: u64| Settlement {
            id: AuthorizationId(100 + n),
            tracking_id: TrackingId::parse(&format!("c-{n}")).unwrap(),
            mti: Mti::Cancellation,
            category: Category::PartialCancellation,
            amount: 1,
            created_at: record.created_at,
        };
        let all: Vec<Settlement> = (0..MAX_LISTED_SETTLEMENTS as u64 + 3).map(settlement).collect();
        for s in all.clone() {
            record.held -= 1;
            record.list_settlement(s);
        }
        assert_eq!(record.settlements, all[..MAX_LISTED_SETTLEMENTS], "the first ones, in order");
        assert_eq!(record.settlements_unlisted, 3);
        let read = answer(&record);
        assert_eq!(
            (read["history"].as_array().unwrap().len(), &read["history_unlisted"]),
            (100, &serde_json::json!(3))
        );
        assert_eq!(read["history"][0]["tracking_id"], "c-0");
        assert!(standing(&record).get().contains(r#""held":9.47,"confirmed":0.00,"cancelled":1.03"#));
        let stored: AuthorizationRecord = serde_json::from_str(&serde_json::to_string(&record).unwrap()).unwrap();
        assert_eq!(stored, record, "stored and read back whole");
    }

    #[test]
    fn only_what_took_money_holds_confirms_or_has_cancelled_anything() {
        let mut denied: AuthorizationRecord = serde_json::from_str(STORED).unwrap();
        (denied.status, denied.held) = (DecisionStatus::Denied, 0);
        let read = answer(&denied);
        assert_eq!((&read["status"], &read["cancelled"]), (&serde_json::json!("DENIED"), &serde_json::json!(0.0)));
        let mut cancellation: AuthorizationRecord = serde_json::from_str(STORED).unwrap();
        (cancellation.mti, cancellation.held, cancellation.original_authorization_id) =
            (Mti::Cancellation, 0, Some(AuthorizationId(6)));
        assert!(standing(&cancellation).get().contains(r#""held":0.00,"confirmed":0.00,"cancelled":0.00"#));
    }

    #[test]
    fn ids_in_a_path_have_one_spelling() {
        assert_eq!(AuthorizationId::parse("373410039153925"), Some(AuthorizationId(373_410_039_153_925)));
        assert_eq!(AuthorizationId::parse("9007199254740991"), Some(AuthorizationId(AuthorizationId::MAX)));
        for bad in ["0", "", "01", "+1", "-1", "1.0", "1e3", " 1", "9007199254740992", "99999999999999999999", "x"] {
            assert_eq!(AuthorizationId::parse(bad), None, "{bad:?}");
        }
        assert_eq!(AccountId::parse("1001").map(AccountId::get), Some(1001));
        assert_eq!(AccountId::parse("9223372036854775807").map(AccountId::get), Some(i64::MAX));
        for bad in ["0", "", "007", "+7", "-7", "9223372036854775808", "1001 "] {
            assert_eq!(AccountId::parse(bad), None, "{bad:?}");
        }
    }
}
