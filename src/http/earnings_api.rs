//! A shop's earnings and its orders as CSV (SPEC §4.9), for its owner and
//! admins. Dates are campus days (`campus.timezone`), inclusive.

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use futures_util::StreamExt;
use poem::Body;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::{Binary, Json};
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::ApiTags;
use super::error::ApiError;
use super::extract::Auth;
use crate::app::AppState;
use crate::domain::earnings::{self, Range, Sums};
use crate::domain::money;
use crate::domain::order::{OrderStatus, PaymentMethod, PaymentStatus};
use crate::error::Error;
use crate::market::earnings::{self as books, ExportRow};

pub struct EarningsApi {
    pub state: Arc<AppState>,
}

/// Sums of completed orders, minor units of the campus currency.
#[derive(Object, Debug)]
pub struct EarningsSums {
    pub orders: u32,
    /// What students paid: items, delivery fees and platform fees.
    pub collected: i64,
    pub items: i64,
    pub delivery_fees: i64,
    /// Collected with the order for the platform; the shop owes it.
    pub platform_fees_owed: i64,
    /// Collected minus platform fees owed.
    pub net: i64,
    pub cash: i64,
    pub upi: i64,
}

impl From<Sums> for EarningsSums {
    fn from(s: Sums) -> Self {
        EarningsSums {
            orders: s.orders,
            collected: s.collected,
            items: s.items,
            delivery_fees: s.delivery_fees,
            platform_fees_owed: s.platform_fees,
            net: s.net(),
            cash: s.cash,
            upi: s.upi,
        }
    }
}

#[derive(Object, Debug)]
pub struct EarningsDay {
    /// A campus day, `YYYY-MM-DD`.
    pub date: NaiveDate,
    #[oai(flatten)]
    pub sums: EarningsSums,
}

#[derive(Object, Debug)]
pub struct EarningsView {
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// ISO 4217 code of every amount.
    pub currency: String,
    pub total: EarningsSums,
    /// Every day of the range, oldest first, days without orders included.
    pub days: Vec<EarningsDay>,
}

#[derive(ApiResponse)]
pub enum OrdersCsv {
    /// One row per order placed in the range, oldest first (UTF-8, RFC 4180).
    #[oai(status = 200, content_type = "text/csv; charset=utf-8")]
    Csv(
        Binary<Body>,
        /// `attachment; filename="…"`.
        #[oai(header = "Content-Disposition")]
        String,
    ),
}

/// The longest range one export covers.
const EXPORT_MAX_DAYS: i64 = 366;
/// Orders per read transaction while streaming an export.
const EXPORT_CHUNK: usize = 200;

const CSV_HEADER: [&str; 16] = [
    "order",
    "placed",
    "delivered",
    "status",
    "student",
    "building",
    "room",
    "items",
    "item_total",
    "delivery_fee",
    "platform_fee",
    "total",
    "currency",
    "payment_method",
    "payment_status",
    "notes",
];

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Shops")]
impl EarningsApi {
    /// The shop's earnings from `from` to `to` (campus dates, inclusive,
    /// both default to today, at most 92 days): completed orders counted on
    /// the day they were delivered, with gross, cash and UPI, delivery fees
    /// and the platform fee owed, in total and per day. The shop's owner and
    /// admins; runners get 403.
    #[oai(
        path = "/shops/:id/earnings",
        method = "get",
        operation_id = "getShopEarnings"
    )]
    async fn earnings(
        &self,
        auth: Auth,
        #[oai(validator(max_length = 26))] id: Path<String>,
        /// First campus day, `YYYY-MM-DD` (default today).
        #[oai(validator(max_length = 10))]
        from: Query<Option<String>>,
        /// Last campus day, `YYYY-MM-DD` (default today).
        #[oai(validator(max_length = 10))]
        to: Query<Option<String>>,
    ) -> Result<Json<EarningsView>, ApiError> {
        let (tz, range) = self.range(from.0, to.0, earnings::MAX_DAYS)?;
        let (uid, admin) = (auth.user_id().to_string(), auth.is_admin());
        let e = self
            .state
            .store
            .read(move |txn| books::earnings(txn, &id.0, &uid, admin, range, tz))
            .await?;
        Ok(Json(EarningsView {
            from: e.from,
            to: e.to,
            currency: self.state.config.campus.currency.clone(),
            total: e.total.into(),
            days: e
                .days
                .into_iter()
                .map(|(date, sums)| EarningsDay {
                    date,
                    sums: sums.into(),
                })
                .collect(),
        }))
    }

    /// The shop's orders placed from `from` to `to` (campus dates,
    /// inclusive, both default to today, at most 366 days) as CSV, streamed:
    /// display id, placed and delivered times in campus time, status,
    /// student, building and room, items, amounts in the currency's major
    /// units, payment method and status, notes. Cells that a spreadsheet
    /// would run as a formula are prefixed with `'`. The shop's owner and
    /// admins; runners get 403.
    #[oai(
        path = "/shops/:id/orders.csv",
        method = "get",
        operation_id = "exportShopOrders"
    )]
    async fn orders_csv(
        &self,
        auth: Auth,
        #[oai(validator(max_length = 26))] id: Path<String>,
        /// First campus day, `YYYY-MM-DD` (default today).
        #[oai(validator(max_length = 10))]
        from: Query<Option<String>>,
        /// Last campus day, `YYYY-MM-DD` (default today).
        #[oai(validator(max_length = 10))]
        to: Query<Option<String>>,
    ) -> Result<OrdersCsv, ApiError> {
        let (tz, range) = self.range(from.0, to.0, EXPORT_MAX_DAYS)?;
        let (uid, admin) = (auth.user_id().to_string(), auth.is_admin());
        let shop_id = id.0.clone();
        // Rights are checked before the first byte: a refusal is a problem,
        // never a half-sent file.
        let shop = self
            .state
            .store
            .read(move |txn| books::books_of(txn, &shop_id, &uid, admin))
            .await?;
        let currency = self.state.config.campus.currency.clone();
        let store = self.state.store.clone();
        let header = csv_line(&CSV_HEADER.map(String::from));
        let chunks = futures_util::stream::unfold(Some(None::<String>), move |after| {
            let (store, shop_id, currency) = (store.clone(), shop.id.clone(), currency.clone());
            async move {
                let after = after?;
                let read = store
                    .read(move |txn| {
                        books::export_chunk(
                            txn,
                            &shop_id,
                            range,
                            tz,
                            after.as_deref(),
                            EXPORT_CHUNK,
                        )
                    })
                    .await;
                match read {
                    Ok(rows) => {
                        let next = (rows.len() == EXPORT_CHUNK)
                            .then(|| rows.last().map(|r| r.order.id.clone()));
                        let mut bytes = Vec::new();
                        for r in &rows {
                            bytes.extend(csv_line(&csv_row(r, tz, &currency)));
                        }
                        Some((Ok(bytes), next))
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "orders export failed mid-stream");
                        Some((Err(std::io::Error::other(e.to_string())), None))
                    }
                }
            }
        });
        let body = futures_util::stream::once(async move { Ok(header) }).chain(chunks);
        let name = format!(
            "orders-{}-{}.csv",
            range.from.format("%Y%m%d"),
            range.to.format("%Y%m%d")
        );
        Ok(OrdersCsv::Csv(
            Binary(Body::from_bytes_stream(
                body.map(|r| r.map(bytes::Bytes::from)),
            )),
            format!("attachment; filename=\"{name}\""),
        ))
    }
}

