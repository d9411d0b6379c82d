//! `/api/v1/admin/*`: users, platform settings, the audit log, buildings
//! and categories. Every operation requires an admin and writes an audit
//! entry in the same transaction as its change. The public reads of the
//! building and category lists live here too, next to their management.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use poem::Request;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::registry::{MetaMediaType, MetaRequest, Registry};
use poem_openapi::types::ParseFromJSON;
use poem_openapi::{
    ApiExtractor, ApiExtractorType, ApiResponse, ExtractParamOptions, Object, OpenApi,
};

use super::auth_api::{NoContent, UserStatusView};
use super::error::ApiError;
use super::extract::Auth;
use super::page::{self, Cursor, Limit, Page};
use super::types::{Text, mirror_enum};
use super::{ApiTags, origin};
use crate::admin::{self, AuditQuery, Listed, UserAction, UserQuery};
use crate::app::AppState;
use crate::audit::AuditEntry;
use crate::domain::catalog::{Building, Category};
use crate::domain::user::{User, UserRole, UserStatus};
use crate::settings::PlatformSettings;

pub struct AdminApi {
    pub state: Arc<AppState>,
}

/// A JSON body that may be left out entirely: no body (with or without a
/// JSON content type) and `null` both read as `None`. Lets a client call
/// `POST /admin/users/{id}/suspend` without inventing a `{}`.
pub struct OptionalJson<T>(pub Option<T>);

impl<'a, T: ParseFromJSON + Send> ApiExtractor<'a> for OptionalJson<T> {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];
    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        T::register(registry);
    }

    fn request_meta() -> Option<MetaRequest> {
        Some(MetaRequest {
            description: Some("Optional: may be omitted."),
            content: vec![MetaMediaType {
                content_type: "application/json; charset=utf-8",
                schema: T::schema_ref(),
            }],
            required: false,
        })
    }

    async fn from_request(
        request: &'a Request,
        body: &mut poem::RequestBody,
        _opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        if request.content_type().is_none() {
            let bytes = body.take()?.into_bytes().await?;
            if bytes.iter().all(u8::is_ascii_whitespace) {
                return Ok(Self(None));
            }
            return Err(poem_openapi::error::ContentTypeError::ExpectContentType.into());
        }
        let Json(v) = <Json<Option<T>> as ApiExtractor>::from_request(
            request,
            body,
            ExtractParamOptions::default(),
        )
        .await?;
        Ok(Self(v))
    }
}

/// A user as admins see them (never the password hash).
#[derive(Object)]
pub struct AdminUser {
    pub id: String,
    pub email: String,
    pub name: String,
    pub phone: Option<String>,
    pub admin: bool,
    pub status: UserStatusView,
    pub email_verified: bool,
    pub created_at: DateTime<Utc>,
}

impl From<User> for AdminUser {
    fn from(u: User) -> Self {
        AdminUser {
            id: u.id,
            email: u.email,
            name: u.name,
            phone: u.phone,
            admin: u.is_admin,
            status: u.status.into(),
            email_verified: u.email_verified,
            created_at: u.created_at,
        }
    }
}

/// An order as the admins' list shows it: the order (without its OTP),
/// with its shop's and student's names.
#[derive(Object)]
pub struct AdminOrderView {
    #[oai(flatten)]
    pub order: super::market_api::OrderView,
    pub shop_name: String,
    pub student_name: String,
    pub student_email: String,
}

/// A shop by id and name.
#[derive(Object)]
pub struct ShopRef {
    pub id: String,
    pub name: String,
}

/// One user with what an admin needs before acting on them.
#[derive(Object)]
pub struct AdminUserDetail {
    #[oai(flatten)]
    pub user: AdminUser,
    /// The shop they own, if any.
    pub shop: Option<ShopRef>,
    /// The shops they carry batches for.
    pub runner_for: Vec<ShopRef>,
    /// Signed-in devices (sessions) now.
    pub sessions: u64,
    pub order_count: u64,
    /// Their newest orders (up to 10), without OTPs.
    pub recent_orders: Vec<super::market_api::OrderView>,
    /// The newest audit entries by or about them (up to 20, from the
    /// newest 5,000 entries of the log).
    pub audit: Vec<AuditEntryView>,
}

