//! The authorization contract (issue 18): every operation of the served
//! OpenAPI document × nine roles → what that role gets.
//!
//! One server, one fixture built through the API (an admin, two verified
//! shops, staff, orders in every state the rows need), one table. Each row
//! names an operation (method + path template, exactly as the document has
//! it), binds the path's ids to fixture ids, sends a valid body (so a
//! refusal can only come from the rights check) and says per role:
//!
//! - `OK`: allowed. Any status but 401/403/404 (the call may still be
//!   refused for the state of things, 409/422/429); a 400/415 means the
//!   row's body is not valid and a 5xx is a bug, so both fail too.
//! - `U` 401, `F` 403, `H` 404 (hidden: the role may not even know the id):
//!   that exact status, as `application/problem+json`.
//!
//! The test fails (once, at the end, with every problem listed) when an
//! operation of the document has no row, when a row has no operation
//! (unless it is in `AWAITING_OPERATIONS`), when any role gets something
//! else than its cell, or when the refusals changed anything in the store:
//! every refusal runs first, the whole store is compared before and after,
//! and only then do the allowed calls run, ordered by `Stage` so the
//! destructive ones come last.
//!
//! Runners join shop A with `fixtures::add_staff` (in the store), so the
//! fixture does not depend on how the staff endpoint adds people.
//! `UPHILL_AUTHZ_TRACE=1 cargo test --test api authz -- --nocapture`
//! prints every allowed call that was refused for the state of things
//! (409, 422, 429), to check that a row still reaches what it means to.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use redb::{ReadableMultimapTable, ReadableTable};
use reqwest::Method;
use serde_json::{Value, json};
use uphill::store::StoreError;
use uphill::store::tables::{self, AnyTable};

use crate::fixtures::{add_staff, user_id};
use crate::helpers::{TestApp, spawn_app};

// ---------- roles and expectations ----------

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Role {
    Anonymous,
    /// A student with an address and orders in shop A.
    Student,
    /// Another student with an address and no orders.
    OtherStudent,
    /// Owns shop A (verified, active; direct delivery offered).
    Owner,
    /// Owns shop B (verified).
    OtherOwner,
    /// On shop A's staff; claimed and dispatched the locked batch.
    Runner,
    /// On shop A's staff; did not claim that batch.
    OtherRunner,
    Admin,
    /// Has a personal API token, then was suspended by the admin.
    Suspended,
}

/// The table's column order.
const ROLES: [Role; 9] = [
    Role::Anonymous,
    Role::Student,
    Role::OtherStudent,
    Role::Owner,
    Role::OtherOwner,
    Role::Runner,
    Role::OtherRunner,
    Role::Admin,
    Role::Suspended,
];

impl Role {
    fn name(self) -> &'static str {
        match self {
            Role::Anonymous => "anonymous",
            Role::Student => "student",
            Role::OtherStudent => "another student",
            Role::Owner => "owner",
            Role::OtherOwner => "another shop's owner",
            Role::Runner => "runner",
            Role::OtherRunner => "another runner",
            Role::Admin => "admin",
            Role::Suspended => "suspended",
        }
    }

    fn slug(self) -> &'static str {
        match self {
            Role::Anonymous => "anon",
            Role::Student => "student",
            Role::OtherStudent => "student2",
            Role::Owner => "owner",
            Role::OtherOwner => "owner2",
            Role::Runner => "runner",
            Role::OtherRunner => "runner2",
            Role::Admin => "admin",
            Role::Suspended => "suspended",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Want {
    /// Not a rights refusal: anything but 401/403/404 (and not 400/415/5xx).
    Allowed,
    /// Exactly this refusal.
    Refused(u16),
}

const OK: Want = Want::Allowed;
/// 401: not signed in.
const U: Want = Want::Refused(401);
/// 403: signed in (or suspended) but not allowed.
const F: Want = Want::Refused(403);
/// 404: hidden from this role.
const H: Want = Want::Refused(404);

impl std::fmt::Display for Want {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Want::Allowed => write!(f, "allowed"),
            Want::Refused(s) => write!(f, "{s}"),
        }
    }
}

// Common columns:    anon stu stu2 own own2 run run2 adm susp
/// Public reads with optional sign-in (`MaybeAuth`). A suspended user's
/// bearer token is refused there too (403): DECISIONS "Optional sign-in on
/// public reads" — a token that does not work is an error a script should
/// see, while a browser whose session the suspension ended is a visitor.
const PUBLIC: [Want; 9] = [OK, OK, OK, OK, OK, OK, OK, OK, F];
/// Reads that take no credentials at all (a token sent along is ignored),
/// and the sign-in/sign-up endpoints.
const OPEN: [Want; 9] = [OK; 9];
/// Anything of the caller's own (their cart, addresses, tokens, …).
const SIGNED_IN: [Want; 9] = [U, OK, OK, OK, OK, OK, OK, OK, F];
const ADMIN_ONLY: [Want; 9] = [U, F, F, F, F, F, F, OK, F];
/// A record of the student's own bound into the path: everyone else,
/// admins included, gets 404 (these are `/me`-style resources, and an
/// admin does not write a student's reviews or fill their cart).
const STUDENTS_OWN: [Want; 9] = [U, OK, H, H, H, H, H, H, F];
/// Shop A's management that only its owner does. Admins get 403 on
/// purpose (DECISIONS "Who sees a shop", "Verification", and the unit test
/// `catalog::tests` on `Need::Owner`): admins moderate (edit the shop,
/// delete products and announcements, verify) but do not run a shop.
const OWNER_ONLY: [Want; 9] = [U, F, F, OK, F, F, F, F, F];
/// Shop A's management that its owner or an admin does.
const OWNER_OR_ADMIN: [Want; 9] = [U, F, F, OK, F, F, F, OK, F];
/// Shop A's private lists (orders, batches) and its locked batch: its
/// staff and admins; to anyone else the shop's insides do not exist.
const STAFF_READ: [Want; 9] = [U, H, H, OK, H, OK, OK, OK, F];
/// One of the student's orders: the student, shop A's staff and admins.
const ORDER_READ: [Want; 9] = [U, OK, H, OK, H, OK, OK, OK, F];
/// What only the shop's owner and admins do to an order (cancel with a
/// reason, fail, reschedule, accept, regenerate the OTP). The student
/// gets 403 on their own order ("read your OTP to them instead"); runners
/// get 403: they claim, carry and deliver, nothing more.
const OWNER_ORDER_ACTION: [Want; 9] = [U, F, H, OK, H, F, F, OK, F];

/// The order in which the allowed calls run (every refusal runs before
/// any of them): reads, then writes that destroy nothing, then the
/// delivery flow in its own order, then deletions, then sign-outs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Stage {
    Read,
    Write,
    /// Delivering the dispatched order with its OTP.
    Deliver,
    /// Work on the batch and orders that does not end them.
    Work,
    /// What ends orders and batches: lock, reschedule, fail, cancel, accept.
    Settle,
    Delete,
    /// Deleting whole shops and banning: after everything else.
    Last,
    /// Sign-out (it may end the very credential the other rows use).
    SignOut,
}

