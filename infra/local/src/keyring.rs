//! The local keyring: a file of random keys under the data directory, standing in for KMS and
//! Secrets Manager on a developer's machine.
//!
//! Data keys are wrapped with AES-256-GCM under the keyring's master key, with the encryption
//! context as associated data, so the context is enforced exactly as KMS enforces it. The same file
//! holds the HS256 key local tokens are signed with, which is how `cofre-local token` can mint tokens
//! that a running server accepts, and the HMAC keyring of keyed hashes (`hmac_keyring`, a keyring
//! document as in Secrets Manager; a keyring file made before keyrings had ids holds one plain key,
//! `hmac_key`, read as the `legacy` key). `cofre-local hmac-key` rotates it, rewriting the file.

use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

use async_trait::async_trait;
use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

use cofre_domain::crypto::{
    DataKey, EncryptionContext, HmacKeyId, HmacKeySource, HmacKeyring, HmacKeyringDocument, HmacKeyringStore,
    KeyService, KeyServiceError,
};
use cofre_domain::secret::SecretBytes;

/// Why the keyring file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyringError {
    /// Reading or writing the file failed.
    #[error("keyring file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file exists but is not a keyring.
    #[error("keyring file {0} is not valid")]
    Invalid(PathBuf),
    /// The file can be read by users other than its owner.
    #[error("keyring file {0} is readable by other users: chmod 600 it")]
    Exposed(PathBuf),
    /// The system could not supply randomness.
    #[error("no randomness available")]
    Randomness,
}

#[derive(Serialize, Deserialize)]
struct KeyringFile {
    master_key_id: String,
    master_key: String,
    token_signing_key: String,
    /// The one HMAC key of a file made before keyrings had ids (base64): the `legacy` key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    hmac_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    hmac_keyring: Option<HmacKeyringDocument>,
}

impl KeyringFile {
    fn hmac_keyring(&self, path: &Path) -> Result<HmacKeyring, KeyringError> {
        let invalid = || KeyringError::Invalid(path.to_owned());
        match (&self.hmac_key, &self.hmac_keyring) {
            (None, Some(document)) => HmacKeyring::from_document(document).map_err(|_| invalid()),
            (Some(key), None) => HmacKeyring::legacy(SecretBytes::new(STANDARD.decode(key).map_err(|_| invalid())?))
                .map_err(|_| invalid()),
            _ => Err(invalid()),
        }
    }
}

/// The keys of one local data directory.
pub struct LocalKeyring {
    path: PathBuf,
    master_key_id: String,
    master_key: LessSafeKey,
    token_signing_key: SecretBytes,
    hmac_keyring: RwLock<Arc<HmacKeyring>>,
    rng: SystemRandom,
}

impl std::fmt::Debug for LocalKeyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalKeyring").field("master_key_id", &self.master_key_id).finish_non_exhaustive()
    }
}

/// Wrapped-key layout: a version byte, the master key id's length and bytes, the nonce, then the
/// data key sealed with its tag.
const WRAP_VERSION: u8 = 1;

fn random_key(rng: &SystemRandom) -> Result<Vec<u8>, KeyringError> {
    let mut key = vec![0_u8; 32];
    rng.fill(&mut key).map_err(|_| KeyringError::Randomness)?;
    Ok(key)
}

impl LocalKeyring {
    /// The keyring file's name inside the data directory.
    pub const FILE_NAME: &'static str = "keyring.json";

