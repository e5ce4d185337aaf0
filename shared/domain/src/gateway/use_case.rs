use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method};

use super::sessions::{CachedToken, Session};
use super::{GatewayError, PartnerApi, PartnerPath, PartnerRequest, PartnerResponse, PartnerSessions};
use crate::clock::Clock;
use crate::credentials::{
    BeginUseError, CredentialStore, CredentialUse, PartnerError, PartnerLogin, Provider, ProxyValue, StoredCredential,
    UseId, UseOutcome,
};
use crate::crypto::{KeyService, open};
use crate::endpoints::{Endpoint, EndpointSettingsSource};
use crate::ids::IdSource;
use crate::secret::SecretString;
use crate::tenant::Identity;
use crate::tracking::TrackingId;

/// Request headers passed on to the partner; everything else (the caller's `Authorization` and
/// `account_token` above all) stays here.
pub const REQUEST_HEADERS: [&str; 4] = ["content-type", "accept", "idempotency-key", "x-idempotency-key"];
/// Response headers passed back to the caller.
pub const RESPONSE_HEADERS: [&str; 3] = ["content-type", "retry-after", "x-request-id"];
/// The largest request body forwarded.
pub const MAX_REQUEST_BODY: usize = 64 * 1024;
/// The largest partner answer passed back (well inside Lambda's 6 MB response limit).
pub const MAX_RESPONSE_BODY: usize = 1024 * 1024;

/// A call a tenant asks the gateway to make.
#[derive(Debug, Clone)]
pub struct GatewayCall {
    /// The method.
    pub method: Method,
    /// The checked partner path.
    pub path: PartnerPath,
    /// The request's headers; only [`REQUEST_HEADERS`] are passed on.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// The body.
    pub body: Bytes,
}

/// A failure of the partner leg, with the partner's status when it answered (for the audit).
struct Failure {
    error: GatewayError,
    partner_status: Option<u16>,
}

impl From<GatewayError> for Failure {
    fn from(error: GatewayError) -> Self {
        Self { error, partner_status: None }
    }
}

fn partner_failure(provider: Provider, e: PartnerError) -> GatewayError {
    match e {
        PartnerError::Rejected => GatewayError::CredentialRejected(provider),
        PartnerError::Unavailable(reason) => GatewayError::PartnerUnavailable { provider, reason },
        PartnerError::Timeout => GatewayError::PartnerTimeout(provider),
    }
}

/// The gateway use case; see the module documentation.
pub struct PartnerGateway {
    store: Arc<dyn CredentialStore>,
    keys: Arc<dyn KeyService>,
    partners: Arc<dyn PartnerApi>,
    settings: Arc<dyn EndpointSettingsSource>,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdSource>,
    sessions: PartnerSessions,
}

impl std::fmt::Debug for PartnerGateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartnerGateway").finish_non_exhaustive()
    }
}

impl PartnerGateway {
    /// Wires the use case to its ports. Its token cache lives as long as it does: one per
    /// execution environment.
    pub fn new(
        store: Arc<dyn CredentialStore>,
        keys: Arc<dyn KeyService>,
        partners: Arc<dyn PartnerApi>,
        settings: Arc<dyn EndpointSettingsSource>,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdSource>,
    ) -> Self {
        Self { store, keys, partners, settings, clock, ids, sessions: PartnerSessions::default() }
    }

    /// The token cache, for tests and metrics.
    pub fn sessions(&self) -> &PartnerSessions {
        &self.sessions
    }

