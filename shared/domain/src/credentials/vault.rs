use std::sync::Arc;
use std::time::Duration;

use super::{
    CredentialError, CredentialRequest, CredentialSlot, CredentialStore, CredentialUse, ExpectedVersion,
    PartnerAuthenticator, PartnerError, ProxyValue, SaveError, StoredCredential, UseId,
};
use crate::clock::Clock;
use crate::crypto::{EnvelopeError, KeyService, seal_verified};
use crate::endpoints::EndpointSettingsSource;
use crate::ids::IdSource;
use crate::tenant::TenantId;
use crate::tracking::TrackingId;

/// How many times a save is retried when a concurrent replace of the same slot wins the race.
/// Each failed attempt returns the winner's version, so N concurrent writers need at most N attempts.
const MAX_SAVE_ATTEMPTS: u32 = 32;

/// What a successful create-or-replace tells the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedCredential {
    /// The slot's proxy value.
    pub proxy: ProxyValue,
    /// `true` when the slot did not exist before (201), `false` on replace (200).
    pub created: bool,
    /// The version now stored.
    pub version: u64,
}

/// The banking-credential use case: test the key with the partner, seal it, store it, hand back a
/// proxy. Knows only ports; the adapters decide whether that means AWS or the local stand-ins.
pub struct CredentialVault {
    store: Arc<dyn CredentialStore>,
    keys: Arc<dyn KeyService>,
    partners: Arc<dyn PartnerAuthenticator>,
    settings: Arc<dyn EndpointSettingsSource>,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdSource>,
}

impl std::fmt::Debug for CredentialVault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialVault").finish_non_exhaustive()
    }
}

impl CredentialVault {
    /// Wires the use case to its ports.
    pub fn new(
        store: Arc<dyn CredentialStore>,
        keys: Arc<dyn KeyService>,
        partners: Arc<dyn PartnerAuthenticator>,
        settings: Arc<dyn EndpointSettingsSource>,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdSource>,
    ) -> Self {
        Self { store, keys, partners, settings, clock, ids }
    }

