//! Merchant processor connections: a platform sets, then rotates, a merchant's credentials for a
//! processor. See `PATCH /v1/merchants/{merchantId}/connection/{connectionId}`.

mod connection_credentials;
mod connections;
mod error;
mod merchant;
mod patch;
mod processor;
mod processor_client;
mod proof_guard;
mod seed;
mod store;

pub use connection_credentials::{ConnectionCredentials, CredentialField};
pub use connections::{
    FINGERPRINT_DOMAIN, MerchantConnections, connection_context, fingerprint, fingerprint_matches,
    fingerprint_of_canonical,
};
pub use error::ConnectionError;
pub use merchant::{
    Connection, ConnectionId, ConnectionStatus, Merchant, MerchantId, SealedConnectionCredentials, tin_last4,
};
pub use patch::{ConnectionPatch, parse_connection_patch};
pub use processor::Processor;
pub use processor_client::{ProcessorError, ProcessorValidator};
pub use proof_guard::{FAILURES_BEFORE_LOCK, FIRST_LOCK, LONGEST_LOCK, ProofGuard};
pub use seed::{MerchantSeeder, SeedError, SeedReport};
pub use store::{ConnectionWrite, ConnectionWriteError, MerchantStore};