impl EarningsApi {
    fn range(
        &self,
        from: Option<String>,
        to: Option<String>,
        max_days: i64,
    ) -> Result<(Tz, Range), ApiError> {
        let tz = self.state.config.campus_tz().map_err(ApiError::internal)?;
        let today = Utc::now().with_timezone(&tz).date_naive();
        let range = Range::parse(from.as_deref(), to.as_deref(), today, max_days)
            .map_err(Error::Invalid)?;
        Ok((tz, range))
    }
}

fn campus_time(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string()
}

fn csv_row(r: &ExportRow, tz: Tz, currency: &str) -> Vec<String> {
    let o = &r.order;
    let status = match o.status {
        OrderStatus::New => "new",
        OrderStatus::Batched => "batched",
        OrderStatus::OutForDelivery => "out_for_delivery",
        OrderStatus::Completed => "completed",
        OrderStatus::DeliveryFailed => "delivery_failed",
        OrderStatus::Cancelled => "cancelled",
        OrderStatus::Rescheduled => "rescheduled",
    };
    let items = o
        .items
        .iter()
        .map(|i| format!("{} x {}", i.quantity, i.name))
        .collect::<Vec<_>>()
        .join("; ");
    vec![
        o.display_id.clone(),
        campus_time(o.created_at, tz),
        earnings::delivered_at(o)
            .map(|t| campus_time(t, tz))
            .unwrap_or_default(),
        status.into(),
        r.student_name.clone(),
        o.address.building_name.clone(),
        o.address.room.clone(),
        items,
        money::show(o.item_total),
        money::show(o.delivery_fee),
        money::show(o.platform_fee),
        money::show(o.total),
        currency.into(),
        match o.payment_method {
            PaymentMethod::Cash => "cash",
            PaymentMethod::Upi => "upi",
        }
        .into(),
        match o.payment_status {
            PaymentStatus::Pending => "pending",
            PaymentStatus::Paid => "paid",
        }
        .into(),
        o.notes.clone(),
    ]
}

/// One CSV record, quoted as RFC 4180 asks. A cell a spreadsheet would
/// evaluate (`=`, `+`, `-`, `@`, tab, CR first) gets a leading `'`, so a
/// student's name or note never runs as a formula on the vendor's machine.
fn csv_line(cells: &[String]) -> Vec<u8> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let safe = cells.iter().map(|c| {
        if c.starts_with(['=', '+', '-', '@', '\t', '\r']) && c.parse::<f64>().is_err() {
            format!("'{c}")
        } else {
            c.clone()
        }
    });
    // Writing to a Vec cannot fail.
    let _ = w.write_record(safe);
    w.into_inner().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_quoted_and_formulas_defused() {
        let line = csv_line(&[
            "UP-1".into(),
            "Asha, \"A\"".into(),
            "=HYPERLINK(\"x\")".into(),
            "-12.50".into(),
            "line\nbreak".into(),
        ]);
        assert_eq!(
            String::from_utf8(line).unwrap(),
            "UP-1,\"Asha, \"\"A\"\"\",\"'=HYPERLINK(\"\"x\"\")\",-12.50,\"line\nbreak\"\n"
        );
    }

    #[test]
    fn money_in_major_units() {
        assert_eq!(money::show(12_345), "123.45");
        assert_eq!(money::show(5), "0.05");
        assert_eq!(money::show(-250), "-2.50");
    }
}