    /// Creates or replaces `tenant`'s credential for the request's partner and type.
    ///
    /// Round trips: one partner call, one `GenerateDataKey`, one conditional write (plus one more
    /// write per concurrent replace that wins first). Every failure leaves the slot as it was.
    pub async fn create_or_replace(
        &self,
        tenant: &TenantId,
        tracking_id: &TrackingId,
        request: CredentialRequest,
    ) -> Result<SavedCredential, CredentialError> {
        let provider = request.provider;
        let settings = self.settings.settings().await.map_err(|e| {
            tracing::error!(error = %e, "partner settings unavailable");
            CredentialError::PartnerConfigNotFound(provider)
        })?;
        let endpoint = settings.endpoint(provider.as_str()).ok_or(CredentialError::PartnerConfigNotFound(provider))?;

        self.partners.authenticate(endpoint, &request).await.map_err(|e| match e {
            PartnerError::Rejected => CredentialError::InvalidCredential(provider),
            PartnerError::Unavailable(reason) => CredentialError::PartnerUnavailable { provider, reason },
            PartnerError::Timeout => CredentialError::PartnerTimeout(provider),
        })?;
        tracing::info!(%provider, "partner accepted the credential");

        let slot = CredentialSlot { tenant: tenant.clone(), provider, credential_type: request.credential_type };
        let sealed_key = seal_verified(self.keys.as_ref(), &slot.encryption_context(), request.key.expose().as_bytes())
            .await
            .map_err(|e| match e {
                EnvelopeError::Mismatch => CredentialError::EncryptionMismatch,
                other => CredentialError::Crypto(other.to_string()),
            })?;
        drop(request.key);

        let now = self.clock.now();
        let mut record = StoredCredential {
            slot,
            proxy: ProxyValue::mint(self.ids.as_ref()),
            provider_data: request.provider_data,
            sealed_key,
            version: 1,
            created_at: now,
            updated_at: now,
            tracking_id: tracking_id.to_string(),
            last_used_at: None,
        };
        let mut expected = ExpectedVersion::Absent;
        for attempt in 1..=MAX_SAVE_ATTEMPTS {
            match self.store.save(&record, expected).await {
                Ok(()) => {
                    let created = expected == ExpectedVersion::Absent;
                    tracing::info!(%provider, version = record.version, created, attempt, "credential saved");
                    return Ok(SavedCredential { proxy: record.proxy, created, version: record.version });
                }
                // Our own write, already applied: the SDK retried a write whose answer was lost, and
                // the retry met the item the first attempt wrote. The sealed value (random data key
                // and nonce) is unique to this request, so it identifies the write.
                Err(SaveError::Conflict { current: Some(current) }) if current.sealed_key == record.sealed_key => {
                    let created = current.version == 1;
                    tracing::info!(%provider, version = current.version, created, attempt, "credential saved (retried write)");
                    return Ok(SavedCredential { proxy: current.proxy, created, version: current.version });
                }
                Err(SaveError::Conflict { current: Some(current) }) => {
                    record.proxy = current.proxy;
                    record.created_at = current.created_at;
                    record.last_used_at = current.last_used_at;
                    record.version = current.version + 1;
                    expected = ExpectedVersion::Exactly(current.version);
                }
                Err(SaveError::Conflict { current: None }) => {
                    record.version = 1;
                    record.created_at = now;
                    expected = ExpectedVersion::Absent;
                }
                Err(SaveError::Read(e)) => return Err(CredentialError::Get(e.to_string())),
                Err(SaveError::Write(e)) => return Err(CredentialError::Save(e.to_string())),
            }
            if attempt > 1 {
                // Several writers are racing for this slot: spread the retries out a little.
                tokio::time::sleep(Duration::from_millis(u64::from(attempt.min(10)) * 3)).await;
            }
        }
        Err(CredentialError::Save(format!("gave up after {MAX_SAVE_ATTEMPTS} concurrent replaces")))
    }

    /// The tenant's credentials (never their keys).
    pub async fn list(&self, tenant: &TenantId) -> Result<Vec<StoredCredential>, CredentialError> {
        self.store.list(tenant).await.map_err(|e| CredentialError::Get(e.to_string()))
    }

    /// A page of the uses of `proxy`, newest first. A proxy the tenant never had is `NotFound`; a
    /// revoked one still shows its uses, which outlive it.
    pub async fn uses(
        &self,
        tenant: &TenantId,
        proxy: &ProxyValue,
        before: Option<&UseId>,
        limit: usize,
    ) -> Result<Vec<CredentialUse>, CredentialError> {
        let get = |e: crate::store::StoreError| CredentialError::Get(e.to_string());
        let page = self.store.uses(tenant, proxy, before, limit).await.map_err(get)?;
        if page.is_empty() {
            // An empty page (a cursor past the end, or no uses yet) is a 404 only for a proxy the
            // tenant never had: no credential now and no use ever.
            let ever_used = before.is_some() && !self.store.uses(tenant, proxy, None, 1).await.map_err(get)?.is_empty();
            if !ever_used && self.store.find_by_proxy(tenant, proxy).await.map_err(get)?.is_none() {
                return Err(CredentialError::NotFound);
            }
        }
        Ok(page)
    }

    /// Revokes `proxy`: the sealed key is deleted, so the next use of the proxy is a 404 wherever it
    /// runs (every use reads the store). Its uses stay, for the audit.
    pub async fn revoke(&self, tenant: &TenantId, proxy: &ProxyValue) -> Result<(), CredentialError> {
        match self.store.revoke(tenant, proxy).await {
            Ok(true) => {
                tracing::info!("credential revoked");
                Ok(())
            }
            Ok(false) => Err(CredentialError::NotFound),
            Err(e) => Err(CredentialError::Save(e.to_string())),
        }
    }
}
