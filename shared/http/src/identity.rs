use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts};
use http::request::Parts;
use lambda_http::request::RequestContext;
use serde::{Deserialize, Serialize};

use super::AuthError;
use cofre_domain::tenant::{Identity, TenantId};

/// How a request proves who it is. One [`Identity`] extractor serves both deployments.
#[derive(Clone, Debug)]
pub enum Authenticator {
    /// On Lambda behind API Gateway's JWT authorizer: the gateway verified the token, the function
    /// reads the claims from the request context and never sees a signing key.
    ApiGatewayJwt,
    /// A bearer token (`Authorization` or Pismo's `account_token`) verified in process: the local
    /// server's HS256 tokens.
    Bearer(Arc<dyn TokenVerifier>),
}

/// The claims Cofre reads from a bearer token.
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

/// Verifies a bearer token where nobody in front of the function did (the local server). Behind a
/// trait so the Lambda binaries, which never verify a token themselves, carry no verifier.
pub trait TokenVerifier: Send + Sync + std::fmt::Debug {
    /// The token's claims, if its signature, issuer and expiry hold.
    fn verify(&self, token: &str) -> Result<TokenClaims, AuthError>;
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
            Self::Bearer(tokens) => {
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

/// The verified caller, as an extractor: `Result<Caller, AuthError>` in a handler's arguments.
#[derive(Debug, Clone)]
pub struct Caller(pub Identity);

impl<S> FromRequestParts<S> for Caller
where
    S: Send + Sync,
    Authenticator: FromRef<S>,
{
    type Rejection = AuthError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let identity = Authenticator::from_ref(state).identify(parts)?;
        tracing::Span::current().record("tenant_id", identity.tenant.as_str());
        Ok(Self(identity))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_gateway_mode_needs_the_authorizer_context() {
        let parts = http::Request::builder().header("authorization", "Bearer x").body(()).unwrap().into_parts().0;
        assert_eq!(Authenticator::ApiGatewayJwt.identify(&parts), Err(AuthError::Missing));
    }
}
