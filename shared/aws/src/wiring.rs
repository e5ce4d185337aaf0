//! The one wiring for AWS: how a program turns its environment into its use cases over DynamoDB,
//! KMS, Secrets Manager and third parties. The Lambda mains, `cofre-local --backend aws` and the
//! tests all build through it, in three steps:
//!
//! 1. **Settings**, parsed strictly and once, at start: [`CredentialSettings`] (create-credential,
//!    use-credential), [`MerchantSettings`] (patch-merchant-connection), [`AuthorizationSettings`]
//!    (request-authorization), or [`StackSettings`] (all of them, for `cofre-local`). A variable that
//!    is missing, empty or malformed fails the start with its name, as does one that looks like a
//!    Cofre setting but is none ([`SETTINGS`] lists them all; see [`WiringError::Unknown`]), instead
//!    of failing, or being ignored, at first use. Values are never echoed: a misplaced secret must
//!    not reach the logs.
//! 2. **Clients**: an SDK configuration once per process: a Lambda function's from the variables
//!    Lambda sets (`lambda_sdk_config`), `cofre-local`'s and the seeders' from aws-config's chains
//!    ([`sdk_config`]); where the program also calls partners or processors, the SDK and the
//!    partner/processor client trust the same roots, read from the system once
//!    ([`sdk_config_sharing_roots`]). Then [`AwsClients`] on it, which makes each SDK
//!    client a use case needs (tests hand it clients of their own, e.g. with interceptors that count
//!    round trips).
//! 3. **Use cases**: [`credential_vault`], [`partner_gateway`], [`merchant_connections`],
//!    [`authorizer`], the seeders, and [`stack`] for all of them at once.
//!
//! A `main` takes all three steps in one call: [`create_credential`], [`use_credential`],
//! [`patch_merchant_connection`], [`request_authorization`], or [`whole_stack`] for `cofre-local`.

#[cfg(any(feature = "credentials", feature = "merchants", feature = "authorizations"))]
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{HttpClient, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector};
use aws_smithy_runtime_api::client::runtime_components::{RuntimeComponents, RuntimeComponentsBuilder};
use aws_smithy_types::config_bag::ConfigBag;

#[cfg(feature = "authorizations")]
use cofre_domain::authorizations::{AccountSeeder, Authorizer, HoldExpirer};
#[cfg(any(feature = "credentials", feature = "merchants", feature = "authorizations"))]
use cofre_domain::clock::SystemClock;
#[cfg(feature = "credentials")]
use cofre_domain::credentials::CredentialVault;
#[cfg(feature = "credentials")]
use cofre_domain::gateway::PartnerGateway;
#[cfg(any(feature = "credentials", feature = "authorizations"))]
use cofre_domain::ids::RandomIds;
#[cfg(feature = "merchants")]
use cofre_domain::merchants::{MerchantConnections, MerchantSeeder};
#[cfg(feature = "authorizations")]
use cofre_domain::store::StoreError;

#[cfg(any(feature = "merchants", feature = "authorizations"))]
use crate::SecretsManagerHmacKey;
#[cfg(feature = "merchants")]
use crate::secrets_manager::SecretGroup;
#[cfg(feature = "authorizations")]
use crate::{DynamoCardHashes, DynamoLedger};
#[cfg(feature = "credentials")]
use crate::{DynamoCredentialStore, HttpPartnerClient};
#[cfg(feature = "merchants")]
use crate::{DynamoMerchantStore, HttpProcessorClient};
#[cfg(any(feature = "credentials", feature = "merchants"))]
use crate::{KmsKeyService, SecretsManagerEndpointSettings};

/// Every variable a Cofre program reads as a setting (besides the AWS SDK's own `AWS_*` and
/// `RUST_LOG`).
pub const SETTINGS: [&str; 10] = [
    "CREDENTIALS_TABLE",
    "DATA_KEY_ID",
    "PARTNER_CONFIG_SECRET",
    "PARTNER_CONNECT_TIMEOUT_MS",
    "MERCHANTS_TABLE",
    "PROCESSOR_CONFIG_SECRET",
    "HMAC_KEY_SECRET",
    "PROCESSOR_CONNECT_TIMEOUT_MS",
    "LEDGER_TABLE",
    "EVENTS_TABLE",
];

/// How the settings' names begin: a variable that begins so but is not a setting is a mistake.
#[cfg(any(feature = "credentials", feature = "merchants", feature = "authorizations"))]
const SETTING_STEMS: [&str; 8] =
    ["CREDENTIALS_", "MERCHANTS_", "LEDGER_", "EVENTS_", "DATA_KEY", "PARTNER_", "PROCESSOR_", "HMAC_"];

/// Connect timeouts, when set: a whole number of milliseconds in this range (the function's own
/// timeout is 15 s).
#[cfg(any(feature = "credentials", feature = "merchants"))]
const CONNECT_TIMEOUT_MS: std::ops::RangeInclusive<u64> = 1..=10_000;
#[cfg(any(feature = "credentials", feature = "merchants"))]
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_millis(2_000);

/// Why a program's AWS wiring could not be built. The message names the variable, never its value.
#[derive(thiserror::Error)]
pub enum WiringError {
    /// A required variable is not set.
    #[error("environment variable {0} is not set")]
    MissingEnv(&'static str),
    /// A variable is set to something it cannot be.
    #[error("environment variable {name} {reason}")]
    Malformed {
        /// The variable.
        name: String,
        /// What is wrong with it (never its value).
        reason: String,
    },
    /// A variable that looks like a Cofre setting (it begins like one, or is within two letters of
    /// one) but is none: a misspelt or retired setting would otherwise be silently ignored.
    #[error("environment variable {name} is not a Cofre setting{}", suggestion.as_ref().map(|s| format!(" (did you mean {s}?)")).unwrap_or_default())]
    Unknown {
        /// The variable.
        name: String,
        /// The setting it most resembles.
        suggestion: Option<&'static str>,
    },
    /// The HTTP client could not be built.
    #[error("HTTP client: {0}")]
    HttpClient(String),
}

/// As the message: a `main` that returns this error prints it with `{:?}`.
impl std::fmt::Debug for WiringError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

/// A snapshot of the environment (or of given variables), read once.
#[cfg(any(feature = "credentials", feature = "merchants", feature = "authorizations"))]
struct Env(BTreeMap<String, Option<String>>);

#[cfg(any(feature = "credentials", feature = "merchants", feature = "authorizations"))]
impl Env {
    fn capture() -> Self {
        // A name that is not UTF-8 cannot be a setting; a value that is not is kept as None.
        Self(
            std::env::vars_os()
                .filter_map(|(name, value)| Some((name.into_string().ok()?, value.into_string().ok())))
                .collect(),
        )
    }

    fn given<K: Into<String>, V: Into<String>>(vars: impl IntoIterator<Item = (K, V)>) -> Self {
        Self(vars.into_iter().map(|(k, v)| (k.into(), Some(v.into()))).collect())
    }

