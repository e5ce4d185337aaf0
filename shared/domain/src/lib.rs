//! Cofre's domain: what a credential, a merchant connection, an authorization and a partner call
//! are, the rules they follow and the ports they need. Nothing here does I/O or knows AWS:
//! `cofre-aws` implements the ports over DynamoDB, KMS, Secrets Manager and HTTP; `cofre-local`
//! over SQLite, a keyring file and a sandbox; `cofre-http` serves the use cases.

pub mod authorizations;
pub mod clock;
pub mod credentials;
pub mod crypto;
pub mod endpoints;
pub mod gateway;
pub mod hmac_rotation;
pub mod ids;
pub mod items;
pub mod merchants;
pub mod secret;
pub mod store;
pub mod tenant;
pub mod tracking;