/// (method, path, role) pairs whose cell is the contract but which the
/// code does not honour yet. They are skipped, not run: a call that should
/// be refused but is not would change the fixture the other rows rely on.
/// Keep it empty; a fix in progress may list its pairs here for a commit.
const PENDING_FIXES: &[(&str, &str, Role)] = &[];

/// Rows for operations not yet in the document (being built). A row whose
/// operation is not in the document fails the test unless it is listed here.
const AWAITING_OPERATIONS: &[(&str, &str)] = &[];

/// Tables that background jobs write on their own schedule (metrics
/// rollups, the search queue and its indexer, alert incidents), left out
/// of the "refusals change nothing" comparison. The mail outbox stays in:
/// without SMTP the worker leaves it alone, so a refusal that queued a
/// mail shows.
const BACKGROUND_TABLES: &[&str] = &[
    "metrics_rollups",
    "search_queue",
    "search_seq",
    "incidents",
    "open_incidents",
];

// ---------- rows ----------

enum Body {
    Empty,
    Json(Value),
    Multipart {
        content_type: String,
        bytes: Vec<u8>,
    },
}

type Ids<'a> = Box<dyn Fn(Role) -> Vec<String> + 'a>;
type MakeBody<'a> = Box<dyn Fn(Role) -> Body + 'a>;

struct Row<'a> {
    method: &'static str,
    /// Under `/api/v1`, placeholders as in the document.
    path: &'static str,
    want: [Want; 9],
    stage: Stage,
    query: &'static str,
    ids: Ids<'a>,
    body: MakeBody<'a>,
    idempotency_key: bool,
}

fn op<'a>(method: &'static str, path: &'static str, want: [Want; 9]) -> Row<'a> {
    Row {
        method,
        path,
        want,
        stage: if method == "GET" {
            Stage::Read
        } else {
            Stage::Write
        },
        query: "",
        ids: Box::new(|_| vec![]),
        body: Box::new(|_| Body::Empty),
        idempotency_key: false,
    }
}

