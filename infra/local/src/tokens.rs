//! The local server's bearer tokens: HS256, signed with the keyring's token key. Only the local
//! server verifies tokens itself; on AWS, API Gateway's JWT authorizer does, so this (and
//! `jsonwebtoken`) stays out of the Lambda binaries.
//!
//! A token says when it was issued (`iat`) and lives at most [`LocalTokens::MAX_LIFETIME`]; the
//! verifier refuses one issued, or valid only from (`nbf`), later than now plus
//! [`LocalTokens::LEEWAY`], one without `iat`, and one whose `exp - iat` is over the maximum.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cofre_domain::secret::SecretBytes;
use cofre_domain::tenant::TenantId;
use cofre_http::{AuthError, TokenClaims, TokenVerifier};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// The local server's token issuer and verifier.
pub struct LocalTokens {
    key: SecretBytes,
}

impl std::fmt::Debug for LocalTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LocalTokens")
    }
}

/// The claims of a local token: the shared ones and when it was issued.
#[derive(Serialize, Deserialize)]
struct LocalClaims {
    #[serde(flatten)]
    claims: TokenClaims,
    /// Issued at, seconds since the epoch (required).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    iat: Option<u64>,
}

impl LocalTokens {
    /// The `iss` of every local token.
    pub const ISSUER: &'static str = "cofre-local";
    /// The longest a token may live (`exp - iat`): a leaked token is worth a day at most.
    pub const MAX_LIFETIME: Duration = Duration::from_secs(24 * 3600);
    /// How far clocks may disagree, in seconds: `exp` may be this far past, `iat` and `nbf` this far
    /// ahead.
    pub const LEEWAY: u64 = 60;

    /// Tokens signed with `key` (the keyring's token signing key).
    pub fn new(key: SecretBytes) -> Self {
        Self { key }
    }

    /// Signs a token for `tenant`, valid for `ttl` (at most [`Self::MAX_LIFETIME`]: a longer one is
    /// refused, as the verifier would refuse the token), with optional space-separated `scope`.
    pub fn mint(&self, tenant: &TenantId, scope: Option<&str>, ttl: Duration) -> Result<String, AuthError> {
        if ttl > Self::MAX_LIFETIME {
            return Err(AuthError::Invalid);
        }
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        let claims = LocalClaims {
            claims: TokenClaims {
                tenant_id: tenant.to_string(),
                sub: format!("local:{tenant}"),
                name: Some("Local".to_owned()),
                scope: scope.map(str::to_owned),
                iss: Self::ISSUER.to_owned(),
                exp: (now + ttl).as_secs(),
            },
            iat: Some(now.as_secs()),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(self.key.expose()))
            .map_err(|_| AuthError::Invalid)
    }
}

impl TokenVerifier for LocalTokens {
    /// Verifies signature, algorithm, issuer, expiry, `nbf`, `iat` and lifetime.
    fn verify(&self, token: &str) -> Result<TokenClaims, AuthError> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[Self::ISSUER]);
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = Self::LEEWAY;
        let claims =
            jsonwebtoken::decode::<LocalClaims>(token, &DecodingKey::from_secret(self.key.expose()), &validation)
                .map_err(|_| AuthError::Invalid)?
                .claims;
        let now = jsonwebtoken::get_current_timestamp();
        let issued = claims.iat.ok_or(AuthError::Invalid)?;
        if issued > now.saturating_add(Self::LEEWAY)
            || claims.claims.exp.saturating_sub(issued) > Self::MAX_LIFETIME.as_secs()
        {
            return Err(AuthError::Invalid);
        }
        Ok(claims.claims)
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

    /// A token signed with key `[1; 32]` carrying `times` (`iat`, `nbf`, `exp`) beside the usual claims.
    fn signed(times: serde_json::Value) -> String {
        let mut claims = serde_json::json!({ "tenant_id": "acme", "sub": "s", "iss": LocalTokens::ISSUER });
        claims.as_object_mut().unwrap().extend(times.as_object().unwrap().clone());
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(&[1; 32])).unwrap()
    }

    #[test]
    fn tokens_from_the_future_or_living_too_long_are_refused() {
        let t = tokens(1);
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
        let day = 24 * 3600;
        for (case, times, accepted) in [
            ("fresh", serde_json::json!({ "iat": now, "exp": now + 600 }), true),
            ("exactly a day", serde_json::json!({ "iat": now, "exp": now + day }), true),
            ("iat inside the leeway", serde_json::json!({ "iat": now + 50, "exp": now + 600 }), true),
            ("nbf inside the leeway", serde_json::json!({ "iat": now, "nbf": now + 50, "exp": now + 600 }), true),
            ("iat in the future", serde_json::json!({ "iat": now + 120, "exp": now + 600 }), false),
            ("nbf in the future", serde_json::json!({ "iat": now, "nbf": now + 120, "exp": now + 600 }), false),
            ("a day and a second", serde_json::json!({ "iat": now, "exp": now + day + 1 }), false),
            ("issued long ago", serde_json::json!({ "iat": now - 2 * day, "exp": now + 600 }), false),
            ("no iat", serde_json::json!({ "exp": now + 600 }), false),
        ] {
            assert_eq!(t.verify(&signed(times)).is_ok(), accepted, "{case}");
        }
    }

    #[test]
    fn minted_tokens_say_when_they_were_issued_and_never_live_over_a_day() {
        let t = tokens(1);
        let tenant = TenantId::parse("acme").unwrap();
        let token = t.mint(&tenant, None, LocalTokens::MAX_LIFETIME).unwrap();
        assert_eq!(t.verify(&token).unwrap().tenant_id, "acme");
        assert_eq!(t.mint(&tenant, None, LocalTokens::MAX_LIFETIME + Duration::from_secs(1)), Err(AuthError::Invalid));
    }
}
