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
use crate::market::printouts;

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
    #[oai(
        path = "/batches/:id/picklist.pdf",
        method = "get",
        operation_id = "getBatchPickList"
    )]
    async fn pick_list(
        &self,
        auth: Auth,
        #[oai(validator(max_length = 26))] id: Path<String>,
    ) -> Result<PdfResponse, ApiError> {
        let (uid, admin) = (auth.user_id().to_string(), auth.is_admin());
        let p = self
            .state
            .store
            .read(move |txn| printouts::pick_list(txn, &id.0, &uid, admin))
            .await?;
        let name = format!("picklist-{}.pdf", file_part(&p.batch.label, &p.batch.id));
        let currency = self.state.config.campus.currency.clone();
        let tz = self.state.config.campus_tz().map_err(ApiError::internal)?;
        let bytes = render(move || {
            documents::pick_list(&p.shop, &p.batch, &p.orders, &p.names, &currency, tz)
        })
        .await?;
        Ok(pdf(bytes, name))
    }

    /// The order's receipt as a PDF (no OTP). The ordering student, the
    /// shop's staff and admins; 404 for anyone else.
    #[oai(
        path = "/orders/:id/receipt.pdf",
        method = "get",
        operation_id = "getOrderReceipt"
    )]
    async fn receipt(
        &self,
        auth: Auth,
        #[oai(validator(max_length = 26))] id: Path<String>,
    ) -> Result<PdfResponse, ApiError> {
        let (uid, admin) = (auth.user_id().to_string(), auth.is_admin());
        let (shop, order, student) = self
            .state
            .store
            .read(move |txn| printouts::receipt(txn, &id.0, &uid, admin))
            .await?;
        let name = format!("receipt-{}.pdf", file_part(&order.display_id, &order.id));
        let currency = self.state.config.campus.currency.clone();
        let tz = self.state.config.campus_tz().map_err(ApiError::internal)?;
        let bytes =
            render(move || documents::receipt(&shop, &order, &student, &currency, tz)).await?;
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