impl<'a> Row<'a> {
    fn stage(mut self, s: Stage) -> Self {
        self.stage = s;
        self
    }
    fn query(mut self, q: &'static str) -> Self {
        self.query = q;
        self
    }
    /// The same ids for every role.
    fn ids(mut self, ids: &[&'a str]) -> Self {
        let ids: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
        self.ids = Box::new(move |_| ids.clone());
        self
    }
    /// Ids that depend on the caller (a victim per allowed role).
    fn ids_by(mut self, f: impl Fn(Role) -> Vec<String> + 'a) -> Self {
        self.ids = Box::new(f);
        self
    }
    fn json(mut self, v: Value) -> Self {
        self.body = Box::new(move |_| Body::Json(v.clone()));
        self
    }
    fn json_by(mut self, f: impl Fn(Role) -> Value + 'a) -> Self {
        self.body = Box::new(move |r| Body::Json(f(r)));
        self
    }
    fn body_by(mut self, f: impl Fn(Role) -> Body + 'a) -> Self {
        self.body = Box::new(f);
        self
    }
    fn idempotent(mut self) -> Self {
        self.idempotency_key = true;
        self
    }
    fn want(&self, role: Role) -> Want {
        self.want[ROLES.iter().position(|r| *r == role).unwrap()]
    }
    fn key(&self) -> (String, String) {
        (self.method.to_string(), self.path.to_string())
    }
    fn label(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
    /// The concrete path for `role`: placeholders replaced in order.
    fn url_path(&self, role: Role) -> String {
        let ids = (self.ids)(role);
        let mut out = String::from("/api/v1");
        let mut used = 0;
        for seg in self.path.split('/').skip(1) {
            out.push('/');
            if seg.starts_with('{') {
                let id = ids
                    .get(used)
                    .unwrap_or_else(|| panic!("{}: no id for {seg}", self.label()));
                out.push_str(id);
                used += 1;
            } else {
                out.push_str(seg);
            }
        }
        assert_eq!(used, ids.len(), "{}: too many ids", self.label());
        if !self.query.is_empty() {
            out.push('?');
            out.push_str(self.query);
        }
        out
    }
}

/// Everything the rows bind: ids made through the API and each role's token.
struct Fx {
    tokens: BTreeMap<Role, String>,
    /// Each signed-in role's own delivery address (for checkout).
    addresses: BTreeMap<Role, String>,
    shop_a: String,
    shop_b: String,
    building: String,
    building_victim: String,
    category_victim: String,
    tea: String,
    /// Sold out: what a student may watch.
    chips: String,
    product_victim_owner: String,
    product_victim_admin: String,
    slot: String,
    /// Inactive, so hidden from everyone but the shop's people and admins.
    slot_victim: String,
    announcement_victim_owner: String,
    announcement_victim_admin: String,
    /// A runner the owner removes.
    runner3: String,
    /// Registered, not staff anywhere: whom the owner adds.
    recruit_email: String,
    /// The admin's user actions (suspend, ban, …) act on them.
    victim: String,
    /// Whose credentials the login row uses.
    probe_email: String,
    student_spare_address: String,
    student_spare_token: String,
    /// The id of a browser session (signed-in device) of the student.
    student_session: String,
    student_notification: String,
    broadcast: String,
    backup: String,
    mail_retry: String,
    mail_discard: String,
    platform_fee: i64,
    setup_token: String,
    /// Locked, claimed by the runner and dispatched.
    batch_locked: String,
    /// Open (the next cutoff): holds `order_new`.
    batch_open: String,
    order_new: String,
    /// Out for delivery in `batch_locked`: delivered, then reviewed.
    order_out: String,
    order_out_otp: String,
    /// Out for delivery in `batch_locked`: OTP regenerated, rescheduled, failed.
    order_out2: String,
    /// Direct delivery, waiting for the shop to accept it.
    order_direct: String,
    /// The student's review of a delivered order: what the admin removes.
    review_victim: String,
    png: Vec<u8>,
}

impl Fx {
    fn token(&self, r: Role) -> Option<&str> {
        self.tokens.get(&r).map(String::as_str)
    }
}

fn rows(f: &Fx) -> Vec<Row<'_>> {
    use Stage::*;
    let reason = json!({"reason": "authorization contract test"});
    vec![
        // ----- admin -----
        op("GET", "/admin/alerts", ADMIN_ONLY),
        op("GET", "/admin/audit", ADMIN_ONLY),
        op("GET", "/admin/backups", ADMIN_ONLY),
        op("POST", "/admin/backups", ADMIN_ONLY),
        op("GET", "/admin/backups/{name}", ADMIN_ONLY).ids(&[&f.backup]),
        op("GET", "/admin/dashboard", ADMIN_ONLY),
        op("GET", "/admin/housekeeping", ADMIN_ONLY),
        op("POST", "/admin/broadcasts", ADMIN_ONLY)
            .json(json!({"title": "Water cut", "message": "No water 2-4 PM", "audience": "ALL"})),
        op("POST", "/admin/buildings", ADMIN_ONLY)
            .json_by(|r| json!({"name": format!("Hostel {}", r.slug())})),
        op("PATCH", "/admin/buildings/{id}", ADMIN_ONLY)
            .ids(&[&f.building_victim])
            .json(json!({"name": "Hostel Z (old)"})),
        op("DELETE", "/admin/buildings/{id}", ADMIN_ONLY)
            .ids(&[&f.building_victim])
            .stage(Delete),
        op("POST", "/admin/categories", ADMIN_ONLY)
            .json_by(|r| json!({"name": format!("Snacks {}", r.slug())})),
        op("PATCH", "/admin/categories/{id}", ADMIN_ONLY)
            .ids(&[&f.category_victim])
            .json(json!({"name": "Sweets (old)"})),
        op("DELETE", "/admin/categories/{id}", ADMIN_ONLY)
            .ids(&[&f.category_victim])
            .stage(Delete),
        op("GET", "/admin/mail", ADMIN_ONLY),
        op("POST", "/admin/mail/{id}/retry", ADMIN_ONLY).ids(&[&f.mail_retry]),
        op("DELETE", "/admin/mail/{id}", ADMIN_ONLY)
            .ids(&[&f.mail_discard])
            .stage(Delete),
        op("GET", "/admin/metrics/history", ADMIN_ONLY),
        op("GET", "/admin/orders", ADMIN_ONLY),
        op("POST", "/admin/orders/{id}/status", ADMIN_ONLY)
            .ids(&[&f.order_new])
            .json(json!({"status": "CANCELLED", "reason": "authorization contract test"}))
            .stage(Last),
        op("POST", "/admin/search/reindex", ADMIN_ONLY),
        op("GET", "/admin/settings", ADMIN_ONLY),
        op("PUT", "/admin/settings", ADMIN_ONLY).json(json!({"platform_fee": f.platform_fee})),
        op("GET", "/admin/shops", ADMIN_ONLY),
        op("GET", "/admin/shops/{id}/reviews", ADMIN_ONLY).ids(&[&f.shop_a]),
        op("DELETE", "/admin/reviews/{id}", ADMIN_ONLY)
            .ids(&[&f.review_victim])
            .json(reason.clone())
            .stage(Delete),
        op("POST", "/admin/shops/{id}/decision", ADMIN_ONLY)
            .ids(&[&f.shop_a])
            .json(json!({"verification": "VERIFIED"})),
        op("GET", "/admin/users", ADMIN_ONLY),
        op("GET", "/admin/users/{id}", ADMIN_ONLY).ids(&[&f.victim]),
        op("POST", "/admin/users/{id}/make-admin", ADMIN_ONLY)
            .ids(&[&f.victim])
            .json(reason.clone())
            .stage(Delete),
        op("POST", "/admin/users/{id}/remove-admin", ADMIN_ONLY)
            .ids(&[&f.victim])
            .json(reason.clone())
            .stage(Delete),
        op("POST", "/admin/users/{id}/sign-out", ADMIN_ONLY)
            .ids(&[&f.victim])
            .json(reason.clone())
            .stage(Delete),
        op("POST", "/admin/users/{id}/suspend", ADMIN_ONLY)
            .ids(&[&f.victim])
            .json(reason.clone())
            .stage(Delete),
        op("POST", "/admin/users/{id}/unsuspend", ADMIN_ONLY)
            .ids(&[&f.victim])
            .json(reason.clone())
            .stage(Delete),
        op("POST", "/admin/users/{id}/ban", ADMIN_ONLY)
            .ids(&[&f.victim])
            .json(reason.clone())
            .stage(Last),
        // ----- auth -----
        op("POST", "/auth/login", OPEN)
            .json(json!({"email": f.probe_email, "password": "correct horse battery"})),
        op("POST", "/auth/register", OPEN).json_by(|r| {
            json!({"email": format!("new-{}@authz.test", r.slug()),
                   "name": "New Student", "password": "correct horse battery"})
        }),
        op("POST", "/auth/password-reset/request", OPEN).json(json!({"email": f.probe_email})),
        // Schema-valid; the token is simply not one the server issued (422).
        op("POST", "/auth/password-reset/confirm", OPEN)
            .json(json!({"token": "ab".repeat(32), "password": "another horse battery"})),
        op("POST", "/auth/verify-email/confirm", OPEN).json(json!({"token": "cd".repeat(32)})),
        op("POST", "/auth/verify-email/request", SIGNED_IN),
        // The one-time first-admin link: once the campus has an admin it is
        // refused to everyone alike, with the real token too.
        op("POST", "/auth/setup", [F; 9]).json_by(move |r| {
            json!({"token": f.setup_token, "email": format!("setup-{}@authz.test", r.slug()),
                   "name": "Second Admin", "password": "correct horse battery"})
        }),
        op("POST", "/auth/logout", SIGNED_IN).stage(SignOut),
        op("GET", "/me", SIGNED_IN),
        op("PATCH", "/me", SIGNED_IN).json(json!({"phone": "+91 98765 43210"})),
        op("GET", "/me/tokens", SIGNED_IN),
        op("POST", "/me/tokens", SIGNED_IN).json(json!({"name": "authz extra"})),
        op("DELETE", "/me/tokens/{id}", STUDENTS_OWN)
            .ids(&[&f.student_spare_token])
            .stage(Delete),
        op("GET", "/me/sessions", SIGNED_IN),
        op("DELETE", "/me/sessions/{id}", STUDENTS_OWN)
            .ids(&[&f.student_session])
            .stage(Delete),
        // A wrong current password: the rights check passes, nothing changes.
        op("POST", "/me/password", SIGNED_IN)
            .json(json!({"current_password": "not the password", "new_password": "another long password"})),
        // ----- shops, staff, products, slots, announcements -----
        op("GET", "/shops", PUBLIC),
        op("POST", "/shops", SIGNED_IN).json_by(|r| shop_body(&format!("Shop of {}", r.slug()))),
        op("GET", "/shops/{id}", PUBLIC).ids(&[&f.shop_a]),
        op("PATCH", "/shops/{id}", OWNER_OR_ADMIN)
            .ids(&[&f.shop_a])
            .json(json!({"description": "Tea, samosa and maggi. Open late."})),
        // The owner's delete is refused while orders are open (409); the
        // admin deletes shop B, so neither call hides the other's shop.
        op("DELETE", "/shops/{id}", OWNER_OR_ADMIN)
            .ids_by(move |r| {
                vec![if r == Role::Admin {
                    f.shop_b.clone()
                } else {
                    f.shop_a.clone()
                }]
            })
            .stage(Last),
        op("GET", "/me/shop", [U, H, H, OK, OK, H, H, H, F]),
        op("POST", "/shops/{id}/verification", OWNER_ONLY).ids(&[&f.shop_a]),
        op("GET", "/shops/{id}/staff", OWNER_OR_ADMIN).ids(&[&f.shop_a]),
        op("POST", "/shops/{id}/staff", OWNER_ONLY)
            .ids(&[&f.shop_a])
            .json(json!({"email": f.recruit_email})),
        op("GET", "/shops/{id}/staff/invites", OWNER_OR_ADMIN).ids(&[&f.shop_a]),
        op("DELETE", "/shops/{id}/staff/{user_id}", OWNER_ONLY)
            .ids(&[&f.shop_a, &f.runner3])
            .stage(Delete),
        op("GET", "/shops/{id}/products", PUBLIC).ids(&[&f.shop_a]),
        op("POST", "/shops/{id}/products", OWNER_ONLY)
            .ids(&[&f.shop_a])
            .json(json!({"name": "Maggi", "price": 3000, "stock": 5, "veg": true})),
        op("GET", "/products/{id}", PUBLIC).ids(&[&f.tea]),
        op("PATCH", "/products/{id}", OWNER_ONLY)
            .ids(&[&f.tea])
            .json(json!({"description": "With ginger"})),
        op("DELETE", "/products/{id}", OWNER_OR_ADMIN)
            .ids_by(move |r| {
                vec![if r == Role::Admin {
                    f.product_victim_admin.clone()
                } else {
                    f.product_victim_owner.clone()
                }]
            })
            .stage(Delete),
        op("GET", "/products/{id}/reviews", OPEN).ids(&[&f.tea]),
        op("PUT", "/products/{id}/watch", SIGNED_IN).ids(&[&f.chips]),
        op("DELETE", "/products/{id}/watch", SIGNED_IN)
            .ids(&[&f.chips])
            .stage(Delete),
        op("GET", "/shops/{id}/slots", PUBLIC).ids(&[&f.shop_a]),
        op("POST", "/shops/{id}/slots", OWNER_ONLY)
            .ids(&[&f.shop_a])
            .json(json!({"cutoff_minutes": 600, "label": "10 AM Batch", "active": false})),
        op("PATCH", "/slots/{id}", OWNER_ONLY)
            .ids(&[&f.slot])
            .json(json!({"label": "Night batch"})),
        // An inactive slot: students and other shops do not see it (404),
        // the shop's runners and admins do but may not change it (403).
        op("DELETE", "/slots/{id}", [U, H, H, OK, H, F, F, F, F])
            .ids(&[&f.slot_victim])
            .stage(Delete),
        op("GET", "/shops/{id}/announcements", PUBLIC).ids(&[&f.shop_a]),
        op("POST", "/shops/{id}/announcements", OWNER_ONLY)
            .ids(&[&f.shop_a])
            .json(json!({"title": "Fresh samosas", "message": "Out of the oven at 5"})),
        op("DELETE", "/announcements/{id}", OWNER_OR_ADMIN)
            .ids_by(move |r| {
                vec![if r == Role::Admin {
                    f.announcement_victim_admin.clone()
                } else {
                    f.announcement_victim_owner.clone()
                }]
            })
            .stage(Delete),
        op("GET", "/me/favorites", SIGNED_IN),
        op("GET", "/me/announcements", SIGNED_IN),
        op("PUT", "/me/favorites/{shop_id}", SIGNED_IN).ids(&[&f.shop_a]),
        op("DELETE", "/me/favorites/{shop_id}", SIGNED_IN)
            .ids(&[&f.shop_a])
            .stage(Delete),
        op("POST", "/uploads", [U, F, F, OK, OK, F, F, OK, F]).body_by(move |_| {
            let (content_type, bytes) = multipart_png(&f.png);
            Body::Multipart {
                content_type,
                bytes,
            }
        }),
        // ----- lists, search, fees -----
        op("GET", "/buildings", OPEN),
        op("GET", "/categories", OPEN),
        op("GET", "/fees", OPEN),
        op("GET", "/search", PUBLIC).query("q=tea"),
        // ----- carts, addresses -----
        op("GET", "/cart", SIGNED_IN),
        op("GET", "/cart/{shop_id}", SIGNED_IN).ids(&[&f.shop_a]),
        op("PUT", "/cart/{shop_id}", SIGNED_IN)
            .ids(&[&f.shop_a])
            .json(json!({"items": [{"product_id": f.tea, "quantity": 1}]})),
        op("DELETE", "/cart/{shop_id}", SIGNED_IN)
            .ids(&[&f.shop_a])
            .stage(Delete),
        op("GET", "/me/addresses", SIGNED_IN),
        op("POST", "/me/addresses", SIGNED_IN)
            .json(json!({"label": "Lab", "building_id": f.building, "room": "L-2"})),
        op("PATCH", "/me/addresses/{id}", STUDENTS_OWN)
            .ids(&[&f.addresses[&Role::Student]])
            .json(json!({"notes": "Ring twice"})),
        op("DELETE", "/me/addresses/{id}", STUDENTS_OWN)
            .ids(&[&f.student_spare_address])
            .stage(Delete),
        // ----- notifications, broadcasts -----
        op("GET", "/notifications", SIGNED_IN),
        op("POST", "/notifications/{id}/read", STUDENTS_OWN).ids(&[&f.student_notification]),
        op("POST", "/notifications/read-all", SIGNED_IN),
        op("GET", "/broadcasts", SIGNED_IN),
        // The live event stream: an allowed call is answered with the open
        // stream, which `run_case` leaves unread.
        op("GET", "/events", SIGNED_IN),
        op("POST", "/broadcasts/{id}/read", SIGNED_IN).ids(&[&f.broadcast]),
        // ----- orders -----
        op("GET", "/orders", SIGNED_IN),
        op("POST", "/orders", SIGNED_IN)
            .json_by(move |r| {
                json!({"shop_id": f.shop_a, "items": [{"product_id": f.tea, "quantity": 1}],
                       "address_id": f.addresses.get(&r).cloned().unwrap_or_default(),
                       "payment_method": "CASH"})
            })
            .idempotent(),
        op("GET", "/orders/{id}", ORDER_READ).ids(&[&f.order_new]),
        op("GET", "/orders/{id}/receipt.pdf", ORDER_READ).ids(&[&f.order_new]),
        op("GET", "/orders/{id}/messages", ORDER_READ).ids(&[&f.order_out]),
        // Admins read order chats but do not post in them (403, on purpose).
        op(
            "POST",
            "/orders/{id}/messages",
            [U, OK, H, OK, H, OK, OK, F, F],
        )
        .ids(&[&f.order_out])
        .json(json!({"body": "Leaving the market now"})),
        op(
            "POST",
            "/orders/{id}/deliver",
            [U, F, H, OK, H, OK, F, OK, F],
        )
        .ids(&[&f.order_out])
        .json(json!({"otp": f.order_out_otp}))
        .stage(Deliver),
        op("POST", "/orders/{id}/reviews", STUDENTS_OWN)
            .ids(&[&f.order_out])
            .json(json!({"product_id": f.tea, "rating": 5, "comment": "Hot and on time"}))
            .stage(Work),
        op("POST", "/orders/{id}/otp", OWNER_ORDER_ACTION)
            .ids(&[&f.order_out2])
            .json(json!({"reason": "the student's phone died"}))
            .stage(Work),
        op("POST", "/orders/{id}/fail", OWNER_ORDER_ACTION)
            .ids(&[&f.order_out2])
            .json(json!({"reason": "Nobody at the door"}))
            .stage(Settle),
        op("POST", "/orders/{id}/reschedule", OWNER_ORDER_ACTION)
            .ids(&[&f.order_out2])
            .stage(Settle),
        op("POST", "/orders/{id}/accept", OWNER_ORDER_ACTION)
            .ids(&[&f.order_direct])
            .stage(Settle),
        // The student cancels their own NEW order; the shop and admins may
        // too (with a reason); runners may not.
        op(
            "POST",
            "/orders/{id}/cancel",
            [U, OK, H, OK, H, F, F, OK, F],
        )
        .ids(&[&f.order_new])
        .json(json!({"reason": "Changed my mind"}))
        .stage(Settle),
        op("POST", "/orders/{id}/reorder", STUDENTS_OWN)
            .ids(&[&f.order_new])
            .stage(Settle),
        op("GET", "/shops/{id}/orders", STAFF_READ).ids(&[&f.shop_a]),
        op("GET", "/shops/{id}/chats", STAFF_READ).ids(&[&f.shop_a]),
        op("GET", "/shops/{id}/earnings", OWNER_OR_ADMIN).ids(&[&f.shop_a]),
        op("GET", "/shops/{id}/orders.csv", OWNER_OR_ADMIN).ids(&[&f.shop_a]),
        // ----- batches -----
        op("GET", "/shops/{id}/batches", STAFF_READ).ids(&[&f.shop_a]),
        op("GET", "/me/runs", SIGNED_IN),
        op("GET", "/batches/{id}", STAFF_READ).ids(&[&f.batch_locked]),
        op("GET", "/batches/{id}/picklist.pdf", STAFF_READ).ids(&[&f.batch_locked]),
        // Claimed already: the runner's own claim is a no-op, anyone else
        // of the shop gets 409 (a state refusal, so allowed here).
        op("POST", "/batches/{id}/claim", STAFF_READ)
            .ids(&[&f.batch_locked])
            .stage(Work),
        op(
            "POST",
            "/batches/{id}/dispatch",
            [U, H, H, OK, H, OK, F, OK, F],
        )
        .ids(&[&f.batch_locked])
        .stage(Work),
        op(
            "POST",
            "/batches/{id}/milestone",
            [U, H, H, OK, H, OK, F, OK, F],
        )
        .ids(&[&f.batch_locked])
        .json(json!({"milestone": "CLIMB_STARTED"}))
        .stage(Work),
        // Going early is the owner's call; runners see the batch (403).
        op("POST", "/batches/{id}/lock", [U, H, H, OK, H, F, F, OK, F])
            .ids(&[&f.batch_open])
            .stage(Settle),
        // ----- staff invitations -----
        op("GET", "/me/invitations", SIGNED_IN),
        // The other owner invited the other student to shop B, and the
        // owner invited them to shop A: nobody else has an invitation.
        op(
            "POST",
            "/me/invitations/{shop_id}/accept",
            [U, H, OK, H, H, H, H, H, F],
        )
        .ids(&[&f.shop_b])
        .stage(Settle),
        op(
            "DELETE",
            "/me/invitations/{shop_id}",
            [U, H, OK, H, H, H, H, H, F],
        )
        .ids(&[&f.shop_a])
        .stage(Settle),
    ]
}

// ---------- the test ----------

#[tokio::test]
async fn every_operation_answers_every_role_as_the_contract_says() {
    let app = spawn_app().await;
    let document = app.openapi().await;
    let operations = document_operations(&document);
    let fx = fixture(&app, &operations).await;
    let table = rows(&fx);
    let mut problems: Vec<String> = Vec::new();

    // Coverage: one row per operation, and no row for nothing.
    let mut seen = BTreeSet::new();
    for row in &table {
        assert!(seen.insert(row.key()), "two rows for {}", row.label());
    }
    for (m, p) in &operations {
        if !seen.contains(&(m.clone(), p.clone())) {
            problems.push(format!("no row for the operation {m} {p}"));
        }
    }
    let awaiting = |r: &Row| {
        AWAITING_OPERATIONS
            .iter()
            .any(|(m, p)| *m == r.method && *p == r.path)
    };
    let live: Vec<&Row> = table
        .iter()
        .filter(|r| {
            if operations.contains(&r.key()) {
                return true;
            }
            if !awaiting(r) {
                problems.push(format!(
                    "a row for {}, which the document does not have",
                    r.label()
                ));
            }
            false
        })
        .collect();
    problems.extend(security_mismatches(&document, &live));
    for (m, p, role) in PENDING_FIXES {
        if !table.iter().any(|r| r.method == *m && r.path == *p) {
            problems.push(format!(
                "PENDING_FIXES names {m} {p} ({}), which has no row",
                role.name()
            ));
        }
    }

    let pending = |r: &Row, role: Role| {
        PENDING_FIXES
            .iter()
            .any(|(m, p, who)| *m == r.method && *p == r.path && *who == role)
    };
    let mut refusals = Vec::new();
    let mut allowed = Vec::new();
    for row in &live {
        for role in ROLES {
            if pending(row, role) {
                continue;
            }
            match row.want(role) {
                Want::Refused(_) => refusals.push((*row, role)),
                Want::Allowed => allowed.push((*row, role)),
            }
        }
    }
    allowed.sort_by_key(|(row, _)| row.stage);

    // Every refusal first; they must change nothing.
    let before = snapshot(&app).await;
    let mut mismatches = Vec::new();
    for (row, role) in &refusals {
        if let Some(m) = run_case(&app, &fx, row, *role).await {
            mismatches.push(m);
        }
    }
    let after = snapshot(&app).await;
    problems.extend(diff(&before, &after));

    // Then the allowed calls, destructive ones last.
    for (row, role) in &allowed {
        if let Some(m) = run_case(&app, &fx, row, *role).await {
            mismatches.push(m);
        }
    }

    let skipped = live
        .iter()
        .map(|r| ROLES.iter().filter(|role| pending(r, **role)).count())
        .sum::<usize>();
    println!(
        "authorization contract: {} operations × {} roles: {} refusals, {} allowed calls, {} pending pairs skipped",
        live.len(),
        ROLES.len(),
        refusals.len(),
        allowed.len(),
        skipped
    );
    if !mismatches.is_empty() {
        problems.push(mismatch_table(&mismatches));
    }
    assert!(
        problems.is_empty(),
        "the authorization contract is broken:\n\n{}",
        problems.join("\n")
    );
}

struct Mismatch {
    operation: String,
    role: Role,
    want: Want,
    got: u16,
    detail: String,
}

fn mismatch_table(ms: &[Mismatch]) -> String {
    let w = ms
        .iter()
        .map(|m| m.operation.len())
        .max()
        .unwrap_or(9)
        .max(9);
    let mut out = format!(
        "{} (operation, role) pairs answer against the contract:\n{:<w$}  {:<20}  {:<8}  {:<4}  detail\n",
        ms.len(),
        "operation",
        "role",
        "expected",
        "got"
    );
    for m in ms {
        let _ = writeln!(
            out,
            "{:<w$}  {:<20}  {:<8}  {:<4}  {}",
            m.operation,
            m.role.name(),
            m.want.to_string(),
            m.got,
            m.detail
        );
    }
    out
}

/// Sends one row's call as `role`; a mismatch if the answer breaks its cell.
async fn run_case(app: &TestApp, fx: &Fx, row: &Row<'_>, role: Role) -> Option<Mismatch> {
    let method = Method::from_bytes(row.method.as_bytes()).unwrap();
    let mut req = app.client().request(method, app.url(&row.url_path(role)));
    if let Some(t) = fx.token(role) {
        req = req.bearer_auth(t);
    }
    if row.idempotency_key {
        req = req.header("idempotency-key", ulid::Ulid::new().to_string());
    }
    req = match (row.body)(role) {
        Body::Empty => req,
        Body::Json(v) => req.json(&v),
        Body::Multipart {
            content_type,
            bytes,
        } => req.header("content-type", content_type).body(bytes),
    };
    let r = req.send().await.unwrap();
    let got = r.status().as_u16();
    let ctype = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    // An open event stream does not end: its headers are the answer.
    let text = if ctype.starts_with("text/event-stream") {
        String::new()
    } else {
        r.text().await.unwrap_or_default()
    };
    let detail = || {
        serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v["detail"].as_str().map(str::to_string))
            .unwrap_or_else(|| text.chars().take(80).collect())
    };
    let want = row.want(role);
    if want == Want::Allowed && got >= 300 && std::env::var_os("UPHILL_AUTHZ_TRACE").is_some() {
        println!(
            "allowed, refused for state: {} as {}: {got} {}",
            row.label(),
            role.name(),
            detail()
        );
    }
    let bad = match want {
        Want::Allowed => match got {
            401 | 403 | 404 => Some(detail()),
            400 | 415 => Some(format!("the row's body was refused: {}", detail())),
            s if s >= 500 => Some(format!("server error: {}", detail())),
            _ => None,
        },
        Want::Refused(s) if s != got && got < 300 => Some("the call went through".into()),
        Want::Refused(s) if s != got => Some(detail()),
        Want::Refused(_) if ctype != "application/problem+json" => Some(format!(
            "refused as {ctype:?}, not application/problem+json"
        )),
        Want::Refused(_) => None,
    };
    bad.map(|detail| Mismatch {
        operation: row.label(),
        role,
        want,
        got,
        detail,
    })
}

