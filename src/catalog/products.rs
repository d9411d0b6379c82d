//! Products: creation, edits, restocks, listing and stock watches.

use super::*;

pub struct ProductInput {
    pub name: String,
    pub description: String,
    pub category_id: Option<String>,
    pub price: i64,
    pub discount: i64,
    pub stock: u32,
    pub is_veg: bool,
    /// An upload id (see `files`).
    pub image: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct ProductPatch {
    pub name: Option<String>,
    pub description: Option<String>,
    pub category_id: Option<Option<String>>,
    pub price: Option<i64>,
    pub discount: Option<i64>,
    pub stock: Option<u32>,
    /// Units to add to the stock as it is when the write runs: a restock
    /// never writes back a number read before a sale.
    pub restock: Option<u32>,
    pub is_veg: Option<bool>,
    pub image: Option<Option<String>>,
}

impl From<ProductInput> for ProductPatch {
    fn from(i: ProductInput) -> Self {
        ProductPatch {
            name: Some(i.name),
            description: Some(i.description),
            category_id: Some(i.category_id),
            price: Some(i.price),
            discount: Some(i.discount),
            stock: Some(i.stock),
            restock: None,
            is_veg: Some(i.is_veg),
            image: i.image.map(Some),
        }
    }
}

fn clean_product_patch(p: ProductPatch) -> Result<ProductPatch, Error> {
    let mut c = Check::default();
    let out = ProductPatch {
        name: p
            .name
            .and_then(|v| c.ok(bounded_text("name", &v, 1, 100, false))),
        description: p
            .description
            .and_then(|v| c.ok(bounded_text("description", &v, 0, 1000, true))),
        category_id: p
            .category_id
            .map(|v| v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())),
        price: p.price.and_then(|v| c.ok(parse_amount("price", v))),
        discount: p.discount.and_then(|v| c.ok(parse_amount("discount", v))),
        stock: p.stock.and_then(|v| {
            c.ok(if v > MAX_STOCK {
                Err(FieldError::new(
                    "stock",
                    format!("must be 0 to {MAX_STOCK}"),
                ))
            } else {
                Ok(v)
            })
        }),
        restock: match (p.stock, p.restock) {
            (Some(_), Some(_)) => {
                c.ok::<u32>(Err(FieldError::new(
                    "restock",
                    "send stock or restock, not both",
                )));
                None
            }
            (_, Some(v)) if v == 0 || v > MAX_STOCK => {
                c.ok::<u32>(Err(FieldError::new(
                    "restock",
                    format!("must be 1 to {MAX_STOCK}"),
                )));
                None
            }
            (_, r) => r,
        },
        is_veg: p.is_veg,
        image: image_ref(&mut c, "image", p.image),
    };
    c.done()?;
    Ok(out)
}

/// Applies a cleaned patch, refusing (before anything is stored) a result
/// whose discount is more than its price.
pub(super) fn apply_product_patch(product: &mut Product, p: &ProductPatch) -> Result<(), Error> {
    let price = p.price.unwrap_or(product.price);
    let discount = p.discount.unwrap_or(product.discount);
    check_discount(price, discount)?;
    if let Some(v) = &p.name {
        product.name = v.clone();
    }
    if let Some(v) = &p.description {
        product.description = v.clone();
    }
    if let Some(v) = &p.category_id {
        product.category_id = v.clone();
    }
    product.price = price;
    product.discount = discount;
    if let Some(v) = p.stock {
        product.stock = v;
    }
    if let Some(v) = p.restock {
        product.stock = product.stock.saturating_add(v).min(MAX_STOCK);
    }
    if let Some(v) = p.is_veg {
        product.is_veg = v;
    }
    if let Some(v) = &p.image {
        product.image = v.clone();
    }
    Ok(())
}

fn check_category(txn: &WriteTransaction, p: &ProductPatch) -> Result<(), Error> {
    if let Some(Some(id)) = &p.category_id
        && txn
            .open_table(tables::CATEGORIES)?
            .get(id.as_str())?
            .is_none()
    {
        return Err(FieldError::new("category_id", "no such category").into());
    }
    Ok(())
}

