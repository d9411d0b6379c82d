//! Shops (with verification and staff), products, slots, favourites and
//! announcements. Rules live in `crate::catalog`; these handlers translate.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use poem::{Request, RequestBody};
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::registry::Registry;
use poem_openapi::types::MaybeUndefined;
use poem_openapi::{
    ApiExtractor, ApiExtractorType, ApiResponse, ExtractParamOptions, Object, OpenApi,
};

use super::admin_api::{OptionalJson, ReasonRequest};
use super::auth_api::NoContent;
use super::cache::{EncodedJson, ResponseCache};
use super::error::ApiError;
use super::extract::{Auth, SESSION_COOKIE, authenticate, cookie_value};
use super::files_api::ImageView;
use super::page::{self, Cursor, Limit, Page};
use super::types::{Text, mirror_enum};
use super::{ApiTags, origin};
use crate::app::AppState;
use crate::auth::Principal;
use crate::catalog::{
    self, AnnouncementInput, Caller, ProductFilter, ProductInput, ProductPatch, ShopFilter,
    ShopInput, ShopPatch, SlotInput, SlotPatch,
};
use crate::domain::batch::Slot;
use crate::domain::catalog::{Announcement, Product};
use crate::domain::shop::{Shop, ShopType, Verification};
use crate::domain::user::User;
use crate::error::Error;

pub struct CatalogApi {
    pub state: Arc<AppState>,
    /// Encoded catalog pages of public shops; see `http::cache`.
    pub pages: Arc<ResponseCache>,
}

/// Signed in or not: public pages answer both, and show more to the shop's
/// people. A bearer token that does not work is an error (a script should
/// know); a stale session cookie is only a visitor (a browser should still
/// see the shops).
pub struct MaybeAuth(pub Option<Principal>);

impl MaybeAuth {
    fn caller(&self) -> Option<Caller> {
        self.0.as_ref().map(|p| Caller {
            id: p.user.id.clone(),
            is_admin: p.user.is_admin,
        })
    }
}

impl<'a> ApiExtractor<'a> for MaybeAuth {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::SecurityScheme];
    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        <Auth as ApiExtractor>::register(registry);
    }

    fn security_schemes() -> Vec<&'static str> {
        <Auth as ApiExtractor>::security_schemes()
    }

    fn has_security_fallback() -> bool {
        true
    }

    async fn from_request(
        req: &'a Request,
        _body: &mut RequestBody,
        _opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        if req
            .headers()
            .contains_key(poem::http::header::AUTHORIZATION)
        {
            return Ok(MaybeAuth(Some(authenticate(req).await?)));
        }
        if cookie_value(req, SESSION_COOKIE).is_some() {
            return Ok(MaybeAuth(authenticate(req).await.ok()));
        }
        Ok(MaybeAuth(None))
    }
}

fn caller(auth: &Auth) -> Caller {
    Caller {
        id: auth.user_id().to_string(),
        is_admin: auth.is_admin(),
    }
}

// --- Enums ---

mirror_enum!(ShopTypeView, ShopType, { Canteen, Stationery, Grocery, Other });
mirror_enum!(VerificationView, Verification, { NotStarted, Pending, RequiresAction, Verified, Rejected });

/// The verification statuses an admin may give a `PENDING` shop: the same
/// values as the shop's `verification`.
#[derive(poem_openapi::Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[oai(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DecisionView {
    Verified,
    RequiresAction,
    Rejected,
}

impl From<DecisionView> for Verification {
    fn from(d: DecisionView) -> Self {
        match d {
            DecisionView::Verified => Verification::Verified,
            DecisionView::RequiresAction => Verification::RequiresAction,
            DecisionView::Rejected => Verification::Rejected,
        }
    }
}

// --- Shops ---

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct CreateShopRequest {
    /// 1 to 80 characters.
    #[oai(validator(max_length = 80))]
    pub name: Text,
    /// 0 to 1000 characters.
    #[oai(validator(max_length = 1000), default)]
    pub description: Text,
    /// Where the shop is, 0 to 200 characters.
    #[oai(validator(max_length = 200), default)]
    pub location: Text,
    pub shop_type: ShopTypeView,
    /// Minutes from midnight, campus time, 0 to 1439. Orders are taken from
    /// `opens_at` up to `closes_at`; equal values mean open all day.
    #[oai(validator(minimum(value = "0"), maximum(value = "1439")))]
    pub opens_at: u16,
    /// Minutes from midnight, campus time, 0 to 1439; earlier than
    /// `opens_at` means the shop is open past midnight, equal means all day.
    #[oai(validator(minimum(value = "0"), maximum(value = "1439")))]
    pub closes_at: u16,
    /// A UPI id such as `name@bank`, at most 60 characters.
    #[oai(validator(max_length = 60))]
    pub upi_id: Option<Text>,
    /// Minor units, 0 to 100000000.
    #[oai(validator(minimum(value = "0"), maximum(value = "100000000")), default)]
    pub min_order_value: i64,
    /// Minor units, 0 to 100000000, added to every batched order.
    #[oai(validator(minimum(value = "0"), maximum(value = "100000000")), default)]
    pub delivery_fee: i64,
    /// Minor units, 0 to 100000000; 0 means no direct delivery.
    #[oai(validator(minimum(value = "0"), maximum(value = "100000000")), default)]
    pub direct_delivery_fee: i64,
    /// Building ids (at most 100); empty means every building.
    #[oai(validator(max_items = 100, max_length = 26), default)]
    pub delivers_to: Vec<Text>,
    /// An inactive shop is hidden from students. Default true.
    #[oai(default = "default_true")]
    pub active: bool,
    /// A shop that is not accepting orders stays visible. Default true.
    #[oai(default = "default_true")]
    pub accepting_orders: bool,
    /// An upload id from `POST /api/v1/uploads` (64 hex digits).
    #[oai(validator(max_length = 64))]
    pub image: Option<Text>,
    /// The UPI QR code students scan to pay: an upload id.
    #[oai(validator(max_length = 64))]
    pub upi_qr_image: Option<Text>,
}

