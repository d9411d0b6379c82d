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
