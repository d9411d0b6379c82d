//! `GET /api/v1/search`: one endpoint for products, shops, orders and users.
//!
//! Who may search what: everyone (signed in or not) searches the public
//! catalog (products and shops of verified, active shops); the owner and
//! runners of shops search those shops' orders; admins search every order
//! and every user. The index only proposes ids: each hit is loaded from the
//! store and its visibility checked again there, so a document a moment
//! stale never shows what the caller may not see.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use poem_openapi::param::Query;
use poem_openapi::payload::Json;
use poem_openapi::{Enum, Object, OpenApi};

use poem::Request;

use super::auth_api::UserStatusView;
use super::catalog_api::{MaybeAuth, ShopTypeView};
use super::error::ApiError;
use super::extract::Auth;
use super::files_api::ImageView;
use super::market_api::OrderStatusView;
use super::{ApiTags, origin};
use crate::app::AppState;
use crate::domain::FieldError;
use crate::domain::user::UserStatus;
use crate::error::Error;
use crate::search::hits::{self, Hit};
use crate::search::query::{self, QueryError};
use crate::search::{Filters, Kind, SearchError};
use crate::store::StoreError;

pub struct SearchApi {
    pub state: Arc<AppState>,
}

#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[oai(rename_all = "lowercase")]
pub enum SearchKind {
    Products,
    Shops,
    Orders,
    Users,
}

/// A product hit: enough for a result list.
#[derive(Object, Debug)]
pub struct ProductHit {
    pub id: String,
    pub name: String,
    pub shop_id: String,
    pub shop_name: String,
    pub category_id: Option<String>,
    pub category_name: Option<String>,
    /// Minor units.
    pub price: i64,
    /// What a buyer pays per unit (price − discount), minor units.
    pub unit_price: i64,
    pub veg: bool,
    pub in_stock: bool,
    pub image: Option<ImageView>,
}

#[derive(Object, Debug)]
pub struct ShopHit {
    pub id: String,
    pub name: String,
    pub description: String,
    pub location: String,
    pub shop_type: ShopTypeView,
    pub accepting_orders: bool,
    pub image: Option<ImageView>,
}

#[derive(Object, Debug)]
pub struct OrderHit {
    pub id: String,
    pub display_id: String,
    pub shop_id: String,
    pub shop_name: String,
    pub student_name: String,
    pub status: OrderStatusView,
    /// Minor units.
    pub total: i64,
    pub created_at: DateTime<Utc>,
}

#[derive(Object, Debug)]
pub struct UserHit {
    pub id: String,
    pub name: String,
    pub email: String,
    pub status: UserStatusView,
    pub admin: bool,
}

/// One page of results, best first. Only the list of the requested `kind`
/// is filled; the others are empty.
#[derive(Object, Debug, Default)]
pub struct SearchResults {
    pub products: Vec<ProductHit>,
    pub shops: Vec<ShopHit>,
    pub orders: Vec<OrderHit>,
    pub users: Vec<UserHit>,
    /// Pass as `offset` for the next page; absent on the last page.
    pub next_offset: Option<u32>,
}

