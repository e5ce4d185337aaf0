//! The stored shape of a merchant, shared by both stores: one item per merchant, its connections in
//! a map keyed by connection id so one connection can be updated (and conditioned on) by path.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::credential_item::partition_key;
use super::sealed_item::SealedItem;
use crate::clock::rfc3339;
use crate::crypto::{KeyedHash, SealedValue};
use crate::merchants::{
    Connection, ConnectionId, CredentialField, Merchant, MerchantId, ProofGuard, SealedConnectionCredentials,
};
use crate::store::StoreError;
use crate::tenant::TenantId;

/// How every merchant's sort key begins.
pub const MERCHANT_SORT_KEY_PREFIX: &str = "MERCHANT#";

/// Sort key of a merchant.
pub fn merchant_sort_key(id: &MerchantId) -> String {
    format!("{MERCHANT_SORT_KEY_PREFIX}{id}")
}

#[derive(Debug, Serialize, Deserialize)]
pub struct MerchantItem {
    pub pk: String,
    pub sk: String,
    pub tenant_id: String,
    pub id: String,
    /// Every other field of the record, as JSON text.
    pub profile: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tin_last4: Option<String>,
    pub created_on: String,
    pub modified_on: String,
    pub created_by: String,
    pub modified_by: String,
    pub connections: BTreeMap<String, ConnectionItem>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ConnectionItem {
    pub id: String,
    pub processor: String,
    pub status: String,
    pub version: u64,
    /// Order in the merchant record.
    pub position: u32,
    /// Absent (not null) when nothing is on file: DynamoDB conditions test `attribute_not_exists`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<CredentialsItem>,
    /// Absent until a proof first fails (items written before the guard existed read as unguarded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proof_guard: Option<ProofGuardItem>,
}

/// A connection's [`ProofGuard`] as stored; DynamoDB conditions compare `failures`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProofGuardItem {
    pub failures: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locked_until: Option<String>,
}

impl From<&ProofGuard> for ProofGuardItem {
    fn from(guard: &ProofGuard) -> Self {
        Self { failures: guard.failures, locked_until: guard.locked_until.map(rfc3339) }
    }
}

impl TryFrom<ProofGuardItem> for ProofGuard {
    type Error = StoreError;

    fn try_from(item: ProofGuardItem) -> Result<Self, StoreError> {
        let locked_until = item
            .locked_until
            .map(|at| OffsetDateTime::parse(&at, &Rfc3339).map_err(|_| corrupt("locked_until")))
            .transpose()?;
        Ok(Self { failures: item.failures, locked_until })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CredentialsItem {
    pub sealed: SealedItem,
    pub fingerprint: String,
    pub fields: Vec<String>,
}

impl CredentialsItem {
    /// A fingerprint as stored (and as DynamoDB conditions compare it): `<key id>$<base64>`, or the
    /// base64 alone for the legacy key ([`KeyedHash::encode`]).
    pub fn encode_fingerprint(fingerprint: &KeyedHash) -> String {
        fingerprint.encode()
    }
}

impl From<&SealedConnectionCredentials> for CredentialsItem {
    fn from(credentials: &SealedConnectionCredentials) -> Self {
        Self {
            sealed: SealedItem::from(&credentials.sealed),
            fingerprint: Self::encode_fingerprint(&credentials.fingerprint),
            fields: credentials.fields.iter().map(|f| f.as_str().to_owned()).collect(),
        }
    }
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(format!("merchant item: bad {what}"))
}

impl TryFrom<CredentialsItem> for SealedConnectionCredentials {
    type Error = StoreError;

    fn try_from(item: CredentialsItem) -> Result<Self, StoreError> {
        Ok(Self {
            sealed: SealedValue::try_from(item.sealed)?,
            fingerprint: KeyedHash::decode(&item.fingerprint).ok_or_else(|| corrupt("fingerprint"))?,
            fields: item
                .fields
                .iter()
                .map(|f| CredentialField::parse(f).ok_or_else(|| corrupt("fields")))
                .collect::<Result<_, _>>()?,
        })
    }
}

pub fn connection_item(connection: &Connection, position: usize) -> ConnectionItem {
    ConnectionItem {
        id: connection.id.to_string(),
        processor: connection.processor.as_str().to_owned(),
        status: connection.status.as_str().to_owned(),
        version: connection.version,
        position: u32::try_from(position).unwrap_or(u32::MAX),
        credentials: connection.credentials.as_ref().map(CredentialsItem::from),
        proof_guard: (connection.guard != ProofGuard::default()).then(|| ProofGuardItem::from(&connection.guard)),
    }
}

impl From<&Merchant> for MerchantItem {
    fn from(merchant: &Merchant) -> Self {
        Self {
            pk: partition_key(&merchant.tenant),
            sk: merchant_sort_key(&merchant.id),
            tenant_id: merchant.tenant.to_string(),
            id: merchant.id.to_string(),
            profile: serde_json::Value::Object(merchant.profile.clone()).to_string(),
            tin_last4: merchant.tin_last4.clone(),
            created_on: rfc3339(merchant.created_on),
            modified_on: rfc3339(merchant.modified_on),
            created_by: merchant.created_by.clone(),
            modified_by: merchant.modified_by.clone(),
            connections: merchant
                .connections
                .iter()
                .enumerate()
                .map(|(position, c)| (c.id.to_string(), connection_item(c, position)))
                .collect(),
        }
    }
}

impl TryFrom<MerchantItem> for Merchant {
    type Error = StoreError;

    fn try_from(item: MerchantItem) -> Result<Self, StoreError> {
        let instant = |v: &str, what| OffsetDateTime::parse(v, &Rfc3339).map_err(|_| corrupt(what));
        let mut connections: Vec<(u32, Connection)> = item
            .connections
            .into_values()
            .map(|c| {
                Ok((
                    c.position,
                    Connection {
                        id: ConnectionId::parse(&c.id).ok_or_else(|| corrupt("connection id"))?,
                        processor: c.processor.parse().map_err(|()| corrupt("processor"))?,
                        status: c.status.parse().map_err(|()| corrupt("status"))?,
                        version: c.version,
                        credentials: c.credentials.map(SealedConnectionCredentials::try_from).transpose()?,
                        guard: c.proof_guard.map(ProofGuard::try_from).transpose()?.unwrap_or_default(),
                    },
                ))
            })
            .collect::<Result<_, StoreError>>()?;
        connections.sort_by_key(|(position, _)| *position);
        let serde_json::Value::Object(profile) = serde_json::from_str(&item.profile).map_err(|_| corrupt("profile"))?
        else {
            return Err(corrupt("profile"));
        };
        Ok(Self {
            tenant: TenantId::parse(&item.tenant_id).map_err(|_| corrupt("tenant_id"))?,
            id: MerchantId::parse(&item.id).ok_or_else(|| corrupt("id"))?,
            profile,
            tin_last4: item.tin_last4,
            created_on: instant(&item.created_on, "created_on")?,
            modified_on: instant(&item.modified_on, "modified_on")?,
            created_by: item.created_by,
            modified_by: item.modified_by,
            connections: connections.into_iter().map(|(_, c)| c).collect(),
        })
    }
}
