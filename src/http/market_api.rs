//! Addresses, carts, checkout, orders, reviews and stock watches.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use poem::Request;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};

use super::auth_api::NoContent;
use super::error::ApiError;
use super::extract::{Auth, IdempotencyKey};
use super::page::{self, Cursor, Limit, Page};
use super::types::{BoundedList, Text, mirror_enum};
use super::{ApiTags, origin};
use crate::app::AppState;
use crate::domain::FieldError;
use crate::domain::catalog::{Address, AddressSnapshot, Review};
use crate::domain::order::{
    MAX_LINES, Order, OrderItem, OrderStatus, PaymentMethod, PaymentStatus, normalize_lines,
};
use crate::domain::order_filter::OrderFilter;
use crate::error::Error;
use crate::market::orders::{Checkout, Delivery, Placed, Relation};
use crate::market::{self, addresses, carts, orders, reviews};

pub struct MarketApi {
    pub state: Arc<AppState>,
}

mirror_enum!(OrderStatusView, OrderStatus, { New, Batched, OutForDelivery, Completed, DeliveryFailed, Cancelled, Rescheduled });
mirror_enum!(PaymentMethodView, PaymentMethod, { Cash, Upi });
mirror_enum!(PaymentStatusView, PaymentStatus, { Pending, Paid });

// ---------- addresses ----------

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct AddressRequest {
    /// e.g. "Room", "Lab". 1–40 characters.
    #[oai(validator(max_length = 40))]
    pub label: Option<Text>,
    #[oai(validator(max_length = 26))]
    pub building_id: Option<Text>,
    /// 1–20 characters.
    #[oai(validator(max_length = 20))]
    pub room: Option<Text>,
    #[oai(validator(max_length = 200))]
    pub notes: Option<Text>,
    pub default: Option<bool>,
}

impl AddressRequest {
    fn input(self) -> addresses::AddressInput {
        addresses::AddressInput {
            label: self.label.map(Text::into_inner),
            building_id: self.building_id.map(Text::into_inner),
            room: self.room.map(Text::into_inner),
            notes: self.notes.map(Text::into_inner),
            is_default: self.default,
        }
    }
}

#[derive(Object)]
pub struct AddressView {
    pub id: String,
    pub label: String,
    pub building_id: String,
    pub room: String,
    pub notes: String,
    pub default: bool,
    pub created_at: DateTime<Utc>,
}

impl From<Address> for AddressView {
    fn from(a: Address) -> Self {
        Self {
            id: a.id,
            label: a.label,
            building_id: a.building_id,
            room: a.room,
            notes: a.notes,
            default: a.is_default,
            created_at: a.created_at,
        }
    }
}

#[derive(ApiResponse)]
pub enum AddressCreated {
    #[oai(status = 201)]
    Created(Json<AddressView>),
}

