//! One error type for the HTTP layer, mapped once to RFC 9457
//! `application/problem+json`. Internal causes are logged with their whole
//! chain and hidden from the client.

use poem::Response;
use poem::http::{HeaderValue, StatusCode, header};
use poem_openapi::registry::{MetaMediaType, MetaResponse, MetaResponses, Registry};
use poem_openapi::types::Type;
use poem_openapi::{ApiResponse, Object};

use crate::domain::FieldError;
use crate::error::Error;
use crate::store::{StoreError, WriteFailure};

pub const PROBLEM_JSON: &str = "application/problem+json";

/// One field that failed validation.
#[derive(Debug, Clone, Object, serde::Serialize)]
pub struct ProblemField {
    /// The request field, e.g. `email`.
    pub field: String,
    pub message: String,
}

/// An RFC 9457 problem document.
#[derive(Debug, Clone, Object, serde::Serialize)]
pub struct Problem {
    /// Always `about:blank`: the status code says what kind of problem it is.
    #[oai(rename = "type")]
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Fields that failed validation, when that is the problem (absent
    /// otherwise).
    #[oai(default, skip_serializing_if_is_empty)]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ProblemField>,
}

/// What a request can fail with: everything the rules say, plus what only
/// HTTP can get wrong (a malformed request, a body over the limit).
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Rule(#[from] Error),
    #[error("{0}")]
    BadRequest(String),
    #[error("request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
}

macro_rules! via_rule {
    ($($t:ty),*) => {$(
        impl From<$t> for ApiError {
            fn from(e: $t) -> Self { ApiError::Rule(Error::from(e)) }
        }
    )*};
}
via_rule!(
    StoreError,
    FieldError,
    redb::StorageError,
    redb::TableError,
    redb::TransactionError,
    redb::CommitError
);

impl WriteFailure for ApiError {
    fn is_storage(&self) -> bool {
        matches!(self, ApiError::Rule(e) if e.is_storage())
    }
    fn from_store(err: StoreError) -> Self {
        ApiError::Rule(Error::Store(err))
    }
}

/// A problem lists at most this many fields: enough to fix a form, bounded
/// whatever the body held.
pub const MAX_PROBLEM_FIELDS: usize = 20;

/// Messages quote at most this many characters of what the parser saw.
const MAX_MESSAGE_CHARS: usize = 300;

fn clip(s: &str) -> String {
    match s.char_indices().nth(MAX_MESSAGE_CHARS) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

impl ApiError {
    pub fn internal(e: impl Into<anyhow::Error>) -> Self {
        ApiError::Rule(Error::internal(e))
    }

    /// The one place a rule's answer becomes a status code.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Rule(e) => match e {
                Error::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
                Error::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
                Error::Forbidden(_) => StatusCode::FORBIDDEN,
                Error::NotFound(_) => StatusCode::NOT_FOUND,
                Error::Conflict(_) => StatusCode::CONFLICT,
                Error::Locked(_) => StatusCode::LOCKED,
                Error::Stale(_) => StatusCode::PRECONDITION_FAILED,
                Error::TooMany { .. } => StatusCode::TOO_MANY_REQUESTS,
                Error::Store(StoreError::Unavailable(_) | StoreError::Locked(_)) => {
                    StatusCode::SERVICE_UNAVAILABLE
                }
                Error::Store(StoreError::DiskFull(_)) => StatusCode::INSUFFICIENT_STORAGE,
                Error::Store(_) | Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            },
        }
    }

    fn problem(&self) -> Problem {
        let status = self.status();
        if let ApiError::Rule(Error::Invalid(errs)) = self {
            let fields = errs
                .iter()
                .map(|e| ProblemField {
                    field: e.field.to_string(),
                    message: e.message.clone(),
                })
                .collect();
            return Problem::for_fields(status, fields);
        }
        let detail = match self {
            ApiError::Rule(Error::Store(StoreError::Unavailable(_) | StoreError::Locked(_))) => {
                "the store is temporarily unavailable; retry shortly".into()
            }
            ApiError::Rule(Error::Store(StoreError::DiskFull(_))) => {
                "the server's disk is full, so nothing was saved; retry later".into()
            }
            ApiError::Rule(Error::Store(_) | Error::Internal(_)) => {
                "an unexpected error occurred; it has been logged".into()
            }
            other => other.to_string(),
        };
        Problem::new(status, detail, Vec::new())
    }
}

