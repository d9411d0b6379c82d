//! Staff: runners invited by a shop owner, their answers and removal.

use super::*;

/// The shop's runners, by user id (the order they signed up in).
pub async fn list_staff(
    store: &Store,
    caller: Caller,
    shop_id: String,
    page: PageRequest,
) -> Result<Page<User>, Error> {
    store
        .read(move |txn| {
            let shop = codec::get(&txn.open_table(tables::SHOPS)?, &shop_id)?;
            let shop = gate(shop, Some(&caller), Need::OwnerOrAdmin, "shop")?;
            let users = txn.open_table(tables::USERS)?;
            let mut out = Vec::with_capacity(shop.staff.len());
            for id in shop.staff.iter().filter(|id| page.is_after(id, Dir::Asc)) {
                if let Some(u) = codec::get::<User>(&users, id)? {
                    out.push(u);
                }
            }
            Ok(page.sort_and_take(out, |u| u.id.clone(), Dir::Asc))
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
) -> Result<StaffInvite, Error> {
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
                return Err(Error::Conflict(
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
                return Err(Error::Conflict(format!(
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
    page: PageRequest,
) -> Result<Page<StaffInvite>, Error> {
    let now = Utc::now();
    store
        .read(move |txn| {
            let shop = codec::get(&txn.open_table(tables::SHOPS)?, &shop_id)?;
            let shop = gate(shop, Some(&caller), Need::OwnerOrAdmin, "shop")?;
            let out = live_invites(&txn.open_table(tables::STAFF_INVITES)?, &shop.id, now)?;
            let key = |i: &StaffInvite| {
                paging::key(&[&paging::num(i.invited_at.timestamp_micros()), &i.email])
            };
            Ok(page.sort_and_take(out, key, Dir::Desc))
        })
        .await
}

/// An invitation as its invitee sees it.
pub struct MyInvite {
    pub shop_id: String,
    pub shop_name: String,
    pub invited_at: DateTime<Utc>,
}

/// The caller's pending invitations (by their account's address), by shop id.
pub async fn my_invites(
    store: &Store,
    user_id: String,
    page: PageRequest,
) -> Result<Page<MyInvite>, Error> {
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
                if !page.is_after(&sid, Dir::Asc) {
                    continue;
                }
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
            Ok(page.sort_and_take(out, |i| i.shop_id.clone(), Dir::Asc))
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
) -> Result<(), Error> {
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
                return Err(Error::Forbidden(
                    "confirm your email address before accepting".into(),
                ));
            }
            let Some(mut shop) =
                load_shop(txn, &invite.shop_id)?.filter(|s| s.deleted_at.is_none())
            else {
                return Err(not_found("invitation"));
            };
            if shop.owner_id == user.id {
                return Err(Error::Conflict("you own this shop".into()));
            }
            drop_invite(txn, &shop_id, email.key())?;
            if shop.staff.contains(&user.id) {
                return Ok(());
            }
            if shop.staff.len() >= MAX_STAFF_PER_SHOP {
                return Err(Error::Conflict(format!(
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
) -> Result<(), Error> {
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