    /// Fails on the first variable (by name) that looks like a setting but is none.
    fn deny_unknown(&self) -> Result<(), WiringError> {
        for name in self.0.keys() {
            if SETTINGS.contains(&name.as_str()) || name.starts_with("AWS_") {
                continue;
            }
            // Edit distance is at least the difference in length: most names need no computing.
            let near = SETTINGS.iter().any(|s| s.len().abs_diff(name.len()) <= 2 && edit_distance(name, s) <= 2);
            if near || SETTING_STEMS.iter().any(|stem| name.starts_with(stem)) {
                let closest = SETTINGS.iter().map(|s| (edit_distance(name, s), *s)).min();
                let suggestion = closest.filter(|(distance, _)| *distance <= 6).map(|(_, s)| s);
                return Err(WiringError::Unknown { name: name.clone(), suggestion });
            }
        }
        Ok(())
    }

    /// A required variable, checked by `valid`.
    fn required(&self, name: &'static str, valid: fn(&str) -> Result<(), String>) -> Result<String, WiringError> {
        let value = match self.0.get(name) {
            None => return Err(WiringError::MissingEnv(name)),
            Some(None) => return Err(malformed(name, "is not valid UTF-8")),
            Some(Some(value)) => value,
        };
        plain(value).and_then(|()| valid(value)).map_err(|reason| malformed(name, &reason))?;
        Ok(value.clone())
    }

    /// An optional variable (set and empty counts as not set, as the SDK treats it).
    fn optional(&self, name: &'static str) -> Result<Option<String>, WiringError> {
        match self.0.get(name) {
            None => Ok(None),
            Some(None) => Err(malformed(name, "is not valid UTF-8")),
            Some(Some(value)) if value.is_empty() => Ok(None),
            Some(Some(value)) => plain(value).map(|()| Some(value.clone())).map_err(|reason| malformed(name, &reason)),
        }
    }

    /// An optional connect timeout in milliseconds.
    #[cfg(any(feature = "credentials", feature = "merchants"))]
    fn connect_timeout(&self, name: &'static str) -> Result<Duration, WiringError> {
        let value = match self.0.get(name) {
            None => return Ok(DEFAULT_CONNECT_TIMEOUT),
            Some(None) => return Err(malformed(name, "is not valid UTF-8")),
            Some(Some(value)) => value,
        };
        let reason = || {
            format!(
                "must be a whole number of milliseconds from {} to {}",
                CONNECT_TIMEOUT_MS.start(),
                CONNECT_TIMEOUT_MS.end()
            )
        };
        let millis: u64 = value.parse().map_err(|_| malformed(name, &reason()))?;
        if !CONNECT_TIMEOUT_MS.contains(&millis) {
            return Err(malformed(name, &reason()));
        }
        Ok(Duration::from_millis(millis))
    }
}

#[cfg(any(feature = "credentials", feature = "merchants", feature = "authorizations"))]
fn malformed(name: &str, reason: &str) -> WiringError {
    WiringError::Malformed { name: name.to_owned(), reason: reason.to_owned() }
}

/// Levenshtein distance (names are short ASCII).
#[cfg(any(feature = "credentials", feature = "merchants", feature = "authorizations"))]
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, x) in a.iter().enumerate() {
        let mut current = vec![i + 1];
        for (j, y) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(x != y);
            current.push(substitution.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

/// Not empty, no surrounding or inner whitespace, no control characters.
#[cfg(any(feature = "credentials", feature = "merchants", feature = "authorizations"))]
fn plain(value: &str) -> Result<(), String> {
    if value.is_empty() {
        Err("is empty".into())
    } else if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        Err("contains whitespace or control characters".into())
    } else {
        Ok(())
    }
}

/// `arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE`'s resource, if `value` is an ARN of `service`.
#[cfg(any(feature = "credentials", feature = "merchants", feature = "authorizations"))]
fn arn_resource<'a>(value: &'a str, service: &str) -> Option<&'a str> {
    let parts: Vec<&str> = value.splitn(6, ':').collect();
    match parts.as_slice() {
        ["arn", partition, s, _, _, resource] if !partition.is_empty() && *s == service && !resource.is_empty() => {
            Some(resource)
        }
        _ => None,
    }
}

/// A DynamoDB table name (3–255 of `A-Z a-z 0-9 _ . -`) or table ARN.
#[cfg(any(feature = "credentials", feature = "merchants", feature = "authorizations"))]
fn table_name(value: &str) -> Result<(), String> {
    let name = arn_resource(value, "dynamodb").map_or(Some(value), |r| r.strip_prefix("table/"));
    let valid = name.is_some_and(|n| {
        (3..=255).contains(&n.len()) && n.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
    });
    if valid { Ok(()) } else { Err("is not a DynamoDB table name or table ARN".into()) }
}

/// A Secrets Manager secret name (1–512 of `A-Z a-z 0-9 / _ + = . @ -`) or secret ARN.
#[cfg(any(feature = "credentials", feature = "merchants", feature = "authorizations"))]
fn secret_id(value: &str) -> Result<(), String> {
    let name = arn_resource(value, "secretsmanager").map_or(Some(value), |r| r.strip_prefix("secret:"));
    let valid = name.is_some_and(|n| {
        (1..=512).contains(&n.len()) && n.bytes().all(|b| b.is_ascii_alphanumeric() || b"/_+=.@-".contains(&b))
    });
    if valid { Ok(()) } else { Err("is not a Secrets Manager secret name or ARN".into()) }
}

/// A KMS key id, key ARN, alias name (`alias/…`) or alias ARN.
#[cfg(any(feature = "credentials", feature = "merchants"))]
fn kms_key(value: &str) -> Result<(), String> {
    let key_id = |id: &str| {
        let id = id.strip_prefix("mrk-").unwrap_or(id);
        !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
    };
    let alias = |a: &str| {
        a.strip_prefix("alias/").is_some_and(|n| {
            !n.is_empty() && n.len() <= 250 && n.bytes().all(|b| b.is_ascii_alphanumeric() || b"/_-".contains(&b))
        })
    };
    let valid = match arn_resource(value, "kms") {
        Some(resource) => resource.strip_prefix("key/").is_some_and(key_id) || alias(resource),
        None => key_id(value) || alias(value),
    };
    if valid { Ok(()) } else { Err("is not a KMS key id, key ARN, alias name or alias ARN".into()) }
}

