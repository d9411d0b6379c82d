//! The HTTP layer: routes, the OpenAPI document and its docs page, and the
//! middleware stack. Handlers translate; rules live in `domain` and `auth`.

pub mod admin_api;
pub mod auth_api;
pub mod batch_api;
pub mod catalog_api;
pub mod documents_api;
pub mod error;
pub mod events_api;
pub mod extract;
pub mod files_api;
pub mod market_api;
pub mod middleware;
pub mod notifications_api;
pub mod shape;
mod system;
pub mod types;

use std::sync::Arc;

use poem::endpoint::EmbeddedFilesEndpoint;
use poem::{Endpoint, EndpointExt, Request, Route};
use poem_openapi::{OpenApiService, Tags};

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
    admin_api::AdminApi,
    notifications_api::NotificationsApi,
    notifications_api::BroadcastsApi,
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
            },
            market_api::MarketApi {
                state: state.clone(),
            },
            batch_api::BatchApi {
                state: state.clone(),
            },
            documents_api::DocumentsApi {
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
            files_api::FilesApi { state },
        ),
        "Uphill API",
        env!("CARGO_PKG_VERSION"),
    )
    .description(
        "Campus marketplace with scheduled batch delivery. Errors are RFC 9457 \
         `application/problem+json`. Authenticate with a personal API token \
         (`Authorization: Bearer`) or the session cookie plus `X-CSRF-Token`.",
    )
}

/// The OpenAPI document as JSON (also served at `/api/openapi.json`).
pub fn openapi_json(state: Arc<AppState>) -> String {
    api_service(state).spec()
}

pub fn routes(state: Arc<AppState>) -> impl Endpoint {
    let api = api_service(state.clone());
    let policy = HttpPolicy {
        shapes: Arc::new(shape::Shapes::new(&api.spec())),
        trusted_proxies: Arc::new(state.config.trusted_proxies().unwrap_or_default()),
        body_limit: state.config.server.body_limit_bytes,
        streamed: Arc::new(vec![(files_api::UPLOAD_PATH, state.files.request_limit())]),
        tls: state.config.tls_enabled(),
    };
    Route::new()
        .at("/healthz", poem::get(system::healthz))
        .at("/readyz", poem::get(system::readyz))
        .at("/api/openapi.json", api.spec_endpoint())
        .nest("/docs", api.swagger_ui())
        .at("/setup", poem::get(system::setup_page))
        .at("/api/v1/events", poem::get(events_api::event_stream))
        .at("/files/:id/:variant", poem::get(files_api::serve_file))
        .nest("/assets", EmbeddedFilesEndpoint::<PublicAssets>::new())
        .nest("/", api)
        .data(state)
        .around(move |ep, req| {
            let policy = policy.clone();
            middleware::around(ep, req, policy)
        })
}