impl From<admin::UserDetail> for AdminUserDetail {
    fn from(d: admin::UserDetail) -> Self {
        let shop_ref = |(id, name)| ShopRef { id, name };
        AdminUserDetail {
            user: d.user.into(),
            shop: d.shop.map(shop_ref),
            runner_for: d.runner_for.into_iter().map(shop_ref).collect(),
            sessions: d.sessions,
            order_count: d.order_count,
            recent_orders: d
                .recent_orders
                .into_iter()
                .map(|o| super::market_api::order_view(o, false))
                .collect(),
            audit: d.audit.into_iter().map(Into::into).collect(),
        }
    }
}

mirror_enum!(UserRoleView, UserRole, { Student, Vendor, Runner, Admin });

/// A review as admins moderate it: with the product's and the author's
/// names (students see neither the author nor the order).
#[derive(Object)]
pub struct AdminReviewView {
    #[oai(flatten)]
    pub review: super::market_api::ReviewView,
    pub product_name: String,
    pub author_id: String,
    pub author_name: String,
}

impl From<crate::market::reviews::ShopReview> for AdminReviewView {
    fn from(r: crate::market::reviews::ShopReview) -> Self {
        AdminReviewView {
            author_id: r.review.user_id.clone(),
            review: r.review.into(),
            product_name: r.product_name,
            author_name: r.author_name,
        }
    }
}