/// `from_env` and `from_vars` for a settings type that has `fn read(env: &Env)`: each refuses
/// look-alike variables first (see the module's rules), then reads its own.
#[cfg(any(feature = "credentials", feature = "merchants", feature = "authorizations"))]
macro_rules! settings_from_environment {
    ($settings:ty) => {
        impl $settings {
            /// Reads the settings from the process environment (see the module's rules).
            pub fn from_env() -> Result<Self, WiringError> {
                Self::parse(&Env::capture())
            }

            /// Reads the settings from `vars` alone, by the same rules.
            pub fn from_vars<K: Into<String>, V: Into<String>>(
                vars: impl IntoIterator<Item = (K, V)>,
            ) -> Result<Self, WiringError> {
                Self::parse(&Env::given(vars))
            }

            fn parse(env: &Env) -> Result<Self, WiringError> {
                env.deny_unknown()?;
                Self::read(env)
            }
        }
    };
}

#[cfg(feature = "credentials")]
settings_from_environment!(CredentialSettings);
#[cfg(feature = "merchants")]
settings_from_environment!(MerchantSettings);
#[cfg(feature = "authorizations")]
settings_from_environment!(AuthorizationSettings);
#[cfg(feature = "authorizations")]
settings_from_environment!(HoldExpirySettings);
#[cfg(all(feature = "credentials", feature = "merchants", feature = "authorizations"))]
settings_from_environment!(StackSettings);

#[cfg(feature = "credentials")]
/// The settings of create-credential and use-credential.
#[derive(Debug, Clone)]
pub struct CredentialSettings {
    /// `CREDENTIALS_TABLE`: the DynamoDB table.
    pub table: String,
    /// `DATA_KEY_ID`: the KMS key (id, ARN or alias) that wraps data keys.
    pub key_id: String,
    /// `PARTNER_CONFIG_SECRET`: the Secrets Manager secret with partner endpoints.
    pub partner_config_secret: String,
    /// `PARTNER_CONNECT_TIMEOUT_MS`: how long to wait for a TCP/TLS connection to a partner (default 2000).
    pub partner_connect_timeout: Duration,
}

#[cfg(feature = "credentials")]
impl CredentialSettings {
    fn read(env: &Env) -> Result<Self, WiringError> {
        Ok(Self {
            table: env.required("CREDENTIALS_TABLE", table_name)?,
            key_id: env.required("DATA_KEY_ID", kms_key)?,
            partner_config_secret: env.required("PARTNER_CONFIG_SECRET", secret_id)?,
            partner_connect_timeout: env.connect_timeout("PARTNER_CONNECT_TIMEOUT_MS")?,
        })
    }
}

#[cfg(feature = "merchants")]
/// The settings of patch-merchant-connection.
#[derive(Debug, Clone)]
pub struct MerchantSettings {
    /// `MERCHANTS_TABLE`: the DynamoDB table.
    pub table: String,
    /// `DATA_KEY_ID`: the KMS key (id, ARN or alias) that wraps data keys.
    pub key_id: String,
    /// `PROCESSOR_CONFIG_SECRET`: the Secrets Manager secret with processor endpoints.
    pub processor_config_secret: String,
    /// `HMAC_KEY_SECRET`: the Secrets Manager secret holding the fingerprint HMAC key.
    pub hmac_key_secret: String,
    /// `PROCESSOR_CONNECT_TIMEOUT_MS`: TCP/TLS connect timeout to processors (default 2000).
    pub processor_connect_timeout: Duration,
}

#[cfg(feature = "merchants")]
impl MerchantSettings {
    fn read(env: &Env) -> Result<Self, WiringError> {
        Ok(Self {
            table: env.required("MERCHANTS_TABLE", table_name)?,
            key_id: env.required("DATA_KEY_ID", kms_key)?,
            processor_config_secret: env.required("PROCESSOR_CONFIG_SECRET", secret_id)?,
            hmac_key_secret: env.required("HMAC_KEY_SECRET", secret_id)?,
            processor_connect_timeout: env.connect_timeout("PROCESSOR_CONNECT_TIMEOUT_MS")?,
        })
    }
}

#[cfg(feature = "authorizations")]
/// The settings of request-authorization.
#[derive(Debug, Clone)]
pub struct AuthorizationSettings {
    /// `LEDGER_TABLE`: accounts, authorizations, idempotency records, lookups.
    pub ledger_table: String,
    /// `EVENTS_TABLE`: authorization events (its stream carries them on).
    pub events_table: String,
    /// `HMAC_KEY_SECRET`: the Secrets Manager secret holding the PAN-hash key.
    pub hmac_key_secret: String,
}

#[cfg(feature = "authorizations")]
impl AuthorizationSettings {
    fn read(env: &Env) -> Result<Self, WiringError> {
        Ok(Self {
            ledger_table: env.required("LEDGER_TABLE", table_name)?,
            events_table: env.required("EVENTS_TABLE", table_name)?,
            hmac_key_secret: env.required("HMAC_KEY_SECRET", secret_id)?,
        })
    }
}

#[cfg(feature = "authorizations")]
/// The settings of expire-holds: the ledger and its events, no secret (it hashes no PAN).
#[derive(Debug, Clone)]
pub struct HoldExpirySettings {
    /// `LEDGER_TABLE`: the authorizations and the due-holds index over them.
    pub ledger_table: String,
    /// `EVENTS_TABLE`: where the `authorization-expired` events go.
    pub events_table: String,
}

#[cfg(feature = "authorizations")]
impl HoldExpirySettings {
    fn read(env: &Env) -> Result<Self, WiringError> {
        Ok(Self {
            ledger_table: env.required("LEDGER_TABLE", table_name)?,
            events_table: env.required("EVENTS_TABLE", table_name)?,
        })
    }
}

#[cfg(all(feature = "credentials", feature = "merchants", feature = "authorizations"))]
/// Every function's settings, from one environment: what `cofre-local --backend aws` serves (and
/// seeds) with, as the stack's functions would be configured.
#[derive(Debug, Clone)]
pub struct StackSettings {
    /// create-credential's and use-credential's.
    pub credentials: CredentialSettings,
    /// patch-merchant-connection's.
    pub merchants: MerchantSettings,
    /// request-authorization's.
    pub authorizations: AuthorizationSettings,
}

#[cfg(all(feature = "credentials", feature = "merchants", feature = "authorizations"))]
impl StackSettings {
    fn read(env: &Env) -> Result<Self, WiringError> {
        Ok(Self {
            credentials: CredentialSettings::read(env)?,
            merchants: MerchantSettings::read(env)?,
            authorizations: AuthorizationSettings::read(env)?,
        })
    }
}

/// The system's CA certificates, read once per process (one pass over the store: the bundle file,
/// and on some distributions a directory of one file per certificate), for every client that
/// verifies servers: the partner/processor client, and the SDK's ([`sdk_config_sharing_roots`]).
/// Without this, each reads and parses the whole store itself.
#[derive(Debug)]
struct SharedRoots {
    /// For rustls (the partner/processor client).
    store: Arc<rustls::RootCertStore>,
    /// The SDK's HTTP client, trusting the same certificates (it takes them PEM encoded).
    sdk_client: Option<SharedHttpClient>,
}