impl From<CreateShopRequest> for ShopInput {
    fn from(b: CreateShopRequest) -> Self {
        ShopInput {
            name: b.name.0,
            description: b.description.0,
            location: b.location.0,
            shop_type: b.shop_type.into(),
            opens_at: b.opens_at,
            closes_at: b.closes_at,
            upi_id: b.upi_id.map(Text::into_inner),
            min_order_value: b.min_order_value,
            delivery_fee: b.delivery_fee,
            direct_delivery_fee: b.direct_delivery_fee,
            delivers_to: b.delivers_to.into_iter().map(Text::into_inner).collect(),
            is_active: b.active,
            accepting_orders: b.accepting_orders,
            image: b.image.map(Text::into_inner),
            upi_qr_image: b.upi_qr_image.map(Text::into_inner),
        }
    }
}

/// Only the fields sent change; `upi_id: null` removes the UPI id.
#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct UpdateShopRequest {
    #[oai(validator(max_length = 80))]
    pub name: Option<Text>,
    #[oai(validator(max_length = 1000))]
    pub description: Option<Text>,
    #[oai(validator(max_length = 200))]
    pub location: Option<Text>,
    pub shop_type: Option<ShopTypeView>,
    #[oai(validator(minimum(value = "0"), maximum(value = "1439")))]
    pub opens_at: Option<u16>,
    #[oai(validator(minimum(value = "0"), maximum(value = "1439")))]
    pub closes_at: Option<u16>,
    #[oai(validator(max_length = 60))]
    pub upi_id: MaybeUndefined<Text>,
    #[oai(validator(minimum(value = "0"), maximum(value = "100000000")))]
    pub min_order_value: Option<i64>,
    #[oai(validator(minimum(value = "0"), maximum(value = "100000000")))]
    pub delivery_fee: Option<i64>,
    #[oai(validator(minimum(value = "0"), maximum(value = "100000000")))]
    pub direct_delivery_fee: Option<i64>,
    #[oai(validator(max_items = 100, max_length = 26))]
    pub delivers_to: Option<Vec<Text>>,
    /// An inactive shop is hidden from students.
    pub active: Option<bool>,
    /// A shop that is not accepting orders stays visible.
    pub accepting_orders: Option<bool>,
    /// An upload id; `null` removes the image.
    #[oai(validator(max_length = 64))]
    pub image: MaybeUndefined<Text>,
    /// An upload id; `null` removes the QR code.
    #[oai(validator(max_length = 64))]
    pub upi_qr_image: MaybeUndefined<Text>,
}

fn maybe(v: MaybeUndefined<Text>) -> Option<Option<String>> {
    match v {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(t) => Some(Some(t.0)),
    }
}

impl From<UpdateShopRequest> for ShopPatch {
    fn from(b: UpdateShopRequest) -> Self {
        ShopPatch {
            name: b.name.map(Text::into_inner),
            description: b.description.map(Text::into_inner),
            location: b.location.map(Text::into_inner),
            shop_type: b.shop_type.map(Into::into),
            opens_at: b.opens_at,
            closes_at: b.closes_at,
            upi_id: maybe(b.upi_id),
            min_order_value: b.min_order_value,
            delivery_fee: b.delivery_fee,
            direct_delivery_fee: b.direct_delivery_fee,
            delivers_to: b
                .delivers_to
                .map(|v| v.into_iter().map(Text::into_inner).collect()),
            is_active: b.active,
            accepting_orders: b.accepting_orders,
            image: maybe(b.image),
            upi_qr_image: maybe(b.upi_qr_image),
        }
    }
}

/// A shop. The owner's identity is never part of it.
#[derive(Object)]
pub struct ShopView {
    pub id: String,
    pub name: String,
    pub description: String,
    pub location: String,
    pub shop_type: ShopTypeView,
    pub opens_at: u16,
    pub closes_at: u16,
    pub image: Option<ImageView>,
    pub upi_id: Option<String>,
    /// The UPI QR code to scan when paying by UPI.
    pub upi_qr_image: Option<ImageView>,
    pub active: bool,
    pub accepting_orders: bool,
    pub verification: VerificationView,
    /// The admins' note to the owner; only in the owner's and admins' view.
    #[oai(skip_serializing_if_is_none)]
    pub verification_note: Option<String>,
    pub min_order_value: i64,
    pub delivery_fee: i64,
    pub direct_delivery_fee: i64,
    pub delivers_to: Vec<String>,
    pub created_at: DateTime<Utc>,
    /// This state's version: send it back as `If-Match` with a change, and
    /// a change made from an older state is refused (412).
    pub version: String,
}

impl ShopView {
    /// `private`: the caller is the owner or an admin.
    fn new(s: Shop, private: bool) -> Self {
        ShopView {
            id: s.id,
            name: s.name,
            description: s.description,
            location: s.location,
            shop_type: s.shop_type.into(),
            opens_at: s.opens_at,
            closes_at: s.closes_at,
            image: ImageView::of(s.image),
            upi_id: s.upi_id,
            upi_qr_image: ImageView::of(s.upi_qr_image),
            active: s.is_active,
            accepting_orders: s.accepting_orders,
            verification: s.verification.into(),
            verification_note: if private { s.verification_note } else { None },
            min_order_value: s.min_order_value,
            delivery_fee: s.delivery_fee,
            direct_delivery_fee: s.direct_delivery_fee,
            delivers_to: s.delivers_to,
            created_at: s.created_at,
            version: crate::domain::version(s.updated_at),
        }
    }

    fn public_page(shops: crate::page::Page<Shop>) -> Page<Self> {
        Page::of(shops, |s| Self::new(s, false))
    }
}

/// The version an `If-Match` header names, quoted or not (`W/` ignored).
fn version_of(header: Option<String>) -> Option<String> {
    let h = header?;
    let v = h.trim().trim_start_matches("W/").trim_matches('"');
    Some(v.to_string())
}

/// A shop in the admins' verification queue, with its owner.
#[derive(Object)]
pub struct AdminShopView {
    #[oai(flatten)]
    pub shop: ShopView,
    pub owner_id: String,
    pub owner_name: Option<String>,
    pub owner_email: Option<String>,
}

