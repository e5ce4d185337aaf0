use async_trait::async_trait;
use time::OffsetDateTime;

use super::{ConnectionId, ConnectionStatus, Merchant, MerchantId, ProofGuard, SealedConnectionCredentials};
use crate::crypto::KeyedHash;
use crate::store::{Page, ScanCursor, StoreError};
use crate::tenant::TenantId;

/// A credential write to one connection, conditional on what the request read.
#[derive(Debug, Clone)]
pub struct ConnectionWrite {
    /// The connection.
    pub connection_id: ConnectionId,
    /// The version read; the write happens only if it is still current.
    pub expected_version: u64,
    /// The fingerprint read (`None`: no credentials were on file); checked with the version.
    pub expected_fingerprint: Option<KeyedHash>,
    /// The new credentials.
    pub credentials: SealedConnectionCredentials,
    /// The status after the write.
    pub status: ConnectionStatus,
    /// When.
    pub modified_on: OffsetDateTime,
    /// Who (`API Key: <name>`).
    pub modified_by: String,
}

/// Why a connection write did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ConnectionWriteError {
    /// The connection changed since it was read (another rotation won), or is gone. Carries the
    /// merchant as it is now, when the store can tell in the same round trip (DynamoDB's `ALL_OLD`).
    #[error("the connection changed since it was read")]
    Conflict {
        /// The merchant as it now is, if known.
        current: Option<Box<Merchant>>,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The port to merchant storage: one item per merchant, connections inside it.
#[async_trait]
pub trait MerchantStore: Send + Sync {
    /// The merchant with its connections (one read).
    async fn merchant(&self, tenant: &TenantId, id: &MerchantId) -> Result<Option<Merchant>, StoreError>;

    /// Writes one connection's credentials (and the merchant's modification stamp) if its version and
    /// fingerprint are still those in `write`; returns the merchant as written (one conditional write).
    async fn write_connection(
        &self,
        tenant: &TenantId,
        id: &MerchantId,
        write: &ConnectionWrite,
    ) -> Result<Merchant, ConnectionWriteError>;

    /// Sets one connection's proof guard to `next` if its failure count is still `seen` (one
    /// conditional write): `false` if another request changed the count first, or the connection is
    /// gone. Concurrent guesses thus count one by one, each against the count it read.
    async fn guard_proof(
        &self,
        tenant: &TenantId,
        id: &MerchantId,
        connection: &ConnectionId,
        seen: u32,
        next: &ProofGuard,
    ) -> Result<bool, StoreError>;

    /// Inserts `merchant` unless one with its id exists; `true` if inserted.
    async fn insert_merchant(&self, merchant: &Merchant) -> Result<bool, StoreError>;

    /// One page of every merchant of every tenant, after `after` (from the start if `None`): a scan
    /// of the table, for maintenance (re-keying fingerprints), never for a request.
    async fn merchants_page(&self, after: Option<&ScanCursor>) -> Result<Page<Merchant>, StoreError>;

    /// Replaces one connection's fingerprint with `new` if it is still `expected` (one conditional
    /// write); nothing else of the connection changes, since `new` fingerprints the same credentials
    /// under another key. `false` if the credentials changed since they were read, or are gone.
    async fn rekey_fingerprint(
        &self,
        tenant: &TenantId,
        id: &MerchantId,
        connection: &ConnectionId,
        expected: &KeyedHash,
        new: &KeyedHash,
    ) -> Result<bool, StoreError>;
}
