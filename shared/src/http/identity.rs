use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{FromRef, FromRequestParts};
use http::request::Parts;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use lambda_http::request::RequestContext;
use serde::{Deserialize, Serialize};

use super::AuthError;
use crate::secret::SecretBytes;
use crate::tenant::{Identity, TenantId};

/// How a request proves who it is. One [`Identity`] extractor serves both deployments.
#[derive(Clone, Debug)]
pub enum Authenticator {
    /// On Lambda behind API Gateway's JWT authorizer: the gateway verified the token, the function
    /// reads the claims from the request context and never sees a signing key.
    ApiGatewayJwt,
    /// Locally: HS256 tokens signed with the keyring's key, verified here.
    LocalHs256(Arc<LocalTokens>),
}

/// The claims Cofre reads.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TokenClaims {
    /// The organisation.
    pub tenant_id: String,
    /// The subject (key or user id).
    pub sub: String,
    /// A display name for audit fields.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Space-separated OAuth scopes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Issuer.
    pub iss: String,
    /// Expiry, seconds since the epoch.
    pub exp: u64,
}

/// The local server's token issuer and verifier.
pub struct LocalTokens {
    key: SecretBytes,
}

impl std::fmt::Debug for LocalTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LocalTokens")
    }
}

impl LocalTokens {
    /// The `iss` of every local token.
    pub const ISSUER: &'static str = "cofre-local";

    /// Tokens signed with `key` (the keyring's token signing key).
    pub fn new(key: SecretBytes) -> Self {
        Self { key }
    }

    /// Signs a token for `tenant`, valid for `ttl`, with optional space-separated `scope`.
    pub fn mint(&self, tenant: &TenantId, scope: Option<&str>, ttl: Duration) -> Result<String, AuthError> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        let claims = TokenClaims {
            tenant_id: tenant.to_string(),
            sub: format!("local:{tenant}"),
            name: Some("Local".to_owned()),
            scope: scope.map(str::to_owned),
            iss: Self::ISSUER.to_owned(),
            exp: (now + ttl).as_secs(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(self.key.expose()))
            .map_err(|_| AuthError::Invalid)
    }

    /// Verifies signature, algorithm, issuer and expiry.
    pub fn verify(&self, token: &str) -> Result<TokenClaims, AuthError> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[Self::ISSUER]);
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        validation.leeway = 30;
        jsonwebtoken::decode::<TokenClaims>(token, &DecodingKey::from_secret(self.key.expose()), &validation)
            .map(|data| data.claims)
            .map_err(|_| AuthError::Invalid)
    }
}

/// The bearer token of `Authorization: Bearer …` or of Pismo's `account_token` header.
fn bearer_token(parts: &Parts) -> Result<&str, AuthError> {
    let header = parts
        .headers
        .get(http::header::AUTHORIZATION)
        .or_else(|| parts.headers.get("account_token"))
        .ok_or(AuthError::Missing)?;
    let value = header.to_str().map_err(|_| AuthError::Invalid)?.trim();
    let token = match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
        Some(_) => return Err(AuthError::Invalid),
        None => value,
    };
    if token.is_empty() { Err(AuthError::Invalid) } else { Ok(token) }
}

fn identity(
    tenant_id: &str,
    subject: Option<&str>,
    principal: Option<&str>,
    scope: Option<&str>,
) -> Result<Identity, AuthError> {
    Ok(Identity {
        tenant: TenantId::parse(tenant_id).map_err(|_| AuthError::Invalid)?,
        principal: principal.unwrap_or("unknown").to_owned(),
        subject: subject.unwrap_or("unknown").to_owned(),
        scopes: scope.unwrap_or_default().split_whitespace().map(str::to_owned).collect(),
    })
}

impl Authenticator {
    /// Establishes who sent the request.
    pub fn identify(&self, parts: &Parts) -> Result<Identity, AuthError> {
        match self {
            Self::ApiGatewayJwt => {
                let Some(RequestContext::ApiGatewayV2(context)) = parts.extensions.get::<RequestContext>() else {
                    return Err(AuthError::Missing);
                };
                let jwt = context.authorizer.as_ref().and_then(|a| a.jwt.as_ref()).ok_or(AuthError::Missing)?;
                let claim = |name: &str| jwt.claims.get(name).map(String::as_str);
                let tenant = claim("tenant_id").ok_or(AuthError::Invalid)?;
                identity(tenant, claim("sub"), claim("name").or(claim("sub")), claim("scope"))
            }
            Self::LocalHs256(tokens) => {
                let token = bearer_token(parts)?;
                let claims = tokens.verify(token)?;
                identity(
                    &claims.tenant_id,
                    Some(&claims.sub),
                    claims.name.as_deref().or(Some(&claims.sub)),
                    claims.scope.as_deref(),
                )
            }
        }
    }
}

impl<S> FromRequestParts<S> for Identity
where
    S: Send + Sync,
    Authenticator: FromRef<S>,
{
    type Rejection = AuthError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let identity = Authenticator::from_ref(state).identify(parts)?;
        tracing::Span::current().record("tenant_id", identity.tenant.as_str());
        Ok(identity)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(byte: u8) -> LocalTokens {
        LocalTokens::new(SecretBytes::new(vec![byte; 32]))
    }

    fn parts(header: (&str, &str)) -> Parts {
        http::Request::builder().header(header.0, header.1).body(()).unwrap().into_parts().0
    }

    #[test]
    fn a_minted_token_is_accepted_in_either_header() {
        let t = tokens(1);
        let tenant = TenantId::parse("acme").unwrap();
        let token = t.mint(&tenant, Some("a b"), Duration::from_secs(60)).unwrap();
        let auth = Authenticator::LocalHs256(Arc::new(t));
        for header in [("authorization", format!("Bearer {token}")), ("account_token", token.clone())] {
            let id = auth.identify(&parts((header.0, &header.1))).unwrap();
            assert_eq!(id.tenant, tenant);
            assert!(id.has_scope("b") && !id.has_scope("c"));
        }
    }

    #[test]
    fn missing_foreign_expired_or_garbled_tokens_are_refused() {
        let tenant = TenantId::parse("acme").unwrap();
        let auth = Authenticator::LocalHs256(Arc::new(tokens(1)));
        let foreign = tokens(2).mint(&tenant, None, Duration::from_secs(60)).unwrap();
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
        let expired = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &TokenClaims {
                tenant_id: "acme".into(),
                sub: "s".into(),
                name: None,
                scope: None,
                iss: LocalTokens::ISSUER.into(),
                exp: now - 120,
            },
            &EncodingKey::from_secret(&[1; 32]),
        )
        .unwrap();
        assert_eq!(auth.identify(&parts(("x-other", "1"))), Err(AuthError::Missing));
        for bad in [foreign, expired, "not.a.jwt".to_owned(), "Basic abc".to_owned()] {
            assert_eq!(auth.identify(&parts(("authorization", &bad))).unwrap_err(), AuthError::Invalid, "{bad}");
        }
    }

    #[test]
    fn api_gateway_mode_needs_the_authorizer_context() {
        assert_eq!(
            Authenticator::ApiGatewayJwt.identify(&parts(("authorization", "Bearer x"))),
            Err(AuthError::Missing)
        );
    }
}
