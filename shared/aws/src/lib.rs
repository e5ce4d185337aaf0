//! The ports' implementations over AWS (DynamoDB, KMS, Secrets Manager) and third parties' HTTP
//! APIs, and the wiring a Lambda `main` uses. Each SDK is a feature, so a function's manifest says
//! which services it calls and its binary carries no other:
//!
//! | port | adapter | feature |
//! |---|---|---|
//! | `CredentialStore`, `MerchantStore`, `Ledger`, `CardHashStore` | [`DynamoCredentialStore`], [`DynamoMerchantStore`], [`DynamoLedger`], [`DynamoCardHashes`] | `dynamodb` |
//! | `KeyService` | [`KmsKeyService`] | `kms` |
//! | `EndpointSettingsSource`, `HmacKeySource`, `HmacKeyringStore` | [`SecretsManagerEndpointSettings`], [`SecretsManagerHmacKey`] | `secretsmanager` |
//! | `PartnerAuthenticator`, `PartnerApi`, `ProcessorValidator` | [`HttpPartnerClient`], [`HttpProcessorClient`] | `outbound-http` |

#[cfg(feature = "dynamodb")]
mod dynamodb;
#[cfg(feature = "kms")]
mod kms;
#[cfg(feature = "outbound-http")]
mod outbound_http;
#[cfg(feature = "outbound-http")]
mod partner_http;
#[cfg(feature = "outbound-http")]
mod processor_http;
#[cfg(any(feature = "dynamodb", feature = "kms", feature = "secretsmanager"))]
mod sdk_error;
#[cfg(feature = "secretsmanager")]
mod secrets_manager;
pub mod wiring;

#[cfg(feature = "dynamodb")]
pub use dynamodb::{DynamoCardHashes, DynamoCredentialStore, DynamoLedger, DynamoMerchantStore};
#[cfg(feature = "kms")]
pub use kms::KmsKeyService;
#[cfg(feature = "outbound-http")]
pub use partner_http::HttpPartnerClient;
#[cfg(feature = "outbound-http")]
pub use processor_http::HttpProcessorClient;
#[cfg(feature = "secretsmanager")]
pub use secrets_manager::{HMAC_KEYRING_REFRESH, SecretGroup, SecretsManagerEndpointSettings, SecretsManagerHmacKey};