/// What each operation's `security` in the document says, against its row:
/// only credentials (`[{bearer}, {session}]`): anonymous callers get 401;
/// credentials or none (`…, {}`, `MaybeAuth`): anonymous callers do not
/// get 401; none (`[]`): a credential changes nothing, every role gets the
/// same answer.
fn security_mismatches(doc: &Value, rows: &[&Row]) -> Vec<String> {
    let mut out = Vec::new();
    for row in rows {
        let path = format!("/api/v1{}", row.path);
        let security = &doc["paths"][&path][row.method.to_lowercase()]["security"];
        let Some(alternatives) = security.as_array() else {
            out.push(format!("{} declares no `security`", row.label()));
            continue;
        };
        let anonymous_ok = alternatives
            .iter()
            .any(|a| a.as_object().is_some_and(|a| a.is_empty()));
        let anonymous = row.want(Role::Anonymous);
        if alternatives.is_empty() {
            if row.want.iter().any(|w| *w != anonymous) {
                out.push(format!(
                    "{} is documented as taking no credentials (`security: []`), \
                     but its row answers roles differently",
                    row.label()
                ));
            }
        } else if anonymous_ok == (anonymous == U) {
            out.push(format!(
                "{} documents security {security}, but anonymous callers get {anonymous}",
                row.label()
            ));
        }
    }
    out
}

