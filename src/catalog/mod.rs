//! The catalog: shops (with verification and staff), products and restocks,
//! batch slots, favourites and announcements.
//!
//! Who may see what: a shop is public when it is verified, active and not
//! deleted (`Shop::is_public`); its owner, its runners and admins also see it
//! while it is not, and only admins see a deleted one. Anything a caller may
//! not see answers 404, so ids of other users' hidden records reveal nothing;
//! what they may see but not change answers 403.
//!
//! Every function validates its input before its write closure runs, and
//! every closure checks its preconditions before it mutates anything: the
//! store may run a closure again after a storage error, and a rejected
//! command must leave nothing behind for its group's commit.

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use redb::{ReadableMultimapTable, ReadableTable, WriteTransaction};
use serde::Deserialize;

use crate::audit::{self, Origin};
use crate::domain::batch::{self, Slot};
use crate::domain::catalog::{Announcement, Product};
use crate::domain::money::{check_discount, parse_amount};
use crate::domain::order::OrderStatus;
use crate::domain::shop::{Shop, ShopType, Verification};
use crate::domain::user::{Email, User};
use crate::domain::{FieldError, bounded_text};
use crate::error::Error;
use crate::files;
use crate::notify::{self, Category, Kind, Note};
use crate::page::{self as paging, Dir, Page, PageRequest};
use crate::store::{Store, StoreError, codec, tables};

pub const MAX_MINUTES: u16 = batch::MAX_CUTOFF_MINUTES;
pub const MAX_DELIVERS_TO: usize = 100;
pub const MAX_STOCK: u32 = 100_000;
pub const MAX_ORDERS_PER_BATCH: u32 = 10_000;
pub const MAX_SORT_ORDER: i32 = 1_000;
pub const MAX_PRODUCTS_PER_SHOP: usize = 2_000;
pub const MAX_STAFF_PER_SHOP: usize = 20;
pub const MAX_SLOTS_PER_SHOP: usize = 48;
pub const MAX_CURRENT_ANNOUNCEMENTS: usize = 20;
pub const MAX_ANNOUNCEMENT_DAYS: i64 = 365;
pub const MAX_FAVORITES: usize = 200;

/// The signed-in user making a request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub id: String,
    pub is_admin: bool,
}

/// How a caller stands towards one shop.
#[derive(Debug, Clone, Copy, Default)]
pub struct Access {
    pub owner: bool,
    pub staff: bool,
    pub admin: bool,
}

impl Access {
    pub fn of(shop: &Shop, viewer: Option<&Caller>) -> Self {
        match viewer {
            None => Self::default(),
            Some(c) => Self {
                owner: shop.owner_id == c.id,
                staff: shop.staff.contains(&c.id),
                admin: c.is_admin,
            },
        }
    }

    pub fn sees(&self, shop: &Shop) -> bool {
        // Kept for its orders' history, but gone for everyone else.
        if shop.deleted_at.is_some() {
            return self.admin;
        }
        shop.is_public() || self.insider()
    }

    /// Sees what students never do: inactive slots, a hidden shop.
    pub fn insider(&self) -> bool {
        self.owner || self.staff || self.admin
    }

