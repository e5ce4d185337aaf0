//! Partner access tokens, cached in the function's memory per credential and version.
//!
//! One entry per (tenant, proxy), holding the version its token was issued for: a replaced
//! credential (new version) misses at once, and a revoked one is never looked up (the use case
//! reads the store first and drops the entry). Each entry sits behind an async mutex held while a
//! token is fetched, so concurrent first uses share one token call.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use time::OffsetDateTime;

use super::AccessToken;
use crate::credentials::ProxyValue;
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
    /// The token.
    pub token: Option<Arc<CachedToken>>,
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
}