fn shared_roots() -> &'static SharedRoots {
    static SHARED: std::sync::LazyLock<SharedRoots> = std::sync::LazyLock::new(|| {
        let loaded = rustls_native_certs::load_native_certs();
        for error in &loaded.errors {
            tracing::warn!(%error, "a system CA certificate could not be read");
        }
        let mut store = rustls::RootCertStore::empty();
        let mut pem = Vec::new();
        for certificate in loaded.certs {
            // Only what rustls accepts as a trust anchor goes to either client: the SDK's own
            // loader would refuse the process on a certificate it cannot parse.
            let der = certificate.as_ref().to_vec();
            if store.add(certificate).is_ok() {
                push_pem(&mut pem, &der);
            }
        }
        if store.is_empty() {
            tracing::warn!("no system CA certificates: TLS connections will fail");
        }
        let trust = aws_smithy_http_client::tls::TrustStore::empty().with_native_roots(false).with_pem_certificate(pem);
        SharedRoots { store: Arc::new(store), sdk_client: sdk_http_client(trust) }
    });
    &SHARED
}

/// The trust roots of the partner/processor client (read on first call, at start).
#[cfg_attr(not(feature = "outbound-http"), allow(dead_code))]
pub(crate) fn trust_roots() -> Arc<rustls::RootCertStore> {
    Arc::clone(&shared_roots().store)
}

fn push_pem(out: &mut Vec<u8>, der: &[u8]) {
    use base64::Engine;
    out.extend_from_slice(b"-----BEGIN CERTIFICATE-----\n");
    for line in base64::engine::general_purpose::STANDARD.encode(der).as_bytes().chunks(64) {
        out.extend_from_slice(line);
        out.push(b'\n');
    }
    out.extend_from_slice(b"-----END CERTIFICATE-----\n");
}

/// The timeouts of every SDK call: well inside the function's 15 s, so a hung AWS call becomes a
/// documented `EBAA` error for the caller, not an API Gateway timeout.
fn sdk_timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(1))
        .operation_attempt_timeout(Duration::from_millis(1_500))
        .operation_timeout(Duration::from_secs(3))
        .build()
}

/// The SDK configuration from the standard chain (region, credentials, `AWS_ENDPOINT_URL`), with
/// [`sdk_timeouts`], on an HTTP client that builds its connector at start (see
/// [`PrebuiltConnector`]). The SDK reads the system's CA roots itself: for a program that calls no
/// third party (request-authorization, the seeders, tests).
pub async fn sdk_config() -> SdkConfig {
    load_sdk_config(sdk_http_client(aws_smithy_http_client::tls::TrustStore::default())).await
}

/// [`sdk_config`], for a program that also calls partners or processors: the SDK's HTTP client
/// trusts the roots the partner/processor client trusts, read from the system once, here, at start.
pub async fn sdk_config_sharing_roots() -> SdkConfig {
    load_sdk_config(shared_roots().sdk_client.clone()).await
}

/// A Lambda function's SDK configuration, from what Lambda sets: `AWS_REGION`, the execution role's
/// credentials (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`), and
/// `AWS_ENDPOINT_URL` if set; with [`sdk_timeouts`], the standard retries and `client`. A missing or
/// malformed one fails the start by name, as Cofre's settings do.
///
/// aws-config's loader would find the same values, after building chains that cannot succeed on
/// Lambda where these do (profile files, SSO, web identity through an STS client, container and
/// instance metadata): at every start, and linked into every binary (docs/cold-start.md). Lambda
/// gives the credentials for the life of the execution environment, so they are static here as they
/// are in the loader's environment provider. `cofre-local` keeps the loader ([`sdk_config`]): a
/// developer's machine has profiles.
#[cfg(any(feature = "credentials", feature = "merchants", feature = "authorizations"))]
fn lambda_sdk_config(env: &Env, client: Option<SharedHttpClient>) -> Result<SdkConfig, WiringError> {
    use aws_credential_types::Credentials;
    use aws_credential_types::provider::SharedCredentialsProvider;
    use aws_smithy_async::rt::sleep::{SharedAsyncSleep, TokioSleep};
    use aws_smithy_async::time::{SharedTimeSource, SystemTimeSource};
    let any = |_: &str| Ok(());
    let region = env.required("AWS_REGION", |v| {
        let ok = v.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if ok { Ok(()) } else { Err("is not an AWS region name".into()) }
    })?;
    let access_key = env.required("AWS_ACCESS_KEY_ID", any)?;
    let secret_key = env.required("AWS_SECRET_ACCESS_KEY", any)?;
    let session_token = env.optional("AWS_SESSION_TOKEN")?;
    let endpoint = env.optional("AWS_ENDPOINT_URL")?;
    if let Some(url) = &endpoint
        && !(url.starts_with("https://") || url.starts_with("http://"))
    {
        return Err(malformed("AWS_ENDPOINT_URL", "must be an http(s) URL"));
    }
    let credentials = Credentials::new(access_key, secret_key, session_token, None, "lambda-environment");
    let mut config = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(aws_types::region::Region::new(region))
        .credentials_provider(SharedCredentialsProvider::new(credentials))
        .sleep_impl(SharedAsyncSleep::new(TokioSleep::new()))
        .time_source(SharedTimeSource::new(SystemTimeSource::new()))
        .timeout_config(sdk_timeouts())
        .retry_config(aws_config::retry::RetryConfig::standard());
    if let Some(client) = client {
        config = config.http_client(client);
    }
    if let Some(endpoint) = endpoint {
        config = config.endpoint_url(endpoint);
    }
    Ok(config.build())
}

async fn load_sdk_config(client: Option<SharedHttpClient>) -> SdkConfig {
    let loader = aws_config::defaults(BehaviorVersion::latest()).timeout_config(sdk_timeouts());
    match client {
        Some(client) => loader.http_client(client),
        None => loader,
    }
    .load()
    .await
}

/// The SDK's default HTTPS client (rustls on aws-lc, proxies from the environment, the SDK's own
/// connector settings and sleep; built as the SDK builds its default, with
/// `build_with_connector_fn`, which it hides from its docs), trusting `trust`, and wrapped in
/// [`PrebuiltConnector`]. `None` if the TLS context cannot be built (the SDK then uses its default).
fn sdk_http_client(trust: aws_smithy_http_client::tls::TrustStore) -> Option<SharedHttpClient> {
    use aws_smithy_http_client::{Builder, ConnectorBuilder, proxy::ProxyConfig, tls};
    let context = match tls::TlsContext::builder().with_trust_store(trust).build() {
        Ok(context) => context,
        Err(error) => {
            tracing::warn!(%error, "no TLS context for the SDK's client; it uses its default");
            return None;
        }
    };
    let inner = Builder::new().build_with_connector_fn(move |settings, components| {
        let mut connector = ConnectorBuilder::default()
            .tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::AwsLc))
            .tls_context(context.clone());
        connector.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            connector.set_sleep_impl(components.sleep_impl());
        }
        connector.set_proxy_config(Some(ProxyConfig::from_env()));
        connector.build()
    });
    Some(SharedHttpClient::new(PrebuiltConnector(inner)))
}

