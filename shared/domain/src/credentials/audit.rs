//! The audit of every call made through the partner gateway with a stored credential.
//!
//! A use is written *before* the partner is called (outcome `PENDING`) and completed after, so a
//! call the partner accepted can never be missing from the audit: at worst it is recorded as
//! pending, which an auditor reads as "sent, answer not recorded".

use std::fmt;

use time::OffsetDateTime;

use super::{CredentialSlot, ProxyValue};

/// A use's id: the start instant in nanoseconds (zero-padded, so ids sort by time) and 64 random
/// bits (so two uses in the same nanosecond never collide).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct UseId(String);

impl UseId {
    /// A new id for a use starting at `at`.
    pub fn new(at: OffsetDateTime, random: u64) -> Self {
        let nanos = u64::try_from(at.unix_timestamp_nanos()).unwrap_or_default();
        Self(format!("{nanos:020}-{random:016x}"))
    }

    /// Accepts only what [`UseId::new`] makes: it is used as a paging cursor, so it comes from callers.
    pub fn parse(raw: &str) -> Option<Self> {
        let (nanos, random) = raw.split_once('-')?;
        let ok = nanos.len() == 20
            && nanos.bytes().all(|b| b.is_ascii_digit())
            && random.len() == 16
            && random.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase());
        ok.then(|| Self(raw.to_owned()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UseId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How a use ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UseOutcome {
    /// Recorded before the partner call; a use still pending was sent but its end not recorded.
    Pending,
    /// The partner answered with this status.
    Answered {
        /// The partner's HTTP status.
        partner_status: u16,
        /// From the start of the use to the partner's answer.
        duration_ms: u64,
    },
    /// Cofre answered with one of its documented errors (no partner answer, or one not passed on).
    Failed {
        /// The documented code (`EBAA0002`…).
        code: String,
        /// The partner's HTTP status, if it answered.
        partner_status: Option<u16>,
        /// From the start of the use to the failure.
        duration_ms: u64,
    },
}

impl UseOutcome {
    /// The stored name of the outcome.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Answered { .. } => "ANSWERED",
            Self::Failed { .. } => "FAILED",
        }
    }
}

/// One call through the gateway. Holds no body, no token and no raw path: the raw path may carry
/// personal data (a Pix key is a CPF or an e-mail), so only the matched pattern is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialUse {
    /// Time-ordered id.
    pub id: UseId,
    /// The credential's slot (its tenant is the caller's).
    pub slot: CredentialSlot,
    /// The credential's proxy.
    pub proxy: ProxyValue,
    /// The credential version the call was made with.
    pub credential_version: u64,
    /// The token's subject: who, within the tenant, made the call.
    pub subject: String,
    /// `GET`, `POST`…
    pub method: String,
    /// The allowlist pattern the path matched (`/pix/v1/transfers/{id}`).
    pub route: String,
    /// The request's `tracking_id`.
    pub tracking_id: String,
    /// When the use started.
    pub started_at: OffsetDateTime,
    /// How it ended.
    pub outcome: UseOutcome,
}

/// Why a use could not be recorded before the call.
#[derive(Debug, thiserror::Error)]
pub enum BeginUseError {
    /// The credential was replaced or revoked since it was read: the read is stale.
    #[error("the credential changed since it was read")]
    CredentialChanged,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] super::StoreError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn use_ids_sort_by_time_and_parse_only_their_own_shape() {
        let early = UseId::new(OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap(), u64::MAX);
        let late = UseId::new(OffsetDateTime::from_unix_timestamp(1_700_000_001).unwrap(), 0);
        assert!(early < late);
        assert_eq!(UseId::parse(late.as_str()), Some(late.clone()));
        for bad in ["", "x", "1-2", "00000000000000000001-ZZZZZZZZZZZZZZZZ", "00000000000000000001-000000000000000G"] {
            assert_eq!(UseId::parse(bad), None, "{bad}");
        }
    }
}
