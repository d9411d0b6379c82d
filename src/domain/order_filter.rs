//! What a shop's order list is filtered by (the vendor's orders desk):
//! status, the campus days the order was placed on, and a text that
//! matches the display id, the student's name or an item's name.

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;

use super::FieldError;
use super::earnings::Range;
use super::order::{Order, OrderStatus};

/// The longest search text, in characters.
pub const MAX_TEXT_CHARS: usize = 100;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderFilter {
    pub status: Option<OrderStatus>,
    /// Placed at or after this instant (the first of the `from` day).
    pub placed_from: Option<DateTime<Utc>>,
    /// Placed before this instant (the first after the `to` day).
    pub placed_before: Option<DateTime<Utc>>,
    /// Lower-cased search text; `None` matches everything.
    pub text: Option<String>,
}

impl OrderFilter {
    /// Parses the query's `from`, `to` (campus dates, `YYYY-MM-DD`, either
    /// may be absent) and `q`; every bad value is named.
    pub fn parse(
        status: Option<OrderStatus>,
        from: Option<&str>,
        to: Option<&str>,
        q: Option<&str>,
        tz: Tz,
    ) -> Result<OrderFilter, Vec<FieldError>> {
        let day = |field: &'static str, raw: Option<&str>| match raw.map(str::trim) {
            None | Some("") => Ok(None),
            Some(s) => NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map(Some)
                .map_err(|_| FieldError::new(field, "must be a date, YYYY-MM-DD")),
        };
        let mut errors = Vec::new();
        let from = day("from", from).unwrap_or_else(|e| {
            errors.push(e);
            None
        });
        let to = day("to", to).unwrap_or_else(|e| {
            errors.push(e);
            None
        });
        if let (Some(f), Some(t)) = (from, to)
            && t < f
        {
            errors.push(FieldError::new("to", "must not be before from"));
        }
        let text = match search_text(q.unwrap_or("")) {
            Ok(t) => t,
            Err(e) => {
                errors.push(e);
                None
            }
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        let one = |d: NaiveDate| Range { from: d, to: d };
        Ok(OrderFilter {
            status,
            placed_from: from.map(|d| one(d).starts_at(tz)),
            placed_before: to.map(|d| one(d).ends_at(tz)),
            text,
        })
    }

    /// Whether `o`, placed by `student_name`, passes every filter.
    pub fn matches(&self, o: &Order, student_name: &str) -> bool {
        self.status.is_none_or(|s| o.status == s)
            && self.placed_from.is_none_or(|t| o.created_at >= t)
            && self.placed_before.is_none_or(|t| o.created_at < t)
            && self
                .text
                .as_deref()
                .is_none_or(|t| text_matches(o, student_name, t))
    }

    /// Whether matching needs the student's name (only the text does).
    pub fn needs_student(&self) -> bool {
        self.text.is_some()
    }
}

/// The search text, trimmed and lower-cased: `None` when blank; at most
/// `MAX_TEXT_CHARS` characters, no control characters.
pub fn search_text(raw: &str) -> Result<Option<String>, FieldError> {
    let t = raw.trim();
    if t.is_empty() {
        return Ok(None);
    }
    if t.chars().count() > MAX_TEXT_CHARS {
        return Err(FieldError::new(
            "q",
            format!("at most {MAX_TEXT_CHARS} characters"),
        ));
    }
    if t.chars().any(char::is_control) {
        return Err(FieldError::new("q", "must not hold control characters"));
    }
    Ok(Some(t.to_lowercase()))
}

/// Case-insensitive: `needle` (lower-cased) in the display id, the
/// student's name or any item's name.
pub fn text_matches(o: &Order, student_name: &str, needle: &str) -> bool {
    let has = |s: &str| s.to_lowercase().contains(needle);
    has(&o.display_id) || has(student_name) || o.items.iter().any(|i| has(&i.name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::order::test_support::{at, order};

    const IST: Tz = chrono_tz::Asia::Kolkata;

    #[test]
    fn dates_are_campus_days_and_bad_values_are_named() {
        let f =
            OrderFilter::parse(None, Some("2026-11-22"), Some("2026-11-22"), None, IST).unwrap();
        // Midnight in India is 18:30 UTC the day before.
        assert_eq!(f.placed_from, Some(at("2026-11-21T18:30:00Z")));
        assert_eq!(f.placed_before, Some(at("2026-11-22T18:30:00Z")));
        let o = order("UP-AAAAA", "Hostel A", "B-1", OrderStatus::New);
        assert!(f.matches(&o, "Asha"));
        let next = OrderFilter::parse(None, Some("2026-11-23"), None, None, IST).unwrap();
        assert!(!next.matches(&o, "Asha"));
        assert!(next.placed_before.is_none());

        let e = OrderFilter::parse(None, Some("22/11/2026"), Some("2026-13-01"), None, IST)
            .unwrap_err();
        let fields: Vec<&str> = e.iter().map(|e| e.field).collect();
        assert_eq!(fields, ["from", "to"]);
        let e = OrderFilter::parse(None, Some("2026-11-22"), Some("2026-11-21"), None, IST)
            .unwrap_err();
        assert_eq!(e[0].field, "to");
        let long = "x".repeat(MAX_TEXT_CHARS + 1);
        let e = OrderFilter::parse(None, None, None, Some(&long), IST).unwrap_err();
        assert_eq!(e[0].field, "q");
        assert!(
            OrderFilter::parse(None, Some(""), None, Some("  "), IST).unwrap()
                == OrderFilter::default()
        );
    }

    #[test]
    fn text_matches_display_id_student_and_items_in_any_case() {
        let o = order("UP-7K3Q9", "Hostel A", "B-1", OrderStatus::Batched);
        for q in ["up-7k3", "ASHA", "masala", "samosa"] {
            let f = OrderFilter::parse(None, None, None, Some(q), IST).unwrap();
            assert!(f.matches(&o, "Asha Menon"), "{q}");
        }
        let f = OrderFilter::parse(None, None, None, Some("maggi"), IST).unwrap();
        assert!(!f.matches(&o, "Asha Menon"));
        let f = OrderFilter::parse(Some(OrderStatus::New), None, None, Some("asha"), IST).unwrap();
        assert!(!f.matches(&o, "Asha Menon"), "status too");
    }
}