/// The largest `offset`: deep pages of a relevance ranking help nobody and
/// cost a sort over offset + limit hits.
pub const MAX_OFFSET: u32 = 1000;

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Search")]
impl SearchApi {
    /// Search as you type. `q` is plain text (1–200 characters; quotes,
    /// colons, brackets and `*` are ordinary separators, never query
    /// syntax); each word must match, typos are forgiven (one edit for
    /// words of 3–6 letters, two beyond) and the last word matches as a
    /// prefix while it is being typed (no space after it). `kind`:
    /// `products` (default) and `shops` search the public catalog for
    /// anyone; `orders` is for shop owners and runners (their shops' orders,
    /// by display id or student name) and admins (all); `users` is for
    /// admins (by name or email). Filters that do not apply to a kind are
    /// ignored. A write is searchable within about a second.
    #[oai(path = "/search", method = "get", operation_id = "search")]
    #[allow(clippy::too_many_arguments)]
    async fn search(
        &self,
        auth: MaybeAuth,
        /// What to look for, 1–200 characters.
        #[oai(validator(min_length = 1, max_length = 200))]
        q: Query<String>,
        kind: Query<Option<SearchKind>>,
        /// Products and orders of this shop only.
        #[oai(validator(max_length = 26))]
        shop_id: Query<Option<String>>,
        /// Products of this category only.
        #[oai(validator(max_length = 26))]
        category_id: Query<Option<String>>,
        /// Products: only vegetarian (`true`) or only not (`false`).
        veg: Query<Option<bool>>,
        /// Products: only in stock (`true`) or only sold out (`false`).
        in_stock: Query<Option<bool>>,
        /// Orders: only this status.
        order_status: Query<Option<OrderStatusView>>,
        /// Users: only this status.
        user_status: Query<Option<UserStatusView>>,
        /// Results per page, 1–50 (default 20).
        #[oai(validator(minimum(value = "1"), maximum(value = "50")))]
        limit: Query<Option<u32>>,
        /// Results to skip, 0–1000 (default 0).
        #[oai(validator(minimum(value = "0"), maximum(value = "1000")))]
        offset: Query<Option<u32>>,
    ) -> Result<Json<SearchResults>, ApiError> {
        let normalized = query::normalize(&q.0).map_err(|e| match e {
            QueryError::TooLong | QueryError::NoWords => {
                ApiError::from(FieldError::new("q", e.to_string()))
            }
        })?;
        let kind = match kind.0.unwrap_or(SearchKind::Products) {
            SearchKind::Products => Kind::Products,
            SearchKind::Shops => Kind::Shops,
            SearchKind::Orders => Kind::Orders,
            SearchKind::Users => Kind::Users,
        };
        let caller = auth
            .0
            .as_ref()
            .map(|p| (p.user.id.clone(), p.user.is_admin));
        let mut filters = Filters {
            shop_id: shop_id.0,
            ..Default::default()
        };
        match kind {
            Kind::Products => {
                filters.category_id = category_id.0;
                filters.veg = veg.0;
                filters.in_stock = in_stock.0;
            }
            Kind::Shops => filters.shop_id = None,
            Kind::Orders => {
                let Some((uid, admin)) = caller.clone() else {
                    return Err(ApiError::Rule(Error::Unauthenticated(
                        "sign in to search orders".into(),
                    )));
                };
                filters.status = order_status.0.map(|s| {
                    crate::search::schema::status_key(&crate::domain::order::OrderStatus::from(s))
                });
                if !admin {
                    let mine = self
                        .state
                        .store
                        .read(move |txn| hits::shops_worked_by(txn, &uid))
                        .await?;
                    if mine.is_empty() {
                        return Err(ApiError::Rule(Error::Forbidden(
                            "only shop owners, their runners and admins search orders".into(),
                        )));
                    }
                    if let Some(s) = &filters.shop_id
                        && !mine.contains(s)
                    {
                        return Err(ApiError::Rule(Error::Forbidden(
                            "you can only search the orders of shops you own or work for".into(),
                        )));
                    }
                    filters.shops_any = Some(mine);
                }
            }
            Kind::Users => {
                match &caller {
                    None => {
                        return Err(ApiError::Rule(Error::Unauthenticated(
                            "sign in to search users".into(),
                        )));
                    }
                    Some((_, false)) => {
                        return Err(ApiError::Rule(Error::Forbidden(
                            "only admins search users".into(),
                        )));
                    }
                    Some(_) => {}
                }
                filters.shop_id = None;
                filters.status = user_status
                    .0
                    .map(|s| crate::search::schema::status_key(&UserStatus::from(s)));
            }
        }
        let limit = limit.0.unwrap_or(20) as usize;
        let offset = offset.0.unwrap_or(0).min(MAX_OFFSET) as usize;
        let state = self.state.clone();
        let out = tokio::task::spawn_blocking(move || -> Result<SearchResults, ApiError> {
            let page = state
                .search
                .search(kind, &normalized, &filters, limit, offset)
                .map_err(|e| match e {
                    SearchError::NotReady(m) => ApiError::Rule(Error::Store(
                        StoreError::Unavailable(format!("search: {m}")),
                    )),
                    SearchError::Failed(m) => {
                        tracing::error!(error = %m, "search failed");
                        ApiError::Rule(Error::Store(StoreError::Unavailable(
                            "search failed".into(),
                        )))
                    }
                })?;
            let allowed = filters.shops_any.clone();
            let mut out = views(
                state
                    .store
                    .read_blocking(|txn| hits::load(txn, kind, &page.ids, allowed.as_deref()))?,
            );
            if page.more {
                out.next_offset = Some((offset + limit) as u32);
            }
            Ok(out)
        })
        .await
        .map_err(|e| {
            ApiError::Rule(Error::Store(StoreError::Unavailable(format!(
                "search task: {e}"
            ))))
        })??;
        Ok(Json(out))
    }
}

