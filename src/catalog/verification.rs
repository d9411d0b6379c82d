//! Verification: a shop asks to be verified and an admin decides.

use super::*;
use crate::domain::shop::{missing_for_verification, name_list};

pub async fn submit_verification(
    store: &Store,
    caller: Caller,
    id: String,
    origin: Origin,
) -> Result<Shop, Error> {
    let now = Utc::now();
    store
        .write(move |txn| {
            let mut shop = gate(load_shop(txn, &id)?, Some(&caller), Need::Owner, "shop")?;
            shop.verification = shop.verification.submit().map_err(Error::Conflict)?;
            let missing = missing_for_verification(
                &shop,
                has_live_product(txn, &shop.id)?,
                has_active_slot(txn, &shop.id)?,
            );
            if !missing.is_empty() {
                return Err(Error::Conflict(format!(
                    "before it can be submitted for verification, the shop needs {}",
                    name_list(&missing)
                )));
            }
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

fn has_live_product(txn: &WriteTransaction, shop_id: &str) -> Result<bool, StoreError> {
    let products = txn.open_table(tables::PRODUCTS)?;
    for id in txn
        .open_multimap_table(tables::SHOP_TO_PRODUCTS)?
        .get(shop_id)?
    {
        if codec::get::<Product>(&products, id?.value())?.is_some_and(|p| p.deleted_at.is_none()) {
            return Ok(true);
        }
    }
    Ok(false)
}

fn has_active_slot(txn: &WriteTransaction, shop_id: &str) -> Result<bool, StoreError> {
    let slots = txn.open_table(tables::SLOTS)?;
    for id in txn
        .open_multimap_table(tables::SHOP_TO_SLOTS)?
        .get(shop_id)?
    {
        if codec::get::<Slot>(&slots, id?.value())?.is_some_and(|s| s.active) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Shops for the admins' verification queue, oldest change first, with
/// their owners (admins may see owners' names and emails).
pub async fn admin_list_shops(
    store: &Store,
    verification: Option<Verification>,
    q: Option<String>,
    page: PageRequest,
) -> Result<Page<(Shop, Option<User>)>, Error> {
    let needle = q.map(|q| q.trim().to_lowercase()).filter(|q| !q.is_empty());
    store
        .read(move |txn| {
            let users = txn.open_table(tables::USERS)?;
            let mut rows = Vec::new();
            for s in codec::all::<Shop>(&txn.open_table(tables::SHOPS)?)? {
                if s.deleted_at.is_some() || verification.is_some_and(|v| s.verification != v) {
                    continue;
                }
                let owner = codec::get::<User>(&users, &s.owner_id)?;
                let text_ok = needle.as_deref().is_none_or(|n| {
                    s.name.to_lowercase().contains(n)
                        || owner.as_ref().is_some_and(|u| {
                            u.name.to_lowercase().contains(n) || u.email.to_lowercase().contains(n)
                        })
                });
                if text_ok {
                    rows.push((s, owner));
                }
            }
            let key = |(s, _): &(Shop, Option<User>)| {
                paging::key(&[&paging::num(s.updated_at.timestamp_micros()), &s.id])
            };
            Ok(page.sort_and_take(rows, key, Dir::Asc))
        })
        .await
}

pub async fn decide(
    store: &Store,
    admin: Caller,
    id: String,
    to: Verification,
    note: String,
    origin: Origin,
) -> Result<Shop, Error> {
    if !admin.is_admin {
        return Err(Error::Forbidden("admins only".into()));
    }
    if !to.is_decision() {
        return Err(FieldError::new(
            "verification",
            "must be VERIFIED, REQUIRES_ACTION or REJECTED",
        )
        .into());
    }
    let note = bounded_text("note", &note, 0, 500, true)?;
    if to != Verification::Verified && note.is_empty() {
        return Err(FieldError::new(
            "note",
            "tell the owner why: required unless the shop is to be VERIFIED",
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
            shop.verification = shop.verification.decide(to).map_err(Error::Conflict)?;
            shop.verification_note = (!note.is_empty()).then(|| note.clone());
            shop.updated_at = now;
            save_shop(txn, &shop)?;
            let label = status_name(to);
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
            let (title, kind, message) = match to {
                Verification::Verified => (
                    "Shop verified",
                    Kind::Success,
                    format!("{} is verified: students can now find it.", shop.name),
                ),
                Verification::RequiresAction => (
                    "Action needed on your shop",
                    Kind::Warning,
                    format!("{} needs changes before it is verified: {note}", shop.name),
                ),
                _ => (
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
                    decision: label.into(),
                    note: note.clone(),
                },
            )?;
            Ok(shop)
        })
        .await
}

/// The status as the API and the audit log spell it.
fn status_name(v: Verification) -> &'static str {
    match v {
        Verification::NotStarted => "NOT_STARTED",
        Verification::Pending => "PENDING",
        Verification::RequiresAction => "REQUIRES_ACTION",
        Verification::Verified => "VERIFIED",
        Verification::Rejected => "REJECTED",
    }
}