#[derive(ApiResponse)]
pub enum ShopCreated {
    #[oai(status = 201)]
    Created(Json<ShopView>),
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct DecisionRequest {
    /// The status the shop will have (its `verification`).
    pub verification: DecisionView,
    /// To the owner, 0 to 500 characters; required unless VERIFIED.
    #[oai(validator(max_length = 500), default)]
    pub note: Text,
}

// --- Staff ---

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct AddStaffRequest {
    /// The email the runner signed up with.
    #[oai(validator(max_length = 254))]
    pub email: Text,
}

/// A runner of the shop (the owner added them by this email).
#[derive(Object)]
pub struct StaffView {
    pub user_id: String,
    pub name: String,
    pub email: String,
}

impl From<User> for StaffView {
    fn from(u: User) -> Self {
        StaffView {
            user_id: u.id,
            name: u.name,
            email: u.email,
        }
    }
}

/// A pending invitation, as the shop's owner sees it.
#[derive(Object)]
pub struct StaffInviteView {
    pub email: String,
    pub invited_at: DateTime<Utc>,
    /// Unanswered invitations lapse at this time.
    pub expires_at: DateTime<Utc>,
}

impl From<crate::catalog::StaffInvite> for StaffInviteView {
    fn from(i: crate::catalog::StaffInvite) -> Self {
        StaffInviteView {
            expires_at: i.invited_at + chrono::Duration::days(crate::catalog::INVITE_TTL_DAYS),
            email: i.email,
            invited_at: i.invited_at,
        }
    }
}

/// An invitation to run for a shop, as the invited user sees it.
#[derive(Object)]
pub struct MyInviteView {
    pub shop_id: String,
    pub shop_name: String,
    pub invited_at: DateTime<Utc>,
}

impl CatalogApi {
    async fn answer_invitation(
        &self,
        req: &Request,
        auth: &Auth,
        shop_id: String,
        accept: bool,
    ) -> Result<NoContent, ApiError> {
        let origin = origin(req, Some(auth.user_id()));
        let user = auth.user_id().to_string();
        catalog::answer_invite(&self.state.store, user, shop_id, accept, origin).await?;
        Ok(NoContent::Done)
    }
}

#[derive(ApiResponse)]
pub enum StaffInvited {
    /// Sent, whether or not the address has an account (the answer does
    /// not say); the invited user accepts it from their account.
    #[oai(status = 202)]
    Accepted(Json<StaffInviteView>),
}

// --- Products ---

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct CreateProductRequest {
    /// 1 to 100 characters.
    #[oai(validator(max_length = 100))]
    pub name: Text,
    /// 0 to 1000 characters.
    #[oai(validator(max_length = 1000), default)]
    pub description: Text,
    /// One of the admins' categories.
    #[oai(validator(max_length = 26))]
    pub category_id: Option<Text>,
    /// Minor units, 0 to 100000000.
    #[oai(validator(minimum(value = "0"), maximum(value = "100000000")))]
    pub price: i64,
    /// Minor units off the price, 0 up to the price.
    #[oai(validator(minimum(value = "0"), maximum(value = "100000000")), default)]
    pub discount: i64,
    /// Units on hand, 0 to 100000.
    #[oai(validator(minimum(value = "0"), maximum(value = "100000")))]
    pub stock: u32,
    #[oai(default)]
    pub veg: bool,
    /// An upload id from `POST /api/v1/uploads` (64 hex digits).
    #[oai(validator(max_length = 64))]
    pub image: Option<Text>,
}

impl From<CreateProductRequest> for ProductInput {
    fn from(b: CreateProductRequest) -> Self {
        ProductInput {
            name: b.name.0,
            description: b.description.0,
            category_id: b.category_id.map(Text::into_inner),
            price: b.price,
            discount: b.discount,
            stock: b.stock,
            is_veg: b.veg,
            image: b.image.map(Text::into_inner),
        }
    }
}

/// Only the fields sent change; `category_id: null` removes the category.
/// Raising `stock` from 0 tells everyone watching the product.
#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct UpdateProductRequest {
    #[oai(validator(max_length = 100))]
    pub name: Option<Text>,
    #[oai(validator(max_length = 1000))]
    pub description: Option<Text>,
    #[oai(validator(max_length = 26))]
    pub category_id: MaybeUndefined<Text>,
    #[oai(validator(minimum(value = "0"), maximum(value = "100000000")))]
    pub price: Option<i64>,
    #[oai(validator(minimum(value = "0"), maximum(value = "100000000")))]
    pub discount: Option<i64>,
    #[oai(validator(minimum(value = "0"), maximum(value = "100000")))]
    pub stock: Option<u32>,
    /// Units to add to the stock as it is when the change is made (not
    /// with `stock`); the result is capped at 100000.
    #[oai(validator(minimum(value = "1"), maximum(value = "100000")))]
    pub restock: Option<u32>,
    pub veg: Option<bool>,
    /// An upload id; `null` removes the image.
    #[oai(validator(max_length = 64))]
    pub image: MaybeUndefined<Text>,
}

impl From<UpdateProductRequest> for ProductPatch {
    fn from(b: UpdateProductRequest) -> Self {
        ProductPatch {
            name: b.name.map(Text::into_inner),
            description: b.description.map(Text::into_inner),
            category_id: maybe(b.category_id),
            price: b.price,
            discount: b.discount,
            stock: b.stock,
            restock: b.restock,
            is_veg: b.veg,
            image: maybe(b.image),
        }
    }
}