/// An SDK HTTP client whose connector for Cofre's calls ([`sdk_timeouts`]) is built when the first
/// SDK client is (at start), once, and kept. The SDK's own client builds a connector when each SDK
/// client is built, only to load the trust roots early, drops it, and builds the one it keeps on the
/// first request: each build parses every root. Here the build at start is the one kept, so the
/// first request finds it ready. A client with other timeouts (the STS client `aws-config` builds
/// for a credentials provider Cofre never reaches on Lambda) builds nothing until it is used.
#[derive(Debug)]
struct PrebuiltConnector(SharedHttpClient);

impl HttpClient for PrebuiltConnector {
    fn http_connector(&self, settings: &HttpConnectorSettings, components: &RuntimeComponents) -> SharedHttpConnector {
        self.0.http_connector(settings, components)
    }

    fn validate_base_client_config(
        &self,
        components: &RuntimeComponentsBuilder,
        cfg: &ConfigBag,
    ) -> Result<(), BoxError> {
        // The settings the orchestrator will ask for (aws_smithy_runtime::client::orchestrator).
        let ours = sdk_timeouts();
        let Some(timeouts) = cfg.load::<TimeoutConfig>() else { return Ok(()) };
        if (timeouts.connect_timeout(), timeouts.read_timeout()) != (ours.connect_timeout(), ours.read_timeout()) {
            return Ok(());
        }
        let mut settings = HttpConnectorSettings::builder();
        settings.set_connect_timeout(timeouts.connect_timeout());
        settings.set_read_timeout(timeouts.read_timeout());
        if let Ok(components) = components.clone().build() {
            let _ = self.0.http_connector(&settings.build(), &components);
        }
        Ok(())
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        self.0.connector_metadata()
    }
}

/// The AWS SDK clients the adapters are built on: each made from one [`SdkConfig`] when a use case
/// needs it (so a function builds, and links, only the clients it calls), unless given, as tests
/// give clients of their own (e.g. with interceptors counting round trips).
#[derive(Debug, Clone)]
pub struct AwsClients {
    #[cfg_attr(not(any(feature = "dynamodb", feature = "kms", feature = "secretsmanager")), allow(dead_code))]
    sdk: SdkConfig,
    #[cfg(feature = "dynamodb")]
    dynamodb: Option<aws_sdk_dynamodb::Client>,
    #[cfg(feature = "kms")]
    kms: Option<aws_sdk_kms::Client>,
    #[cfg(feature = "secretsmanager")]
    secrets: Option<aws_sdk_secretsmanager::Client>,
}

impl AwsClients {
    /// Clients made from `sdk` as they are needed.
    pub fn new(sdk: &SdkConfig) -> Self {
        Self {
            sdk: sdk.clone(),
            #[cfg(feature = "dynamodb")]
            dynamodb: None,
            #[cfg(feature = "kms")]
            kms: None,
            #[cfg(feature = "secretsmanager")]
            secrets: None,
        }
    }

    /// Uses `client` for DynamoDB.
    #[cfg(feature = "dynamodb")]
    pub fn with_dynamodb(self, client: aws_sdk_dynamodb::Client) -> Self {
        Self { dynamodb: Some(client), ..self }
    }

    /// Uses `client` for KMS.
    #[cfg(feature = "kms")]
    pub fn with_kms(self, client: aws_sdk_kms::Client) -> Self {
        Self { kms: Some(client), ..self }
    }

    /// Uses `client` for Secrets Manager.
    #[cfg(feature = "secretsmanager")]
    pub fn with_secrets(self, client: aws_sdk_secretsmanager::Client) -> Self {
        Self { secrets: Some(client), ..self }
    }

    #[cfg(feature = "dynamodb")]
    fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        self.dynamodb.clone().unwrap_or_else(|| aws_sdk_dynamodb::Client::new(&self.sdk))
    }

    #[cfg(feature = "kms")]
    fn kms(&self) -> aws_sdk_kms::Client {
        self.kms.clone().unwrap_or_else(|| aws_sdk_kms::Client::new(&self.sdk))
    }

    #[cfg(feature = "secretsmanager")]
    fn secrets(&self) -> aws_sdk_secretsmanager::Client {
        self.secrets.clone().unwrap_or_else(|| aws_sdk_secretsmanager::Client::new(&self.sdk))
    }
}

impl From<&SdkConfig> for AwsClients {
    fn from(sdk: &SdkConfig) -> Self {
        Self::new(sdk)
    }
}

impl From<&AwsClients> for AwsClients {
    fn from(clients: &AwsClients) -> Self {
        clients.clone()
    }
}

#[cfg(feature = "credentials")]
/// The adapters both banking-credential functions use, built from the same settings.
struct CredentialPorts {
    store: Arc<DynamoCredentialStore>,
    keys: Arc<KmsKeyService>,
    partners: Arc<HttpPartnerClient>,
    settings: Arc<SecretsManagerEndpointSettings>,
}

#[cfg(feature = "credentials")]
impl CredentialPorts {
    fn new(aws: &AwsClients, settings: &CredentialSettings) -> Result<Self, WiringError> {
        let partners = HttpPartnerClient::new(settings.partner_connect_timeout)
            .map_err(|e| WiringError::HttpClient(e.to_string()))?;
        Ok(Self {
            store: Arc::new(DynamoCredentialStore::new(aws.dynamodb(), &settings.table)),
            keys: Arc::new(KmsKeyService::new(aws.kms(), &settings.key_id)),
            partners: Arc::new(partners),
            settings: Arc::new(SecretsManagerEndpointSettings::new(aws.secrets(), &settings.partner_config_secret)),
        })
    }
}

#[cfg(feature = "credentials")]
/// The credential use case (create-credential) over DynamoDB, KMS, Secrets Manager and partners.
pub fn credential_vault(
    aws: impl Into<AwsClients>,
    settings: &CredentialSettings,
) -> Result<CredentialVault, WiringError> {
    let ports = CredentialPorts::new(&aws.into(), settings)?;
    Ok(CredentialVault::new(
        ports.store,
        ports.keys,
        ports.partners,
        ports.settings,
        Arc::new(SystemClock),
        Arc::new(RandomIds::default()),
    ))
}

#[cfg(feature = "credentials")]
/// The partner gateway (use-credential) over DynamoDB, KMS (the only use case that unwraps data
/// keys), Secrets Manager and partners; it reads the same settings as create-credential.
pub fn partner_gateway(
    aws: impl Into<AwsClients>,
    settings: &CredentialSettings,
) -> Result<PartnerGateway, WiringError> {
    let ports = CredentialPorts::new(&aws.into(), settings)?;
    Ok(PartnerGateway::new(
        ports.store,
        ports.keys,
        ports.partners,
        ports.settings,
        Arc::new(SystemClock),
        Arc::new(RandomIds::default()),
    ))
}