    /// Sees the verification note the admins wrote for the owner.
    pub fn private(&self) -> bool {
        self.owner || self.admin
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Need {
    See,
    Owner,
    OwnerOrAdmin,
}

fn not_found(what: &str) -> Error {
    Error::NotFound(format!("no such {what}"))
}

/// 404 unless the caller sees the shop, then 403 unless they may do what
/// they asked. Changes to a deleted shop are 404 even for admins.
fn gate(
    shop: Option<Shop>,
    caller: Option<&Caller>,
    need: Need,
    what: &str,
) -> Result<Shop, Error> {
    let Some(shop) = shop else {
        return Err(not_found(what));
    };
    let a = Access::of(&shop, caller);
    if !a.sees(&shop) || (need != Need::See && shop.deleted_at.is_some()) {
        return Err(not_found(what));
    }
    match need {
        Need::See => Ok(shop),
        Need::Owner if a.owner => Ok(shop),
        Need::Owner => Err(Error::Forbidden(format!(
            "only the shop's owner may change this {what}"
        ))),
        Need::OwnerOrAdmin if a.owner || a.admin => Ok(shop),
        Need::OwnerOrAdmin => Err(Error::Forbidden(format!(
            "only the shop's owner or an admin may change this {what}"
        ))),
    }
}

/// `gate` for a record inside a shop that students see only sometimes
/// (an inactive slot, an expired announcement).
fn gate_child(
    shop: Option<Shop>,
    caller: Option<&Caller>,
    need: Need,
    public: bool,
    what: &str,
) -> Result<Shop, Error> {
    let shop = gate(shop, caller, Need::See, what)?;
    if !public && !Access::of(&shop, caller).insider() {
        return Err(not_found(what));
    }
    gate(Some(shop), caller, need, what)
}

/// Collects every broken rule of a request, so a client fixes them at once.
#[derive(Default)]
struct Check(Vec<FieldError>);

impl Check {
    fn ok<T>(&mut self, r: Result<T, FieldError>) -> Option<T> {
        r.map_err(|e| self.0.push(e)).ok()
    }

    fn done(self) -> Result<(), Error> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(Error::Invalid(self.0))
        }
    }
}

/// A write made from a version of the record (`If-Match`) is refused once
/// the record has changed since, so a form never writes back stale data.
fn check_version(
    expected: Option<&str>,
    updated_at: DateTime<Utc>,
    what: &str,
) -> Result<(), Error> {
    match expected {
        Some(v) if v != crate::domain::version(updated_at) => Err(Error::Stale(format!(
            "this {what} changed since you loaded it; reload it and make your change again"
        ))),
        _ => Ok(()),
    }
}

fn new_id() -> String {
    ulid::Ulid::new().to_string()
}

fn minutes(field: &'static str, v: u16) -> Result<u16, FieldError> {
    if v > MAX_MINUTES {
        return Err(FieldError::new(
            field,
            format!("must be 0 to {MAX_MINUTES} (minutes from midnight)"),
        ));
    }
    Ok(v)
}

/// Blank means "no UPI"; otherwise a VPA such as `name@bank`.
fn parse_upi(raw: &str) -> Result<Option<String>, FieldError> {
    let s = raw.trim();
    if s.is_empty() {
        return Ok(None);
    }
    let shaped = matches!(s.split_once('@'), Some((a, b)) if !a.is_empty() && !b.is_empty() && !b.contains('@'));
    if s.chars().count() > 60
        || !shaped
        || !s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '@'))
    {
        return Err(FieldError::new(
            "upi_id",
            "must be a UPI id such as name@bank (at most 60 characters)",
        ));
    }
    Ok(Some(s.to_string()))
}

fn id_list(field: &'static str, raw: Vec<String>, max: usize) -> Result<Vec<String>, FieldError> {
    let mut out: Vec<String> = Vec::with_capacity(raw.len());
    for id in raw {
        let id = id.trim().to_string();
        if id.is_empty() || id.len() > 26 {
            return Err(FieldError::new(
                field,
                "every id must be 1 to 26 characters",
            ));
        }
        if !out.contains(&id) {
            out.push(id);
        }
    }
    if out.len() > max {
        return Err(FieldError::new(field, format!("at most {max} entries")));
    }
    Ok(out)
}

mod announcements;
mod favourites;
mod products;
mod shops;
mod slots;
mod staff;
mod verification;

pub use announcements::*;
pub use favourites::*;
pub use products::*;
pub use shops::*;
pub use slots::*;
pub use staff::*;
pub use verification::*;

#[cfg(test)]
mod tests {
    use super::*;

    fn shop(owner: &str, verification: Verification) -> Shop {
        let now = Utc::now();
        Shop {
            id: "s".into(),
            owner_id: owner.into(),
            name: "Chai Point".into(),
            description: String::new(),
            location: String::new(),
            shop_type: ShopType::Canteen,
            opens_at: 0,
            closes_at: 0,
            image: None,
            upi_id: None,
            upi_qr_image: None,
            is_active: true,
            accepting_orders: true,
            verification,
            verification_note: None,
            min_order_value: 0,
            delivery_fee: 0,
            direct_delivery_fee: 0,
            delivers_to: vec![],
            staff: vec!["runner".into()],
            deleted_at: None,
            created_at: now,
            updated_at: now,
        }
    }

