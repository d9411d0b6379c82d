//! One integration-test binary: every module starts the real server on a
//! random loopback port with a temporary data directory and talks HTTP to it.

mod admin;
mod auth;
mod batches;
mod catalog;
mod documents;
mod events;
mod fixtures;
mod helpers;
mod market;
mod platform;
mod store;
mod tokens;
mod uploads;
