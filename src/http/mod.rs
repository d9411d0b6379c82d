//! The HTTP layer: routes, the OpenAPI document and its docs page, and the
//! middleware stack. Handlers translate; rules live in `domain` and `auth`.

pub mod admin_api;
pub mod auth_api;
pub mod batch_api;
pub mod cache;
pub mod catalog_api;
pub mod chat_api;
pub mod documents_api;
pub mod earnings_api;
pub mod error;
pub mod events_api;
pub mod extract;
pub mod files_api;
pub mod mail_api;
pub mod market_api;
pub mod middleware;
pub mod notifications_api;
pub mod ops_api;
pub mod page;
pub mod search_api;
pub mod shape;
mod system;
pub mod types;
pub mod ui;

use std::sync::Arc;

use poem::{Endpoint, EndpointExt, Request, Route};
use poem_openapi::{LicenseObject, OpenApiService, ServerObject, Tags};

use crate::app::AppState;
use crate::audit::Origin;
use middleware::{ClientIp, HttpPolicy};

#[derive(Tags)]
pub enum ApiTags {
    /// Accounts, sessions and personal API tokens
    Auth,
    /// Shops, their verification, staff, products, slots and announcements
    Shops,
    /// Addresses, favourites, carts, checkout, orders, reviews, stock watches
    Orders,
    /// Campus administration: users, settings, audit log, buildings, categories
    Admin,
    /// Notifications, broadcasts and the live event stream
    Notifications,
    /// Full-text search over products, shops, orders and users
    Search,
    /// Image uploads for shops and products
    Files,
}

#[derive(rust_embed::RustEmbed)]
#[folder = "assets/public"]
pub(crate) struct PublicAssets;

/// Who is acting and from where, for the audit log.
pub fn origin(req: &Request, actor_id: Option<&str>) -> Origin {
    Origin {
        actor_id: actor_id.map(str::to_string),
        ip: req.extensions().get::<ClientIp>().map(|c| c.0.to_string()),
        user_agent: req
            .headers()
            .get(poem::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(200).collect()),
    }
}

type Apis = (
    auth_api::AuthApi,
    catalog_api::CatalogApi,
    market_api::MarketApi,
    batch_api::BatchApi,
    documents_api::DocumentsApi,
    earnings_api::EarningsApi,
    admin_api::AdminApi,
    notifications_api::NotificationsApi,
    notifications_api::BroadcastsApi,
    chat_api::ChatApi,
    events_api::EventsApi,
    ops_api::OpsApi,
    mail_api::MailApi,
    search_api::SearchApi,
    search_api::SearchAdminApi,
    files_api::FilesApi,
);

pub fn api_service(state: Arc<AppState>) -> OpenApiService<Apis, ()> {
    OpenApiService::new(
        (
            auth_api::AuthApi {
                state: state.clone(),
            },
            catalog_api::CatalogApi {
                state: state.clone(),
                pages: Default::default(),
            },
            market_api::MarketApi {
                state: state.clone(),
            },
            batch_api::BatchApi::new(state.clone()),
            documents_api::DocumentsApi {
                state: state.clone(),
            },
            earnings_api::EarningsApi {
                state: state.clone(),
            },
            admin_api::AdminApi {
                state: state.clone(),
            },
            notifications_api::NotificationsApi {
                state: state.clone(),
            },
            notifications_api::BroadcastsApi {
                state: state.clone(),
            },
            chat_api::ChatApi {
                state: state.clone(),
            },
            events_api::EventsApi,
            ops_api::OpsApi {
                state: state.clone(),
            },
            mail_api::MailApi {
                state: state.clone(),
            },
            search_api::SearchApi {
                state: state.clone(),
            },
            search_api::SearchAdminApi {
                state: state.clone(),
            },
            files_api::FilesApi { state },
        ),
        "Uphill API",
        env!("CARGO_PKG_VERSION"),
    )
    // The paths are absolute (`/api/v1/…`), on the origin that serves the
    // document.
    .server(ServerObject::new("/").description("This server"))
    .license(LicenseObject::new(env!("CARGO_PKG_LICENSE")).url(concat!(
        "https://spdx.org/licenses/",
        env!("CARGO_PKG_LICENSE"),
        ".html"
    )))
    .description(
        "Campus marketplace with scheduled batch delivery. Errors are RFC 9457 \
         `application/problem+json`. Authenticate with a personal API token \
         (`Authorization: Bearer`) or the session cookie plus `X-CSRF-Token`.",
    )
}

