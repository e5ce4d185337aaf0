//! Partner access tokens, cached in the function's memory per credential and version.
//!
//! One entry per (tenant, proxy), holding the version its token was issued for and the slot it
//! belongs to: with a fresh token, that is all a use needs to know of the credential, so a warm use
//! does not read the store. It does not trust the entry either: the use is recorded on condition
//! that the credential is still at that version under that proxy, so a replace or a revoke made by
//! any other instance fails the write, and the use case reads the store, drops the entry (revoked)
//! or moves it to the new version (replaced, so the old token is never reused). The sealed key is
//! never kept here; it is read when a token has to be issued. Each entry sits behind an async mutex
//! held while a token is fetched, so concurrent first uses share one token call.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use time::OffsetDateTime;

use super::AccessToken;
use crate::credentials::{CredentialSlot, ProxyValue};
use crate::tenant::TenantId;

/// The longest a token is refreshed ahead of its expiry.
const MAX_REFRESH_MARGIN: Duration = Duration::from_secs(60);

/// A token in the cache.
#[derive(Debug)]
pub struct CachedToken {
    /// The token.
    pub token: AccessToken,
    /// When it stops being used: the partner's expiry less a margin (a fifth of its life, at most
    /// a minute), so a call never starts with a token about to lapse.
    pub refresh_at: OffsetDateTime,
}

impl CachedToken {
    /// Caches `token`, issued at `now`.
    pub fn new(token: AccessToken, now: OffsetDateTime) -> Self {
        let margin = (token.lifetime / 5).min(MAX_REFRESH_MARGIN);
        let refresh_at = now + token.lifetime.saturating_sub(margin);
        Self { token, refresh_at }
    }

    /// Whether it may still be used at `now`.
    pub fn fresh(&self, now: OffsetDateTime) -> bool {
        now < self.refresh_at
    }
}

/// One credential's session: the version it belongs to and its token, if any.
#[derive(Debug, Default)]
pub struct Session {
    /// The credential version the token was issued for.
    pub version: u64,
    /// The credential's slot, set with the token: its provider and type pick the partner and the
    /// allowlist of a warm use, which reads nothing else.
    pub slot: Option<CredentialSlot>,
    /// The token.
    pub token: Option<Arc<CachedToken>>,
}

/// What a warm use takes from the cache in place of a store read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warm {
    /// The credential's slot.
    pub slot: CredentialSlot,
    /// The version the cached token was issued for, which the use's write is conditioned on.
    pub version: u64,
}

type Entry = Arc<tokio::sync::Mutex<Session>>;

/// The cache; see the module documentation.
#[derive(Debug, Default)]
pub struct PartnerSessions {
    entries: Mutex<HashMap<(TenantId, String), Entry>>,
}

impl PartnerSessions {
    /// The entry of `proxy`, created empty if absent.
    pub fn entry(&self, tenant: &TenantId, proxy: &ProxyValue) -> Entry {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(entries.entry((tenant.clone(), proxy.as_str().to_owned())).or_default())
    }

    /// The slot and version of `proxy` if a token fresh at `now` is cached for it; `None` otherwise,
    /// without creating an entry (proxies that do not exist must not grow the cache).
    pub async fn warm(&self, tenant: &TenantId, proxy: &ProxyValue, now: OffsetDateTime) -> Option<Warm> {
        let entry = {
            let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
            Arc::clone(entries.get(&(tenant.clone(), proxy.as_str().to_owned()))?)
        };
        let session = entry.lock().await;
        let fresh = session.token.as_ref().is_some_and(|token| token.fresh(now));
        let slot = session.slot.clone().filter(|_| fresh)?;
        Some(Warm { slot, version: session.version })
    }

    /// Forgets `proxy`'s token (the credential is gone).
    pub fn forget(&self, tenant: &TenantId, proxy: &ProxyValue) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries.remove(&(tenant.clone(), proxy.as_str().to_owned()));
    }

    /// How many credentials have an entry.
    pub fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner).len()
    }

    /// Whether no credential has an entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::SecretString;

    #[test]
    fn tokens_are_refreshed_ahead_of_expiry_by_a_bounded_margin() {
        let now = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        let token = |secs| AccessToken { value: SecretString::from("t"), lifetime: Duration::from_secs(secs) };
        let short = CachedToken::new(token(100), now);
        assert_eq!(short.refresh_at, now + Duration::from_secs(80));
        let long = CachedToken::new(token(3600), now);
        assert_eq!(long.refresh_at, now + Duration::from_secs(3540));
        assert!(long.fresh(now + Duration::from_secs(3539)) && !long.fresh(now + Duration::from_secs(3540)));
    }

    #[tokio::test]
    async fn only_a_fresh_token_makes_a_use_warm_and_only_for_its_tenant() {
        use crate::credentials::{CredentialType, Provider};
        let now = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        let (tenant, other) = (TenantId::parse("tenant-a").unwrap(), TenantId::parse("tenant-b").unwrap());
        let proxy = ProxyValue::from_stored("cfp_a".to_owned());
        let slot =
            CredentialSlot { tenant: tenant.clone(), provider: Provider::Btg, credential_type: CredentialType::Pix };
        let sessions = PartnerSessions::default();
        assert_eq!(sessions.warm(&tenant, &proxy, now).await, None);
        assert!(sessions.is_empty(), "asking does not create an entry");

        let entry = sessions.entry(&tenant, &proxy);
        *entry.lock().await = Session { version: 3, ..Session::default() };
        assert_eq!(sessions.warm(&tenant, &proxy, now).await, None, "no token yet");
        let token = AccessToken { value: SecretString::from("t"), lifetime: Duration::from_secs(100) };
        entry.lock().await.token = Some(Arc::new(CachedToken::new(token, now)));
        assert_eq!(sessions.warm(&tenant, &proxy, now).await, None, "a token without its slot");
        entry.lock().await.slot = Some(slot.clone());
        assert_eq!(sessions.warm(&tenant, &proxy, now).await, Some(Warm { slot, version: 3 }));
        assert_eq!(sessions.warm(&other, &proxy, now).await, None, "another tenant, the same proxy text");
        assert_eq!(sessions.warm(&tenant, &proxy, now + Duration::from_secs(80)).await, None, "in the refresh window");
        sessions.forget(&tenant, &proxy);
        assert_eq!(sessions.warm(&tenant, &proxy, now).await, None, "forgotten");
    }
}
