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

/// A create-or-replace of one slot: what the request decides. The store decides the rest inside the
/// write itself, from what the slot holds at that moment: the version (1 on a create, the slot's + 1 on
/// a replace) and, on a replace, the proxy, `created_at` and `last_used_at` the slot already has.
///
/// The encryption context the key is sealed under names the slot only (never the version), so what
/// the write decides cannot make the sealed key unopenable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialWrite {
    /// Which slot.
    pub slot: CredentialSlot,
    /// The proxy if this write creates the slot; a replace keeps the slot's.
    pub proxy: ProxyValue,
    /// The partner's non-secret fields, in clear.
    pub provider_data: ProviderData,
    /// The key, sealed under the slot's encryption context. Its wrapped data key is unique to this
    /// request, so it also tells this write from any other.
    pub sealed_key: SealedValue,
    /// When the key was written (and the slot created, on a create).
    pub at: OffsetDateTime,
    /// The `tracking_id` of the request, for audit.
    pub tracking_id: String,
}

impl CredentialWrite {
    /// The slot's state after this write, given what it held before (`None`: empty).
    pub fn applied_to(&self, current: Option<&StoredCredential>) -> StoredCredential {
        StoredCredential {
            slot: self.slot.clone(),
            proxy: current.map_or_else(|| self.proxy.clone(), |c| c.proxy.clone()),
            provider_data: self.provider_data.clone(),
            sealed_key: self.sealed_key.clone(),
            version: current.map_or(1, |c| c.version + 1),
            created_at: current.map_or(self.at, |c| c.created_at),
            updated_at: self.at,
            tracking_id: self.tracking_id.clone(),
            last_used_at: current.and_then(|c| c.last_used_at),
        }
    }

    /// Whether `stored` is this write, already applied (its sealed key is this request's).
    pub fn is_stored_in(&self, stored: &StoredCredential) -> bool {
        stored.slot == self.slot && stored.sealed_key == self.sealed_key
    }
}

/// The port to credential storage: DynamoDB on AWS, the embedded store locally.
#[async_trait]
pub trait CredentialStore: Send + Sync {
    /// The slot's current state.
    async fn get(&self, slot: &CredentialSlot) -> Result<Option<StoredCredential>, StoreError>;

    /// Creates or replaces the slot of `write` in one atomic write (one round trip) that decides the
    /// version inside the write: last writer wins, so concurrent writes to one slot all succeed, each
    /// at its own version (strictly increasing), and the slot ends holding the last one whole. Returns
    /// the slot as this write left it (version 1: created).
    ///
    /// The same write sent again while the slot still holds it (the SDK retrying a write whose answer
    /// was lost) changes nothing and returns the slot as it is. An unreadable item in the slot is
    /// `Corrupt`, and left as it is.
    async fn put(&self, write: &CredentialWrite) -> Result<StoredCredential, StoreError>;

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

    /// Records how `record` ended, after every write of the use before it: a listing of uses that
    /// starts after this returns shows it. A store that does not sync the completion may return
    /// once the write is queued, in that order, rather than done: a failure (a use never begun) is
    /// then logged, not returned, and a crash of the process before the write leaves the use
    /// `PENDING`, as a crash before this call would.
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