#[cfg(feature = "merchants")]
/// The merchant-connection use case (patch-merchant-connection) over DynamoDB, KMS, Secrets Manager
/// and processors. The processor settings and the HMAC key are one [`SecretGroup`]: a rotation
/// needs both, so the first one fetches both, in one call.
pub fn merchant_connections(
    aws: impl Into<AwsClients>,
    settings: &MerchantSettings,
) -> Result<MerchantConnections, WiringError> {
    let aws = aws.into();
    let processors = HttpProcessorClient::new(settings.processor_connect_timeout)
        .map_err(|e| WiringError::HttpClient(e.to_string()))?;
    let secrets = SecretGroup::new(aws.secrets(), [&settings.hmac_key_secret, &settings.processor_config_secret]);
    Ok(MerchantConnections::new(
        Arc::new(DynamoMerchantStore::new(aws.dynamodb(), &settings.table)),
        Arc::new(KmsKeyService::new(aws.kms(), &settings.key_id)),
        Arc::new(SecretsManagerHmacKey::grouped(&secrets, &settings.hmac_key_secret)),
        Arc::new(processors),
        Arc::new(SecretsManagerEndpointSettings::grouped(&secrets, &settings.processor_config_secret)),
        Arc::new(SystemClock),
    ))
}

#[cfg(feature = "merchants")]
/// The merchant seeder over the same AWS adapters (for `cofre-local seed --backend aws`).
pub fn merchant_seeder(aws: impl Into<AwsClients>, settings: &MerchantSettings) -> MerchantSeeder {
    let aws = aws.into();
    MerchantSeeder::new(
        Arc::new(DynamoMerchantStore::new(aws.dynamodb(), &settings.table)),
        Arc::new(KmsKeyService::new(aws.kms(), &settings.key_id)),
        Arc::new(SecretsManagerHmacKey::new(aws.secrets(), &settings.hmac_key_secret)),
        Arc::new(SystemClock),
    )
}

#[cfg(feature = "authorizations")]
/// The authorization use case (request-authorization) over DynamoDB and Secrets Manager.
pub fn authorizer(aws: impl Into<AwsClients>, settings: &AuthorizationSettings) -> Authorizer {
    let aws = aws.into();
    Authorizer::new(
        Arc::new(DynamoLedger::new(aws.dynamodb(), &settings.ledger_table, &settings.events_table)),
        Arc::new(SecretsManagerHmacKey::new(aws.secrets(), &settings.hmac_key_secret)),
        Arc::new(SystemClock),
        Arc::new(RandomIds::default()),
    )
}

#[cfg(feature = "authorizations")]
/// The hold-expiry sweep (expire-holds) over DynamoDB.
pub fn hold_expirer(aws: impl Into<AwsClients>, settings: &HoldExpirySettings) -> HoldExpirer {
    let aws = aws.into();
    HoldExpirer::new(
        Arc::new(DynamoLedger::new(aws.dynamodb(), &settings.ledger_table, &settings.events_table)),
        Arc::new(SystemClock),
    )
}

#[cfg(feature = "authorizations")]
/// The account seeder over the same AWS adapters (for `cofre-local seed --backend aws`).
pub fn account_seeder(aws: impl Into<AwsClients>, settings: &AuthorizationSettings) -> AccountSeeder {
    let aws = aws.into();
    AccountSeeder::new(
        Arc::new(DynamoLedger::new(aws.dynamodb(), &settings.ledger_table, &settings.events_table)),
        Arc::new(DynamoCardHashes::new(aws.dynamodb(), &settings.ledger_table)),
        Arc::new(SecretsManagerHmacKey::new(aws.secrets(), &settings.hmac_key_secret)),
    )
}

#[cfg(all(feature = "merchants", feature = "authorizations"))]
/// The HMAC key's rotation steps over the stack's secret, merchants and ledger (for `cofre-local
/// hmac-key --backend aws`; see `docs/operations.md`). Connection credentials are not opened:
/// `DataKey`'s policy lets nobody but use-credential decrypt, and only banking credentials.
pub fn hmac_rotation(
    aws: impl Into<AwsClients>,
    merchants: &MerchantSettings,
    authorizations: &AuthorizationSettings,
) -> cofre_domain::hmac_rotation::HmacRotation {
    let aws = aws.into();
    cofre_domain::hmac_rotation::HmacRotation::new(
        Arc::new(SecretsManagerHmacKey::new(aws.secrets(), &merchants.hmac_key_secret)),
        Arc::new(DynamoMerchantStore::new(aws.dynamodb(), &merchants.table)),
        Arc::new(DynamoCardHashes::new(aws.dynamodb(), &authorizations.ledger_table)),
    )
}

#[cfg(all(feature = "credentials", feature = "merchants", feature = "authorizations"))]
/// Every use case of the stack, as its functions build them.
#[derive(Debug)]
pub struct Stack {
    /// create-credential's.
    pub vault: CredentialVault,
    /// use-credential's.
    pub gateway: PartnerGateway,
    /// patch-merchant-connection's.
    pub connections: MerchantConnections,
    /// request-authorization's.
    pub authorizer: Authorizer,
}

#[cfg(all(feature = "credentials", feature = "merchants", feature = "authorizations"))]
/// Every use case of the stack over the same clients (for `cofre-local serve --backend aws`).
pub fn stack(aws: impl Into<AwsClients>, settings: &StackSettings) -> Result<Stack, WiringError> {
    let aws = aws.into();
    Ok(Stack {
        vault: credential_vault(&aws, &settings.credentials)?,
        gateway: partner_gateway(&aws, &settings.credentials)?,
        connections: merchant_connections(&aws, &settings.merchants)?,
        authorizer: authorizer(&aws, &settings.authorizations),
    })
}

#[cfg(feature = "credentials")]
/// create-credential's use case, from its environment: its settings parsed (failing here, at
/// start, on any that is wrong), the SDK configured, the adapters built.
pub async fn create_credential() -> Result<CredentialVault, WiringError> {
    let env = Env::capture();
    let settings = CredentialSettings::parse(&env)?;
    credential_vault(&lambda_sdk_config(&env, shared_roots().sdk_client.clone())?, &settings)
}

#[cfg(feature = "credentials")]
/// use-credential's use case (the partner gateway), from its environment, as [`create_credential`].
pub async fn use_credential() -> Result<PartnerGateway, WiringError> {
    let env = Env::capture();
    let settings = CredentialSettings::parse(&env)?;
    partner_gateway(&lambda_sdk_config(&env, shared_roots().sdk_client.clone())?, &settings)
}

