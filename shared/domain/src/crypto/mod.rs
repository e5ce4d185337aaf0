//! Envelope encryption, independent of who holds the master key.
//!
//! A fresh 256-bit data key per sealed value comes from a [`KeyService`] (KMS on AWS, the local
//! keyring locally) both in plaintext and wrapped under the master key. The value is sealed with
//! AES-256-GCM under the plaintext data key; only the wrapped key is stored. The encryption context
//! is bound twice: by the key service to the wrapped key, and by AES-GCM as associated data, so a
//! sealed value copied to another tenant's slot fails to open.
//!
//! Keyed hashes (connection fingerprints, PAN hashes, request digests) are HMAC-SHA256 under a key of
//! an [`HmacKeyring`], whose id each hash carries, so the key can be rotated.

mod context;
mod envelope;
mod hmac_keyring;
mod key_service;
mod keyed_hash;

pub use context::EncryptionContext;
pub use envelope::{ALGORITHM, EnvelopeError, SealedValue, open, seal_verified, verify_round_trip};
pub use hmac_keyring::{
    HmacKeyId, HmacKeySource, HmacKeyring, HmacKeyringDocument, HmacKeyringError, HmacKeyringStore, MIN_HMAC_KEY_LEN,
    UnknownHmacKey,
};
pub use key_service::{DataKey, KeyService, KeyServiceError};
pub use keyed_hash::KeyedHash;
