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
use crate::domain::shop::{Decision, Shop, ShopType, Verification};
use crate::domain::user::{Email, User};
use crate::domain::{FieldError, bounded_text};
use crate::files;
use crate::http::error::ApiError;
use crate::notify::{self, Category, Kind, Note};
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

fn not_found(what: &str) -> ApiError {
    ApiError::NotFound(format!("no such {what}"))
}

/// 404 unless the caller sees the shop, then 403 unless they may do what
/// they asked. Changes to a deleted shop are 404 even for admins.
fn gate(
    shop: Option<Shop>,
    caller: Option<&Caller>,
    need: Need,
    what: &str,
) -> Result<Shop, ApiError> {
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
        Need::Owner => Err(ApiError::Forbidden(format!(
            "only the shop's owner may change this {what}"
        ))),
        Need::OwnerOrAdmin if a.owner || a.admin => Ok(shop),
        Need::OwnerOrAdmin => Err(ApiError::Forbidden(format!(
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
) -> Result<Shop, ApiError> {
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

    fn done(self) -> Result<(), ApiError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(self.0))
        }
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

// --- Shops ---

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
            is_active: None,
            accepting_orders: None,
            image: i.image.map(Some),
            upi_qr_image: i.upi_qr_image.map(Some),
        }
    }
}

