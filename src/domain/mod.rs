//! Business rules as plain types and functions, with no I/O.
//!
//! Values that reach the store are parsed here first ("parse, don't
//! validate"): an `Email` cannot be blank or malformed because it cannot be
//! built that way.

pub mod batch;
pub mod catalog;
pub mod chat;
pub mod dashboard;
pub mod earnings;
pub mod hours;
pub mod housekeeping;
pub mod money;
pub mod order;
pub mod order_filter;
pub mod otp;
pub mod reminder;
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
    // A joiner builds emoji sequences in free text; in a one-line name it
    // only makes two names that look alike.
    if s.chars()
        .any(|c| is_invisible_or_bidi(c) && !(multiline && c == '\u{200D}'))
    {
        return Err(FieldError::new(
            field,
            "must not contain invisible or text-direction characters",
        ));
    }
    Ok(s.to_string())
}

/// Characters that change how the text around them is shown without being
/// seen: direction overrides and isolates (which can make "UP-7K3Q9" read
/// as another id, or hide a name's end), zero-width characters, soft hyphens
/// and the byte-order mark.
pub fn is_invisible_or_bidi(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{061C}'
            | '\u{115F}'
            | '\u{1160}'
            | '\u{17B4}'
            | '\u{17B5}'
            | '\u{180B}'..='\u{180F}'
            | '\u{200B}'..='\u{200F}'
            | '\u{2028}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{FFF9}'..='\u{FFFB}'
            | '\u{E0000}'..='\u{E007F}'
    )
}

/// A record's version for `ETag` / `If-Match`: its last change to the
/// microsecond. Every write of a shop or product stamps `updated_at`.
pub fn version(updated_at: chrono::DateTime<chrono::Utc>) -> String {
    updated_at.timestamp_micros().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_refuse_invisible_and_direction_characters() {
        for bad in [
            "Chai\u{202E}tnioP",
            "Ad\u{200B}min",
            "\u{2066}Ravi\u{2069}",
            "Tea\u{FEFF}",
            "Soft\u{00AD}hyphen",
            "a\u{200D}b",
            "\u{E0041}tag",
        ] {
            let e = bounded_text("name", bad, 1, 50, false).unwrap_err();
            assert!(e.message.contains("invisible"), "{bad:?}");
        }
        assert!(bounded_text("d", "Family 👨\u{200D}👩\u{200D}👧 pack", 1, 50, true).is_ok());
        assert!(bounded_text("d", "x\u{202E}y", 1, 50, true).is_err());
        assert!(bounded_text("name", "Ré Müller-Nair", 1, 50, false).is_ok());
        assert!(bounded_text("name", "चाय पॉइंट", 1, 50, false).is_ok());
    }

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
