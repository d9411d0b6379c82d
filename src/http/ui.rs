//! The web UI: the Vite build in `ui/dist`, embedded with rust-embed.
//!
//! `scripts/build-ui` writes every asset three times (plain, `.gz`, `.br`),
//! so the server never compresses at request time: it picks the variant the
//! client accepts. Hashed files under `/assets/` never change, so they are
//! cached for a year; `index.html` and `sw.js` name them and are revalidated
//! on every load. A client route (`/orders/UP-…`) is any other GET that
//! wants HTML: it gets `index.html` and the app routes it.

use std::sync::Arc;

use poem::endpoint::EmbeddedFilesEndpoint;
use poem::http::{HeaderMap, Method, StatusCode, header};
use poem::{Endpoint, IntoResponse, Request, Response};

use super::PublicAssets;

#[derive(rust_embed::RustEmbed)]
#[folder = "ui/dist"]
// `cargo build` must work before the UI was ever built; `/` then says so.
#[allow_missing = true]
pub(crate) struct UiAssets;

const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const REVALIDATE: &str = "no-cache";

/// Paths the app never owns: a miss there is the server's 404, not the SPA.
const NOT_SPA: &[&str] = &[
    "/api/", "/docs", "/files/", "/metrics", "/healthz", "/readyz", "/assets/", "/setup",
];

const NOT_BUILT: &str = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>Uphill: web UI not built</title></head><body>\
<h1>The web UI was not built into this binary</h1>\
<p>The API and its docs work: <a href=\"/docs\">/docs</a>.</p>\
<p>To build the UI, run <code>scripts/build-ui</code> (needs Node.js and npm), then \
rebuild the server (<code>cargo build</code> or <code>scripts/build</code>).</p>\
</body></html>";

/// Whether a UI build is embedded (or, in debug builds, on disk).
pub fn is_built() -> bool {
    UiAssets::get("index.html").is_some()
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Coding {
    Brotli,
    Gzip,
    Identity,
}

/// The codings the client accepts, in our order of preference (smaller
/// first). `q=0` refuses a coding; `*` accepts the ones not named.
fn accepted(headers: &HeaderMap) -> Vec<Coding> {
    let mut br = None;
    let mut gzip = None;
    let mut star = None;
    for value in headers.get_all(header::ACCEPT_ENCODING) {
        let Ok(value) = value.to_str() else { continue };
        for item in value.split(',') {
            let mut parts = item.split(';');
            let name = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let ok = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .map(|q| q.trim().parse::<f32>().map(|q| q > 0.0).unwrap_or(false))
                .next()
                .unwrap_or(true);
            match name.as_str() {
                "br" => br = Some(ok),
                "gzip" | "x-gzip" => gzip = Some(ok),
                "*" => star = Some(ok),
                _ => {}
            }
        }
    }
    let star = star.unwrap_or(false);
    let mut out = Vec::new();
    if br.unwrap_or(star) {
        out.push(Coding::Brotli);
    }
    if gzip.unwrap_or(star) {
        out.push(Coding::Gzip);
    }
    out.push(Coding::Identity);
    out
}

fn content_type(path: &str) -> String {
    let mime = mime_guess::from_path(path).first_or_octet_stream();
    let textual = mime.type_() == mime_guess::mime::TEXT
        || matches!(
            mime.subtype().as_str(),
            "javascript" | "json" | "manifest+json"
        );
    if textual && mime.get_param("charset").is_none() {
        format!("{mime}; charset=utf-8")
    } else {
        mime.to_string()
    }
}

/// Serves one file of the UI build, or `None` when it has no such file.
fn serve(path: &str, headers: &HeaderMap, cache: &'static str) -> Option<Response> {
    let plain = UiAssets::get(path)?;
    let etag = format!("\"{}\"", hex::encode(&plain.metadata.sha256_hash()[..16]));
    let mut builder = Response::builder()
        .header(header::CONTENT_TYPE, content_type(path))
        .header(header::CACHE_CONTROL, cache)
        .header(header::VARY, "Accept-Encoding")
        .header(header::ETAG, etag.as_str());
    let matches_etag = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    if matches_etag {
        return Some(builder.status(StatusCode::NOT_MODIFIED).finish());
    }
    for coding in accepted(headers) {
        let (suffix, name) = match coding {
            Coding::Brotli => (".br", "br"),
            Coding::Gzip => (".gz", "gzip"),
            Coding::Identity => break,
        };
        if let Some(file) = UiAssets::get(&format!("{path}{suffix}")) {
            builder = builder.header(header::CONTENT_ENCODING, name);
            return Some(builder.body(file.data.into_owned()));
        }
    }
    Some(builder.body(plain.data.into_owned()))
}

fn index(headers: &HeaderMap) -> Response {
    serve("index.html", headers, REVALIDATE).unwrap_or_else(|| {
        Response::builder()
            .content_type("text/html; charset=utf-8")
            .header(header::CACHE_CONTROL, "no-store")
            .body(NOT_BUILT)
    })
}

fn wants_html(req: &Request) -> bool {
    req.headers()
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("text/html"))
}