#[derive(Object)]
pub struct ProductView {
    pub id: String,
    pub shop_id: String,
    pub name: String,
    pub description: String,
    pub category_id: Option<String>,
    /// Minor units.
    pub price: i64,
    /// Minor units off the price.
    pub discount: i64,
    /// What a buyer pays per unit: price − discount.
    pub unit_price: i64,
    pub stock: u32,
    pub in_stock: bool,
    pub veg: bool,
    pub image: Option<ImageView>,
    /// Average rating ×100, rounded down (425 = 4.25 stars); null before
    /// the first review. Exactly: `rating_sum / review_count`.
    pub rating: Option<u64>,
    /// The sum of every review's stars (1 to 5 each).
    pub rating_sum: u64,
    pub review_count: u64,
    /// This state's version: send it back as `If-Match` with a change, and
    /// a change made from an older state is refused (412).
    pub version: String,
    /// Whether you asked to be told when it is back in stock; in
    /// `GET /products/{id}` when signed in only.
    pub watching: Option<bool>,
}

impl From<Product> for ProductView {
    fn from(p: Product) -> Self {
        ProductView {
            unit_price: p.unit_price(),
            rating: p.rating_x100(),
            in_stock: p.stock > 0,
            id: p.id,
            shop_id: p.shop_id,
            name: p.name,
            description: p.description,
            category_id: p.category_id,
            price: p.price,
            discount: p.discount,
            stock: p.stock,
            veg: p.is_veg,
            image: ImageView::of(p.image),
            rating_sum: p.rating_sum,
            review_count: p.review_count,
            version: crate::domain::version(p.updated_at),
            watching: None,
        }
    }
}

#[derive(ApiResponse)]
pub enum ProductCreated {
    #[oai(status = 201)]
    Created(Json<ProductView>),
}

// --- Slots ---

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct CreateSlotRequest {
    /// The batch's cutoff in minutes from midnight, campus time, 0 to 1439.
    #[oai(validator(minimum(value = "0"), maximum(value = "1439")))]
    pub cutoff_minutes: u16,
    /// e.g. "5 PM Batch", 1 to 60 characters.
    #[oai(validator(max_length = 60))]
    pub label: Text,
    /// Default true.
    #[oai(default = "default_true")]
    pub active: bool,
    /// Display order, 0 to 1000 (default 0).
    #[oai(validator(minimum(value = "0"), maximum(value = "1000")), default)]
    pub sort_order: i32,
    /// ISO weekdays (1 = Monday … 7 = Sunday), distinct; omitted means
    /// every day.
    #[oai(validator(
        max_items = 7,
        unique_items,
        minimum(value = "1"),
        maximum(value = "7")
    ))]
    pub weekdays: Option<Vec<u8>>,
    /// A batch reaching this many orders (1 to 10000) locks at once.
    #[oai(validator(minimum(value = "1"), maximum(value = "10000")))]
    pub max_orders: Option<u32>,
}

fn default_true() -> bool {
    true
}

impl From<CreateSlotRequest> for SlotInput {
    fn from(b: CreateSlotRequest) -> Self {
        SlotInput {
            cutoff_minutes: b.cutoff_minutes,
            label: b.label.0,
            active: b.active,
            sort_order: b.sort_order,
            weekdays: b.weekdays,
            max_orders: b.max_orders,
        }
    }
}

/// Only the fields sent change; `weekdays: null` means every day again and
/// `max_orders: null` removes the limit. Existing batches never change.
#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct UpdateSlotRequest {
    #[oai(validator(minimum(value = "0"), maximum(value = "1439")))]
    pub cutoff_minutes: Option<u16>,
    #[oai(validator(max_length = 60))]
    pub label: Option<Text>,
    pub active: Option<bool>,
    #[oai(validator(minimum(value = "0"), maximum(value = "1000")))]
    pub sort_order: Option<i32>,
    #[oai(validator(
        max_items = 7,
        unique_items,
        minimum(value = "1"),
        maximum(value = "7")
    ))]
    pub weekdays: MaybeUndefined<Vec<u8>>,
    #[oai(validator(minimum(value = "1"), maximum(value = "10000")))]
    pub max_orders: MaybeUndefined<u32>,
}

fn maybe_value<T>(v: MaybeUndefined<T>) -> Option<Option<T>> {
    match v {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(t) => Some(Some(t)),
    }
}

impl From<UpdateSlotRequest> for SlotPatch {
    fn from(b: UpdateSlotRequest) -> Self {
        SlotPatch {
            cutoff_minutes: b.cutoff_minutes,
            label: b.label.map(Text::into_inner),
            active: b.active,
            sort_order: b.sort_order,
            weekdays: maybe_value(b.weekdays),
            max_orders: maybe_value(b.max_orders),
        }
    }
}

#[derive(Object)]
pub struct SlotView {
    pub id: String,
    pub shop_id: String,
    pub cutoff_minutes: u16,
    pub label: String,
    pub active: bool,
    pub sort_order: i32,
    pub weekdays: Option<Vec<u8>>,
    pub max_orders: Option<u32>,
    /// When this slot's next batch that still takes orders closes (a batch
    /// locked early or full is skipped, as checkout skips it); null for an
    /// inactive slot.
    pub next_cutoff_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

#[derive(ApiResponse)]
pub enum SlotCreated {
    #[oai(status = 201)]
    Created(Json<SlotView>),
}

// --- Announcements ---

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct CreateAnnouncementRequest {
    /// 1 to 100 characters.
    #[oai(validator(max_length = 100))]
    pub title: Text,
    /// 1 to 1000 characters.
    #[oai(validator(max_length = 1000))]
    pub message: Text,
    /// A product of this shop the announcement is about.
    #[oai(validator(max_length = 26))]
    pub product_id: Option<Text>,
    /// RFC 3339, in the future and within 365 days; omitted means it stays
    /// until deleted.
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Object)]
pub struct AnnouncementView {
    pub id: String,
    pub shop_id: String,
    pub title: String,
    pub message: String,
    pub product_id: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl From<Announcement> for AnnouncementView {
    fn from(a: Announcement) -> Self {
        AnnouncementView {
            id: a.id,
            shop_id: a.shop_id,
            title: a.title,
            message: a.message,
            product_id: a.product_id,
            expires_at: a.expires_at,
            created_at: a.created_at,
        }
    }
}

/// An announcement of one of your favourite shops.
#[derive(Object)]
pub struct FavoriteAnnouncementView {
    pub id: String,
    pub shop_id: String,
    pub shop_name: String,
    pub title: String,
    pub message: String,
    pub product_id: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

#[derive(ApiResponse)]
pub enum AnnouncementCreated {
    #[oai(status = 201)]
    Created(Json<AnnouncementView>),
}

impl CatalogApi {
    fn slot_view(&self, s: Slot) -> Result<SlotView, ApiError> {
        let tz = self.state.config.campus_tz().map_err(ApiError::internal)?;
        Ok(SlotView {
            next_cutoff_at: catalog::next_cutoff_at(&s, Utc::now(), tz),
            id: s.id,
            shop_id: s.shop_id,
            cutoff_minutes: s.cutoff_minutes,
            label: s.label,
            active: s.active,
            sort_order: s.sort_order,
            weekdays: s.weekdays,
            max_orders: s.max_orders,
            created_at: s.created_at,
        })
    }
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Shops")]
impl CatalogApi {
    /// Open your shop (one per user). It stays hidden from students until
    /// an admin verifies it.
    #[oai(path = "/shops", method = "post", operation_id = "createShop")]
    async fn create_shop(
        &self,
        req: &Request,
        auth: Auth,
        body: Json<CreateShopRequest>,
    ) -> Result<ShopCreated, ApiError> {
        let shop = catalog::create_shop(
            &self.state.store,
            &caller(&auth),
            body.0.into(),
            origin(req, Some(auth.user_id())),
        )
        .await?;
        Ok(ShopCreated::Created(Json(ShopView::new(shop, true))))
    }