/// (METHOD, path under /api/v1) of every operation in the document.
fn document_operations(doc: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        let short = path.strip_prefix("/api/v1").unwrap_or(path);
        for method in ["get", "put", "post", "delete", "patch", "head", "options"] {
            if item.get(method).is_some() {
                out.insert((method.to_uppercase(), short.to_string()));
            }
        }
    }
    out
}

// ---------- the store, before and after the refusals ----------

type Snapshot = BTreeMap<String, BTreeMap<String, Vec<u8>>>;

/// Every table of the store (`tables::ALL`) but the background ones, as
/// key → value bytes (numbers as decimal text, multimap pairs as keys
/// `key → value` with no value).
async fn snapshot(app: &TestApp) -> Snapshot {
    app.state
        .store
        .read(|txn| {
            let mut out = Snapshot::new();
            for t in tables::ALL {
                if BACKGROUND_TABLES.contains(&t.name()) {
                    continue;
                }
                let mut rows = BTreeMap::new();
                match *t {
                    AnyTable::Records(d, _) | AnyTable::Bytes(d) => {
                        for e in txn.open_table(d)?.iter()? {
                            let (k, v) = e?;
                            rows.insert(k.value().to_string(), v.value().to_vec());
                        }
                    }
                    AnyTable::StrToStr(d) => {
                        for e in txn.open_table(d)?.iter()? {
                            let (k, v) = e?;
                            rows.insert(k.value().to_string(), v.value().as_bytes().to_vec());
                        }
                    }
                    AnyTable::StrToU8(d) => {
                        for e in txn.open_table(d)?.iter()? {
                            let (k, v) = e?;
                            rows.insert(k.value().to_string(), v.value().to_string().into_bytes());
                        }
                    }
                    AnyTable::StrToU64(d) => {
                        for e in txn.open_table(d)?.iter()? {
                            let (k, v) = e?;
                            rows.insert(k.value().to_string(), v.value().to_string().into_bytes());
                        }
                    }
                    AnyTable::U64ToStr(d) => {
                        for e in txn.open_table(d)?.iter()? {
                            let (k, v) = e?;
                            rows.insert(k.value().to_string(), v.value().as_bytes().to_vec());
                        }
                    }
                    AnyTable::U64Records(d, _) => {
                        for e in txn.open_table(d)?.iter()? {
                            let (k, v) = e?;
                            rows.insert(k.value().to_string(), v.value().to_vec());
                        }
                    }
                    AnyTable::MultiStr(d) => {
                        for e in txn.open_multimap_table(d)?.iter()? {
                            let (k, vs) = e?;
                            for v in vs {
                                rows.insert(format!("{} → {}", k.value(), v?.value()), vec![]);
                            }
                        }
                    }
                }
                out.insert(t.name().to_string(), rows);
            }
            Ok::<_, StoreError>(out)
        })
        .await
        .unwrap()
}

