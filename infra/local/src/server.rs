//! Builds and runs the local server.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::{EmbeddedStore, LocalKeyring, LocalTokens};
use axum::Router;
use cofre_aws::{HttpPartnerClient, HttpProcessorClient};
use cofre_domain::authorizations::{AccountSeeder, Authorizer};
use cofre_domain::clock::SystemClock;
use cofre_domain::credentials::CredentialVault;
use cofre_domain::endpoints::EndpointSettings;
use cofre_domain::gateway::PartnerGateway;
use cofre_domain::ids::RandomIds;
use cofre_domain::merchants::{MerchantConnections, MerchantSeeder};
use cofre_http::{
    Authenticator, AuthorizationApi, CredentialApi, GatewayApi, MerchantApi, authorization_router, credential_router,
    gateway_router, merchant_router, with_json_fallbacks,
};

/// The partner settings used when no `--partners` file is given: every partner on the sandbox.
pub const SANDBOX_PARTNERS: &str = include_str!("../partners.json");
/// The processor settings used when no `--processors` file is given: every processor on the sandbox.
pub const SANDBOX_PROCESSORS: &str = include_str!("../processors.json");

/// Which adapters the server runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Backend {
    /// Embedded store and local keyring under the data directory.
    Local,
    /// DynamoDB, KMS and Secrets Manager, configured as the Lambda functions are (environment).
    Aws,
}