    /// Makes `call` on the partner of `caller`'s credential `proxy` and returns the partner's answer.
    ///
    /// Round trips: one store read; the use recorded before the call and completed after (two
    /// writes); the partner call; and, only when no fresh token is cached, one key-service unwrap and
    /// one partner token call. Nothing is written and no partner is called unless the credential
    /// exists and the call is allowlisted.
    pub async fn call(
        &self,
        caller: &Identity,
        tracking_id: &TrackingId,
        proxy: &ProxyValue,
        call: GatewayCall,
    ) -> Result<PartnerResponse, GatewayError> {
        let started = Instant::now();
        if call.body.len() > MAX_REQUEST_BODY {
            return Err(GatewayError::BodyTooLarge);
        }
        let mut credential = self.read(caller, proxy).await?;
        let provider = credential.slot.provider;
        let settings = self.settings.settings().await.map_err(|e| {
            tracing::error!(error = %e, "partner settings unavailable");
            GatewayError::PartnerConfigNotFound(provider)
        })?;
        let endpoint = settings.endpoint(provider.as_str()).ok_or(GatewayError::PartnerConfigNotFound(provider))?;
        let segments = call.path.segments();
        let route = endpoint
            .routes
            .get(credential.slot.credential_type.as_str())
            .and_then(|rules| rules.iter().find(|rule| rule.matches(call.method.as_str(), &segments)))
            .ok_or(GatewayError::NotAllowed)?;
        tracing::Span::current().record("route", route.path.as_str());

        let now = self.clock.now();
        let mut record = CredentialUse {
            id: UseId::new(now, self.ids.random_u64()),
            slot: credential.slot.clone(),
            proxy: proxy.clone(),
            credential_version: credential.version,
            subject: caller.subject.clone(),
            method: call.method.to_string(),
            route: route.path.clone(),
            tracking_id: tracking_id.to_string(),
            started_at: now,
            outcome: UseOutcome::Pending,
        };
        // A replace or revoke between the read and this write fails its condition: read again once.
        let mut attempts = 0;
        loop {
            match self.store.begin_use(&record).await {
                Ok(()) => break,
                Err(BeginUseError::CredentialChanged) if attempts == 0 => {
                    attempts += 1;
                    credential = self.read(caller, proxy).await?;
                    record.credential_version = credential.version;
                }
                Err(e) => return Err(GatewayError::Save(e.to_string())),
            }
        }

        let request = PartnerRequest {
            method: call.method,
            path: call.path.path().to_owned(),
            query: call.path.query().map(str::to_owned),
            headers: call.headers.into_iter().filter(|(name, _)| REQUEST_HEADERS.contains(&name.as_str())).collect(),
            body: call.body,
        };
        let outcome = self.forward(&credential, endpoint, &request).await;
        let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        record.outcome = match &outcome {
            Ok(response) => UseOutcome::Answered { partner_status: response.status, duration_ms },
            Err(failure) => UseOutcome::Failed {
                code: failure.error.code().to_owned(),
                partner_status: failure.partner_status,
                duration_ms,
            },
        };
        // The pending record already proves the call was made; failing to complete it must not turn
        // an answer the partner gave into an error the tenant would retry.
        if let Err(e) = self.store.finish_use(&record).await {
            tracing::error!(error = %e, use_id = %record.id, "credential use left pending");
        }
        let status = record.outcome.as_str();
        tracing::info!(%provider, outcome = status, duration_ms, "partner call finished");
        outcome.map_err(|failure| failure.error)
    }

    /// The credential, or `NotFound` (its cached token dropped).
    async fn read(&self, caller: &Identity, proxy: &ProxyValue) -> Result<StoredCredential, GatewayError> {
        match self.store.find_by_proxy(&caller.tenant, proxy).await {
            Ok(Some(credential)) => Ok(credential),
            Ok(None) => {
                self.sessions.forget(&caller.tenant, proxy);
                Err(GatewayError::NotFound)
            }
            Err(e) => Err(GatewayError::Get(e.to_string())),
        }
    }

