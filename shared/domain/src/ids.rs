//! The id source port: every random identifier the domain mints comes from here.

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Mints identifiers. Behind a trait so tests can make them predictable.
pub trait IdSource: Send + Sync {
    /// An unguessable token: `prefix` followed by 256 random bits, base64url.
    fn opaque(&self, prefix: &str) -> String;

    /// 64 random bits.
    fn random_u64(&self) -> u64;
}

/// Ids from the operating system's CSPRNG.
#[derive(Debug, Clone, Default)]
pub struct RandomIds {
    rng: SystemRandom,
}

impl IdSource for RandomIds {
    fn opaque(&self, prefix: &str) -> String {
        let mut bytes = [0_u8; 32];
        // SystemRandom reads the kernel CSPRNG; it fails only if the kernel cannot supply entropy,
        // in which case a UUID v4 (also CSPRNG-backed, 122 bits) is the best remaining source.
        if self.rng.fill(&mut bytes).is_err() {
            let a = uuid::Uuid::new_v4();
            let b = uuid::Uuid::new_v4();
            bytes[..16].copy_from_slice(a.as_bytes());
            bytes[16..].copy_from_slice(b.as_bytes());
        }
        format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes))
    }

    fn random_u64(&self) -> u64 {
        let mut bytes = [0_u8; 8];
        if self.rng.fill(&mut bytes).is_err() {
            bytes.copy_from_slice(&uuid::Uuid::new_v4().as_bytes()[..8]);
        }
        u64::from_le_bytes(bytes)
    }
}
