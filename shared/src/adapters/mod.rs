//! Adapters: the ports' implementations. AWS lives here and only here.
//!
//! | port | on AWS | locally |
//! |---|---|---|
//! | `CredentialStore` | [`DynamoCredentialStore`] | [`EmbeddedStore`] (SQLite file) |
//! | `KeyService` | [`KmsKeyService`] | [`LocalKeyring`] (file) |
//! | `EndpointSettingsSource` | [`SecretsManagerEndpointSettings`] | `EndpointSettings` read from a file |
//! | `PartnerAuthenticator`, `PartnerApi` | [`HttpPartnerClient`] | [`HttpPartnerClient`] against the sandbox |
//! | `MerchantStore` | [`DynamoMerchantStore`] | [`EmbeddedStore`] |
//! | `ProcessorValidator` | [`HttpProcessorClient`] | [`HttpProcessorClient`] against the sandbox |
//! | `HmacKeySource` | [`SecretsManagerHmacKey`] | [`LocalKeyring`] |
//! | `Ledger` | [`DynamoLedger`] | [`EmbeddedStore`] |

mod credential_item;
mod dynamodb;
mod embedded;
mod keyring;
mod kms;
mod ledger_item;
mod merchant_item;
mod outbound_http;
mod partner_http;
mod processor_http;
mod sdk_error;
mod sealed_item;
mod secrets_manager;
mod use_item;

pub use dynamodb::{DynamoCredentialStore, DynamoLedger, DynamoMerchantStore};
pub use embedded::EmbeddedStore;
pub use keyring::{KeyringError, LocalKeyring};
pub use kms::KmsKeyService;
pub use partner_http::HttpPartnerClient;
pub use processor_http::HttpProcessorClient;
pub use secrets_manager::{SecretsManagerEndpointSettings, SecretsManagerHmacKey};
