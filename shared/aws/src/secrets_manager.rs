//! Secrets Manager: endpoint settings and the HMAC key, each read once per execution environment;
//! secrets a function's first request needs together are fetched together.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use aws_sdk_secretsmanager::Client;
use tokio::sync::OnceCell;

use super::sdk_error::describe;
use cofre_domain::crypto::{HmacKeySource, KeyServiceError};
use cofre_domain::endpoints::{EndpointSettings, EndpointSettingsError, EndpointSettingsSource};
use cofre_domain::secret::{SecretBytes, SecretString};

/// Why a secret could not be had: the call failed, or its value was unusable.
#[derive(Debug)]
enum SecretError {
    Unavailable(String),
    Invalid(String),
}

async fn fetch(client: &Client, secret_id: &str) -> Result<SecretString, SecretError> {
    let output = client
        .get_secret_value()
        .secret_id(secret_id)
        .send()
        .await
        .map_err(|e| SecretError::Unavailable(describe(&e)))?;
    output
        .secret_string()
        .map(SecretString::from)
        .ok_or_else(|| SecretError::Invalid("the secret has no string value".into()))
}

/// Secrets a function reads together: the first read of any of them fetches all of them at once,
/// concurrently, since the first request that needs one needs the others too (patch-merchant-
/// connection's needs the HMAC key and the processor settings): one round trip of latency instead
/// of one per secret. Each outcome is handed to its secret once; a failure is not kept, so that
/// secret is read again, on its own, when next needed, as an ungrouped one is.
#[derive(Debug, Clone)]
#[cfg_attr(not(feature = "merchants"), allow(dead_code))]
pub struct SecretGroup(Arc<GroupState>);

#[derive(Debug)]
struct GroupState {
    client: Client,
    secret_ids: Vec<String>,
    fetched_once: OnceCell<()>,
    /// Outcomes of the joint fetch for members that have not taken theirs yet (each taken once).
    waiting: Mutex<HashMap<String, Result<SecretString, SecretError>>>,
}

#[cfg_attr(not(feature = "merchants"), allow(dead_code))]
impl SecretGroup {
    /// A group of `secret_ids` (names or ARNs), read with `client`.
    pub fn new(client: Client, secret_ids: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self(Arc::new(GroupState {
            client,
            secret_ids: secret_ids.into_iter().map(Into::into).collect(),
            fetched_once: OnceCell::new(),
            waiting: Mutex::new(HashMap::new()),
        }))
    }

    /// `secret_id`'s outcome of the group's one joint fetch, unless already taken.
    async fn take(&self, secret_id: &str) -> Option<Result<SecretString, SecretError>> {
        let state = &self.0;
        state
            .fetched_once
            .get_or_init(|| async {
                let mut fetches = tokio::task::JoinSet::new();
                for id in &state.secret_ids {
                    let (client, id) = (state.client.clone(), id.clone());
                    fetches.spawn(async move { (fetch(&client, &id).await, id) });
                }
                while let Some(joined) = fetches.join_next().await {
                    if let Ok((outcome, id)) = joined {
                        state.waiting.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(id, outcome);
                    }
                }
            })
            .await;
        state.waiting.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(secret_id)
    }
}

/// One secret, read on first use and kept for the life of the execution environment, turned into a
/// `T` by `parse`. A failed or missing read is not cached, so a secret created after a cold start is
/// picked up.
#[derive(Debug)]
struct CachedSecret<T> {
    client: Client,
    secret_id: String,
    group: Option<SecretGroup>,
    cached: OnceCell<Arc<T>>,
}

impl<T> CachedSecret<T> {
    fn new(client: Client, secret_id: impl Into<String>) -> Self {
        Self { client, secret_id: secret_id.into(), group: None, cached: OnceCell::new() }
    }

    #[cfg_attr(not(feature = "merchants"), allow(dead_code))]
    fn grouped(group: &SecretGroup, secret_id: impl Into<String>) -> Self {
        Self {
            client: group.0.client.clone(),
            secret_id: secret_id.into(),
            group: Some(group.clone()),
            cached: OnceCell::new(),
        }
    }

    async fn get(&self, parse: impl FnOnce(SecretString) -> Result<T, String>) -> Result<Arc<T>, SecretError> {
        self.cached
            .get_or_try_init(|| async {
                let prefetched = match &self.group {
                    Some(group) => group.take(&self.secret_id).await,
                    None => None,
                };
                let value = match prefetched {
                    Some(outcome) => outcome?,
                    None => fetch(&self.client, &self.secret_id).await?,
                };
                parse(value).map(Arc::new).map_err(SecretError::Invalid)
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

    /// Settings from `secret_id`, a member of `group` (fetched with the group's other secrets).
    #[cfg_attr(not(feature = "merchants"), allow(dead_code))]
    pub fn grouped(group: &SecretGroup, secret_id: impl Into<String>) -> Self {
        Self(CachedSecret::grouped(group, secret_id))
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

    /// The key in `secret_id`, a member of `group` (fetched with the group's other secrets).
    #[cfg_attr(not(feature = "merchants"), allow(dead_code))]
    pub fn grouped(group: &SecretGroup, secret_id: impl Into<String>) -> Self {
        Self(CachedSecret::grouped(group, secret_id))
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
