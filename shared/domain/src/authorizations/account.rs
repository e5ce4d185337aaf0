//! Accounts and cards: who can be charged, with what, and how much is left.

use std::fmt;

use time::OffsetDateTime;

use super::Currency;
use crate::crypto::{HmacKeyring, KeyedHash, UnknownHmacKey};
use crate::secret::SecretString;
use crate::tenant::TenantId;

/// The domain of PAN hashes: they can never equal any other keyed hash.
pub const PAN_HASH_DOMAIN: &str = "cofre:pan:v1";

/// An account id: a positive integer, as Pismo's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub struct AccountId(i64);

impl TryFrom<i64> for AccountId {
    type Error = &'static str;
    fn try_from(raw: i64) -> Result<Self, Self::Error> {
        Self::new(raw).ok_or("account ids are positive")
    }
}

impl From<AccountId> for i64 {
    fn from(id: AccountId) -> Self {
        id.0
    }
}

impl AccountId {
    /// Accepts a positive integer.
    pub fn new(raw: i64) -> Option<Self> {
        (raw > 0).then_some(Self(raw))
    }

    /// Reads an id as a path names it: decimal digits with no sign or leading zero, 1 to 2^63 - 1.
    pub fn parse(raw: &str) -> Option<Self> {
        positive_decimal(raw).and_then(|id| i64::try_from(id).ok()).and_then(Self::new)
    }

    /// The number.
    pub fn get(self) -> i64 {
        self.0
    }
}

/// A positive integer written in plain decimal (what `u64::from_str` would also take with a `+` or
/// leading zeros, which would give one id several spellings).
pub(super) fn positive_decimal(raw: &str) -> Option<u64> {
    let plain = !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_digit()) && !raw.starts_with('0');
    plain.then(|| raw.parse().ok()).flatten()
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

macro_rules! wire_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $wire:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($(#[$vdoc])* $variant),+ }

        impl $name {
            /// Every value.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The wire name.
            pub const fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $wire),+ }
            }
        }

        impl std::str::FromStr for $name {
            type Err = ();
            fn from_str(s: &str) -> Result<Self, ()> {
                Self::ALL.iter().copied().find(|v| v.as_str() == s).ok_or(())
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(d)?;
                raw.parse().map_err(|()| serde::de::Error::custom(concat!("not a ", stringify!($name))))
            }
        }
    };
}
pub(crate) use wire_enum;

wire_enum!(
    /// An account's standing.
    AccountStatus { /** In good standing. */ Normal = "NORMAL", /** Temporarily blocked. */ Blocked = "BLOCKED", /** Closed. */ Cancelled = "CANCELLED" }
);
wire_enum!(
    /// A card's standing.
    CardStatus { /** Usable. */ Normal = "NORMAL", /** Temporarily blocked. */ Blocked = "BLOCKED", /** Closed. */ Cancelled = "CANCELLED" }
);
wire_enum!(
    /// What a card can be used as.
    CardMode { /** Credit only. */ Credit = "CREDIT", /** Debit only. */ Debit = "DEBIT", /** Both. */ Combo = "COMBO" }
);

/// A card's expiry month.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Expiry {
    year: i32,
    month: u8,
}

impl Expiry {
    /// Parses `YYYY-MM`.
    pub fn parse(raw: &str) -> Option<Self> {
        let (year, month) = raw.split_once('-')?;
        let (year, month): (i32, u8) = (year.parse().ok()?, month.parse().ok()?);
        (year.to_string().len() == 4 && month.to_string().len() <= 2 && raw.len() == 7 && (1..=12).contains(&month))
            .then_some(Self { year, month })
    }

    /// Whether the card has expired at `at`: cards are valid through the last day of their month.
    pub fn expired_at(self, at: OffsetDateTime) -> bool {
        (at.year(), u8::from(at.month())) > (self.year, self.month)
    }
}

impl TryFrom<String> for Expiry {
    type Error = &'static str;
    fn try_from(raw: String) -> Result<Self, Self::Error> {
        Self::parse(&raw).ok_or("expiry must be YYYY-MM")
    }
}

impl From<Expiry> for String {
    fn from(e: Expiry) -> Self {
        e.to_string()
    }
}

impl fmt::Display for Expiry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

/// A primary account number. Never stored, logged or returned: only hashed and masked.
#[derive(Debug, Clone)]
pub struct Pan(SecretString);

impl Pan {
    /// Accepts 12 to 19 digits.
    pub fn parse(raw: &str) -> Option<Self> {
        ((12..=19).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_digit()))
            .then(|| Self(SecretString::new(raw.to_owned())))
    }

    /// First six and last four, the most PCI DSS allows to be shown.
    pub fn masked(&self) -> String {
        let pan = self.0.expose();
        format!("{}{}{}", &pan[..6], "*".repeat(pan.len() - 10), &pan[pan.len() - 4..])
    }

    /// The keyed hash cards are stored and looked up by, under the keyring's current key.
    pub fn hash(&self, keyring: &HmacKeyring) -> KeyedHash {
        keyring.hash(PAN_HASH_DOMAIN, self.0.expose().as_bytes())
    }

    /// Its hash under every key of the keyring, the current key's first: a card stored before the
    /// current key was made current is found under the key it was hashed with.
    pub fn hashes(&self, keyring: &HmacKeyring) -> Vec<KeyedHash> {
        keyring.hashes(PAN_HASH_DOMAIN, self.0.expose().as_bytes())
    }

    /// Whether `stored` is this PAN's hash, under whichever key it names.
    pub fn verify(&self, keyring: &HmacKeyring, stored: &KeyedHash) -> Result<bool, UnknownHmacKey> {
        keyring.verify(stored, PAN_HASH_DOMAIN, self.0.expose().as_bytes())
    }
}