/// `/assets/*`: the UI's hashed files, then the server's own public files
/// (the setup page's script and style).
pub fn assets() -> impl Endpoint {
    let public = Arc::new(EmbeddedFilesEndpoint::<PublicAssets>::new());
    poem::endpoint::make(move |req: Request| {
        let public = public.clone();
        async move {
            let rel = req.uri().path().trim_start_matches('/').to_string();
            if let Some(resp) = serve(&format!("assets/{rel}"), req.headers(), IMMUTABLE) {
                return Ok(resp);
            }
            public.call(req).await.map(IntoResponse::into_response)
        }
    })
}

/// Wraps the router: root files of the UI build (`/`, `/sw.js`, the
/// manifest, icons), then the routes, then the SPA fallback on a miss.
pub async fn around<E: Endpoint>(ep: Arc<E>, req: Request) -> poem::Result<Response> {
    let path = req.uri().path().to_string();
    let get = matches!(*req.method(), Method::GET | Method::HEAD);
    if get && (path == "/" || path == "/index.html") {
        return Ok(index(req.headers()));
    }
    let owned_elsewhere = NOT_SPA.iter().any(|p| path.starts_with(p));
    if get && !owned_elsewhere && !path[1..].contains('/') {
        // Root files of the build (sw.js, manifest, icons); never the
        // precompressed copies by their own names.
        let name = &path[1..];
        if !name.ends_with(".br")
            && !name.ends_with(".gz")
            && let Some(resp) = serve(name, req.headers(), REVALIDATE)
        {
            return Ok(resp);
        }
    }
    // The router consumes the request: keep what choosing a variant needs.
    let spa = (get && !owned_elsewhere && wants_html(&req)).then(|| req.headers().clone());
    match (ep.call(req).await, spa) {
        (Ok(resp), Some(headers)) => {
            let resp = resp.into_response();
            if resp.status() == StatusCode::NOT_FOUND {
                return Ok(index(&headers));
            }
            Ok(resp)
        }
        (Err(e), Some(headers)) if e.status() == StatusCode::NOT_FOUND => Ok(index(&headers)),
        (r, _) => r.map(IntoResponse::into_response),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(v: &str) -> HeaderMap {
        let mut m = HeaderMap::new();
        m.insert(header::ACCEPT_ENCODING, v.parse().unwrap());
        m
    }

    #[test]
    fn accept_encoding_prefers_brotli_and_honours_refusals() {
        use Coding::*;
        assert_eq!(
            accepted(&h("gzip, deflate, br")),
            vec![Brotli, Gzip, Identity]
        );
        assert_eq!(accepted(&h("gzip")), vec![Gzip, Identity]);
        assert_eq!(accepted(&h("br;q=0, gzip;q=0.5")), vec![Gzip, Identity]);
        assert_eq!(accepted(&h("*")), vec![Brotli, Gzip, Identity]);
        assert_eq!(accepted(&h("*, br;q=0")), vec![Gzip, Identity]);
        assert_eq!(accepted(&h("identity")), vec![Identity]);
        assert_eq!(accepted(&HeaderMap::new()), vec![Identity]);
    }

    #[test]
    fn text_types_carry_a_charset() {
        assert_eq!(content_type("a.js"), "text/javascript; charset=utf-8");
        assert_eq!(content_type("index.html"), "text/html; charset=utf-8");
        assert_eq!(content_type("x.png"), "image/png");
    }
}
