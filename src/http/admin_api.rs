//! `/api/v1/admin/*`: users, platform settings, the audit log, buildings
//! and categories. Every operation requires an admin and writes an audit
//! entry in the same transaction as its change.

use std::sync::Arc;

use poem_openapi::OpenApi;

use super::ApiTags;
use crate::app::AppState;

pub struct AdminApi {
    pub state: Arc<AppState>,
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Admin")]
impl AdminApi {}
