//! Request field types shared by every resource.

use std::borrow::Cow;

use poem_openapi::registry::{MetaSchema, MetaSchemaRef, Registry};
use poem_openapi::types::{ParseError, ParseFromJSON, ParseResult, ToJSON, Type};
use serde_json::Value;

/// A JSON string, strictly. poem-openapi's `String` accepts `5` or `true`
/// and turns them into text; a client that sends a number where we expect a
/// string has a bug we should report (400), not paper over.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Text(pub String);

impl Text {
    pub fn into_inner(self) -> String {
        self.0
    }
}

impl Type for Text {
    const IS_REQUIRED: bool = true;
    type RawValueType = String;
    type RawElementValueType = String;

    fn name() -> Cow<'static, str> {
        "string".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema::new("string")))
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        Some(&self.0)
    }

    fn raw_element_iter<'a>(
        &'a self,
    ) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        Box::new(std::iter::once(&self.0))
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl ParseFromJSON for Text {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value {
            Some(Value::String(s)) => Ok(Text(s)),
            other => Err(ParseError::expected_type(other.unwrap_or_default())),
        }
    }
}

impl ToJSON for Text {
    fn to_json(&self) -> Option<Value> {
        Some(Value::String(self.0.clone()))
    }
}

/// A JSON array of at most `N` entries, documented as `maxItems: N`.
/// poem-openapi's `max_items` validator takes only a literal; this takes
/// the constant a rule also uses, so the document and the rule cannot
/// drift apart. Over the bound is a malformed body (400), like any other
/// documented bound.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BoundedList<T, const N: usize>(pub Vec<T>);

impl<T: Type, const N: usize> Type for BoundedList<T, N> {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = T::RawValueType;

    fn name() -> Cow<'static, str> {
        format!("list_{}_max_{N}", T::name()).into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema {
            items: Some(Box::new(T::schema_ref())),
            max_items: Some(N),
            ..MetaSchema::new("array")
        }))
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        Some(self)
    }

    fn raw_element_iter<'a>(
        &'a self,
    ) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        Box::new(self.0.iter().filter_map(|item| item.as_raw_value()))
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<T: ParseFromJSON, const N: usize> ParseFromJSON for BoundedList<T, N> {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value {
            Some(Value::Array(values)) if values.len() > N => Err(ParseError::custom(format!(
                "at most {N} entries, not {}",
                values.len()
            ))),
            Some(Value::Array(values)) => {
                let mut out = Vec::with_capacity(values.len());
                for v in values {
                    out.push(T::parse_from_json(Some(v)).map_err(ParseError::propagate)?);
                }
                Ok(BoundedList(out))
            }
            other => Err(ParseError::expected_type(other.unwrap_or_default())),
        }
    }
}

impl<T: ToJSON, const N: usize> ToJSON for BoundedList<T, N> {
    fn to_json(&self) -> Option<Value> {
        self.0.to_json()
    }
}

/// Declares an OpenAPI enum that mirrors a domain enum variant for
/// variant, with conversions both ways, so the domain stays free of HTTP
/// derives and the spec still lists every value.
macro_rules! mirror_enum {
    ($view:ident, $domain:ty, { $($v:ident),* }) => {
        #[derive(poem_openapi::Enum, Clone, Copy, Debug, PartialEq, Eq)]
        #[oai(rename_all = "SCREAMING_SNAKE_CASE")]
        pub enum $view { $($v),* }
        impl From<$domain> for $view {
            fn from(d: $domain) -> Self { match d { $(<$domain>::$v => Self::$v),* } }
        }
        impl From<$view> for $domain {
            fn from(v: $view) -> Self { match v { $($view::$v => Self::$v),* } }
        }
    };
}
pub(crate) use mirror_enum;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_strings_parse() {
        assert_eq!(
            Text::parse_from_json(Some(Value::String("a".into()))).unwrap(),
            Text("a".into())
        );
        assert!(Text::parse_from_json(Some(serde_json::json!(5))).is_err());
        assert!(Text::parse_from_json(Some(serde_json::json!(true))).is_err());
        assert!(Text::parse_from_json(None).is_err());
        assert!(Option::<Text>::parse_from_json(None).unwrap().is_none());
    }

    #[test]
    fn a_bounded_list_documents_and_keeps_its_bound() {
        type Two = BoundedList<Text, 2>;
        assert!(Two::parse_from_json(Some(serde_json::json!(["a", "b"]))).is_ok());
        assert!(Two::parse_from_json(Some(serde_json::json!(["a", "b", "c"]))).is_err());
        assert!(Two::parse_from_json(Some(serde_json::json!([1]))).is_err());
        assert!(Two::parse_from_json(Some(serde_json::json!("a"))).is_err());
        match Two::schema_ref() {
            MetaSchemaRef::Inline(s) => assert_eq!(s.max_items, Some(2)),
            other => panic!("{other:?}"),
        }
    }
}
