//! Money without floats: an amount is an integer count of the currency's minor units (ISO 4217
//! exponent: 2 for BRL, 0 for JPY, 3 for KWD). Decimal text is parsed and printed exactly.

use std::fmt;

/// An ISO 4217 currency Cofre accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Currency {
    alpha: &'static str,
    numeric: &'static str,
    exponent: u32,
}

/// The currencies accepted, with their numeric codes and minor-unit exponents (ISO 4217).
const CURRENCIES: [Currency; 22] = [
    Currency { alpha: "BRL", numeric: "986", exponent: 2 },
    Currency { alpha: "USD", numeric: "840", exponent: 2 },
    Currency { alpha: "EUR", numeric: "978", exponent: 2 },
    Currency { alpha: "GBP", numeric: "826", exponent: 2 },
    Currency { alpha: "ARS", numeric: "032", exponent: 2 },
    Currency { alpha: "CLP", numeric: "152", exponent: 0 },
    Currency { alpha: "COP", numeric: "170", exponent: 2 },
    Currency { alpha: "MXN", numeric: "484", exponent: 2 },
    Currency { alpha: "PEN", numeric: "604", exponent: 2 },
    Currency { alpha: "UYU", numeric: "858", exponent: 2 },
    Currency { alpha: "PYG", numeric: "600", exponent: 0 },
    Currency { alpha: "BOB", numeric: "068", exponent: 2 },
    Currency { alpha: "CAD", numeric: "124", exponent: 2 },
    Currency { alpha: "AUD", numeric: "036", exponent: 2 },
    Currency { alpha: "CHF", numeric: "756", exponent: 2 },
    Currency { alpha: "CNY", numeric: "156", exponent: 2 },
    Currency { alpha: "INR", numeric: "356", exponent: 2 },
    Currency { alpha: "JPY", numeric: "392", exponent: 0 },
    Currency { alpha: "KRW", numeric: "410", exponent: 0 },
    Currency { alpha: "KWD", numeric: "414", exponent: 3 },
    Currency { alpha: "BHD", numeric: "048", exponent: 3 },
    Currency { alpha: "MZN", numeric: "943", exponent: 2 },
];

impl Currency {
    /// Accepts an alphabetic ("BRL") or numeric ("986") code.
    pub fn parse(code: &str) -> Option<Self> {
        CURRENCIES.iter().copied().find(|c| c.alpha == code || c.numeric == code)
    }

    /// The alphabetic code.
    pub fn alpha(self) -> &'static str {
        self.alpha
    }

    /// Digits after the decimal point.
    pub fn exponent(self) -> u32 {
        self.exponent
    }
}

impl serde::Serialize for Currency {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.alpha)
    }
}

impl<'de> serde::Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Self::parse(&raw).ok_or_else(|| serde::de::Error::custom("not an accepted currency"))
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.alpha)
    }
}

/// The largest amount accepted, in minor units: far above any card limit, far below `i64::MAX`, so
/// sums of amounts cannot overflow.
pub const MAX_MINOR_UNITS: i64 = 1_000_000_000_000_000;

/// Why decimal text is not an amount.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    /// Not a plain decimal number.
    #[error("must be a decimal number")]
    NotDecimal,
    /// More fraction digits than the currency has.
    #[error("has more decimal places than {0} allows ({1})")]
    TooPrecise(&'static str, u32),
    /// Zero or negative where a positive amount is needed, or beyond the maximum.
    #[error("must be greater than zero and at most {MAX_MINOR_UNITS} minor units")]
    OutOfRange,
}

