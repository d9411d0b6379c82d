//! Records around the catalog: products, buildings, categories, addresses,
//! announcements.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Product {
    pub id: String,
    pub shop_id: String,
    pub name: String,
    pub description: String,
    pub category_id: Option<String>,
    /// Minor units.
    pub price: i64,
    /// Minor units off the price; never more than the price.
    pub discount: i64,
    pub stock: u32,
    pub is_veg: bool,
    pub image: Option<String>,
    pub rating_sum: u64,
    pub review_count: u64,
    pub deleted_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Product {
    /// What a buyer pays per unit.
    pub fn unit_price(&self) -> i64 {
        self.price - self.discount
    }

    /// Average rating ×100 (e.g. 425 = 4.25), O(1) from the aggregates.
    pub fn rating_x100(&self) -> Option<u64> {
        (self.review_count > 0).then(|| self.rating_sum * 100 / self.review_count)
    }

    pub fn is_live(&self) -> bool {
        self.deleted_at.is_none()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Building {
    pub id: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Category {
    pub id: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Address {
    pub id: String,
    pub user_id: String,
    pub label: String,
    pub building_id: String,
    pub room: String,
    pub notes: String,
    pub is_default: bool,
    pub created_at: DateTime<Utc>,
}

/// The address as it was when an order was placed; later edits of the
/// address never change an order.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AddressSnapshot {
    pub label: String,
    pub building_id: String,
    pub building_name: String,
    pub room: String,
    pub notes: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Announcement {
    pub id: String,
    pub shop_id: String,
    pub title: String,
    pub message: String,
    pub product_id: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl Announcement {
    pub fn is_current(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_none_or(|e| e > now)
    }
}

/// A review of one item of a completed order.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Review {
    pub id: String,
    pub order_id: String,
    pub product_id: String,
    pub user_id: String,
    pub rating: u8,
    pub comment: String,
    pub created_at: DateTime<Utc>,
    /// Set when an admin removed it: the record stays (the author may not
    /// post the same review again), out of the product's index and rating.
    #[serde(default)]
    pub removed_at: Option<DateTime<Utc>>,
}

impl Product {
    /// Takes a removed review's rating out of the aggregates; saturating,
    /// so aggregates that were already off cannot wrap around.
    pub fn forget_rating(&mut self, rating: u8) {
        self.rating_sum = self.rating_sum.saturating_sub(u64::from(rating));
        self.review_count = self.review_count.saturating_sub(1);
        if self.review_count == 0 {
            self.rating_sum = 0;
        }
    }
}

pub fn check_rating(r: i64) -> Result<u8, super::FieldError> {
    if (1..=5).contains(&r) {
        Ok(r as u8)
    } else {
        Err(super::FieldError::new("rating", "must be 1 to 5"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratings_are_bounded_and_averaged_in_constant_time() {
        assert!(check_rating(0).is_err());
        assert!(check_rating(6).is_err());
        assert_eq!(check_rating(5).unwrap(), 5);
        let now = Utc::now();
        let mut p = Product {
            id: "p".into(),
            shop_id: "s".into(),
            name: "Tea".into(),
            description: String::new(),
            category_id: None,
            price: 1000,
            discount: 250,
            stock: 1,
            is_veg: true,
            image: None,
            rating_sum: 0,
            review_count: 0,
            deleted_at: None,
            created_at: now,
            updated_at: now,
        };
        assert_eq!(p.unit_price(), 750);
        assert_eq!(p.rating_x100(), None);
        p.rating_sum = 9;
        p.review_count = 2;
        assert_eq!(p.rating_x100(), Some(450));
        p.forget_rating(5);
        assert_eq!((p.rating_sum, p.review_count), (4, 1));
        p.forget_rating(5);
        assert_eq!((p.rating_sum, p.review_count), (0, 0));
        p.forget_rating(3);
        assert_eq!((p.rating_sum, p.review_count), (0, 0));
    }
}
