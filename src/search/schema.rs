//! The index's fields and how records become documents.
//!
//! One index holds every kind (`kind` tells them apart), so one writer and
//! one commit payload cover them all. Only ids are stored: results are
//! loaded from the store, which stays the source of truth and re-checks
//! visibility (a document a moment stale can never show what it should not).

use tantivy::TantivyDocument;
use tantivy::schema::{
    Field, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions,
};

use crate::domain::catalog::Product;
use crate::domain::order::Order;
use crate::domain::shop::{Shop, ShopType};
use crate::domain::user::User;

/// Bump when fields or analysis change: an index with another version is
/// rebuilt from the store at start.
pub const SCHEMA_VERSION: u32 = 1;
/// The analyzer's registered name.
pub const TOKENIZER: &str = "uphill";

pub const KIND_PRODUCT: &str = "product";
pub const KIND_SHOP: &str = "shop";
pub const KIND_ORDER: &str = "order";
pub const KIND_USER: &str = "user";

#[derive(Clone, Copy, Debug)]
pub struct Fields {
    /// "p:<id>" etc.: the delete key, unique across kinds.
    pub key: Field,
    pub kind: Field,
    pub id: Field,
    pub shop_id: Field,
    pub category_id: Field,
    pub veg: Field,
    pub in_stock: Field,
    pub status: Field,
    pub name: Field,
    pub description: Field,
    pub category: Field,
    pub shop: Field,
    pub building: Field,
    pub display_id: Field,
    pub student: Field,
    pub email: Field,
}

pub fn build() -> (Schema, Fields) {
    let mut b = Schema::builder();
    // Positions are not indexed: no phrase queries, a smaller index.
    let text = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(TOKENIZER)
            .set_index_option(IndexRecordOption::WithFreqs),
    );
    let fields = Fields {
        key: b.add_text_field("key", STRING),
        kind: b.add_text_field("kind", STRING),
        id: b.add_text_field("id", STRING | STORED),
        shop_id: b.add_text_field("shop_id", STRING),
        category_id: b.add_text_field("category_id", STRING),
        veg: b.add_text_field("veg", STRING),
        in_stock: b.add_text_field("in_stock", STRING),
        status: b.add_text_field("status", STRING),
        name: b.add_text_field("name", text.clone()),
        description: b.add_text_field("description", text.clone()),
        category: b.add_text_field("category", text.clone()),
        shop: b.add_text_field("shop", text.clone()),
        building: b.add_text_field("building", text.clone()),
        display_id: b.add_text_field("display_id", text.clone()),
        student: b.add_text_field("student", text.clone()),
        email: b.add_text_field("email", text),
    };
    (b.build(), fields)
}

pub fn flag(b: bool) -> &'static str {
    if b { "1" } else { "0" }
}

pub fn shop_type_name(t: ShopType) -> &'static str {
    match t {
        ShopType::Canteen => "canteen",
        ShopType::Stationery => "stationery",
        ShopType::Grocery => "grocery",
        ShopType::Other => "other",
    }
}

/// Whether moving a product's stock from `before` to `after` changes its
/// document. The document keeps the in-stock flag, not the count, so an
/// order that leaves some stock needs no reindex (and checkout, the hottest
/// write, skips a queue row per product).
pub fn stock_change_reindexes(before: u32, after: u32) -> bool {
    (before > 0) != (after > 0)
}

pub fn product_doc(
    f: &Fields,
    p: &Product,
    shop: &Shop,
    category_name: Option<&str>,
) -> TantivyDocument {
    let mut d = TantivyDocument::new();
    d.add_text(f.key, format!("p:{}", p.id));
    d.add_text(f.kind, KIND_PRODUCT);
    d.add_text(f.id, &p.id);
    d.add_text(f.shop_id, &p.shop_id);
    if let Some(c) = &p.category_id {
        d.add_text(f.category_id, c);
    }
    d.add_text(f.veg, flag(p.is_veg));
    d.add_text(f.in_stock, flag(p.stock > 0));
    d.add_text(f.name, &p.name);
    d.add_text(f.description, &p.description);
    if let Some(c) = category_name {
        d.add_text(f.category, c);
    }
    d.add_text(f.shop, &shop.name);
    d
}

pub fn shop_doc(f: &Fields, s: &Shop) -> TantivyDocument {
    let mut d = TantivyDocument::new();
    d.add_text(f.key, format!("s:{}", s.id));
    d.add_text(f.kind, KIND_SHOP);
    d.add_text(f.id, &s.id);
    d.add_text(f.shop_id, &s.id);
    d.add_text(f.name, &s.name);
    d.add_text(f.description, &s.description);
    d.add_text(f.building, &s.location);
    d.add_text(f.category, shop_type_name(s.shop_type));
    d
}

pub fn order_doc(f: &Fields, o: &Order, student_name: &str) -> TantivyDocument {
    let mut d = TantivyDocument::new();
    d.add_text(f.key, format!("o:{}", o.id));
    d.add_text(f.kind, KIND_ORDER);
    d.add_text(f.id, &o.id);
    d.add_text(f.shop_id, &o.shop_id);
    d.add_text(f.status, status_key(&o.status));
    d.add_text(f.display_id, &o.display_id);
    d.add_text(f.student, student_name);
    d
}

pub fn user_doc(f: &Fields, u: &User) -> TantivyDocument {
    let mut d = TantivyDocument::new();
    d.add_text(f.key, format!("u:{}", u.id));
    d.add_text(f.kind, KIND_USER);
    d.add_text(f.id, &u.id);
    d.add_text(f.status, status_key(&u.status));
    d.add_text(f.name, &u.name);
    d.add_text(f.email, &u.email);
    d
}

/// A status as its API name (`OUT_FOR_DELIVERY`), the filter value.
pub fn status_key<T: serde::Serialize>(s: &T) -> String {
    serde_json::to_value(s)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::stock_change_reindexes;

    #[test]
    fn only_crossing_zero_changes_a_product_document() {
        assert!(!stock_change_reindexes(10, 9));
        assert!(!stock_change_reindexes(1, 5));
        assert!(!stock_change_reindexes(0, 0));
        assert!(stock_change_reindexes(1, 0));
        assert!(stock_change_reindexes(0, 3));
    }
}
