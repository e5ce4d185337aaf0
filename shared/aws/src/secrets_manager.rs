//! Secrets Manager: endpoint settings and the HMAC key, each read once per execution environment.

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_secretsmanager::Client;
use tokio::sync::OnceCell;

use super::sdk_error::describe;
use cofre_domain::crypto::{HmacKeySource, KeyServiceError};
use cofre_domain::endpoints::{EndpointSettings, EndpointSettingsError, EndpointSettingsSource};
use cofre_domain::secret::{SecretBytes, SecretString};

/// One secret, read on first use and kept for the life of the execution environment, turned into a
/// `T` by `parse`. A failed or missing read is not cached, so a secret created after a cold start is
/// picked up.
#[derive(Debug)]
struct CachedSecret<T> {
    client: Client,
    secret_id: String,
    cached: OnceCell<Arc<T>>,
}

/// Why a secret could not be had: the call failed, or its value was unusable.
enum SecretError {
    Unavailable(String),
    Invalid(String),
}

impl<T> CachedSecret<T> {
    fn new(client: Client, secret_id: impl Into<String>) -> Self {
        Self { client, secret_id: secret_id.into(), cached: OnceCell::new() }
    }

    async fn get(&self, parse: impl FnOnce(SecretString) -> Result<T, String>) -> Result<Arc<T>, SecretError> {
        self.cached
            .get_or_try_init(|| async {
                let output = self
                    .client
                    .get_secret_value()
                    .secret_id(&self.secret_id)
                    .send()
                    .await
                    .map_err(|e| SecretError::Unavailable(describe(&e)))?;
                let value = output
                    .secret_string()
                    .ok_or_else(|| SecretError::Invalid("the secret has no string value".into()))?;
                parse(SecretString::from(value)).map(Arc::new).map_err(SecretError::Invalid)
            })
            .await
            .cloned()
    }
}

/// A config secret (a JSON document, see [`EndpointSettings`]).
#[derive(Debug)]
pub struct SecretsManagerEndpointSettings(CachedSecret<EndpointSettings>);

impl SecretsManagerEndpointSettings {
    /// Settings from `secret_id` (name or ARN).
    pub fn new(client: Client, secret_id: impl Into<String>) -> Self {
        Self(CachedSecret::new(client, secret_id))
    }
}

#[async_trait]
impl EndpointSettingsSource for SecretsManagerEndpointSettings {
    async fn settings(&self) -> Result<Arc<EndpointSettings>, EndpointSettingsError> {
        let parse = |json: SecretString| EndpointSettings::from_json(json.expose()).map_err(|e| e.to_string());
        self.0.get(parse).await.map_err(|e| match e {
            SecretError::Unavailable(why) => EndpointSettingsError::Unavailable(why),
            SecretError::Invalid(why) => EndpointSettingsError::Invalid(why),
        })
    }
}

/// The HMAC key (connection fingerprints, PAN hashes) from a secret: its string value, at least 32
/// bytes, is the key.
#[derive(Debug)]
pub struct SecretsManagerHmacKey(CachedSecret<SecretBytes>);

impl SecretsManagerHmacKey {
    /// The key in `secret_id` (name or ARN).
    pub fn new(client: Client, secret_id: impl Into<String>) -> Self {
        Self(CachedSecret::new(client, secret_id))
    }
}

#[async_trait]
impl HmacKeySource for SecretsManagerHmacKey {
    async fn hmac_key(&self) -> Result<Arc<SecretBytes>, KeyServiceError> {
        let parse = |value: SecretString| {
            let key = value.expose().as_bytes().to_vec();
            if key.len() < 32 {
                Err("the HMAC key secret holds fewer than 32 bytes".to_owned())
            } else {
                Ok(SecretBytes::new(key))
            }
        };
        self.0
            .get(parse)
            .await
            .map_err(|(SecretError::Unavailable(why) | SecretError::Invalid(why))| KeyServiceError::Unavailable(why))
    }
}
