use std::fmt;
use std::str::FromStr;

use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::{CredentialField, Processor, ProofGuard};
use crate::clock::rfc3339;
use crate::crypto::{KeyedHash, SealedValue};
use crate::tenant::TenantId;

macro_rules! resource_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// Accepts 1–64 characters of `A-Z a-z 0-9 _`: ids are parts of storage keys.
            pub fn parse(raw: &str) -> Option<Self> {
                let ok = (1..=64).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
                ok.then(|| Self(raw.to_owned()))
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }
    };
}

resource_id!(
    /// A merchant, like `mid_test_2f428vcgdf94kv6y7rjwms59hf`.
    MerchantId
);
resource_id!(
    /// A merchant's processor connection, like `midCon_test_5q9s8hesxs85897c7a9gmea7ay`.
    ConnectionId
);

/// Where a connection stands in the merchant lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionStatus {
    /// No configuration yet.
    Unconfigured,
    /// Requirements outstanding.
    Requirements,
    /// Ready to submit.
    Ready,
    /// Queued for submission.
    Queued,
    /// Sent to the processor.
    Sent,
    /// Under the processor's review.
    Underwriting,
    /// Processing.
    Active,
    /// The processor requested information.
    Rfi,
    /// Declined by the processor.
    Rejected,
    /// Failed.
    Error,
}

impl ConnectionStatus {
    const ALL: [Self; 10] = [
        Self::Unconfigured,
        Self::Requirements,
        Self::Ready,
        Self::Queued,
        Self::Sent,
        Self::Underwriting,
        Self::Active,
        Self::Rfi,
        Self::Rejected,
        Self::Error,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unconfigured => "Unconfigured",
            Self::Requirements => "Requirements",
            Self::Ready => "Ready",
            Self::Queued => "Queued",
            Self::Sent => "Sent",
            Self::Underwriting => "Underwriting",
            Self::Active => "Active",
            Self::Rfi => "RFI",
            Self::Rejected => "Rejected",
            Self::Error => "Error",
        }
    }
}

impl FromStr for ConnectionStatus {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        Self::ALL.into_iter().find(|v| v.as_str() == s).ok_or(())
    }
}

/// A connection's credentials as stored: sealed, fingerprinted, and which fields they hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedConnectionCredentials {
    /// The canonical set, sealed under the connection's encryption context.
    pub sealed: SealedValue,
    /// HMAC-SHA256 of the canonical set: compared, never decrypted, to check `existingCredentials`.
    pub fingerprint: KeyedHash,
    /// The fields present (not their values): enough to check a processor's requirements.
    pub fields: Vec<CredentialField>,
}

/// A merchant's connection to one processor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    /// Its id.
    pub id: ConnectionId,
    /// The processor.
    pub processor: Processor,
    /// Lifecycle status.
    pub status: ConnectionStatus,
    /// 0 before any credentials, +1 per credential write: what conditional writes check.
    pub version: u64,
    /// At most one credential set.
    pub credentials: Option<SealedConnectionCredentials>,
    /// Failed proofs of the credentials on file, and the lock they earned.
    pub guard: ProofGuard,
}

/// A merchant record of one tenant.
#[derive(Debug, Clone, PartialEq)]
pub struct Merchant {
    /// The owning platform.
    pub tenant: TenantId,
    /// Its id.
    pub id: MerchantId,
    /// Every other field of the record (name, addresses, contacts, mcc…), kept as given.
    pub profile: Map<String, Value>,
    /// The last four characters of the TIN: all Cofre keeps of it (it only ever shows it masked).
    pub tin_last4: Option<String>,
    /// Creation instant.
    pub created_on: OffsetDateTime,
    /// Last modification instant.
    pub modified_on: OffsetDateTime,
    /// Who created it (`API Key: <name>`).
    pub created_by: String,
    /// Who last modified it.
    pub modified_by: String,
    /// Its processor connections, in their original order.
    pub connections: Vec<Connection>,
}

impl Merchant {
    /// The connection with `id`.
    pub fn connection(&self, id: &ConnectionId) -> Option<&Connection> {
        self.connections.iter().find(|c| &c.id == id)
    }

    /// The record as the API returns it: the profile, `tin` masked to `****` + last four, and each
    /// connection as `{id, status, processor}`. No credential, ciphertext or fingerprint.
    pub fn to_response(&self) -> Value {
        let mut record = self.profile.clone();
        record.insert("id".into(), Value::String(self.id.to_string()));
        if let Some(last4) = &self.tin_last4 {
            record.insert("tin".into(), Value::String(format!("****{last4}")));
        }
        record.insert("createdOn".into(), Value::String(rfc3339(self.created_on)));
        record.insert("modifiedOn".into(), Value::String(rfc3339(self.modified_on)));
        record.insert("createdBy".into(), Value::String(self.created_by.clone()));
        record.insert("modifiedBy".into(), Value::String(self.modified_by.clone()));
        let connections = self
            .connections
            .iter()
            .map(|c| serde_json::json!({ "id": c.id.as_str(), "status": c.status.as_str(), "processor": c.processor.as_str() }))
            .collect();
        record.insert("connections".into(), Value::Array(connections));
        Value::Object(record)
    }
}

/// The last four characters of a TIN, or `None` for an empty one.
pub fn tin_last4(tin: &str) -> Option<String> {
    let chars: Vec<char> = tin.chars().filter(char::is_ascii_alphanumeric).collect();
    (!chars.is_empty()).then(|| chars[chars.len().saturating_sub(4)..].iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_statuses_and_tins_parse_as_documented() {
        assert!(MerchantId::parse("mid_test_2f428vcgdf94kv6y7rjwms59hf").is_some());
        assert!(ConnectionId::parse("midCon_test_5q9s8hesxs85897c7a9gmea7ay").is_some());
        for bad in ["", "a#b", "a/b", &"x".repeat(65)] {
            assert!(MerchantId::parse(bad).is_none(), "{bad}");
        }
        assert_eq!("RFI".parse(), Ok(ConnectionStatus::Rfi));
        assert_eq!(tin_last4("12-3456789").as_deref(), Some("6789"));
        assert_eq!(tin_last4("12").as_deref(), Some("12"));
        assert_eq!(tin_last4(""), None);
    }
}
