//! Favourites: the shops a student follows.

use super::*;

/// Idempotent; only a shop the student can see can be a favourite.
pub async fn add_favorite(store: &Store, user_id: String, shop_id: String) -> Result<(), Error> {
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
                return Err(Error::Conflict(format!(
                    "at most {MAX_FAVORITES} favourite shops"
                )));
            }
            favs.insert(user_id.as_str(), shop_id.as_str())?;
            Ok(())
        })
        .await
}

/// Idempotent: removing what is not there is already done.
pub async fn remove_favorite(store: &Store, user_id: String, shop_id: String) -> Result<(), Error> {
    store
        .write(move |txn| {
            txn.open_multimap_table(tables::USER_TO_FAVORITES)?
                .remove(user_id.as_str(), shop_id.as_str())?;
            Ok(())
        })
        .await
}

/// The current announcements of the user's favourite shops that students
/// can see, newest first, each with its shop's name. At most
/// `MAX_FAVORITES` shops of `MAX_CURRENT_ANNOUNCEMENTS` each are read.
pub async fn favorite_announcements(
    store: &Store,
    user_id: String,
    page: PageRequest,
) -> Result<Page<(Announcement, String)>, Error> {
    let now = Utc::now();
    store
        .read(move |txn| {
            let favs = txn.open_multimap_table(tables::USER_TO_FAVORITES)?;
            let index = txn.open_multimap_table(tables::SHOP_TO_ANNOUNCEMENTS)?;
            let table = txn.open_table(tables::ANNOUNCEMENTS)?;
            let shops = txn.open_table(tables::SHOPS)?;
            let mut out = Vec::new();
            for shop_id in favs.get(user_id.as_str())?.take(MAX_FAVORITES) {
                let Some(shop) =
                    codec::get::<Shop>(&shops, shop_id?.value())?.filter(|s| s.is_public())
                else {
                    continue;
                };
                let mut current = Vec::new();
                for id in index.get(shop.id.as_str())? {
                    if let Some(a) = codec::get::<Announcement>(&table, id?.value())?
                        && a.is_current(now)
                    {
                        current.push(a);
                    }
                }
                current.sort_by_key(|a| std::cmp::Reverse(a.created_at));
                current.truncate(MAX_CURRENT_ANNOUNCEMENTS);
                out.extend(current.into_iter().map(|a| (a, shop.name.clone())));
            }
            let key = |(a, _): &(Announcement, String)| {
                paging::key(&[&paging::num(a.created_at.timestamp_micros()), &a.id])
            };
            Ok(page.sort_and_take(out, key, Dir::Desc))
        })
        .await
}
