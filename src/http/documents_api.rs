//! PDF documents: a batch's pick list and an order's receipt.
//!
//! Each handler loads everything in one read transaction (a consistent
//! snapshot) and renders on the blocking pool: laying out a long pick list
//! is CPU work that must not stall the async workers.

use std::sync::Arc;

use poem_openapi::param::Path;
use poem_openapi::payload::Binary;
use poem_openapi::{ApiResponse, OpenApi};

use super::ApiTags;
use super::error::ApiError;
use super::extract::Auth;
use crate::app::AppState;
use crate::documents;
use crate::domain::batch::Batch;
use crate::domain::shop::Shop;
use crate::error::Error;
use crate::market::orders;
use crate::store::{codec, tables};

pub struct DocumentsApi {
    pub state: Arc<AppState>,
}

#[derive(ApiResponse)]
pub enum PdfResponse {
    /// The PDF, to show in the browser or save.
    #[oai(status = 200, content_type = "application/pdf")]
    Pdf(
        Binary<Vec<u8>>,
        /// `inline; filename="…"`.
        #[oai(header = "Content-Disposition")]
        String,
    ),
}

/// `filename` must come from [`file_part`]: nothing in it needs quoting.
fn pdf(bytes: Vec<u8>, filename: String) -> PdfResponse {
    PdfResponse::Pdf(Binary(bytes), format!("inline; filename=\"{filename}\""))
}

/// A file-name part from user text (a slot label): ASCII letters, digits
/// and dashes only, so the header is valid and no client is surprised by
/// quotes or path separators; `fallback` when nothing is left.
fn file_part(text: &str, fallback: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
        if out.len() >= 40 {
            break;
        }
    }
    let out = out.trim_end_matches('-');
    if out.is_empty() {
        fallback.to_string()
    } else {
        out.to_string()
    }
}

async fn render(f: impl FnOnce() -> Vec<u8> + Send + 'static) -> Result<Vec<u8>, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(ApiError::internal)
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Orders")]
impl DocumentsApi {
    /// The batch's pick list as a PDF: orders still to be carried, grouped
    /// by building and room, with a tick box each and the batch totals
    /// (cash to collect, UPI). Never shows OTPs. The shop's owner, its
    /// runners and admins; 404 for anyone else.
    #[oai(path = "/batches/:id/picklist.pdf", method = "get")]
    async fn pick_list(
        &self,
        auth: Auth,
        #[oai(validator(max_length = 26))] id: Path<String>,
    ) -> Result<PdfResponse, ApiError> {
        let (uid, admin) = (auth.user_id().to_string(), auth.is_admin());
        let (shop, batch, list) = self
            .state
            .store
            .read(move |txn| {
                let not_found = || ApiError::Rule(Error::NotFound("no such batch".into()));
                let b: Batch =
                    codec::get(&txn.open_table(tables::BATCHES)?, &id.0)?.ok_or_else(not_found)?;
                let shop: Shop = codec::get(&txn.open_table(tables::SHOPS)?, &b.shop_id)?
                    .filter(|s: &Shop| admin || s.is_staff(&uid))
                    .ok_or_else(not_found)?;
                let mut ids = Vec::new();
                for o in txn
                    .open_multimap_table(tables::BATCH_TO_ORDERS)?
                    .get(b.id.as_str())?
                {
                    ids.push(o?.value().to_string());
                }
                let list = orders::load_many(txn, &ids)?;
                Ok::<_, ApiError>((shop, b, list))
            })
            .await?;
        let name = format!("picklist-{}.pdf", file_part(&batch.label, &batch.id));
        let currency = self.state.config.campus.currency.clone();
        let bytes = render(move || documents::pick_list(&shop, &batch, &list, &currency)).await?;
        Ok(pdf(bytes, name))
    }

    /// The order's receipt as a PDF (no OTP). The ordering student, the
    /// shop's staff and admins; 404 for anyone else.
    #[oai(path = "/orders/:id/receipt.pdf", method = "get")]
    async fn receipt(
        &self,
        auth: Auth,
        #[oai(validator(max_length = 26))] id: Path<String>,
    ) -> Result<PdfResponse, ApiError> {
        let (uid, admin) = (auth.user_id().to_string(), auth.is_admin());
        let (shop, order) = self
            .state
            .store
            .read(move |txn| {
                let shops = txn.open_table(tables::SHOPS)?;
                let (o, _) =
                    orders::visible(&txn.open_table(tables::ORDERS)?, &shops, &id.0, &uid, admin)?;
                // Shops are only ever soft-deleted, so this is a broken store.
                let shop: Shop = codec::get(&shops, &o.shop_id)?.ok_or_else(|| {
                    ApiError::internal(anyhow::anyhow!("order {} has no shop {}", o.id, o.shop_id))
                })?;
                Ok::<_, ApiError>((shop, o))
            })
            .await?;
        let name = format!("receipt-{}.pdf", file_part(&order.display_id, &order.id));
        let currency = self.state.config.campus.currency.clone();
        let bytes = render(move || documents::receipt(&shop, &order, &currency)).await?;
        Ok(pdf(bytes, name))
    }
}

#[cfg(test)]
mod tests {
    use super::file_part;

    #[test]
    fn file_names_keep_only_safe_characters() {
        assert_eq!(file_part("Night batch", "x"), "Night-batch");
        assert_eq!(file_part("  5 PM / \"late\" ", "x"), "5-PM-late");
        assert_eq!(file_part("रात", "01ABC"), "01ABC");
        assert_eq!(file_part("UP-7K3Q9", "x"), "UP-7K3Q9");
        assert!(file_part(&"a".repeat(100), "x").len() <= 40);
    }
}
