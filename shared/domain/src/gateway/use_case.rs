use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method};

use super::sessions::{CachedToken, Session, Warm};
use super::{GatewayError, PartnerApi, PartnerPath, PartnerRequest, PartnerResponse, PartnerSessions};
use crate::clock::Clock;
use crate::credentials::{
    BeginUseError, CredentialSlot, CredentialStore, CredentialUse, PartnerError, PartnerLogin, Provider, ProxyValue,
    StoredCredential, UseId, UseOutcome,
};
use crate::crypto::{KeyService, open};
use crate::endpoints::{Endpoint, EndpointSettings, EndpointSettingsSource, RouteRule};
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

/// What a use knows of its credential: the slot and version, from the session cache on the warm
/// path, and the stored credential (sealed key included) once the store has been read.
struct Lease {
    slot: CredentialSlot,
    version: u64,
    credential: Option<StoredCredential>,
}

impl Lease {
    fn stored(credential: StoredCredential) -> Self {
        Self { slot: credential.slot.clone(), version: credential.version, credential: Some(credential) }
    }

    /// Takes what the store holds now. The slot stays: a proxy never moves to another slot, and
    /// the use was allowlisted and recorded under this one.
    fn adopt(&mut self, credential: StoredCredential) {
        self.version = credential.version;
        self.credential = Some(credential);
    }
}