/// A card of an account.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Card {
    /// Pismo's integer card id.
    pub id: i64,
    /// The tokenized id a merchant may hold instead of the PAN.
    pub stored_id: String,
    /// Standing.
    pub status: CardStatus,
    /// Expiry month.
    pub expiry: Expiry,
    /// Credit, debit or both.
    pub mode: CardMode,
    /// HMAC-SHA256 of the PAN, naming the key it was made with.
    pub pan_hash: KeyedHash,
    /// First six and last four.
    pub masked_pan: String,
}

/// A bank account, the fourth way to name an account.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BankAccount {
    /// Account number.
    pub account: String,
    /// Branch.
    pub branch: String,
}

/// An account and its ledger.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Account {
    /// Owner.
    pub tenant: TenantId,
    /// Id.
    pub id: AccountId,
    /// Program.
    pub program_id: i64,
    /// The holder's document number.
    pub document_number: String,
    /// Standing.
    pub status: AccountStatus,
    /// The ledger's currency.
    pub currency: Currency,
    /// Credit limit, minor units.
    pub limit: i64,
    /// What can still be spent, minor units; negative only after an overdraft a decision recorded
    /// (`forced`: a forced LEDGER, a forced confirmation, an advice).
    pub available: i64,
    /// What approved 0100s and 0120s hold on it awaiting confirmation, minor units (part of what
    /// `available` lacks of `limit`; the rest is confirmed spend). Kept by every decision that moves a hold, in its
    /// transaction; an account stored before the count was kept reads 0, and then misses the holds
    /// placed before (reading it back shows it at least 0).
    #[serde(default)]
    pub held: i64,
    /// Optional bank account.
    pub bank: Option<BankAccount>,
    /// Cards.
    pub cards: Vec<Card>,
}

/// An account's settings: what it allows beyond its ledger. Stored with the account, in its item
/// (beside the account's own fields, each only when it is on), so an item stored before a setting
/// existed reads with it off. Set by the fixtures (`cofre-local seed`), never by a request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct AccountSettings {
    /// The reference's "force original authorization configuration": a confirmation (0202) naming this
    /// account may leave its original out, or name one that is not found, and post its `amount` as
    /// a forced confirmation (see `docs/authorization-rules.md`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub force_original_authorization: bool,
    /// How long an approved 0100 (or OFFLINE 0120) may hold what it holds unconfirmed before the
    /// sweep releases it (`docs/hold-expiry.md`), in seconds; `None`: [`DEFAULT_HOLD_EXPIRY_SECONDS`].
    /// Stored only when the fixtures set it, so an account stored before it existed reads the default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hold_expiry_seconds: Option<u32>,
}

/// How long a hold lasts unless its account says otherwise: 7 days.
pub const DEFAULT_HOLD_EXPIRY_SECONDS: u32 = 604_800;

/// The longest hold an account may set: 366 days (card networks keep theirs for days or weeks; a
/// longer one is a typo, and this keeps every due instant far inside what a date can hold).
pub const MAX_HOLD_EXPIRY_SECONDS: u32 = 31_622_400;

impl AccountSettings {
    /// How long a hold on this account lasts.
    pub fn hold_expiry(&self) -> time::Duration {
        time::Duration::seconds(i64::from(self.hold_expiry_seconds.unwrap_or(DEFAULT_HOLD_EXPIRY_SECONDS)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pans_mask_to_first_six_last_four_and_hash_by_key() {
        let pan = Pan::parse("4111111111111111").unwrap();
        assert_eq!(pan.masked(), "411111******1111");
        assert!(!format!("{pan:?}").contains("4111111111111111"));
        let keyring =
            |byte| crate::crypto::HmacKeyring::legacy(crate::secret::SecretBytes::new(vec![byte; 32])).unwrap();
        let (k1, k2) = (keyring(1), keyring(2));
        assert!(pan.hash(&k1).matches(&Pan::parse("4111111111111111").unwrap().hash(&k1)));
        assert!(!pan.hash(&k1).matches(&pan.hash(&k2)));
        assert_eq!(pan.verify(&k1, &pan.hash(&k1)), Ok(true));
        assert_eq!(pan.verify(&k2, &pan.hash(&k1)), Ok(false));
        for bad in ["41111111111", "41111111111111111111", "4111-1111-1111-1111", ""] {
            assert!(Pan::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn expiry_lasts_through_its_month() {
        let exp = Expiry::parse("2026-11").unwrap();
        assert!(!exp.expired_at(time::macros::datetime!(2026-11-30 23:59 UTC)));
        assert!(exp.expired_at(time::macros::datetime!(2026-12-01 00:00 UTC)));
        for bad in ["2026-13", "26-11", "2026-1", "2026/11", "2026-00"] {
            assert!(Expiry::parse(bad).is_none(), "{bad}");
        }
        assert_eq!(exp.to_string(), "2026-11");
    }
}
