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

#[cfg(test)]
mod tests {
    use super::*;
    use Verification::*;

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