pub(super) fn load_product(
    txn: &WriteTransaction,
    id: &str,
) -> Result<Option<Product>, StoreError> {
    Ok(codec::get::<Product>(&txn.open_table(tables::PRODUCTS)?, id)?.filter(Product::is_live))
}

fn save_product(txn: &WriteTransaction, p: &Product) -> Result<(), StoreError> {
    codec::put(&mut txn.open_table(tables::PRODUCTS)?, &p.id, p)?;
    crate::search::enqueue(txn, crate::search::Target::Product(p.id.clone()))
}

/// The shop's live products, as counted with every create and delete.
fn live_product_count(txn: &WriteTransaction, shop_id: &str) -> Result<u64, StoreError> {
    let counts = txn.open_table(tables::SHOP_PRODUCT_COUNTS)?;
    Ok(counts.get(shop_id)?.map(|g| g.value()).unwrap_or(0))
}

/// Moves the shop's live-product count by one (a create or a delete).
pub(crate) fn count_product(
    txn: &WriteTransaction,
    shop_id: &str,
    added: bool,
) -> Result<(), StoreError> {
    let n = live_product_count(txn, shop_id)?;
    let n = if added { n + 1 } else { n.saturating_sub(1) };
    txn.open_table(tables::SHOP_PRODUCT_COUNTS)?
        .insert(shop_id, n)?;
    Ok(())
}

/// Fills the counts from the products stored: the migration that made
/// the table, and the check that the counts agree.
pub(crate) fn recount_products(txn: &WriteTransaction) -> Result<(), StoreError> {
    let mut counts = std::collections::BTreeMap::<String, u64>::new();
    for e in txn.open_table(tables::PRODUCTS)?.iter()? {
        let (_, v) = e?;
        let p: Product = codec::decode(v.value())?;
        if p.is_live() {
            *counts.entry(p.shop_id).or_default() += 1;
        }
    }
    let mut t = txn.open_table(tables::SHOP_PRODUCT_COUNTS)?;
    for (shop, n) in counts {
        t.insert(shop.as_str(), n)?;
    }
    Ok(())
}

pub async fn create_product(
    store: &Store,
    caller: Caller,
    shop_id: String,
    input: ProductInput,
) -> Result<Product, Error> {
    let patch = clean_product_patch(input.into())?;
    let (id, now) = (new_id(), Utc::now());
    store
        .write(move |txn| {
            let shop = gate(
                load_shop(txn, &shop_id)?,
                Some(&caller),
                Need::Owner,
                "shop",
            )?;
            check_category(txn, &patch)?;
            check_images(txn, &[("image", &patch.image)])?;
            let mut product = Product {
                id: id.clone(),
                shop_id: shop.id.clone(),
                name: String::new(),
                description: String::new(),
                category_id: None,
                price: 0,
                discount: 0,
                stock: 0,
                is_veg: false,
                image: None,
                rating_sum: 0,
                review_count: 0,
                deleted_at: None,
                created_at: now,
                updated_at: now,
            };
            apply_product_patch(&mut product, &patch)?;
            if live_product_count(txn, &shop.id)? >= MAX_PRODUCTS_PER_SHOP as u64 {
                return Err(Error::Conflict(format!(
                    "a shop has at most {MAX_PRODUCTS_PER_SHOP} products; delete some first"
                )));
            }
            save_product(txn, &product)?;
            count_product(txn, &shop.id, true)?;
            touch_images(txn, &[&patch.image], now)?;
            txn.open_multimap_table(tables::SHOP_TO_PRODUCTS)?
                .insert(shop.id.as_str(), id.as_str())?;
            Ok(product)
        })
        .await
}

#[derive(Debug, Clone, Default)]
pub struct ProductFilter {
    pub category: Option<String>,
    pub veg: Option<bool>,
    pub in_stock: Option<bool>,
}

