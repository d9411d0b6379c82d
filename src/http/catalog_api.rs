//! Shops (with verification and staff), products, slots, favourites and
//! announcements.

use std::sync::Arc;

use poem_openapi::OpenApi;

use super::ApiTags;
use crate::app::AppState;

pub struct CatalogApi {
    pub state: Arc<AppState>,
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Shops")]
impl CatalogApi {}
