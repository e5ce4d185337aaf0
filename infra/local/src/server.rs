//! Builds and runs the local server.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use cofre::adapters::{EmbeddedStore, HttpPartnerClient, LocalKeyring};
use cofre::clock::SystemClock;
use cofre::credentials::CredentialVault;
use cofre::endpoints::EndpointSettings;
use cofre::http::{Authenticator, CredentialApi, LocalTokens, credential_router, with_json_fallbacks};
use cofre::ids::RandomIds;

/// The partner settings used when no `--partners` file is given: every partner on the sandbox.
pub const SANDBOX_PARTNERS: &str = include_str!("../partners.json");

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
    Keyring(#[from] cofre::adapters::KeyringError),
    /// The store could not be opened.
    #[error("store: {0}")]
    Store(#[from] cofre::credentials::StoreError),
    /// The partner settings file could not be read or parsed.
    #[error("partner settings: {0}")]
    Partners(String),
    /// AWS wiring failed.
    #[error(transparent)]
    Wiring(#[from] cofre::aws::WiringError),
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

fn partner_settings(options: &LocalOptions, sandbox_url: &str) -> Result<EndpointSettings, StartError> {
    let text = match &options.partners_file {
        Some(path) => {
            std::fs::read_to_string(path).map_err(|e| StartError::Partners(format!("{}: {e}", path.display())))?
        }
        None => SANDBOX_PARTNERS.to_owned(),
    };
    EndpointSettings::from_json(&text.replace("{sandbox}", sandbox_url))
        .map_err(|e| StartError::Partners(e.to_string()))
}

/// Starts the sandbox and builds the router over the chosen backend.
pub async fn build(options: &LocalOptions) -> Result<LocalApp, StartError> {
    let keyring = Arc::new(LocalKeyring::open_or_create(&options.data_dir)?);
    let tokens = Arc::new(LocalTokens::new(keyring.token_signing_key().clone()));
    let sandbox_url = crate::sandbox::start().await?;
    let vault = match options.backend {
        Backend::Local => {
            let partners = HttpPartnerClient::new(Duration::from_secs(2))
                .map_err(|e| cofre::aws::WiringError::HttpClient(e.to_string()))?;
            CredentialVault::new(
                Arc::new(EmbeddedStore::open(&options.data_dir)?),
                keyring,
                Arc::new(partners),
                Arc::new(partner_settings(options, &sandbox_url)?),
                Arc::new(SystemClock),
                Arc::new(RandomIds::default()),
            )
        }
        Backend::Aws => {
            let settings = cofre::aws::CredentialSettings::from_env()?;
            cofre::aws::credential_vault(&cofre::aws::sdk_config().await, &settings)?
        }
    };
    let api = CredentialApi { vault: Arc::new(vault), authenticator: Authenticator::LocalHs256(Arc::clone(&tokens)) };
    let router = with_json_fallbacks(credential_router(api));
    Ok(LocalApp { router, tokens, sandbox_url })
}
