//! Uphill: a campus marketplace with scheduled batch delivery.
//!
//! Where things live:
//! - `domain`: business rules as plain types and functions (no I/O).
//! - `auth`: accounts, sessions, API tokens, login throttling.
//! - `store`: redb tables, record encoding, migrations, the group-commit writer.
//! - `http`: routes, OpenAPI, problem+json errors, middleware.
//! - `app`: builds and runs the server; `cli`: the `uphill` command.

pub mod app;
pub mod audit;
pub mod auth;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod domain;
pub mod http;
pub mod notify;
pub mod settings;
pub mod store;
pub mod telemetry;
