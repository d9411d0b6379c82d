//! Uphill: a campus marketplace with scheduled batch delivery.
//!
//! Where things live:
//! - `domain`: business rules as plain types and functions, no I/O (money,
//!   the order state machine, the cutoff rule and batch choice, OTP tries,
//!   upload quotas); `error`: the rules' own error type, mapped to HTTP only
//!   in `http::error`.
//! - `catalog`: shops, verification, staff (runner invitations), products and
//!   restocks, slots, favourites and announcements, one submodule each.
//! - `market`: addresses, carts, checkout, orders and their counts by status,
//!   the batch lifecycle, reviews, stock watches, order chat.
//! - `admin`: campus administration (users, buildings, categories);
//!   `settings`: platform settings; `audit`: the audit log; `dashboard`:
//!   the admins' campus-at-a-glance read; `housekeeping`: the sweeps of old
//!   notifications, expired sessions and abandoned carts.
//! - `auth`: accounts, sessions, API tokens, mailed links, argon2id hashing,
//!   sign-in and sign-up throttling.
//! - `notify`: in-app notifications; `events`: the event log behind the live
//!   stream.
//! - `jobs`: the batch closer on its schedule; `clock`: the time the batch
//!   flow runs on (tests move it).
//! - `store`: redb tables, record encoding, migrations, the group-commit
//!   writer and its cache.
//! - `search`: the tantivy index, its durable queue and its one writer.
//! - `files`: uploaded images, their renditions on disk, and their collector.
//! - `documents`: PDF receipts and pick lists, rendered from loaded records.
//! - `mail`: the email outbox, its worker and templates; `alerts`: built-in
//!   alert rules and incidents.
//! - `backup`: snapshots, archives, retention, restore; `metrics`: Prometheus
//!   text and rollups; `check`: `uphill check`'s system checks.
//! - `http`: routes, OpenAPI, problem+json errors, middleware, the embedded
//!   web UI.
//! - `page`: the one paging rule (a limit, a key-based cursor) of every
//!   list that can grow.
//! - `net`: connection caps and timeouts, the accept loop, the open-file limit.
//! - `config`: layered configuration; `telemetry`: logs.
//! - `app`: builds and runs the server; `cli`: the `uphill` command; `seed`:
//!   the demo campus.

// Linked for its `memcpy`/`memmove` symbols, which replace musl's (see
// crates/fastmem): nothing calls it by name.
#[cfg(target_env = "musl")]
use fastmem as _;

pub mod admin;
pub mod alerts;
pub mod app;
pub mod audit;
pub mod auth;
pub mod backup;
pub mod catalog;
pub mod check;
pub mod cli;
pub mod clock;
pub mod config;
pub mod dashboard;
pub mod documents;
pub mod domain;
pub mod error;
pub mod events;
pub mod files;
pub mod housekeeping;
pub mod http;
pub mod jobs;
pub mod mail;
pub mod market;
pub mod metrics;
pub mod net;
pub mod notify;
pub mod page;
pub mod search;
pub mod seed;
pub mod settings;
pub mod store;
pub mod telemetry;
