//! Addresses, carts, checkout, orders, reviews and stock watches.

use std::sync::Arc;

use poem_openapi::OpenApi;

use super::ApiTags;
use crate::app::AppState;

pub struct MarketApi {
    pub state: Arc<AppState>,
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Orders")]
impl MarketApi {}
