//! Announcements: a shop's notices to its followers.

use super::*;

pub struct AnnouncementInput {
    pub title: String,
    pub message: String,
    pub product_id: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
}

fn clean_announcement(
    i: AnnouncementInput,
    now: DateTime<Utc>,
) -> Result<AnnouncementInput, Error> {
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
) -> Result<Announcement, Error> {
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
                return Err(Error::Conflict(format!(
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
    page: PageRequest,
) -> Result<Page<Announcement>, Error> {
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
            let key = |a: &Announcement| {
                paging::key(&[&paging::num(a.created_at.timestamp_micros()), &a.id])
            };
            Ok(page.sort_and_take(out, key, Dir::Desc))
        })
        .await
}

pub async fn delete_announcement(
    store: &Store,
    caller: Caller,
    id: String,
    origin: Origin,
) -> Result<(), Error> {
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
