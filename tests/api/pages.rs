//! Every list that can grow is a page `{items, next_cursor}` read with one
//! `limit` (1–200, default 50) and one opaque `cursor`; a bad `limit` or
//! `cursor` is a 422 naming it, on every list operation.

use std::collections::HashSet;

use reqwest::Method;
use serde_json::{Value, json};

use crate::fixtures::{ShopOpts, market};
use crate::helpers::{assert_problem, expect, request, send, spawn_app};

/// Lists capped by a rule at a handful of entries, which stay plain arrays
/// (see docs/DECISIONS.md).
const ARRAYS: &[&str] = &["/api/v1/me/addresses", "/api/v1/me/tokens"];

fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(r) => &doc["components"]["schemas"][r.rsplit('/').next().unwrap()],
        None => schema,
    }
}

/// The GET operations whose answer is a page, from the OpenAPI document.
fn page_operations(doc: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        let Some(get) = ops.get("get") else { continue };
        let Some(schema) = get["responses"]["200"]["content"]
            .as_object()
            .and_then(|c| c.values().next())
            .map(|m| &m["schema"])
        else {
            continue;
        };
        let schema = resolve(doc, schema);
        assert!(
            schema["type"] != "array" || ARRAYS.contains(&path.as_str()),
            "GET {path} answers a bare array: make it a page"
        );
        let props = &schema["properties"];
        if props.get("next_cursor").is_some() {
            assert!(props.get("items").is_some(), "{path}: a page has items");
            out.push(path.clone());
        }
    }
    out
}

#[tokio::test]
async fn every_list_is_a_page_with_one_limit_rule() {
    let app = spawn_app().await;
    let doc = app.openapi().await;
    let pages = page_operations(&doc);
    for expected in [
        "/api/v1/shops",
        "/api/v1/shops/{id}/products",
        "/api/v1/shops/{id}/slots",
        "/api/v1/shops/{id}/staff",
        "/api/v1/shops/{id}/staff/invites",
        "/api/v1/shops/{id}/announcements",
        "/api/v1/shops/{id}/batches",
        "/api/v1/shops/{id}/orders",
        "/api/v1/me/invitations",
        "/api/v1/me/favorites",
        "/api/v1/me/runs",
        "/api/v1/me/sessions",
        "/api/v1/cart",
        "/api/v1/orders",
        "/api/v1/orders/{id}/messages",
        "/api/v1/products/{id}/reviews",
        "/api/v1/broadcasts",
        "/api/v1/notifications",
        "/api/v1/buildings",
        "/api/v1/categories",
        "/api/v1/admin/shops",
        "/api/v1/admin/users",
        "/api/v1/admin/audit",
        "/api/v1/admin/mail",
    ] {
        assert!(
            pages.iter().any(|p| p == expected),
            "{expected} is not a page"
        );
    }
    // The kept arrays really are bare arrays of a capped list.
    for path in ARRAYS {
        let schema = &doc["paths"][path]["get"]["responses"]["200"]["content"];
        let schema = &schema.as_object().unwrap().values().next().unwrap()["schema"];
        assert_eq!(schema["type"], "array", "{path}");
    }

    let admin = app.admin_bearer("pages-admin@example.edu").await;
    // Any well-formed id: the query is read before the handler looks.
    let fake = ulid::Ulid::new().to_string();
    for path in &pages {
        let op = &doc["paths"][path]["get"];
        let params = op["parameters"].as_array().unwrap();
        let param = |name: &str| {
            params
                .iter()
                .find(|p| p["name"] == name && p["in"] == "query")
                .unwrap_or_else(|| panic!("{path} has no `{name}`"))
        };
        let limit = &param("limit")["schema"];
        assert_eq!(limit["type"], "integer", "{path}");
        assert_eq!(limit["minimum"], 1.0, "{path}");
        assert_eq!(limit["maximum"], 200.0, "{path}");
        assert_eq!(limit["default"], 50, "{path}");
        assert_eq!(param("cursor")["schema"]["type"], "string", "{path}");

        let url = path.replace("{id}", &fake);
        for (q, field) in [
            ("limit=0", "limit"),
            ("limit=201", "limit"),
            ("limit=abc", "limit"),
            ("limit=-1", "limit"),
            ("limit=1.5", "limit"),
            ("cursor=not-a-cursor", "cursor"),
        ] {
            let r = request(&app, Method::GET, &format!("{url}?{q}"), Some(&admin), None).await;
            let p = assert_problem(r, 422).await;
            assert_eq!(p["errors"][0]["field"], field, "{path}?{q}: {p}");
        }
    }
}