fn status_from_view(s: UserStatusView) -> UserStatus {
    match s {
        UserStatusView::Active => UserStatus::Active,
        UserStatusView::Suspended => UserStatus::Suspended,
        UserStatusView::Banned => UserStatus::Banned,
    }
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct ReasonRequest {
    /// Why; shown to the user and kept in the audit log. Up to 500 characters.
    #[oai(validator(max_length = 500))]
    pub reason: Option<Text>,
}

#[derive(Object)]
pub struct UserActionResult {
    pub user: AdminUser,
    /// Sessions ended by this action (suspend, ban and sign-out end all of
    /// the user's sessions; API tokens stay but are refused while the account
    /// is not active).
    pub sessions_ended: u32,
}

#[derive(Object)]
pub struct SettingsView {
    /// Minor units added to every order, frozen on the order at checkout.
    pub platform_fee: i64,
    pub updated_at: Option<DateTime<Utc>>,
    /// The admin who changed it last.
    pub updated_by: Option<String>,
}

impl From<PlatformSettings> for SettingsView {
    fn from(s: PlatformSettings) -> Self {
        SettingsView {
            platform_fee: s.platform_fee,
            updated_at: s.updated_at,
            updated_by: s.updated_by,
        }
    }
}

#[derive(Object)]
pub struct FeesView {
    /// Minor units added to every order placed now.
    pub platform_fee: i64,
    /// ISO 4217 code of every amount in the API.
    pub currency: String,
    /// The campus's IANA time zone: cutoffs, opening hours and the days of
    /// earnings and exports are campus times.
    pub timezone: String,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct UpdateSettingsRequest {
    /// Minor units, 0 to 100000000.
    #[oai(validator(minimum(value = "0"), maximum(value = "100000000")))]
    pub platform_fee: i64,
}

#[derive(Object)]
pub struct AuditEntryView {
    pub id: String,
    pub at: DateTime<Utc>,
    /// Absent for actions taken on the server's console.
    pub actor_id: Option<String>,
    pub action: String,
    pub target: String,
    pub details: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// Who the actor is now ("Name (email)"); in the audit list only.
    pub actor_name: Option<String>,
    /// What the target is now: a user, a shop or product by name, an order
    /// by display id; none for other targets. In the audit list only.
    pub target_name: Option<String>,
}

impl From<AuditEntry> for AuditEntryView {
    fn from(e: AuditEntry) -> Self {
        AuditEntryView {
            id: e.id,
            at: e.at,
            actor_id: e.actor_id,
            action: e.action,
            target: e.target,
            details: e.details,
            ip: e.ip,
            user_agent: e.user_agent,
            actor_name: None,
            target_name: None,
        }
    }
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct ListNameRequest {
    /// 1 to 80 characters; unique case-insensitively.
    #[oai(validator(max_length = 80))]
    pub name: Text,
}

#[derive(Object)]
pub struct BuildingView {
    pub id: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

impl From<Building> for BuildingView {
    fn from(b: Building) -> Self {
        BuildingView {
            id: b.id,
            name: b.name,
            created_at: b.created_at,
        }
    }
}

#[derive(Object)]
pub struct CategoryView {
    pub id: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

impl From<Category> for CategoryView {
    fn from(c: Category) -> Self {
        CategoryView {
            id: c.id,
            name: c.name,
            created_at: c.created_at,
        }
    }
}

#[derive(ApiResponse)]
pub enum CreatedBuilding {
    #[oai(status = 201)]
    Created(Json<BuildingView>),
}

#[derive(ApiResponse)]
pub enum CreatedCategory {
    #[oai(status = 201)]
    Created(Json<CategoryView>),
}

impl AdminApi {
    async fn user_action(
        &self,
        req: &Request,
        auth: &Auth,
        action: UserAction,
        id: String,
        body: Option<ReasonRequest>,
    ) -> Result<Json<UserActionResult>, ApiError> {
        auth.require_admin()?;
        let raw = body.and_then(|b| b.reason).map(Text::into_inner);
        let reason = admin::parse_reason(raw.as_deref())?;
        let origin = origin(req, Some(auth.user_id()));
        let out = self
            .state
            .store
            .write(move |txn| admin::act_on_user(txn, &origin, action, &id, reason.as_deref()))
            .await?;
        Ok(Json(UserActionResult {
            user: out.user.into(),
            sessions_ended: u32::try_from(out.sessions_ended).unwrap_or(u32::MAX),
        }))
    }

    async fn list<T: Listed + Send + 'static>(
        &self,
        limit: Limit,
        cursor: Cursor,
    ) -> Result<crate::page::Page<T>, ApiError> {
        let req = page::request(limit, cursor);
        Ok(self
            .state
            .store
            .read(move |txn| admin::list_named::<T>(txn, &req))
            .await?)
    }

    async fn create<T: Listed>(
        &self,
        req: &Request,
        auth: &Auth,
        name: &Text,
    ) -> Result<T, ApiError> {
        auth.require_admin()?;
        let name = admin::parse_list_name(&name.0)?;
        let origin = origin(req, Some(auth.user_id()));
        Ok(self
            .state
            .store
            .write(move |txn| admin::create_named::<T>(txn, &origin, &name))
            .await?)
    }

    async fn rename<T: Listed>(
        &self,
        req: &Request,
        auth: &Auth,
        id: String,
        name: &Text,
    ) -> Result<T, ApiError> {
        auth.require_admin()?;
        let name = admin::parse_list_name(&name.0)?;
        let origin = origin(req, Some(auth.user_id()));
        Ok(self
            .state
            .store
            .write(move |txn| admin::rename_named::<T>(txn, &origin, &id, &name))
            .await?)
    }

    async fn delete<T: Listed>(
        &self,
        req: &Request,
        auth: &Auth,
        id: String,
    ) -> Result<NoContent, ApiError> {
        auth.require_admin()?;
        let origin = origin(req, Some(auth.user_id()));
        self.state
            .store
            .write(move |txn| admin::delete_named::<T>(txn, &origin, &id))
            .await?;
        Ok(NoContent::Done)
    }
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Admin")]
impl AdminApi {
    /// List and search users, in id (creation) order.
    #[oai(path = "/admin/users", method = "get", operation_id = "listUsers")]
    async fn list_users(
        &self,
        auth: Auth,
        /// Case-insensitive substring of the email or the name.
        #[oai(validator(max_length = 254))]
        q: Query<Option<String>>,
        status: Query<Option<UserStatusView>>,
        /// `STUDENT`: no shop, no staff place, not an admin; `VENDOR`: owns
        /// a shop; `RUNNER`: on a shop's staff; `ADMIN`. One user may be
        /// a vendor, a runner and an admin at once.
        role: Query<Option<UserRoleView>>,
        limit: Query<Limit>,
        cursor: Query<Cursor>,
    ) -> Result<Json<Page<AdminUser>>, ApiError> {
        auth.require_admin()?;
        let query = UserQuery {
            q: q.0,
            status: status.0.map(status_from_view),
            role: role.0.map(Into::into),
            limit: limit.0.0,
            cursor: cursor.0.0,
        };
        let page = self
            .state
            .store
            .read(move |txn| admin::list_users(txn, &query))
            .await?;
        Ok(Json(Page::of(page, Into::into)))
    }

    /// One user, with their shop, the shops they run for, signed-in
    /// devices, newest orders and the newest audit entries by or about them.
    #[oai(path = "/admin/users/:id", method = "get", operation_id = "getUser")]
    async fn get_user(
        &self,
        auth: Auth,
        #[oai(validator(max_length = 26))] id: Path<String>,
    ) -> Result<Json<AdminUserDetail>, ApiError> {
        auth.require_admin()?;
        let id = id.0;
        let detail = self
            .state
            .store
            .read(move |txn| admin::user_detail(txn, &id))
            .await?;
        Ok(Json(detail.into()))
    }

    /// Suspend a user: ends their sessions and open event streams; they
    /// cannot sign in or use their API tokens until unsuspended.
    #[oai(
        path = "/admin/users/:id/suspend",
        method = "post",
        operation_id = "suspendUser"
    )]
    async fn suspend(
        &self,
        req: &Request,
        auth: Auth,
        #[oai(validator(max_length = 26))] id: Path<String>,
        body: OptionalJson<ReasonRequest>,
    ) -> Result<Json<UserActionResult>, ApiError> {
        self.user_action(req, &auth, UserAction::Suspend, id.0, body.0)
            .await
    }

    /// Lift a suspension.
    #[oai(
        path = "/admin/users/:id/unsuspend",
        method = "post",
        operation_id = "unsuspendUser"
    )]
    async fn unsuspend(
        &self,
        req: &Request,
        auth: Auth,
        #[oai(validator(max_length = 26))] id: Path<String>,
        body: OptionalJson<ReasonRequest>,
    ) -> Result<Json<UserActionResult>, ApiError> {
        self.user_action(req, &auth, UserAction::Unsuspend, id.0, body.0)
            .await
    }

    /// Ban a user for good: ends their sessions and open event streams; a
    /// ban cannot be lifted.
    #[oai(
        path = "/admin/users/:id/ban",
        method = "post",
        operation_id = "banUser"
    )]
    async fn ban(
        &self,
        req: &Request,
        auth: Auth,
        #[oai(validator(max_length = 26))] id: Path<String>,
        body: OptionalJson<ReasonRequest>,
    ) -> Result<Json<UserActionResult>, ApiError> {
        self.user_action(req, &auth, UserAction::Ban, id.0, body.0)
            .await
    }

    /// End every session of a user and the event streams those opened
    /// (their API tokens keep working).
    #[oai(
        path = "/admin/users/:id/sign-out",
        method = "post",
        operation_id = "signOutUser"
    )]
    async fn sign_out(
        &self,
        req: &Request,
        auth: Auth,
        #[oai(validator(max_length = 26))] id: Path<String>,
        body: OptionalJson<ReasonRequest>,
    ) -> Result<Json<UserActionResult>, ApiError> {
        self.user_action(req, &auth, UserAction::SignOut, id.0, body.0)
            .await
    }

    /// Give an active user admin rights.
    #[oai(
        path = "/admin/users/:id/make-admin",
        method = "post",
        operation_id = "grantAdmin"
    )]
    async fn make_admin(
        &self,
        req: &Request,
        auth: Auth,
        #[oai(validator(max_length = 26))] id: Path<String>,
        body: OptionalJson<ReasonRequest>,
    ) -> Result<Json<UserActionResult>, ApiError> {
        self.user_action(req, &auth, UserAction::MakeAdmin, id.0, body.0)
            .await
    }

    /// Take admin rights away (never from yourself or the last active admin).
    #[oai(
        path = "/admin/users/:id/remove-admin",
        method = "post",
        operation_id = "revokeAdmin"
    )]
    async fn remove_admin(
        &self,
        req: &Request,
        auth: Auth,
        #[oai(validator(max_length = 26))] id: Path<String>,
        body: OptionalJson<ReasonRequest>,
    ) -> Result<Json<UserActionResult>, ApiError> {
        self.user_action(req, &auth, UserAction::RemoveAdmin, id.0, body.0)
            .await
    }

    /// The reviews of a shop's products, newest first, whatever the shop's
    /// state, with the authors' names: what admins moderate.
    #[oai(
        path = "/admin/shops/:id/reviews",
        method = "get",
        operation_id = "listShopReviews"
    )]
    async fn shop_reviews(
        &self,
        auth: Auth,
        #[oai(validator(max_length = 26))] id: Path<String>,
        limit: Query<Limit>,
        cursor: Query<Cursor>,
    ) -> Result<Json<Page<AdminReviewView>>, ApiError> {
        auth.require_admin()?;
        let req = page::request(limit.0, cursor.0);
        let list = self
            .state
            .store
            .read(move |txn| crate::market::reviews::of_shop(txn, &id.0, &req))
            .await?;
        Ok(Json(Page::of(list, Into::into)))
    }

    /// Remove a review (`reason` required: the author is told it). It
    /// leaves the product's reviews and rating; its author cannot review
    /// that item again. Audited.
    #[oai(
        path = "/admin/reviews/:id",
        method = "delete",
        operation_id = "removeReview"
    )]
    async fn remove_review(
        &self,
        req: &Request,
        auth: Auth,
        #[oai(validator(max_length = 26))] id: Path<String>,
        body: OptionalJson<ReasonRequest>,
    ) -> Result<NoContent, ApiError> {
        auth.require_admin()?;
        let raw = body.0.and_then(|b| b.reason).map(Text::into_inner);
        let reason = admin::parse_reason(raw.as_deref())?;
        let origin = origin(req, Some(auth.user_id()));
        self.state
            .store
            .write(move |txn| {
                crate::market::reviews::remove(txn, &origin, &id.0, reason.as_deref())
            })
            .await?;
        Ok(NoContent::Done)
    }

    /// Platform settings.
    #[oai(path = "/admin/settings", method = "get", operation_id = "getSettings")]
    async fn get_settings(&self, auth: Auth) -> Result<Json<SettingsView>, ApiError> {
        auth.require_admin()?;
        let s = self.state.store.read(admin::read_settings).await?;
        Ok(Json(s.into()))
    }

    /// The platform fee checkout adds now, and the campus currency: public,
    /// so a cart can spell out its total before the order is placed (the
    /// order freezes the fee it was placed with).
    #[oai(
        path = "/fees",
        method = "get",
        operation_id = "getFees",
        tag = "ApiTags::Orders"
    )]
    async fn fees(&self) -> Result<Json<FeesView>, ApiError> {
        let s = self.state.store.read(admin::read_settings).await?;
        Ok(Json(FeesView {
            platform_fee: s.platform_fee,
            currency: self.state.config.campus.currency.clone(),
            timezone: self.state.config.campus.timezone.clone(),
        }))
    }

    /// Change platform settings; applies to orders placed from now on.
    #[oai(
        path = "/admin/settings",
        method = "put",
        operation_id = "updateSettings"
    )]
    async fn put_settings(
        &self,
        req: &Request,
        auth: Auth,
        body: Json<UpdateSettingsRequest>,
    ) -> Result<Json<SettingsView>, ApiError> {
        auth.require_admin()?;
        let fee = body.0.platform_fee;
        let origin = origin(req, Some(auth.user_id()));
        let currency = self.state.config.currency();
        let s = self
            .state
            .store
            .write(move |txn| admin::update_settings(txn, &origin, fee, currency))
            .await?;
        Ok(Json(s.into()))
    }

    /// The audit log, newest first. It is append-only: nothing here (or
    /// anywhere) changes or deletes an entry.
    #[oai(
        path = "/admin/audit",
        method = "get",
        operation_id = "listAuditEntries"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn list_audit(
        &self,
        auth: Auth,
        /// Exact actor user id.
        #[oai(validator(max_length = 26))]
        actor: Query<Option<String>>,
        /// Exact action, e.g. `user.suspend`.
        #[oai(validator(max_length = 64))]
        action: Query<Option<String>>,
        /// Exact target id.
        #[oai(validator(max_length = 64))]
        target: Query<Option<String>>,
        /// Entries at or after this time (RFC 3339).
        from: Query<Option<DateTime<Utc>>>,
        /// Entries at or before this time (RFC 3339).
        to: Query<Option<DateTime<Utc>>>,
        limit: Query<Limit>,
        cursor: Query<Cursor>,
    ) -> Result<Json<Page<AuditEntryView>>, ApiError> {
        auth.require_admin()?;
        let query = AuditQuery {
            actor: actor.0,
            action: action.0,
            target: target.0,
            from: from.0,
            to: to.0,
            limit: limit.0.0,
            cursor: cursor.0.0,
        };
        let (page, labels) = self
            .state
            .store
            .read(move |txn| {
                let page = admin::list_audit(txn, &query)?;
                let labels = admin::audit_labels(txn, &page.items)?;
                Ok::<_, ApiError>((page, labels))
            })
            .await?;
        Ok(Json(Page::of(page, |e| {
            let mut v = AuditEntryView::from(e);
            v.actor_name = v.actor_id.as_ref().and_then(|a| labels.get(a).cloned());
            v.target_name = labels.get(&v.target).cloned();
            v
        })))
    }

    /// Every order on campus, newest first, by status, shop, building,
    /// campus dates placed (`YYYY-MM-DD`; one given, the other is today; at
    /// most 366 days) and text (display id, student name or email). A page
    /// reads at most 10,000 orders: it may come back short, with a cursor.
    #[oai(path = "/admin/orders", method = "get", operation_id = "listAllOrders")]
    #[allow(clippy::too_many_arguments)]
    async fn list_orders(
        &self,
        auth: Auth,
        status: Query<Option<super::market_api::OrderStatusView>>,
        #[oai(validator(max_length = 26))] shop: Query<Option<String>>,
        #[oai(validator(max_length = 26))] building: Query<Option<String>>,
        #[oai(validator(max_length = 10))] from: Query<Option<String>>,
        #[oai(validator(max_length = 10))] to: Query<Option<String>>,
        #[oai(validator(max_length = 100))] q: Query<Option<String>>,
        limit: Query<Limit>,
        cursor: Query<Cursor>,
    ) -> Result<Json<Page<AdminOrderView>>, ApiError> {
        auth.require_admin()?;
        let (from_at, to_at) = if from.0.is_some() || to.0.is_some() {
            let tz = self.state.config.campus_tz().map_err(ApiError::internal)?;
            let today = Utc::now().with_timezone(&tz).date_naive();
            let r = crate::domain::earnings::Range::parse(
                from.0.as_deref(),
                to.0.as_deref(),
                today,
                366,
            )
            .map_err(crate::error::Error::Invalid)?;
            (Some(r.starts_at(tz)), Some(r.ends_at(tz)))
        } else {
            (None, None)
        };
        let query = admin::OrderQuery {
            status: status.0.map(Into::into),
            shop_id: shop.0,
            building_id: building.0,
            from: from_at,
            to: to_at,
            q: q.0,
            limit: limit.0.0,
            cursor: cursor.0.0,
        };
        let page = self
            .state
            .store
            .read(move |txn| admin::list_orders(txn, &query))
            .await?;
        Ok(Json(Page::of(page, |r| AdminOrderView {
            order: super::market_api::order_view(r.order, false),
            shop_name: r.shop_name,
            student_name: r.student_name,
            student_email: r.student_email,
        })))
    }

    /// Buildings (hostels, blocks) that addresses point to, sorted by name.
    /// No sign-in needed.
    #[oai(path = "/buildings", method = "get", operation_id = "listBuildings")]
    async fn list_buildings(
        &self,
        limit: Query<Limit>,
        cursor: Query<Cursor>,
    ) -> Result<Json<Page<BuildingView>>, ApiError> {
        let page = self.list::<Building>(limit.0, cursor.0).await?;
        Ok(Json(Page::of(page, Into::into)))
    }

    /// Add a building.
    #[oai(
        path = "/admin/buildings",
        method = "post",
        operation_id = "createBuilding"
    )]
    async fn create_building(
        &self,
        req: &Request,
        auth: Auth,
        body: Json<ListNameRequest>,
    ) -> Result<CreatedBuilding, ApiError> {
        let b = self.create::<Building>(req, &auth, &body.0.name).await?;
        Ok(CreatedBuilding::Created(Json(b.into())))
    }

    /// Rename a building.
    #[oai(
        path = "/admin/buildings/:id",
        method = "patch",
        operation_id = "renameBuilding"
    )]
    async fn rename_building(
        &self,
        req: &Request,
        auth: Auth,
        #[oai(validator(max_length = 26))] id: Path<String>,
        body: Json<ListNameRequest>,
    ) -> Result<Json<BuildingView>, ApiError> {
        let b = self
            .rename::<Building>(req, &auth, id.0, &body.0.name)
            .await?;
        Ok(Json(b.into()))
    }

    /// Remove a building. Addresses that name it keep its id, and orders
    /// keep their address snapshot.
    #[oai(
        path = "/admin/buildings/:id",
        method = "delete",
        operation_id = "deleteBuilding"
    )]
    async fn delete_building(
        &self,
        req: &Request,
        auth: Auth,
        #[oai(validator(max_length = 26))] id: Path<String>,
    ) -> Result<NoContent, ApiError> {
        self.delete::<Building>(req, &auth, id.0).await
    }

    /// Product categories, sorted by name. No sign-in needed.
    #[oai(path = "/categories", method = "get", operation_id = "listCategories")]
    async fn list_categories(
        &self,
        limit: Query<Limit>,
        cursor: Query<Cursor>,
    ) -> Result<Json<Page<CategoryView>>, ApiError> {
        let page = self.list::<Category>(limit.0, cursor.0).await?;
        Ok(Json(Page::of(page, Into::into)))
    }

    /// Add a category.
    #[oai(
        path = "/admin/categories",
        method = "post",
        operation_id = "createCategory"
    )]
    async fn create_category(
        &self,
        req: &Request,
        auth: Auth,
        body: Json<ListNameRequest>,
    ) -> Result<CreatedCategory, ApiError> {
        let c = self.create::<Category>(req, &auth, &body.0.name).await?;
        Ok(CreatedCategory::Created(Json(c.into())))
    }

    /// Rename a category.
    #[oai(
        path = "/admin/categories/:id",
        method = "patch",
        operation_id = "renameCategory"
    )]
    async fn rename_category(
        &self,
        req: &Request,
        auth: Auth,
        #[oai(validator(max_length = 26))] id: Path<String>,
        body: Json<ListNameRequest>,
    ) -> Result<Json<CategoryView>, ApiError> {
        let c = self
            .rename::<Category>(req, &auth, id.0, &body.0.name)
            .await?;
        Ok(Json(c.into()))
    }

    /// Remove a category. Products that name it keep its id.
    #[oai(
        path = "/admin/categories/:id",
        method = "delete",
        operation_id = "deleteCategory"
    )]
    async fn delete_category(
        &self,
        req: &Request,
        auth: Auth,
        #[oai(validator(max_length = 26))] id: Path<String>,
    ) -> Result<NoContent, ApiError> {
        self.delete::<Category>(req, &auth, id.0).await
    }
}
