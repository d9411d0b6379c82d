//! Uphill: a campus marketplace with scheduled batch delivery.
//!
//! Where things live:
//! - `domain`: business rules as plain types and functions (no I/O).
//! - `auth`: accounts, sessions, API tokens, login throttling.
//! - `store`: redb tables, record encoding, migrations, the group-commit writer.
//! - `admin`: campus administration (users, settings, audit log, lists).
//! - `mail`: the email outbox, its worker and templates; `alerts`: built-in
//!   alert rules and incidents.
//! - `search`: the tantivy index, its queue and its one writer.
//! - `documents`: PDF receipts and pick lists, rendered from loaded records.
//! - `files`: uploaded images, their renditions on disk, and their collector.
//! - `http`: routes, OpenAPI, problem+json errors, middleware.
//! - `net`: connection caps and timeouts, the accept loop, the open-file limit.
//! - `app`: builds and runs the server; `cli`: the `uphill` command.

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
pub mod documents;
pub mod domain;
pub mod error;
pub mod events;
pub mod files;
pub mod http;
pub mod jobs;
pub mod mail;
pub mod market;
pub mod metrics;
pub mod net;
pub mod notify;
pub mod search;
pub mod seed;
pub mod settings;
pub mod store;
pub mod telemetry;
