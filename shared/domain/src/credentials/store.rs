use async_trait::async_trait;
use time::OffsetDateTime;

use super::{BeginUseError, CredentialType, CredentialUse, Provider, ProviderData, ProxyValue, UseId};
use crate::crypto::{EncryptionContext, SealedValue};
pub use crate::store::StoreError;
use crate::tenant::TenantId;

/// One tenant's credential for one partner and purpose: the unit of create-or-replace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialSlot {
    /// The owner.
    pub tenant: TenantId,
    /// The partner.
    pub provider: Provider,
    /// The purpose.
    pub credential_type: CredentialType,
}

impl CredentialSlot {
    /// The KMS encryption context (and AES-GCM associated data) of this slot's key: a sealed key
    /// only opens in the slot it was sealed for.
    pub fn encryption_context(&self) -> EncryptionContext {
        EncryptionContext::new([
            ("purpose", "cofre:banking-credential"),
            ("tenant_id", self.tenant.as_str()),
            ("provider", self.provider.as_str()),
            ("type", self.credential_type.as_str()),
        ])
    }
}

/// A slot's stored state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCredential {
    /// Which slot.
    pub slot: CredentialSlot,
    /// Stable across replacements.
    pub proxy: ProxyValue,
    /// The partner's non-secret fields, in clear.
    pub provider_data: ProviderData,
    /// The key, sealed under the slot's encryption context.
    pub sealed_key: SealedValue,
    /// 1 on create, +1 on each replace.
    pub version: u64,
    /// When the slot was first created.
    pub created_at: OffsetDateTime,
    /// When the key was last written.
    pub updated_at: OffsetDateTime,
    /// The `tracking_id` of the request that wrote this version, for audit.
    pub tracking_id: String,
    /// When the gateway last used it.
    pub last_used_at: Option<OffsetDateTime>,
}

/// The version a conditional write expects to replace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpectedVersion {
    /// The slot must not exist yet.
    Absent,
    /// The slot must be at exactly this version.
    Exactly(u64),
}

/// Why a conditional save did not happen.
#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    /// The slot was not at the expected version; here is what it holds now (read in the same round
    /// trip: DynamoDB's `ReturnValuesOnConditionCheckFailure = ALL_OLD`).
    #[error("the slot changed since it was read")]
    Conflict {
        /// The current state, `None` if the slot is now empty.
        current: Option<Box<StoredCredential>>,
    },
    /// The current state could not be read.
    #[error(transparent)]
    Read(StoreError),
    /// The write failed.
    #[error(transparent)]
    Write(StoreError),
}

impl From<StoreError> for SaveError {
    fn from(e: StoreError) -> Self {
        Self::Write(e)
    }
}

/// The port to credential storage: DynamoDB on AWS, the embedded store locally.
#[async_trait]
pub trait CredentialStore: Send + Sync {
    /// The slot's current state.
    async fn get(&self, slot: &CredentialSlot) -> Result<Option<StoredCredential>, StoreError>;

    /// Writes `record` whole, only if the slot is at `expected`: two writers that read the same version
    /// can never both succeed, and no write is ever half-applied.
    async fn save(&self, record: &StoredCredential, expected: ExpectedVersion) -> Result<(), SaveError>;

    /// The tenant's credential whose proxy is `proxy`, read consistently in one round trip: a
    /// revoked or replaced credential is never served from a stale read.
    async fn find_by_proxy(
        &self,
        tenant: &TenantId,
        proxy: &ProxyValue,
    ) -> Result<Option<StoredCredential>, StoreError>;

    /// Every credential of the tenant, in slot order.
    async fn list(&self, tenant: &TenantId) -> Result<Vec<StoredCredential>, StoreError>;

    /// Deletes the credential whose proxy is `proxy`; `false` if there was none. Its uses stay.
    async fn revoke(&self, tenant: &TenantId, proxy: &ProxyValue) -> Result<bool, StoreError>;

    /// Records `record` (pending) and the credential's `last_used_at`, in one atomic write that
    /// holds only while the credential is still at `record.credential_version` under its proxy.
    async fn begin_use(&self, record: &CredentialUse) -> Result<(), BeginUseError>;

    /// Records how `record` ended.
    async fn finish_use(&self, record: &CredentialUse) -> Result<(), StoreError>;

    /// Up to `limit` uses of the credential `proxy`, newest first, strictly older than `before`.
    async fn uses(
        &self,
        tenant: &TenantId,
        proxy: &ProxyValue,
        before: Option<&UseId>,
        limit: usize,
    ) -> Result<Vec<CredentialUse>, StoreError>;
}
