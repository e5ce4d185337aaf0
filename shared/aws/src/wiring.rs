//! Wiring for AWS: what a function's `main` (and `cofre-local serve --backend aws`) builds once, at
//! cold start, from the environment.

#[cfg(any(feature = "credentials", feature = "merchants", feature = "authorizations"))]
use std::sync::Arc;
use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};

#[cfg(feature = "authorizations")]
use cofre_domain::authorizations::{AccountSeeder, Authorizer};
#[cfg(any(feature = "credentials", feature = "merchants", feature = "authorizations"))]
use cofre_domain::clock::SystemClock;
#[cfg(feature = "credentials")]
use cofre_domain::credentials::CredentialVault;
#[cfg(feature = "authorizations")]
use cofre_domain::crypto::HmacKeySource;
#[cfg(feature = "credentials")]
use cofre_domain::gateway::PartnerGateway;
#[cfg(any(feature = "credentials", feature = "authorizations"))]
use cofre_domain::ids::RandomIds;
#[cfg(feature = "merchants")]
use cofre_domain::merchants::{MerchantConnections, MerchantSeeder};

#[cfg(feature = "authorizations")]
use crate::DynamoLedger;
#[cfg(any(feature = "merchants", feature = "authorizations"))]
use crate::SecretsManagerHmacKey;
#[cfg(feature = "credentials")]
use crate::{DynamoCredentialStore, HttpPartnerClient};
#[cfg(feature = "merchants")]
use crate::{DynamoMerchantStore, HttpProcessorClient};
#[cfg(any(feature = "credentials", feature = "merchants"))]
use crate::{KmsKeyService, SecretsManagerEndpointSettings};

/// A required setting is missing or a client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum WiringError {
    /// An environment variable is not set.
    #[error("environment variable {0} is not set")]
    MissingEnv(&'static str),
    /// The HTTP client could not be built.
    #[error("HTTP client: {0}")]
    HttpClient(String),
}

#[cfg(feature = "credentials")]
/// The create-credential function's environment.
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

#[cfg(any(feature = "credentials", feature = "merchants"))]
fn connect_timeout(name: &str) -> Duration {
    Duration::from_millis(std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(2_000))
}

#[cfg(any(feature = "credentials", feature = "merchants", feature = "authorizations"))]
fn env(name: &'static str) -> Result<String, WiringError> {
    std::env::var(name).ok().filter(|v| !v.is_empty()).ok_or(WiringError::MissingEnv(name))
}

#[cfg(feature = "credentials")]
impl CredentialSettings {
    /// Reads the settings from the environment.
    pub fn from_env() -> Result<Self, WiringError> {
        Ok(Self {
            table: env("CREDENTIALS_TABLE")?,
            key_id: env("DATA_KEY_ID")?,
            partner_config_secret: env("PARTNER_CONFIG_SECRET")?,
            partner_connect_timeout: connect_timeout("PARTNER_CONNECT_TIMEOUT_MS"),
        })
    }
}

/// The SDK configuration from the standard chain (region, credentials, `AWS_ENDPOINT_URL`), with
/// timeouts well inside the function's 15 s: a hung AWS call becomes a documented `EBAA` error for
/// the caller, not an API Gateway timeout.
pub async fn sdk_config() -> SdkConfig {
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(1))
        .operation_attempt_timeout(Duration::from_millis(1_500))
        .operation_timeout(Duration::from_secs(3))
        .build();
    aws_config::defaults(BehaviorVersion::latest()).timeout_config(timeouts).load().await
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
    fn new(sdk: &SdkConfig, settings: &CredentialSettings) -> Result<Self, WiringError> {
        let partners = HttpPartnerClient::new(settings.partner_connect_timeout)
            .map_err(|e| WiringError::HttpClient(e.to_string()))?;
        Ok(Self {
            store: Arc::new(DynamoCredentialStore::new(aws_sdk_dynamodb::Client::new(sdk), &settings.table)),
            keys: Arc::new(KmsKeyService::new(aws_sdk_kms::Client::new(sdk), &settings.key_id)),
            partners: Arc::new(partners),
            settings: Arc::new(SecretsManagerEndpointSettings::new(
                aws_sdk_secretsmanager::Client::new(sdk),
                &settings.partner_config_secret,
            )),
        })
    }
}

