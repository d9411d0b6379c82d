//! Cross-cutting HTTP concerns: request ids and spans, security headers,
//! body limits enforced on the body itself, and the client's real IP.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use ipnet::IpNet;
use poem::http::{HeaderValue, Method, header};
use poem::{Endpoint, IntoResponse, Request, Response};
use tracing::Instrument;

use super::error::{ApiError, Problem, ProblemField, any_error_to_problem};

/// The request's id, also sent back as `X-Request-Id`.
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

/// The client address after applying `server.trusted_proxies`.
#[derive(Clone, Copy, Debug)]
pub struct ClientIp(pub IpAddr);

#[derive(Clone)]
pub struct HttpPolicy {
    pub shapes: Arc<super::shape::Shapes>,
    pub trusted_proxies: Arc<Vec<IpNet>>,
    pub body_limit: usize,
    /// Routes that stream their body and cap it themselves (uploads), with
    /// their own, larger limit. Their `Content-Length` is checked here.
    pub streamed: Arc<Vec<(&'static str, usize)>>,
    pub tls: bool,
    pub metrics: Arc<crate::metrics::Metrics>,
}

fn route_of(pattern: Option<&poem::PathPattern>) -> Option<String> {
    pattern.map(|p| p.0.to_string())
}

/// The client IP: the peer, unless the peer is a trusted proxy, in which
/// case the right-most `X-Forwarded-For` hop that is not itself trusted.
pub fn client_ip(
    peer: Option<IpAddr>,
    forwarded_for: Option<&str>,
    trusted: &[IpNet],
) -> Option<IpAddr> {
    let peer = peer?;
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(&peer) {
        return Some(peer);
    }
    let Some(xff) = forwarded_for else {
        return Some(peer);
    };
    let mut last = peer;
    for hop in xff.rsplit(',') {
        match hop.trim().parse::<IpAddr>() {
            Ok(ip) if is_trusted(&ip) => last = ip,
            Ok(ip) => return Some(ip),
            Err(_) => return Some(last),
        }
    }
    Some(last)
}

pub(crate) fn peer_ip(req: &Request) -> Option<IpAddr> {
    match req.remote_addr().0 {
        poem::Addr::SocketAddr(SocketAddr::V4(a)) => Some(IpAddr::V4(*a.ip())),
        poem::Addr::SocketAddr(SocketAddr::V6(a)) => Some(a.ip().to_canonical()),
        _ => None,
    }
}

const CSP_APP: &str = "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; \
    script-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; \
    form-action 'self'; frame-ancestors 'none'";
/// The docs page (Swagger UI) ships its script and styles inline.
const CSP_DOCS: &str = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; \
    script-src 'self' 'unsafe-inline'; connect-src 'self'; object-src 'none'; base-uri 'none'; \
    frame-ancestors 'none'";

fn is_unsafe(m: &Method) -> bool {
    !matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Wraps the whole application.
pub async fn around<E: Endpoint>(
    ep: Arc<E>,
    mut req: Request,
    policy: HttpPolicy,
) -> poem::Result<Response> {
    let started = Instant::now();
    let request_id = ulid::Ulid::new().to_string();
    let ip = client_ip(
        peer_ip(&req),
        req.headers()
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok()),
        &policy.trusted_proxies,
    )
    .unwrap_or(IpAddr::from([127, 0, 0, 1]));
    req.extensions_mut().insert(RequestId(request_id.clone()));
    req.extensions_mut().insert(ClientIp(ip));
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let span = tracing::info_span!("http", %method, %path, %request_id, client = %ip);

    async move {
        // The matched route template, for metrics (poem sets it on the
        // response or error of every route its router matched).
        let mut route = None;
        let resp = match limit_body(&mut req, &policy).await {
            Err(e) => e.into_response(),
            Ok(body) => match ep.call(req).await {
                Ok(r) => {
                    let r = r.into_response();
                    route = route_of(r.data());
                    r
                }
                // A query parameter that does not parse or is out of range
                // is a validation failure naming it, like a field of a body.
                Err(e)
                    if let Some(field) = bad_query_param(&e, &policy, method.as_str(), &path) =>
                {
                    route = route_of(e.data());
                    Problem::for_fields(poem::http::StatusCode::UNPROCESSABLE_ENTITY, vec![field])
                        .into_response()
                }
                // A body that did not fit the schema: name its fields.
                Err(e) if e.status() == poem::http::StatusCode::BAD_REQUEST && body.is_some() => {
                    route = route_of(e.data());
                    let fields = policy.shapes.explain(
                        method.as_str(),
                        &path,
                        body.as_deref().unwrap_or_default(),
                    );
                    if fields.is_empty() {
                        any_error_to_problem(e)
                    } else {
                        Problem::for_fields(poem::http::StatusCode::BAD_REQUEST, fields)
                            .into_response()
                    }
                }
                Err(e) => {
                    route = route_of(e.data());
                    any_error_to_problem(e)
                }
            },
        };
        let mut resp = resp;
        security_headers(&mut resp, &path, policy.tls);
        if let Ok(v) = HeaderValue::from_str(&request_id) {
            resp.headers_mut().insert("x-request-id", v);
        }
        let status = resp.status().as_u16();
        policy
            .metrics
            .record(route.as_deref(), method.as_str(), status, started.elapsed());
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        if status >= 500 {
            tracing::warn!(status, ms, "request");
        } else {
            tracing::debug!(status, ms, "request");
        }
        Ok(resp)
    }
    .instrument(span)
    .await
}

/// The query parameter poem-openapi could not parse, as a problem field.
fn bad_query_param(
    e: &poem::Error,
    policy: &HttpPolicy,
    method: &str,
    path: &str,
) -> Option<ProblemField> {
    let p = e.downcast_ref::<poem_openapi::error::ParseParamError>()?;
    policy
        .shapes
        .is_query_param(method, path, p.name)
        .then(|| ProblemField {
            field: p.name.to_string(),
            message: p.reason.clone(),
        })
}

/// poem's `SizeLimit` trusts `Content-Length`, and a chunked body has none:
/// read unsafe requests' bodies here, up to the limit, and refuse more.
/// Upload routes (multipart) are not buffered here: they stream their body
/// under their own, larger limit (`HttpPolicy::streamed`).
async fn limit_body(
    req: &mut Request,
    policy: &HttpPolicy,
) -> Result<Option<bytes::Bytes>, poem::Error> {
    if !is_unsafe(req.method()) || !req.uri().path().starts_with("/api/") {
        return Ok(None);
    }
    let streamed = policy
        .streamed
        .iter()
        .find(|(path, _)| *path == req.uri().path())
        .map(|(_, limit)| *limit);
    let limit = streamed.unwrap_or(policy.body_limit);
    let too_large = || poem::Error::from(ApiError::PayloadTooLarge(limit));
    if let Some(len) = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        && len > limit as u64
    {
        return Err(too_large());
    }
    if streamed.is_some() {
        return Ok(None);
    }
    let body = req.take_body();
    match body.into_bytes_limit(limit).await {
        Ok(bytes) => {
            // Bytes is reference-counted: keeping a copy costs nothing.
            req.set_body(bytes.clone());
            Ok(Some(bytes))
        }
        Err(poem::error::ReadBodyError::PayloadTooLarge) => Err(too_large()),
        Err(e) => Err(poem::Error::from(ApiError::BadRequest(format!(
            "cannot read the request body: {e}"
        )))),
    }
}

fn security_headers(resp: &mut Response, path: &str, tls: bool) {
    let h = resp.headers_mut();
    let csp = if path == "/docs" || path.starts_with("/docs/") {
        CSP_DOCS
    } else {
        CSP_APP
    };
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(csp),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        "permissions-policy",
        HeaderValue::from_static("camera=(), microphone=(), geolocation=()"),
    );
    if tls {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
    if path.starts_with("/api/") && !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(v: &[&str]) -> Vec<IpNet> {
        v.iter().map(|s| s.parse().unwrap()).collect()
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let peer: IpAddr = "10.0.0.5".parse().unwrap();
        let xff = Some("1.2.3.4, 10.0.0.9");
        assert_eq!(client_ip(Some(peer), xff, &[]), Some(peer));
        assert_eq!(
            client_ip(Some(peer), xff, &nets(&["10.0.0.0/8"])),
            Some("1.2.3.4".parse().unwrap())
        );
        // A client cannot spoof past an untrusted hop.
        assert_eq!(
            client_ip(Some(peer), Some("6.6.6.6, 5.5.5.5"), &nets(&["10.0.0.0/8"])),
            Some("5.5.5.5".parse().unwrap())
        );
        assert_eq!(
            client_ip(Some(peer), Some("garbage"), &nets(&["10.0.0.0/8"])),
            Some(peer)
        );
    }
}