#[cfg(feature = "merchants")]
/// patch-merchant-connection's use case, from its environment, as [`create_credential`].
pub async fn patch_merchant_connection() -> Result<MerchantConnections, WiringError> {
    let env = Env::capture();
    let settings = MerchantSettings::parse(&env)?;
    merchant_connections(&lambda_sdk_config(&env, shared_roots().sdk_client.clone())?, &settings)
}

#[cfg(feature = "authorizations")]
/// request-authorization's use case, from its environment, as [`create_credential`] (it calls no
/// third party: the SDK reads its own roots).
pub async fn request_authorization() -> Result<Authorizer, WiringError> {
    let env = Env::capture();
    let settings = AuthorizationSettings::parse(&env)?;
    let client = sdk_http_client(aws_smithy_http_client::tls::TrustStore::default());
    Ok(authorizer(&lambda_sdk_config(&env, client)?, &settings))
}

#[cfg(feature = "authorizations")]
/// expire-holds' use case, from its environment, as [`request_authorization`].
pub async fn expire_holds() -> Result<HoldExpirer, WiringError> {
    let env = Env::capture();
    let settings = HoldExpirySettings::parse(&env)?;
    let client = sdk_http_client(aws_smithy_http_client::tls::TrustStore::default());
    Ok(hold_expirer(&lambda_sdk_config(&env, client)?, &settings))
}

#[cfg(feature = "authorizations")]
/// The most holds one invocation of expire-holds releases (up to 32 accounts' at once); a backlog on
/// a few accounts is cut by the deadline instead; more wait for the next invocation, a minute later.
pub const SWEEP_MAX_HOLDS_PER_INVOCATION: usize = 20_000;

#[cfg(feature = "authorizations")]
/// How long before the invocation's deadline the sweep starts nothing new: one batch of
/// transactions (a few seconds at the slowest) and the answer fit in it.
pub const SWEEP_STOP_BEFORE_DEADLINE: std::time::Duration = std::time::Duration::from_secs(30);

#[cfg(feature = "authorizations")]
/// Why an invocation of expire-holds failed.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    /// The store failed; what the sweep had not reached is still due.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The invocation's deadline leaves no time to sweep.
    #[error(
        "the invocation's deadline is within {} s: the sweep starts nothing that close to it, so the \
         function's Timeout must be longer",
        SWEEP_STOP_BEFORE_DEADLINE.as_secs()
    )]
    NoTime,
}

#[cfg(feature = "authorizations")]
/// One invocation of expire-holds: the scheduler's event says nothing the sweep needs (what is due is
/// read from the index, at the clock's time), so any event sweeps. Answers what it did, as JSON (in the
/// function's result and logs); a store failure is the invocation's error, and what it had not
/// reached is still due.
///
/// `deadline_ms` is the invocation's deadline (Lambda's context, Unix milliseconds): no new batch
/// starts within [`SWEEP_STOP_BEFORE_DEADLINE`] of it, so the invocation ends with its report
/// instead of a timeout. A deadline already that close is [`SweepError::NoTime`]; one already past
/// is no deadline (an emulator's placeholder).
pub async fn sweep_holds(
    expirer: &HoldExpirer,
    event: &serde_json::Value,
    deadline_ms: Option<u64>,
) -> Result<serde_json::Value, SweepError> {
    let field = |name: &str| event.get(name).and_then(|v| v.as_str()).unwrap_or_default().to_owned();
    let (scheduled_time, execution_id) = (field("scheduled_time"), field("execution_id"));
    let now = time::OffsetDateTime::now_utc();
    let deadline =
        deadline_ms.and_then(|ms| time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok());
    let stop_at = match deadline {
        // Lambda hands an event over before its deadline: one already past is no deadline but a
        // placeholder (`cargo lambda watch` sends 600,000, in 1970). A sweep without one is cut by
        // the function's timeout at worst, which loses nothing.
        Some(deadline) if deadline <= now => {
            tracing::warn!(deadline_ms, "the invocation's deadline is already past; sweeping without one");
            None
        }
        Some(deadline) => {
            let stop_at = deadline - SWEEP_STOP_BEFORE_DEADLINE;
            // One that leaves no time would stop the sweep before it starts, and its report would
            // read like an empty index: fail, so the errors alarm says the Timeout is too short.
            if stop_at <= now {
                return Err(SweepError::NoTime);
            }
            Some(stop_at)
        }
        None => None,
    };
    let report = expirer.sweep_until(SWEEP_MAX_HOLDS_PER_INVOCATION, stop_at).await?;
    tracing::info!(scheduled_time, execution_id, expired = report.expired, "sweep done");
    Ok(serde_json::json!({
        "due": report.due,
        "expired": report.expired,
        "settled_first": report.settled_first,
        "retried": report.retried,
        "left": report.left,
    }))
}

#[cfg(all(feature = "credentials", feature = "merchants", feature = "authorizations"))]
/// Every function's use case from one environment ([`StackSettings`]), as the functions build them:
/// what `cofre-local serve --backend aws` serves.
pub async fn whole_stack() -> Result<Stack, WiringError> {
    let settings = StackSettings::from_env()?;
    stack(&sdk_config_sharing_roots().await, &settings)
}

#[cfg(all(test, feature = "all"))]
mod tests {
    use super::*;

    fn stack_vars() -> Vec<(&'static str, &'static str)> {
        vec![
            ("CREDENTIALS_TABLE", "cofre-credentials"),
            ("DATA_KEY_ID", "arn:aws:kms:sa-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"),
            ("PARTNER_CONFIG_SECRET", "arn:aws:secretsmanager:sa-east-1:123456789012:secret:cofre/partners-AbCdEf"),
            ("MERCHANTS_TABLE", "arn:aws:dynamodb:sa-east-1:123456789012:table/cofre-merchants"),
            ("PROCESSOR_CONFIG_SECRET", "cofre/processors"),
            ("HMAC_KEY_SECRET", "cofre-hmac"),
            ("LEDGER_TABLE", "cofre-ledger"),
            ("EVENTS_TABLE", "cofre-events"),
            ("AWS_REGION", "sa-east-1"),
            ("RUST_LOG", "info"),
            ("PATH", "/usr/bin"),
        ]
    }

    fn with(changes: &[(&'static str, Option<&'static str>)]) -> Vec<(&'static str, &'static str)> {
        let mut vars = stack_vars();
        for (name, value) in changes {
            vars.retain(|(n, _)| n != name);
            if let Some(value) = value {
                vars.push((name, value));
            }
        }
        vars
    }

