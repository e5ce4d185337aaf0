use std::sync::Arc;

use super::{
    CredentialError, CredentialRequest, CredentialSlot, CredentialStore, CredentialUse, CredentialWrite,
    PartnerAuthenticator, PartnerError, ProxyValue, StoredCredential, UseId,
};
use crate::clock::Clock;
use crate::crypto::{EnvelopeError, KeyService, seal_verified};
use crate::endpoints::EndpointSettingsSource;
use crate::ids::IdSource;
use crate::store::StoreError;
use crate::tenant::TenantId;
use crate::tracking::TrackingId;

/// What a successful create-or-replace tells the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedCredential {
    /// The slot's proxy value.
    pub proxy: ProxyValue,
    /// `true` when the slot did not exist before, `false` on a replace (both answer 201).
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
    /// Round trips: one partner call, one `GenerateDataKey`, one write. Once the partner accepted the
    /// key, a replace is last-writer-wins: the store decides the version inside that one write, so
    /// concurrent replaces of a slot all succeed, each at its own version. Every failure leaves the
    /// slot as it was.
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

        let write = CredentialWrite {
            slot,
            proxy: ProxyValue::mint(self.ids.as_ref()),
            provider_data: request.provider_data,
            sealed_key,
            at: self.clock.now(),
            tracking_id: tracking_id.to_string(),
        };
        let stored = self.store.put(&write).await.map_err(|e| match e {
            StoreError::Corrupt(_) => CredentialError::Get(e.to_string()),
            StoreError::Unavailable(_) => CredentialError::Save(e.to_string()),
        })?;
        let created = stored.version == 1;
        tracing::info!(%provider, version = stored.version, created, "credential saved");
        Ok(SavedCredential { proxy: stored.proxy, created, version: stored.version })
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
