//! Names the fields of a malformed JSON body.
//!
//! poem-openapi rejects a body that does not match its schema (wrong type,
//! missing field, over a documented bound) with a 400 whose message often
//! names only the type, not the field. When that happens we check the body
//! against the same OpenAPI document ourselves and list every offending
//! field, so a client gets `errors: [{field: "items[0].quantity", …}]` just as
//! for our own 422 validation.

use serde_json::{Map, Value};

use super::error::ProblemField;

struct Route {
    method: String,
    segments: Vec<String>,
    schema: Value,
}

pub struct Shapes {
    components: Map<String, Value>,
    routes: Vec<Route>,
    /// Each operation's query parameter names.
    queries: Vec<(String, Vec<String>, Vec<String>)>,
}

impl Shapes {
    pub fn new(spec_json: &str) -> Self {
        let spec: Value = serde_json::from_str(spec_json).unwrap_or(Value::Null);
        let components = spec["components"]["schemas"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        let mut routes = Vec::new();
        let mut queries = Vec::new();
        if let Some(paths) = spec["paths"].as_object() {
            for (path, ops) in paths {
                for (method, op) in ops.as_object().into_iter().flatten() {
                    let names: Vec<String> = op["parameters"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter(|p| p["in"] == "query")
                        .filter_map(|p| p["name"].as_str().map(str::to_string))
                        .collect();
                    if !names.is_empty() {
                        queries.push((
                            method.to_ascii_uppercase(),
                            path.split('/').map(str::to_string).collect(),
                            names,
                        ));
                    }
                    // poem-openapi writes `application/json; charset=utf-8`.
                    let json = op["requestBody"]["content"]
                        .as_object()
                        .and_then(|c| c.iter().find(|(k, _)| k.starts_with("application/json")))
                        .map(|(_, v)| &v["schema"]);
                    if let Some(schema) = json.filter(|s| !s.is_null()) {
                        routes.push(Route {
                            method: method.to_ascii_uppercase(),
                            segments: path.split('/').map(str::to_string).collect(),
                            schema: schema.clone(),
                        });
                    }
                }
            }
        }
        Self {
            components,
            routes,
            queries,
        }
    }

    fn schema_for(&self, method: &str, path: &str) -> Option<&Value> {
        self.routes
            .iter()
            .find(|r| r.method == method && matches(&r.segments, path))
            .map(|r| &r.schema)
    }

    /// Whether `name` is a query parameter of the operation at `path`.
    pub fn is_query_param(&self, method: &str, path: &str, name: &str) -> bool {
        self.queries.iter().any(|(m, segments, names)| {
            m == method && matches(segments, path) && names.iter().any(|n| n == name)
        })
    }

    /// The fields of `body` that do not fit the operation's schema.
    pub fn explain(&self, method: &str, path: &str, body: &[u8]) -> Vec<ProblemField> {
        let Some(schema) = self.schema_for(method, path) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        match serde_json::from_slice::<Value>(body) {
            Ok(v) => self.check(schema, &v, "", &mut out),
            Err(e) => out.push(field("body", format!("is not valid JSON: {e}"))),
        }
        out
    }

    fn resolve<'a>(&'a self, schema: &'a Value) -> &'a Value {
        match schema["$ref"].as_str().and_then(|r| r.rsplit('/').next()) {
            Some(name) => self.components.get(name).unwrap_or(schema),
            None => schema,
        }
    }

    fn check(&self, schema: &Value, v: &Value, at: &str, out: &mut Vec<ProblemField>) {
        // A problem shows at most this many; one more tells "there are more".
        if out.len() > super::error::MAX_PROBLEM_FIELDS {
            return;
        }
        let schema = self.resolve(schema);
        if let Some(all) = schema["allOf"].as_array() {
            for s in all {
                self.check(s, v, at, out);
            }
            return;
        }
        let name = if at.is_empty() { "body" } else { at };
        if let Some(choices) = schema["enum"].as_array()
            && !choices.contains(v)
        {
            let list: Vec<String> = choices.iter().map(|c| c.to_string()).collect();
            out.push(field(name, format!("must be one of {}", list.join(", "))));
            return;
        }
        let ty = schema["type"].as_str().unwrap_or("");
        let ok = match ty {
            "string" => v.is_string(),
            "integer" => v.is_i64() || v.is_u64(),
            "number" => v.is_number(),
            "boolean" => v.is_boolean(),
            "array" => v.is_array(),
            "object" => v.is_object(),
            _ => true,
        };
        if !ok {
            let expected = if ty == "integer" {
                "a whole number"
            } else {
                ty
            };
            out.push(field(name, format!("must be {expected}, not {}", kind(v))));
            return;
        }
        if let (Some(max), Some(s)) = (schema["maxLength"].as_u64(), v.as_str())
            && s.chars().count() as u64 > max
        {
            out.push(field(name, format!("must be at most {max} characters")));
        }
        if let (Some(min), Some(n)) = (schema["minimum"].as_f64(), v.as_f64())
            && n < min
        {
            out.push(field(name, format!("must be at least {min}")));
        }
        if let (Some(max), Some(n)) = (schema["maximum"].as_f64(), v.as_f64())
            && n > max
        {
            out.push(field(name, format!("must be at most {max}")));
        }
        if let Some(items) = v.as_array() {
            if let Some(max) = schema["maxItems"].as_u64()
                && items.len() as u64 > max
            {
                out.push(field(name, format!("must have at most {max} entries")));
            }
            for (i, item) in items.iter().enumerate() {
                self.check(&schema["items"], item, &format!("{name}[{i}]"), out);
            }
        }
        if let Some(obj) = v.as_object() {
            let props = schema["properties"].as_object();
            let join = |k: &str| {
                if at.is_empty() {
                    k.to_string()
                } else {
                    format!("{at}.{k}")
                }
            };
            for req in schema["required"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                if obj.get(req).is_none_or(Value::is_null) {
                    out.push(field(&join(req), "is required".into()));
                }
            }
            for (k, val) in obj {
                match props.and_then(|p| p.get(k)) {
                    Some(s) if !val.is_null() => self.check(s, val, &join(k), out),
                    Some(_) => {}
                    None if props.is_some() => {
                        out.push(field(&join(k), "is not a known field".into()))
                    }
                    None => {}
                }
            }
        }
    }
}

/// Whether a path fits a route template such as `/api/v1/shops/{id}`.
fn matches(template: &[String], path: &str) -> bool {
    let parts: Vec<&str> = path.split('/').collect();
    template.len() == parts.len()
        && template
            .iter()
            .zip(&parts)
            .all(|(t, p)| t == p || (t.starts_with('{') && t.ends_with('}')))
}

fn field(name: &str, message: String) -> ProblemField {
    ProblemField {
        field: name.to_string(),
        message,
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_f64() => "a fraction",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &str = r##"{
      "paths": {"/api/v1/orders/{id}/things": {"post": {"requestBody": {"content": {"application/json; charset=utf-8": {"schema": {"$ref": "#/components/schemas/Req"}}}}}}},
      "components": {"schemas": {
        "Req": {"type": "object", "required": ["name", "items"], "properties": {
          "name": {"type": "string", "maxLength": 3},
          "kind": {"type": "string", "enum": ["A", "B"]},
          "items": {"type": "array", "items": {"$ref": "#/components/schemas/Line"}}}},
        "Line": {"type": "object", "required": ["quantity"], "properties": {"quantity": {"type": "integer", "minimum": 1}}}
      }}
    }"##;

    fn fields(body: &str) -> Vec<String> {
        Shapes::new(SPEC)
            .explain("POST", "/api/v1/orders/01ABC/things", body.as_bytes())
            .into_iter()
            .map(|f| f.field)
            .collect()
    }

    #[test]
    fn names_each_offending_field() {
        assert_eq!(fields(r#"{"name": 5, "items": []}"#), vec!["name"]);
        assert_eq!(fields(r#"{"items": []}"#), vec!["name"]);
        assert_eq!(fields(r#"{"name": "abcd", "items": []}"#), vec!["name"]);
        assert_eq!(
            fields(r#"{"name": "a", "items": [{"quantity": "2"}]}"#),
            vec!["items[0].quantity"]
        );
        assert_eq!(
            fields(r#"{"name": "a", "items": [{"quantity": 0}]}"#),
            vec!["items[0].quantity"]
        );
        assert_eq!(
            fields(r#"{"name": "a", "items": [], "kind": "C"}"#),
            vec!["kind"]
        );
        assert_eq!(
            fields(r#"{"name": "a", "items": [], "extra": 1}"#),
            vec!["extra"]
        );
        assert_eq!(fields(r#"[1]"#), vec!["body"]);
        assert_eq!(fields(r#"{"name": "a""#), vec!["body"]);
        assert!(fields(r#"{"name": "a", "items": [{"quantity": 2}]}"#).is_empty());
        assert!(
            Shapes::new(SPEC)
                .explain("GET", "/api/v1/x", b"{}")
                .is_empty()
        );
    }

    #[test]
    fn knows_each_operations_query_parameters() {
        let spec = r#"{"paths": {"/api/v1/shops/{id}/orders": {"get": {"parameters": [
            {"name": "id", "in": "path"}, {"name": "limit", "in": "query"},
            {"name": "Idempotency-Key", "in": "header"}]}}}}"#;
        let s = Shapes::new(spec);
        assert!(s.is_query_param("GET", "/api/v1/shops/01A/orders", "limit"));
        assert!(!s.is_query_param("GET", "/api/v1/shops/01A/orders", "id"));
        assert!(!s.is_query_param("GET", "/api/v1/shops/01A/orders", "Idempotency-Key"));
        assert!(!s.is_query_param("POST", "/api/v1/shops/01A/orders", "limit"));
        assert!(!s.is_query_param("GET", "/api/v1/shops", "limit"));
    }
}