/// The OpenAPI document as JSON (also served at `/api/openapi.json`).
pub fn openapi_json(state: Arc<AppState>) -> String {
    finish_document(&api_service(state).spec())
}

/// The served document: poem-openapi's, with what it cannot say itself
/// added (`nullable_optionals`, `public_operations`).
fn finish_document(spec: &str) -> String {
    public_operations(&nullable_optionals(spec))
}

/// poem-openapi writes `security` only for an operation with a security
/// extractor (`Auth`, `MaybeAuth`); one without takes no credentials at
/// all (sign-up, sign-in, the public reference lists). Such an operation
/// gets `security: []`, so the document says it is public rather than
/// leaving it unsaid. `tests/api/authz.rs` checks every operation's
/// security against what anonymous callers get.
pub fn public_operations(spec: &str) -> String {
    let Ok(mut doc) = serde_json::from_str::<serde_json::Value>(spec) else {
        return spec.to_string();
    };
    if let Some(paths) = doc.get_mut("paths").and_then(|p| p.as_object_mut()) {
        for item in paths.values_mut() {
            for (method, op) in item.as_object_mut().into_iter().flatten() {
                let is_operation = matches!(
                    method.as_str(),
                    "get" | "put" | "post" | "delete" | "options" | "head" | "patch" | "trace"
                );
                if let Some(op) = op.as_object_mut().filter(|_| is_operation) {
                    op.entry("security")
                        .or_insert_with(|| serde_json::json!([]));
                }
            }
        }
    }
    serde_json::to_string(&doc).unwrap_or_else(|_| spec.to_string())
}