/// A stored value for the diff: text cut at 160 characters, or hex.
fn shown(v: &[u8]) -> String {
    match std::str::from_utf8(v) {
        Ok(s) if !s.chars().any(char::is_control) => {
            if s.chars().count() > 160 {
                format!("{}…", s.chars().take(160).collect::<String>())
            } else {
                s.to_string()
            }
        }
        _ => v.iter().map(|b| format!("{b:02x}")).collect(),
    }
}

/// What changed in a value: the fields of a JSON record that differ, or
/// the whole value before and after.
fn change(was: &[u8], now: &[u8]) -> String {
    let parse = |b: &[u8]| serde_json::from_slice::<Value>(b).ok();
    if let (Some(Value::Object(a)), Some(Value::Object(b))) = (parse(was), parse(now)) {
        let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
        let fields: Vec<String> = keys
            .into_iter()
            .filter(|k| a.get(*k) != b.get(*k))
            .map(|k| {
                let side = |v: Option<&Value>| {
                    v.map(|v| shown(v.to_string().as_bytes()))
                        .unwrap_or_else(|| "(none)".into())
                };
                format!("{k}: {} → {}", side(a.get(k)), side(b.get(k)))
            })
            .collect();
        return fields.join("; ");
    }
    format!("{} → {}", shown(was), shown(now))
}

