use std::fmt;
use std::str::FromStr;

use super::CredentialField;

/// A card processor a merchant connection can point at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Processor {
    /// Stripe Connect (`key`).
    StripeConnect,
    /// Stripe (`secret`: the secret API key).
    Stripe,
    /// AffiniPay (`secret`: the private secret).
    AffiniPay,
    /// Authorize.Net (`key`: API login id, `secret`: transaction key).
    AuthorizeNet,
    /// Braintree (`mid`: merchant id, `key`: public key, `secret`: private key).
    Braintree,
    /// NMI (`secret`: security key).
    Nmi,
    /// Adyen (`key`: API key, `mid`: merchant account).
    Adyen,
    /// Square (`key`: access token).
    Square,
    /// CardPointe (`key`: API user, `secret`: API password, `mid`: merchant id).
    CardPointe,
}

impl Processor {
    /// Every processor.
    pub const ALL: [Self; 9] = [
        Self::StripeConnect,
        Self::Stripe,
        Self::AffiniPay,
        Self::AuthorizeNet,
        Self::Braintree,
        Self::Nmi,
        Self::Adyen,
        Self::Square,
        Self::CardPointe,
    ];

    /// The wire name, as Preczn writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::StripeConnect => "StripeConnect",
            Self::Stripe => "Stripe",
            Self::AffiniPay => "AffiniPay",
            Self::AuthorizeNet => "Authorize.Net",
            Self::Braintree => "Braintree",
            Self::Nmi => "NMI",
            Self::Adyen => "Adyen",
            Self::Square => "Square",
            Self::CardPointe => "CardPointe",
        }
    }

    /// The credential fields the processor needs, in `key`, `secret`, `mid` order.
    pub fn required_fields(self) -> &'static [CredentialField] {
        use CredentialField::{Key, Mid, Secret};
        match self {
            Self::StripeConnect | Self::Square => &[Key],
            Self::Stripe | Self::AffiniPay | Self::Nmi => &[Secret],
            Self::AuthorizeNet => &[Key, Secret],
            Self::Braintree | Self::CardPointe => &[Key, Secret, Mid],
            Self::Adyen => &[Key, Mid],
        }
    }
}

impl FromStr for Processor {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        Self::ALL.into_iter().find(|p| p.as_str() == s).ok_or(())
    }
}

impl fmt::Display for Processor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requirements_are_the_documented_ones() {
        let table: Vec<String> = Processor::ALL
            .iter()
            .map(|p| format!("{p}: {}", p.required_fields().iter().map(|f| f.as_str()).collect::<Vec<_>>().join("+")))
            .collect();
        assert_eq!(
            table,
            [
                "StripeConnect: key",
                "Stripe: secret",
                "AffiniPay: secret",
                "Authorize.Net: key+secret",
                "Braintree: key+secret+mid",
                "NMI: secret",
                "Adyen: key+mid",
                "Square: key",
                "CardPointe: key+secret+mid",
            ]
        );
        assert_eq!("Authorize.Net".parse(), Ok(Processor::AuthorizeNet));
    }
}
