//! Banking-partner credentials: a tenant stores (or replaces) its API key for a partner and only
//! ever gets back an opaque proxy value. See `POST /banking-auth/v1/credentials`.

mod audit;
mod error;
mod partner;
mod provider;
mod proxy;
mod request;
mod store;
mod vault;

pub use audit::{BeginUseError, CredentialUse, UseId, UseOutcome};
pub use error::CredentialError;
pub use partner::{PartnerAuthenticator, PartnerError, PartnerLogin};
pub use provider::{CredentialType, Provider};
pub use proxy::ProxyValue;
pub use request::{CredentialRequest, ProviderData, parse_credential_request};
pub use store::{CredentialSlot, CredentialStore, CredentialWrite, StoreError, StoredCredential};
pub use vault::{CredentialVault, SavedCredential};