    #[test]
    fn the_stack_settings_parse_and_each_function_takes_its_own() {
        let stack = StackSettings::from_vars(stack_vars()).unwrap();
        assert_eq!(stack.credentials.partner_connect_timeout, Duration::from_secs(2));
        assert_eq!(stack.merchants.hmac_key_secret, "cofre-hmac");
        assert_eq!(stack.authorizations.events_table, "cofre-events");
        // A function given only its own variables, as template.yaml does.
        let own = [("LEDGER_TABLE", "l-table"), ("EVENTS_TABLE", "e-table"), ("HMAC_KEY_SECRET", "h")];
        assert!(AuthorizationSettings::from_vars(own).is_ok());
        let timeout = with(&[("PROCESSOR_CONNECT_TIMEOUT_MS", Some("750"))]);
        assert_eq!(MerchantSettings::from_vars(timeout).unwrap().processor_connect_timeout, Duration::from_millis(750));
        for key in ["alias/cofre-data", "mrk-1234abcd12ab34cd56ef1234567890ab", "arn:aws:kms:us-east-1:1:alias/x"] {
            assert!(StackSettings::from_vars(with(&[("DATA_KEY_ID", Some(key))])).is_ok(), "{key}");
        }
    }

    #[test]
    fn a_function_s_sdk_configuration_comes_from_lambda_s_variables_alone() {
        let lambda = [
            ("AWS_REGION", "sa-east-1"),
            ("AWS_ACCESS_KEY_ID", "ASIAEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
            ("AWS_SESSION_TOKEN", "IQoJb3JpZ2luX2VjEXAMPLE"),
        ];
        let config = lambda_sdk_config(&Env::given(lambda), None).unwrap();
        assert_eq!(config.region().map(|r| r.as_ref()), Some("sa-east-1"));
        assert_eq!(config.endpoint_url(), None);
        assert!(config.credentials_provider().is_some() && config.behavior_version().is_some());
        assert_eq!(config.timeout_config(), Some(&sdk_timeouts()));
        let moto = lambda.iter().copied().chain([("AWS_ENDPOINT_URL", "http://127.0.0.1:5000")]);
        let config = lambda_sdk_config(&Env::given(moto), None).unwrap();
        assert_eq!(config.endpoint_url(), Some("http://127.0.0.1:5000"));

        for missing in ["AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"] {
            let without = lambda.iter().copied().filter(|(name, _)| *name != missing);
            let error = lambda_sdk_config(&Env::given(without), None).unwrap_err();
            assert_eq!(error.to_string(), format!("environment variable {missing} is not set"));
        }
        for (name, value, reason) in [
            ("AWS_REGION", "SA East 1", "contains whitespace or control characters"),
            ("AWS_REGION", "SA-EAST-1", "is not an AWS region name"),
            ("AWS_ENDPOINT_URL", "127.0.0.1:5000", "must be an http(s) URL"),
        ] {
            let bad = lambda.iter().copied().filter(|(n, _)| *n != name).chain([(name, value)]);
            let error = lambda_sdk_config(&Env::given(bad), None).unwrap_err();
            assert_eq!(error.to_string(), format!("environment variable {name} {reason}"), "{value}");
            assert!(!error.to_string().contains(value), "values are never echoed");
        }
    }

    #[test]
    fn a_missing_setting_is_named() {
        let error = StackSettings::from_vars(with(&[("HMAC_KEY_SECRET", None)])).unwrap_err();
        assert_eq!(error.to_string(), "environment variable HMAC_KEY_SECRET is not set");
        let error = CredentialSettings::from_vars(with(&[("CREDENTIALS_TABLE", None)])).unwrap_err();
        assert!(matches!(error, WiringError::MissingEnv("CREDENTIALS_TABLE")), "{error}");
    }

    #[test]
    fn a_malformed_setting_is_named_without_its_value() {
        for (name, value) in [
            ("CREDENTIALS_TABLE", ""),
            ("CREDENTIALS_TABLE", "ab"),
            ("LEDGER_TABLE", "cofre ledger"),
            ("EVENTS_TABLE", "arn:aws:dynamodb:us-east-1:1:stream/x"),
            ("DATA_KEY_ID", "my-key"),
            ("DATA_KEY_ID", "arn:aws:s3:::bucket"),
            ("PARTNER_CONFIG_SECRET", "partners\n"),
            ("HMAC_KEY_SECRET", "thirty-two-bytes-of-key-material!#"),
            ("PARTNER_CONNECT_TIMEOUT_MS", "2s"),
            ("PARTNER_CONNECT_TIMEOUT_MS", "0"),
            ("PROCESSOR_CONNECT_TIMEOUT_MS", "60000"),
        ] {
            let error = StackSettings::from_vars(with(&[(name, Some(value))])).unwrap_err();
            assert!(matches!(&error, WiringError::Malformed { name: n, .. } if n == name), "{name}={value:?}: {error}");
            let message = error.to_string();
            assert!(message.starts_with(&format!("environment variable {name} ")), "{message}");
            assert!(value.len() < 3 || !message.contains(value.trim()), "the value is echoed: {message}");
        }
    }

    #[test]
    fn a_variable_that_looks_like_a_setting_but_is_none_is_refused() {
        for (name, suggestion) in [
            ("CREDENTIAL_TABLE", Some("CREDENTIALS_TABLE")),
            ("PARTNER_CONNECT_TIMEOUT", Some("PARTNER_CONNECT_TIMEOUT_MS")),
            ("HMAC_SECRET", Some("HMAC_KEY_SECRET")),
            ("DATA_KEY_ARN", Some("DATA_KEY_ID")),
            ("LEDGER_TABLES", Some("LEDGER_TABLE")),
        ] {
            let error = StackSettings::from_vars(with(&[(name, Some("x-value"))])).unwrap_err();
            assert!(
                matches!(&error, WiringError::Unknown { name: n, suggestion: s } if n == name && *s == suggestion),
                "{name}: {error:?}"
            );
            assert!(error.to_string().contains(name));
        }
        // The SDK's variables, Lambda's and unrelated ones are not Cofre's business.
        let others = with(&[
            ("AWS_LAMBDA_FUNCTION_NAME", Some("f")),
            ("AWS_SECRET_ACCESS_KEY", Some("s")),
            ("_HANDLER", Some("bootstrap")),
            ("JWT_SECRET", Some("x")),
            ("HOME", Some("/root")),
        ]);
        assert!(StackSettings::from_vars(others).is_ok());
    }

    #[test]
    fn every_system_root_survives_the_trip_through_pem() {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject;
        let certificates = rustls_native_certs::load_native_certs().certs;
        let mut pem = Vec::new();
        certificates.iter().for_each(|c| push_pem(&mut pem, c.as_ref()));
        let parsed = CertificateDer::pem_slice_iter(&pem).collect::<Result<Vec<_>, _>>().unwrap();
        assert_eq!(parsed, certificates);
        assert!(!trust_roots().is_empty() && shared_roots().sdk_client.is_some());
    }

    #[test]
    fn edit_distance_counts_insertions_deletions_and_substitutions() {
        assert_eq!(edit_distance("LEDGER_TABLE", "LEDGER_TABLE"), 0);
        assert_eq!(edit_distance("LEDGER_TABLES", "LEDGER_TABLE"), 1);
        assert_eq!(edit_distance("LEDGAR_TABLE", "LEDGER_TABLE"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
    }
}
