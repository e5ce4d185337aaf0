//! A sealed value as stored inside an item: base64 strings, the algorithm named.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

use crate::crypto::{ALGORITHM, SealedValue};
use crate::store::StoreError;

/// The stored form of a [`SealedValue`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SealedItem {
    pub key_id: String,
    pub algorithm: String,
    pub wrapped_key: String,
    pub nonce: String,
    pub ciphertext: String,
}

impl From<&SealedValue> for SealedItem {
    fn from(sealed: &SealedValue) -> Self {
        Self {
            key_id: sealed.key_id.clone(),
            algorithm: ALGORITHM.to_owned(),
            wrapped_key: STANDARD.encode(&sealed.wrapped_key),
            nonce: STANDARD.encode(&sealed.nonce),
            ciphertext: STANDARD.encode(&sealed.ciphertext),
        }
    }
}

/// Decodes base64 found in an item.
pub fn bytes(value: &str, what: &str) -> Result<Vec<u8>, StoreError> {
    STANDARD.decode(value).map_err(|_| StoreError::Corrupt(format!("bad {what}")))
}

impl TryFrom<SealedItem> for SealedValue {
    type Error = StoreError;

    fn try_from(item: SealedItem) -> Result<Self, StoreError> {
        if item.algorithm != ALGORITHM {
            return Err(StoreError::Corrupt("unknown algorithm".into()));
        }
        Ok(Self {
            wrapped_key: bytes(&item.wrapped_key, "wrapped_key")?,
            nonce: bytes(&item.nonce, "nonce")?,
            ciphertext: bytes(&item.ciphertext, "ciphertext")?,
            key_id: item.key_id,
        })
    }
}