    /// Verified, active shops. `favorites=true` (signed in) lists only yours.
    #[oai(path = "/shops", method = "get", operation_id = "listShops")]
    async fn list_shops(
        &self,
        auth: MaybeAuth,
        shop_type: Query<Option<ShopTypeView>>,
        /// Only shops that deliver to this building.
        #[oai(validator(max_length = 26))]
        building: Query<Option<String>>,
        favorites: Query<Option<bool>>,
        limit: Query<Limit>,
        cursor: Query<Cursor>,
    ) -> Result<Json<Page<ShopView>>, ApiError> {
        let favorites_of = if favorites.0 == Some(true) {
            let Some(c) = auth.caller() else {
                return Err(ApiError::Rule(Error::Unauthenticated(
                    "sign in to see your favourites".into(),
                )));
            };
            Some(c.id)
        } else {
            None
        };
        let shops = catalog::list_shops(
            &self.state.store,
            ShopFilter {
                shop_type: shop_type.0.map(Into::into),
                building: building.0,
                favorites_of,
            },
            page::request(limit.0, cursor.0),
        )
        .await?;
        Ok(Json(ShopView::public_page(shops)))
    }

    /// One shop. A shop students cannot see yet is shown to its owner,
    /// runners and admins only.
    #[oai(path = "/shops/:id", method = "get", operation_id = "getShop")]
    async fn get_shop(
        &self,
        auth: MaybeAuth,
        #[oai(validator(max_length = 26))] id: Path<String>,
    ) -> Result<Json<ShopView>, ApiError> {
        let (shop, access) = catalog::get_shop(&self.state.store, auth.caller(), id.0).await?;
        Ok(Json(ShopView::new(shop, access.private())))
    }

    /// Your own shop, with its verification status and note.
    #[oai(path = "/me/shop", method = "get", operation_id = "getMyShop")]
    async fn my_shop(&self, auth: Auth) -> Result<Json<ShopView>, ApiError> {
        let shop = catalog::my_shop(&self.state.store, auth.user_id().to_string()).await?;
        Ok(Json(ShopView::new(shop, true)))
    }

    /// Change a shop (owner or admin); only the fields sent change. With
    /// `If-Match: <version>` (the `version` the change was made from) a shop
    /// changed since is refused with 412 and left as it is.
    #[oai(path = "/shops/:id", method = "patch", operation_id = "updateShop")]
    async fn update_shop(
        &self,
        req: &Request,
        auth: Auth,
        #[oai(validator(max_length = 26))] id: Path<String>,
        #[oai(name = "If-Match", validator(max_length = 40))] if_match: Header<Option<String>>,
        body: Json<UpdateShopRequest>,
    ) -> Result<Json<ShopView>, ApiError> {
        let shop = catalog::update_shop(
            &self.state.store,
            caller(&auth),
            id.0,
            body.0.into(),
            version_of(if_match.0),
            origin(req, Some(auth.user_id())),
        )
        .await?;
        Ok(Json(ShopView::new(shop, true)))
    }

    /// Delete a shop (owner or admin). Refused while any of its orders is
    /// unfinished; its orders keep their history. An admin's optional
    /// `reason` is told to the owner and kept in the audit log.
    #[oai(path = "/shops/:id", method = "delete", operation_id = "deleteShop")]
    async fn delete_shop(
        &self,
        req: &Request,
        auth: Auth,
        #[oai(validator(max_length = 26))] id: Path<String>,
        body: OptionalJson<ReasonRequest>,
    ) -> Result<NoContent, ApiError> {
        let raw = body.0.and_then(|b| b.reason).map(Text::into_inner);
        let reason = crate::admin::parse_reason(raw.as_deref())?;
        catalog::delete_shop(
            &self.state.store,
            caller(&auth),
            id.0,
            reason,
            origin(req, Some(auth.user_id())),
        )
        .await?;
        Ok(NoContent::Done)
    }

    /// Submit your shop for verification, or resubmit it after an admin
    /// asked for changes. The shop needs at least one product, one active
    /// batch slot and a UPI id first; a 409 names what is missing.
    #[oai(
        path = "/shops/:id/verification",
        method = "post",
        operation_id = "submitShopVerification"
    )]
    async fn submit_verification(
        &self,
        req: &Request,
        auth: Auth,
        #[oai(validator(max_length = 26))] id: Path<String>,
    ) -> Result<Json<ShopView>, ApiError> {
        let shop = catalog::submit_verification(
            &self.state.store,
            caller(&auth),
            id.0,
            origin(req, Some(auth.user_id())),
        )
        .await?;
        Ok(Json(ShopView::new(shop, true)))
    }