/// Follows `next_cursor` from the first page to the last, asserting that
/// no page is larger than `limit` and no item shows twice.
async fn every_page(
    app: &crate::helpers::TestApp,
    token: Option<&str>,
    path: &str,
    limit: usize,
) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    let mut seen = HashSet::new();
    let sep = if path.contains('?') { '&' } else { '?' };
    let mut cursor: Option<String> = None;
    for _ in 0..100 {
        let url = match &cursor {
            Some(c) => format!("{path}{sep}limit={limit}&cursor={c}"),
            None => format!("{path}{sep}limit={limit}"),
        };
        let page = expect(send(app, Method::GET, &url, token, None).await, 200).await;
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= limit, "{url}: {} items", items.len());
        for item in items {
            let id = item["id"].as_str().unwrap().to_string();
            assert!(seen.insert(id.clone()), "{path}: {id} twice");
            out.push(item.clone());
        }
        match page["next_cursor"].as_str() {
            Some(c) => {
                assert_eq!(items.len(), limit, "{url}: a short page before the last");
                cursor = Some(c.to_string());
            }
            None => return out,
        }
    }
    panic!("{path}: more than 100 pages");
}

fn ids(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn paging_returns_every_item_once_even_as_items_are_added() {
    let app = spawn_app().await;
    let m = market(&app, "pages-owner@example.edu", ShopOpts::default()).await;
    let products = format!("/shops/{}/products", m.shop_id);
    let add = |name: String| {
        let body = json!({"name": name, "price": 1000, "stock": 5});
        let (app, owner, path) = (&app, m.owner_token.clone(), products.clone());
        async move {
            let r = send(app, Method::POST, &path, Some(&owner), Some(body)).await;
            expect(r, 201).await["id"].as_str().unwrap().to_string()
        }
    };
    // The fixture's three were written at once: ids are their order.
    let mut all = m.products.clone();
    all.sort();
    for i in 0..8 {
        all.push(add(format!("Product {i}")).await);
    }
    // In the order they were added, each exactly once, for every page size.
    for limit in [1, 2, 3, 5, 11, 200] {
        let got = ids(&every_page(&app, None, &products, limit).await);
        assert_eq!(got, all, "limit {limit}");
    }
    // The default page holds them all; the cached answer is the same.
    let first = expect(send(&app, Method::GET, &products, None, None).await, 200).await;
    assert_eq!(ids(first["items"].as_array().unwrap()), all);
    assert!(first["next_cursor"].is_null());
    let again = expect(send(&app, Method::GET, &products, None, None).await, 200).await;
    assert_eq!(again, first);

    // A product added between two pages is neither repeated nor does it
    // push an item of the second page out of it.
    let p1 = expect(
        send(
            &app,
            Method::GET,
            &format!("{products}?limit=4"),
            None,
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(ids(p1["items"].as_array().unwrap()), all[..4]);
    let cursor = p1["next_cursor"].as_str().unwrap().to_string();
    let late = add("Late".into()).await;
    let p2 = expect(
        send(
            &app,
            Method::GET,
            &format!("{products}?limit=4&cursor={cursor}"),
            None,
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(ids(p2["items"].as_array().unwrap()), all[4..8]);
    all.push(late);
    let rest = ids(&every_page(&app, None, &products, 4).await);
    assert_eq!(rest, all);

    // Buildings, sorted by name, page the same way.
    let admin = app.admin_bearer("pages-admin2@example.edu").await;
    for name in ["Delta", "alpha", "Charlie", "Bravo", "echo hall"] {
        let r = send(
            &app,
            Method::POST,
            "/admin/buildings",
            Some(&admin),
            Some(json!({"name": name})),
        )
        .await;
        expect(r, 201).await;
    }
    let names: Vec<String> = every_page(&app, None, "/buildings", 2)
        .await
        .iter()
        .map(|b| b["name"].as_str().unwrap().to_string())
        .collect();
    let mut sorted = names.clone();
    sorted.sort_by_key(|n| n.to_lowercase());
    assert_eq!(names, sorted);
    assert_eq!(names.len(), 7, "{names:?}");

    // Shops, by name, across owners.
    for i in 0..3 {
        market(
            &app,
            &format!("pages-owner{i}@example.edu"),
            ShopOpts::default(),
        )
        .await;
    }
    let shops = every_page(&app, None, "/shops", 2).await;
    assert_eq!(shops.len(), 4);

    // Unknown filter values are refused by name too.
    for (q, field) in [
        ("shop_type=BAKERY", "shop_type"),
        ("favorites=maybe", "favorites"),
    ] {
        let r = send(&app, Method::GET, &format!("/shops?{q}"), None, None).await;
        let p = assert_problem(r, 422).await;
        assert_eq!(p["errors"][0]["field"], field, "{p}");
    }
    let r = send(
        &app,
        Method::GET,
        &format!("/shops/{}/orders?status=LOST", m.shop_id),
        Some(&m.owner_token),
        None,
    )
    .await;
    assert_eq!(assert_problem(r, 422).await["errors"][0]["field"], "status");
}
