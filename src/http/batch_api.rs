//! Batches and delivery: lock early, claim, dispatch, milestones, deliver
//! with the OTP, fail, reschedule, regenerate an OTP, accept direct orders.

use std::num::NonZeroU32;
use std::sync::Arc;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use chrono::{DateTime, Utc};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::error::ApiError;
use super::extract::Auth;
use super::market_api::{OrderView, staff_order_view, staff_order_view_of};
use super::page::{self, Cursor, Limit, Page};
use super::types::{Text, mirror_enum};
use super::{ApiTags, origin};
use crate::app::AppState;
use crate::domain::batch::{Batch, BatchStatus, Milestone};
use crate::error::Error;
use crate::market::batches::{self, Delivered};
use poem::Request;

pub struct BatchApi {
    pub state: Arc<AppState>,
    /// Delivery tries per staff member (`batch.deliver_per_minute`).
    deliver_limit: DefaultKeyedRateLimiter<String>,
}

impl BatchApi {
    pub fn new(state: Arc<AppState>) -> Self {
        let per_minute = NonZeroU32::new(state.config.batch.deliver_per_minute.max(1))
            .unwrap_or(NonZeroU32::MIN);
        Self {
            state,
            deliver_limit: RateLimiter::keyed(Quota::per_minute(per_minute)),
        }
    }
}

mirror_enum!(BatchStatusView, BatchStatus, { Open, Locked, InTransit, Completed, Cancelled });
mirror_enum!(MilestoneView, Milestone, { Packing, ClimbStarted, Midway, Arrived });

/// A batch. Every answer that carries a batch has it at the top level in
/// this shape (lists hold these); `GET /batches/{id}` adds `orders` and
/// `total` beside the same fields.
#[derive(Object)]
pub struct BatchView {
    pub id: String,
    pub shop_id: String,
    pub slot_id: String,
    pub label: String,
    pub cutoff_at: DateTime<Utc>,
    pub status: BatchStatusView,
    pub milestone: Option<MilestoneView>,
    pub runner_id: Option<String>,
    pub order_count: u32,
    pub created_at: DateTime<Utc>,
    pub locked_at: Option<DateTime<Utc>>,
    pub dispatched_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
}

impl From<Batch> for BatchView {
    fn from(b: Batch) -> Self {
        Self {
            id: b.id,
            shop_id: b.shop_id,
            slot_id: b.slot_id,
            label: b.label,
            cutoff_at: b.cutoff_at,
            status: b.status.into(),
            milestone: b.milestone.map(Into::into),
            runner_id: b.runner_id,
            order_count: b.order_count,
            created_at: b.created_at,
            locked_at: b.locked_at,
            dispatched_at: b.dispatched_at,
            completed_at: b.completed_at,
        }
    }
}

/// A batch with its orders: every field of `BatchView`, then `orders` and
/// `total`.
#[derive(Object)]
pub struct BatchDetail {
    #[oai(flatten)]
    pub batch: BatchView,
    /// The batch's orders, without OTPs, each with its student.
    pub orders: Vec<OrderView>,
    /// What the open and completed orders add up to, minor units.
    pub total: i64,
    /// Each item summed over the orders still to carry (the open batch's
    /// new orders as a preview), most first: what to pack.
    pub prep: Vec<PrepLineView>,
}

/// One item of a batch's prep summary.
#[derive(Object)]
pub struct PrepLineView {
    pub product_id: String,
    /// The name the orders were placed under.
    pub name: String,
    pub quantity: u32,
}