/// Trims and checks every given field (buildings are checked in the
/// transaction, where they cannot vanish underneath us).
fn clean_shop_patch(p: ShopPatch) -> Result<ShopPatch, ApiError> {
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
fn image_ref(
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
fn check_images(
    txn: &WriteTransaction,
    refs: &[(&'static str, &Option<Option<String>>)],
) -> Result<(), ApiError> {
    for (field, v) in refs {
        if let Some(Some(id)) = v {
            files::check_ref(txn, field, id)?;
        }
    }
    Ok(())
}

/// Tells the file store the images are in use, in the record's transaction.
fn touch_images(
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

fn check_buildings(txn: &WriteTransaction, ids: Option<&[String]>) -> Result<(), ApiError> {
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

fn load_shop(txn: &WriteTransaction, id: &str) -> Result<Option<Shop>, StoreError> {
    codec::get(&txn.open_table(tables::SHOPS)?, id)
}

fn save_shop(txn: &WriteTransaction, shop: &Shop) -> Result<(), StoreError> {
    codec::put(&mut txn.open_table(tables::SHOPS)?, &shop.id, shop)?;
    crate::search::enqueue(txn, crate::search::Target::Shop(shop.id.clone()))
}

/// Tells an owner what an admin did to their shop; admins act on shops
/// that are not theirs, and the owner would otherwise find out by surprise.
fn tell_owner_of_admin_action(
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
) -> Result<Shop, ApiError> {
    let patch = clean_shop_patch(input.into())?;
    let (id, now, owner_id) = (new_id(), Utc::now(), owner.id.clone());
    store
        .write(move |txn| {
            if txn
                .open_table(tables::OWNER_TO_SHOP)?
                .get(owner_id.as_str())?
                .is_some()
            {
                return Err(ApiError::Conflict(
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

fn sort_shops(shops: &mut [Shop]) {
    shops.sort_by_cached_key(|s| (s.name.to_lowercase(), s.id.clone()));
}

/// Public shops only, whoever asks: this is the students' directory.
pub async fn list_shops(store: &Store, filter: ShopFilter) -> Result<Vec<Shop>, ApiError> {
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
            let mut shops: Vec<Shop> = candidates
                .into_iter()
                .filter(|s| s.is_public())
                .filter(|s| filter.shop_type.is_none_or(|t| s.shop_type == t))
                .filter(|s| {
                    filter
                        .building
                        .as_deref()
                        .is_none_or(|b| s.delivers_to_building(b))
                })
                .collect();
            sort_shops(&mut shops);
            Ok(shops)
        })
        .await
}

/// One shop, with how the viewer stands towards it (for the view's detail).
pub async fn get_shop(
    store: &Store,
    viewer: Option<Caller>,
    id: String,
) -> Result<(Shop, Access), ApiError> {
    store
        .read(move |txn| {
            let shop = codec::get(&txn.open_table(tables::SHOPS)?, &id)?;
            let shop = gate(shop, viewer.as_ref(), Need::See, "shop")?;
            let access = Access::of(&shop, viewer.as_ref());
            Ok((shop, access))
        })
        .await
}

pub async fn my_shop(store: &Store, user_id: String) -> Result<Shop, ApiError> {
    store
        .read(move |txn| {
            let Some(id) = txn
                .open_table(tables::OWNER_TO_SHOP)?
                .get(user_id.as_str())?
                .map(|g| g.value().to_string())
            else {
                return Err(ApiError::NotFound("you have no shop".into()));
            };
            codec::get::<Shop>(&txn.open_table(tables::SHOPS)?, &id)?
                .filter(|s| s.deleted_at.is_none())
                .ok_or_else(|| ApiError::NotFound("you have no shop".into()))
        })
        .await
}

pub async fn update_shop(
    store: &Store,
    caller: Caller,
    id: String,
    patch: ShopPatch,
    origin: Origin,
) -> Result<Shop, ApiError> {
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
    origin: Origin,
) -> Result<(), ApiError> {
    let now = Utc::now();
    store
        .write(move |txn| {
            let mut shop = gate(
                load_shop(txn, &id)?,
                Some(&caller),
                Need::OwnerOrAdmin,
                "shop",
            )?;
            if has_open_orders(txn, &shop.id)? {
                return Err(ApiError::Conflict(
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
                format!("deleted shop {:?}", shop.name),
            )?;
            tell_owner_of_admin_action(
                txn,
                &caller,
                &shop,
                "Your shop was removed",
                format!("A campus admin removed {} from Uphill.", shop.name),
            )?;
            Ok(())
        })
        .await
}

// --- Verification ---

pub async fn submit_verification(
    store: &Store,
    caller: Caller,
    id: String,
    origin: Origin,
) -> Result<Shop, ApiError> {
    let now = Utc::now();
    store
        .write(move |txn| {
            let mut shop = gate(load_shop(txn, &id)?, Some(&caller), Need::Owner, "shop")?;
            shop.verification = shop.verification.submit().map_err(ApiError::Conflict)?;
            shop.updated_at = now;
            save_shop(txn, &shop)?;
            audit::append(
                txn,
                &origin,
                "shop.submit",
                &shop.id,
                "submitted for verification",
            )?;
            Ok(shop)
        })
        .await
}

/// Shops for the admins' verification queue, oldest change first, with
/// their owners (admins may see owners' names and emails).
pub async fn admin_list_shops(
    store: &Store,
    verification: Option<Verification>,
) -> Result<Vec<(Shop, Option<User>)>, ApiError> {
    store
        .read(move |txn| {
            let users = txn.open_table(tables::USERS)?;
            let mut shops: Vec<Shop> = codec::all::<Shop>(&txn.open_table(tables::SHOPS)?)?
                .into_iter()
                .filter(|s| s.deleted_at.is_none())
                .filter(|s| verification.is_none_or(|v| s.verification == v))
                .collect();
            shops.sort_by(|a, b| (a.updated_at, &a.id).cmp(&(b.updated_at, &b.id)));
            shops
                .into_iter()
                .map(|s| {
                    let owner = codec::get::<User>(&users, &s.owner_id)?;
                    Ok((s, owner))
                })
                .collect()
        })
        .await
}

pub async fn decide(
    store: &Store,
    admin: Caller,
    id: String,
    decision: Decision,
    note: String,
    origin: Origin,
) -> Result<Shop, ApiError> {
    if !admin.is_admin {
        return Err(ApiError::Forbidden("admins only".into()));
    }
    let note = bounded_text("note", &note, 0, 500, true)?;
    if decision != Decision::Verify && note.is_empty() {
        return Err(FieldError::new(
            "note",
            "tell the owner why: required unless the decision is VERIFY",
        )
        .into());
    }
    let now = Utc::now();
    store
        .write(move |txn| {
            let mut shop = gate(load_shop(txn, &id)?, Some(&admin), Need::See, "shop")?;
            if shop.deleted_at.is_some() {
                return Err(not_found("shop"));
            }
            shop.verification = shop
                .verification
                .decide(decision)
                .map_err(ApiError::Conflict)?;
            shop.verification_note = (!note.is_empty()).then(|| note.clone());
            shop.updated_at = now;
            save_shop(txn, &shop)?;
            let label = match decision {
                Decision::Verify => "VERIFY",
                Decision::RequireAction => "REQUIRE_ACTION",
                Decision::Reject => "REJECT",
            };
            audit::append(
                txn,
                &origin,
                "shop.decide",
                &shop.id,
                if note.is_empty() {
                    label.to_string()
                } else {
                    format!("{label}: {note}")
                },
            )?;
            let (title, kind, message) = match decision {
                Decision::Verify => (
                    "Shop verified",
                    Kind::Success,
                    format!("{} is verified: students can now find it.", shop.name),
                ),
                Decision::RequireAction => (
                    "Action needed on your shop",
                    Kind::Warning,
                    format!("{} needs changes before it is verified: {note}", shop.name),
                ),
                Decision::Reject => (
                    "Shop verification rejected",
                    Kind::Error,
                    format!("{} was not verified: {note}", shop.name),
                ),
            };
            notify::push(
                txn,
                &shop.owner_id,
                Note {
                    title,
                    message,
                    kind,
                    category: Category::System,
                    action: Some(format!("/shops/{}", shop.id)),
                },
            )?;
            crate::mail::enqueue_to_user(
                txn,
                &shop.owner_id,
                crate::mail::Message::ShopDecision {
                    shop_name: shop.name.clone(),
                    shop_id: shop.id.clone(),
                    decision: match decision {
                        Decision::Verify => "VERIFIED",
                        Decision::RequireAction => "REQUIRES_ACTION",
                        Decision::Reject => "REJECTED",
                    }
                    .into(),
                    note: note.clone(),
                },
            )?;
            Ok(shop)
        })
        .await
}

// --- Staff (runners) ---

pub async fn list_staff(
    store: &Store,
    caller: Caller,
    shop_id: String,
) -> Result<Vec<User>, ApiError> {
    store
        .read(move |txn| {
            let shop = codec::get(&txn.open_table(tables::SHOPS)?, &shop_id)?;
            let shop = gate(shop, Some(&caller), Need::OwnerOrAdmin, "shop")?;
            let users = txn.open_table(tables::USERS)?;
            let mut out = Vec::with_capacity(shop.staff.len());
            for id in &shop.staff {
                if let Some(u) = codec::get::<User>(&users, id)? {
                    out.push(u);
                }
            }
            Ok(out)
        })
        .await
}

/// A pending invitation to run for a shop, keyed "shop id/email key".
#[derive(Debug, Clone, serde::Serialize, Deserialize)]
pub struct StaffInvite {
    pub shop_id: String,
    /// The address as the owner typed it (trimmed).
    pub email: String,
    pub invited_at: DateTime<Utc>,
}

/// Pending invitations expire after this.
pub const INVITE_TTL_DAYS: i64 = 7;

fn invite_key(shop_id: &str, email_key: &str) -> String {
    format!("{shop_id}/{email_key}")
}

fn live_invite(i: &StaffInvite, now: DateTime<Utc>) -> bool {
    now - i.invited_at < Duration::days(INVITE_TTL_DAYS)
}

/// A shop's unexpired invitations: one key range of `STAFF_INVITES`.
fn live_invites(
    t: &impl ReadableTable<&'static str, &'static [u8]>,
    shop_id: &str,
    now: DateTime<Utc>,
) -> Result<Vec<StaffInvite>, StoreError> {
    let prefix = format!("{shop_id}/");
    let mut out = Vec::new();
    for e in t.range(prefix.as_str()..)? {
        let (k, v) = e?;
        if !k.value().starts_with(&prefix) {
            break;
        }
        let i: StaffInvite = codec::decode(v.value())?;
        if live_invite(&i, now) {
            out.push(i);
        }
    }
    Ok(out)
}

/// Invites a runner by email. The answer is the same whether or not the
/// address has an account, so a vendor cannot probe who is signed up; the
/// invited user accepts from their own account (`accept_invite`). Only a
/// verified shop invites.
pub async fn invite_staff(
    store: &Store,
    caller: Caller,
    shop_id: String,
    email: String,
    origin: Origin,
) -> Result<StaffInvite, ApiError> {
    let email = Email::parse(&email)?;
    let now = Utc::now();
    store
        .write(move |txn| {
            let shop = gate(
                load_shop(txn, &shop_id)?,
                Some(&caller),
                Need::Owner,
                "shop",
            )?;
            if shop.verification != Verification::Verified {
                return Err(ApiError::Conflict(
                    "only a verified shop invites runners; submit the shop for verification first"
                        .into(),
                ));
            }
            let owner: Option<User> = codec::get(&txn.open_table(tables::USERS)?, &shop.owner_id)?;
            if owner.is_some_and(|o| Email::parse(&o.email).is_ok_and(|e| e.key() == email.key())) {
                return Err(
                    FieldError::new("email", "the owner cannot be their own runner").into(),
                );
            }
            let key = invite_key(&shop.id, email.key());
            let mut invites = txn.open_table(tables::STAFF_INVITES)?;
            let pending = live_invites(&invites, &shop.id, now)?.len();
            if shop.staff.len() + pending >= MAX_STAFF_PER_SHOP
                && invites.get(key.as_str())?.is_none()
            {
                return Err(ApiError::Conflict(format!(
                    "a shop has at most {MAX_STAFF_PER_SHOP} runners and invitations"
                )));
            }
            let invite = StaffInvite {
                shop_id: shop.id.clone(),
                email: email.as_str().to_string(),
                invited_at: now,
            };
            codec::put(&mut invites, &key, &invite)?;
            drop(invites);
            txn.open_multimap_table(tables::EMAIL_TO_INVITES)?
                .insert(email.key(), shop.id.as_str())?;
            audit::append(
                txn,
                &origin,
                "shop.staff_invite",
                &shop.id,
                format!("invited {} to run", email.as_str()),
            )?;
            // Told in the app if the address has an account; nothing says
            // so to the vendor.
            let user_id = txn
                .open_table(tables::EMAIL_TO_USER)?
                .get(email.key())?
                .map(|g| g.value().to_string());
            if let Some(uid) = user_id.filter(|u| !shop.staff.contains(u)) {
                notify::push(
                    txn,
                    &uid,
                    Note {
                        title: "Invitation to run deliveries",
                        message: format!(
                            "{} invites you to carry its batches. Accept it under Runs.",
                            shop.name
                        ),
                        kind: Kind::Info,
                        category: Category::General,
                        action: Some("/runs".into()),
                    },
                )?;
            }
            Ok(invite)
        })
        .await
}

/// The shop's pending invitations (owner or admin), newest first.
pub async fn list_invites(
    store: &Store,
    caller: Caller,
    shop_id: String,
) -> Result<Vec<StaffInvite>, ApiError> {
    let now = Utc::now();
    store
        .read(move |txn| {
            let shop = codec::get(&txn.open_table(tables::SHOPS)?, &shop_id)?;
            let shop = gate(shop, Some(&caller), Need::OwnerOrAdmin, "shop")?;
            let mut out = live_invites(&txn.open_table(tables::STAFF_INVITES)?, &shop.id, now)?;
            out.sort_by_key(|i| std::cmp::Reverse(i.invited_at));
            Ok(out)
        })
        .await
}

/// An invitation as its invitee sees it.
pub struct MyInvite {
    pub shop_id: String,
    pub shop_name: String,
    pub invited_at: DateTime<Utc>,
}

/// The caller's pending invitations (by their account's address).
pub async fn my_invites(store: &Store, user_id: String) -> Result<Vec<MyInvite>, ApiError> {
    let now = Utc::now();
    store
        .read(move |txn| {
            let user: User = codec::get(&txn.open_table(tables::USERS)?, &user_id)?
                .ok_or_else(|| not_found("user"))?;
            let email = Email::parse(&user.email)?;
            let invites = txn.open_table(tables::STAFF_INVITES)?;
            let shops = txn.open_table(tables::SHOPS)?;
            let mut out = Vec::new();
            for sid in txn
                .open_multimap_table(tables::EMAIL_TO_INVITES)?
                .get(email.key())?
            {
                let sid = sid?.value().to_string();
                let Some(i) = codec::get::<StaffInvite>(&invites, &invite_key(&sid, email.key()))?
                else {
                    continue;
                };
                let shop: Option<Shop> = codec::get(&shops, &sid)?;
                if let Some(shop) = shop.filter(|s| s.deleted_at.is_none())
                    && live_invite(&i, now)
                    && !shop.staff.contains(&user.id)
                {
                    out.push(MyInvite {
                        shop_id: shop.id,
                        shop_name: shop.name,
                        invited_at: i.invited_at,
                    });
                }
            }
            Ok(out)
        })
        .await
}

/// Removes an invitation from both tables.
fn drop_invite(txn: &WriteTransaction, shop_id: &str, email_key: &str) -> Result<bool, StoreError> {
    let had = txn
        .open_table(tables::STAFF_INVITES)?
        .remove(invite_key(shop_id, email_key).as_str())?
        .is_some();
    txn.open_multimap_table(tables::EMAIL_TO_INVITES)?
        .remove(email_key, shop_id)?;
    Ok(had)
}

/// The invitee accepts (`accept`) or declines an invitation. Accepting
/// needs a confirmed address: the invitation went to the address, so only
/// whoever proved they read it may take it.
pub async fn answer_invite(
    store: &Store,
    user_id: String,
    shop_id: String,
    accept: bool,
    origin: Origin,
) -> Result<(), ApiError> {
    let now = Utc::now();
    store
        .write(move |txn| {
            let user: User = codec::get(&txn.open_table(tables::USERS)?, &user_id)?
                .ok_or_else(|| not_found("user"))?;
            let email = Email::parse(&user.email)?;
            let invite: Option<StaffInvite> = codec::get(
                &txn.open_table(tables::STAFF_INVITES)?,
                &invite_key(&shop_id, email.key()),
            )?;
            let Some(invite) = invite.filter(|i| live_invite(i, now)) else {
                return Err(not_found("invitation"));
            };
            if !accept {
                drop_invite(txn, &shop_id, email.key())?;
                return Ok(());
            }
            if !user.email_verified {
                return Err(ApiError::Forbidden(
                    "confirm your email address before accepting".into(),
                ));
            }
            let Some(mut shop) =
                load_shop(txn, &invite.shop_id)?.filter(|s| s.deleted_at.is_none())
            else {
                return Err(not_found("invitation"));
            };
            if shop.owner_id == user.id {
                return Err(ApiError::Conflict("you own this shop".into()));
            }
            drop_invite(txn, &shop_id, email.key())?;
            if shop.staff.contains(&user.id) {
                return Ok(());
            }
            if shop.staff.len() >= MAX_STAFF_PER_SHOP {
                return Err(ApiError::Conflict(format!(
                    "a shop has at most {MAX_STAFF_PER_SHOP} runners"
                )));
            }
            shop.staff.push(user.id.clone());
            shop.updated_at = now;
            save_shop(txn, &shop)?;
            txn.open_multimap_table(tables::STAFF_TO_SHOPS)?
                .insert(user.id.as_str(), shop.id.as_str())?;
            audit::append(
                txn,
                &origin,
                "shop.staff_add",
                &shop.id,
                format!("{} accepted the invitation to run", user.id),
            )?;
            notify::push(
                txn,
                &shop.owner_id,
                Note {
                    title: "A runner joined",
                    message: format!("{} accepted your invitation to run.", user.name),
                    kind: Kind::Success,
                    category: Category::General,
                    action: Some("/vendor/settings".into()),
                },
            )?;
            Ok(())
        })
        .await
}

pub async fn remove_staff(
    store: &Store,
    caller: Caller,
    shop_id: String,
    user_id: String,
    origin: Origin,
) -> Result<(), ApiError> {
    let now = Utc::now();
    store
        .write(move |txn| {
            let mut shop = gate(
                load_shop(txn, &shop_id)?,
                Some(&caller),
                Need::Owner,
                "shop",
            )?;
            if !shop.staff.contains(&user_id) {
                return Err(not_found("runner"));
            }
            shop.staff.retain(|s| *s != user_id);
            shop.updated_at = now;
            save_shop(txn, &shop)?;
            txn.open_multimap_table(tables::STAFF_TO_SHOPS)?
                .remove(user_id.as_str(), shop.id.as_str())?;
            // Open streams were opened with runner rights: end them, so a
            // removed runner hears nothing more of the shop.
            crate::events::revoke(txn, &user_id, &crate::events::Revoke::Rights)?;
            audit::append(
                txn,
                &origin,
                "shop.staff_remove",
                &shop.id,
                format!("removed runner {user_id}"),
            )?;
            notify::push(
                txn,
                &user_id,
                Note {
                    title: "Runner access ended",
                    message: format!("{} removed you from its runners.", shop.name),
                    kind: Kind::Info,
                    category: Category::General,
                    action: None,
                },
            )?;
            Ok(())
        })
        .await
}

// --- Products ---

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
            is_veg: Some(i.is_veg),
            image: i.image.map(Some),
        }
    }
}

fn clean_product_patch(p: ProductPatch) -> Result<ProductPatch, ApiError> {
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
        is_veg: p.is_veg,
        image: image_ref(&mut c, "image", p.image),
    };
    c.done()?;
    Ok(out)
}

/// Applies a cleaned patch, refusing (before anything is stored) a result
/// whose discount is more than its price.
fn apply_product_patch(product: &mut Product, p: &ProductPatch) -> Result<(), ApiError> {
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
    if let Some(v) = p.is_veg {
        product.is_veg = v;
    }
    if let Some(v) = &p.image {
        product.image = v.clone();
    }
    Ok(())
}

fn check_category(txn: &WriteTransaction, p: &ProductPatch) -> Result<(), ApiError> {
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

fn load_product(txn: &WriteTransaction, id: &str) -> Result<Option<Product>, StoreError> {
    Ok(codec::get::<Product>(&txn.open_table(tables::PRODUCTS)?, id)?.filter(Product::is_live))
}

fn save_product(txn: &WriteTransaction, p: &Product) -> Result<(), StoreError> {
    codec::put(&mut txn.open_table(tables::PRODUCTS)?, &p.id, p)?;
    crate::search::enqueue(txn, crate::search::Target::Product(p.id.clone()))
}

fn live_product_count(txn: &WriteTransaction, shop_id: &str) -> Result<usize, StoreError> {
    let index = txn.open_multimap_table(tables::SHOP_TO_PRODUCTS)?;
    let products = txn.open_table(tables::PRODUCTS)?;
    let mut n = 0;
    for id in index.get(shop_id)? {
        if codec::get::<Product>(&products, id?.value())?.is_some_and(|p| p.is_live()) {
            n += 1;
        }
    }
    Ok(n)
}

pub async fn create_product(
    store: &Store,
    caller: Caller,
    shop_id: String,
    input: ProductInput,
) -> Result<Product, ApiError> {
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
            if live_product_count(txn, &shop.id)? >= MAX_PRODUCTS_PER_SHOP {
                return Err(ApiError::Conflict(format!(
                    "a shop has at most {MAX_PRODUCTS_PER_SHOP} products; delete some first"
                )));
            }
            save_product(txn, &product)?;
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

/// A shop's live products in the order they were added, and whether the
/// shop is public (then the page is the same for every caller).
pub async fn list_products(
    store: &Store,
    viewer: Option<Caller>,
    shop_id: String,
    filter: ProductFilter,
) -> Result<(Vec<Product>, bool), ApiError> {
    store
        .read(move |txn| {
            let shop = codec::get(&txn.open_table(tables::SHOPS)?, &shop_id)?;
            let shop = gate(shop, viewer.as_ref(), Need::See, "shop")?;
            let index = txn.open_multimap_table(tables::SHOP_TO_PRODUCTS)?;
            let products = txn.open_table(tables::PRODUCTS)?;
            let mut out = Vec::new();
            for id in index.get(shop.id.as_str())? {
                let Some(p) = codec::get::<Product>(&products, id?.value())? else {
                    continue;
                };
                let wanted = p.is_live()
                    && filter
                        .category
                        .as_deref()
                        .is_none_or(|c| p.category_id.as_deref() == Some(c))
                    && filter.veg.is_none_or(|v| p.is_veg == v)
                    && filter.in_stock.is_none_or(|s| (p.stock > 0) == s);
                if wanted {
                    out.push(p);
                }
            }
            Ok((out, shop.is_public()))
        })
        .await
}

pub async fn get_product(
    store: &Store,
    viewer: Option<Caller>,
    id: String,
) -> Result<Product, ApiError> {
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
) -> Result<Product, ApiError> {
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
) -> Result<(), ApiError> {
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

// --- Slots ---

pub struct SlotInput {
    pub cutoff_minutes: u16,
    pub label: String,
    pub active: bool,
    pub sort_order: i32,
    pub weekdays: Option<Vec<u8>>,
    pub max_orders: Option<u32>,
}

#[derive(Debug, Clone, Default)]
pub struct SlotPatch {
    pub cutoff_minutes: Option<u16>,
    pub label: Option<String>,
    pub active: Option<bool>,
    pub sort_order: Option<i32>,
    pub weekdays: Option<Option<Vec<u8>>>,
    pub max_orders: Option<Option<u32>>,
}

impl From<SlotInput> for SlotPatch {
    fn from(i: SlotInput) -> Self {
        SlotPatch {
            cutoff_minutes: Some(i.cutoff_minutes),
            label: Some(i.label),
            active: Some(i.active),
            sort_order: Some(i.sort_order),
            weekdays: Some(i.weekdays),
            max_orders: Some(i.max_orders),
        }
    }
}

/// ISO weekdays, 1 = Monday … 7 = Sunday, each at most once; stored sorted.
fn parse_weekdays(days: Vec<u8>) -> Result<Vec<u8>, FieldError> {
    let mut sorted = days.clone();
    sorted.sort_unstable();
    sorted.dedup();
    if days.is_empty() {
        return Err(FieldError::new(
            "weekdays",
            "name at least one day, or leave weekdays out for every day",
        ));
    }
    if sorted.len() != days.len() || sorted.iter().any(|d| !(1..=7).contains(d)) {
        return Err(FieldError::new(
            "weekdays",
            "must be distinct ISO weekdays, 1 (Monday) to 7 (Sunday)",
        ));
    }
    Ok(sorted)
}

fn clean_slot_patch(p: SlotPatch) -> Result<SlotPatch, ApiError> {
    let mut c = Check::default();
    let out = SlotPatch {
        cutoff_minutes: p
            .cutoff_minutes
            .and_then(|v| c.ok(minutes("cutoff_minutes", v))),
        label: p
            .label
            .and_then(|v| c.ok(bounded_text("label", &v, 1, 60, false))),
        active: p.active,
        sort_order: p.sort_order.and_then(|v| {
            c.ok(if (0..=MAX_SORT_ORDER).contains(&v) {
                Ok(v)
            } else {
                Err(FieldError::new(
                    "sort_order",
                    format!("must be 0 to {MAX_SORT_ORDER}"),
                ))
            })
        }),
        weekdays: match p.weekdays {
            None => None,
            Some(None) => Some(None),
            Some(Some(days)) => c.ok(parse_weekdays(days)).map(Some),
        },
        max_orders: match p.max_orders {
            Some(Some(n)) if !(1..=MAX_ORDERS_PER_BATCH).contains(&n) => {
                c.ok::<()>(Err(FieldError::new(
                    "max_orders",
                    format!("must be 1 to {MAX_ORDERS_PER_BATCH}"),
                )));
                None
            }
            other => other,
        },
    };
    c.done()?;
    Ok(out)
}

fn apply_slot_patch(slot: &mut Slot, p: &SlotPatch) {
    if let Some(v) = p.cutoff_minutes {
        slot.cutoff_minutes = v;
    }
    if let Some(v) = &p.label {
        slot.label = v.clone();
    }
    if let Some(v) = p.active {
        slot.active = v;
    }
    if let Some(v) = p.sort_order {
        slot.sort_order = v;
    }
    if let Some(v) = &p.weekdays {
        slot.weekdays = v.clone();
    }
    if let Some(v) = p.max_orders {
        slot.max_orders = v;
    }
}

/// When the slot's next batch closes; none for an inactive slot, which
/// takes no orders.
pub fn next_cutoff_at(slot: &Slot, now: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
    if slot.active {
        batch::next_cutoff(slot, now, tz)
    } else {
        None
    }
}

/// A shop's slots in display order; students see only active ones.
pub async fn list_slots(
    store: &Store,
    viewer: Option<Caller>,
    shop_id: String,
) -> Result<Vec<Slot>, ApiError> {
    store
        .read(move |txn| {
            let shop = codec::get(&txn.open_table(tables::SHOPS)?, &shop_id)?;
            let shop = gate(shop, viewer.as_ref(), Need::See, "shop")?;
            let insider = Access::of(&shop, viewer.as_ref()).insider();
            let index = txn.open_multimap_table(tables::SHOP_TO_SLOTS)?;
            let slots = txn.open_table(tables::SLOTS)?;
            let mut out = Vec::new();
            for id in index.get(shop.id.as_str())? {
                if let Some(s) = codec::get::<Slot>(&slots, id?.value())?
                    && (s.active || insider)
                {
                    out.push(s);
                }
            }
            out.sort_by(|a, b| {
                (a.sort_order, a.cutoff_minutes, &a.id).cmp(&(
                    b.sort_order,
                    b.cutoff_minutes,
                    &b.id,
                ))
            });
            Ok(out)
        })
        .await
}

pub async fn create_slot(
    store: &Store,
    caller: Caller,
    shop_id: String,
    input: SlotInput,
) -> Result<Slot, ApiError> {
    let patch = clean_slot_patch(input.into())?;
    let (id, now) = (new_id(), Utc::now());
    store
        .write(move |txn| {
            let shop = gate(
                load_shop(txn, &shop_id)?,
                Some(&caller),
                Need::Owner,
                "shop",
            )?;
            let count = txn
                .open_multimap_table(tables::SHOP_TO_SLOTS)?
                .get(shop.id.as_str())?
                .count();
            if count >= MAX_SLOTS_PER_SHOP {
                return Err(ApiError::Conflict(format!(
                    "a shop has at most {MAX_SLOTS_PER_SHOP} slots"
                )));
            }
            let mut slot = Slot {
                id: id.clone(),
                shop_id: shop.id.clone(),
                cutoff_minutes: 0,
                label: String::new(),
                active: true,
                sort_order: 0,
                weekdays: None,
                max_orders: None,
                created_at: now,
            };
            apply_slot_patch(&mut slot, &patch);
            codec::put(&mut txn.open_table(tables::SLOTS)?, &id, &slot)?;
            txn.open_multimap_table(tables::SHOP_TO_SLOTS)?
                .insert(shop.id.as_str(), id.as_str())?;
            Ok(slot)
        })
        .await
}

fn load_slot(txn: &WriteTransaction, id: &str) -> Result<Option<Slot>, StoreError> {
    codec::get(&txn.open_table(tables::SLOTS)?, id)
}

/// Batches copy what they need from their slot, so an edit only shapes
/// batches made after it.
pub async fn update_slot(
    store: &Store,
    caller: Caller,
    id: String,
    patch: SlotPatch,
) -> Result<Slot, ApiError> {
    let patch = clean_slot_patch(patch)?;
    store
        .write(move |txn| {
            let Some(mut slot) = load_slot(txn, &id)? else {
                return Err(not_found("slot"));
            };
            let shop = load_shop(txn, &slot.shop_id)?;
            gate_child(shop, Some(&caller), Need::Owner, slot.active, "slot")?;
            apply_slot_patch(&mut slot, &patch);
            codec::put(&mut txn.open_table(tables::SLOTS)?, &id, &slot)?;
            Ok(slot)
        })
        .await
}

pub async fn delete_slot(store: &Store, caller: Caller, id: String) -> Result<(), ApiError> {
    store
        .write(move |txn| {
            let Some(slot) = load_slot(txn, &id)? else {
                return Err(not_found("slot"));
            };
            let shop = load_shop(txn, &slot.shop_id)?;
            gate_child(shop, Some(&caller), Need::Owner, slot.active, "slot")?;
            txn.open_table(tables::SLOTS)?.remove(id.as_str())?;
            txn.open_multimap_table(tables::SHOP_TO_SLOTS)?
                .remove(slot.shop_id.as_str(), id.as_str())?;
            Ok(())
        })
        .await
}

// --- Favourites ---

/// Idempotent; only a shop the student can see can be a favourite.
pub async fn add_favorite(store: &Store, user_id: String, shop_id: String) -> Result<(), ApiError> {
    store
        .write(move |txn| {
            if !load_shop(txn, &shop_id)?.is_some_and(|s| s.is_public()) {
                return Err(not_found("shop"));
            }
            let mut favs = txn.open_multimap_table(tables::USER_TO_FAVORITES)?;
            let (mut count, mut present) = (0, false);
            for f in favs.get(user_id.as_str())? {
                count += 1;
                present |= f?.value() == shop_id;
            }
            if present {
                return Ok(());
            }
            if count >= MAX_FAVORITES {
                return Err(ApiError::Conflict(format!(
                    "at most {MAX_FAVORITES} favourite shops"
                )));
            }
            favs.insert(user_id.as_str(), shop_id.as_str())?;
            Ok(())
        })
        .await
}

/// Idempotent: removing what is not there is already done.
pub async fn remove_favorite(
    store: &Store,
    user_id: String,
    shop_id: String,
) -> Result<(), ApiError> {
    store
        .write(move |txn| {
            txn.open_multimap_table(tables::USER_TO_FAVORITES)?
                .remove(user_id.as_str(), shop_id.as_str())?;
            Ok(())
        })
        .await
}

// --- Announcements ---

pub struct AnnouncementInput {
    pub title: String,
    pub message: String,
    pub product_id: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
}

fn clean_announcement(
    i: AnnouncementInput,
    now: DateTime<Utc>,
) -> Result<AnnouncementInput, ApiError> {
    let mut c = Check::default();
    let title = c.ok(bounded_text("title", &i.title, 1, 100, false));
    let message = c.ok(bounded_text("message", &i.message, 1, 1000, true));
    if let Some(e) = i.expires_at {
        if e <= now {
            c.ok::<()>(Err(FieldError::new("expires_at", "must be in the future")));
        } else if e > now + Duration::days(MAX_ANNOUNCEMENT_DAYS) {
            c.ok::<()>(Err(FieldError::new(
                "expires_at",
                format!("must be within {MAX_ANNOUNCEMENT_DAYS} days"),
            )));
        }
    }
    c.done()?;
    Ok(AnnouncementInput {
        title: title.unwrap_or_default(),
        message: message.unwrap_or_default(),
        product_id: i
            .product_id
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty()),
        expires_at: i.expires_at,
    })
}

pub async fn create_announcement(
    store: &Store,
    caller: Caller,
    shop_id: String,
    input: AnnouncementInput,
) -> Result<Announcement, ApiError> {
    let now = Utc::now();
    let input = clean_announcement(input, now)?;
    let id = new_id();
    store
        .write(move |txn| {
            let shop = gate(
                load_shop(txn, &shop_id)?,
                Some(&caller),
                Need::Owner,
                "shop",
            )?;
            if let Some(pid) = &input.product_id
                && load_product(txn, pid)?.is_none_or(|p| p.shop_id != shop.id)
            {
                return Err(FieldError::new("product_id", "no such product in this shop").into());
            }
            let existing: Vec<Announcement> = {
                let index = txn.open_multimap_table(tables::SHOP_TO_ANNOUNCEMENTS)?;
                let table = txn.open_table(tables::ANNOUNCEMENTS)?;
                let mut out = Vec::new();
                for a in index.get(shop.id.as_str())? {
                    if let Some(a) = codec::get::<Announcement>(&table, a?.value())? {
                        out.push(a);
                    }
                }
                out
            };
            let (current, expired): (Vec<_>, Vec<_>) =
                existing.into_iter().partition(|a| a.is_current(now));
            if current.len() >= MAX_CURRENT_ANNOUNCEMENTS {
                return Err(ApiError::Conflict(format!(
                    "a shop has at most {MAX_CURRENT_ANNOUNCEMENTS} current announcements; \
                     delete one first"
                )));
            }
            let a = Announcement {
                id: id.clone(),
                shop_id: shop.id.clone(),
                title: input.title.clone(),
                message: input.message.clone(),
                product_id: input.product_id.clone(),
                expires_at: input.expires_at,
                created_at: now,
            };
            let mut table = txn.open_table(tables::ANNOUNCEMENTS)?;
            let mut index = txn.open_multimap_table(tables::SHOP_TO_ANNOUNCEMENTS)?;
            // Expired ones are never shown again; posting is a good moment
            // to drop them rather than keep them forever.
            for old in &expired {
                table.remove(old.id.as_str())?;
                index.remove(shop.id.as_str(), old.id.as_str())?;
            }
            codec::put(&mut table, &id, &a)?;
            index.insert(shop.id.as_str(), id.as_str())?;
            Ok(a)
        })
        .await
}

/// The shop's current announcements, newest first.
pub async fn list_announcements(
    store: &Store,
    viewer: Option<Caller>,
    shop_id: String,
) -> Result<Vec<Announcement>, ApiError> {
    let now = Utc::now();
    store
        .read(move |txn| {
            let shop = codec::get(&txn.open_table(tables::SHOPS)?, &shop_id)?;
            let shop = gate(shop, viewer.as_ref(), Need::See, "shop")?;
            let index = txn.open_multimap_table(tables::SHOP_TO_ANNOUNCEMENTS)?;
            let table = txn.open_table(tables::ANNOUNCEMENTS)?;
            let mut out = Vec::new();
            for id in index.get(shop.id.as_str())? {
                if let Some(a) = codec::get::<Announcement>(&table, id?.value())?
                    && a.is_current(now)
                {
                    out.push(a);
                }
            }
            out.sort_by(|a, b| (b.created_at, &b.id).cmp(&(a.created_at, &a.id)));
            Ok(out)
        })
        .await
}

pub async fn delete_announcement(
    store: &Store,
    caller: Caller,
    id: String,
    origin: Origin,
) -> Result<(), ApiError> {
    let now = Utc::now();
    store
        .write(move |txn| {
            let Some(a) = codec::get::<Announcement>(&txn.open_table(tables::ANNOUNCEMENTS)?, &id)?
            else {
                return Err(not_found("announcement"));
            };
            let shop = gate_child(
                load_shop(txn, &a.shop_id)?,
                Some(&caller),
                Need::OwnerOrAdmin,
                a.is_current(now),
                "announcement",
            )?;
            txn.open_table(tables::ANNOUNCEMENTS)?.remove(id.as_str())?;
            txn.open_multimap_table(tables::SHOP_TO_ANNOUNCEMENTS)?
                .remove(a.shop_id.as_str(), id.as_str())?;
            if caller.id != shop.owner_id {
                audit::append(
                    txn,
                    &origin,
                    "announcement.delete",
                    &a.id,
                    format!(
                        "an admin removed announcement {:?} of shop {}",
                        a.title, shop.id
                    ),
                )?;
                tell_owner_of_admin_action(
                    txn,
                    &caller,
                    &shop,
                    "An announcement was removed",
                    format!("A campus admin removed your announcement {:?}.", a.title),
                )?;
            }
            Ok(())
        })
        .await
}

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

    fn status(r: Result<Shop, ApiError>) -> u16 {
        match r {
            Ok(_) => 200,
            Err(e) => e.status().as_u16(),
        }
    }

    #[test]
    fn hidden_shops_are_404_and_visible_ones_403_for_strangers() {
        let hidden = shop("o", Verification::Pending);
        let stranger = who("x", false);
        let g = |s: &Shop, c: Option<&Caller>, n| status(gate(Some(s.clone()), c, n, "shop"));
        assert_eq!(g(&hidden, None, Need::See), 404);
        assert_eq!(g(&hidden, Some(&stranger), Need::Owner), 404);
        assert_eq!(g(&hidden, Some(&who("runner", false)), Need::See), 200);
        assert_eq!(g(&hidden, Some(&who("runner", false)), Need::Owner), 403);
        assert_eq!(g(&hidden, Some(&who("a", true)), Need::OwnerOrAdmin), 200);
        assert_eq!(g(&hidden, Some(&who("a", true)), Need::Owner), 403);
        let public = shop("o", Verification::Verified);
        assert_eq!(g(&public, None, Need::See), 200);
        assert_eq!(g(&public, Some(&stranger), Need::OwnerOrAdmin), 403);
        let mut gone = public.clone();
        gone.deleted_at = Some(Utc::now());
        assert_eq!(g(&gone, Some(&who("o", false)), Need::See), 404);
        assert_eq!(g(&gone, Some(&who("a", true)), Need::See), 200);
        assert_eq!(g(&gone, Some(&who("a", true)), Need::OwnerOrAdmin), 404);
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
