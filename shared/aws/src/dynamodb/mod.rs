//! DynamoDB adapters: one table per area, `pk` (partition) + `sk` (sort) string keys.

mod credentials;
mod ledger;
mod merchants;

pub use credentials::DynamoCredentialStore;
pub use ledger::DynamoLedger;
pub use merchants::DynamoMerchantStore;
