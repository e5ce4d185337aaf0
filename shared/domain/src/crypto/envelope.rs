use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::constant_time::verify_slices_are_equal;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};

use super::{EncryptionContext, KeyService, KeyServiceError};
use crate::secret::SecretBytes;

/// The only algorithm we write; stored beside each value so a future one can be told apart.
pub const ALGORITHM: &str = "AES-256-GCM";

/// A sealed value as stored: nothing in it is secret without the master key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedValue {
    /// The master key that wrapped the data key.
    pub key_id: String,
    /// The data key, wrapped by the key service.
    pub wrapped_key: Vec<u8>,
    /// The AES-GCM nonce (96 bits, random per value).
    pub nonce: Vec<u8>,
    /// The ciphertext followed by the 128-bit tag.
    pub ciphertext: Vec<u8>,
}

/// What went wrong sealing or opening.
#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    /// The key service failed (generate or unwrap).
    #[error(transparent)]
    KeyService(#[from] KeyServiceError),
    /// Encryption itself failed (bad data key length, no randomness).
    #[error("sealing failed: {0}")]
    Seal(&'static str),
    /// The ciphertext did not authenticate under the key and context (tampered, wrong slot).
    #[error("the sealed value does not open under this key and context")]
    Decrypt,
    /// Opening what was just sealed gave back something else.
    #[error("the sealed value opened to a different value")]
    Mismatch,
}

fn aead_key(data_key: &SecretBytes) -> Result<LessSafeKey, EnvelopeError> {
    UnboundKey::new(&AES_256_GCM, data_key.expose())
        .map(LessSafeKey::new)
        .map_err(|_| EnvelopeError::Seal("data key is not 256 bits"))
}

fn seal_with(
    data_key: &SecretBytes,
    context: &EncryptionContext,
    plaintext: &[u8],
) -> Result<(Vec<u8>, Vec<u8>), EnvelopeError> {
    let key = aead_key(data_key)?;
    let mut nonce = [0_u8; NONCE_LEN];
    SystemRandom::new().fill(&mut nonce).map_err(|_| EnvelopeError::Seal("no randomness for the nonce"))?;
    let mut buffer = plaintext.to_vec();
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(context.associated_data()),
        &mut buffer,
    )
    .map_err(|_| EnvelopeError::Seal("AES-GCM refused the input"))?;
    Ok((nonce.to_vec(), buffer))
}

/// Opens `sealed` with an already unwrapped data key.
fn open_with(
    data_key: &SecretBytes,
    context: &EncryptionContext,
    sealed: &SealedValue,
) -> Result<SecretBytes, EnvelopeError> {
    let key = aead_key(data_key)?;
    let nonce = Nonce::try_assume_unique_for_key(&sealed.nonce).map_err(|_| EnvelopeError::Decrypt)?;
    let mut buffer = sealed.ciphertext.clone();
    let plain_len = key
        .open_in_place(nonce, Aad::from(context.associated_data()), &mut buffer)
        .map_err(|_| EnvelopeError::Decrypt)?
        .len();
    buffer.truncate(plain_len);
    Ok(SecretBytes::new(buffer))
}

/// Checks that `sealed` opens to exactly `expected`, with the data key still in hand: the
/// round-trip check the credential flow runs before saving, at no extra key-service call.
pub fn verify_round_trip(
    data_key: &SecretBytes,
    context: &EncryptionContext,
    sealed: &SealedValue,
    expected: &[u8],
) -> Result<(), EnvelopeError> {
    let opened = open_with(data_key, context, sealed)?;
    verify_slices_are_equal(opened.expose(), expected).map_err(|_| EnvelopeError::Mismatch)
}

/// Seals `plaintext` under a fresh data key (one key-service call) and proves the result opens
/// back to the same bytes before anyone stores it.
pub async fn seal_verified(
    keys: &dyn KeyService,
    context: &EncryptionContext,
    plaintext: &[u8],
) -> Result<SealedValue, EnvelopeError> {
    let data_key = keys.generate_data_key(context).await?;
    let (nonce, ciphertext) = seal_with(&data_key.plaintext, context, plaintext)?;
    let sealed =
        SealedValue { key_id: data_key.key_id.clone(), wrapped_key: data_key.wrapped.clone(), nonce, ciphertext };
    verify_round_trip(&data_key.plaintext, context, &sealed, plaintext)?;
    Ok(sealed)
}

/// Opens a stored value: unwraps its data key (one key-service call) and decrypts.
pub async fn open(
    keys: &dyn KeyService,
    context: &EncryptionContext,
    sealed: &SealedValue,
) -> Result<SecretBytes, EnvelopeError> {
    let data_key = keys.decrypt_data_key(&sealed.wrapped_key, context).await?;
    open_with(&data_key, context, sealed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> SecretBytes {
        SecretBytes::new(vec![byte; 32])
    }

    fn ctx(tenant: &str) -> EncryptionContext {
        EncryptionContext::new([("tenant_id", tenant)])
    }

    fn sealed(data_key: &SecretBytes, context: &EncryptionContext, plaintext: &[u8]) -> SealedValue {
        let (nonce, ciphertext) = seal_with(data_key, context, plaintext).unwrap();
        SealedValue { key_id: "k".into(), wrapped_key: vec![], nonce, ciphertext }
    }

    #[test]
    fn round_trip_succeeds_and_ciphertext_hides_the_plaintext() {
        let value = sealed(&key(1), &ctx("t1"), b"the-api-key");
        assert!(!value.ciphertext.windows(11).any(|w| w == b"the-api-key"));
        verify_round_trip(&key(1), &ctx("t1"), &value, b"the-api-key").unwrap();
    }

    #[test]
    fn a_value_that_opens_to_something_else_is_a_mismatch() {
        let value = sealed(&key(1), &ctx("t1"), b"other-key");
        let err = verify_round_trip(&key(1), &ctx("t1"), &value, b"the-api-key").unwrap_err();
        assert!(matches!(err, EnvelopeError::Mismatch), "{err:?}");
    }

    #[test]
    fn wrong_context_wrong_key_or_tampering_fail_to_decrypt() {
        let value = sealed(&key(1), &ctx("t1"), b"the-api-key");
        for (data_key, context, value) in [
            (key(1), ctx("t2"), value.clone()),
            (key(2), ctx("t1"), value.clone()),
            (
                key(1),
                ctx("t1"),
                SealedValue {
                    ciphertext: {
                        let mut c = value.ciphertext.clone();
                        c[0] ^= 1;
                        c
                    },
                    ..value.clone()
                },
            ),
            (key(1), ctx("t1"), SealedValue { nonce: vec![0; 3], ..value.clone() }),
        ] {
            let err = verify_round_trip(&data_key, &context, &value, b"the-api-key").unwrap_err();
            assert!(matches!(err, EnvelopeError::Decrypt), "{err:?}");
        }
    }

    #[test]
    fn a_data_key_of_the_wrong_length_is_refused() {
        let err = seal_with(&SecretBytes::new(vec![0; 16]), &ctx("t1"), b"x").unwrap_err();
        assert!(matches!(err, EnvelopeError::Seal(_)));
    }
}