fn diff(before: &Snapshot, after: &Snapshot) -> Vec<String> {
    let mut out = Vec::new();
    for (table, b) in before {
        let a = &after[table];
        let mut changed: Vec<String> = Vec::new();
        for (k, v) in b {
            match a.get(k) {
                None => changed.push(format!("-{k}")),
                Some(w) if w != v => changed.push(format!("~{k}: {}", change(v, w))),
                Some(_) => {}
            }
        }
        for k in a.keys().filter(|k| !b.contains_key(*k)) {
            changed.push(format!("+{k} {}", shown(&a[k])));
        }
        if changed.len() > 12 {
            let more = changed.len() - 12;
            changed.truncate(12);
            changed.push(format!("… and {more} more"));
        }
        if !changed.is_empty() {
            out.push(format!(
                "the refusals changed the table {table}:\n  {}",
                changed.join("\n  ")
            ));
        }
    }
    out
}

// ---------- the fixture, through the API ----------

fn shop_body(name: &str) -> Value {
    json!({
        "name": name,
        "description": "Tea, samosa and maggi.",
        "location": "Market row 3",
        "shop_type": "CANTEEN",
        "opens_at": 0,
        "closes_at": 0,
        "upi_id": "chai@okaxis",
        "min_order_value": 0,
        "delivery_fee": 1000,
        "direct_delivery_fee": 2000,
        "delivers_to": []
    })
}

fn multipart_png(png: &[u8]) -> (String, Vec<u8>) {
    let boundary = "uphill-authz-boundary-3f9a1c";
    let mut body = Vec::new();
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"shop.png\"\r\nContent-Type: image/png\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(png);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

fn small_png() -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, 16, 16);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut w = enc.write_header().unwrap();
        let pixels: Vec<u8> = (0..16 * 16 * 3).map(|i| (i * 7 % 251) as u8).collect();
        w.write_image_data(&pixels).unwrap();
    }
    out
}

