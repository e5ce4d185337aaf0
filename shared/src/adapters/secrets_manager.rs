//! Secrets Manager: endpoint settings and the HMAC key, each read once per execution environment.

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_secretsmanager::Client;
use tokio::sync::OnceCell;

use super::sdk_error::describe;
use crate::crypto::{HmacKeySource, KeyServiceError};
use crate::endpoints::{EndpointSettings, EndpointSettingsError, EndpointSettingsSource};
use crate::secret::SecretBytes;

/// A config secret (a JSON document, see [`EndpointSettings`]). The first request of an
/// execution environment reads it; the rest reuse it. A failed or missing read is not cached, so
/// a secret created after a cold start is picked up.
#[derive(Debug)]
pub struct SecretsManagerEndpointSettings {
    client: Client,
    secret_id: String,
    cached: OnceCell<Arc<EndpointSettings>>,
}

impl SecretsManagerEndpointSettings {
    /// Settings from `secret_id` (name or ARN).
    pub fn new(client: Client, secret_id: impl Into<String>) -> Self {
        Self { client, secret_id: secret_id.into(), cached: OnceCell::new() }
    }
}

#[async_trait]
impl EndpointSettingsSource for SecretsManagerEndpointSettings {
    async fn settings(&self) -> Result<Arc<EndpointSettings>, EndpointSettingsError> {
        self.cached
            .get_or_try_init(|| async {
                let output = self
                    .client
                    .get_secret_value()
                    .secret_id(&self.secret_id)
                    .send()
                    .await
                    .map_err(|e| EndpointSettingsError::Unavailable(describe(&e)))?;
                let json = output
                    .secret_string()
                    .ok_or_else(|| EndpointSettingsError::Invalid("the secret has no string value".into()))?;
                EndpointSettings::from_json(json).map(Arc::new)
            })
            .await
            .cloned()
    }
}

/// The HMAC key (connection fingerprints, PAN hashes) from a secret: its string value, at least 32
/// bytes, is the key. Read on first use and kept for the life of the execution environment.
#[derive(Debug)]
pub struct SecretsManagerHmacKey {
    client: Client,
    secret_id: String,
    cached: OnceCell<Arc<SecretBytes>>,
}

impl SecretsManagerHmacKey {
    /// The key in `secret_id` (name or ARN).
    pub fn new(client: Client, secret_id: impl Into<String>) -> Self {
        Self { client, secret_id: secret_id.into(), cached: OnceCell::new() }
    }
}

#[async_trait]
impl HmacKeySource for SecretsManagerHmacKey {
    async fn hmac_key(&self) -> Result<Arc<SecretBytes>, KeyServiceError> {
        self.cached
            .get_or_try_init(|| async {
                let output = self
                    .client
                    .get_secret_value()
                    .secret_id(&self.secret_id)
                    .send()
                    .await
                    .map_err(|e| KeyServiceError::Unavailable(describe(&e)))?;
                let key = output.secret_string().unwrap_or_default().as_bytes().to_vec();
                if key.len() < 32 {
                    return Err(KeyServiceError::Unavailable("the HMAC key secret holds fewer than 32 bytes".into()));
                }
                Ok(Arc::new(SecretBytes::new(key)))
            })
            .await
            .cloned()
    }
}