/// The partner's endpoint and the allowlist rule `call` matches. It depends on the slot alone, so a
/// warm use decides it from the cache, before anything is written.
fn allowed<'a>(
    settings: &'a EndpointSettings,
    slot: &CredentialSlot,
    call: &GatewayCall,
) -> Result<(&'a Endpoint, &'a RouteRule), GatewayError> {
    let provider = slot.provider;
    let endpoint = settings.endpoint(provider.as_str()).ok_or(GatewayError::PartnerConfigNotFound(provider))?;
    let segments = call.path.segments();
    let route = endpoint
        .routes
        .get(slot.credential_type.as_str())
        .and_then(|rules| rules.iter().find(|rule| rule.matches(call.method.as_str(), &segments)))
        .ok_or(GatewayError::NotAllowed)?;
    Ok((endpoint, route))
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
    /// Round trips, warm (a fresh token cached for the tenant's proxy): the use recorded before the
    /// call on condition that the credential is still at the cached version (one write), the partner
    /// call, the use completed (one write); the store is not read. Cold: one store read first, then
    /// the same, plus one key-service unwrap and one partner token call. A warm use whose condition
    /// fails (the credential was replaced or revoked elsewhere) reads once and goes on as a cold one.
    /// Nothing is written and no partner is called unless the credential exists (read, or proven by
    /// that condition) and the call is allowlisted.
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
        let mut lease = match self.sessions.warm(&caller.tenant, proxy, self.clock.now()).await {
            Some(Warm { slot, version }) => Lease { slot, version, credential: None },
            None => Lease::stored(self.read(caller, proxy).await?),
        };
        let provider = lease.slot.provider;
        let settings = match self.settings.settings().await {
            Ok(settings) => settings,
            Err(e) => {
                tracing::error!(error = %e, "partner settings unavailable");
                return Err(self.refused(caller, proxy, &lease, GatewayError::PartnerConfigNotFound(provider)).await);
            }
        };
        let (endpoint, route) = match allowed(&settings, &lease.slot, &call) {
            Ok(allowed) => allowed,
            Err(refusal) => return Err(self.refused(caller, proxy, &lease, refusal).await),
        };
        tracing::Span::current().record("route", route.path.as_str());

        let now = self.clock.now();
        let mut record = CredentialUse {
            id: UseId::new(now, self.ids.random_u64()),
            slot: lease.slot.clone(),
            proxy: proxy.clone(),
            credential_version: lease.version,
            subject: caller.subject.clone(),
            method: call.method.to_string(),
            route: route.path.clone(),
            tracking_id: tracking_id.to_string(),
            started_at: now,
            outcome: UseOutcome::Pending,
        };
        // A replace or revoke since the lease was taken fails the condition: read, then try again. A
        // cold lease was read just before, so once; a warm one has read nothing yet, so its first
        // failure costs the read the cache saved, and the cold path's one retry still follows.
        let mut rereads = if lease.credential.is_some() { 1 } else { 2 };
        loop {
            match self.store.begin_use(&record).await {
                Ok(()) => break,
                Err(BeginUseError::CredentialChanged) if rereads > 0 => {
                    rereads -= 1;
                    lease.adopt(self.read(caller, proxy).await?);
                    record.credential_version = lease.version;
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
        let outcome = self.forward(caller, proxy, &mut lease, endpoint, &request).await;
        // A warm use that had to issue a token read the credential then, and may have found it
        // replaced since its pending record: the completion names the version whose key was used.
        record.credential_version = lease.version;
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

    /// `refusal`, or `NotFound` if the credential is gone. A cold use read the store before it could
    /// be refused, so a revoked proxy is a 404 before it is anything else; a warm use has read
    /// nothing, and reads once here so that a refusal answers the same in a warm container.
    async fn refused(
        &self,
        caller: &Identity,
        proxy: &ProxyValue,
        lease: &Lease,
        refusal: GatewayError,
    ) -> GatewayError {
        if lease.credential.is_none()
            && let Err(e) = self.read(caller, proxy).await
        {
            return e;
        }
        refusal
    }

    async fn forward(
        &self,
        caller: &Identity,
        proxy: &ProxyValue,
        lease: &mut Lease,
        endpoint: &Endpoint,
        request: &PartnerRequest,
    ) -> Result<PartnerResponse, Failure> {
        let provider = lease.slot.provider;
        let send = |token: Arc<CachedToken>| async move {
            let response = self
                .partners
                .forward(endpoint, &token.token.value, request)
                .await
                .map_err(|e| Failure::from(partner_failure(provider, e)))?;
            Ok::<_, Failure>((token, response))
        };
        let (mut token, mut response) = send(self.token(caller, proxy, lease, endpoint, None).await?).await?;
        if response.status == 401 {
            tracing::warn!(%provider, "partner refused the cached access token; refreshing once");
            (token, response) = send(self.token(caller, proxy, lease, endpoint, Some(&token)).await?).await?;
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

    /// A fresh token for the lease's credential: the cached one unless it is `stale` (refused by the
    /// partner) or near expiry; otherwise the key is opened and the partner asked, once for all
    /// waiters. Only a token to issue needs the sealed key: a warm lease reads the credential here,
    /// and takes its version (the cache may hold a fresh token for it already).
    async fn token(
        &self,
        caller: &Identity,
        proxy: &ProxyValue,
        lease: &mut Lease,
        endpoint: &Endpoint,
        stale: Option<&Arc<CachedToken>>,
    ) -> Result<Arc<CachedToken>, Failure> {
        let entry = self.sessions.entry(&caller.tenant, proxy);
        let mut session = entry.lock().await;
        loop {
            if session.version < lease.version {
                *session = Session { version: lease.version, ..Session::default() };
            }
            if session.version == lease.version
                && let Some(cached) = &session.token
            {
                let refused = stale.is_some_and(|s| Arc::ptr_eq(s, cached));
                if cached.fresh(self.clock.now()) && !refused {
                    return Ok(Arc::clone(cached));
                }
            }
            let Some(credential) = &lease.credential else {
                lease.adopt(self.read(caller, proxy).await?);
                continue;
            };
            if session.version > credential.version {
                // Another request already read a newer version: this read is stale, so its token is
                // not worth caching.
                return Ok(Arc::new(self.issue(credential, endpoint).await?));
            }
            session.token = None;
            let token = Arc::new(self.issue(credential, endpoint).await?);
            session.slot = Some(credential.slot.clone());
            session.token = Some(Arc::clone(&token));
            return Ok(token);
        }
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
