use std::fmt;
use std::str::FromStr;

/// A Brazilian banking partner whose API key a tenant can store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Provider {
    /// BTG Pactual (OAuth2 client credentials, HTTP Basic).
    Btg,
    /// Celcoin (OAuth2 client credentials, form fields).
    Celcoin,
    /// JD Consultores' JDPI (OAuth2 client credentials with scopes).
    Jdpi,
    /// Pay2all (username/password login).
    Pay2all,
}

/// What the credential will be used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CredentialType {
    /// Indirect participation in Pix.
    Pix,
    /// Banking as a service.
    Baas,
    /// Pay2all account opening/closing and cash-out.
    Pay2all,
}

impl Provider {
    /// Every provider, in a stable order.
    pub const ALL: [Self; 4] = [Self::Btg, Self::Celcoin, Self::Jdpi, Self::Pay2all];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Btg => "BTG",
            Self::Celcoin => "CELCOIN",
            Self::Jdpi => "JDPI",
            Self::Pay2all => "PAY2ALL",
        }
    }

    /// The `provider_data` fields the partner's authentication needs besides the key.
    pub fn required_provider_data(self) -> &'static [&'static str] {
        match self {
            Self::Btg | Self::Celcoin | Self::Jdpi => &["client_id"],
            Self::Pay2all => &["username"],
        }
    }

    /// Every `provider_data` field the partner accepts. Anything else is refused: `provider_data` is
    /// stored in clear, so a secret must not be able to slip in under another name.
    pub fn accepted_provider_data(self) -> &'static [&'static str] {
        self.required_provider_data()
    }

    /// Whether this partner offers `credential_type`: the supported-pair matrix.
    pub fn supports(self, credential_type: CredentialType) -> bool {
        use CredentialType::{Baas, Pay2all as P2aType, Pix};
        matches!(
            (self, credential_type),
            (Self::Btg | Self::Celcoin | Self::Jdpi, Pix)
                | (Self::Btg | Self::Celcoin, Baas)
                | (Self::Pay2all, P2aType)
        )
    }
}

impl CredentialType {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pix => "PIX",
            Self::Baas => "BAAS",
            Self::Pay2all => "PAY2ALL",
        }
    }
}

impl FromStr for Provider {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        Self::ALL.into_iter().find(|p| p.as_str() == s).ok_or(())
    }
}

impl FromStr for CredentialType {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        [Self::Pix, Self::Baas, Self::Pay2all].into_iter().find(|t| t.as_str() == s).ok_or(())
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for CredentialType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn supported_pair_matrix_is_exactly_the_documented_one() {
        let types = [CredentialType::Pix, CredentialType::Baas, CredentialType::Pay2all];
        let supported: Vec<String> = Provider::ALL
            .iter()
            .flat_map(|p| types.iter().filter(|t| p.supports(**t)).map(move |t| format!("{t}/{p}")))
            .collect();
        assert_eq!(supported, ["PIX/BTG", "BAAS/BTG", "PIX/CELCOIN", "BAAS/CELCOIN", "PIX/JDPI", "PAY2ALL/PAY2ALL"]);
    }

    #[test]
    fn wire_names_round_trip_and_are_case_sensitive() {
        for p in Provider::ALL {
            assert_eq!(p.as_str().parse::<Provider>(), Ok(p));
        }
        assert!("btg".parse::<Provider>().is_err());
        assert_eq!("BAAS".parse::<CredentialType>(), Ok(CredentialType::Baas));
    }
}
