use std::sync::Arc;

use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::connections::{connection_context, fingerprint};
use super::{
    Connection, ConnectionCredentials, ConnectionId, ConnectionStatus, Merchant, MerchantId, MerchantStore, ProofGuard,
    SealedConnectionCredentials, patch::parse_credentials, tin_last4,
};
use crate::clock::Clock;
use crate::crypto::{HmacKeySource, KeyService, seal_verified};
use crate::tenant::TenantId;

/// Fields of a seed record that are not profile fields.
const RECORD_FIELDS: [&str; 8] =
    ["tenant_id", "id", "tin", "connections", "createdOn", "modifiedOn", "createdBy", "modifiedBy"];

/// Why a seed could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    /// A record is malformed; says which and why.
    #[error("merchants[{index}]: {reason}")]
    Invalid {
        /// Position in the file.
        index: usize,
        /// What is wrong.
        reason: String,
    },
    /// Sealing failed.
    #[error("sealing credentials: {0}")]
    Crypto(String),
    /// The store failed.
    #[error("store: {0}")]
    Store(String),
}

/// What a seed run did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SeedReport {
    /// Merchants written.
    pub inserted: usize,
    /// Merchants already present, left as they were.
    pub unchanged: usize,
}

/// Loads fixture merchants into a store, sealing their credentials as the API would.
pub struct MerchantSeeder {
    store: Arc<dyn MerchantStore>,
    keys: Arc<dyn KeyService>,
    hmac: Arc<dyn HmacKeySource>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for MerchantSeeder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MerchantSeeder").finish_non_exhaustive()
    }
}

struct SeedConnection {
    id: ConnectionId,
    processor: super::Processor,
    status: ConnectionStatus,
    credentials: Option<ConnectionCredentials>,
}

fn text<'a>(record: &'a Map<String, Value>, field: &str) -> Result<&'a str, String> {
    record.get(field).and_then(Value::as_str).ok_or_else(|| format!("`{field}` must be a string"))
}

fn instant(record: &Map<String, Value>, field: &str, default: OffsetDateTime) -> Result<OffsetDateTime, String> {
    match record.get(field) {
        None => Ok(default),
        Some(Value::String(s)) => OffsetDateTime::parse(s, &Rfc3339).map_err(|_| format!("`{field}` must be RFC 3339")),
        Some(_) => Err(format!("`{field}` must be a string")),
    }
}

fn parse_connection(value: &Value) -> Result<SeedConnection, String> {
    let object = value.as_object().ok_or("each connection must be an object")?;
    let id = ConnectionId::parse(text(object, "id")?).ok_or("connection `id` is not a valid id")?;
    let processor = text(object, "processor")?.parse().map_err(|()| format!("connection {id}: unknown processor"))?;
    let status = text(object, "status")?.parse().map_err(|()| format!("connection {id}: unknown status"))?;
    let credentials = match object.get("credentials") {
        None | Some(Value::Null) => None,
        Some(Value::Object(set)) => {
            Some(parse_credentials(set, Some("credentials")).map_err(|e| format!("connection {id}: {e}"))?)
        }
        Some(_) => return Err(format!("connection {id}: `credentials` must be an object")),
    };
    Ok(SeedConnection { id, processor, status, credentials: credentials.filter(|c| !c.is_empty()) })
}

impl MerchantSeeder {
    /// Wires the seeder to the same ports the API uses.
    pub fn new(
        store: Arc<dyn MerchantStore>,
        keys: Arc<dyn KeyService>,
        hmac: Arc<dyn HmacKeySource>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self { store, keys, hmac, clock }
    }

    /// Loads `records` (the seed file's `merchants`). Merchants that exist are left untouched, so
    /// seeding the same file twice changes nothing.
    pub async fn seed(&self, records: &[Value]) -> Result<SeedReport, SeedError> {
        let mut report = SeedReport::default();
        for (index, record) in records.iter().enumerate() {
            let invalid = |reason: String| SeedError::Invalid { index, reason };
            let object = record.as_object().ok_or_else(|| invalid("must be an object".into()))?;
            let tenant =
                TenantId::parse(text(object, "tenant_id").map_err(invalid)?).map_err(|e| invalid(e.to_string()))?;
            let id = MerchantId::parse(text(object, "id").map_err(invalid)?)
                .ok_or_else(|| invalid("`id` is not a valid id".into()))?;
            let connections = match object.get("connections") {
                None => Vec::new(),
                Some(Value::Array(items)) => {
                    items.iter().map(parse_connection).collect::<Result<_, _>>().map_err(invalid)?
                }
                Some(_) => return Err(invalid("`connections` must be an array".into())),
            };
            if self.store.merchant(&tenant, &id).await.map_err(|e| SeedError::Store(e.to_string()))?.is_some() {
                report.unchanged += 1;
                continue;
            }
            let now = self.clock.now();
            let mut merchant = Merchant {
                profile: object
                    .iter()
                    .filter(|(k, _)| !RECORD_FIELDS.contains(&k.as_str()))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
                tin_last4: object.get("tin").and_then(Value::as_str).and_then(tin_last4),
                created_on: instant(object, "createdOn", now).map_err(invalid)?,
                modified_on: instant(object, "modifiedOn", now).map_err(invalid)?,
                created_by: object.get("createdBy").and_then(Value::as_str).unwrap_or("Seed").to_owned(),
                modified_by: object.get("modifiedBy").and_then(Value::as_str).unwrap_or("Seed").to_owned(),
                connections: Vec::with_capacity(connections.len()),
                tenant,
                id,
            };
            for seeded in connections {
                let credentials = match &seeded.credentials {
                    None => None,
                    Some(set) => {
                        let context = connection_context(&merchant.tenant, &merchant.id, &seeded.id);
                        let sealed = seal_verified(self.keys.as_ref(), &context, set.canonical_bytes().expose())
                            .await
                            .map_err(|e| SeedError::Crypto(e.to_string()))?;
                        let keyring = self.hmac.hmac_keyring().await.map_err(|e| SeedError::Crypto(e.to_string()))?;
                        Some(SealedConnectionCredentials {
                            sealed,
                            fingerprint: fingerprint(&keyring, &merchant.tenant, &merchant.id, &seeded.id, set),
                            fields: set.fields(),
                        })
                    }
                };
                merchant.connections.push(Connection {
                    id: seeded.id,
                    processor: seeded.processor,
                    status: seeded.status,
                    version: u64::from(credentials.is_some()),
                    credentials,
                    guard: ProofGuard::default(),
                });
            }
            if self.store.insert_merchant(&merchant).await.map_err(|e| SeedError::Store(e.to_string()))? {
                report.inserted += 1;
            } else {
                report.unchanged += 1;
            }
        }
        Ok(report)
    }
}
