use async_trait::async_trait;

use super::EncryptionContext;
use crate::secret::SecretBytes;

/// A fresh data key: the plaintext to seal with (then forget), the wrapped form to store.
#[derive(Debug)]
pub struct DataKey {
    /// 32 bytes for AES-256-GCM. Wiped on drop.
    pub plaintext: SecretBytes,
    /// The data key encrypted under the master key, bound to the encryption context.
    pub wrapped: Vec<u8>,
    /// Which master key wrapped it (a KMS key ARN, or a keyring entry id).
    pub key_id: String,
}

/// Why the key service could not help.
#[derive(Debug, thiserror::Error)]
pub enum KeyServiceError {
    /// The wrapped key does not open under this context or master key (tampering, wrong slot).
    #[error("the key service refused to unwrap the data key: {0}")]
    Refused(String),
    /// The key service could not be reached or failed.
    #[error("the key service failed: {0}")]
    Unavailable(String),
}

/// The port for whoever holds master keys: KMS on AWS, the local keyring file locally.
#[async_trait]
pub trait KeyService: Send + Sync {
    /// One new AES-256 data key bound to `context` (one KMS `GenerateDataKey`).
    async fn generate_data_key(&self, context: &EncryptionContext) -> Result<DataKey, KeyServiceError>;

    /// Unwraps a stored data key; fails unless `context` is exactly the one it was made with.
    async fn decrypt_data_key(
        &self,
        wrapped: &[u8],
        context: &EncryptionContext,
    ) -> Result<SecretBytes, KeyServiceError>;
}