/// A page of a shop's live products in the order they were added, and
/// whether the shop is public (then the page is the same for every caller).
pub async fn list_products(
    store: &Store,
    viewer: Option<Caller>,
    shop_id: String,
    filter: ProductFilter,
    page: PageRequest,
) -> Result<(Page<Product>, bool), Error> {
    store
        .read(move |txn| {
            let shop = codec::get(&txn.open_table(tables::SHOPS)?, &shop_id)?;
            let shop = gate(shop, viewer.as_ref(), Need::See, "shop")?;
            let index = txn.open_multimap_table(tables::SHOP_TO_PRODUCTS)?;
            let products = txn.open_table(tables::PRODUCTS)?;
            // Ids are ULIDs: the index holds them in the order they were added.
            let wanted = index.get(shop.id.as_str())?.filter_map(|id| {
                let id = match id {
                    Ok(id) => id.value().to_string(),
                    Err(e) => return Some(Err(Error::from(e))),
                };
                if !page.is_after(&id, Dir::Asc) {
                    return None;
                }
                let p = match codec::get::<Product>(&products, &id) {
                    Ok(Some(p)) => p,
                    Ok(None) => return None,
                    Err(e) => return Some(Err(Error::from(e))),
                };
                let wanted = p.is_live()
                    && filter
                        .category
                        .as_deref()
                        .is_none_or(|c| p.category_id.as_deref() == Some(c))
                    && filter.veg.is_none_or(|v| p.is_veg == v)
                    && filter.in_stock.is_none_or(|s| (p.stock > 0) == s);
                wanted.then_some(Ok((id, p)))
            });
            Ok((page.take(wanted, Dir::Asc)?, shop.is_public()))
        })
        .await
}

pub async fn get_product(
    store: &Store,
    viewer: Option<Caller>,
    id: String,
) -> Result<Product, Error> {
    store
        .read(move |txn| {
            let Some(p) = codec::get::<Product>(&txn.open_table(tables::PRODUCTS)?, &id)?
                .filter(Product::is_live)
            else {
                return Err(not_found("product"));
            };
            let shop = codec::get(&txn.open_table(tables::SHOPS)?, &p.shop_id)?;
            gate(shop, viewer.as_ref(), Need::See, "product")?;
            Ok(p)
        })
        .await
}

pub async fn update_product(
    store: &Store,
    caller: Caller,
    id: String,
    patch: ProductPatch,
    if_version: Option<String>,
) -> Result<Product, Error> {
    let patch = clean_product_patch(patch)?;
    let now = Utc::now();
    store
        .write(move |txn| {
            let Some(mut product) = load_product(txn, &id)? else {
                return Err(not_found("product"));
            };
            gate(
                load_shop(txn, &product.shop_id)?,
                Some(&caller),
                Need::Owner,
                "product",
            )?;
            check_version(if_version.as_deref(), product.updated_at, "product")?;
            check_category(txn, &patch)?;
            check_images(txn, &[("image", &patch.image)])?;
            let was_out = product.stock == 0;
            apply_product_patch(&mut product, &patch)?;
            product.updated_at = now;
            save_product(txn, &product)?;
            touch_images(txn, &[&patch.image], now)?;
            if was_out && product.stock > 0 {
                notify_restock(txn, &product)?;
            }
            Ok(product)
        })
        .await
}

/// Tells every watcher of `product` that it is back, once, and forgets the
/// watches. Call it in the transaction that moved the product's stock from 0
/// to more (a vendor's edit, a cancelled order giving units back). Does
/// nothing while the product is out of stock or deleted. The caller must not
/// hold `STOCK_WATCHES` or the notification tables open.
pub fn notify_restock(txn: &WriteTransaction, product: &Product) -> Result<usize, StoreError> {
    if product.stock == 0 || !product.is_live() {
        return Ok(0);
    }
    let watchers: Vec<String> = {
        let watches = txn.open_multimap_table(tables::STOCK_WATCHES)?;
        let mut out = Vec::new();
        for w in watches.get(product.id.as_str())? {
            out.push(w?.value().to_string());
        }
        out
    };
    if watchers.is_empty() {
        return Ok(0);
    }
    for user_id in &watchers {
        notify::push(
            txn,
            user_id,
            Note {
                title: "Back in stock",
                message: format!("{} is back in stock.", product.name),
                kind: Kind::Info,
                category: Category::General,
                action: Some(format!("/products/{}", product.id)),
            },
        )?;
    }
    txn.open_multimap_table(tables::STOCK_WATCHES)?
        .remove_all(product.id.as_str())?;
    Ok(watchers.len())
}

