//! AWS KMS as the key service: `GenerateDataKey` and `Decrypt`, always with the encryption context.

use async_trait::async_trait;
use aws_sdk_kms::Client;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::DataKeySpec;

use super::sdk_error::{describe, describe_service};
use cofre_domain::crypto::{DataKey, EncryptionContext, KeyService, KeyServiceError};
use cofre_domain::secret::SecretBytes;

/// A KMS key (id, ARN or alias) used to wrap data keys.
#[derive(Debug, Clone)]
pub struct KmsKeyService {
    client: Client,
    key_id: String,
}

impl KmsKeyService {
    /// Wraps data keys under `key_id`, with a client built once at cold start.
    pub fn new(client: Client, key_id: impl Into<String>) -> Self {
        Self { client, key_id: key_id.into() }
    }
}

fn context_map(context: &EncryptionContext) -> std::collections::HashMap<String, String> {
    context.pairs().map(|(k, v)| (k.to_owned(), v.to_owned())).collect()
}

#[async_trait]
impl KeyService for KmsKeyService {
    async fn generate_data_key(&self, context: &EncryptionContext) -> Result<DataKey, KeyServiceError> {
        let output = self
            .client
            .generate_data_key()
            .key_id(&self.key_id)
            .key_spec(DataKeySpec::Aes256)
            .set_encryption_context(Some(context_map(context)))
            .send()
            .await
            .map_err(|e| KeyServiceError::Unavailable(describe(&e)))?;
        let plaintext = output.plaintext.ok_or_else(|| KeyServiceError::Unavailable("no plaintext key".into()))?;
        let wrapped = output.ciphertext_blob.ok_or_else(|| KeyServiceError::Unavailable("no wrapped key".into()))?;
        Ok(DataKey {
            plaintext: SecretBytes::new(plaintext.into_inner()),
            wrapped: wrapped.into_inner(),
            key_id: output.key_id.unwrap_or_else(|| self.key_id.clone()),
        })
    }

    async fn decrypt_data_key(
        &self,
        wrapped: &[u8],
        context: &EncryptionContext,
    ) -> Result<SecretBytes, KeyServiceError> {
        let output = self
            .client
            .decrypt()
            .key_id(&self.key_id)
            .ciphertext_blob(Blob::new(wrapped))
            .set_encryption_context(Some(context_map(context)))
            .send()
            .await
            .map_err(|e| {
                let e = e.into_service_error();
                if e.is_invalid_ciphertext_exception() || e.is_incorrect_key_exception() {
                    KeyServiceError::Refused(describe_service(&e))
                } else {
                    KeyServiceError::Unavailable(describe_service(&e))
                }
            })?;
        let plaintext = output.plaintext.ok_or_else(|| KeyServiceError::Unavailable("no plaintext key".into()))?;
        Ok(SecretBytes::new(plaintext.into_inner()))
    }
}
