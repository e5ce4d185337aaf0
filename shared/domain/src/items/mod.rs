//! The stored shape of every record, shared by every store adapter (DynamoDB items and the embedded
//! store's JSON bodies) so that they cannot drift apart.

pub mod card_hash_item;
pub mod credential_item;
pub mod ledger_item;
pub mod merchant_item;
pub mod sealed_item;
pub mod use_item;