    /// Loads the keyring of `data_dir`, creating it (readable by its owner only, in a directory only
    /// its owner can enter) on first use. A keyring others can read is refused, not repaired: its
    /// keys may no longer be secret.
    pub fn open_or_create(data_dir: &Path) -> Result<Self, KeyringError> {
        let path = data_dir.join(Self::FILE_NAME);
        let io = |source| KeyringError::Io { path: path.clone(), source };
        let rng = SystemRandom::new();
        crate::embedded::private_dir(data_dir).map_err(io)?;
        if path.exists() {
            check_private(&path)?;
        }
        let file = match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text).map_err(|_| KeyringError::Invalid(path.clone()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let first = HmacKeyId::parse("k1").ok_or_else(|| KeyringError::Invalid(path.clone()))?;
                let hmac_keyring = HmacKeyring::new(first.clone(), [(first, SecretBytes::new(random_key(&rng)?))])
                    .map_err(|_| KeyringError::Invalid(path.clone()))?;
                let file = KeyringFile {
                    master_key_id: format!("local-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]),
                    master_key: STANDARD.encode(random_key(&rng)?),
                    token_signing_key: STANDARD.encode(random_key(&rng)?),
                    hmac_key: None,
                    hmac_keyring: Some(hmac_keyring.document()),
                };
                write_private(
                    &path,
                    &serde_json::to_vec_pretty(&file).map_err(|_| KeyringError::Invalid(path.clone()))?,
                )
                .map_err(io)?;
                // Another process may have won the race to create it: whatever is on disk is the keyring.
                let text = std::fs::read_to_string(&path).map_err(io)?;
                serde_json::from_str(&text).map_err(|_| KeyringError::Invalid(path.clone()))?
            }
            Err(e) => return Err(io(e)),
        };
        Self::from_file(file, &path, rng)
    }

    fn from_file(file: KeyringFile, path: &Path, rng: SystemRandom) -> Result<Self, KeyringError> {
        let invalid = || KeyringError::Invalid(path.to_owned());
        let decode = |v: &str| STANDARD.decode(v).map_err(|_| invalid());
        let master = decode(&file.master_key)?;
        let master_key = UnboundKey::new(&AES_256_GCM, &master).map(LessSafeKey::new).map_err(|_| invalid())?;
        let hmac_keyring = file.hmac_keyring(path)?;
        Ok(Self {
            path: path.to_owned(),
            master_key_id: file.master_key_id,
            master_key,
            token_signing_key: SecretBytes::new(decode(&file.token_signing_key)?),
            hmac_keyring: RwLock::new(Arc::new(hmac_keyring)),
            rng,
        })
    }

    fn read_file(&self) -> Result<KeyringFile, KeyringError> {
        check_private(&self.path)?;
        let text = std::fs::read_to_string(&self.path)
            .map_err(|source| KeyringError::Io { path: self.path.clone(), source })?;
        serde_json::from_str(&text).map_err(|_| KeyringError::Invalid(self.path.clone()))
    }

    /// The HS256 key local tokens are signed and checked with.
    pub fn token_signing_key(&self) -> &SecretBytes {
        &self.token_signing_key
    }
}

/// Creates `path` with `bytes`, readable by its owner only, atomically: the content is written to a
/// private temporary file which is then hard-linked into place, so no process ever sees a partial
/// keyring, and an existing keyring (another process won the race) is never overwritten.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let temporary = path.with_extension(format!("tmp-{}", uuid::Uuid::new_v4().simple()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = options.open(&temporary).and_then(|mut file| file.write_all(bytes).and_then(|()| file.sync_all()));
    let linked = written.and_then(|()| match std::fs::hard_link(&temporary, path) {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        other => other,
    });
    let _ = std::fs::remove_file(&temporary);
    linked
}

/// Replaces `path` with `bytes`, readable by its owner only, atomically: written to a private
/// temporary file, then renamed over it, so no process ever sees a partial keyring.
fn replace_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let temporary = path.with_extension(format!("tmp-{}", uuid::Uuid::new_v4().simple()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = options.open(&temporary).and_then(|mut file| file.write_all(bytes).and_then(|()| file.sync_all()));
    let renamed = written.and_then(|()| std::fs::rename(&temporary, path));
    if renamed.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    renamed
}

/// Refuses a keyring that others could read: its keys would no longer be secret.
fn check_private(path: &Path) -> Result<(), KeyringError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .map_err(|source| KeyringError::Io { path: path.to_owned(), source })?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(KeyringError::Exposed(path.to_owned()));
        }
    }
    Ok(())
}

