//! Notifications, broadcasts and the live event stream (SSE).

use std::time::Duration;

use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};
use uphill::notify::{Category, Kind, Note};
use uphill::store::StoreError;

use crate::fixtures::{ShopOpts, add_staff, market, order, student, user_id};
use crate::helpers::{TestApp, assert_problem, get_ok, post, spawn_app, spawn_app_with};

async fn push_notes(app: &TestApp, user: &str, n: usize) {
    let user = user.to_string();
    app.state
        .store
        .write(move |txn| {
            for i in 0..n {
                uphill::notify::push(
                    txn,
                    &user,
                    Note {
                        title: "Hello",
                        message: format!("note {i}"),
                        kind: Kind::Info,
                        category: Category::General,
                        action: None,
                    },
                )?;
            }
            Ok::<_, StoreError>(())
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn notifications_page_newest_first_with_an_unread_count_and_mark_read() {
    let app = spawn_app().await;
    let alice = app.bearer("alice@uni.edu").await;
    let bob = app.bearer("bob@uni.edu").await;
    push_notes(&app, &user_id(&app, &alice).await, 5).await;
    push_notes(&app, &user_id(&app, &bob).await, 1).await;

    let p = get_ok(&app, &alice, "/api/v1/notifications?limit=3").await;
    assert_eq!(p["unread_count"], 5);
    let items = p["items"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    assert_eq!(items[0]["message"], "note 4", "newest first");
    let cursor = p["next_cursor"].as_str().unwrap();
    let p2 = get_ok(
        &app,
        &alice,
        &format!("/api/v1/notifications?limit=3&cursor={cursor}"),
    )
    .await;
    let older: Vec<&str> = p2["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["message"].as_str().unwrap())
        .collect();
    assert_eq!(older, ["note 1", "note 0"]);
    assert!(p2["next_cursor"].is_null());

    // Read one: the count drops once, however often it is repeated.
    let id = items[0]["id"].as_str().unwrap();
    for _ in 0..2 {
        let r = post(
            &app,
            &alice,
            &format!("/api/v1/notifications/{id}/read"),
            json!({}),
        )
        .await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.json::<Value>().await.unwrap()["read"], true);
    }
    let p = get_ok(&app, &alice, "/api/v1/notifications?unread=true").await;
    assert_eq!(p["unread_count"], 4);
    assert_eq!(p["items"].as_array().unwrap().len(), 4);

    // Someone else's notification is invisible to Alice.
    let bobs = get_ok(&app, &bob, "/api/v1/notifications").await;
    let bob_id = bobs["items"][0]["id"].as_str().unwrap();
    assert_problem(
        post(
            &app,
            &alice,
            &format!("/api/v1/notifications/{bob_id}/read"),
            json!({}),
        )
        .await,
        404,
    )
    .await;

    let r = post(&app, &alice, "/api/v1/notifications/read-all", json!({})).await;
    assert_eq!(r.json::<Value>().await.unwrap()["marked"], 4);
    let p = get_ok(&app, &alice, "/api/v1/notifications").await;
    assert_eq!(p["unread_count"], 0);
    assert!(
        p["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|n| n["read"] == true)
    );
    assert_eq!(
        get_ok(&app, &bob, "/api/v1/notifications").await["unread_count"],
        1
    );
}

#[tokio::test]
async fn notifications_need_a_signed_in_caller() {
    let app = spawn_app().await;
    let r = app
        .client()
        .get(app.url("/api/v1/notifications"))
        .send()
        .await
        .unwrap();
    assert_problem(r, 401).await;
    let r = app
        .client()
        .post(app.url("/api/v1/notifications/read-all"))
        .send()
        .await
        .unwrap();
    assert_problem(r, 401).await;
}

fn titles(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["title"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn broadcasts_reach_their_audience_with_a_read_flag_each() {
    let app = spawn_app().await;
    let admin = app.admin_bearer("admin@uni.edu").await;
    let m = market(&app, "owner@uni.edu", ShopOpts::default()).await;
    let runner = app.bearer("runner@uni.edu").await;
    add_staff(&app, &m.shop_id, &user_id(&app, &runner).await).await;
    let student = app.bearer("student@uni.edu").await;

    for (title, audience) in [
        ("to all", "ALL"),
        ("to vendors", "VENDORS"),
        ("to runners", "RUNNERS"),
        ("to admins", "ADMINS"),
        ("to students", "STUDENTS"),
    ] {
        let r = post(
            &app,
            &admin,
            "/api/v1/admin/broadcasts",
            json!({"title": title, "message": "hello", "audience": audience}),
        )
        .await;
        assert_eq!(r.status(), StatusCode::CREATED, "{title}");
    }
    assert_eq!(
        titles(&get_ok(&app, &student, "/api/v1/broadcasts").await),
        ["to students", "to all"]
    );
    // "Students" are those with no other role.
    assert_eq!(
        titles(&get_ok(&app, &m.owner_token, "/api/v1/broadcasts").await),
        ["to vendors", "to all"]
    );
    assert_eq!(
        titles(&get_ok(&app, &runner, "/api/v1/broadcasts").await),
        ["to runners", "to all"]
    );
    assert_eq!(
        titles(&get_ok(&app, &admin, "/api/v1/broadcasts").await),
        ["to admins", "to all"]
    );
    // Unread broadcasts count toward the badge.
    let unread = |token: String| {
        let app = &app;
        async move { get_ok(app, &token, "/api/v1/notifications").await["unread_broadcasts"].clone() }
    };
    assert_eq!(unread(student.clone()).await, 2);
    assert_eq!(unread(m.owner_token.clone()).await, 2);

    // Read flags are per user.
    let list = crate::helpers::whole_page(get_ok(&app, &student, "/api/v1/broadcasts").await);
    let all_id = list[1]["id"].as_str().unwrap();
    let r = post(
        &app,
        &student,
        &format!("/api/v1/broadcasts/{all_id}/read"),
        json!({}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let list = crate::helpers::whole_page(get_ok(&app, &student, "/api/v1/broadcasts").await);
    assert_eq!(
        (list[0]["read"].clone(), list[1]["read"].clone()),
        (json!(false), json!(true))
    );
    assert_eq!(unread(student.clone()).await, 1, "one read, one left");
    assert_eq!(unread(m.owner_token.clone()).await, 2, "reads are per user");
    let owners =
        crate::helpers::whole_page(get_ok(&app, &m.owner_token, "/api/v1/broadcasts").await);
    assert!(
        owners
            .as_array()
            .unwrap()
            .iter()
            .all(|b| b["read"] == false)
    );

    // A broadcast for another role is not there to read.
    let admins = crate::helpers::whole_page(get_ok(&app, &admin, "/api/v1/broadcasts").await);
    let admin_only = admins[0]["id"].as_str().unwrap();
    assert_problem(
        post(
            &app,
            &student,
            &format!("/api/v1/broadcasts/{admin_only}/read"),
            json!({}),
        )
        .await,
        404,
    )
    .await;

    // The action is audited.
    let audit = get_ok(&app, &admin, "/api/v1/admin/audit").await;
    assert!(audit.to_string().contains("broadcast.create"), "{audit}");
}

#[tokio::test]
async fn only_admins_broadcast_and_the_body_is_checked() {
    let app = spawn_app().await;
    let admin = app.admin_bearer("admin@uni.edu").await;
    let student = app.bearer("student@uni.edu").await;
    let ok = json!({"title": "t", "message": "m", "audience": "ALL"});
    assert_problem(
        post(&app, &student, "/api/v1/admin/broadcasts", ok).await,
        403,
    )
    .await;
    assert_problem(
        post(
            &app,
            &admin,
            "/api/v1/admin/broadcasts",
            json!({"title": "t", "message": "m", "audience": "EVERYONE"}),
        )
        .await,
        400,
    )
    .await;
    assert_problem(
        post(
            &app,
            &admin,
            "/api/v1/admin/broadcasts",
            json!({"title": "", "message": "m", "audience": "ALL"}),
        )
        .await,
        422,
    )
    .await;
    assert_problem(
        post(
            &app,
            &admin,
            "/api/v1/admin/broadcasts",
            json!({"title": "x".repeat(101), "message": "m", "audience": "ALL"}),
        )
        .await,
        400,
    )
    .await;
    let r = app
        .client()
        .get(app.url("/api/v1/broadcasts"))
        .send()
        .await
        .unwrap();
    assert_problem(r, 401).await;
}

/// One parsed server-sent event (or a heartbeat comment).
#[derive(Debug, Clone)]
struct Sse {
    id: Option<u64>,
    event: String,
    data: Value,
    heartbeat: bool,
}

struct EventStream {
    body: futures_util::stream::BoxStream<'static, reqwest::Result<Vec<u8>>>,
    buf: String,
    /// The server ended the stream.
    ended: bool,
    /// The served OpenAPI document: every event read is checked against
    /// its `LiveEvent` schema.
    document: Value,
}

impl EventStream {
    async fn open(app: &TestApp, token: &str, last_id: Option<u64>) -> reqwest::Response {
        let mut req = app
            .client()
            .get(app.url("/api/v1/events"))
            .bearer_auth(token);
        if let Some(id) = last_id {
            req = req.header("last-event-id", id.to_string());
        }
        tokio::time::timeout(Duration::from_secs(5), req.send())
            .await
            .expect("connect in time")
            .unwrap()
    }

    async fn connect(app: &TestApp, token: &str, last_id: Option<u64>) -> Self {
        let r = Self::open(app, token, last_id).await;
        Self::accept(r, app.openapi().await)
    }

    /// A stream opened with a browser's session cookie.
    async fn connect_browser(app: &TestApp, browser: &reqwest::Client) -> Self {
        let r = tokio::time::timeout(
            Duration::from_secs(5),
            browser.get(app.url("/api/v1/events")).send(),
        )
        .await
        .expect("connect in time")
        .unwrap();
        Self::accept(r, app.openapi().await)
    }

    fn accept(r: reqwest::Response, document: Value) -> Self {
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()["content-type"], "text/event-stream");
        assert_eq!(r.headers()["x-accel-buffering"], "no");
        Self {
            body: r.bytes_stream().map(|c| c.map(|b| b.to_vec())).boxed(),
            buf: String::new(),
            ended: false,
            document,
        }
    }

    /// Reads events until `done` holds for what was read, or `within` passes.
    async fn read_until(&mut self, within: Duration, done: impl Fn(&[Sse]) -> bool) -> Vec<Sse> {
        let mut got = Vec::new();
        let deadline = tokio::time::Instant::now() + within;
        while !done(&got) {
            let Ok(next) = tokio::time::timeout_at(deadline, self.body.next()).await else {
                break;
            };
            let Some(chunk) = next else {
                self.ended = true;
                break;
            };
            self.buf.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
            while let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let e = parse(&block);
                if !e.heartbeat {
                    let problems = documented(&self.document, &block);
                    assert!(
                        problems.is_empty(),
                        "an event the document does not describe as a LiveEvent:\n{block}\n{}",
                        problems.join("\n")
                    );
                }
                got.push(e);
            }
        }
        got
    }
}

fn parse(block: &str) -> Sse {
    let mut e = Sse {
        id: None,
        event: "message".into(),
        data: Value::Null,
        heartbeat: false,
    };
    for line in block.lines() {
        if line.starts_with(':') {
            e.heartbeat = true;
        } else if let Some(v) = line.strip_prefix("id: ") {
            e.id = v.parse().ok();
        } else if let Some(v) = line.strip_prefix("event: ") {
            e.event = v.to_string();
        } else if let Some(v) = line.strip_prefix("data: ") {
            e.data = serde_json::from_str(v).unwrap();
        }
    }
    e
}

/// Where one SSE frame breaks the document's `LiveEvent` schema, which
/// describes a frame as `{event, id, data}` (the `data` line as JSON).
fn documented(document: &Value, block: &str) -> Vec<String> {
    let mut frame = serde_json::Map::new();
    for line in block.lines() {
        if let Some((field, value)) = line.split_once(": ") {
            let value = match field {
                "data" => serde_json::from_str(value).unwrap_or(Value::Null),
                _ => Value::String(value.to_string()),
            };
            frame.insert(field.to_string(), value);
        }
    }
    let mut problems = Vec::new();
    conforms(
        document,
        &json!({"$ref": "#/components/schemas/LiveEvent"}),
        &Value::Object(frame),
        "event",
        &mut problems,
    );
    problems
}

/// Checks `v` against an OpenAPI 3.0 schema of the kinds poem-openapi
/// writes (`$ref`, `allOf`, `oneOf` with a discriminator, objects, enums,
/// `nullable`), strictly: a property the schema does not name is a problem
/// too, so a payload cannot grow a field the document does not describe.
fn conforms(doc: &Value, schema: &Value, v: &Value, at: &str, out: &mut Vec<String>) {
    if let Some(r) = schema["$ref"].as_str() {
        let name = r.trim_start_matches("#/components/schemas/");
        let target = &doc["components"]["schemas"][name];
        assert!(target.is_object(), "{r} is not in the document");
        return conforms(doc, target, v, at, out);
    }
    if v.is_null() && schema["nullable"] == true {
        return;
    }
    if let Some(one_of) = schema["oneOf"].as_array() {
        let Some(d) = schema["discriminator"]["propertyName"].as_str() else {
            panic!("{at}: a oneOf without a discriminator")
        };
        let Some(kind) = v[d].as_str() else {
            out.push(format!("{at}: no `{d}`"));
            return;
        };
        match schema["discriminator"]["mapping"][kind].as_str() {
            Some(r) => conforms(doc, &json!({ "$ref": r }), v, at, out),
            None => out.push(format!("{at}: `{d}` {kind:?} is none of {one_of:?}")),
        }
        return;
    }
    // allOf: every part holds, and together they name every property.
    let mut parts = vec![schema];
    let mut i = 0;
    while i < parts.len() {
        let part = parts[i];
        if let Some(all) = part["allOf"].as_array() {
            for p in all {
                let p = match p["$ref"].as_str() {
                    Some(r) => {
                        &doc["components"]["schemas"][r.trim_start_matches("#/components/schemas/")]
                    }
                    None => p,
                };
                parts.push(p);
            }
        }
        i += 1;
    }
    let mut named = std::collections::BTreeSet::new();
    for part in &parts {
        if let Some(ty) = part["type"].as_str() {
            let ok = match ty {
                "object" => v.is_object(),
                "string" => v.is_string(),
                "integer" => v.is_i64() || v.is_u64(),
                "number" => v.is_number(),
                "boolean" => v.is_boolean(),
                "array" => v.is_array(),
                _ => true,
            };
            if !ok {
                out.push(format!("{at}: {v} is not of type {ty}"));
                return;
            }
        }
        if let Some(allowed) = part["enum"].as_array()
            && !allowed.contains(v)
        {
            out.push(format!("{at}: {v} is none of {allowed:?}"));
        }
        for req in part["required"].as_array().into_iter().flatten() {
            let req = req.as_str().unwrap();
            if v.get(req).is_none() {
                out.push(format!("{at}: `{req}` is missing"));
            }
        }
        for (name, prop) in part["properties"].as_object().into_iter().flatten() {
            named.insert(name.as_str());
            if let Some(value) = v.get(name) {
                conforms(doc, prop, value, &format!("{at}.{name}"), out);
            }
        }
    }
    if let Some(obj) = v.as_object().filter(|_| !named.is_empty()) {
        for k in obj.keys() {
            if !named.contains(k.as_str()) {
                out.push(format!("{at}: `{k}` is not in the document"));
            }
        }
    }
}

fn kinds(evs: &[Sse]) -> Vec<&str> {
    evs.iter()
        .filter(|e| !e.heartbeat)
        .map(|e| e.event.as_str())
        .collect()
}

fn has(evs: &[Sse], kind: &str) -> bool {
    evs.iter().any(|e| e.event == kind)
}

#[tokio::test]
async fn a_locked_batch_reaches_its_students_stream_live_and_on_replay() {
    let app = spawn_app().await;
    let m = market(&app, "owner@uni.edu", ShopOpts::default()).await;
    let (s1, a1) = student(&app, "s1@uni.edu", &m).await;
    let (s2, _) = student(&app, "s2@uni.edu", &m).await;
    let o = order(&app, &m, &s1, &a1, &ulid::Ulid::new().to_string()).await;
    let batch = o["batch_id"].as_str().unwrap().to_string();

    let mut mine = EventStream::connect(&app, &s1, None).await;
    let mut other = EventStream::connect(&app, &s2, None).await;
    let r = post(
        &app,
        &m.owner_token,
        &format!("/api/v1/batches/{batch}/lock"),
        json!({}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);

    let got = mine
        .read_until(Duration::from_secs(2), |e| {
            has(e, "notification") && has(e, "batch.updated")
        })
        .await;
    assert!(
        has(&got, "notification") && has(&got, "batch.updated"),
        "{got:?}"
    );
    assert!(has(&got, "order.updated"), "{got:?}");
    let locked = got.iter().find(|e| e.event == "batch.updated").unwrap();
    assert_eq!(locked.data["batch_id"], batch.as_str());
    assert_eq!(locked.data["status"], "LOCKED");
    let note = got.iter().find(|e| e.event == "notification").unwrap();
    assert_eq!(note.data["title"], "Your batch is locked");
    assert!(
        !got.iter().any(|e| e.data.to_string().contains("otp\":\"")),
        "no OTP on the wire"
    );
    let first = got.iter().filter_map(|e| e.id).min().unwrap();

    // The other student hears nothing of it (only heartbeats, if anything).
    let theirs = other
        .read_until(Duration::from_millis(500), |e| !kinds(e).is_empty())
        .await;
    assert!(kinds(&theirs).is_empty(), "{theirs:?}");
    drop(mine);

    // Reconnecting with the id before the first one replays everything since.
    let mut again = EventStream::connect(&app, &s1, Some(first - 1)).await;
    let replay = again
        .read_until(Duration::from_secs(2), |e| {
            kinds(e).len() >= kinds(&got).len()
        })
        .await;
    assert_eq!(kinds(&replay), kinds(&got));
    let ids: Vec<u64> = replay.iter().filter_map(|e| e.id).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");

    // Later events follow the replay on the same stream.
    let r = post(
        &app,
        &m.owner_token,
        &format!("/api/v1/batches/{batch}/dispatch"),
        json!({}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let more = again
        .read_until(Duration::from_secs(2), |e| has(e, "batch.updated"))
        .await;
    let d = more
        .iter()
        .find(|e| e.event == "batch.updated")
        .expect("dispatch event");
    assert_eq!(d.data["status"], "IN_TRANSIT");
    assert!(d.id.unwrap() > *ids.last().unwrap());
}

/// Every kind of event the document lists is sent, and every one sent is
/// listed (each frame read is checked against its schema on the way).
#[tokio::test]
async fn every_kind_of_event_is_one_the_document_describes() {
    let app = spawn_app_with(|c| c.events.max_streams_per_user = 1).await;
    let m = market(&app, "owner@uni.edu", ShopOpts::default()).await;
    let (s1, a1) = student(&app, "s1@uni.edu", &m).await;
    let admin = app.admin_bearer("admin@uni.edu").await;
    // The shop's side hears of the order (`shop.order`).
    let mut shop_side = EventStream::connect(&app, &m.owner_token, None).await;
    let o = order(&app, &m, &s1, &a1, &ulid::Ulid::new().to_string()).await;
    let (oid, batch) = (o["id"].as_str().unwrap(), o["batch_id"].as_str().unwrap());
    let mut s = EventStream::connect(&app, &s1, None).await;

    let lock = format!("/api/v1/batches/{batch}/lock");
    assert_eq!(
        post(&app, &m.owner_token, &lock, json!({})).await.status(),
        StatusCode::OK
    );
    let chat = format!("/api/v1/orders/{oid}/messages");
    let r = post(&app, &m.owner_token, &chat, json!({"body": "Packing now"})).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = post(
        &app,
        &admin,
        "/api/v1/admin/broadcasts",
        json!({"title": "Hi", "message": "m", "audience": "ALL"}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let live = [
        "notification",
        "order.updated",
        "batch.updated",
        "chat.message",
        "broadcast",
    ];
    let mut got = s
        .read_until(Duration::from_secs(5), |e| live.iter().all(|k| has(e, k)))
        .await;
    // A newer stream of the same user ends this one (the cap is 1).
    let _newer = EventStream::connect(&app, &s1, None).await;
    got.extend(
        s.read_until(Duration::from_secs(5), |e| has(e, "stream.closed"))
            .await,
    );
    got.extend(
        shop_side
            .read_until(Duration::from_secs(5), |e| has(e, "shop.order"))
            .await,
    );

    let sent: std::collections::BTreeSet<&str> = kinds(&got).into_iter().collect();
    let document = app.openapi().await;
    let mapping = document["components"]["schemas"]["LiveEvent"]["discriminator"]["mapping"]
        .as_object()
        .expect("LiveEvent has a discriminator mapping");
    let listed: std::collections::BTreeSet<&str> = mapping.keys().map(String::as_str).collect();
    assert_eq!(sent, listed, "{got:?}");
}

/// The check the stream helper runs on every event refuses what the
/// document does not describe (so a passing events test means something).
#[tokio::test]
async fn the_event_check_refuses_what_the_document_does_not_describe() {
    let app = spawn_app().await;
    let doc = app.openapi().await;
    let order = r#"{"order_id":"o","display_id":"UP-1","status":"BATCHED","batch_id":null}"#;
    let ok = format!("id: 7\nevent: order.updated\ndata: {order}\n\n");
    assert_eq!(documented(&doc, &ok), Vec::<String>::new());
    let closed = "event: stream.closed\ndata: {\"reason\":\"replaced\"}\n\n";
    assert_eq!(documented(&doc, closed), Vec::<String>::new());
    for bad in [
        ok.replace("order.updated", "order.moved"),
        ok.replace("BATCHED", "LOST"),
        ok.replace("\"batch_id\":null", "\"batch_id\":null,\"otp\":\"1234\""),
        ok.replace("\"display_id\":\"UP-1\",", ""),
        ok.replace("id: 7\n", ""),
        closed.replace("replaced", "bored"),
    ] {
        assert!(!documented(&doc, &bad).is_empty(), "passed: {bad}");
    }
}

#[tokio::test]
async fn broadcasts_stream_to_their_audience_and_heartbeats_keep_idle_streams_alive() {
    let app = spawn_app_with(|c| c.events.heartbeat_secs = 1).await;
    let admin = app.admin_bearer("admin@uni.edu").await;
    let student = app.bearer("student@uni.edu").await;
    let mut s = EventStream::connect(&app, &student, None).await;
    let mut a = EventStream::connect(&app, &admin, None).await;
    let beat = s
        .read_until(Duration::from_secs(3), |e| e.iter().any(|e| e.heartbeat))
        .await;
    assert!(beat.iter().any(|e| e.heartbeat), "{beat:?}");

    for audience in ["ADMINS", "ALL"] {
        let r = post(
            &app,
            &admin,
            "/api/v1/admin/broadcasts",
            json!({"title": audience, "message": "m", "audience": audience}),
        )
        .await;
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    let got = s
        .read_until(Duration::from_secs(2), |e| has(e, "broadcast"))
        .await;
    let b: Vec<&Sse> = got.iter().filter(|e| e.event == "broadcast").collect();
    assert_eq!(b.len(), 1, "{got:?}");
    assert_eq!(b[0].data["title"], "ALL");
    let got = a
        .read_until(Duration::from_secs(2), |e| {
            kinds(e).iter().filter(|k| **k == "broadcast").count() == 2
        })
        .await;
    assert_eq!(
        kinds(&got).iter().filter(|k| **k == "broadcast").count(),
        2,
        "{got:?}"
    );
}

#[tokio::test]
async fn one_stream_over_the_cap_ends_the_oldest_and_the_newest_stays_live() {
    let app = spawn_app_with(|c| c.events.max_streams_per_user = 2).await;
    let token = app.bearer("s@uni.edu").await;
    let uid = user_id(&app, &token).await;
    let mut one = EventStream::connect(&app, &token, None).await;
    let mut two = EventStream::connect(&app, &token, None).await;
    // A reload opens a third: it is served, and the oldest makes room.
    let mut three = EventStream::connect(&app, &token, None).await;
    let last = one.read_until(Duration::from_secs(3), |_| false).await;
    assert!(one.ended, "the oldest stream ended: {last:?}");
    assert_closed(&last, "replaced");
    assert_eq!(app.state.events.open_streams(), 2, "its place is free");

    note(&app, &uid, "after the reload").await;
    for s in [&mut two, &mut three] {
        let got = s
            .read_until(Duration::from_secs(3), |e| has_note(e, "after the reload"))
            .await;
        assert!(has_note(&got, "after the reload"), "{got:?}");
        assert!(!s.ended);
    }
    // And again: the next oldest (two) goes, the newest two stay.
    let mut four = EventStream::connect(&app, &token, None).await;
    let last = two.read_until(Duration::from_secs(3), |_| false).await;
    assert!(two.ended, "{last:?}");
    assert_closed(&last, "replaced");
    note(&app, &uid, "fourth").await;
    for s in [&mut three, &mut four] {
        let got = s
            .read_until(Duration::from_secs(3), |e| has_note(e, "fourth"))
            .await;
        assert!(has_note(&got, "fourth"), "{got:?}");
    }
    // Another user's streams are not touched by any of it.
    let r = tokio::time::timeout(
        Duration::from_secs(5),
        app.client().get(app.url("/api/v1/events")).send(),
    )
    .await
    .unwrap()
    .unwrap();
    assert_problem(r, 401).await;
}

#[tokio::test]
async fn a_stream_the_client_closes_gives_up_its_place() {
    let app = spawn_app_with(|c| {
        // The server notices a closed peer when it next writes to it.
        c.events.heartbeat_secs = 1;
    })
    .await;
    let token = app.bearer("s@uni.edu").await;
    let one = EventStream::connect(&app, &token, None).await;
    let _two = EventStream::connect(&app, &token, None).await;
    assert_eq!(app.state.events.open_streams(), 2);
    drop(one);
    let started = std::time::Instant::now();
    while app.state.events.open_streams() != 1 {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "a closed stream frees its place"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn shutdown_ends_open_streams_without_waiting_for_the_timeout() {
    let app = spawn_app_with(|c| c.server.shutdown_timeout_secs = 30).await;
    let token = app.bearer("s@uni.edu").await;
    let mut s = EventStream::connect(&app, &token, None).await;
    let started = std::time::Instant::now();
    tokio::time::timeout(Duration::from_secs(10), app.stop())
        .await
        .expect("stopped before the shutdown timeout");
    assert!(started.elapsed() < Duration::from_secs(10));
    // The stream has ended rather than hanging.
    let rest = tokio::time::timeout(Duration::from_secs(2), async {
        while let Some(Ok(_)) = s.body.next().await {}
    })
    .await;
    assert!(rest.is_ok(), "the stream ended");
}

// ---------- order chat ----------

async fn thread(app: &TestApp, token: &str, order_id: &str) -> Vec<Value> {
    get_ok(app, token, &format!("/api/v1/orders/{order_id}/messages")).await["items"]
        .as_array()
        .unwrap()
        .clone()
}

#[tokio::test]
async fn order_chat_is_live_between_student_and_shop_and_private_to_them() {
    let app = spawn_app().await;
    let m = market(&app, "owner@uni.edu", ShopOpts::default()).await;
    let (s1, a1) = student(&app, "s1@uni.edu", &m).await;
    let (s2, _) = student(&app, "s2@uni.edu", &m).await;
    let staff = app.bearer("staff@uni.edu").await;
    add_staff(&app, &m.shop_id, &user_id(&app, &staff).await).await;
    let admin = app.admin_bearer("admin@uni.edu").await;
    let o = order(&app, &m, &s1, &a1, &ulid::Ulid::new().to_string()).await;
    let oid = o["id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/orders/{oid}/messages");

    let mut student_stream = EventStream::connect(&app, &s1, None).await;
    let mut staff_stream = EventStream::connect(&app, &staff, None).await;
    let mut outsider_stream = EventStream::connect(&app, &s2, None).await;

    let r = post(
        &app,
        &m.owner_token,
        &path,
        json!({"body": "  On our way at 6!  "}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let sent: Value = r.json().await.unwrap();
    assert_eq!(sent["body"], "On our way at 6!");
    assert_eq!(sent["sender"], "SHOP");
    assert_eq!(sent["mine"], true);

    for s in [&mut student_stream, &mut staff_stream] {
        let got = s
            .read_until(Duration::from_secs(2), |e| has(e, "chat.message"))
            .await;
        let c = got
            .iter()
            .find(|e| e.event == "chat.message")
            .expect("chat.message within 2 s");
        assert_eq!(c.data["body"], "On our way at 6!");
        assert_eq!(c.data["order_id"], oid.as_str());
        assert!(c.id.is_some());
    }

    let r = post(&app, &s1, &path, json!({"body": "Room A-1, thanks"})).await;
    assert_eq!(r.status(), StatusCode::CREATED);

    // Student, staff and admin read the same thread, oldest first, each
    // with their own `mine` flag; staff write as the shop.
    let seen_by_student = thread(&app, &s1, &oid).await;
    assert_eq!(seen_by_student.len(), 2);
    assert_eq!(seen_by_student[0]["mine"], false);
    assert_eq!(seen_by_student[1]["mine"], true);
    assert_eq!(seen_by_student[1]["sender"], "STUDENT");
    let seen_by_staff = thread(&app, &staff, &oid).await;
    assert_eq!(seen_by_staff[1]["body"], "Room A-1, thanks");
    assert_eq!(thread(&app, &admin, &oid).await.len(), 2);
    let after = seen_by_student[0]["id"].as_str().unwrap();
    let tail =
        crate::helpers::whole_page(get_ok(&app, &s1, &format!("{path}?after={after}")).await);
    assert_eq!(tail.as_array().unwrap().len(), 1);

    // Anyone else: the order does not exist for them, and they hear nothing.
    let r = app
        .client()
        .get(app.url(&path))
        .bearer_auth(&s2)
        .send()
        .await
        .unwrap();
    assert_problem(r, 404).await;
    assert_problem(post(&app, &s2, &path, json!({"body": "hi"})).await, 404).await;
    let theirs = outsider_stream
        .read_until(Duration::from_millis(500), |e| !kinds(e).is_empty())
        .await;
    assert!(kinds(&theirs).is_empty(), "{theirs:?}");
    // Admins read for disputes but do not take part.
    assert_problem(
        post(&app, &admin, &path, json!({"body": "hello"})).await,
        403,
    )
    .await;
    let r = app.client().get(app.url(&path)).send().await.unwrap();
    assert_problem(r, 401).await;
    let r = app
        .client()
        .post(app.url(&path))
        .json(&json!({"body": "anon"}))
        .send()
        .await
        .unwrap();
    assert_problem(r, 401).await;

    assert_eq!(
        thread(&app, &s1, &oid).await.len(),
        2,
        "rejections wrote nothing"
    );
}

#[tokio::test]
async fn order_chat_refuses_bad_messages_and_floods_without_storing_them() {
    let app = spawn_app().await;
    let m = market(&app, "owner@uni.edu", ShopOpts::default()).await;
    let (s1, a1) = student(&app, "s1@uni.edu", &m).await;
    let o = order(&app, &m, &s1, &a1, &ulid::Ulid::new().to_string()).await;
    let oid = o["id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/orders/{oid}/messages");

    let bad = [
        (json!({"body": "   "}), 422),
        (json!({"body": "x".repeat(1001)}), 400),
        (json!({"body": 5}), 400),
        (json!({"body": "ok", "extra": true}), 400),
        (json!({}), 400),
        (json!({"body": "bell\u{7}"}), 422),
    ];
    for (body, status) in bad {
        assert_problem(post(&app, &s1, &path, body).await, status).await;
    }
    let unknown = format!("/api/v1/orders/{}/messages", ulid::Ulid::new());
    assert_problem(post(&app, &s1, &unknown, json!({"body": "hi"})).await, 404).await;
    let too_long = format!("/api/v1/orders/{}/messages", "x".repeat(27));
    assert_problem(post(&app, &s1, &too_long, json!({"body": "hi"})).await, 400).await;
    for q in ["limit=0", "limit=201", "limit=abc"] {
        let r = app
            .client()
            .get(app.url(&format!("{path}?{q}")))
            .bearer_auth(&s1)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_client_error(), "{q}: {}", r.status());
        assert_problem(r, r_status(q)).await;
    }
    assert!(thread(&app, &s1, &oid).await.is_empty());

    // Ten a minute per author; the eleventh is told when to retry, and the
    // other side is not slowed by it.
    for i in 0..10 {
        let r = post(&app, &s1, &path, json!({"body": format!("msg {i}")})).await;
        assert_eq!(r.status(), StatusCode::CREATED, "message {i}");
    }
    let r = post(&app, &s1, &path, json!({"body": "one too many"})).await;
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    assert_problem(r, 429).await;
    let r = post(&app, &m.owner_token, &path, json!({"body": "calm down"})).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(thread(&app, &s1, &oid).await.len(), 11);
}

fn r_status(_q: &str) -> u16 {
    // Out of range or not a number at all: a validation failure naming it.
    422
}

// ---------- revocation ends open streams ----------

/// Pushes a notification whose message is `message` to `user`.
async fn note(app: &TestApp, user: &str, message: &str) {
    let (user, message) = (user.to_string(), message.to_string());
    app.state
        .store
        .write(move |txn| {
            uphill::notify::push(
                txn,
                &user,
                Note {
                    title: "Hello",
                    message: message.clone(),
                    kind: Kind::Info,
                    category: Category::General,
                    action: None,
                },
            )
        })
        .await
        .unwrap();
}

fn has_note(evs: &[Sse], message: &str) -> bool {
    evs.iter()
        .any(|e| e.event == "notification" && e.data["message"] == message)
}

/// The stream's last frame said it was closed for `reason`.
fn assert_closed(evs: &[Sse], reason: &str) {
    let last = evs.iter().rfind(|e| !e.heartbeat).expect("a last frame");
    assert_eq!(last.event, "stream.closed", "{evs:?}");
    assert_eq!(last.data["reason"], reason, "{evs:?}");
    assert_eq!(last.id, None, "the closing frame moves no Last-Event-ID");
}

/// After a revocation: something for the user is published, and `s` ends
/// within a few seconds with `stream.closed` (`reason`) without it.
/// Returns the stream's last frames.
async fn assert_ends_before(
    app: &TestApp,
    uid: &str,
    s: &mut EventStream,
    reason: &str,
) -> Vec<Sse> {
    note(app, uid, "after the revocation").await;
    let got = s.read_until(Duration::from_secs(3), |_| false).await;
    assert!(s.ended, "the stream ended within 3 s: {got:?}");
    assert!(!has_note(&got, "after the revocation"), "{got:?}");
    assert_closed(&got, reason);
    got
}

fn has_title(evs: &[Sse], title: &str) -> bool {
    evs.iter().any(|e| e.data["title"] == title)
}

/// `s` is still open and hears the note published by `assert_ends_before`.
async fn assert_still_live(s: &mut EventStream) {
    let got = s
        .read_until(Duration::from_secs(3), |e| {
            has_note(e, "after the revocation")
        })
        .await;
    assert!(has_note(&got, "after the revocation"), "{got:?}");
    assert!(!s.ended);
}

async fn csrf_of(app: &TestApp, browser: &reqwest::Client, email: &str) -> String {
    let r = app.login(browser, email, "correct horse battery").await;
    assert_eq!(r.status(), StatusCode::OK);
    r.json::<Value>().await.unwrap()["csrf_token"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn logging_out_ends_the_streams_of_that_session_only() {
    let app = spawn_app().await;
    let (laptop, csrf) = app.signed_in_browser("s@uni.edu").await;
    let token = app.new_token(&laptop, &csrf, "script").await;
    let uid = user_id(&app, &token).await;
    let phone = app.browser();
    csrf_of(&app, &phone, "s@uni.edu").await;

    let mut on_laptop = EventStream::connect_browser(&app, &laptop).await;
    let mut on_phone = EventStream::connect_browser(&app, &phone).await;
    let mut scripted = EventStream::connect(&app, &token, None).await;
    let r = laptop
        .post(app.url("/api/v1/auth/logout"))
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());

    assert_ends_before(&app, &uid, &mut on_laptop, "revoked").await;
    assert_still_live(&mut on_phone).await;
    assert_still_live(&mut scripted).await;
}

#[tokio::test]
async fn an_admin_sign_out_ends_session_streams_and_leaves_token_streams() {
    let app = spawn_app().await;
    let admin = app.admin_bearer("admin@uni.edu").await;
    let (browser, csrf) = app.signed_in_browser("s@uni.edu").await;
    let token = app.new_token(&browser, &csrf, "script").await;
    let uid = user_id(&app, &token).await;
    let mut in_browser = EventStream::connect_browser(&app, &browser).await;
    let mut scripted = EventStream::connect(&app, &token, None).await;

    let r = post(
        &app,
        &admin,
        &format!("/api/v1/admin/users/{uid}/sign-out"),
        json!({}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_ends_before(&app, &uid, &mut in_browser, "revoked").await;
    assert_still_live(&mut scripted).await;
}

#[tokio::test]
async fn suspension_and_ban_end_every_stream_and_nothing_later_reaches_them() {
    let app = spawn_app().await;
    let admin = app.admin_bearer("admin@uni.edu").await;
    let mut bystander = EventStream::connect(&app, &app.bearer("b@uni.edu").await, None).await;
    for (i, action) in ["suspend", "ban"].into_iter().enumerate() {
        let email = format!("s{i}@uni.edu");
        let (browser, csrf) = app.signed_in_browser(&email).await;
        let token = app.new_token(&browser, &csrf, "script").await;
        let uid = user_id(&app, &token).await;
        let mut in_browser = EventStream::connect_browser(&app, &browser).await;
        let mut scripted = EventStream::connect(&app, &token, None).await;

        let r = post(
            &app,
            &admin,
            &format!("/api/v1/admin/users/{uid}/{action}"),
            json!({"reason": "test"}),
        )
        .await;
        assert_eq!(r.status(), StatusCode::OK, "{action}");
        // A broadcast to everyone after it: not for them any more.
        let title = format!("after the {action}");
        let r = post(
            &app,
            &admin,
            "/api/v1/admin/broadcasts",
            json!({"title": title, "message": "m", "audience": "ALL"}),
        )
        .await;
        assert_eq!(r.status(), StatusCode::CREATED);
        for s in [&mut in_browser, &mut scripted] {
            let last = assert_ends_before(&app, &uid, s, "revoked").await;
            assert!(!has_title(&last, &title), "{action}: {last:?}");
        }
        // Someone else still hears it.
        let got = bystander
            .read_until(Duration::from_secs(3), |e| has_title(e, &title))
            .await;
        assert!(has_title(&got, &title), "{got:?}");
        // And they cannot open a new one.
        assert_problem(EventStream::open(&app, &token, None).await, 403).await;
    }
}

#[tokio::test]
async fn the_suspension_notice_still_reaches_the_stream_it_ends() {
    let app = spawn_app().await;
    let admin = app.admin_bearer("admin@uni.edu").await;
    let token = app.bearer("s@uni.edu").await;
    let uid = user_id(&app, &token).await;
    let mut s = EventStream::connect(&app, &token, None).await;
    let r = post(
        &app,
        &admin,
        &format!("/api/v1/admin/users/{uid}/suspend"),
        json!({}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let got = s.read_until(Duration::from_secs(3), |_| false).await;
    assert!(s.ended, "{got:?}");
    let kinds = kinds(&got);
    assert_eq!(kinds, ["notification", "stream.closed"], "{got:?}");
    assert_eq!(got[0].data["title"], "Account suspended");
}

#[tokio::test]
async fn removing_admin_rights_ends_the_streams_and_a_new_one_hears_as_a_student() {
    let app = spawn_app().await;
    let admin = app.admin_bearer("admin@uni.edu").await;
    let other = app.admin_bearer("other@uni.edu").await;
    let uid = user_id(&app, &other).await;
    let mut s = EventStream::connect(&app, &other, None).await;
    let r = post(
        &app,
        &admin,
        &format!("/api/v1/admin/users/{uid}/remove-admin"),
        json!({}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = post(
        &app,
        &admin,
        "/api/v1/admin/broadcasts",
        json!({"title": "admins only", "message": "m", "audience": "ADMINS"}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let last = assert_ends_before(&app, &uid, &mut s, "rights_changed").await;
    assert!(!has_title(&last, "admins only"), "{last:?}");

    // Their token still works; a new stream hears what students hear.
    let mut again = EventStream::connect(&app, &other, None).await;
    for (title, audience) in [("admins again", "ADMINS"), ("everyone", "ALL")] {
        let r = post(
            &app,
            &admin,
            "/api/v1/admin/broadcasts",
            json!({"title": title, "message": "m", "audience": audience}),
        )
        .await;
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    let got = again
        .read_until(Duration::from_secs(3), |e| has(e, "broadcast"))
        .await;
    let titles: Vec<&Value> = got
        .iter()
        .filter(|e| e.event == "broadcast")
        .map(|e| &e.data["title"])
        .collect();
    assert_eq!(titles, [&json!("everyone")], "{got:?}");
}

#[tokio::test]
async fn deleting_a_token_ends_the_streams_it_opened_only() {
    let app = spawn_app().await;
    let (browser, csrf) = app.signed_in_browser("s@uni.edu").await;
    let doomed = app.new_token(&browser, &csrf, "doomed").await;
    let kept = app.new_token(&browser, &csrf, "kept").await;
    let uid = user_id(&app, &kept).await;
    let mut on_doomed = EventStream::connect(&app, &doomed, None).await;
    let mut on_kept = EventStream::connect(&app, &kept, None).await;
    let mut in_browser = EventStream::connect_browser(&app, &browser).await;

    let list = get_ok(&app, &kept, "/api/v1/me/tokens").await;
    let id = list
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "doomed")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = app
        .client()
        .delete(app.url(&format!("/api/v1/me/tokens/{id}")))
        .bearer_auth(&kept)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);

    assert_ends_before(&app, &uid, &mut on_doomed, "revoked").await;
    assert_still_live(&mut on_kept).await;
    assert_still_live(&mut in_browser).await;
    assert_problem(EventStream::open(&app, &doomed, None).await, 401).await;
}

#[tokio::test]
async fn a_password_reset_ends_every_stream_and_revokes_the_api_tokens() {
    let app = spawn_app().await;
    let (browser, csrf) = app.signed_in_browser("s@uni.edu").await;
    let token = app.new_token(&browser, &csrf, "script").await;
    let uid = user_id(&app, &token).await;
    let mut in_browser = EventStream::connect_browser(&app, &browser).await;
    let mut scripted = EventStream::connect(&app, &token, None).await;

    // The link the reset request would mail.
    let secret = uphill::auth::token::random_secret();
    let (id, link) = (uid.clone(), secret.clone());
    app.state
        .store
        .write(move |txn| {
            let user = uphill::store::codec::get::<uphill::domain::user::User>(
                &txn.open_table(uphill::store::tables::USERS)?,
                &id,
            )?
            .unwrap();
            uphill::auth::email_tokens::issue(
                txn,
                &user,
                uphill::auth::email_tokens::Purpose::PasswordReset,
                &link,
                chrono::Utc::now(),
            )
        })
        .await
        .unwrap();
    let r = app
        .client()
        .post(app.url("/api/v1/auth/password-reset/confirm"))
        .json(&json!({"token": secret, "password": "a brand new password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);

    assert_ends_before(&app, &uid, &mut in_browser, "revoked").await;
    assert_ends_before(&app, &uid, &mut scripted, "revoked").await;
    // The token is dead everywhere, and cannot mint a new one.
    let r = app
        .client()
        .get(app.url("/api/v1/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_problem(r, 401).await;
    let r = app
        .client()
        .post(app.url("/api/v1/me/tokens"))
        .bearer_auth(&token)
        .json(&json!({"name": "sneaky"}))
        .send()
        .await
        .unwrap();
    assert_problem(r, 401).await;
    assert_problem(EventStream::open(&app, &token, None).await, 401).await;
    // Signed in with the new password, the list of tokens is empty.
    let b = app.browser();
    let r = app.login(&b, "s@uni.edu", "a brand new password").await;
    assert_eq!(r.status(), StatusCode::OK);
    let list: Value = b
        .get(app.url("/api/v1/me/tokens"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list, json!([]));
    let audit = get_ok(
        &app,
        &app.admin_bearer("admin@uni.edu").await,
        "/api/v1/admin/audit",
    )
    .await;
    assert!(
        audit.to_string().contains("1 API tokens revoked"),
        "{audit}"
    );
}

#[tokio::test]
async fn an_expired_token_ends_its_stream() {
    let app = spawn_app_with(|c| c.events.heartbeat_secs = 1).await;
    let token = app.bearer("s@uni.edu").await;
    // A token that expires two seconds from now (the API's shortest
    // lifetime is a day).
    let key = uphill::auth::token::digest(&token);
    app.state
        .store
        .write(move |txn| {
            let mut t = txn.open_table(uphill::store::tables::API_TOKENS)?;
            let mut rec: uphill::auth::service::ApiToken =
                uphill::store::codec::get(&t, &key)?.unwrap();
            rec.expires_at = Some(chrono::Utc::now() + chrono::Duration::seconds(2));
            uphill::store::codec::put(&mut t, &key, &rec)
        })
        .await
        .unwrap();
    let mut s = EventStream::connect(&app, &token, None).await;
    let got = s.read_until(Duration::from_secs(6), |_| false).await;
    assert!(s.ended, "{got:?}");
    assert_closed(&got, "expired");
}

#[tokio::test]
async fn nothing_committed_after_a_revocation_reaches_the_stream_it_ends() {
    let app = spawn_app().await;
    let (browser, csrf) = app.signed_in_browser("s@uni.edu").await;
    let doomed = app.new_token(&browser, &csrf, "doomed").await;
    let kept = app.new_token(&browser, &csrf, "kept").await;
    let uid = user_id(&app, &kept).await;
    let mut s = EventStream::connect(&app, &doomed, None).await;

    // Notifications commit one after another while the token is deleted.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let pusher = {
        let (app_state, uid, stop) = (app.state.clone(), uid.clone(), stop.clone());
        tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let (uid, msg) = (uid.clone(), format!("n{i}"));
                app_state
                    .store
                    .write(move |txn| {
                        uphill::notify::push(
                            txn,
                            &uid,
                            Note {
                                title: "race",
                                message: msg.clone(),
                                kind: Kind::Info,
                                category: Category::General,
                                action: None,
                            },
                        )
                    })
                    .await
                    .unwrap();
                i += 1;
            }
        })
    };
    let heard = s
        .read_until(Duration::from_secs(3), |e| kinds(e).len() >= 5)
        .await;
    assert!(kinds(&heard).len() >= 5, "live before: {heard:?}");
    let list = get_ok(&app, &kept, "/api/v1/me/tokens").await;
    let id = list
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "doomed")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = app
        .client()
        .delete(app.url(&format!("/api/v1/me/tokens/{id}")))
        .bearer_auth(&kept)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let rest = s.read_until(Duration::from_secs(5), |_| false).await;
    assert!(s.ended, "{rest:?}");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    pusher.await.unwrap();

    let log = app
        .state
        .store
        .read(|txn| uphill::events::since(txn, 0, 100_000))
        .await
        .unwrap();
    let revoked_at = log
        .iter()
        .find(|e| e.kind == uphill::events::REVOKE_KIND)
        .expect("the revocation is in the log")
        .seq;
    assert!(
        log.iter()
            .any(|e| e.kind == "notification" && e.seq > revoked_at),
        "notifications kept committing after the revocation"
    );
    let delivered: Vec<u64> = heard.iter().chain(&rest).filter_map(|e| e.id).collect();
    assert!(
        delivered.iter().all(|id| *id < revoked_at),
        "delivered {delivered:?}, revoked at {revoked_at}"
    );
    assert_closed(&rest, "revoked");
}

#[tokio::test]
async fn a_password_change_ends_the_other_devices_streams_and_keeps_this_one() {
    let app = spawn_app().await;
    let (laptop, csrf) = app.signed_in_browser("s@uni.edu").await;
    let token = app.new_token(&laptop, &csrf, "script").await;
    let uid = user_id(&app, &token).await;
    let phone = app.browser();
    csrf_of(&app, &phone, "s@uni.edu").await;

    let mut on_laptop = EventStream::connect_browser(&app, &laptop).await;
    let mut on_phone = EventStream::connect_browser(&app, &phone).await;
    let mut scripted = EventStream::connect(&app, &token, None).await;
    let r = laptop
        .post(app.url("/api/v1/me/password"))
        .header("x-csrf-token", &csrf)
        .json(&serde_json::json!({"current_password": "correct horse battery", "new_password": "another horse battery"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::OK);

    assert_ends_before(&app, &uid, &mut on_phone, "revoked").await;
    assert_still_live(&mut on_laptop).await;
    assert_still_live(&mut scripted).await;
}

#[tokio::test]
async fn signing_out_a_device_ends_its_streams() {
    let app = spawn_app().await;
    let (laptop, csrf) = app.signed_in_browser("s@uni.edu").await;
    let token = app.new_token(&laptop, &csrf, "script").await;
    let uid = user_id(&app, &token).await;
    let phone = app.browser();
    csrf_of(&app, &phone, "s@uni.edu").await;
    let mut on_laptop = EventStream::connect_browser(&app, &laptop).await;
    let mut on_phone = EventStream::connect_browser(&app, &phone).await;
    let list: Vec<Value> = crate::helpers::page_items(
        laptop
            .get(app.url("/api/v1/me/sessions"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap(),
    );
    let other = list.iter().find(|s| s["current"] == false).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = laptop
        .delete(app.url(&format!("/api/v1/me/sessions/{other}")))
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::NO_CONTENT);
    assert_ends_before(&app, &uid, &mut on_phone, "revoked").await;
    assert_still_live(&mut on_laptop).await;
}

// ---------- the shop's side: new orders, cancellations, messages ----------

fn event<'a>(evs: &'a [Sse], kind: &str) -> Option<&'a Sse> {
    evs.iter().find(|e| e.event == kind)
}

#[tokio::test]
async fn a_new_order_and_a_students_cancellation_reach_the_shops_people_live() {
    let app = spawn_app().await;
    let m = market(&app, "owner@uni.edu", ShopOpts::default()).await;
    let other = market(&app, "owner2@uni.edu", ShopOpts::default()).await;
    let (s1, a1) = student(&app, "s1@uni.edu", &m).await;
    let runner = app.bearer("runner@uni.edu").await;
    add_staff(&app, &m.shop_id, &user_id(&app, &runner).await).await;
    let mut owner = EventStream::connect(&app, &m.owner_token, None).await;
    let mut staff = EventStream::connect(&app, &runner, None).await;
    let mut outsider = EventStream::connect(&app, &other.owner_token, None).await;

    let o = order(&app, &m, &s1, &a1, &ulid::Ulid::new().to_string()).await;
    let oid = o["id"].as_str().unwrap();
    let got = owner
        .read_until(Duration::from_secs(3), |e| {
            has(e, "shop.order") && has(e, "notification")
        })
        .await;
    let live = event(&got, "shop.order").expect("shop.order for the owner");
    assert_eq!(live.data["order_id"], oid);
    assert_eq!(live.data["display_id"], o["display_id"]);
    assert_eq!(live.data["status"], "NEW");
    assert_eq!(live.data["batch_id"], o["batch_id"]);
    let note = event(&got, "notification").expect("a notification for the owner");
    assert_eq!(note.data["category"], "ORDER");
    assert_eq!(note.data["title"], "New order");
    assert_eq!(note.data["action"], format!("/vendor/orders/{oid}"));
    let seen = staff
        .read_until(Duration::from_secs(3), |e| has(e, "shop.order"))
        .await;
    assert_eq!(event(&seen, "shop.order").unwrap().data["order_id"], oid);
    assert!(
        !has(&seen, "notification"),
        "runners are not notified: {seen:?}"
    );
    let unread = get_ok(&app, &m.owner_token, "/api/v1/notifications").await;
    assert_eq!(unread["unread_count"], 1);

    // The student cancels: the owner is told, every one of the shop hears it.
    let r = post(
        &app,
        &s1,
        &format!("/api/v1/orders/{oid}/cancel"),
        json!({}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let got = owner
        .read_until(Duration::from_secs(3), |e| {
            has(e, "shop.order") && has(e, "notification")
        })
        .await;
    assert_eq!(
        event(&got, "shop.order").unwrap().data["status"],
        "CANCELLED"
    );
    let note = event(&got, "notification").unwrap();
    assert_eq!(note.data["title"], "Order cancelled by the student");
    assert_eq!(note.data["action"], format!("/vendor/orders/{oid}"));
    let seen = staff
        .read_until(Duration::from_secs(3), |e| has(e, "shop.order"))
        .await;
    assert_eq!(
        event(&seen, "shop.order").unwrap().data["status"],
        "CANCELLED"
    );

    // Another shop hears nothing of it.
    let theirs = outsider
        .read_until(Duration::from_millis(500), |e| !kinds(e).is_empty())
        .await;
    assert!(kinds(&theirs).is_empty(), "{theirs:?}");
}

#[tokio::test]
async fn a_direct_order_asks_to_be_accepted_and_its_acceptance_is_heard() {
    let app = spawn_app().await;
    let m = market(
        &app,
        "owner@uni.edu",
        ShopOpts {
            direct_delivery_fee: 2000,
            with_slot: false,
            ..Default::default()
        },
    )
    .await;
    let (s1, a1) = student(&app, "s1@uni.edu", &m).await;
    let mut owner = EventStream::connect(&app, &m.owner_token, None).await;
    let o = order(&app, &m, &s1, &a1, "direct").await;
    let oid = o["id"].as_str().unwrap();
    assert!(o["batch_id"].is_null(), "direct: {o}");
    let got = owner
        .read_until(Duration::from_secs(3), |e| has(e, "notification"))
        .await;
    assert_eq!(
        event(&got, "notification").unwrap().data["title"],
        "New direct order"
    );
    // The shop's list of NEW orders holds it until it is accepted.
    let new = get_ok(
        &app,
        &m.owner_token,
        &format!("/api/v1/shops/{}/orders?status=NEW", m.shop_id),
    )
    .await;
    assert_eq!(new["items"][0]["id"], oid);
    let r = post(
        &app,
        &m.owner_token,
        &format!("/api/v1/orders/{oid}/accept"),
        json!({}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["status"], "OUT_FOR_DELIVERY");
    assert!(v["otp"].is_null());
    let got = owner
        .read_until(Duration::from_secs(3), |e| {
            e.iter()
                .any(|x| x.event == "shop.order" && x.data["status"] == "OUT_FOR_DELIVERY")
        })
        .await;
    assert!(
        got.iter()
            .any(|x| x.event == "shop.order" && x.data["status"] == "OUT_FOR_DELIVERY"),
        "{got:?}"
    );
    let new = get_ok(
        &app,
        &m.owner_token,
        &format!("/api/v1/shops/{}/orders?status=NEW", m.shop_id),
    )
    .await;
    assert_eq!(new["items"], json!([]));
}

#[tokio::test]
async fn a_students_message_notifies_the_shops_people_and_a_reply_notifies_the_student() {
    let app = spawn_app().await;
    let m = market(&app, "owner@uni.edu", ShopOpts::default()).await;
    let (s1, a1) = student(&app, "s1@uni.edu", &m).await;
    let runner = app.bearer("runner@uni.edu").await;
    add_staff(&app, &m.shop_id, &user_id(&app, &runner).await).await;
    let o = order(&app, &m, &s1, &a1, &ulid::Ulid::new().to_string()).await;
    let oid = o["id"].as_str().unwrap();
    let chat = format!("/api/v1/orders/{oid}/messages");
    let mut staff = EventStream::connect(&app, &runner, None).await;

    let r = post(&app, &s1, &chat, json!({"body": "Please ring twice"})).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let got = staff
        .read_until(Duration::from_secs(3), |e| {
            has(e, "chat.message") && has(e, "notification")
        })
        .await;
    let note = event(&got, "notification").expect("the runner is notified");
    assert_eq!(note.data["title"], "New message");
    assert!(
        note.data["message"]
            .as_str()
            .unwrap()
            .contains("Please ring twice")
    );
    assert_eq!(note.data["action"], format!("/vendor/orders/{oid}"));
    let owners = get_ok(&app, &m.owner_token, "/api/v1/notifications").await;
    assert!(
        owners["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["title"] == "New message"),
        "{owners}"
    );

    // The shop's reply reaches the student live and as a notification
    // (which opens the order), so it is not missed with the page closed.
    let before = get_ok(&app, &s1, "/api/v1/notifications").await["unread_count"]
        .as_u64()
        .unwrap();
    let mut mine = EventStream::connect(&app, &s1, None).await;
    let r = post(&app, &m.owner_token, &chat, json!({"body": "Will do"})).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let got = mine
        .read_until(Duration::from_secs(3), |e| {
            has(e, "chat.message") && has(e, "notification")
        })
        .await;
    let note = event(&got, "notification").expect("the student is notified");
    assert_eq!(note.data["title"], "The shop replied");
    assert!(note.data["message"].as_str().unwrap().contains("Will do"));
    assert_eq!(note.data["action"], format!("/orders/{oid}"));
    assert_eq!(
        get_ok(&app, &s1, "/api/v1/notifications").await["unread_count"],
        before + 1
    );
    // The shop's own people are not notified of their own reply.
    let owners_after = get_ok(&app, &m.owner_token, "/api/v1/notifications").await;
    let replies = owners_after["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["message"].as_str().unwrap_or("").contains("Will do"))
        .count();
    assert_eq!(replies, 0, "{owners_after}");
}