/// poem-openapi sends a `None` field as `null` but documents it only as not
/// required, which a validator reads as "absent or of the type". This marks
/// every property that is not required as `nullable` (OpenAPI 3.0), wrapping
/// a `$ref` in `allOf` since siblings of `$ref` are ignored, so the document
/// says what the server sends — and accepts: poem-openapi reads `null` for
/// an `Option` as absent. OpenAPI 3.0 wants a `type` beside `nullable`, so
/// a wrapped `$ref` also gets its target's type (`object`, or `string` for
/// an enum).
pub fn nullable_optionals(spec: &str) -> String {
    fn walk(
        v: &mut serde_json::Value,
        types: &std::collections::HashMap<String, serde_json::Value>,
    ) {
        match v {
            serde_json::Value::Object(map) => {
                let required: Vec<String> = map
                    .get("required")
                    .and_then(|r| r.as_array())
                    .map(|r| {
                        r.iter()
                            .filter_map(|x| x.as_str().map(String::from))
                            .collect()
                    })
                    .unwrap_or_default();
                if let Some(serde_json::Value::Object(props)) = map.get_mut("properties") {
                    for (name, prop) in props.iter_mut() {
                        if required.contains(name) {
                            continue;
                        }
                        if let Some(obj) = prop.as_object_mut() {
                            if let Some(r) = obj.remove("$ref") {
                                obj.insert("allOf".into(), serde_json::json!([{ "$ref": r }]));
                            }
                            obj.insert("nullable".into(), serde_json::Value::Bool(true));
                            if !obj.contains_key("type") {
                                let target = obj
                                    .get("allOf")
                                    .and_then(|a| a.as_array())
                                    .into_iter()
                                    .flatten()
                                    .find_map(|s| s.get("$ref").and_then(|r| r.as_str()))
                                    .and_then(|r| types.get(r));
                                if let Some(ty) = target {
                                    obj.insert("type".into(), ty.clone());
                                }
                            }
                        }
                    }
                }
                for child in map.values_mut() {
                    walk(child, types);
                }
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(|v| walk(v, types)),
            _ => {}
        }
    }
    match serde_json::from_str::<serde_json::Value>(spec) {
        Ok(mut doc) => {
            // `#/components/schemas/Name` → that schema's `type`.
            let types = doc["components"]["schemas"]
                .as_object()
                .into_iter()
                .flatten()
                .filter_map(|(name, s)| {
                    let ty = s.get("type")?.clone();
                    Some((format!("#/components/schemas/{name}"), ty))
                })
                .collect();
            walk(&mut doc, &types);
            serde_json::to_string(&doc).unwrap_or_else(|_| spec.to_string())
        }
        Err(_) => spec.to_string(),
    }
}

/// The Swagger UI page. poem-openapi's `swagger_ui()` builds its 3.2 MB of
/// HTML (the whole Swagger bundle plus the document) at start and keeps it:
/// a tenth of an idle server's memory for a page few visit. It is built on
/// the first visit instead, from a service kept only for that, and then
/// served without copying.
fn docs_page(api: OpenApiService<Apis, ()>) -> impl Endpoint {
    let html = std::sync::OnceLock::<bytes::Bytes>::new();
    poem::Route::new().at(
        "/",
        poem::get(poem::endpoint::make_sync(move |_| {
            poem::Response::builder()
                .content_type("text/html; charset=utf-8")
                .body(html.get_or_init(|| docs_html(&api)).clone())
        })),
    )
}

/// Swagger UI with one addition: try-it sends the web app's CSRF token
/// (kept in this origin's localStorage at sign-in) with every request, so
/// an admin signed in on the web app can try unsafe calls with the session
/// cookie; without a session it sends nothing and a pasted token is used.
fn docs_html(api: &OpenApiService<Apis, ()>) -> bytes::Bytes {
    const HOOK: &str = "deepLinking: true,";
    const CSRF: &str = "deepLinking: true,\n        requestInterceptor: (r) => { \
         const t = localStorage.getItem('uphill.csrf'); \
         if (t) r.headers['X-CSRF-Token'] = t; return r; },";
    let html = api.swagger_ui_html();
    debug_assert!(
        html.contains(HOOK),
        "poem-openapi's Swagger UI template changed"
    );
    html.replacen(HOOK, CSRF, 1).into()
}

pub fn routes(state: Arc<AppState>) -> impl Endpoint {
    let api = api_service(state.clone());
    let spec = api.spec();
    state
        .metrics
        .set_route_templates(crate::metrics::route_templates(&spec));
    let document = Arc::new(finish_document(&spec));
    let policy = HttpPolicy {
        shapes: Arc::new(shape::Shapes::new(&spec)),
        trusted_proxies: Arc::new(state.config.trusted_proxies().unwrap_or_default()),
        body_limit: state.config.server.body_limit_bytes,
        streamed: Arc::new(vec![(files_api::UPLOAD_PATH, state.files.request_limit())]),
        tls: state.config.tls_enabled(),
        metrics: state.metrics.clone(),
    };
    Route::new()
        .at("/healthz", poem::get(system::healthz))
        .at("/readyz", poem::get(system::readyz))
        .at("/metrics", poem::get(ops_api::metrics_text))
        .at(
            "/api/openapi.json",
            poem::get(poem::endpoint::make_sync(move |_| {
                poem::Response::builder()
                    .content_type("application/json")
                    .body(document.as_str().to_owned())
            })),
        )
        .nest("/docs", docs_page(api_service(state.clone())))
        .at("/setup", poem::get(system::setup_page))
        .at("/files/:id/:variant", poem::get(files_api::serve_file))
        .nest("/assets", ui::assets())
        .nest("/", api)
        .around(ui::around)
        .data(state)
        .around(move |ep, req| {
            let policy = policy.clone();
            middleware::around(ep, req, policy)
        })
}