/// Sends a call that builds the fixture and returns its JSON body,
/// asserting a 2xx.
async fn setup_call(
    app: &TestApp,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Value {
    let mut req = app
        .client()
        .request(method.clone(), app.url(&format!("/api/v1{path}")))
        .bearer_auth(token);
    if path == "/orders" {
        req = req.header("idempotency-key", ulid::Ulid::new().to_string());
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    let status = r.status();
    let text = r.text().await.unwrap();
    assert!(
        status.is_success(),
        "fixture: {method} {path} answered {status}: {text}"
    );
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

fn id(v: &Value) -> String {
    v["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {v}"))
        .to_string()
}

async fn fixture(app: &TestApp, operations: &BTreeSet<(String, String)>) -> Fx {
    use Method as M;
    let admin = app.admin_bearer("admin@authz.test").await;
    let mut tokens = BTreeMap::new();
    for role in ROLES {
        let token = match role {
            Role::Anonymous => continue,
            Role::Admin => admin.clone(),
            r => app.bearer(&format!("{}@authz.test", r.slug())).await,
        };
        tokens.insert(role, token);
    }
    let t = |r: Role| tokens[&r].clone();
    let (owner, owner2, student) = (t(Role::Owner), t(Role::OtherOwner), t(Role::Student));

    // Campus lists.
    let building = id(&setup_call(
        app,
        &admin,
        M::POST,
        "/admin/buildings",
        Some(json!({"name": "Hostel A"})),
    )
    .await);
    let building_victim = id(&setup_call(
        app,
        &admin,
        M::POST,
        "/admin/buildings",
        Some(json!({"name": "Hostel Z"})),
    )
    .await);
    let category_victim = id(&setup_call(
        app,
        &admin,
        M::POST,
        "/admin/categories",
        Some(json!({"name": "Sweets"})),
    )
    .await);

    // Two shops, verified below once they have what verification needs.
    let mut shops = Vec::new();
    for (who, name) in [
        (&owner, "Foot Hill Canteen"),
        (&owner2, "Market Stationery"),
    ] {
        shops.push(id(&setup_call(
            app,
            who,
            M::POST,
            "/shops",
            Some(shop_body(name)),
        )
        .await));
    }
    let (shop_a, shop_b) = (shops[0].clone(), shops[1].clone());

    // Shop A's products, slots, announcements.
    let product = |name: &str, stock: u32| json!({"name": name, "price": 1500, "discount": 0, "stock": stock, "veg": true});
    let products = format!("/shops/{shop_a}/products");
    let tea = id(&setup_call(
        app,
        &owner,
        M::POST,
        &products,
        Some(product("Masala Tea", 50)),
    )
    .await);
    let chips = id(&setup_call(app, &owner, M::POST, &products, Some(product("Chips", 0))).await);
    let product_victim_owner = id(&setup_call(
        app,
        &owner,
        M::POST,
        &products,
        Some(product("Old Biscuits", 3)),
    )
    .await);
    let product_victim_admin = id(&setup_call(
        app,
        &owner,
        M::POST,
        &products,
        Some(product("Odd Biscuits", 3)),
    )
    .await);
    let slots = format!("/shops/{shop_a}/slots");
    // Every day at 23:59 campus time: always a cutoff ahead.
    let slot = id(&setup_call(
        app,
        &owner,
        M::POST,
        &slots,
        Some(json!({"cutoff_minutes": 1439, "label": "Night batch", "active": true})),
    )
    .await);
    let slot_victim = id(&setup_call(
        app,
        &owner,
        M::POST,
        &slots,
        Some(json!({"cutoff_minutes": 420, "label": "Dawn batch", "active": false})),
    )
    .await);
    // Shop B's product and slot; the UPI id is in `shop_body`.
    setup_call(
        app,
        &owner2,
        M::POST,
        &format!("/shops/{shop_b}/products"),
        Some(product("Notebook", 5)),
    )
    .await;
    setup_call(
        app,
        &owner2,
        M::POST,
        &format!("/shops/{shop_b}/slots"),
        Some(json!({"cutoff_minutes": 1439, "label": "Night batch", "active": true})),
    )
    .await;
    for (who, shop) in [(&owner, &shop_a), (&owner2, &shop_b)] {
        setup_call(
            app,
            who,
            M::POST,
            &format!("/shops/{shop}/verification"),
            None,
        )
        .await;
        setup_call(
            app,
            &admin,
            M::POST,
            &format!("/admin/shops/{shop}/decision"),
            Some(json!({"verification": "VERIFIED"})),
        )
        .await;
    }
    let announcements = format!("/shops/{shop_a}/announcements");
    let mut anns = Vec::new();
    for title in ["Samosas at 5", "Closed Sunday", "New chai"] {
        anns.push(id(&setup_call(
            app,
            &owner,
            M::POST,
            &announcements,
            Some(json!({"title": title, "message": "See you at the counter"})),
        )
        .await));
    }

    // Staff: the runner, another runner, and a third one the owner removes.
    let runner3_token = app.bearer("runner3@authz.test").await;
    let runner3 = user_id(app, &runner3_token).await;
    for who in [t(Role::Runner), t(Role::OtherRunner), runner3_token] {
        let uid = user_id(app, &who).await;
        add_staff(app, &shop_a, &uid).await;
    }
    let recruit_email = "recruit@authz.test".to_string();
    app.bearer(&recruit_email).await;
    let victim = user_id(app, &app.bearer("victim@authz.test").await).await;
    let probe_email = "probe@authz.test".to_string();
    app.bearer(&probe_email).await;

    // An address for every signed-in role (checkout takes the caller's own).
    let mut addresses = BTreeMap::new();
    for role in ROLES {
        if matches!(role, Role::Anonymous | Role::Suspended) {
            continue;
        }
        let a = setup_call(
            app,
            &t(role),
            M::POST,
            "/me/addresses",
            Some(json!({"label": "Room", "building_id": building, "room": "B-214"})),
        )
        .await;
        addresses.insert(role, id(&a));
    }
    let student_spare_address = id(&setup_call(
        app,
        &student,
        M::POST,
        "/me/addresses",
        Some(json!({"label": "Old room", "building_id": building, "room": "C-101"})),
    )
    .await);

    // The student's orders: two in the batch the runner carries, one in
    // the next (open) batch, one direct.
    let checkout = |delivery: &str| {
        json!({"shop_id": shop_a, "items": [{"product_id": tea, "quantity": 1}],
               "address_id": addresses[&Role::Student], "payment_method": "UPI",
               "delivery": delivery})
    };
    let order_out = setup_call(app, &student, M::POST, "/orders", Some(checkout("AUTO"))).await;
    let order_out2 = setup_call(app, &student, M::POST, "/orders", Some(checkout("AUTO"))).await;
    let batch_locked = order_out["batch_id"].as_str().unwrap().to_string();
    assert_eq!(order_out2["batch_id"].as_str(), Some(batch_locked.as_str()));
    let runner = t(Role::Runner);
    setup_call(
        app,
        &owner,
        M::POST,
        &format!("/batches/{batch_locked}/lock"),
        None,
    )
    .await;
    setup_call(
        app,
        &runner,
        M::POST,
        &format!("/batches/{batch_locked}/claim"),
        None,
    )
    .await;
    setup_call(
        app,
        &runner,
        M::POST,
        &format!("/batches/{batch_locked}/dispatch"),
        None,
    )
    .await;
    let order_new = setup_call(app, &student, M::POST, "/orders", Some(checkout("AUTO"))).await;
    let batch_open = order_new["batch_id"].as_str().unwrap().to_string();
    assert_ne!(batch_open, batch_locked, "a locked batch takes no orders");
    let order_direct =
        setup_call(app, &student, M::POST, "/orders", Some(checkout("DIRECT"))).await;
    let (order_out, order_out2) = (id(&order_out), id(&order_out2));
    let seen = setup_call(app, &student, M::GET, &format!("/orders/{order_out}"), None).await;
    assert_eq!(seen["status"], "OUT_FOR_DELIVERY", "{seen}");
    let order_out_otp = seen["otp"].as_str().expect("the student's OTP").to_string();

    let student_notification =
        setup_call(app, &student, M::GET, "/notifications", None).await["items"][0]["id"]
            .as_str()
            .expect("the student was told their batch locked")
            .to_string();
    // A delivered order of the student's (an admin's override), reviewed:
    // the review the admin removes.
    let order_reviewed =
        id(&setup_call(app, &student, M::POST, "/orders", Some(checkout("DIRECT"))).await);
    setup_call(
        app,
        &admin,
        M::POST,
        &format!("/admin/orders/{order_reviewed}/status"),
        Some(json!({"status": "COMPLETED", "reason": "delivered by hand"})),
    )
    .await;
    let review_victim = id(&setup_call(
        app,
        &student,
        M::POST,
        &format!("/orders/{order_reviewed}/reviews"),
        Some(json!({"product_id": tea, "rating": 2, "comment": "Cold"})),
    )
    .await);
    let student_spare_token = id(&setup_call(
        app,
        &student,
        M::POST,
        "/me/tokens",
        Some(json!({"name": "spare"})),
    )
    .await["token"]);
    let student_session = setup_call(app, &student, M::GET, "/me/sessions", None).await["items"][0]
        ["id"]
        .as_str()
        .expect("the student signed in with a browser once")
        .to_string();
    let broadcast = id(&setup_call(
        app,
        &admin,
        M::POST,
        "/admin/broadcasts",
        Some(json!({"title": "Welcome", "message": "Uphill is open", "audience": "ALL"})),
    )
    .await);
    let backup = setup_call(app, &admin, M::POST, "/admin/backups", None).await["name"]
        .as_str()
        .expect("backup name")
        .to_string();
    let mail = setup_call(app, &admin, M::GET, "/admin/mail", None).await;
    let mails: Vec<String> = mail["items"]
        .as_array()
        .expect("outbox items")
        .iter()
        .map(id)
        .collect();
    assert!(mails.len() >= 2, "the fixture queued mail: {mail}");
    let platform_fee =
        setup_call(app, &admin, M::GET, "/admin/settings", None).await["platform_fee"]
            .as_i64()
            .expect("platform_fee");

    // Staff invitations, once the document has them: the other student is
    // invited to shop B (to accept) and to shop A (to decline).
    if operations.contains(&("GET".into(), "/me/invitations".into())) {
        let email = format!("{}@authz.test", Role::OtherStudent.slug());
        for (who, shop) in [(&owner2, &shop_b), (&owner, &shop_a)] {
            setup_call(
                app,
                who,
                M::POST,
                &format!("/shops/{shop}/staff"),
                Some(json!({"email": email})),
            )
            .await;
        }
    }

    // Suspended last: a token made while active, then the suspension.
    let suspended = user_id(app, &t(Role::Suspended)).await;
    setup_call(
        app,
        &admin,
        M::POST,
        &format!("/admin/users/{suspended}/suspend"),
        Some(json!({"reason": "authorization contract test"})),
    )
    .await;

    let setup_token = app
        .setup_link
        .as_deref()
        .and_then(|l| l.split("token=").nth(1))
        .map(str::to_string)
        .unwrap_or_else(|| "ef".repeat(32));

    Fx {
        tokens,
        addresses,
        shop_a,
        shop_b,
        building,
        building_victim,
        category_victim,
        tea,
        chips,
        product_victim_owner,
        product_victim_admin,
        slot,
        slot_victim,
        announcement_victim_owner: anns[1].clone(),
        announcement_victim_admin: anns[2].clone(),
        runner3,
        recruit_email,
        victim,
        probe_email,
        student_spare_address,
        student_spare_token,
        student_session,
        student_notification,
        broadcast,
        backup,
        mail_retry: mails[0].clone(),
        mail_discard: mails[mails.len() - 1].clone(),
        platform_fee,
        setup_token,
        batch_locked,
        batch_open,
        order_new: id(&order_new),
        order_out,
        order_out_otp,
        order_out2,
        order_direct: id(&order_direct),
        review_victim,
        png: small_png(),
    }
}
