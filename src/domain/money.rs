//! Money is an integer number of minor units (paise for INR), never a float.

use super::FieldError;

/// The largest amount any single price, fee or total may be: 10,00,000.00
/// in major units. Bounds every sum we make far below `i64::MAX`.
pub const MAX_MINOR: i64 = 100_000_000;

/// Parses an amount in minor units within `0..=MAX_MINOR`.
pub fn parse_amount(field: &'static str, v: i64) -> Result<i64, FieldError> {
    if v < 0 {
        return Err(FieldError::new(field, "must not be negative"));
    }
    if v > MAX_MINOR {
        return Err(FieldError::new(
            field,
            format!("must be at most {MAX_MINOR} (minor units)"),
        ));
    }
    Ok(v)
}

/// An amount in major units with two decimals ("12.50"), for messages.
pub fn show(minor: i64) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let m = minor.unsigned_abs();
    format!("{sign}{}.{:02}", m / 100, m % 100)
}

/// The campus currency (`campus.currency`), an ISO 4217 code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Currency([u8; 3]);

impl Currency {
    pub const INR: Currency = Currency(*b"INR");

    /// Three upper-case ASCII letters, or None.
    pub fn parse(code: &str) -> Option<Currency> {
        let b: [u8; 3] = code.as_bytes().try_into().ok()?;
        b.iter().all(u8::is_ascii_uppercase).then_some(Currency(b))
    }

    /// The ISO code ("INR"); `parse` lets only ASCII letters in.
    pub fn code(&self) -> String {
        self.0.iter().copied().map(char::from).collect()
    }

    /// An amount as people read it in texts: "₹30.00", or "30.00 CHF" for a
    /// currency without a well-known sign.
    pub fn amount(self, minor: i64) -> String {
        let sign = match &self.0 {
            b"INR" => "₹",
            b"USD" => "$",
            b"EUR" => "€",
            b"GBP" => "£",
            _ => return format!("{} {}", show(minor), self.code()),
        };
        match show(minor).strip_prefix('-') {
            Some(abs) => format!("-{sign}{abs}"),
            None => format!("{sign}{}", show(minor)),
        }
    }
}

/// A discount is an amount off the price and can never exceed it (the
/// reference implementation allowed discounts over 100 %).
pub fn check_discount(price: i64, discount: i64) -> Result<(), FieldError> {
    parse_amount("discount", discount)?;
    if discount > price {
        return Err(FieldError::new(
            "discount",
            "must not exceed the price (at most 100 % off)",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_show_in_major_units() {
        assert_eq!(show(0), "0.00");
        assert_eq!(show(1250), "12.50");
        assert_eq!(show(5), "0.05");
        assert_eq!(show(-199), "-1.99");
    }

    #[test]
    fn amounts_in_texts_carry_the_currency() {
        assert_eq!(Currency::INR.amount(3000), "₹30.00");
        assert_eq!(Currency::INR.amount(-250), "-₹2.50");
        let chf = Currency::parse("CHF").unwrap();
        assert_eq!(chf.amount(1250), "12.50 CHF");
        assert_eq!(chf.code(), "CHF");
        assert_eq!(Currency::parse("inr"), None);
        assert_eq!(Currency::parse("INRS"), None);
    }

    #[test]
    fn amounts_are_bounded_and_discounts_never_exceed_the_price() {
        assert!(parse_amount("price", -1).is_err());
        assert!(parse_amount("price", MAX_MINOR + 1).is_err());
        assert_eq!(parse_amount("price", 0).unwrap(), 0);
        assert!(check_discount(100, 100).is_ok());
        assert!(check_discount(100, 101).is_err());
        assert!(check_discount(100, -1).is_err());
    }
}