    fn who(id: &str, is_admin: bool) -> Caller {
        Caller {
            id: id.into(),
            is_admin,
        }
    }

    fn status(r: Result<Shop, Error>) -> &'static str {
        match r {
            Ok(_) => "ok",
            Err(Error::NotFound(_)) => "not found",
            Err(Error::Forbidden(_)) => "forbidden",
            Err(e) => panic!("unexpected {e:?}"),
        }
    }

    #[test]
    fn hidden_shops_are_not_found_and_visible_ones_forbidden_to_strangers() {
        let hidden = shop("o", Verification::Pending);
        let stranger = who("x", false);
        let g = |s: &Shop, c: Option<&Caller>, n| status(gate(Some(s.clone()), c, n, "shop"));
        assert_eq!(g(&hidden, None, Need::See), "not found");
        assert_eq!(g(&hidden, Some(&stranger), Need::Owner), "not found");
        assert_eq!(g(&hidden, Some(&who("runner", false)), Need::See), "ok");
        assert_eq!(
            g(&hidden, Some(&who("runner", false)), Need::Owner),
            "forbidden"
        );
        assert_eq!(g(&hidden, Some(&who("a", true)), Need::OwnerOrAdmin), "ok");
        assert_eq!(g(&hidden, Some(&who("a", true)), Need::Owner), "forbidden");
        let public = shop("o", Verification::Verified);
        assert_eq!(g(&public, None, Need::See), "ok");
        assert_eq!(g(&public, Some(&stranger), Need::OwnerOrAdmin), "forbidden");
        let mut gone = public.clone();
        gone.deleted_at = Some(Utc::now());
        assert_eq!(g(&gone, Some(&who("o", false)), Need::See), "not found");
        assert_eq!(g(&gone, Some(&who("a", true)), Need::See), "ok");
        assert_eq!(
            g(&gone, Some(&who("a", true)), Need::OwnerOrAdmin),
            "not found"
        );
    }

    #[test]
    fn field_rules() {
        assert_eq!(parse_upi(" ").unwrap(), None);
        assert_eq!(
            parse_upi("chai@okaxis").unwrap().as_deref(),
            Some("chai@okaxis")
        );
        assert!(parse_upi("chai").is_err());
        assert!(parse_upi("a@b@c").is_err());
        assert!(parse_upi("a b@c").is_err());
        assert_eq!(parse_weekdays(vec![5, 1]).unwrap(), vec![1, 5]);
        assert!(parse_weekdays(vec![]).is_err());
        assert!(parse_weekdays(vec![1, 1]).is_err());
        assert!(parse_weekdays(vec![0]).is_err());
        assert!(parse_weekdays(vec![8]).is_err());
        assert_eq!(
            id_list("d", vec!["a".into(), " a ".into(), "b".into()], 5).unwrap(),
            vec!["a", "b"]
        );
        assert!(minutes("m", 1440).is_err());
    }

    #[test]
    fn a_patch_cannot_push_the_discount_over_the_price() {
        let now = Utc::now();
        let mut p = Product {
            id: "p".into(),
            shop_id: "s".into(),
            name: "Tea".into(),
            description: String::new(),
            category_id: None,
            price: 1000,
            discount: 300,
            stock: 0,
            is_veg: true,
            image: None,
            rating_sum: 0,
            review_count: 0,
            deleted_at: None,
            created_at: now,
            updated_at: now,
        };
        let lower = ProductPatch {
            price: Some(200),
            ..Default::default()
        };
        assert!(apply_product_patch(&mut p, &lower).is_err());
        assert_eq!(p.price, 1000, "refused patches change nothing");
        let both = ProductPatch {
            price: Some(200),
            discount: Some(200),
            ..Default::default()
        };
        apply_product_patch(&mut p, &both).unwrap();
        assert_eq!(p.unit_price(), 0);
    }
}