/// Parses decimal text ("10", "10.5", "10.50") into minor units of `currency`: exact, no floats.
/// `allow_zero` admits 0 (balances); amounts requested are always positive.
pub fn parse_minor_units(text: &str, currency: Currency, allow_zero: bool) -> Result<i64, AmountError> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || (text.contains('.') && !digits(fraction)) {
        return Err(AmountError::NotDecimal);
    }
    let significant = fraction.trim_end_matches('0');
    if significant.len() > currency.exponent as usize {
        return Err(AmountError::TooPrecise(currency.alpha, currency.exponent));
    }
    let scale = 10_i64.pow(currency.exponent);
    let whole: i64 = whole.parse().map_err(|_| AmountError::OutOfRange)?;
    let mut minor_fraction = 0_i64;
    for (i, digit) in significant.bytes().enumerate() {
        minor_fraction += i64::from(digit - b'0') * 10_i64.pow(currency.exponent - 1 - i as u32);
    }
    let minor = whole.checked_mul(scale).and_then(|w| w.checked_add(minor_fraction)).ok_or(AmountError::OutOfRange)?;
    if minor > MAX_MINOR_UNITS || (minor == 0 && !allow_zero) {
        return Err(AmountError::OutOfRange);
    }
    Ok(minor)
}

/// Prints minor units as exact decimal text with the currency's digits ("10.00"); negative allowed
/// (a forced overdraft).
pub fn format_minor_units(minor: i64, currency: Currency) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let magnitude = minor.unsigned_abs();
    if currency.exponent == 0 {
        return format!("{sign}{magnitude}");
    }
    let scale = 10_u64.pow(currency.exponent);
    format!("{sign}{}.{:0width$}", magnitude / scale, magnitude % scale, width = currency.exponent as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brl() -> Currency {
        Currency::parse("BRL").unwrap()
    }

    #[test]
    fn currencies_parse_by_alpha_or_numeric_code() {
        assert_eq!(Currency::parse("986"), Currency::parse("BRL"));
        assert_eq!(Currency::parse("JPY").unwrap().exponent(), 0);
        assert!(Currency::parse("brl").is_none() && Currency::parse("XXX").is_none() && Currency::parse("").is_none());
    }

    #[test]
    fn decimal_text_becomes_exact_minor_units() {
        assert_eq!(parse_minor_units("10", brl(), false), Ok(1000));
        assert_eq!(parse_minor_units("10.5", brl(), false), Ok(1050));
        assert_eq!(parse_minor_units("10.50", brl(), false), Ok(1050));
        assert_eq!(parse_minor_units("0.01", brl(), false), Ok(1));
        assert_eq!(parse_minor_units("0.10000", brl(), false), Ok(10), "trailing zeros are not precision");
        assert_eq!(parse_minor_units("0.1", Currency::parse("KWD").unwrap(), false), Ok(100));
        assert_eq!(parse_minor_units("1500", Currency::parse("JPY").unwrap(), false), Ok(1500));
        assert_eq!(parse_minor_units("0", brl(), true), Ok(0));
    }

    #[test]
    fn anything_else_is_refused() {
        assert_eq!(parse_minor_units("10.001", brl(), false), Err(AmountError::TooPrecise("BRL", 2)));
        assert_eq!(
            parse_minor_units("1.5", Currency::parse("JPY").unwrap(), false),
            Err(AmountError::TooPrecise("JPY", 0))
        );
        for bad in ["", "-1", "+1", "1e3", "1.", ".5", "1,00", " 1", "0x10", "NaN"] {
            assert_eq!(parse_minor_units(bad, brl(), false), Err(AmountError::NotDecimal), "{bad:?}");
        }
        assert_eq!(parse_minor_units("0", brl(), false), Err(AmountError::OutOfRange));
        assert_eq!(parse_minor_units("0.00", brl(), false), Err(AmountError::OutOfRange));
        assert_eq!(parse_minor_units("99999999999999999999", brl(), false), Err(AmountError::OutOfRange));
    }

    #[test]
    fn minor_units_print_exactly() {
        assert_eq!(format_minor_units(1050, brl()), "10.50");
        assert_eq!(format_minor_units(5, brl()), "0.05");
        assert_eq!(format_minor_units(-1000, brl()), "-10.00");
        assert_eq!(format_minor_units(1500, Currency::parse("JPY").unwrap()), "1500");
        assert_eq!(format_minor_units(1, Currency::parse("KWD").unwrap()), "0.001");
    }
}