#[async_trait]
impl KeyService for LocalKeyring {
    async fn generate_data_key(&self, context: &EncryptionContext) -> Result<DataKey, KeyServiceError> {
        let plaintext = random_key(&self.rng).map_err(|e| KeyServiceError::Unavailable(e.to_string()))?;
        let mut nonce = [0_u8; NONCE_LEN];
        self.rng.fill(&mut nonce).map_err(|_| KeyServiceError::Unavailable("no randomness".into()))?;
        let mut sealed = plaintext.clone();
        self.master_key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context.associated_data()),
                &mut sealed,
            )
            .map_err(|_| KeyServiceError::Unavailable("wrapping failed".into()))?;
        let id = self.master_key_id.as_bytes();
        let mut wrapped = Vec::with_capacity(2 + id.len() + NONCE_LEN + sealed.len());
        wrapped.push(WRAP_VERSION);
        wrapped.push(u8::try_from(id.len()).map_err(|_| KeyServiceError::Unavailable("key id too long".into()))?);
        wrapped.extend_from_slice(id);
        wrapped.extend_from_slice(&nonce);
        wrapped.extend_from_slice(&sealed);
        Ok(DataKey { plaintext: SecretBytes::new(plaintext), wrapped, key_id: self.master_key_id.clone() })
    }

    async fn decrypt_data_key(
        &self,
        wrapped: &[u8],
        context: &EncryptionContext,
    ) -> Result<SecretBytes, KeyServiceError> {
        let refused = |why: &str| KeyServiceError::Refused(why.to_owned());
        let [version, id_len, rest @ ..] = wrapped else {
            return Err(refused("truncated wrapped key"));
        };
        if *version != WRAP_VERSION {
            return Err(refused("unknown wrapped-key version"));
        }
        let (id, rest) = rest.split_at_checked(usize::from(*id_len)).ok_or_else(|| refused("truncated wrapped key"))?;
        if id != self.master_key_id.as_bytes() {
            return Err(refused("wrapped under another master key"));
        }
        let (nonce, sealed) = rest.split_at_checked(NONCE_LEN).ok_or_else(|| refused("truncated wrapped key"))?;
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| refused("bad nonce"))?;
        let mut buffer = sealed.to_vec();
        let len = self
            .master_key
            .open_in_place(nonce, Aad::from(context.associated_data()), &mut buffer)
            .map_err(|_| refused("the wrapped key does not open under this context"))?
            .len();
        buffer.truncate(len);
        Ok(SecretBytes::new(buffer))
    }
}

/// The keyring's HMAC keyring (fingerprints, PAN hashes, request digests): Secrets Manager's job on
/// AWS. Read when the keyring file is opened, and replaced when this process rotates it.
#[async_trait]
impl HmacKeySource for LocalKeyring {
    async fn hmac_keyring(&self) -> Result<Arc<HmacKeyring>, KeyServiceError> {
        Ok(Arc::clone(&self.hmac_keyring.read().unwrap_or_else(PoisonError::into_inner)))
    }
}

/// The HMAC keyring in the keyring file: read from it, and written back into it (the file's other
/// keys as they are).
#[async_trait]
impl HmacKeyringStore for LocalKeyring {
    async fn load(&self) -> Result<HmacKeyring, KeyServiceError> {
        let unavailable = |e: KeyringError| KeyServiceError::Unavailable(e.to_string());
        self.read_file().map_err(unavailable)?.hmac_keyring(&self.path).map_err(unavailable)
    }

    async fn save(&self, keyring: &HmacKeyring) -> Result<(), KeyServiceError> {
        let unavailable = |e: KeyringError| KeyServiceError::Unavailable(e.to_string());
        let mut file = self.read_file().map_err(unavailable)?;
        file.hmac_key = None;
        file.hmac_keyring = Some(keyring.document());
        let bytes =
            serde_json::to_vec_pretty(&file).map_err(|_| unavailable(KeyringError::Invalid(self.path.clone())))?;
        replace_private(&self.path, &bytes)
            .map_err(|source| unavailable(KeyringError::Io { path: self.path.clone(), source }))?;
        *self.hmac_keyring.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(keyring.clone());
        Ok(())
    }
}
