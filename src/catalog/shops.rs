//! Shops: creation, settings, listing, deactivation and deletion.

use super::*;

/// A new shop, as the owner describes it.
pub struct ShopInput {
    pub name: String,
    pub description: String,
    pub location: String,
    pub shop_type: ShopType,
    pub opens_at: u16,
    pub closes_at: u16,
    pub upi_id: Option<String>,
    pub min_order_value: i64,
    pub delivery_fee: i64,
    pub direct_delivery_fee: i64,
    pub delivers_to: Vec<String>,
    pub is_active: bool,
    pub accepting_orders: bool,
    /// Upload ids (see `files`).
    pub image: Option<String>,
    pub upi_qr_image: Option<String>,
}

/// A partial update; `None` leaves a field alone, `Some(None)` clears it.
#[derive(Debug, Clone, Default)]
pub struct ShopPatch {
    pub name: Option<String>,
    pub description: Option<String>,
    pub location: Option<String>,
    pub shop_type: Option<ShopType>,
    pub opens_at: Option<u16>,
    pub closes_at: Option<u16>,
    pub upi_id: Option<Option<String>>,
    pub min_order_value: Option<i64>,
    pub delivery_fee: Option<i64>,
    pub direct_delivery_fee: Option<i64>,
    pub delivers_to: Option<Vec<String>>,
    pub is_active: Option<bool>,
    pub accepting_orders: Option<bool>,
    pub image: Option<Option<String>>,
    pub upi_qr_image: Option<Option<String>>,
}

impl From<ShopInput> for ShopPatch {
    fn from(i: ShopInput) -> Self {
        ShopPatch {
            name: Some(i.name),
            description: Some(i.description),
            location: Some(i.location),
            shop_type: Some(i.shop_type),
            opens_at: Some(i.opens_at),
            closes_at: Some(i.closes_at),
            upi_id: Some(i.upi_id),
            min_order_value: Some(i.min_order_value),
            delivery_fee: Some(i.delivery_fee),
            direct_delivery_fee: Some(i.direct_delivery_fee),
            delivers_to: Some(i.delivers_to),
            is_active: Some(i.is_active),
            accepting_orders: Some(i.accepting_orders),
            image: i.image.map(Some),
            upi_qr_image: i.upi_qr_image.map(Some),
        }
    }
}

/// Trims and checks every given field (buildings are checked in the
/// transaction, where they cannot vanish underneath us).
fn clean_shop_patch(p: ShopPatch) -> Result<ShopPatch, Error> {
    let mut c = Check::default();
    let out = ShopPatch {
        name: p
            .name
            .and_then(|v| c.ok(bounded_text("name", &v, 1, 80, false))),
        description: p
            .description
            .and_then(|v| c.ok(bounded_text("description", &v, 0, 1000, true))),
        location: p
            .location
            .and_then(|v| c.ok(bounded_text("location", &v, 0, 200, false))),
        shop_type: p.shop_type,
        opens_at: p.opens_at.and_then(|v| c.ok(minutes("opens_at", v))),
        closes_at: p.closes_at.and_then(|v| c.ok(minutes("closes_at", v))),
        upi_id: p
            .upi_id
            .map(|v| c.ok(parse_upi(v.as_deref().unwrap_or(""))).flatten()),
        min_order_value: p
            .min_order_value
            .and_then(|v| c.ok(parse_amount("min_order_value", v))),
        delivery_fee: p
            .delivery_fee
            .and_then(|v| c.ok(parse_amount("delivery_fee", v))),
        direct_delivery_fee: p
            .direct_delivery_fee
            .and_then(|v| c.ok(parse_amount("direct_delivery_fee", v))),
        delivers_to: p
            .delivers_to
            .and_then(|v| c.ok(id_list("delivers_to", v, MAX_DELIVERS_TO))),
        is_active: p.is_active,
        accepting_orders: p.accepting_orders,
        image: image_ref(&mut c, "image", p.image),
        upi_qr_image: image_ref(&mut c, "upi_qr_image", p.upi_qr_image),
    };
    c.done()?;
    Ok(out)
}