    async fn forward(
        &self,
        credential: &StoredCredential,
        endpoint: &Endpoint,
        request: &PartnerRequest,
    ) -> Result<PartnerResponse, Failure> {
        let provider = credential.slot.provider;
        let send = |token: Arc<CachedToken>| async move {
            let response = self
                .partners
                .forward(endpoint, &token.token.value, request)
                .await
                .map_err(|e| Failure::from(partner_failure(provider, e)))?;
            Ok::<_, Failure>((token, response))
        };
        let (mut token, mut response) = send(self.token(credential, endpoint, None).await?).await?;
        if response.status == 401 {
            tracing::warn!(%provider, "partner refused the cached access token; refreshing once");
            (token, response) = send(self.token(credential, endpoint, Some(&token)).await?).await?;
            if response.status == 401 {
                return Err(Failure { error: GatewayError::SessionRejected(provider), partner_status: Some(401) });
            }
        }
        if !matches!(response.status, 200..=299 | 400..=499) {
            let reason = format!("partner answered HTTP {}", response.status);
            let error = GatewayError::PartnerUnavailable { provider, reason };
            return Err(Failure { error, partner_status: Some(response.status) });
        }
        // A partner that echoes the Authorization header back (a debug endpoint, an error page) would
        // hand its token to the tenant. Tokens shorter than this are not searched for: they would
        // match ordinary text, and no partner issues them.
        const MIN_SEARCHED_TOKEN: usize = 16;
        let secret = token.token.value.expose().as_bytes();
        let echoes =
            |bytes: &[u8]| secret.len() >= MIN_SEARCHED_TOKEN && bytes.windows(secret.len()).any(|w| w == secret);
        if echoes(&response.body) || response.headers.iter().any(|(_, v)| echoes(v.as_bytes())) {
            let reason = "partner answer contains the access token".to_owned();
            return Err(Failure {
                error: GatewayError::PartnerUnavailable { provider, reason },
                partner_status: Some(response.status),
            });
        }
        response.headers.retain(|(name, _)| RESPONSE_HEADERS.contains(&name.as_str()));
        Ok(response)
    }

    /// A fresh token for `credential`: the cached one unless it is `stale` (refused by the partner)
    /// or near expiry; otherwise the key is opened and the partner asked, once for all waiters.
    async fn token(
        &self,
        credential: &StoredCredential,
        endpoint: &Endpoint,
        stale: Option<&Arc<CachedToken>>,
    ) -> Result<Arc<CachedToken>, Failure> {
        let entry = self.sessions.entry(&credential.slot.tenant, &credential.proxy);
        let mut session = entry.lock().await;
        if session.version > credential.version {
            // Another request already read a newer version: this read is stale, so its token is
            // not worth caching.
            return Ok(Arc::new(self.issue(credential, endpoint).await?));
        }
        if session.version < credential.version {
            *session = Session { version: credential.version, token: None };
        }
        if let Some(cached) = &session.token {
            let refused = stale.is_some_and(|s| Arc::ptr_eq(s, cached));
            if cached.fresh(self.clock.now()) && !refused {
                return Ok(Arc::clone(cached));
            }
        }
        session.token = None;
        let token = Arc::new(self.issue(credential, endpoint).await?);
        session.token = Some(Arc::clone(&token));
        Ok(token)
    }

    /// Opens the key (one key-service call) and asks the partner for a token (one partner call).
    async fn issue(&self, credential: &StoredCredential, endpoint: &Endpoint) -> Result<CachedToken, Failure> {
        let provider = credential.slot.provider;
        let context = credential.slot.encryption_context();
        let opened = open(self.keys.as_ref(), &context, &credential.sealed_key)
            .await
            .map_err(|e| Failure::from(GatewayError::Crypto(e.to_string())))?;
        let key = String::from_utf8(opened.expose().clone())
            .map(SecretString::new)
            .map_err(|_| Failure::from(GatewayError::Crypto("the opened key is not UTF-8".into())))?;
        let login = PartnerLogin { provider, provider_data: &credential.provider_data, key: &key };
        let token = self
            .partners
            .issue_token(endpoint, login)
            .await
            .map_err(|e| Failure::from(partner_failure(provider, e)))?;
        tracing::info!(%provider, lifetime_s = token.lifetime.as_secs(), "partner access token issued");
        Ok(CachedToken::new(token, self.clock.now()))
    }
}
