//! Orders: the status machine, checkout lines, prices and fees, display ids.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rand::Rng;
use serde::{Deserialize, Serialize};

use super::FieldError;
use super::catalog::AddressSnapshot;

pub const MAX_LINES: usize = 50;
pub const MAX_QUANTITY: u32 = 99;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderStatus {
    New,
    Batched,
    OutForDelivery,
    Completed,
    DeliveryFailed,
    Cancelled,
    Rescheduled,
}

impl OrderStatus {
    /// Still on its way: counts as "open" for its batch.
    /// The status as people read it ("Out for delivery").
    pub fn label(self) -> &'static str {
        match self {
            OrderStatus::New => "New",
            OrderStatus::Batched => "Batched",
            OrderStatus::OutForDelivery => "Out for delivery",
            OrderStatus::Completed => "Completed",
            OrderStatus::DeliveryFailed => "Delivery failed",
            OrderStatus::Cancelled => "Cancelled",
            OrderStatus::Rescheduled => "Rescheduled",
        }
    }

    pub fn is_open(self) -> bool {
        matches!(
            self,
            Self::New | Self::Batched | Self::OutForDelivery | Self::Rescheduled
        )
    }

    /// Waiting for its batch to lock.
    pub fn awaits_batch(self) -> bool {
        matches!(self, Self::New | Self::Rescheduled)
    }

    /// The normal flow; admins may override outside it (audited).
    pub fn can_become(self, next: OrderStatus) -> bool {
        use OrderStatus::*;
        matches!(
            (self, next),
            (New, Batched)
                | (New, OutForDelivery)
                | (New, Cancelled)
                | (Batched, OutForDelivery)
                | (Batched, Cancelled)
                | (Batched, Rescheduled)
                | (OutForDelivery, Completed)
                | (OutForDelivery, DeliveryFailed)
                | (OutForDelivery, Cancelled)
                | (OutForDelivery, Rescheduled)
                | (DeliveryFailed, Rescheduled)
                | (Rescheduled, Batched)
                | (Rescheduled, Cancelled)
        )
    }
}

/// Who is acting on an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    Student,
    Vendor,
    Admin,
}

