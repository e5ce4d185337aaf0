//! DynamoDB adapters: one table per area, `pk` (partition) + `sk` (sort) string keys.

mod credentials;
mod merchants;

pub use credentials::DynamoCredentialStore;
pub use merchants::DynamoMerchantStore;