/// What a rebuild indexed.
#[derive(Object, Debug)]
pub struct ReindexReport {
    pub products: u64,
    pub shops: u64,
    pub orders: u64,
    pub users: u64,
    pub millis: u64,
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Search")]
impl SearchAdminApi {
    /// Rebuild the search index from the store while the server runs
    /// (admins; audited). Searches answer 503 until it is done, and the
    /// call returns when it is. `uphill search reindex` does the same with
    /// the server stopped.
    #[oai(
        path = "/admin/search/reindex",
        method = "post",
        operation_id = "reindexSearch"
    )]
    async fn reindex(&self, req: &Request, auth: Auth) -> Result<Json<ReindexReport>, ApiError> {
        auth.require_admin()?;
        let search = self.state.search.clone();
        let r = tokio::task::spawn_blocking(move || search.rebuild_blocking())
            .await
            .map_err(ApiError::internal)?
            .map_err(|e| {
                ApiError::Rule(Error::Store(StoreError::Unavailable(format!(
                    "search: {e}"
                ))))
            })?;
        let origin = origin(req, Some(auth.user_id()));
        let details = format!(
            "{} products, {} shops, {} orders, {} users in {} ms",
            r.products, r.shops, r.orders, r.users, r.millis
        );
        self.state
            .store
            .write(move |txn| {
                crate::admin::record(txn, &origin, "search.reindex", "search", details.clone())
            })
            .await?;
        Ok(Json(ReindexReport {
            products: r.products,
            shops: r.shops,
            orders: r.orders,
            users: r.users,
            millis: r.millis as u64,
        }))
    }
}

pub struct SearchAdminApi {
    pub state: Arc<AppState>,
}

/// The page of views for hits still visible, in rank order.
fn views(hits: Vec<Hit>) -> SearchResults {
    let mut out = SearchResults::default();
    for hit in hits {
        match hit {
            Hit::Product {
                product: p,
                shop_name,
                category_name,
            } => out.products.push(ProductHit {
                unit_price: p.unit_price(),
                in_stock: p.stock > 0,
                id: p.id,
                name: p.name,
                shop_id: p.shop_id,
                shop_name,
                category_id: p.category_id,
                category_name,
                price: p.price,
                veg: p.is_veg,
                image: ImageView::of(p.image),
            }),
            Hit::Shop(s) => out.shops.push(ShopHit {
                id: s.id,
                name: s.name,
                description: s.description,
                location: s.location,
                shop_type: s.shop_type.into(),
                accepting_orders: s.accepting_orders,
                image: ImageView::of(s.image),
            }),
            Hit::Order {
                order: o,
                shop_name,
                student_name,
            } => out.orders.push(OrderHit {
                id: o.id,
                display_id: o.display_id,
                shop_id: o.shop_id,
                shop_name,
                student_name,
                status: o.status.into(),
                total: o.total,
                created_at: o.created_at,
            }),
            Hit::User(u) => out.users.push(UserHit {
                id: u.id,
                name: u.name,
                email: u.email,
                status: u.status.into(),
                admin: u.is_admin,
            }),
        }
    }
    out
}
