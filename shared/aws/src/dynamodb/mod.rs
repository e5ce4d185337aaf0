//! DynamoDB adapters: one table per area, `pk` (partition) + `sk` (sort) string keys.

mod card_hashes;
mod credentials;
mod ledger;
mod merchants;

pub use card_hashes::DynamoCardHashes;
pub use credentials::DynamoCredentialStore;
pub use ledger::DynamoLedger;
pub use merchants::DynamoMerchantStore;
