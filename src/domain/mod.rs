//! Business rules as plain types and functions, with no I/O.
//!
//! Values that reach the store are parsed here first ("parse, don't
//! validate"): an `Email` cannot be blank or malformed because it cannot be
//! built that way.

pub mod batch;
pub mod catalog;
pub mod chat;
pub mod money;
pub mod order;
pub mod shop;
pub mod uploads;
pub mod user;

/// A rule broken by some input, naming the field it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

impl FieldError {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

/// Trims and bounds a free-text field: `min..=max` characters, no control
/// characters other than newlines where `multiline` allows them.
pub fn bounded_text(
    field: &'static str,
    raw: &str,
    min: usize,
    max: usize,
    multiline: bool,
) -> Result<String, FieldError> {
    let s = raw.trim();
    let n = s.chars().count();
    if n < min {
        return Err(FieldError::new(
            field,
            if min == 1 {
                "must not be blank".to_string()
            } else {
                format!("must be at least {min} characters")
            },
        ));
    }
    if n > max {
        return Err(FieldError::new(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    if s.chars()
        .any(|c| c.is_control() && !(multiline && (c == '\n' || c == '\t' || c == '\r')))
    {
        return Err(FieldError::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_text_trims_and_counts_characters_not_bytes() {
        assert_eq!(bounded_text("n", "  Ré  ", 1, 2, false).unwrap(), "Ré");
        assert!(bounded_text("n", "   ", 1, 5, false).is_err());
        assert!(bounded_text("n", "abc", 1, 2, false).is_err());
        assert!(bounded_text("n", "a\u{0}b", 1, 9, false).is_err());
        assert!(bounded_text("n", "a\nb", 1, 9, false).is_err());
        assert_eq!(bounded_text("n", "a\nb", 1, 9, true).unwrap(), "a\nb");
    }
}