/// Anything that stops the server from starting.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The keyring could not be opened.
    #[error(transparent)]
    Keyring(#[from] crate::KeyringError),
    /// The store could not be opened.
    #[error("store: {0}")]
    Store(#[from] cofre_domain::credentials::StoreError),
    /// The partner settings file could not be read or parsed.
    #[error("partner settings: {0}")]
    Partners(String),
    /// AWS wiring failed.
    #[error(transparent)]
    Wiring(#[from] cofre_aws::wiring::WiringError),
    /// A socket or file operation failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// How to build the local application.
#[derive(Debug, Clone)]
pub struct LocalOptions {
    /// Where the store and keyring live.
    pub data_dir: PathBuf,
    /// The adapters.
    pub backend: Backend,
    /// A partner settings file (`{sandbox}` in a `base_url` stands for the sandbox's address);
    /// `None` for the built-in sandbox settings.
    pub partners_file: Option<PathBuf>,
    /// A processor settings file, likewise.
    pub processors_file: Option<PathBuf>,
}

/// The application and what the caller needs to talk to it.
#[derive(Debug)]
pub struct LocalApp {
    /// Every route, as the Lambda functions serve them.
    pub router: Router,
    /// Mints tokens the server accepts.
    pub tokens: Arc<LocalTokens>,
    /// The partner sandbox's base URL.
    pub sandbox_url: String,
}

/// The token issuer of a data directory (creating its keyring on first use).
pub fn local_tokens(data_dir: &Path) -> Result<LocalTokens, StartError> {
    let keyring = LocalKeyring::open_or_create(data_dir)?;
    Ok(LocalTokens::new(keyring.token_signing_key().clone()))
}

/// Reads a settings file (or the built-in sandbox one), `{sandbox}` replaced by the sandbox's URL.
fn endpoint_settings(file: Option<&Path>, builtin: &str, sandbox_url: &str) -> Result<EndpointSettings, StartError> {
    let text = match file {
        Some(path) => {
            std::fs::read_to_string(path).map_err(|e| StartError::Partners(format!("{}: {e}", path.display())))?
        }
        None => builtin.to_owned(),
    };
    EndpointSettings::from_json(&text.replace("{sandbox}", sandbox_url))
        .map_err(|e| StartError::Partners(e.to_string()))
}

fn http_client_error(e: impl std::fmt::Display) -> StartError {
    StartError::Wiring(cofre_aws::wiring::WiringError::HttpClient(e.to_string()))
}

/// The account seeder of a local data directory.
pub fn local_account_seeder(data_dir: &Path) -> Result<AccountSeeder, StartError> {
    let keyring = Arc::new(LocalKeyring::open_or_create(data_dir)?);
    Ok(AccountSeeder::new(Arc::new(EmbeddedStore::open(data_dir)?), keyring))
}

/// Every event committed in a local data directory, oldest first, as JSON lines.
pub async fn local_events(data_dir: &Path) -> Result<Vec<String>, StartError> {
    Ok(EmbeddedStore::open(data_dir)?.events().await?)
}

/// The seeder of a local data directory.
pub fn local_merchant_seeder(data_dir: &Path) -> Result<MerchantSeeder, StartError> {
    let keyring = Arc::new(LocalKeyring::open_or_create(data_dir)?);
    Ok(MerchantSeeder::new(
        Arc::new(EmbeddedStore::open(data_dir)?),
        Arc::clone(&keyring) as _,
        keyring,
        Arc::new(SystemClock),
    ))
}

/// Starts the sandbox and builds the router over the chosen backend.
pub async fn build(options: &LocalOptions) -> Result<LocalApp, StartError> {
    let keyring = Arc::new(LocalKeyring::open_or_create(&options.data_dir)?);
    let tokens = Arc::new(LocalTokens::new(keyring.token_signing_key().clone()));
    let sandbox_url = crate::sandbox::start().await?;
    let (vault, gateway, connections, authorizer) = match options.backend {
        Backend::Local => {
            let store = Arc::new(EmbeddedStore::open(&options.data_dir)?);
            let partners = HttpPartnerClient::new(Duration::from_secs(2)).map_err(http_client_error)?;
            let processors = HttpProcessorClient::new(Duration::from_secs(2)).map_err(http_client_error)?;
            let partners = Arc::new(partners);
            let partner_settings =
                Arc::new(endpoint_settings(options.partners_file.as_deref(), SANDBOX_PARTNERS, &sandbox_url)?);
            let vault = CredentialVault::new(
                Arc::clone(&store) as _,
                Arc::clone(&keyring) as _,
                Arc::clone(&partners) as _,
                Arc::clone(&partner_settings) as _,
                Arc::new(SystemClock),
                Arc::new(RandomIds::default()),
            );
            let gateway = PartnerGateway::new(
                Arc::clone(&store) as _,
                Arc::clone(&keyring) as _,
                partners,
                partner_settings,
                Arc::new(SystemClock),
                Arc::new(RandomIds::default()),
            );
            let authorizer = Authorizer::new(
                Arc::clone(&store) as _,
                Arc::clone(&keyring) as _,
                Arc::new(SystemClock),
                Arc::new(RandomIds::default()),
            );
            let connections = MerchantConnections::new(
                store,
                Arc::clone(&keyring) as _,
                keyring,
                Arc::new(processors),
                Arc::new(endpoint_settings(options.processors_file.as_deref(), SANDBOX_PROCESSORS, &sandbox_url)?),
                Arc::new(SystemClock),
            );
            (vault, gateway, connections, authorizer)
        }
        Backend::Aws => {
            // Configured as the stack's functions are: their settings, parsed once, and their wiring.
            let stack = cofre_aws::wiring::whole_stack().await?;
            (stack.vault, stack.gateway, stack.connections, stack.authorizer)
        }
    };
    let authenticator = Authenticator::Bearer(tokens.clone());
    let credentials = credential_router(CredentialApi { vault: Arc::new(vault), authenticator: authenticator.clone() });
    let merchants =
        merchant_router(MerchantApi { connections: Arc::new(connections), authenticator: authenticator.clone() });
    let authorizations = authorization_router(AuthorizationApi {
        authorizer: Arc::new(authorizer),
        authenticator: authenticator.clone(),
    });
    let gateway = gateway_router(GatewayApi { gateway: Arc::new(gateway), authenticator: authenticator.clone() });
    let router = with_json_fallbacks(credentials.merge(gateway).merge(merchants).merge(authorizations));
    Ok(LocalApp { router, tokens, sandbox_url })
}