#[cfg(feature = "credentials")]
/// The credential use case over DynamoDB, KMS, Secrets Manager and real partners.
pub fn credential_vault(sdk: &SdkConfig, settings: &CredentialSettings) -> Result<CredentialVault, WiringError> {
    let ports = CredentialPorts::new(sdk, settings)?;
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
/// The partner gateway over DynamoDB, KMS (the only use case that unwraps data keys), Secrets
/// Manager and real partners; the use-credential function reads the same settings as
/// create-credential.
pub fn partner_gateway(sdk: &SdkConfig, settings: &CredentialSettings) -> Result<PartnerGateway, WiringError> {
    let ports = CredentialPorts::new(sdk, settings)?;
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
/// The patch-merchant-connection function's environment.
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
    /// Reads the settings from the environment.
    pub fn from_env() -> Result<Self, WiringError> {
        Ok(Self {
            table: env("MERCHANTS_TABLE")?,
            key_id: env("DATA_KEY_ID")?,
            processor_config_secret: env("PROCESSOR_CONFIG_SECRET")?,
            hmac_key_secret: env("HMAC_KEY_SECRET")?,
            processor_connect_timeout: connect_timeout("PROCESSOR_CONNECT_TIMEOUT_MS"),
        })
    }
}

#[cfg(feature = "merchants")]
/// The merchant-connection use case over DynamoDB, KMS, Secrets Manager and real processors.
pub fn merchant_connections(sdk: &SdkConfig, settings: &MerchantSettings) -> Result<MerchantConnections, WiringError> {
    let processors = HttpProcessorClient::new(settings.processor_connect_timeout)
        .map_err(|e| WiringError::HttpClient(e.to_string()))?;
    let secrets = aws_sdk_secretsmanager::Client::new(sdk);
    Ok(MerchantConnections::new(
        Arc::new(DynamoMerchantStore::new(aws_sdk_dynamodb::Client::new(sdk), &settings.table)),
        Arc::new(KmsKeyService::new(aws_sdk_kms::Client::new(sdk), &settings.key_id)),
        Arc::new(SecretsManagerHmacKey::new(secrets.clone(), &settings.hmac_key_secret)),
        Arc::new(processors),
        Arc::new(SecretsManagerEndpointSettings::new(secrets, &settings.processor_config_secret)),
        Arc::new(SystemClock),
    ))
}

#[cfg(feature = "merchants")]
/// The seeder over the same AWS adapters (for `cofre-local seed --backend aws`).
pub fn merchant_seeder(sdk: &SdkConfig, settings: &MerchantSettings) -> MerchantSeeder {
    MerchantSeeder::new(
        Arc::new(DynamoMerchantStore::new(aws_sdk_dynamodb::Client::new(sdk), &settings.table)),
        Arc::new(KmsKeyService::new(aws_sdk_kms::Client::new(sdk), &settings.key_id)),
        Arc::new(SecretsManagerHmacKey::new(aws_sdk_secretsmanager::Client::new(sdk), &settings.hmac_key_secret)),
        Arc::new(SystemClock),
    )
}

#[cfg(feature = "authorizations")]
/// The request-authorization function's environment.
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
    /// Reads the settings from the environment.
    pub fn from_env() -> Result<Self, WiringError> {
        Ok(Self {
            ledger_table: env("LEDGER_TABLE")?,
            events_table: env("EVENTS_TABLE")?,
            hmac_key_secret: env("HMAC_KEY_SECRET")?,
        })
    }

    fn ledger(&self, sdk: &SdkConfig) -> DynamoLedger {
        DynamoLedger::new(aws_sdk_dynamodb::Client::new(sdk), &self.ledger_table, &self.events_table)
    }

    fn hmac(&self, sdk: &SdkConfig) -> Arc<dyn HmacKeySource> {
        Arc::new(SecretsManagerHmacKey::new(aws_sdk_secretsmanager::Client::new(sdk), &self.hmac_key_secret))
    }
}

#[cfg(feature = "authorizations")]
/// The authorization use case over DynamoDB and Secrets Manager.
pub fn authorizer(sdk: &SdkConfig, settings: &AuthorizationSettings) -> Authorizer {
    Authorizer::new(
        Arc::new(settings.ledger(sdk)),
        settings.hmac(sdk),
        Arc::new(SystemClock),
        Arc::new(RandomIds::default()),
    )
}

#[cfg(feature = "authorizations")]
/// The account seeder over the same AWS adapters (for `cofre-local seed --backend aws`).
pub fn account_seeder(sdk: &SdkConfig, settings: &AuthorizationSettings) -> AccountSeeder {
    AccountSeeder::new(Arc::new(settings.ledger(sdk)), settings.hmac(sdk))
}
