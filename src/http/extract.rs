//! The `Auth` extractor: a session cookie or a bearer token, documented in
//! the OpenAPI document as two alternative security schemes.
//!
//! Implemented by hand rather than derived so that one extractor accepts
//! either credential, tells "not signed in" (401) from "not allowed" (403),
//! and enforces CSRF for cookie-authenticated unsafe requests. poem's `Csrf`
//! middleware is not used: its double-submit cookie fits HTML forms, while a
//! token bound to the server-side session fits an API client, and nothing
//! here needs a server-wide key.

use std::sync::Arc;

use poem::http::Method;
use poem::{Request, RequestBody};
use poem_openapi::registry::{MetaParamIn, MetaSchemaRef, MetaSecurityScheme, Registry};
use poem_openapi::{ApiExtractor, ApiExtractorType, ExtractParamOptions};

use super::error::ApiError;
use crate::app::AppState;
use crate::auth::service::Via;
use crate::auth::token::constant_time_eq;
use crate::auth::{Credential, Principal};
use crate::error::Error;

pub const SESSION_COOKIE: &str = "uphill_session";
pub const CSRF_HEADER: &str = "x-csrf-token";

pub struct Auth(pub Principal);

impl Auth {
    pub fn user_id(&self) -> &str {
        &self.0.user.id
    }

    pub fn is_admin(&self) -> bool {
        self.0.user.is_admin
    }

    /// 403 unless the caller is an admin.
    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(ApiError::Rule(Error::Forbidden("admins only".into())))
        }
    }
}

/// Reads one cookie from the `Cookie` header(s).
pub fn cookie_value<'r>(req: &'r Request, name: &str) -> Option<&'r str> {
    req.headers()
        .get_all(poem::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim_matches('"'))
}

fn credential(req: &Request) -> Result<Option<Credential>, ApiError> {
    if let Some(h) = req.headers().get(poem::http::header::AUTHORIZATION) {
        let value = h.to_str().map_err(|_| {
            ApiError::Rule(Error::Unauthenticated(
                "malformed Authorization header".into(),
            ))
        })?;
        let Some((scheme, token)) = value.split_once(' ') else {
            return Err(ApiError::Rule(Error::Unauthenticated(
                "expected `Authorization: Bearer <token>`".into(),
            )));
        };
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(ApiError::Rule(Error::Unauthenticated(
                "expected `Authorization: Bearer <token>`".into(),
            )));
        }
        return Ok(Some(Credential::Bearer(token.trim().to_string())));
    }
    Ok(cookie_value(req, SESSION_COOKIE).map(|v| Credential::Session(v.to_string())))
}

pub async fn authenticate(req: &Request) -> Result<Principal, ApiError> {
    let state = req
        .data::<Arc<AppState>>()
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("app state missing")))?;
    let Some(cred) = credential(req)? else {
        return Err(ApiError::Rule(Error::Unauthenticated(
            "sign in first".into(),
        )));
    };
    let from_cookie = matches!(cred, Credential::Session(_));
    let principal = state.auth.authenticate(cred).await?;
    if from_cookie && !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        let Via::Session { csrf_token, .. } = &principal.via else {
            return Err(ApiError::Rule(Error::Unauthenticated(
                "sign in first".into(),
            )));
        };
        let sent = req
            .headers()
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !constant_time_eq(sent, csrf_token) {
            return Err(ApiError::Rule(Error::Forbidden(
                "missing or wrong X-CSRF-Token header (cookie sign-in requires it on changes)"
                    .into(),
            )));
        }
    }
    Ok(principal)
}

impl<'a> ApiExtractor<'a> for Auth {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::SecurityScheme];
    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        registry.create_security_scheme(
            "bearer",
            MetaSecurityScheme {
                ty: "http",
                description: Some(
                    "A personal API token from `POST /api/v1/me/tokens` (shown once). \
                     Paste it under Authorize to try calls from this page.",
                ),
                name: None,
                key_in: None,
                scheme: Some("bearer"),
                bearer_format: Some("uph_…"),
                flows: None,
                openid_connect_url: None,
            },
        );
        registry.create_security_scheme(
            "session",
            MetaSecurityScheme {
                ty: "apiKey",
                description: Some(
                    "The session cookie set by login. Unsafe requests must also send the \
                     session's `X-CSRF-Token` header.",
                ),
                name: Some(SESSION_COOKIE),
                key_in: Some("cookie"),
                scheme: None,
                bearer_format: None,
                flows: None,
                openid_connect_url: None,
            },
        );
    }

    fn security_schemes() -> Vec<&'static str> {
        vec!["bearer", "session"]
    }

    async fn from_request(
        req: &'a Request,
        _body: &mut RequestBody,
        _opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        Ok(Auth(authenticate(req).await?))
    }
}

/// The `Idempotency-Key` header of an operation that places something
/// once. Documented as a required header like poem-openapi's `Header`,
/// but a missing or malformed one is a 422 naming the header (as any other
/// invalid field), not a bare 400.
pub struct IdempotencyKey(pub String);

pub const IDEMPOTENCY_KEY: &str = "Idempotency-Key";

impl<'a> ApiExtractor<'a> for IdempotencyKey {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::Parameter];
    const PARAM_IS_REQUIRED: bool = true;
    type ParamType = String;
    type ParamRawType = String;

    fn register(registry: &mut Registry) {
        <String as poem_openapi::types::Type>::register(registry);
    }

    fn param_in() -> Option<MetaParamIn> {
        Some(MetaParamIn::Header)
    }

    fn param_schema_ref() -> Option<MetaSchemaRef> {
        Some(<String as poem_openapi::types::Type>::schema_ref())
    }

    fn param_raw_type(&self) -> Option<&Self::ParamRawType> {
        Some(&self.0)
    }

    async fn from_request(
        req: &'a Request,
        _body: &mut RequestBody,
        _opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        let invalid = |message: &str| {
            ApiError::Rule(Error::Invalid(vec![crate::domain::FieldError::new(
                IDEMPOTENCY_KEY,
                message,
            )]))
        };
        let Some(value) = req.headers().get(IDEMPOTENCY_KEY) else {
            return Err(invalid(
                "is required: send a fresh key (a UUID) per order, and the same one when retrying",
            )
            .into());
        };
        let key = value
            .to_str()
            .map_err(|_| invalid("must be 1 to 100 visible ASCII characters (a UUID is ideal)"))?;
        crate::domain::order::check_idempotency_key(key).map_err(ApiError::from)?;
        Ok(IdempotencyKey(key.to_string()))
    }
}
