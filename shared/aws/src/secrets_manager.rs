//! Secrets Manager: endpoint settings, read once per execution environment, and the HMAC keyring,
//! read again every [`HMAC_KEYRING_REFRESH`] (so that a rotation reaches every environment);
//! secrets a function's first request needs together are fetched together.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_sdk_secretsmanager::Client;
use tokio::sync::OnceCell;

use super::sdk_error::describe;
use cofre_domain::crypto::{HmacKeySource, HmacKeyring, HmacKeyringStore, KeyServiceError};
use cofre_domain::endpoints::{EndpointSettings, EndpointSettingsError, EndpointSettingsSource};
use cofre_domain::secret::SecretString;

/// How long an execution environment keeps the HMAC keyring before reading it again: the most a
/// rotation step waits for to reach every environment (`docs/operations.md`).
pub const HMAC_KEYRING_REFRESH: Duration = Duration::from_secs(300);

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

/// Reads `secret_ids` with one `BatchGetSecretValue`: the values returned, by the id asked for. A
/// secret the answer does not hold (an error entry, an id in a form the answer does not name, or
/// the whole call refused, say by a role without `secretsmanager:BatchGetSecretValue`) is absent,
/// and its member reads it on its own, which says why it failed.
async fn fetch_together(client: &Client, secret_ids: &[String]) -> HashMap<String, SecretString> {
    let output = match client.batch_get_secret_value().set_secret_id_list(Some(secret_ids.to_vec())).send().await {
        Ok(output) => output,
        Err(e) => {
            tracing::warn!(error = %describe(&e), "the secrets could not be read together: each is read on its own");
            return HashMap::new();
        }
    };
    let mut found = HashMap::new();
    for entry in output.secret_values() {
        let asked = secret_ids.iter().find(|id| [entry.arn(), entry.name()].contains(&Some(id.as_str())));
        if let (Some(id), Some(value)) = (asked, entry.secret_string()) {
            found.insert(id.clone(), SecretString::from(value));
        }
    }
    found
}

/// Secrets a function reads together: the first read of any of them fetches all of them in one
/// call, since the first request that needs one needs the others too (patch-merchant-connection's
/// needs the HMAC key and the processor settings): one round trip on one connection, instead of a
/// request per secret (and, made at once, a second connection). Each value is handed to its secret
/// once; one the call did not return is read again, on its own, as an ungrouped one is.
#[derive(Debug, Clone)]
#[cfg_attr(not(feature = "merchants"), allow(dead_code))]
pub struct SecretGroup(Arc<GroupState>);

/// [`fetch_together`], reached only through a group's constructor: a binary that makes no group
/// (every function but patch-merchant-connection) then links no `BatchGetSecretValue` (~45 KB).
type FetchTogether = fn(Client, Vec<String>) -> Pin<Box<dyn Future<Output = HashMap<String, SecretString>> + Send>>;

struct GroupState {
    client: Client,
    fetch_together: FetchTogether,
    secret_ids: Vec<String>,
    fetched_once: OnceCell<()>,
    /// Values of the joint fetch for members that have not taken theirs yet (each taken once),
    /// with when it was made: a member may take its value long after (the HMAC keyring, when the
    /// first requests never needed it), and must count its age from the read.
    waiting: Mutex<HashMap<String, (SecretString, Instant)>>,
}

impl std::fmt::Debug for GroupState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupState").field("secret_ids", &self.secret_ids).finish_non_exhaustive()
    }
}

#[cfg_attr(not(feature = "merchants"), allow(dead_code))]
impl SecretGroup {
    /// A group of `secret_ids` (names or ARNs), read with `client`.
    pub fn new(client: Client, secret_ids: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self(Arc::new(GroupState {
            client,
            fetch_together: |client, ids| Box::pin(async move { fetch_together(&client, &ids).await }),
            secret_ids: secret_ids.into_iter().map(Into::into).collect(),
            fetched_once: OnceCell::new(),
            waiting: Mutex::new(HashMap::new()),
        }))
    }

    /// `secret_id`'s value from the group's one joint fetch and when it was read, unless already
    /// taken or not returned.
    async fn take(&self, secret_id: &str) -> Option<(SecretString, Instant)> {
        let state = &self.0;
        state
            .fetched_once
            .get_or_init(|| async {
                let read_at = Instant::now();
                let found = (state.fetch_together)(state.client.clone(), state.secret_ids.clone()).await;
                *state.waiting.lock().unwrap_or_else(PoisonError::into_inner) =
                    found.into_iter().map(|(id, value)| (id, (value, read_at))).collect();
            })
            .await;
        state.waiting.lock().unwrap_or_else(PoisonError::into_inner).remove(secret_id)
    }
}

/// One secret, read on first use and kept (for the life of the execution environment, or for
/// `refresh_after`), turned into a `T` by `parse`. A failed or missing first read is not cached, so a
/// secret created after a cold start is picked up; a failed or unusable read again keeps the value
/// already held (logged), and is tried again a period later.
#[derive(Debug)]
struct CachedSecret<T> {
    client: Client,
    secret_id: String,
    group: Option<SecretGroup>,
    /// `None`: kept for the life of the execution environment.
    refresh_after: Option<Duration>,
    cached: RwLock<Option<(Arc<T>, Instant)>>,
    /// One read at a time; the others wait for its value.
    reading: tokio::sync::Mutex<()>,
}

impl<T> CachedSecret<T> {
    fn new(client: Client, secret_id: impl Into<String>) -> Self {
        Self {
            client,
            secret_id: secret_id.into(),
            group: None,
            refresh_after: None,
            cached: RwLock::new(None),
            reading: tokio::sync::Mutex::new(()),
        }
    }

