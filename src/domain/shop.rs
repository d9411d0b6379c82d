//! Shops: types, the verification workflow and who may see or order.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ShopType {
    Canteen,
    Stationery,
    Grocery,
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Verification {
    NotStarted,
    Pending,
    RequiresAction,
    Verified,
    Rejected,
}

impl Verification {
    /// The owner submits (`NOT_STARTED`) or resubmits (`REQUIRES_ACTION`).
    pub fn submit(self) -> Result<Verification, String> {
        match self {
            Verification::NotStarted | Verification::RequiresAction => Ok(Verification::Pending),
            other => Err(format!(
                "a shop that is {other:?} cannot be submitted for verification"
            )),
        }
    }

    /// What an admin may decide a shop becomes: verified, sent back to
    /// the owner for changes, or rejected.
    pub fn is_decision(self) -> bool {
        matches!(
            self,
            Verification::Verified | Verification::RequiresAction | Verification::Rejected
        )
    }

    /// An admin decides about a `PENDING` shop only, and only what
    /// `is_decision` allows.
    pub fn decide(self, to: Verification) -> Result<Verification, String> {
        if self != Verification::Pending {
            return Err(format!(
                "only a PENDING shop can be decided; this one is {self:?}"
            ));
        }
        if !to.is_decision() {
            return Err(format!("an admin cannot make a shop {to:?}"));
        }
        Ok(to)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Shop {
    pub id: String,
    pub owner_id: String,
    pub name: String,
    pub description: String,
    pub location: String,
    pub shop_type: ShopType,
    /// Minutes from midnight, campus time.
    pub opens_at: u16,
    pub closes_at: u16,
    pub image: Option<String>,
    pub upi_id: Option<String>,
    pub upi_qr_image: Option<String>,
    pub is_active: bool,
    pub accepting_orders: bool,
    pub verification: Verification,
    pub verification_note: Option<String>,
    pub min_order_value: i64,
    pub delivery_fee: i64,
    /// 0 means the shop offers no direct delivery.
    pub direct_delivery_fee: i64,
    /// Building ids; empty means the shop delivers everywhere.
    pub delivers_to: Vec<String>,
    /// User ids of runners.
    #[serde(default)]
    pub staff: Vec<String>,
    pub deleted_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Shop {
    /// Students see a shop only when it is verified, active and not deleted.
    pub fn is_public(&self) -> bool {
        self.verification == Verification::Verified && self.is_active && self.deleted_at.is_none()
    }

    /// Ordering also needs the vendor to be accepting orders.
    pub fn is_orderable(&self) -> bool {
        self.is_public() && self.accepting_orders
    }

    pub fn delivers_to_building(&self, building_id: &str) -> bool {
        self.delivers_to.is_empty() || self.delivers_to.iter().any(|b| b == building_id)
    }

    pub fn offers_direct_delivery(&self) -> bool {
        self.direct_delivery_fee > 0
    }

    pub fn is_staff(&self, user_id: &str) -> bool {
        self.owner_id == user_id || self.staff.iter().any(|s| s == user_id)
    }
}

/// What a shop's checklist still lacks before the owner may submit it for
/// verification: something to sell, a batch to deliver it in, and a way to
/// be paid. A UPI id is required, so no shop is cash-only: checkout offers
/// every student UPI, and a shop without an id could not be paid that way.
/// Empty when the shop is ready.
pub fn missing_for_verification(
    shop: &Shop,
    has_product: bool,
    has_active_slot: bool,
) -> Vec<&'static str> {
    let mut out = Vec::new();
    if !has_product {
        out.push("a product");
    }
    if !has_active_slot {
        out.push("an active batch slot");
    }
    if shop.upi_id.as_deref().is_none_or(|u| u.trim().is_empty()) {
        out.push("a UPI id");
    }
    out
}

/// "a product, an active batch slot and a UPI id".
pub fn name_list(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => one.to_string(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// A verified, active canteen open all day, for tests.
#[cfg(test)]
pub mod test_support {
    use super::*;

    pub fn shop(owner: &str) -> Shop {
        let now = chrono::Utc::now();
        Shop {
            id: "01SHOP0000000000000000000".into(),
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
            verification: Verification::Verified,
            verification_note: None,
            min_order_value: 0,
            delivery_fee: 0,
            direct_delivery_fee: 0,
            delivers_to: vec![],
            staff: vec![],
            deleted_at: None,
            created_at: now,
            updated_at: now,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Verification::*;

    fn shop(upi_id: Option<&str>) -> Shop {
        Shop {
            upi_id: upi_id.map(Into::into),
            verification: NotStarted,
            ..test_support::shop("o")
        }
    }

    #[test]
    fn a_shop_needs_a_product_an_active_slot_and_a_upi_id_to_be_submitted() {
        let ready = shop(Some("chai@okaxis"));
        assert!(missing_for_verification(&ready, true, true).is_empty());
        assert_eq!(
            missing_for_verification(&shop(None), false, false),
            ["a product", "an active batch slot", "a UPI id"]
        );
        assert_eq!(missing_for_verification(&ready, false, true), ["a product"]);
        assert_eq!(
            missing_for_verification(&ready, true, false),
            ["an active batch slot"]
        );
        assert_eq!(
            missing_for_verification(&shop(Some(" ")), true, true),
            ["a UPI id"]
        );
        assert_eq!(
            name_list(&["a product", "an active batch slot", "a UPI id"]),
            "a product, an active batch slot and a UPI id"
        );
        assert_eq!(name_list(&["a UPI id"]), "a UPI id");
    }

    #[test]
    fn verification_workflow() {
        assert_eq!(NotStarted.submit(), Ok(Pending));
        assert_eq!(RequiresAction.submit(), Ok(Pending));
        assert!(Pending.submit().is_err());
        assert!(Verified.submit().is_err());
        assert!(Rejected.submit().is_err());
        assert_eq!(Pending.decide(Verified), Ok(Verified));
        assert_eq!(Pending.decide(RequiresAction), Ok(RequiresAction));
        assert_eq!(Pending.decide(Rejected), Ok(Rejected));
        assert!(Pending.decide(Pending).is_err());
        assert!(Pending.decide(NotStarted).is_err());
        for s in [NotStarted, RequiresAction, Verified, Rejected] {
            assert!(s.decide(Verified).is_err(), "{s:?}");
        }
    }
}
