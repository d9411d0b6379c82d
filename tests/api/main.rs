//! One integration-test binary: every module starts the real server on a
//! random loopback port with a temporary data directory and talks HTTP to it.

mod auth;
mod catalog;
mod helpers;
mod platform;
mod store;
mod tokens;
