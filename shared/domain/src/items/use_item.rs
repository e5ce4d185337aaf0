//! The stored shape of a credential use, shared by both stores. Uses live in the credentials table
//! beside the credential, under the tenant's partition, sorted by time within each proxy.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::credential_item::{partition_key, stored_slot};
use crate::credentials::{CredentialUse, ProxyValue, StoreError, UseId, UseOutcome};

/// The sort-key prefix of `proxy`'s uses.
pub fn use_prefix(proxy: &ProxyValue) -> String {
    format!("USE#{proxy}#")
}

/// The sort key of one use.
pub fn use_sort_key(proxy: &ProxyValue, id: &UseId) -> String {
    format!("{}{id}", use_prefix(proxy))
}

/// A use as an item: no body, no token, no raw path.
#[derive(Debug, Serialize, Deserialize)]
pub struct UseItem {
    pub pk: String,
    pub sk: String,
    pub tenant_id: String,
    pub provider: String,
    #[serde(rename = "type")]
    pub credential_type: String,
    pub proxy: String,
    pub credential_version: u64,
    pub subject: String,
    pub method: String,
    pub route: String,
    pub tracking_id: String,
    pub started_at: String,
    pub outcome: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partner_status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
}

/// RFC 3339 with microseconds: uses are ordered finer than a second.
fn precise(at: OffsetDateTime) -> String {
    let at = at.replace_nanosecond(at.microsecond() * 1_000).unwrap_or(at);
    at.format(&Rfc3339).unwrap_or_default()
}

impl From<&CredentialUse> for UseItem {
    fn from(record: &CredentialUse) -> Self {
        let (partner_status, error_code, duration_ms) = match &record.outcome {
            UseOutcome::Pending => (None, None, None),
            UseOutcome::Answered { partner_status, duration_ms } => (Some(*partner_status), None, Some(*duration_ms)),
            UseOutcome::Failed { code, partner_status, duration_ms } => {
                (*partner_status, Some(code.clone()), Some(*duration_ms))
            }
        };
        Self {
            pk: partition_key(&record.slot.tenant),
            sk: use_sort_key(&record.proxy, &record.id),
            tenant_id: record.slot.tenant.to_string(),
            provider: record.slot.provider.to_string(),
            credential_type: record.slot.credential_type.to_string(),
            proxy: record.proxy.to_string(),
            credential_version: record.credential_version,
            subject: record.subject.clone(),
            method: record.method.clone(),
            route: record.route.clone(),
            tracking_id: record.tracking_id.clone(),
            started_at: precise(record.started_at),
            outcome: record.outcome.as_str().to_owned(),
            partner_status,
            error_code,
            duration_ms,
        }
    }
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(format!("use item: bad {what}"))
}

impl TryFrom<UseItem> for CredentialUse {
    type Error = StoreError;

    fn try_from(item: UseItem) -> Result<Self, StoreError> {
        let slot = stored_slot("use", &item.tenant_id, &item.provider, &item.credential_type)?;
        let proxy = ProxyValue::from_stored(item.proxy);
        let prefix = use_prefix(&proxy);
        let id = item.sk.strip_prefix(&prefix).and_then(UseId::parse).ok_or_else(|| corrupt("sort key"))?;
        if item.pk != partition_key(&slot.tenant) {
            return Err(corrupt("key"));
        }
        let outcome = match (item.outcome.as_str(), item.partner_status, item.error_code, item.duration_ms) {
            ("PENDING", _, _, _) => UseOutcome::Pending,
            ("ANSWERED", Some(partner_status), None, Some(duration_ms)) => {
                UseOutcome::Answered { partner_status, duration_ms }
            }
            ("FAILED", partner_status, Some(code), Some(duration_ms)) => {
                UseOutcome::Failed { code, partner_status, duration_ms }
            }
            _ => return Err(corrupt("outcome")),
        };
        Ok(Self {
            id,
            slot,
            proxy,
            credential_version: item.credential_version,
            subject: item.subject,
            method: item.method,
            route: item.route,
            tracking_id: item.tracking_id,
            started_at: OffsetDateTime::parse(&item.started_at, &Rfc3339).map_err(|_| corrupt("started_at"))?,
            outcome,
        })
    }
}