    /// Campus shops (not deleted), optionally by verification status (e.g.
    /// `PENDING`, the queue) and text, oldest change first, with their owners.
    #[oai(
        path = "/admin/shops",
        method = "get",
        operation_id = "listShopsForReview",
        tag = "ApiTags::Admin"
    )]
    async fn admin_list_shops(
        &self,
        auth: Auth,
        verification: Query<Option<VerificationView>>,
        /// Case-insensitive substring of the shop's name or its owner's
        /// name or email.
        #[oai(validator(max_length = 100))]
        q: Query<Option<String>>,
        limit: Query<Limit>,
        cursor: Query<Cursor>,
    ) -> Result<Json<Page<AdminShopView>>, ApiError> {
        auth.require_admin()?;
        let rows = catalog::admin_list_shops(
            &self.state.store,
            verification.0.map(Into::into),
            q.0,
            page::request(limit.0, cursor.0),
        )
        .await?;
        Ok(Json(Page::of(rows, |(shop, owner)| AdminShopView {
            owner_id: shop.owner_id.clone(),
            owner_name: owner.as_ref().map(|u| u.name.clone()),
            owner_email: owner.map(|u| u.email),
            shop: ShopView::new(shop, true),
        })))
    }

    /// Decide a pending shop: send the `verification` it will have
    /// (`VERIFIED`, `REQUIRES_ACTION` or `REJECTED`). The owner is notified
    /// and the decision is audited.
    #[oai(
        path = "/admin/shops/:id/decision",
        method = "post",
        operation_id = "decideShopVerification",
        tag = "ApiTags::Admin"
    )]
    async fn decide(
        &self,
        req: &Request,
        auth: Auth,
        #[oai(validator(max_length = 26))] id: Path<String>,
        body: Json<DecisionRequest>,
    ) -> Result<Json<ShopView>, ApiError> {
        auth.require_admin()?;
        let shop = catalog::decide(
            &self.state.store,
            caller(&auth),
            id.0,
            body.0.verification.into(),
            body.0.note.0,
            origin(req, Some(auth.user_id())),
        )
        .await?;
        Ok(Json(ShopView::new(shop, true)))
    }

    /// The shop's runners (owner or admin).
    #[oai(
        path = "/shops/:id/staff",
        method = "get",
        operation_id = "listShopStaff"
    )]
    async fn list_staff(
        &self,
        auth: Auth,
        #[oai(validator(max_length = 26))] id: Path<String>,
        limit: Query<Limit>,
        cursor: Query<Cursor>,
    ) -> Result<Json<Page<StaffView>>, ApiError> {
        let users = catalog::list_staff(
            &self.state.store,
            caller(&auth),
            id.0,
            page::request(limit.0, cursor.0),
        )
        .await?;
        Ok(Json(Page::of(users, Into::into)))
    }

    /// Invite a runner by email (owner of a verified shop). The answer is
    /// the same whether or not the address has an account.
    #[oai(
        path = "/shops/:id/staff",
        method = "post",
        operation_id = "addShopStaff"
    )]
    async fn add_staff(
        &self,
        req: &Request,
        auth: Auth,
        #[oai(validator(max_length = 26))] id: Path<String>,
        body: Json<AddStaffRequest>,
    ) -> Result<StaffInvited, ApiError> {
        let invite = catalog::invite_staff(
            &self.state.store,
            caller(&auth),
            id.0,
            body.0.email.0,
            origin(req, Some(auth.user_id())),
        )
        .await?;
        Ok(StaffInvited::Accepted(Json(invite.into())))
    }

    /// The shop's pending runner invitations (owner or admin).
    #[oai(
        path = "/shops/:id/staff/invites",
        method = "get",
        operation_id = "listShopInvites"
    )]
    async fn list_invites(
        &self,
        auth: Auth,
        #[oai(validator(max_length = 26))] id: Path<String>,
        limit: Query<Limit>,
        cursor: Query<Cursor>,
    ) -> Result<Json<Page<StaffInviteView>>, ApiError> {
        let list = catalog::list_invites(
            &self.state.store,
            caller(&auth),
            id.0,
            page::request(limit.0, cursor.0),
        )
        .await?;
        Ok(Json(Page::of(list, Into::into)))
    }

    /// Invitations to run for a shop, sent to the caller's address.
    #[oai(
        path = "/me/invitations",
        method = "get",
        operation_id = "listMyInvitations"
    )]
    async fn my_invitations(
        &self,
        auth: Auth,
        limit: Query<Limit>,
        cursor: Query<Cursor>,
    ) -> Result<Json<Page<MyInviteView>>, ApiError> {
        let list = catalog::my_invites(
            &self.state.store,
            auth.user_id().to_string(),
            page::request(limit.0, cursor.0),
        )
        .await?;
        Ok(Json(Page::of(list, |i| MyInviteView {
            shop_id: i.shop_id,
            shop_name: i.shop_name,
            invited_at: i.invited_at,
        })))
    }

    /// Accept an invitation: the caller becomes one of the shop's runners
    /// (needs a confirmed email address).
    #[oai(
        path = "/me/invitations/:shop_id/accept",
        method = "post",
        operation_id = "acceptInvitation"
    )]
    async fn accept_invitation(
        &self,
        req: &Request,
        auth: Auth,
        #[oai(validator(max_length = 26))] shop_id: Path<String>,
    ) -> Result<NoContent, ApiError> {
        self.answer_invitation(req, &auth, shop_id.0, true).await
    }

    /// Decline an invitation.
    #[oai(
        path = "/me/invitations/:shop_id",
        method = "delete",
        operation_id = "declineInvitation"
    )]
    async fn decline_invitation(
        &self,
        req: &Request,
        auth: Auth,
        #[oai(validator(max_length = 26))] shop_id: Path<String>,
    ) -> Result<NoContent, ApiError> {
        self.answer_invitation(req, &auth, shop_id.0, false).await
    }

    /// Remove a runner (owner only).
    #[oai(
        path = "/shops/:id/staff/:user_id",
        method = "delete",
        operation_id = "removeShopStaff"
    )]
    async fn remove_staff(
        &self,
        req: &Request,
        auth: Auth,
        #[oai(validator(max_length = 26))] id: Path<String>,
        #[oai(validator(max_length = 26))] user_id: Path<String>,
    ) -> Result<NoContent, ApiError> {
        catalog::remove_staff(
            &self.state.store,
            caller(&auth),
            id.0,
            user_id.0,
            origin(req, Some(auth.user_id())),
        )
        .await?;
        Ok(NoContent::Done)
    }

    /// Add a product (owner only).
    #[oai(
        path = "/shops/:id/products",
        method = "post",
        operation_id = "createProduct"
    )]
    async fn create_product(
        &self,
        auth: Auth,
        #[oai(validator(max_length = 26))] id: Path<String>,
        body: Json<CreateProductRequest>,
    ) -> Result<ProductCreated, ApiError> {
        let p =
            catalog::create_product(&self.state.store, caller(&auth), id.0, body.0.into()).await?;
        Ok(ProductCreated::Created(Json(p.into())))
    }

    /// A shop's products, in the order they were added.
    #[oai(
        path = "/shops/:id/products",
        method = "get",
        operation_id = "listShopProducts"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn list_products(
        &self,
        auth: MaybeAuth,
        #[oai(validator(max_length = 26))] id: Path<String>,
        /// Only this category.
        #[oai(validator(max_length = 26))]
        category: Query<Option<String>>,
        /// true: only vegetarian; false: only non-vegetarian.
        veg: Query<Option<bool>>,
        /// true: only in stock; false: only sold out.
        in_stock: Query<Option<bool>>,
        limit: Query<Limit>,
        cursor: Query<Cursor>,
    ) -> Result<EncodedJson<Page<ProductView>>, ApiError> {
        // The page of a public shop is the same for every caller, so it
        // is encoded once per store generation (see `http::cache`), keyed
        // by everything that chooses the page.
        let key = format!(
            "{}|{:?}|{:?}|{:?}|{}|{:?}",
            id.0, category.0, veg.0, in_stock.0, limit.0.0, cursor.0.0
        );
        let generation = self.state.store.generation();
        if let Some(body) = self.pages.get(&key, generation) {
            return Ok(EncodedJson::from_bytes(body));
        }
        let (products, public) = catalog::list_products(
            &self.state.store,
            auth.caller(),
            id.0,
            ProductFilter {
                category: category.0,
                veg: veg.0,
                in_stock: in_stock.0,
            },
            page::request(limit.0, cursor.0),
        )
        .await?;
        let page = EncodedJson::encode(&Page::of(products, ProductView::from));
        if public {
            self.pages.put(key, generation, page.bytes());
        }
        Ok(page)
    }

    /// One product.
    #[oai(path = "/products/:id", method = "get", operation_id = "getProduct")]
    async fn get_product(
        &self,
        auth: MaybeAuth,
        #[oai(validator(max_length = 26))] id: Path<String>,
    ) -> Result<Json<ProductView>, ApiError> {
        let caller = auth.caller();
        let p = catalog::get_product(&self.state.store, caller.clone(), id.0).await?;
        let watching = match caller {
            Some(c) => {
                let pid = p.id.clone();
                Some(
                    self.state
                        .store
                        .read(move |txn| catalog::is_watching(txn, &pid, &c.id))
                        .await?,
                )
            }
            None => None,
        };
        let mut view = ProductView::from(p);
        view.watching = watching;
        Ok(Json(view))
    }

    /// Change a product (owner only); only the fields sent change. With
    /// `If-Match: <version>` (the `version` the change was made from) a
    /// product changed since — a restock, a sale — is refused with 412 and
    /// left as it is.
    #[oai(
        path = "/products/:id",
        method = "patch",
        operation_id = "updateProduct"
    )]
    async fn update_product(
        &self,
        auth: Auth,
        #[oai(validator(max_length = 26))] id: Path<String>,
        #[oai(name = "If-Match", validator(max_length = 40))] if_match: Header<Option<String>>,
        body: Json<UpdateProductRequest>,
    ) -> Result<Json<ProductView>, ApiError> {
        let (store, who) = (&self.state.store, caller(&auth));
        let p = catalog::update_product(store, who, id.0, body.0.into(), version_of(if_match.0))
            .await?;
        Ok(Json(p.into()))
    }

    /// Delete a product (owner, or an admin moderating). Orders keep their
    /// snapshots.
    #[oai(
        path = "/products/:id",
        method = "delete",
        operation_id = "deleteProduct"
    )]
    async fn delete_product(
        &self,
        req: &Request,
        auth: Auth,
        #[oai(validator(max_length = 26))] id: Path<String>,
    ) -> Result<NoContent, ApiError> {
        catalog::delete_product(
            &self.state.store,
            caller(&auth),
            id.0,
            origin(req, Some(auth.user_id())),
        )
        .await?;
        Ok(NoContent::Done)
    }

    /// A shop's batch slots; students see the active ones.
    #[oai(
        path = "/shops/:id/slots",
        method = "get",
        operation_id = "listShopSlots"
    )]
    async fn list_slots(
        &self,
        auth: MaybeAuth,
        #[oai(validator(max_length = 26))] id: Path<String>,
        limit: Query<Limit>,
        cursor: Query<Cursor>,
    ) -> Result<Json<Page<SlotView>>, ApiError> {
        let tz = self.state.config.campus_tz().map_err(ApiError::internal)?;
        let slots = catalog::list_slots(
            &self.state.store,
            auth.caller(),
            id.0,
            page::request(limit.0, cursor.0),
            Utc::now(),
            tz,
        )
        .await?
        .try_map(|(s, next)| {
            self.slot_view(s).map(|v| SlotView {
                next_cutoff_at: next,
                ..v
            })
        })?;
        Ok(Json(Page::of(slots, |s| s)))
    }

    /// Add a batch slot (owner only).
    #[oai(
        path = "/shops/:id/slots",
        method = "post",
        operation_id = "createSlot"
    )]
    async fn create_slot(
        &self,
        auth: Auth,
        #[oai(validator(max_length = 26))] id: Path<String>,
        body: Json<CreateSlotRequest>,
    ) -> Result<SlotCreated, ApiError> {
        let s = catalog::create_slot(&self.state.store, caller(&auth), id.0, body.0.into()).await?;
        Ok(SlotCreated::Created(Json(self.slot_view(s)?)))
    }

    /// Change a slot (owner only). Batches already made keep their cutoff.
    #[oai(path = "/slots/:id", method = "patch", operation_id = "updateSlot")]
    async fn update_slot(
        &self,
        auth: Auth,
        #[oai(validator(max_length = 26))] id: Path<String>,
        body: Json<UpdateSlotRequest>,
    ) -> Result<Json<SlotView>, ApiError> {
        let s = catalog::update_slot(&self.state.store, caller(&auth), id.0, body.0.into()).await?;
        Ok(Json(self.slot_view(s)?))
    }

    /// Delete a slot (owner only). Batches already made are unaffected.
    #[oai(path = "/slots/:id", method = "delete", operation_id = "deleteSlot")]
    async fn delete_slot(
        &self,
        auth: Auth,
        #[oai(validator(max_length = 26))] id: Path<String>,
    ) -> Result<NoContent, ApiError> {
        catalog::delete_slot(&self.state.store, caller(&auth), id.0).await?;
        Ok(NoContent::Done)
    }

    /// Your favourite shops that students can currently see.
    #[oai(path = "/me/favorites", method = "get", operation_id = "listFavorites")]
    async fn list_favorites(
        &self,
        auth: Auth,
        limit: Query<Limit>,
        cursor: Query<Cursor>,
    ) -> Result<Json<Page<ShopView>>, ApiError> {
        let shops = catalog::list_shops(
            &self.state.store,
            ShopFilter {
                favorites_of: Some(auth.user_id().to_string()),
                ..Default::default()
            },
            page::request(limit.0, cursor.0),
        )
        .await?;
        Ok(Json(ShopView::public_page(shops)))
    }

    /// Favourite a shop.
    #[oai(
        path = "/me/favorites/:shop_id",
        method = "put",
        operation_id = "addFavorite"
    )]
    async fn add_favorite(
        &self,
        auth: Auth,
        #[oai(validator(max_length = 26))] shop_id: Path<String>,
    ) -> Result<NoContent, ApiError> {
        catalog::add_favorite(&self.state.store, auth.user_id().to_string(), shop_id.0).await?;
        Ok(NoContent::Done)
    }

    /// Stop favouriting a shop.
    #[oai(
        path = "/me/favorites/:shop_id",
        method = "delete",
        operation_id = "removeFavorite"
    )]
    async fn remove_favorite(
        &self,
        auth: Auth,
        #[oai(validator(max_length = 26))] shop_id: Path<String>,
    ) -> Result<NoContent, ApiError> {
        catalog::remove_favorite(&self.state.store, auth.user_id().to_string(), shop_id.0).await?;
        Ok(NoContent::Done)
    }

    /// The current announcements of your favourite shops, newest first:
    /// at most 20 from each of at most 200 shops.
    #[oai(
        path = "/me/announcements",
        method = "get",
        operation_id = "listFavoriteAnnouncements"
    )]
    async fn list_favorite_announcements(
        &self,
        auth: Auth,
        limit: Query<Limit>,
        cursor: Query<Cursor>,
    ) -> Result<Json<Page<FavoriteAnnouncementView>>, ApiError> {
        let list = catalog::favorite_announcements(
            &self.state.store,
            auth.user_id().to_string(),
            page::request(limit.0, cursor.0),
        )
        .await?;
        Ok(Json(Page::of(list, |(a, shop_name)| {
            FavoriteAnnouncementView {
                id: a.id,
                shop_id: a.shop_id,
                shop_name,
                title: a.title,
                message: a.message,
                product_id: a.product_id,
                expires_at: a.expires_at,
                created_at: a.created_at,
            }
        })))
    }

    /// Post an announcement (owner only).
    #[oai(
        path = "/shops/:id/announcements",
        method = "post",
        operation_id = "createAnnouncement"
    )]
    async fn create_announcement(
        &self,
        auth: Auth,
        #[oai(validator(max_length = 26))] id: Path<String>,
        body: Json<CreateAnnouncementRequest>,
    ) -> Result<AnnouncementCreated, ApiError> {
        let b = body.0;
        let a = catalog::create_announcement(
            &self.state.store,
            caller(&auth),
            id.0,
            AnnouncementInput {
                title: b.title.0,
                message: b.message.0,
                product_id: b.product_id.map(Text::into_inner),
                expires_at: b.expires_at,
            },
        )
        .await?;
        Ok(AnnouncementCreated::Created(Json(a.into())))
    }

    /// A shop's current announcements, newest first.
    #[oai(
        path = "/shops/:id/announcements",
        method = "get",
        operation_id = "listShopAnnouncements"
    )]
    async fn list_announcements(
        &self,
        auth: MaybeAuth,
        #[oai(validator(max_length = 26))] id: Path<String>,
        limit: Query<Limit>,
        cursor: Query<Cursor>,
    ) -> Result<Json<Page<AnnouncementView>>, ApiError> {
        let list = catalog::list_announcements(
            &self.state.store,
            auth.caller(),
            id.0,
            page::request(limit.0, cursor.0),
        )
        .await?;
        Ok(Json(Page::of(list, Into::into)))
    }

    /// Delete an announcement (owner, or an admin moderating).
    #[oai(
        path = "/announcements/:id",
        method = "delete",
        operation_id = "deleteAnnouncement"
    )]
    async fn delete_announcement(
        &self,
        req: &Request,
        auth: Auth,
        #[oai(validator(max_length = 26))] id: Path<String>,
    ) -> Result<NoContent, ApiError> {
        catalog::delete_announcement(
            &self.state.store,
            caller(&auth),
            id.0,
            origin(req, Some(auth.user_id())),
        )
        .await?;
        Ok(NoContent::Done)
    }
}
