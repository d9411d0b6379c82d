//! The shape of every list that can grow: `{items, next_cursor}`, read
//! with one `limit` (1–200, default 50) and one opaque `cursor`.
//!
//! A `limit` or `cursor` that does not parse is refused like any other bad
//! query parameter: a 422 problem naming it (see `middleware`).

use std::borrow::Cow;

use poem_openapi::Object;
use poem_openapi::registry::{MetaSchema, MetaSchemaRef};
use poem_openapi::types::{
    ParseError, ParseFromJSON, ParseFromParameter, ParseResult, ToJSON, Type,
};

use crate::page::{DEFAULT_LIMIT, MAX_LIMIT, PageRequest};

/// One page of a list.
#[derive(Object)]
pub struct Page<T: ParseFromJSON + ToJSON> {
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; absent (null) on the last page.
    /// Opaque: items added meanwhile neither repeat nor shift the rest.
    pub next_cursor: Option<String>,
}

impl<T: ParseFromJSON + ToJSON> Page<T> {
    /// A rules' page, its items turned into views and its key into a cursor.
    pub fn of<U>(page: crate::page::Page<U>, f: impl FnMut(U) -> T) -> Self {
        Page {
            items: page.items.into_iter().map(f).collect(),
            next_cursor: page.next_cursor.as_deref().map(encode_cursor),
        }
    }
}

/// Which page: the `limit` and `cursor` query parameters.
pub fn request(limit: Limit, cursor: Cursor) -> PageRequest {
    PageRequest::new(limit.0, cursor.0)
}

/// The opaque form of a rules' page key.
pub fn encode_cursor(key: &str) -> String {
    hex::encode(key)
}

/// Longest cursor accepted (a key of 256 bytes).
const MAX_CURSOR_CHARS: usize = 512;

fn decode_cursor(s: &str) -> Option<String> {
    if s.len() > MAX_CURSOR_CHARS {
        return None;
    }
    String::from_utf8(hex::decode(s).ok()?).ok()
}

/// The `limit` query parameter: 1 to 200 items, 50 when absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit(pub usize);

impl Default for Limit {
    fn default() -> Self {
        Limit(DEFAULT_LIMIT)
    }
}

impl Type for Limit {
    const IS_REQUIRED: bool = false;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        "integer(limit)".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema {
            ty: "integer",
            format: Some("int32"),
            description: Some("Items per page, 1 to 200 (default 50)."),
            minimum: Some(1.0),
            maximum: Some(MAX_LIMIT as f64),
            default: Some(serde_json::json!(DEFAULT_LIMIT)),
            ..MetaSchema::ANY
        }))
    }

    fn as_raw_value(&self) -> Option<&Self> {
        Some(self)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self> + 'a> {
        Box::new(std::iter::once(self))
    }
}

impl ParseFromParameter for Limit {
    fn parse_from_parameter(value: &str) -> ParseResult<Self> {
        match value.trim().parse::<i64>() {
            Ok(n) if (1..=MAX_LIMIT as i64).contains(&n) => Ok(Limit(n as usize)),
            _ => Err(ParseError::custom(format!(
                "must be a whole number from 1 to {MAX_LIMIT}"
            ))),
        }
    }

    fn parse_from_parameters<I: IntoIterator<Item = A>, A: AsRef<str>>(
        iter: I,
    ) -> ParseResult<Self> {
        match iter.into_iter().next() {
            Some(v) => Self::parse_from_parameter(v.as_ref()),
            None => Ok(Limit::default()),
        }
    }
}

/// The `cursor` query parameter: `next_cursor` of the previous page, or
/// nothing for the first page. Holds the rules' key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cursor(pub Option<String>);

impl Type for Cursor {
    const IS_REQUIRED: bool = false;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        "string(cursor)".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema {
            ty: "string",
            description: Some("`next_cursor` of the previous page; omit for the first page."),
            max_length: Some(MAX_CURSOR_CHARS),
            ..MetaSchema::ANY
        }))
    }

    fn as_raw_value(&self) -> Option<&Self> {
        Some(self)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self> + 'a> {
        Box::new(std::iter::once(self))
    }
}

impl ParseFromParameter for Cursor {
    fn parse_from_parameter(value: &str) -> ParseResult<Self> {
        if value.is_empty() {
            return Ok(Cursor(None));
        }
        decode_cursor(value)
            .map(|k| Cursor(Some(k)))
            .ok_or_else(|| ParseError::custom("is not a cursor this list gave out"))
    }

    fn parse_from_parameters<I: IntoIterator<Item = A>, A: AsRef<str>>(
        iter: I,
    ) -> ParseResult<Self> {
        match iter.into_iter().next() {
            Some(v) => Self::parse_from_parameter(v.as_ref()),
            None => Ok(Cursor(None)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_parse_or_name_the_rule() {
        assert_eq!(
            Limit::parse_from_parameters(Vec::<&str>::new()).unwrap(),
            Limit(50)
        );
        assert_eq!(Limit::parse_from_parameter("1").unwrap(), Limit(1));
        assert_eq!(Limit::parse_from_parameter("200").unwrap(), Limit(200));
        for bad in ["0", "201", "-1", "abc", "", "1.5", "99999999999999999999"] {
            let e = Limit::parse_from_parameter(bad).unwrap_err();
            assert!(e.message().contains("1 to 200"), "{bad}: {}", e.message());
        }
    }

    #[test]
    fn cursors_round_trip_and_refuse_the_rest() {
        let key = "01ABC\0name with spaces/ü";
        let c = Cursor::parse_from_parameter(&encode_cursor(key)).unwrap();
        assert_eq!(c.0.as_deref(), Some(key));
        assert_eq!(Cursor::parse_from_parameter("").unwrap(), Cursor(None));
        for bad in ["xyz", "abc", "ff", &"00".repeat(300)] {
            assert!(Cursor::parse_from_parameter(bad).is_err(), "{bad}");
        }
    }
}