    #[cfg_attr(not(feature = "merchants"), allow(dead_code))]
    fn grouped(group: &SecretGroup, secret_id: impl Into<String>) -> Self {
        Self { group: Some(group.clone()), ..Self::new(group.0.client.clone(), secret_id) }
    }

    fn refreshed_every(self, period: Duration) -> Self {
        Self { refresh_after: Some(period), ..self }
    }

    /// The value held, if still fresh.
    fn fresh(&self) -> Option<Arc<T>> {
        let cached = self.cached.read().unwrap_or_else(PoisonError::into_inner);
        let (value, read_at) = cached.as_ref()?;
        self.refresh_after.is_none_or(|period| read_at.elapsed() < period).then(|| Arc::clone(value))
    }

    fn hold(&self, value: Arc<T>) {
        self.hold_from(value, Instant::now());
    }

    fn hold_from(&self, value: Arc<T>, read_at: Instant) {
        *self.cached.write().unwrap_or_else(PoisonError::into_inner) = Some((value, read_at));
    }

    /// Forgets the value held: the next use reads the secret.
    fn forget(&self) {
        *self.cached.write().unwrap_or_else(PoisonError::into_inner) = None;
    }

    async fn get(&self, parse: impl FnOnce(SecretString) -> Result<T, String>) -> Result<Arc<T>, SecretError> {
        if let Some(value) = self.fresh() {
            return Ok(value);
        }
        let _turn = self.reading.lock().await;
        if let Some(value) = self.fresh() {
            return Ok(value);
        }
        // A value the group read too long ago for this secret's period is dropped, not held as new.
        let prefetched = match &self.group {
            Some(group) => group.take(&self.secret_id).await,
            None => None,
        }
        .filter(|(_, read_at)| self.refresh_after.is_none_or(|period| read_at.elapsed() < period));
        let (read, read_at) = match prefetched {
            Some((value, read_at)) => (Ok(value), read_at),
            None => (fetch(&self.client, &self.secret_id).await, Instant::now()),
        };
        match read.and_then(|value| parse(value).map_err(SecretError::Invalid)) {
            Ok(value) => {
                let value = Arc::new(value);
                self.hold_from(Arc::clone(&value), read_at);
                Ok(value)
            }
            Err(e) => {
                let held =
                    self.cached.read().unwrap_or_else(PoisonError::into_inner).as_ref().map(|(v, _)| Arc::clone(v));
                match held {
                    Some(value) => {
                        tracing::error!(
                            secret = %self.secret_id,
                            error = ?e,
                            "reading the secret again failed: the value held is kept"
                        );
                        self.hold(Arc::clone(&value));
                        Ok(value)
                    }
                    None => Err(e),
                }
            }
        }
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

/// The HMAC keyring (connection fingerprints, PAN hashes, request digests) in a secret: a keyring
/// document, or a plain string of at least 32 bytes, the one key of a keyring that never rotated
/// ([`HmacKeyring::from_secret`]). Read again every [`HMAC_KEYRING_REFRESH`]; also where a rotation
/// writes the keyring ([`HmacKeyringStore`]: `PutSecretValue`, the previous value kept as the
/// secret's `AWSPREVIOUS` version).
#[derive(Debug)]
pub struct SecretsManagerHmacKey(CachedSecret<HmacKeyring>);

impl SecretsManagerHmacKey {
    /// The keyring in `secret_id` (name or ARN).
    pub fn new(client: Client, secret_id: impl Into<String>) -> Self {
        Self(CachedSecret::new(client, secret_id).refreshed_every(HMAC_KEYRING_REFRESH))
    }

    /// The keyring in `secret_id`, a member of `group` (first fetched with the group's other secrets).
    #[cfg_attr(not(feature = "merchants"), allow(dead_code))]
    pub fn grouped(group: &SecretGroup, secret_id: impl Into<String>) -> Self {
        Self(CachedSecret::grouped(group, secret_id).refreshed_every(HMAC_KEYRING_REFRESH))
    }

    /// The same, read again once `period` has passed since the last read (zero: at every use).
    pub fn refreshed_every(self, period: Duration) -> Self {
        Self(self.0.refreshed_every(period))
    }
}

fn unavailable(e: SecretError) -> KeyServiceError {
    let (SecretError::Unavailable(why) | SecretError::Invalid(why)) = e;
    KeyServiceError::Unavailable(why)
}

#[async_trait]
impl HmacKeySource for SecretsManagerHmacKey {
    async fn hmac_keyring(&self) -> Result<Arc<HmacKeyring>, KeyServiceError> {
        let parse = |value: SecretString| HmacKeyring::from_secret(&value).map_err(|e| e.to_string());
        self.0.get(parse).await.map_err(unavailable)
    }
}

#[async_trait]
impl HmacKeyringStore for SecretsManagerHmacKey {
    async fn load(&self) -> Result<HmacKeyring, KeyServiceError> {
        let value = fetch(&self.0.client, &self.0.secret_id).await.map_err(unavailable)?;
        HmacKeyring::from_secret(&value).map_err(|e| KeyServiceError::Unavailable(e.to_string()))
    }

    async fn save(&self, keyring: &HmacKeyring) -> Result<(), KeyServiceError> {
        let value = keyring.to_secret();
        self.0
            .client
            .put_secret_value()
            .secret_id(&self.0.secret_id)
            .secret_string(value.expose())
            .send()
            .await
            .map_err(|e| KeyServiceError::Unavailable(describe(&e)))?;
        self.0.forget();
        Ok(())
    }
}
