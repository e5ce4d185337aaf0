//! The local server's bearer tokens: HS256, signed with the keyring's token key. Only the local
//! server verifies tokens itself; on AWS, API Gateway's JWT authorizer does, so this (and
//! `jsonwebtoken`) stays out of the Lambda binaries.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cofre_domain::secret::SecretBytes;
use cofre_domain::tenant::TenantId;
use cofre_http::{AuthError, TokenClaims, TokenVerifier};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};

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
}

impl TokenVerifier for LocalTokens {
    /// Verifies signature, algorithm, issuer and expiry.
    fn verify(&self, token: &str) -> Result<TokenClaims, AuthError> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[Self::ISSUER]);
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        validation.leeway = 30;
        jsonwebtoken::decode::<TokenClaims>(token, &DecodingKey::from_secret(self.key.expose()), &validation)
            .map(|data| data.claims)
            .map_err(|_| AuthError::Invalid)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use cofre_http::Authenticator;
    use http::request::Parts;

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
        let auth = Authenticator::Bearer(Arc::new(t));
        for header in [("authorization", format!("Bearer {token}")), ("account_token", token.clone())] {
            let id = auth.identify(&parts((header.0, &header.1))).unwrap();
            assert_eq!(id.tenant, tenant);
            assert!(id.has_scope("b") && !id.has_scope("c"));
        }
    }

    #[test]
    fn missing_foreign_expired_or_garbled_tokens_are_refused() {
        let tenant = TenantId::parse("acme").unwrap();
        let auth = Authenticator::Bearer(Arc::new(tokens(1)));
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
}
