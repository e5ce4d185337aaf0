//! The local stand-in for the AWS deployment: the very routers the Lambda functions serve, over an
//! embedded store, the local keyring and a partner sandbox (or, with `--backend aws`, over
//! DynamoDB/KMS/Secrets Manager at `AWS_ENDPOINT_URL`). The local adapters live here and only here:
//!
//! | port | locally |
//! |---|---|
//! | `CredentialStore`, `MerchantStore`, `Ledger` | [`EmbeddedStore`] (SQLite file) |
//! | `KeyService`, `HmacKeySource` | [`LocalKeyring`] (file) |
//! | `EndpointSettingsSource` | `EndpointSettings` read from a file |
//! | partners and processors | `cofre-aws`'s HTTP clients against the [`sandbox`] |
//! | the EventBridge bus (events to tenants) | [`webhooks`]: the events table as an outbox, signed POSTs |

mod embedded;
pub mod hold_sweeper;
mod keyring;
pub mod sandbox;
pub mod server;
mod tokens;
pub mod webhooks;

pub use embedded::EmbeddedStore;
pub use keyring::{KeyringError, LocalKeyring};
pub use tokens::LocalTokens;