// ---------- carts ----------

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct LineRequest {
    #[oai(validator(max_length = 26))]
    pub product_id: Text,
    /// 1–99.
    pub quantity: i64,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct CartRequest {
    /// The whole cart; an empty list empties it. At most 50 products.
    pub items: BoundedList<LineRequest, MAX_LINES>,
}

#[derive(Object)]
pub struct CartLineView {
    pub product_id: String,
    pub name: String,
    pub unit_price: i64,
    pub quantity: u32,
    pub line_total: i64,
    pub stock: u32,
    /// False when the product is sold out below this quantity or no longer sold.
    pub available: bool,
}

#[derive(Object)]
pub struct CartView {
    pub shop_id: String,
    pub items: Vec<CartLineView>,
    pub item_total: i64,
    pub updated_at: Option<DateTime<Utc>>,
}

#[derive(Object)]
pub struct ReorderView {
    pub cart: CartView,
    /// Ids of the old order's products that could not be added (sold out
    /// or gone); the order's items name them.
    pub skipped: Vec<String>,
}

fn lines(items: &[LineRequest]) -> Vec<(String, i64)> {
    items
        .iter()
        .map(|l| (l.product_id.0.clone(), l.quantity))
        .collect()
}

fn cart_view(
    txn: &redb::ReadTransaction,
    shop_id: &str,
    cart: Option<&carts::Cart>,
) -> Result<CartView, ApiError> {
    let Some(cart) = cart else {
        return Ok(CartView {
            shop_id: shop_id.to_string(),
            items: vec![],
            item_total: 0,
            updated_at: None,
        });
    };
    let priced = carts::price(txn, cart)?;
    let items: Vec<CartLineView> = priced
        .into_iter()
        .map(|l| CartLineView {
            product_id: l.product.id.clone(),
            name: l.product.name.clone(),
            unit_price: l.product.unit_price(),
            quantity: l.quantity,
            line_total: l.product.unit_price() * l.quantity as i64,
            stock: l.product.stock,
            available: l.available,
        })
        .collect();
    Ok(CartView {
        shop_id: shop_id.to_string(),
        item_total: items.iter().map(|i| i.line_total).sum(),
        items,
        updated_at: Some(cart.updated_at),
    })
}

// ---------- orders ----------

#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[oai(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DeliveryView {
    /// The next batch that takes orders; direct delivery when there is none.
    Auto,
    /// The batch named by `slot_id` and `cutoff_at`.
    Batch,
    /// Skip batching (only where the shop offers it, for its direct fee).
    Direct,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct CheckoutRequest {
    #[oai(validator(max_length = 26))]
    pub shop_id: Text,
    /// 1–50 products, quantities 1–99.
    pub items: BoundedList<LineRequest, MAX_LINES>,
    #[oai(validator(max_length = 26))]
    pub address_id: Text,
    pub payment_method: PaymentMethodView,
    #[oai(validator(max_length = 500))]
    pub notes: Option<Text>,
    pub delivery: Option<DeliveryView>,
    #[oai(validator(max_length = 26))]
    pub slot_id: Option<Text>,
    pub cutoff_at: Option<DateTime<Utc>>,
    /// The total the student was shown (minor units). When prices or fees
    /// moved since, the order is refused with 409 naming the new ones.
    #[oai(validator(minimum(value = "0"), maximum(value = "100000000")))]
    pub expected_total: Option<i64>,
}

#[derive(Object)]
pub struct OrderItemView {
    pub product_id: String,
    pub name: String,
    pub unit_price: i64,
    pub quantity: u32,
    pub line_total: i64,
}

#[derive(Object)]
pub struct AddressSnapshotView {
    pub label: String,
    pub building_id: String,
    pub building_name: String,
    pub room: String,
    pub notes: String,
}

#[derive(Object)]
pub struct TransitionView {
    pub status: OrderStatusView,
    pub at: DateTime<Utc>,
    pub note: Option<String>,
}

#[derive(Object)]
pub struct OrderView {
    pub id: String,
    /// Short, read-aloud id such as `UP-7K3Q9`.
    pub display_id: String,
    pub shop_id: String,
    /// Absent for a direct delivery.
    pub batch_id: Option<String>,
    pub cutoff_at: Option<DateTime<Utc>>,
    pub items: Vec<OrderItemView>,
    pub item_total: i64,
    pub delivery_fee: i64,
    pub platform_fee: i64,
    pub total: i64,
    pub payment_method: PaymentMethodView,
    pub payment_status: PaymentStatusView,
    pub status: OrderStatusView,
    pub address: AddressSnapshotView,
    pub notes: String,
    /// The delivery OTP: only in the ordering student's own view, once the
    /// batch has locked. Read it aloud only after receiving the items.
    pub otp: Option<String>,
    /// Wrong OTP tries so far (never reset); at `batch.otp_max_attempts`
    /// the order is locked until an admin settles it.
    pub otp_failures: u8,
    /// New OTPs made so far (the shop's owner may make two).
    pub otp_regenerations: u8,
    pub cancellation_reason: Option<String>,
    pub failure_reason: Option<String>,
    pub transitions: Vec<TransitionView>,
    pub created_at: DateTime<Utc>,
    /// Who ordered, for the shop's owner, its runners and admins (whom to
    /// ask for at the door); absent in the student's own view.
    pub student: Option<OrderStudentView>,
    /// How far the runner got while the order is out for delivery; read
    /// with the order in `GET /orders/{id}` only.
    pub milestone: Option<super::batch_api::MilestoneView>,
    /// The products of this order its student has reviewed; in the
    /// student's own `GET /orders/{id}` only.
    pub reviewed: Option<Vec<String>>,
}

/// The student of an order, as the shop's people see them.
#[derive(Object)]
pub struct OrderStudentView {
    pub name: String,
    /// As the student gave it; absent when they did not.
    pub phone: Option<String>,
}

impl From<orders::Student> for OrderStudentView {
    fn from(s: orders::Student) -> Self {
        OrderStudentView {
            name: s.name,
            phone: s.phone,
        }
    }
}

/// An order as the shop's people and admins see it: no OTP, with its
/// student.
pub fn staff_order_view(o: Order, student: orders::Student) -> OrderView {
    OrderView {
        student: Some(student.into()),
        ..order_view(o, false)
    }
}

/// `staff_order_view` for an order just changed by a write: its student
/// is read afterwards.
pub async fn staff_order_view_of(state: &AppState, o: Order) -> Result<OrderView, ApiError> {
    let uid = o.user_id.clone();
    let student = state
        .store
        .read(move |txn| orders::student_of(&txn.open_table(crate::store::tables::USERS)?, &uid))
        .await?;
    Ok(staff_order_view(o, student))
}

fn item_view(i: OrderItem) -> OrderItemView {
    OrderItemView {
        product_id: i.product_id,
        name: i.name,
        unit_price: i.unit_price,
        quantity: i.quantity,
        line_total: i.line_total,
    }
}

fn address_view(a: AddressSnapshot) -> AddressSnapshotView {
    AddressSnapshotView {
        label: a.label,
        building_id: a.building_id,
        building_name: a.building_name,
        room: a.room,
        notes: a.notes,
    }
}

/// The one place an order becomes a response: the OTP is kept only for the
/// order's own student.
pub fn order_view(o: Order, for_student: bool) -> OrderView {
    OrderView {
        otp: if for_student { o.otp } else { None },
        otp_failures: o.otp_failures,
        otp_regenerations: o.otp_regenerations,
        id: o.id,
        display_id: o.display_id,
        shop_id: o.shop_id,
        batch_id: o.batch_id,
        cutoff_at: o.cutoff_at,
        items: o.items.into_iter().map(item_view).collect(),
        item_total: o.item_total,
        delivery_fee: o.delivery_fee,
        platform_fee: o.platform_fee,
        total: o.total,
        payment_method: o.payment_method.into(),
        payment_status: o.payment_status.into(),
        status: o.status.into(),
        address: address_view(o.address),
        notes: o.notes,
        cancellation_reason: o.cancellation_reason,
        failure_reason: o.failure_reason,
        transitions: o
            .transitions
            .into_iter()
            .map(|t| TransitionView {
                status: t.status.into(),
                at: t.at,
                note: t.note,
            })
            .collect(),
        created_at: o.created_at,
        student: None,
        milestone: None,
        reviewed: None,
    }
}

#[derive(ApiResponse)]
pub enum CheckoutResponse {
    /// The order was placed.
    #[oai(status = 201)]
    Created(Json<OrderView>),
    /// This `Idempotency-Key` was already used with the same body: the
    /// original order, nothing placed twice.
    #[oai(status = 200)]
    Replayed(
        Json<OrderView>,
        #[oai(header = "Idempotent-Replayed")] String,
    ),
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct CancelRequest {
    /// Required when the shop or an admin cancels. 1–500 characters.
    #[oai(validator(max_length = 500))]
    pub reason: Option<Text>,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct ReviewRequest {
    #[oai(validator(max_length = 26))]
    pub product_id: Text,
    /// 1–5.
    pub rating: i64,
    #[oai(validator(max_length = 1000))]
    pub comment: Option<Text>,
}

#[derive(Object)]
pub struct ReviewView {
    pub id: String,
    pub product_id: String,
    pub rating: u8,
    pub comment: String,
    pub created_at: DateTime<Utc>,
}

impl From<Review> for ReviewView {
    fn from(r: Review) -> Self {
        Self {
            id: r.id,
            product_id: r.product_id,
            rating: r.rating,
            comment: r.comment,
            created_at: r.created_at,
        }
    }
}

#[derive(ApiResponse)]
pub enum ReviewCreated {
    #[oai(status = 201)]
    Created(Json<ReviewView>),
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct OverrideRequest {
    pub status: OrderStatusView,
    /// Why; kept in the audit log. 1–500 characters.
    #[oai(validator(max_length = 500))]
    pub reason: Text,
}

fn required_text(
    field: &'static str,
    t: Option<Text>,
    max: usize,
) -> Result<Option<String>, ApiError> {
    match t {
        None => Ok(None),
        Some(t) => Ok(Some(crate::domain::bounded_text(
            field, &t.0, 1, max, true,
        )?)),
    }
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Orders")]
impl MarketApi {
    /// Your delivery addresses.
    #[oai(path = "/me/addresses", method = "get", operation_id = "listAddresses")]
    async fn list_addresses(&self, auth: Auth) -> Result<Json<Vec<AddressView>>, ApiError> {
        let uid = auth.user_id().to_string();
        let list = self
            .state
            .store
            .read(move |txn| Ok::<_, ApiError>(addresses::list(txn, &uid)?))
            .await?;
        Ok(Json(list.into_iter().map(Into::into).collect()))
    }

    /// Add an address (at most 20). The first one becomes the default.
    #[oai(
        path = "/me/addresses",
        method = "post",
        operation_id = "createAddress"
    )]
    async fn create_address(
        &self,
        auth: Auth,
        body: Json<AddressRequest>,
    ) -> Result<AddressCreated, ApiError> {
        let uid = auth.user_id().to_string();
        let input = body.0.input();
        let a = self
            .state
            .store
            .write(move |txn| addresses::create(txn, &uid, &input))
            .await?;
        Ok(AddressCreated::Created(Json(a.into())))
    }

    /// Change an address. Orders already placed keep their snapshot.
    #[oai(
        path = "/me/addresses/:id",
        method = "patch",
        operation_id = "updateAddress"
    )]
    async fn update_address(
        &self,
        auth: Auth,
        #[oai(validator(max_length = 26))] id: Path<String>,
        body: Json<AddressRequest>,
    ) -> Result<Json<AddressView>, ApiError> {
        let uid = auth.user_id().to_string();
        let input = body.0.input();
        let a = self
            .state
            .store
            .write(move |txn| addresses::update(txn, &uid, &id.0, &input))
            .await?;
        Ok(Json(a.into()))
    }

    /// Delete an address.
    #[oai(
        path = "/me/addresses/:id",
        method = "delete",
        operation_id = "deleteAddress"
    )]
    async fn delete_address(
        &self,
        auth: Auth,
        #[oai(validator(max_length = 26))] id: Path<String>,
    ) -> Result<NoContent, ApiError> {
        let uid = auth.user_id().to_string();
        self.state
            .store
            .write(move |txn| addresses::delete(txn, &uid, &id.0))
            .await?;
        Ok(NoContent::Done)
    }

    /// Your non-empty carts, one per shop, by shop id.
    #[oai(path = "/cart", method = "get", operation_id = "listCarts")]
    async fn list_carts(
        &self,
        auth: Auth,
        limit: Query<Limit>,
        cursor: Query<Cursor>,
    ) -> Result<Json<Page<CartView>>, ApiError> {
        let uid = auth.user_id().to_string();
        let req = page::request(limit.0, cursor.0);
        let v = self
            .state
            .store
            .read(move |txn| {
                carts::list_for_user(txn, &uid, &req)?
                    .try_map(|c| cart_view(txn, &c.shop_id, Some(&c)))
            })
            .await?;
        Ok(Json(Page::of(v, |c| c)))
    }

    /// Your cart at a shop, with current prices and availability.
    #[oai(path = "/cart/:shop_id", method = "get", operation_id = "getCart")]
    async fn get_cart(
        &self,
        auth: Auth,
        #[oai(validator(max_length = 26))] shop_id: Path<String>,
    ) -> Result<Json<CartView>, ApiError> {
        let uid = auth.user_id().to_string();
        let admin = auth.is_admin();
        let v = self
            .state
            .store
            .read(move |txn| {
                market::visible_shop(txn, &shop_id.0, Some(&uid), admin)?;
                let cart = carts::read(txn, &uid, &shop_id.0)?;
                cart_view(txn, &shop_id.0, cart.as_ref())
            })
            .await?;
        Ok(Json(v))
    }

    /// Replace your cart at a shop. Deleted or other shops' products are refused.
    #[oai(path = "/cart/:shop_id", method = "put", operation_id = "replaceCart")]
    async fn put_cart(
        &self,
        auth: Auth,
        #[oai(validator(max_length = 26))] shop_id: Path<String>,
        body: Json<CartRequest>,
    ) -> Result<Json<CartView>, ApiError> {
        let uid = auth.user_id().to_string();
        let raw = lines(&body.0.items.0);
        let sid = shop_id.0.clone();
        self.state
            .store
            .write(move |txn| {
                let shop = crate::market::orders::public_shop(txn, &sid)?;
                carts::replace(txn, &uid, &shop, &raw)
            })
            .await?;
        self.get_cart(auth, shop_id).await
    }

    /// Empty your cart at a shop.
    #[oai(path = "/cart/:shop_id", method = "delete", operation_id = "emptyCart")]
    async fn delete_cart(
        &self,
        auth: Auth,
        #[oai(validator(max_length = 26))] shop_id: Path<String>,
    ) -> Result<NoContent, ApiError> {
        let uid = auth.user_id().to_string();
        self.state
            .store
            .write(move |txn| carts::empty(txn, &uid, &shop_id.0))
            .await?;
        Ok(NoContent::Done)
    }

    /// Place an order (checkout). Send a fresh `Idempotency-Key` (a UUID)
    /// per order and reuse it when retrying: the same key and body return the
    /// original order for 24 h, a different body is refused (422). A shortage
    /// is a 409 naming the short items; nothing is reserved. A shop outside
    /// its opening hours (campus time) is a 409 saying when it opens. An
    /// account whose email is not confirmed yet is refused (403).
    #[oai(path = "/orders", method = "post", operation_id = "createOrder")]
    async fn checkout(
        &self,
        auth: Auth,
        #[oai(name = "Idempotency-Key")] key: IdempotencyKey,
        body: Json<CheckoutRequest>,
    ) -> Result<CheckoutResponse, ApiError> {
        auth.0
            .user
            .may_order()
            .map_err(|why| ApiError::Rule(Error::Forbidden(why.into())))?;
        let b = body.0;
        let delivery = match (
            b.delivery.unwrap_or(DeliveryView::Auto),
            b.slot_id,
            b.cutoff_at,
        ) {
            (DeliveryView::Batch, Some(slot), Some(cutoff)) => Delivery::Batch {
                slot_id: slot.0,
                cutoff_at: cutoff,
            },
            (DeliveryView::Batch, _, _) => {
                return Err(FieldError::new(
                    "slot_id",
                    "BATCH delivery names slot_id and cutoff_at",
                )
                .into());
            }
            (_, Some(_), _) | (_, _, Some(_)) => {
                return Err(FieldError::new(
                    "delivery",
                    "slot_id and cutoff_at go with delivery BATCH",
                )
                .into());
            }
            (DeliveryView::Direct, _, _) => Delivery::Direct,
            (DeliveryView::Auto, _, _) => Delivery::Auto,
        };
        let checkout = Checkout {
            user_id: auth.user_id().to_string(),
            shop_id: b.shop_id.0,
            lines: normalize_lines(&lines(&b.items.0))?,
            address_id: b.address_id.0,
            payment_method: b.payment_method.into(),
            notes: crate::domain::bounded_text(
                "notes",
                b.notes.as_ref().map(|t| t.0.as_str()).unwrap_or(""),
                0,
                500,
                true,
            )?,
            delivery,
            expected_total: b.expected_total,
        };
        let tz = self.state.config.campus_tz().map_err(ApiError::internal)?;
        let key = key.0;
        let state = self.state.clone();
        let fingerprint = checkout.fingerprint();
        let campus = orders::Campus {
            tz,
            currency: self.state.config.currency(),
            otp_digits: self.state.config.batch.otp_digits,
        };
        let placed = self
            .state
            .store
            .write_keeping_cache(move |txn| {
                let now = state.clock.now();
                orders::place(txn, &checkout, &fingerprint, &key, now, campus)
            })
            .await?;
        Ok(match placed {
            Placed::New(o) => CheckoutResponse::Created(Json(order_view(o, true))),
            Placed::Replayed(o) => {
                CheckoutResponse::Replayed(Json(order_view(o, true)), "true".into())
            }
        })
    }

    /// Your orders, newest first, optionally of one status.
    #[oai(path = "/orders", method = "get", operation_id = "listOrders")]
    async fn my_orders(
        &self,
        auth: Auth,
        status: Query<Option<OrderStatusView>>,
        limit: Query<Limit>,
        cursor: Query<Cursor>,
    ) -> Result<Json<Page<OrderView>>, ApiError> {
        let uid = auth.user_id().to_string();
        let want: Option<OrderStatus> = status.0.map(Into::into);
        let req = page::request(limit.0, cursor.0);
        let list = self
            .state
            .store
            .read(move |txn| orders::student_page(txn, &uid, want, &req))
            .await?;
        Ok(Json(Page::of(list, |o| order_view(o, true))))
    }

    /// One order. The student sees the OTP once the batch has locked; the
    /// shop's staff and admins never do, but see the student's name and
    /// phone (`student`).
    #[oai(path = "/orders/:id", method = "get", operation_id = "getOrder")]
    async fn get_order(
        &self,
        auth: Auth,
        #[oai(validator(max_length = 26))] id: Path<String>,
    ) -> Result<Json<OrderView>, ApiError> {
        let uid = auth.user_id().to_string();
        let admin = auth.is_admin();
        let (o, student, milestone, reviewed) = self
            .state
            .store
            .read(move |txn| {
                let (o, rel) = orders::find(txn, &id.0, &uid, admin)?;
                let student = match rel {
                    Relation::Student => None,
                    Relation::Staff { .. } | Relation::Admin => Some(orders::student_of(
                        &txn.open_table(crate::store::tables::USERS)?,
                        &o.user_id,
                    )?),
                };
                // State the page also hears live: here too, so a reload keeps it.
                let milestone = match (&o.batch_id, o.status) {
                    (Some(b), OrderStatus::OutForDelivery) => {
                        crate::store::codec::get::<crate::domain::batch::Batch>(
                            &txn.open_table(crate::store::tables::BATCHES)?,
                            b,
                        )?
                        .and_then(|b| b.milestone)
                    }
                    _ => None,
                };
                let reviewed = match (&rel, o.status) {
                    (Relation::Student, OrderStatus::Completed) => {
                        Some(crate::market::reviews::reviewed(txn, &o.id)?)
                    }
                    _ => None,
                };
                Ok::<_, ApiError>((o, student, milestone, reviewed))
            })
            .await?;
        let mut view = match student {
            None => order_view(o, true),
            Some(s) => staff_order_view(o, s),
        };
        view.milestone = milestone.map(Into::into);
        view.reviewed = reviewed;
        Ok(Json(view))
    }

    /// Cancel an order: the student while it is `NEW`; the shop or an admin
    /// (with a reason) until it is completed. Stock is restored in the same
    /// write; the student is notified of a shop's or admin's cancellation,
    /// the shop's owner of the student's, and the shop's people get a
    /// `shop.order` event.
    #[oai(
        path = "/orders/:id/cancel",
        method = "post",
        operation_id = "cancelOrder"
    )]
    async fn cancel_order(
        &self,
        auth: Auth,
        #[oai(validator(max_length = 26))] id: Path<String>,
        body: Json<CancelRequest>,
    ) -> Result<Json<OrderView>, ApiError> {
        let uid = auth.user_id().to_string();
        let admin = auth.is_admin();
        let reason = required_text("reason", body.0.reason, 500)?;
        let o = self
            .state
            .store
            .write(move |txn| orders::cancel(txn, &id.0, &uid, admin, reason.clone(), Utc::now()))
            .await?;
        if o.user_id == auth.user_id() {
            return Ok(Json(order_view(o, true)));
        }
        Ok(Json(staff_order_view_of(&self.state, o).await?))
    }

    /// Put a past order's items back into your cart, capped at current stock.
    #[oai(
        path = "/orders/:id/reorder",
        method = "post",
        operation_id = "repeatOrder"
    )]
    async fn reorder(
        &self,
        auth: Auth,
        #[oai(validator(max_length = 26))] id: Path<String>,
    ) -> Result<Json<ReorderView>, ApiError> {
        let uid = auth.user_id().to_string();
        let (shop_id, skipped) = self
            .state
            .store
            .write(move |txn| carts::reorder(txn, &uid, &id.0))
            .await?;
        let cart = self.get_cart(auth, Path(shop_id)).await?.0;
        Ok(Json(ReorderView { cart, skipped }))
    }

    /// Review an item of your delivered order (once per item).
    #[oai(
        path = "/orders/:id/reviews",
        method = "post",
        operation_id = "createReview"
    )]
    async fn review(
        &self,
        auth: Auth,
        #[oai(validator(max_length = 26))] id: Path<String>,
        body: Json<ReviewRequest>,
    ) -> Result<ReviewCreated, ApiError> {
        let uid = auth.user_id().to_string();
        let b = body.0;
        let comment = b.comment.map(Text::into_inner).unwrap_or_default();
        let r = self
            .state
            .store
            .write(move |txn| {
                reviews::create(txn, &uid, &id.0, &b.product_id.0, b.rating, &comment)
            })
            .await?;
        Ok(ReviewCreated::Created(Json(r.into())))
    }

    /// Reviews of a product, newest first.
    #[oai(
        path = "/products/:id/reviews",
        method = "get",
        operation_id = "listProductReviews"
    )]
    async fn product_reviews(
        &self,
        #[oai(validator(max_length = 26))] id: Path<String>,
        limit: Query<Limit>,
        cursor: Query<Cursor>,
    ) -> Result<Json<Page<ReviewView>>, ApiError> {
        let req = page::request(limit.0, cursor.0);
        let list = self
            .state
            .store
            .read(move |txn| Ok::<_, ApiError>(reviews::of_product(txn, &id.0, &req)?))
            .await?
            .ok_or_else(|| ApiError::Rule(Error::NotFound("no such product".into())))?;
        Ok(Json(Page::of(list, Into::into)))
    }

    /// Be told once when a sold-out product is back in stock.
    #[oai(
        path = "/products/:id/watch",
        method = "put",
        operation_id = "watchProduct"
    )]
    async fn watch(
        &self,
        auth: Auth,
        #[oai(validator(max_length = 26))] id: Path<String>,
    ) -> Result<NoContent, ApiError> {
        let uid = auth.user_id().to_string();
        self.state
            .store
            .write(move |txn| reviews::watch(txn, &uid, &id.0))
            .await?;
        Ok(NoContent::Done)
    }

    /// Stop watching a product.
    #[oai(
        path = "/products/:id/watch",
        method = "delete",
        operation_id = "unwatchProduct"
    )]
    async fn unwatch(
        &self,
        auth: Auth,
        #[oai(validator(max_length = 26))] id: Path<String>,
    ) -> Result<NoContent, ApiError> {
        let uid = auth.user_id().to_string();
        self.state
            .store
            .write(move |txn| reviews::unwatch(txn, &uid, &id.0))
            .await?;
        Ok(NoContent::Done)
    }

    /// A shop's orders, newest first (its owner, staff and admins), each
    /// with its student; no OTPs. Filters: `status`; `from` and `to`,
    /// campus days (`campus.timezone`, inclusive) the order was placed on;
    /// `q`, text found in the display id, the student's name or an item's
    /// name, in any case. A page reads at most 1,000 orders: when the
    /// filters match rarely it may come back short, even empty, with a
    /// `next_cursor` that goes on from where it stopped.
    #[oai(
        path = "/shops/:id/orders",
        method = "get",
        operation_id = "listShopOrders"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn shop_orders(
        &self,
        auth: Auth,
        #[oai(validator(max_length = 26))] id: Path<String>,
        status: Query<Option<OrderStatusView>>,
        /// First campus day the orders were placed on, `YYYY-MM-DD`.
        #[oai(validator(max_length = 10))]
        from: Query<Option<String>>,
        /// Last campus day the orders were placed on, `YYYY-MM-DD`.
        #[oai(validator(max_length = 10))]
        to: Query<Option<String>>,
        /// Text in the display id, the student's name or an item's name
        /// (case-insensitive), at most 100 characters.
        #[oai(validator(max_length = 100))]
        q: Query<Option<String>>,
        limit: Query<Limit>,
        cursor: Query<Cursor>,
    ) -> Result<Json<Page<OrderView>>, ApiError> {
        let uid = auth.user_id().to_string();
        let admin = auth.is_admin();
        let tz = self.state.config.campus_tz().map_err(ApiError::internal)?;
        let filter = OrderFilter::parse(
            status.0.map(Into::into),
            from.0.as_deref(),
            to.0.as_deref(),
            q.0.as_deref(),
            tz,
        )
        .map_err(Error::Invalid)?;
        let req = page::request(limit.0, cursor.0);
        let list = self
            .state
            .store
            .read(move |txn| orders::shop_page(txn, &id.0, &uid, admin, &filter, &req))
            .await?;
        Ok(Json(Page::of(list, |(o, s)| staff_order_view(o, s))))
    }

    /// Admin: set an order's status outside the normal flow, with a reason
    /// (audited). Cancelling restores stock.
    #[oai(
        path = "/admin/orders/:id/status",
        method = "post",
        operation_id = "overrideOrderStatus"
    )]
    async fn override_status(
        &self,
        req: &Request,
        auth: Auth,
        #[oai(validator(max_length = 26))] id: Path<String>,
        body: Json<OverrideRequest>,
    ) -> Result<Json<OrderView>, ApiError> {
        auth.require_admin()?;
        let reason = crate::domain::bounded_text("reason", &body.0.reason.0, 1, 500, true)?;
        let status: OrderStatus = body.0.status.into();
        let origin = origin(req, Some(auth.user_id()));
        let o = self
            .state
            .store
            .write(move |txn| {
                orders::override_status(txn, &id.0, status, &reason, &origin, Utc::now())
            })
            .await?;
        Ok(Json(staff_order_view_of(&self.state, o).await?))
    }
}
