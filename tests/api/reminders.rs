//! The cutoff reminder (SPEC §4.9) over the moved clock: a student with a
//! non-empty cart is reminded once, `batch.reminder_lead_minutes` before the
//! cutoff of the batch that cart would join; not earlier, not twice (not
//! even after a restart), not with an empty cart or an order already in.

use chrono::Duration;
use serde_json::{Value, json};

use crate::fixtures::{ShopOpts, market, order, student};
use crate::helpers::{TestApp, get_ok, start, test_config};

const TITLE: &str = "Your batch closes soon";

async fn fill_cart(app: &TestApp, token: &str, shop_id: &str, product: &str) {
    let r = app
        .client()
        .put(app.url(&format!("/api/v1/cart/{shop_id}")))
        .bearer_auth(token)
        .json(&json!({"items": [{"product_id": product, "quantity": 2}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

async fn reminders(app: &TestApp, token: &str) -> Vec<Value> {
    let page = get_ok(app, token, "/api/v1/notifications?limit=100").await;
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["title"] == TITLE)
        .cloned()
        .collect()
}

/// Moves the app's clock to `lead` before the next cutoff of the market's
/// slot that is at least half an hour away, and runs the job there.
async fn run_at(app: &TestApp, cutoff: chrono::DateTime<chrono::Utc>, before: Duration) -> usize {
    let target = cutoff - before;
    let now = app.state.clock.now();
    app.state.clock.advance(target - now);
    uphill::jobs::remind_carts(&app.state.job_handles(), app.state.clock.now()).await
}

#[tokio::test]
async fn a_non_empty_cart_is_reminded_once_shortly_before_the_cutoff() {
    let app = crate::helpers::spawn_app().await;
    let m = market(&app, "owner@example.com", ShopOpts::default()).await;
    let (carter, _) = student(&app, "carter@example.com", &m).await;
    let (empty, _) = student(&app, "empty@example.com", &m).await;
    let (orderer, addr) = student(&app, "orderer@example.com", &m).await;
    fill_cart(&app, &carter, &m.shop_id, &m.products[0]).await;
    fill_cart(&app, &empty, &m.shop_id, &m.products[0]).await;
    fill_cart(&app, &orderer, &m.shop_id, &m.products[1]).await;
    let r = app
        .client()
        .delete(app.url(&format!("/api/v1/cart/{}", m.shop_id)))
        .bearer_auth(&empty)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());

    // The market's slot cuts off at 23:59 campus time every day; take the
    // first cutoff far enough ahead that the clock only moves forward.
    let tz = app.state.config.campus_tz().unwrap();
    let from = app.state.clock.now() + Duration::minutes(30);
    let cutoff = uphill::domain::batch::cutoff_on(from.with_timezone(&tz).date_naive(), 1439, tz);
    let cutoff = if cutoff > from {
        cutoff
    } else {
        cutoff + Duration::days(1)
    };

    assert_eq!(run_at(&app, cutoff, Duration::minutes(20)).await, 0);
    assert!(reminders(&app, &carter).await.is_empty());

    // The order goes into the batch at `cutoff` (the clock is before it).
    let o = order(&app, &m, &orderer, &addr, "remind-1").await;
    assert_eq!(o["status"], "NEW", "{o}");

    assert_eq!(run_at(&app, cutoff, Duration::minutes(14)).await, 1);
    let got = reminders(&app, &carter).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["action"], format!("/checkout/{}", m.shop_id));
    assert!(got[0]["message"].as_str().unwrap().contains("Night batch"));
    assert!(reminders(&app, &empty).await.is_empty());
    assert!(reminders(&app, &orderer).await.is_empty());

    // Again, and after a restart: still one.
    assert_eq!(run_at(&app, cutoff, Duration::minutes(10)).await, 0);
    let dir = app.stop().await;
    let app = start(test_config(&dir), dir).await;
    assert_eq!(run_at(&app, cutoff, Duration::minutes(5)).await, 0);
    assert_eq!(reminders(&app, &carter).await.len(), 1);

    // Days after the batch closed, its markers are swept.
    assert_eq!(markers(&app).await, 1);
    // (An hour past a cutoff time of day, so no other batch is due then.)
    app.state
        .clock
        .advance(Duration::days(3) + Duration::hours(1));
    uphill::jobs::remind_carts(&app.state.job_handles(), app.state.clock.now()).await;
    assert_eq!(markers(&app).await, 0);
}

/// How many "reminded" markers the store keeps.
async fn markers(app: &TestApp) -> u64 {
    app.state
        .store
        .read(|txn| {
            let t = txn.open_table(uphill::store::tables::CART_REMINDERS)?;
            Ok::<_, uphill::store::StoreError>(redb::ReadableTableMetadata::len(&t)?)
        })
        .await
        .unwrap()
}