impl Problem {
    pub fn new(status: StatusCode, detail: impl Into<String>, errors: Vec<ProblemField>) -> Self {
        Problem {
            kind: "about:blank".into(),
            title: status.canonical_reason().unwrap_or("Error").into(),
            status: status.as_u16(),
            detail: detail.into(),
            errors,
        }
    }

    /// A problem about fields: at most `MAX_PROBLEM_FIELDS` of them, each
    /// message clipped, and the detail names one field or only counts them,
    /// so however large the body was, the answer stays small.
    pub fn for_fields(status: StatusCode, mut fields: Vec<ProblemField>) -> Self {
        let detail = match fields.as_slice() {
            [one] => format!("{}: {}", clip(&one.field), clip(&one.message)),
            many => format!("{} fields are invalid; see errors", many.len()),
        };
        fields.truncate(MAX_PROBLEM_FIELDS);
        for f in &mut fields {
            f.field = clip(&f.field);
            f.message = clip(&f.message);
        }
        Problem::new(status, detail, fields)
    }

    pub fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).unwrap_or_default();
        Response::builder()
            .status(status)
            .header(header::CONTENT_TYPE, PROBLEM_JSON)
            .body(body)
    }
}

impl poem::error::ResponseError for ApiError {
    fn status(&self) -> StatusCode {
        ApiError::status(self)
    }

