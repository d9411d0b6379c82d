//! The vendor's orders desk (issue #20): a shop's orders filtered by days,
//! status and text; who the student is, for the shop's people only;
//! cancelling a NEW order with a reason; the chat inbox.

use reqwest::Method;
use serde_json::{Value, json};
use uphill::domain::user::User;
use uphill::store::{StoreError, codec, tables};

use crate::fixtures::{ShopOpts, add_staff, checkout, market, order, stock, student, user_id};
use crate::helpers::{TestApp, assert_problem, expect, get_ok, post, send, spawn_app};

/// Gives a user a name and a phone, as registration would have.
async fn set_profile(app: &TestApp, token: &str, name: &str, phone: Option<&str>) {
    let id = user_id(app, token).await;
    let (name, phone) = (name.to_string(), phone.map(str::to_string));
    app.state
        .store
        .write(move |txn| {
            let mut t = txn.open_table(tables::USERS)?;
            let mut u: User = codec::get(&t, &id)?.unwrap();
            u.name = name.clone();
            u.phone = phone.clone();
            codec::put(&mut t, &id, &u)?;
            Ok::<_, StoreError>(())
        })
        .await
        .unwrap();
}

fn display_ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["display_id"].as_str().unwrap().to_string())
        .collect()
}

fn today(app: &TestApp) -> chrono::NaiveDate {
    let tz = app.state.config.campus_tz().unwrap();
    chrono::Utc::now().with_timezone(&tz).date_naive()
}

