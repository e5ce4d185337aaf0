//! The stored shape of a credential, shared by both stores so they cannot drift apart.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::sealed_item::SealedItem;
use crate::clock::rfc3339;
use crate::credentials::{CredentialSlot, ProviderData, ProxyValue, StoreError, StoredCredential};
use crate::crypto::SealedValue;
use crate::tenant::TenantId;

/// Partition key of a tenant's items.
pub fn partition_key(tenant: &TenantId) -> String {
    format!("TENANT#{tenant}")
}

/// Sort key of a credential slot.
pub fn credential_sort_key(slot: &CredentialSlot) -> String {
    format!("{CREDENTIAL_PREFIX}{}#{}", slot.provider, slot.credential_type)
}

/// The sort-key prefix of every credential slot of a tenant.
pub const CREDENTIAL_PREFIX: &str = "CREDENTIAL#";

/// A credential as an item: flat, strings and numbers only, binary as base64.
#[derive(Debug, Serialize, Deserialize)]
pub struct CredentialItem {
    pub pk: String,
    pub sk: String,
    pub tenant_id: String,
    pub provider: String,
    #[serde(rename = "type")]
    pub credential_type: String,
    pub proxy: String,
    pub provider_data: ProviderData,
    pub sealed_key: SealedItem,
    pub version: u64,
    pub created_at: String,
    pub updated_at: String,
    pub tracking_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<String>,
}

impl From<&StoredCredential> for CredentialItem {
    fn from(record: &StoredCredential) -> Self {
        Self {
            pk: partition_key(&record.slot.tenant),
            sk: credential_sort_key(&record.slot),
            tenant_id: record.slot.tenant.to_string(),
            provider: record.slot.provider.to_string(),
            credential_type: record.slot.credential_type.to_string(),
            proxy: record.proxy.to_string(),
            provider_data: record.provider_data.clone(),
            sealed_key: SealedItem::from(&record.sealed_key),
            version: record.version,
            created_at: rfc3339(record.created_at),
            updated_at: rfc3339(record.updated_at),
            tracking_id: record.tracking_id.clone(),
            last_used_at: record.last_used_at.map(rfc3339),
        }
    }
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(format!("credential item: bad {what}"))
}

/// The slot named by an item's `tenant_id`, `provider` and `type` attributes (`item` names the kind
/// of item in the error).
pub fn stored_slot(
    item: &str,
    tenant_id: &str,
    provider: &str,
    credential_type: &str,
) -> Result<CredentialSlot, StoreError> {
    let bad = |what: &str| StoreError::Corrupt(format!("{item} item: bad {what}"));
    Ok(CredentialSlot {
        tenant: TenantId::parse(tenant_id).map_err(|_| bad("tenant_id"))?,
        provider: provider.parse().map_err(|()| bad("provider"))?,
        credential_type: credential_type.parse().map_err(|()| bad("type"))?,
    })
}

impl TryFrom<CredentialItem> for StoredCredential {
    type Error = StoreError;

    fn try_from(item: CredentialItem) -> Result<Self, StoreError> {
        let slot = stored_slot("credential", &item.tenant_id, &item.provider, &item.credential_type)?;
        if item.pk != partition_key(&slot.tenant) || item.sk != credential_sort_key(&slot) {
            return Err(corrupt("key"));
        }
        let instant = |v: &str, what| OffsetDateTime::parse(v, &Rfc3339).map_err(|_| corrupt(what));
        Ok(Self {
            proxy: ProxyValue::from_stored(item.proxy),
            provider_data: item.provider_data,
            sealed_key: SealedValue::try_from(item.sealed_key)?,
            version: item.version,
            created_at: instant(&item.created_at, "created_at")?,
            updated_at: instant(&item.updated_at, "updated_at")?,
            tracking_id: item.tracking_id,
            last_used_at: item.last_used_at.as_deref().map(|v| instant(v, "last_used_at")).transpose()?,
            slot,
        })
    }
}