impl From<batches::BatchDetail> for BatchDetail {
    fn from(d: batches::BatchDetail) -> Self {
        BatchDetail {
            batch: d.batch.into(),
            orders: d
                .orders
                .into_iter()
                .map(|o| {
                    let student = d.students.get(&o.user_id).cloned().unwrap_or_default();
                    staff_order_view(o, student)
                })
                .collect(),
            total: d.total,
            prep: d
                .prep
                .into_iter()
                .map(|l| PrepLineView {
                    product_id: l.product_id,
                    name: l.name,
                    quantity: l.quantity,
                })
                .collect(),
        }
    }
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct MilestoneRequest {
    pub milestone: MilestoneView,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct DeliverRequest {
    /// The OTP the student reads out after receiving the items.
    #[oai(validator(max_length = 16))]
    pub otp: Text,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct RegenerateRequest {
    /// Why a new OTP is needed: required from an admin (audited), who is the
    /// only one left once the owner has made two. 1–500 characters.
    #[oai(validator(max_length = 500))]
    pub reason: Option<Text>,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct FailRequest {
    /// 1–500 characters.
    #[oai(validator(max_length = 500))]
    pub reason: Text,
}

#[derive(ApiResponse)]
pub enum DeliverResponse {
    #[oai(status = 200)]
    Delivered(Json<OrderView>),
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Orders")]
impl BatchApi {
    /// A shop's batches, newest first (its staff and admins).
    #[oai(
        path = "/shops/:id/batches",
        method = "get",
        operation_id = "listShopBatches"
    )]
    async fn shop_batches(
        &self,
        auth: Auth,
        #[oai(validator(max_length = 26))] id: Path<String>,
        status: Query<Option<BatchStatusView>>,
        limit: Query<Limit>,
        cursor: Query<Cursor>,
    ) -> Result<Json<Page<BatchView>>, ApiError> {
        let (uid, admin) = (auth.user_id().to_string(), auth.is_admin());
        let want: Option<BatchStatus> = status.0.map(Into::into);
        let req = page::request(limit.0, cursor.0);
        let list = self
            .state
            .store
            .read(move |txn| batches::shop_page(txn, &id.0, &uid, admin, want, &req))
            .await?;
        Ok(Json(Page::of(list, BatchView::from)))
    }

    /// Batches a runner can claim or has claimed, across the shops they
    /// work for (among each shop's 50 newest), newest first.
    #[oai(path = "/me/runs", method = "get", operation_id = "listMyRuns")]
    async fn my_runs(
        &self,
        auth: Auth,
        limit: Query<Limit>,
        cursor: Query<Cursor>,
    ) -> Result<Json<Page<BatchView>>, ApiError> {
        let uid = auth.user_id().to_string();
        let req = page::request(limit.0, cursor.0);
        let list = self
            .state
            .store
            .read(move |txn| batches::runs(txn, &uid, &req))
            .await?;
        Ok(Json(Page::of(list, BatchView::from)))
    }

    /// A batch with its orders (no OTPs): the batch's fields, then
    /// `orders` and `total`.
    #[oai(path = "/batches/:id", method = "get", operation_id = "getBatch")]
    async fn get_batch(
        &self,
        auth: Auth,
        #[oai(validator(max_length = 26))] id: Path<String>,
    ) -> Result<Json<BatchDetail>, ApiError> {
        let (uid, admin) = (auth.user_id().to_string(), auth.is_admin());
        let detail = self
            .state
            .store
            .read(move |txn| batches::batch_detail(txn, &id.0, &uid, admin))
            .await?;
        Ok(Json(detail.into()))
    }

    /// Lock the batch now ("go now"), before its cutoff. The shop's owner or an admin.
    #[oai(
        path = "/batches/:id/lock",
        method = "post",
        operation_id = "lockBatch"
    )]
    async fn lock(
        &self,
        auth: Auth,
        #[oai(validator(max_length = 26))] id: Path<String>,
    ) -> Result<Json<BatchView>, ApiError> {
        let (uid, admin) = (auth.user_id().to_string(), auth.is_admin());
        let digits = self.state.config.batch.otp_digits;
        let b = self
            .state
            .store
            .write(move |txn| batches::lock_early(txn, &id.0, &uid, admin, Utc::now(), digits))
            .await?;
        self.state.metrics.batches_locked.inc();
        Ok(Json(b.into()))
    }

    /// Claim a locked batch to carry it (first claim wins; others get 409).
    #[oai(
        path = "/batches/:id/claim",
        method = "post",
        operation_id = "claimBatch"
    )]
    async fn claim(
        &self,
        auth: Auth,
        #[oai(validator(max_length = 26))] id: Path<String>,
    ) -> Result<Json<BatchView>, ApiError> {
        let (uid, admin) = (auth.user_id().to_string(), auth.is_admin());
        let b = self
            .state
            .store
            .write(move |txn| batches::claim(txn, &id.0, &uid, admin))
            .await?;
        Ok(Json(b.into()))
    }

    /// Start the climb: the batch is `IN_TRANSIT`, its orders `OUT_FOR_DELIVERY`.
    #[oai(
        path = "/batches/:id/dispatch",
        method = "post",
        operation_id = "dispatchBatch"
    )]
    async fn dispatch(
        &self,
        auth: Auth,
        #[oai(validator(max_length = 26))] id: Path<String>,
    ) -> Result<Json<BatchView>, ApiError> {
        let (uid, admin) = (auth.user_id().to_string(), auth.is_admin());
        let b = self
            .state
            .store
            .write(move |txn| batches::dispatch(txn, &id.0, &uid, admin, Utc::now()))
            .await?;
        Ok(Json(b.into()))
    }

    /// Move the batch to the next milestone; every student of the batch hears it.
    #[oai(
        path = "/batches/:id/milestone",
        method = "post",
        operation_id = "advanceBatchMilestone"
    )]
    async fn milestone(
        &self,
        auth: Auth,
        #[oai(validator(max_length = 26))] id: Path<String>,
        body: Json<MilestoneRequest>,
    ) -> Result<Json<BatchView>, ApiError> {
        let (uid, admin) = (auth.user_id().to_string(), auth.is_admin());
        let m: Milestone = body.0.milestone.into();
        let b = self
            .state
            .store
            .write(move |txn| batches::milestone(txn, &id.0, &uid, admin, m))
            .await?;
        Ok(Json(b.into()))
    }

    /// Complete an order with the OTP the student reads out. Wrong: 422
    /// (counted, never reset); blank or malformed: 422 that uses no try;
    /// the last wrong try locks the order: 423, settled by an admin.
    /// Runners deliver only on batches they claimed; rate-limited per
    /// staff member (429).
    #[oai(
        path = "/orders/:id/deliver",
        method = "post",
        operation_id = "deliverOrder"
    )]
    async fn deliver(
        &self,
        req: &Request,
        auth: Auth,
        #[oai(validator(max_length = 26))] id: Path<String>,
        body: Json<DeliverRequest>,
    ) -> Result<DeliverResponse, ApiError> {
        let (uid, admin) = (auth.user_id().to_string(), auth.is_admin());
        let digits = usize::from(self.state.config.batch.otp_digits);
        let otp = body.0.otp.0;
        crate::domain::otp::check_format(&otp, digits)?;
        if let Err(not_until) = self.deliver_limit.check_key(&uid) {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            return Err(ApiError::Rule(Error::TooMany {
                retry_after_secs: wait.as_secs().max(1),
            }));
        }
        let max = self.state.config.batch.otp_max_attempts;
        let origin = origin(req, Some(&uid));
        let currency = self.state.config.currency();
        let outcome = self
            .state
            .store
            .write(move |txn| {
                batches::deliver(
                    txn,
                    &id.0,
                    &uid,
                    admin,
                    &otp,
                    max,
                    &origin,
                    Utc::now(),
                    currency,
                )
            })
            .await?;
        self.state.mail.wake();
        match outcome {
            Delivered::Done(o) => Ok(DeliverResponse::Delivered(Json(
                staff_order_view_of(&self.state, *o).await?,
            ))),
            Delivered::Wrong { left: 0 } => Err(ApiError::Rule(Error::Locked(
                "wrong OTP, and that was the last try: this order is locked; a campus admin \
                 settles it"
                    .into(),
            ))),
            Delivered::Wrong { left } => Err(ApiError::Rule(Error::Invalid(vec![
                crate::domain::FieldError::new("otp", format!("wrong OTP; {left} tries left")),
            ]))),
        }
    }

    /// A fresh OTP, made while standing with the student. The tries already
    /// used stay used. The shop's owner may do this twice per order; then
    /// only an admin, with a reason (audited). Runners never.
    #[oai(
        path = "/orders/:id/otp",
        method = "post",
        operation_id = "regenerateOrderOtp"
    )]
    async fn regenerate_otp(
        &self,
        req: &Request,
        auth: Auth,
        #[oai(validator(max_length = 26))] id: Path<String>,
        body: Json<RegenerateRequest>,
    ) -> Result<Json<OrderView>, ApiError> {
        let (uid, admin) = (auth.user_id().to_string(), auth.is_admin());
        let digits = self.state.config.batch.otp_digits;
        let max = self.state.config.batch.otp_max_attempts;
        let reason = match body.0.reason {
            Some(r) => Some(crate::domain::bounded_text("reason", &r.0, 1, 500, true)?),
            None => None,
        };
        let origin = origin(req, Some(&uid));
        let o = self
            .state
            .store
            .write(move |txn| {
                batches::regenerate_otp(
                    txn,
                    &id.0,
                    &uid,
                    admin,
                    digits,
                    max,
                    reason.as_deref(),
                    &origin,
                )
            })
            .await?;
        Ok(Json(staff_order_view_of(&self.state, o).await?))
    }

    /// Mark an order's delivery as failed, with a reason.
    #[oai(path = "/orders/:id/fail", method = "post", operation_id = "failOrder")]
    async fn fail(
        &self,
        auth: Auth,
        #[oai(validator(max_length = 26))] id: Path<String>,
        body: Json<FailRequest>,
    ) -> Result<Json<OrderView>, ApiError> {
        let (uid, admin) = (auth.user_id().to_string(), auth.is_admin());
        let reason = crate::domain::bounded_text("reason", &body.0.reason.0, 1, 500, true)?;
        let o = self
            .state
            .store
            .write(move |txn| batches::fail(txn, &id.0, &uid, admin, &reason, Utc::now()))
            .await?;
        Ok(Json(staff_order_view_of(&self.state, o).await?))
    }

    /// Move an order into the shop's next open batch.
    #[oai(
        path = "/orders/:id/reschedule",
        method = "post",
        operation_id = "rescheduleOrder"
    )]
    async fn reschedule(
        &self,
        auth: Auth,
        #[oai(validator(max_length = 26))] id: Path<String>,
    ) -> Result<Json<OrderView>, ApiError> {
        let (uid, admin) = (auth.user_id().to_string(), auth.is_admin());
        let tz = self.state.config.campus_tz().map_err(ApiError::internal)?;
        let o = self
            .state
            .store
            .write(move |txn| batches::reschedule(txn, &id.0, &uid, admin, Utc::now(), tz))
            .await?;
        Ok(Json(staff_order_view_of(&self.state, o).await?))
    }

    /// Accept a direct-delivery order: its OTP is made and it is on its way.
    #[oai(
        path = "/orders/:id/accept",
        method = "post",
        operation_id = "acceptOrder"
    )]
    async fn accept(
        &self,
        auth: Auth,
        #[oai(validator(max_length = 26))] id: Path<String>,
    ) -> Result<Json<OrderView>, ApiError> {
        let (uid, admin) = (auth.user_id().to_string(), auth.is_admin());
        let digits = self.state.config.batch.otp_digits;
        let o = self
            .state
            .store
            .write(move |txn| batches::accept_direct(txn, &id.0, &uid, admin, digits, Utc::now()))
            .await?;
        Ok(Json(staff_order_view_of(&self.state, o).await?))
    }
}