#[tokio::test]
async fn a_shops_orders_filter_by_days_status_and_text_and_page() {
    let app = spawn_app().await;
    let m = market(&app, "owner@uni.edu", ShopOpts::default()).await;
    let (asha, a1) = student(&app, "asha@uni.edu", &m).await;
    let (ravi, a2) = student(&app, "ravi@uni.edu", &m).await;
    set_profile(&app, &asha, "Asha Menon", None).await;
    set_profile(&app, &ravi, "Ravi Kumar", None).await;
    let tea = order(&app, &m, &asha, &a1, "k1").await;
    let samosa = checkout(
        &app,
        &ravi,
        "k2",
        json!({"shop_id": m.shop_id, "items": [{"product_id": m.products[1], "quantity": 1}],
               "address_id": a2, "payment_method": "CASH"}),
    )
    .await;
    let third = order(&app, &m, &ravi, &a2, "k3").await;
    let cancel = format!("/api/v1/orders/{}/cancel", third["id"].as_str().unwrap());
    assert_eq!(post(&app, &ravi, &cancel, json!({})).await.status(), 200);
    let id = |o: &Value| o["display_id"].as_str().unwrap().to_string();
    let list = |q: String| {
        let (app, token, shop) = (&app, m.owner_token.clone(), m.shop_id.clone());
        async move { get_ok(app, &token, &format!("/api/v1/shops/{shop}/orders?{q}")).await }
    };

    let all = list(String::new()).await;
    assert_eq!(display_ids(&all), [id(&third), id(&samosa), id(&tea)]);
    // Every row names its student for the shop.
    assert_eq!(all["items"][2]["student"]["name"], "Asha Menon");

    // Text: the display id, the student's name or an item's, any case.
    let lower = id(&tea).to_lowercase();
    assert_eq!(display_ids(&list(format!("q={lower}")).await), [id(&tea)]);
    assert_eq!(
        display_ids(&list("q=RAVI".into()).await),
        [id(&third), id(&samosa)]
    );
    assert_eq!(display_ids(&list("q=samo".into()).await), [id(&samosa)]);
    assert!(display_ids(&list("q=maggi".into()).await).is_empty());
    // With a status.
    assert_eq!(
        display_ids(&list("q=ravi&status=CANCELLED".into()).await),
        [id(&third)]
    );

    // Days the order was placed on, in campus time.
    let d = today(&app);
    let day = |n: i64| {
        (d + chrono::Duration::days(n))
            .format("%Y-%m-%d")
            .to_string()
    };
    assert_eq!(
        display_ids(&list(format!("from={}&to={}", day(0), day(0))).await).len(),
        3
    );
    assert_eq!(
        display_ids(&list(format!("from={}", day(-3))).await).len(),
        3
    );
    assert!(display_ids(&list(format!("from={}", day(1))).await).is_empty());
    assert!(display_ids(&list(format!("to={}", day(-1))).await).is_empty());

    // Pages of one, continued by the cursor, every order once.
    let mut seen = Vec::new();
    let mut q = "limit=1".to_string();
    loop {
        let p = list(q.clone()).await;
        seen.extend(display_ids(&p));
        match p["next_cursor"].as_str() {
            Some(c) => q = format!("limit=1&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen, display_ids(&all));
    // The cursor keeps the filter's range.
    let p = list(format!("limit=1&q=ravi&from={}", day(0))).await;
    let c = p["next_cursor"].as_str().unwrap().to_string();
    let p2 = list(format!("limit=1&q=ravi&from={}&cursor={c}", day(0))).await;
    assert_eq!(display_ids(&p2), [id(&samosa)]);
    assert!(p2["next_cursor"].is_null());
}

#[tokio::test]
async fn bad_filters_are_422_naming_the_parameter() {
    let app = spawn_app().await;
    let m = market(&app, "owner@uni.edu", ShopOpts::default()).await;
    let path = |q: &str| format!("/shops/{}/orders?{q}", m.shop_id);
    let long = "x".repeat(101);
    for (q, field) in [
        ("from=2026-13-01", "from"),
        ("to=22-11-2026", "to"),
        ("from=2026-11-22&to=2026-11-21", "to"),
        ("from=yesterday", "from"),
        (&format!("q={long}") as &str, "q"),
        ("q=%01tea", "q"),
        ("status=LOST", "status"),
        ("limit=0", "limit"),
    ] {
        let r = send(&app, Method::GET, &path(q), Some(&m.owner_token), None).await;
        let p = assert_problem(r, 422).await;
        let fields: Vec<&str> = p["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap())
            .collect();
        assert!(fields.contains(&field), "{q}: {p}");
    }
    // One hundred characters is still a search.
    let ok = "y".repeat(100);
    let r = send(
        &app,
        Method::GET,
        &path(&format!("q={ok}")),
        Some(&m.owner_token),
        None,
    )
    .await;
    assert_eq!(expect(r, 200).await["items"], json!([]));
}

#[tokio::test]
async fn the_student_is_named_to_the_shops_people_only() {
    let app = spawn_app().await;
    let m = market(&app, "owner@uni.edu", ShopOpts::default()).await;
    let other_shop = market(&app, "owner2@uni.edu", ShopOpts::default()).await;
    let (asha, a1) = student(&app, "asha@uni.edu", &m).await;
    let (ravi, _) = student(&app, "ravi@uni.edu", &m).await;
    set_profile(&app, &asha, "Asha Menon", Some("+91 98450 11101")).await;
    let runner = app.bearer("runner@uni.edu").await;
    add_staff(&app, &m.shop_id, &user_id(&app, &runner).await).await;
    let admin = app.admin_bearer("admin@uni.edu").await;
    let o = order(&app, &m, &asha, &a1, "k1").await;
    let path = format!("/api/v1/orders/{}", o["id"].as_str().unwrap());

    for who in [&m.owner_token, &runner, &admin] {
        let v = get_ok(&app, who, &path).await;
        assert_eq!(v["student"]["name"], "Asha Menon");
        assert_eq!(v["student"]["phone"], "+91 98450 11101");
        assert!(v["otp"].is_null(), "no OTP for staff");
    }
    // The batch page carries it too.
    let b = get_ok(
        &app,
        &m.owner_token,
        &format!("/api/v1/batches/{}", o["batch_id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(b["orders"][0]["student"]["phone"], "+91 98450 11101");
    // The student's own view has no `student`.
    let own = get_ok(&app, &asha, &path).await;
    assert!(own["student"].is_null(), "{own}");
    assert_eq!(own["display_id"], o["display_id"]);
    // Another student and another shop's owner do not see the order at all.
    for who in [&ravi, &other_shop.owner_token] {
        let r = app
            .client()
            .get(app.url(&path))
            .bearer_auth(who)
            .send()
            .await
            .unwrap();
        assert_problem(r, 404).await;
        let r = send(
            &app,
            Method::GET,
            &format!("/shops/{}/orders", m.shop_id),
            Some(who),
            None,
        )
        .await;
        assert_problem(r, 404).await;
    }
    let r = send(
        &app,
        Method::GET,
        &format!("/shops/{}/orders", m.shop_id),
        None,
        None,
    )
    .await;
    assert_problem(r, 401).await;
}

#[tokio::test]
async fn the_shop_cancels_a_new_order_with_a_reason_and_the_student_is_told() {
    let app = spawn_app().await;
    let m = market(&app, "owner@uni.edu", ShopOpts::default()).await;
    let (asha, a1) = student(&app, "asha@uni.edu", &m).await;
    let runner = app.bearer("runner@uni.edu").await;
    add_staff(&app, &m.shop_id, &user_id(&app, &runner).await).await;
    let before = stock(&app, &m.products[0]).await;
    let o = order(&app, &m, &asha, &a1, "k1").await;
    assert_eq!(stock(&app, &m.products[0]).await, before - 1);
    let cancel = format!("/api/v1/orders/{}/cancel", o["id"].as_str().unwrap());
    let notes = |who: String| {
        let app = &app;
        async move { get_ok(app, &who, "/api/v1/notifications").await["items"].clone() }
    };
    let told_before = notes(asha.clone()).await.as_array().unwrap().len();

    // No reason, or a runner: refused, nothing changes.
    let p = assert_problem(post(&app, &m.owner_token, &cancel, json!({})).await, 422).await;
    assert_eq!(p["errors"][0]["field"], "reason");
    assert_problem(
        post(&app, &runner, &cancel, json!({"reason": "no"})).await,
        403,
    )
    .await;
    assert_eq!(stock(&app, &m.products[0]).await, before - 1);
    assert_eq!(
        notes(asha.clone()).await.as_array().unwrap().len(),
        told_before
    );

    let r = post(
        &app,
        &m.owner_token,
        &cancel,
        json!({"reason": "Out of milk"}),
    )
    .await;
    let v = expect(r, 200).await;
    assert_eq!(v["status"], "CANCELLED");
    assert_eq!(v["cancellation_reason"], "Out of milk");
    assert!(v["student"]["name"].is_string(), "the shop's view: {v}");
    assert_eq!(stock(&app, &m.products[0]).await, before, "stock restored");
    let told = notes(asha.clone()).await;
    assert_eq!(told[0]["title"], "Order cancelled");
    assert!(told[0]["message"].as_str().unwrap().contains("Out of milk"));
    // Twice is a conflict, and stock comes back once.
    assert_problem(
        post(&app, &m.owner_token, &cancel, json!({"reason": "again"})).await,
        409,
    )
    .await;
    assert_eq!(stock(&app, &m.products[0]).await, before);
}

#[tokio::test]
async fn the_inbox_lists_threads_by_latest_activity_for_the_shop_only() {
    let app = spawn_app().await;
    let m = market(&app, "owner@uni.edu", ShopOpts::default()).await;
    let other_shop = market(&app, "owner2@uni.edu", ShopOpts::default()).await;
    let (asha, a1) = student(&app, "asha@uni.edu", &m).await;
    let (ravi, a2) = student(&app, "ravi@uni.edu", &m).await;
    set_profile(&app, &asha, "Asha Menon", None).await;
    set_profile(&app, &ravi, "Ravi Kumar", None).await;
    let runner = app.bearer("runner@uni.edu").await;
    add_staff(&app, &m.shop_id, &user_id(&app, &runner).await).await;
    let o1 = order(&app, &m, &asha, &a1, "k1").await;
    let o2 = order(&app, &m, &ravi, &a2, "k2").await;
    let silent = order(&app, &m, &ravi, &a2, "k3").await;
    let say = |who: &str, o: &Value, body: &str| {
        let (app, who, body) = (&app, who.to_string(), body.to_string());
        let path = format!("/api/v1/orders/{}/messages", o["id"].as_str().unwrap());
        async move {
            assert_eq!(
                post(app, &who, &path, json!({"body": body})).await.status(),
                201
            )
        }
    };
    let inbox = format!("/api/v1/shops/{}/chats", m.shop_id);

    assert_eq!(
        get_ok(&app, &m.owner_token, &inbox).await["items"],
        json!([])
    );
    say(&asha, &o1, "Extra chutney please").await;
    say(&ravi, &o2, "Is it ready?").await;
    say(&m.owner_token, &o1, "Sure").await;

    let v = get_ok(&app, &m.owner_token, &inbox).await;
    let items = v["items"].as_array().unwrap();
    assert_eq!(
        items.len(),
        2,
        "one row per thread, none for a silent order: {v}"
    );
    assert_eq!(items[0]["order_id"], o1["id"]);
    assert_eq!(items[0]["display_id"], o1["display_id"]);
    assert_eq!(items[0]["student_name"], "Asha Menon");
    assert_eq!(items[0]["last_message"], "Sure");
    assert_eq!(items[0]["last_sender"], "SHOP");
    assert_eq!(items[1]["student_name"], "Ravi Kumar");
    assert_eq!(items[1]["last_message"], "Is it ready?");
    assert!(!v.to_string().contains(silent["id"].as_str().unwrap()));

    // A new message moves its thread to the top; pages of one follow.
    say(&ravi, &o2, "Hello?").await;
    let p = get_ok(&app, &runner, &format!("{inbox}?limit=1")).await;
    assert_eq!(p["items"][0]["order_id"], o2["id"]);
    assert_eq!(p["items"][0]["last_message"], "Hello?");
    let c = p["next_cursor"].as_str().unwrap();
    let p2 = get_ok(&app, &runner, &format!("{inbox}?limit=1&cursor={c}")).await;
    assert_eq!(p2["items"][0]["order_id"], o1["id"]);
    assert!(p2["next_cursor"].is_null());

    // Students and other shops do not see the shop's inbox.
    for who in [&asha, &other_shop.owner_token] {
        let r = app
            .client()
            .get(app.url(&inbox))
            .bearer_auth(who)
            .send()
            .await
            .unwrap();
        assert_problem(r, 404).await;
    }
    let r = app.client().get(app.url(&inbox)).send().await.unwrap();
    assert_problem(r, 401).await;
    let r = app
        .client()
        .get(app.url(&format!("{inbox}?cursor=zz")))
        .bearer_auth(&m.owner_token)
        .send()
        .await
        .unwrap();
    assert_problem(r, 422).await;
}
