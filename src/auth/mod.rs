//! Accounts, sessions and API tokens: the rules live here, the HTTP layer
//! only translates.

pub mod email_tokens;
pub mod password;
pub mod service;
pub mod throttle;
pub mod token;

pub use service::{AuthService, Credential, Principal};