/// An upload id to set (`Some(Some)`), clear (`Some(None)`) or leave.
pub(super) fn image_ref(
    c: &mut Check,
    field: &'static str,
    v: Option<Option<String>>,
) -> Option<Option<String>> {
    match v {
        Some(Some(id)) => c.ok(files::parse_ref(field, &id)).map(Some),
        other => other,
    }
}

/// Refuses (before anything is written) ids of uploads that do not exist.
pub(super) fn check_images(
    txn: &WriteTransaction,
    refs: &[(&'static str, &Option<Option<String>>)],
) -> Result<(), Error> {
    for (field, v) in refs {
        if let Some(Some(id)) = v {
            files::check_ref(txn, field, id)?;
        }
    }
    Ok(())
}

/// Tells the file store the images are in use, in the record's transaction.
pub(super) fn touch_images(
    txn: &WriteTransaction,
    refs: &[&Option<Option<String>>],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    for v in refs {
        if let Some(Some(id)) = v {
            files::touch(txn, id, now)?;
        }
    }
    Ok(())
}

fn apply_shop_patch(shop: &mut Shop, p: &ShopPatch) {
    macro_rules! set {
        ($($f:ident),*) => {$(
            if let Some(v) = &p.$f {
                shop.$f = v.clone();
            }
        )*};
    }
    set!(
        name,
        description,
        location,
        shop_type,
        opens_at,
        closes_at,
        upi_id,
        min_order_value,
        delivery_fee,
        direct_delivery_fee,
        delivers_to,
        is_active,
        accepting_orders,
        image,
        upi_qr_image
    );
}

fn check_buildings(txn: &WriteTransaction, ids: Option<&[String]>) -> Result<(), Error> {
    let Some(ids) = ids else { return Ok(()) };
    let buildings = txn.open_table(tables::BUILDINGS)?;
    let missing: Vec<&str> = ids
        .iter()
        .map(|id| Ok::<_, StoreError>((id, buildings.get(id.as_str())?.is_none())))
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .filter(|(_, missing)| *missing)
        .map(|(id, _)| id.as_str())
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(FieldError::new(
            "delivers_to",
            format!("no such building: {}", missing.join(", ")),
        )
        .into())
    }
}

pub(super) fn load_shop(txn: &WriteTransaction, id: &str) -> Result<Option<Shop>, StoreError> {
    codec::get(&txn.open_table(tables::SHOPS)?, id)
}

pub(super) fn save_shop(txn: &WriteTransaction, shop: &Shop) -> Result<(), StoreError> {
    codec::put(&mut txn.open_table(tables::SHOPS)?, &shop.id, shop)?;
    crate::search::enqueue(txn, crate::search::Target::Shop(shop.id.clone()))
}

/// Tells an owner what an admin did to their shop; admins act on shops
/// that are not theirs, and the owner would otherwise find out by surprise.
pub(super) fn tell_owner_of_admin_action(
    txn: &WriteTransaction,
    caller: &Caller,
    shop: &Shop,
    title: &str,
    message: String,
) -> Result<(), StoreError> {
    if caller.id != shop.owner_id {
        notify::push(
            txn,
            &shop.owner_id,
            Note {
                title,
                message,
                kind: Kind::Warning,
                category: Category::System,
                action: Some(format!("/shops/{}", shop.id)),
            },
        )?;
    }
    Ok(())
}

pub async fn create_shop(
    store: &Store,
    owner: &Caller,
    input: ShopInput,
    origin: Origin,
) -> Result<Shop, Error> {
    let patch = clean_shop_patch(input.into())?;
    let (id, now, owner_id) = (new_id(), Utc::now(), owner.id.clone());
    store
        .write(move |txn| {
            if txn
                .open_table(tables::OWNER_TO_SHOP)?
                .get(owner_id.as_str())?
                .is_some()
            {
                return Err(Error::Conflict(
                    "you already have a shop (one shop per user)".into(),
                ));
            }
            check_buildings(txn, patch.delivers_to.as_deref())?;
            check_images(
                txn,
                &[
                    ("image", &patch.image),
                    ("upi_qr_image", &patch.upi_qr_image),
                ],
            )?;
            let mut shop = Shop {
                id: id.clone(),
                owner_id: owner_id.clone(),
                name: String::new(),
                description: String::new(),
                location: String::new(),
                shop_type: ShopType::Other,
                opens_at: 0,
                closes_at: 0,
                image: None,
                upi_id: None,
                upi_qr_image: None,
                is_active: true,
                accepting_orders: true,
                verification: Verification::NotStarted,
                verification_note: None,
                min_order_value: 0,
                delivery_fee: 0,
                direct_delivery_fee: 0,
                delivers_to: Vec::new(),
                staff: Vec::new(),
                deleted_at: None,
                created_at: now,
                updated_at: now,
            };
            apply_shop_patch(&mut shop, &patch);
            txn.open_table(tables::OWNER_TO_SHOP)?
                .insert(owner_id.as_str(), id.as_str())?;
            save_shop(txn, &shop)?;
            touch_images(txn, &[&patch.image, &patch.upi_qr_image], now)?;
            audit::append(
                txn,
                &origin,
                "shop.create",
                &id,
                format!("created shop {:?}", shop.name),
            )?;
            Ok(shop)
        })
        .await
}

#[derive(Debug, Clone, Default)]
pub struct ShopFilter {
    pub shop_type: Option<ShopType>,
    pub building: Option<String>,
    /// Only this user's favourites.
    pub favorites_of: Option<String>,
}

/// The directory's order: by name, case-insensitively, then by id.
fn shop_key(s: &Shop) -> String {
    paging::key(&[&s.name.to_lowercase().replace('\0', ""), &s.id])
}

/// Public shops only, whoever asks: this is the students' directory,
/// sorted by name.
pub async fn list_shops(
    store: &Store,
    filter: ShopFilter,
    page: PageRequest,
) -> Result<Page<Shop>, Error> {
    store
        .read(move |txn| {
            let table = txn.open_table(tables::SHOPS)?;
            let candidates: Vec<Shop> = match &filter.favorites_of {
                None => codec::all(&table)?,
                Some(user_id) => {
                    let favs = txn.open_multimap_table(tables::USER_TO_FAVORITES)?;
                    let mut out = Vec::new();
                    for id in favs.get(user_id.as_str())? {
                        if let Some(s) = codec::get(&table, id?.value())? {
                            out.push(s);
                        }
                    }
                    out
                }
            };
            let shops = candidates
                .into_iter()
                .filter(|s| s.is_public())
                .filter(|s| filter.shop_type.is_none_or(|t| s.shop_type == t))
                .filter(|s| {
                    filter
                        .building
                        .as_deref()
                        .is_none_or(|b| s.delivers_to_building(b))
                });
            Ok(page.sort_and_take(shops, shop_key, Dir::Asc))
        })
        .await
}

/// One shop, with how the viewer stands towards it (for the view's detail).
pub async fn get_shop(
    store: &Store,
    viewer: Option<Caller>,
    id: String,
) -> Result<(Shop, Access), Error> {
    store
        .read(move |txn| {
            let shop = codec::get(&txn.open_table(tables::SHOPS)?, &id)?;
            let shop = gate(shop, viewer.as_ref(), Need::See, "shop")?;
            let access = Access::of(&shop, viewer.as_ref());
            Ok((shop, access))
        })
        .await
}

pub async fn my_shop(store: &Store, user_id: String) -> Result<Shop, Error> {
    store
        .read(move |txn| {
            owned_shop(txn, &user_id)?.ok_or_else(|| Error::NotFound("you have no shop".into()))
        })
        .await
}

/// The shop `user_id` owns, unless it was deleted.
pub fn owned_shop(txn: &redb::ReadTransaction, user_id: &str) -> Result<Option<Shop>, StoreError> {
    let Some(id) = txn
        .open_table(tables::OWNER_TO_SHOP)?
        .get(user_id)?
        .map(|g| g.value().to_string())
    else {
        return Ok(None);
    };
    Ok(
        codec::get::<Shop>(&txn.open_table(tables::SHOPS)?, &id)?
            .filter(|s| s.deleted_at.is_none()),
    )
}

/// `if_version`: the version the change was made from (`If-Match`), if any.
pub async fn update_shop(
    store: &Store,
    caller: Caller,
    id: String,
    patch: ShopPatch,
    if_version: Option<String>,
    origin: Origin,
) -> Result<Shop, Error> {
    let patch = clean_shop_patch(patch)?;
    let now = Utc::now();
    store
        .write(move |txn| {
            let mut shop = gate(
                load_shop(txn, &id)?,
                Some(&caller),
                Need::OwnerOrAdmin,
                "shop",
            )?;
            check_version(if_version.as_deref(), shop.updated_at, "shop")?;
            check_buildings(txn, patch.delivers_to.as_deref())?;
            check_images(
                txn,
                &[
                    ("image", &patch.image),
                    ("upi_qr_image", &patch.upi_qr_image),
                ],
            )?;
            apply_shop_patch(&mut shop, &patch);
            shop.updated_at = now;
            save_shop(txn, &shop)?;
            touch_images(txn, &[&patch.image, &patch.upi_qr_image], now)?;
            if caller.is_admin && caller.id != shop.owner_id {
                audit::append(
                    txn,
                    &origin,
                    "shop.update",
                    &shop.id,
                    format!("an admin edited shop {:?}", shop.name),
                )?;
                tell_owner_of_admin_action(
                    txn,
                    &caller,
                    &shop,
                    "Your shop was edited",
                    format!("A campus admin changed the details of {}.", shop.name),
                )?;
            }
            Ok(shop)
        })
        .await
}

/// Order records are owned elsewhere; deleting a shop only needs to know
/// whether any of its orders is still on its way.
#[derive(Deserialize)]
struct OrderStatusOnly {
    status: OrderStatus,
}

fn has_open_orders(txn: &WriteTransaction, shop_id: &str) -> Result<bool, StoreError> {
    let index = txn.open_multimap_table(tables::SHOP_TO_ORDERS)?;
    let orders = txn.open_table(tables::ORDERS)?;
    for id in index.get(shop_id)? {
        if let Some(o) = codec::get::<OrderStatusOnly>(&orders, id?.value())?
            && o.status.is_open()
        {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Soft delete: orders keep pointing at the record, students stop seeing
/// it, and the owner may open a new shop.
pub async fn delete_shop(
    store: &Store,
    caller: Caller,
    id: String,
    reason: Option<String>,
    origin: Origin,
) -> Result<(), Error> {
    let now = Utc::now();
    let because = reason.map(|r| format!(": {r}")).unwrap_or_default();
    store
        .write(move |txn| {
            let mut shop = gate(
                load_shop(txn, &id)?,
                Some(&caller),
                Need::OwnerOrAdmin,
                "shop",
            )?;
            if has_open_orders(txn, &shop.id)? {
                return Err(Error::Conflict(
                    "the shop has orders that are not finished; complete or cancel them first"
                        .into(),
                ));
            }
            shop.deleted_at = Some(now);
            shop.updated_at = now;
            save_shop(txn, &shop)?;
            {
                let mut owners = txn.open_table(tables::OWNER_TO_SHOP)?;
                let mine = owners
                    .get(shop.owner_id.as_str())?
                    .is_some_and(|g| g.value() == shop.id);
                if mine {
                    owners.remove(shop.owner_id.as_str())?;
                }
            }
            audit::append(
                txn,
                &origin,
                "shop.delete",
                &shop.id,
                format!("deleted shop {:?}{because}", shop.name),
            )?;
            tell_owner_of_admin_action(
                txn,
                &caller,
                &shop,
                "Your shop was removed",
                format!("A campus admin removed {} from Uphill{because}.", shop.name),
            )?;
            Ok(())
        })
        .await
}