    fn as_response(&self) -> Response {
        if self.status().is_server_error() {
            tracing::error!(error = ?anyhow::Error::msg(format!("{self:#}")), cause = ?std::error::Error::source(self), "request failed");
        }
        let mut resp = self.problem().into_response();
        let retry_after = match self {
            ApiError::Rule(Error::TooMany { retry_after_secs }) => Some(*retry_after_secs.max(&1)),
            // Reopening the store takes moments; freeing disk space takes an operator.
            ApiError::Rule(Error::Store(StoreError::Unavailable(_) | StoreError::Locked(_))) => {
                Some(5)
            }
            ApiError::Rule(Error::Store(StoreError::DiskFull(_))) => Some(60),
            _ => None,
        };
        if let Some(secs) = retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

/// Every API operation may answer with these problems; listing them once
/// puts the error contract in the OpenAPI document.
impl ApiResponse for ApiError {
    fn meta() -> MetaResponses {
        const CASES: &[(u16, &str)] = &[
            (
                400,
                "Malformed request: wrong JSON types, missing or unknown fields",
            ),
            (401, "Not signed in, or the credentials are wrong"),
            (403, "Signed in but not allowed (or CSRF token missing)"),
            (404, "No such resource visible to the caller"),
            (409, "Conflicts with the current state"),
            (
                412,
                "`If-Match` names an older version than the stored one: reload, then change",
            ),
            (413, "Request body too large"),
            (
                415,
                "The body is not `application/json` (or has no Content-Type)",
            ),
            (422, "Validation failed; `errors` lists the fields"),
            (
                423,
                "Locked: too many wrong OTPs; an admin settles the order",
            ),
            (429, "Too many attempts; see Retry-After"),
            (500, "Unexpected error (logged)"),
            (503, "Temporarily unavailable; see Retry-After"),
            (
                507,
                "The server's disk is full; nothing was saved (see Retry-After)",
            ),
        ];
        MetaResponses {
            responses: CASES
                .iter()
                .map(|(status, description)| MetaResponse {
                    description,
                    status: Some(*status),
                    status_range: None,
                    content: vec![MetaMediaType {
                        content_type: PROBLEM_JSON,
                        schema: Problem::schema_ref(),
                    }],
                    headers: vec![],
                })
                .collect(),
        }
    }

    fn register(registry: &mut Registry) {
        Problem::register(registry);
    }
}

/// Turns any error that reached the top of the stack (an unknown route, a
/// body poem-openapi could not parse, a method not allowed) into a problem.
pub fn any_error_to_problem(err: poem::Error) -> Response {
    if err.is::<ApiError>() {
        return err.into_response();
    }
    let status = err.status();
    let message = err.to_string();
    let (detail, errors) = describe_parse_error(status, &message);
    if status.is_server_error() {
        tracing::error!(error = %message, "request failed");
    }
    let detail = if status.is_server_error() {
        "an unexpected error occurred; it has been logged".to_string()
    } else {
        detail
    };
    Problem::new(status, detail, errors).into_response()
}

/// poem-openapi reports a bad JSON body as text such as
/// `failed to parse "Register": failed to parse "string" (occurred while parsing "email")`;
/// pull the field name out so clients get the same `errors` list as for our
/// own validation.
fn describe_parse_error(status: StatusCode, message: &str) -> (String, Vec<ProblemField>) {
    if status != StatusCode::BAD_REQUEST {
        return (clip(message), Vec::new());
    }
    let mut errors = Vec::new();
    for marker in [
        "occurred while parsing \"",
        "missing field `",
        "unknown field `",
    ] {
        if let Some(start) = message.find(marker) {
            let rest = &message[start + marker.len()..];
            // "occurred while parsing" names a type (PascalCase) when the
            // failing value was nested; only a field name helps the client.
            if let Some(end) = rest.find(['"', '`'])
                && !rest[..end].starts_with(|c: char| c.is_ascii_uppercase())
            {
                errors.push(ProblemField {
                    field: clip(&rest[..end]),
                    message: clip(message),
                });
                break;
            }
        }
    }
    (clip(message), errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_bodies() {
        let e = ApiError::from(Error::Invalid(vec![FieldError::new(
            "email",
            "must not be blank",
        )]));
        let p = e.problem();
        assert_eq!(p.status, 422);
        assert_eq!(p.errors[0].field, "email");
        assert_eq!(
            ApiError::from(Error::Conflict("x".into())).status(),
            StatusCode::CONFLICT
        );
        let hidden = ApiError::internal(anyhow::anyhow!("secret path /etc/x"));
        assert!(!hidden.problem().detail.contains("/etc/x"));
        let s = ApiError::from(StoreError::Unavailable("disk".into()));
        assert_eq!(s.status(), StatusCode::SERVICE_UNAVAILABLE);
        let full = ApiError::from(StoreError::DiskFull("0 bytes free".into()));
        assert_eq!(full.status(), StatusCode::INSUFFICIENT_STORAGE);
        assert!(!full.problem().detail.contains("bytes free"));
        let resp = poem::error::ResponseError::as_response(&full);
        assert_eq!(resp.headers()[header::RETRY_AFTER], "60");
    }

    #[test]
    fn validation_problems_stay_small_whatever_the_input() {
        let long = "x".repeat(100_000);
        let errs: Vec<FieldError> = (0..5_000)
            .map(|_| FieldError::new("items", long.clone()))
            .collect();
        let p = ApiError::from(Error::Invalid(errs)).problem();
        assert_eq!(p.errors.len(), MAX_PROBLEM_FIELDS);
        assert_eq!(p.detail, "5000 fields are invalid; see errors");
        let body = serde_json::to_vec(&p).unwrap();
        assert!(body.len() < 10_000, "{} bytes", body.len());
        let one = ApiError::from(FieldError::new("name", long)).problem();
        assert!(one.detail.chars().count() < 320);
        let (detail, f) = describe_parse_error(
            StatusCode::BAD_REQUEST,
            &format!(
                "failed to parse \"string\" (occurred while parsing \"{}\")",
                "y".repeat(50_000)
            ),
        );
        assert!(detail.len() < 1_000 && f.iter().all(|f| f.field.len() < 1_000));
    }

    #[test]
    fn redb_errors_are_sorted_into_temporary_conditions() {
        let enospc = std::io::Error::from_raw_os_error(28);
        let e = StoreError::from(redb::StorageError::Io(enospc));
        assert!(matches!(e, StoreError::DiskFull(_)), "{e:?}");
        let e = StoreError::from(redb::StorageError::PreviousIo);
        assert!(matches!(e, StoreError::Unavailable(_)), "{e:?}");
        let e = StoreError::from(redb::StorageError::Corrupted("x".into()));
        assert!(matches!(e, StoreError::Redb(_)), "{e:?}");
    }

    #[test]
    fn parse_errors_name_the_field() {
        let (_, f) = describe_parse_error(
            StatusCode::BAD_REQUEST,
            r#"failed to parse "Register": failed to parse "string" (occurred while parsing "email")"#,
        );
        assert_eq!(f[0].field, "email");
        let (_, f) = describe_parse_error(
            StatusCode::BAD_REQUEST,
            r#"Expected input type "string", found null. (occurred while parsing "RegisterRequest")"#,
        );
        assert!(f.is_empty());
        let (_, f) = describe_parse_error(StatusCode::BAD_REQUEST, "no field here");
        assert!(f.is_empty());
    }
}
