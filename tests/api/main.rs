//! One integration-test binary: every module starts the real server on a
//! random loopback port with a temporary data directory and talks HTTP to it.

mod admin;
mod auth;
mod authz;
mod backups;
mod batches;
mod catalog;
mod clock;
mod connections;
mod dashboard;
mod documents;
mod earnings;
mod events;
mod fixtures;
mod helpers;
mod mail;
mod market;
mod metrics;
mod moderation;
mod orders_desk;
mod pages;
mod platform;
mod reminders;
mod search;
mod setup;
mod shapes;
#[path = "../support/smtp.rs"]
mod smtp;
mod store;
mod tokens;
mod trust;
mod ui;
mod uploads;