/// Soft delete: orders keep their price snapshots; the product disappears
/// from lists and lookups, and nobody waits for its restock any more.
pub async fn delete_product(
    store: &Store,
    caller: Caller,
    id: String,
    origin: Origin,
) -> Result<(), Error> {
    let now = Utc::now();
    store
        .write(move |txn| {
            let Some(mut product) = load_product(txn, &id)? else {
                return Err(not_found("product"));
            };
            let shop = gate(
                load_shop(txn, &product.shop_id)?,
                Some(&caller),
                Need::OwnerOrAdmin,
                "product",
            )?;
            product.deleted_at = Some(now);
            count_product(txn, &shop.id, false)?;
            product.updated_at = now;
            save_product(txn, &product)?;
            txn.open_multimap_table(tables::STOCK_WATCHES)?
                .remove_all(product.id.as_str())?;
            if caller.id != shop.owner_id {
                audit::append(
                    txn,
                    &origin,
                    "product.delete",
                    &product.id,
                    format!("an admin removed {:?} from shop {}", product.name, shop.id),
                )?;
                tell_owner_of_admin_action(
                    txn,
                    &caller,
                    &shop,
                    "A product was removed",
                    format!("A campus admin removed {} from your shop.", product.name),
                )?;
            }
            Ok(())
        })
        .await
}

/// Whether `user_id` watches `product_id` for a restock.
pub fn is_watching(
    txn: &redb::ReadTransaction,
    product_id: &str,
    user_id: &str,
) -> Result<bool, Error> {
    for u in txn
        .open_multimap_table(tables::STOCK_WATCHES)?
        .get(product_id)?
    {
        if u?.value() == user_id {
            return Ok(true);
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::Origin;
    use crate::store::WriterOptions;

    fn input(name: &str) -> ProductInput {
        ProductInput {
            name: name.into(),
            description: String::new(),
            category_id: None,
            price: 1_000,
            discount: 0,
            stock: 5,
            is_veg: true,
            image: None,
        }
    }

    async fn count(store: &Store, shop: &str) -> u64 {
        let shop = shop.to_string();
        store
            .write(move |txn| live_product_count(txn, &shop))
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn the_product_count_follows_creates_and_deletes_and_caps_the_shop() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), WriterOptions::default()).unwrap();
        let shop = crate::domain::shop::test_support::shop("owner");
        let shop_id = shop.id.clone();
        store
            .write(move |txn| super::super::shops::save_shop(txn, &shop))
            .await
            .unwrap();
        let owner = || Caller {
            id: "owner".into(),
            is_admin: false,
        };
        let mut ids = Vec::new();
        for name in ["Chai", "Samosa", "Bun"] {
            let p = create_product(&store, owner(), shop_id.clone(), input(name)).await;
            ids.push(p.unwrap().id);
        }
        delete_product(&store, owner(), ids[1].clone(), Origin::default())
            .await
            .unwrap();
        // A second delete of the same product finds nothing and counts nothing.
        assert!(
            delete_product(&store, owner(), ids[1].clone(), Origin::default())
                .await
                .is_err()
        );
        assert_eq!(count(&store, &shop_id).await, 2);

        // The migration's recount agrees with what the writes kept.
        let id = shop_id.clone();
        store
            .write(move |txn| {
                txn.open_table(tables::SHOP_PRODUCT_COUNTS)?
                    .remove(id.as_str())?;
                recount_products(txn)
            })
            .await
            .unwrap();
        assert_eq!(count(&store, &shop_id).await, 2);

        let id = shop_id.clone();
        store
            .write(move |txn| {
                txn.open_table(tables::SHOP_PRODUCT_COUNTS)?
                    .insert(id.as_str(), MAX_PRODUCTS_PER_SHOP as u64)?;
                Ok::<_, StoreError>(())
            })
            .await
            .unwrap();
        let full = create_product(&store, owner(), shop_id.clone(), input("One more")).await;
        assert!(matches!(full, Err(Error::Conflict(_))), "{full:?}");
        assert_eq!(count(&store, &shop_id).await, MAX_PRODUCTS_PER_SHOP as u64);
    }
}