/// The student cancels only while the order is `NEW`; the vendor or an
/// admin until it is completed.
pub fn may_cancel(status: OrderStatus, actor: Actor) -> Result<(), String> {
    use OrderStatus::*;
    let ok = match actor {
        Actor::Student => status == New,
        Actor::Vendor | Actor::Admin => {
            matches!(status, New | Batched | OutForDelivery | DeliveryFailed)
        }
    };
    if ok {
        Ok(())
    } else if actor == Actor::Student && status.is_open() {
        Err("the batch has locked; ask the shop to cancel".into())
    } else {
        Err(format!("an order that is {status:?} cannot be cancelled"))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PaymentMethod {
    Cash,
    Upi,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PaymentStatus {
    Pending,
    Paid,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct OrderItem {
    pub product_id: String,
    /// Snapshots: later edits of the product never change the order.
    pub name: String,
    pub unit_price: i64,
    pub quantity: u32,
    pub line_total: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Transition {
    pub status: OrderStatus,
    pub at: DateTime<Utc>,
    /// User id; None for the system (the batch closer).
    pub by: Option<String>,
    pub note: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Order {
    pub id: String,
    pub display_id: String,
    pub user_id: String,
    pub shop_id: String,
    /// None for a direct delivery.
    pub batch_id: Option<String>,
    pub cutoff_at: Option<DateTime<Utc>>,
    pub items: Vec<OrderItem>,
    pub item_total: i64,
    pub delivery_fee: i64,
    pub platform_fee: i64,
    pub total: i64,
    pub payment_method: PaymentMethod,
    pub payment_status: PaymentStatus,
    pub status: OrderStatus,
    pub address: AddressSnapshot,
    pub notes: String,
    pub otp: Option<String>,
    #[serde(default)]
    pub otp_failures: u8,
    /// New OTPs made for this order (the owner may make two).
    #[serde(default)]
    pub otp_regenerations: u8,
    pub cancellation_reason: Option<String>,
    pub failure_reason: Option<String>,
    pub transitions: Vec<Transition>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Order {
    /// Moves the order, stamping the time. Refuses a move outside the flow.
    pub fn transition(
        &mut self,
        next: OrderStatus,
        at: DateTime<Utc>,
        by: Option<&str>,
        note: Option<String>,
    ) -> Result<(), String> {
        if !self.status.can_become(next) {
            return Err(format!(
                "an order that is {:?} cannot become {next:?}",
                self.status
            ));
        }
        self.force_status(next, at, by, note);
        Ok(())
    }

    /// An admin override: any status, still stamped.
    pub fn force_status(
        &mut self,
        next: OrderStatus,
        at: DateTime<Utc>,
        by: Option<&str>,
        note: Option<String>,
    ) {
        self.status = next;
        self.updated_at = at;
        self.transitions.push(Transition {
            status: next,
            at,
            by: by.map(str::to_string),
            note,
        });
    }
}

/// One requested line of a checkout or cart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Line {
    pub product_id: String,
    pub quantity: u32,
}

/// Checks the shape of a checkout: 1–50 distinct products, each 1–99.
/// Repeated products are merged (their sum must still be ≤ 99).
pub fn normalize_lines(raw: &[(String, i64)]) -> Result<Vec<Line>, FieldError> {
    if raw.is_empty() {
        return Err(FieldError::new("items", "must name at least one product"));
    }
    let mut merged: BTreeMap<&str, i64> = BTreeMap::new();
    for (i, (pid, q)) in raw.iter().enumerate() {
        if !(1..=MAX_QUANTITY as i64).contains(q) {
            return Err(FieldError::new(
                "items",
                format!("item {}: quantity must be 1 to {MAX_QUANTITY}", i + 1),
            ));
        }
        *merged.entry(pid.as_str()).or_default() += q;
    }
    if merged.len() > MAX_LINES {
        return Err(FieldError::new(
            "items",
            format!("at most {MAX_LINES} different products per order"),
        ));
    }
    let mut out = Vec::with_capacity(merged.len());
    for (pid, q) in merged {
        if q > MAX_QUANTITY as i64 {
            return Err(FieldError::new(
                "items",
                format!("at most {MAX_QUANTITY} of one product"),
            ));
        }
        out.push(Line {
            product_id: pid.to_string(),
            quantity: q as u32,
        });
    }
    Ok(out)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    pub item_total: i64,
    pub delivery_fee: i64,
    pub platform_fee: i64,
    pub total: i64,
}

/// Prices an order from its (already snapshotted) items and the fees.
pub fn totals(items: &[OrderItem], delivery_fee: i64, platform_fee: i64) -> Totals {
    let item_total: i64 = items.iter().map(|i| i.line_total).sum();
    Totals {
        item_total,
        delivery_fee,
        platform_fee,
        total: item_total + delivery_fee + platform_fee,
    }
}

/// Characters of display ids: no 0/O, 1/I/L, so they can be read aloud.
const DISPLAY_ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";

/// A short human id such as `UP-7K3Q9`. Callers retry on a collision.
pub fn new_display_id() -> String {
    let mut rng = rand::rng();
    let s: String = (0..5)
        .map(|_| DISPLAY_ALPHABET[rng.random_range(0..DISPLAY_ALPHABET.len())] as char)
        .collect();
    format!("UP-{s}")
}

pub fn is_display_id(s: &str) -> bool {
    s.len() == 8 && s.starts_with("UP-") && s[3..].bytes().all(|b| DISPLAY_ALPHABET.contains(&b))
}

/// `Idempotency-Key`: 1–100 visible ASCII characters.
pub fn check_idempotency_key(k: &str) -> Result<(), FieldError> {
    if k.is_empty() || k.len() > 100 || !k.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(FieldError::new(
            "Idempotency-Key",
            "must be 1 to 100 visible ASCII characters (a UUID is ideal)",
        ));
    }
    Ok(())
}

/// Records for tests elsewhere in the crate that need a whole order.
#[cfg(test)]
pub mod test_support {
    use super::*;

    pub fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    pub fn item(name: &str, unit_price: i64, quantity: u32) -> OrderItem {
        OrderItem {
            product_id: format!("p-{name}"),
            name: name.into(),
            unit_price,
            quantity,
            line_total: unit_price * quantity as i64,
        }
    }

    pub fn order(display: &str, building: &str, room: &str, status: OrderStatus) -> Order {
        let items = vec![item("Masala Tea", 1000, 2), item("Samosa", 2000, 1)];
        Order {
            id: format!("id-{display}"),
            display_id: display.into(),
            user_id: "student".into(),
            shop_id: "shop1".into(),
            batch_id: Some("batch1".into()),
            cutoff_at: Some(at("2026-11-22T18:29:00Z")),
            item_total: 4000,
            delivery_fee: 1000,
            platform_fee: 250,
            total: 5250,
            items,
            payment_method: PaymentMethod::Upi,
            payment_status: PaymentStatus::Pending,
            status,
            address: AddressSnapshot {
                label: "Room".into(),
                building_id: format!("b-{building}"),
                building_name: building.into(),
                room: room.into(),
                notes: String::new(),
            },
            notes: String::new(),
            otp: Some("987612".into()),
            otp_failures: 0,
            otp_regenerations: 0,
            cancellation_reason: None,
            failure_reason: None,
            transitions: vec![],
            created_at: at("2026-11-22T10:15:00Z"),
            updated_at: at("2026-11-22T10:15:00Z"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use OrderStatus::*;

    #[test]
    fn the_status_machine_allows_only_the_flow() {
        assert!(New.can_become(Batched));
        assert!(Batched.can_become(OutForDelivery));
        assert!(OutForDelivery.can_become(Completed));
        assert!(
            !New.can_become(Completed),
            "no completion without dispatch and OTP"
        );
        assert!(!Completed.can_become(Cancelled));
        assert!(!Cancelled.can_become(New));
        assert!(!Batched.can_become(New));
    }

    #[test]
    fn who_may_cancel_when() {
        assert!(may_cancel(New, Actor::Student).is_ok());
        assert!(may_cancel(Batched, Actor::Student).is_err());
        assert!(may_cancel(Batched, Actor::Vendor).is_ok());
        assert!(may_cancel(OutForDelivery, Actor::Admin).is_ok());
        assert!(may_cancel(Completed, Actor::Admin).is_err());
        assert!(may_cancel(Cancelled, Actor::Vendor).is_err());
    }

    #[test]
    fn lines_are_bounded_and_merged() {
        let l = |v: &[(&str, i64)]| -> Vec<(String, i64)> {
            v.iter().map(|(a, b)| (a.to_string(), *b)).collect()
        };
        assert!(normalize_lines(&[]).is_err());
        for q in [0, -1, 100] {
            assert!(normalize_lines(&l(&[("a", q)])).is_err(), "{q}");
        }
        let merged = normalize_lines(&l(&[("a", 2), ("b", 1), ("a", 3)])).unwrap();
        assert_eq!(
            merged,
            vec![
                Line {
                    product_id: "a".into(),
                    quantity: 5
                },
                Line {
                    product_id: "b".into(),
                    quantity: 1
                }
            ]
        );
        assert!(normalize_lines(&l(&[("a", 60), ("a", 40)])).is_err());
        let many: Vec<(String, i64)> = (0..51).map(|i| (format!("p{i}"), 1)).collect();
        assert!(normalize_lines(&many).is_err());
        assert!(normalize_lines(&many[..50]).is_ok());
    }

    #[test]
    fn totals_add_up() {
        let items = vec![OrderItem {
            product_id: "a".into(),
            name: "Tea".into(),
            unit_price: 1500,
            quantity: 2,
            line_total: 3000,
        }];
        assert_eq!(
            totals(&items, 1000, 200),
            Totals {
                item_total: 3000,
                delivery_fee: 1000,
                platform_fee: 200,
                total: 4200
            }
        );
    }

    #[test]
    fn display_ids_are_short_and_unambiguous() {
        for _ in 0..200 {
            let id = new_display_id();
            assert!(is_display_id(&id), "{id}");
            assert!(!id[3..].contains(['0', 'O', '1', 'I', 'L']));
        }
        assert!(!is_display_id("UP-0OIL1"));
        assert!(check_idempotency_key("").is_err());
        assert!(check_idempotency_key("has space").is_err());
        assert!(check_idempotency_key(&"k".repeat(101)).is_err());
        assert!(check_idempotency_key("0b7e6c1e-5d0f-4c4b-9d43-2f8f5c1a9e10").is_ok());
    }

    /// A random string drawn from pieces the parsers care about: the id
    /// prefix, unambiguous and ambiguous characters, spaces, controls and
    /// multi-byte text. The same properties as the `cargo fuzz` targets, run
    /// in every `cargo test` (see DECISIONS, "Faults and fuzzing").
    fn random_text(rng: &mut impl Rng, max_pieces: usize) -> String {
        const PIECES: &[&str] = &[
            "UP-", "A", "Z", "7", "2", "0", "O", "1", "I", "L", "-", " ", "\t", "\u{7f}", "\0",
            "é", "ß", "€", "😀", "~", "k", "\u{a0}",
        ];
        let n = rng.random_range(0..=max_pieces);
        (0..n)
            .map(|_| PIECES[rng.random_range(0..PIECES.len())])
            .collect()
    }

    #[test]
    fn idempotency_keys_are_exactly_1_to_100_visible_ascii_bytes() {
        let mut rng = rand::rng();
        for i in 0..20_000 {
            let k = if i % 10 == 0 {
                "k".repeat(rng.random_range(95..=105))
            } else {
                random_text(&mut rng, 40)
            };
            let expected = (1..=100).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic());
            assert_eq!(check_idempotency_key(&k).is_ok(), expected, "{k:?}");
        }
    }

    #[test]
    fn the_display_id_check_never_panics_and_accepts_only_unambiguous_ids() {
        let mut rng = rand::rng();
        for _ in 0..20_000 {
            let s = random_text(&mut rng, 8);
            if is_display_id(&s) {
                assert_eq!(s.len(), 8, "{s:?}");
                assert!(s.starts_with("UP-"), "{s:?}");
                assert!(!s[3..].contains(['0', 'O', '1', 'I', 'L', '-']), "{s:?}");
            }
        }
    }
}
