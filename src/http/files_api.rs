//! `POST /api/v1/uploads` (multipart, streamed under our own caps) and
//! `GET /files/{id}/{variant}` (immutable, content-addressed).
//!
//! poem's multipart parser sets no limits: the body is wrapped in a stream
//! that fails past `files.max_upload_bytes` plus framing, the file part is
//! read at most to `max_upload_bytes`, and the request may hold exactly one
//! part, named `file` — a second part is refused before it is read. The
//! caller's right to upload is checked before any of the body is read.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures_util::Stream;
use poem::http::{HeaderValue, StatusCode, header};
use poem::web::{Data, Multipart};
use poem::{Body, FromRequest, Request, RequestBody, Response, handler};
use poem_openapi::error::ContentTypeError;
use poem_openapi::payload::{Json, ParsePayload, Payload};
use poem_openapi::registry::{MetaMediaType, MetaRequest, MetaSchemaRef, Registry};
use poem_openapi::types::multipart::Upload as UploadPart;
use poem_openapi::{
    ApiExtractor, ApiExtractorType, ApiResponse, ExtractParamOptions, Object, OpenApi,
};
use tokio::io::AsyncReadExt;

use super::ApiTags;
use super::error::ApiError;
use super::extract::Auth;
use crate::app::AppState;
use crate::domain::uploads::{Quota, Uploader};
use crate::error::Error;
use crate::files::image::Variant;
use crate::files::{self, Upload};

pub const UPLOAD_PATH: &str = "/api/v1/uploads";

pub struct FilesApi {
    pub state: Arc<AppState>,
}

/// Only documents the request body; parsing is `UploadBody`'s own.
#[derive(poem_openapi::Multipart)]
#[allow(dead_code)]
struct UploadForm {
    /// The image: JPEG, PNG or WebP, judged by its content (the file name
    /// and its Content-Type are ignored), at most `files.max_upload_bytes`
    /// (8 MiB by default) and `files.max_pixels` (25 MP). The only part.
    file: UploadPart,
}

/// The request, not yet read: the handler checks who is asking first.
pub struct UploadBody {
    multipart: Multipart,
    cut_off: Arc<AtomicBool>,
    limit: usize,
}

impl Payload for UploadBody {
    const CONTENT_TYPE: &'static str = "multipart/form-data";

    fn check_content_type(content_type: &str) -> bool {
        <UploadForm as Payload>::check_content_type(content_type)
    }

    fn schema_ref() -> MetaSchemaRef {
        <UploadForm as Payload>::schema_ref()
    }

    fn register(registry: &mut Registry) {
        <UploadForm as Payload>::register(registry);
    }
}

/// What poem-openapi's own payloads get from its (private) macro: the body
/// documented in the spec, and a 415 for another content type.
impl<'a> ApiExtractor<'a> for UploadBody {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];
    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        <Self as Payload>::register(registry);
    }

    fn request_meta() -> Option<MetaRequest> {
        Some(MetaRequest {
            description: None,
            content: vec![MetaMediaType {
                content_type: <Self as Payload>::CONTENT_TYPE,
                schema: <Self as Payload>::schema_ref(),
            }],
            required: true,
        })
    }

    async fn from_request(
        request: &'a Request,
        body: &mut RequestBody,
        _opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        match request.content_type() {
            Some(ct) if <Self as Payload>::check_content_type(ct) => {
                <Self as ParsePayload>::from_request(request, body).await
            }
            Some(ct) => Err(ContentTypeError::NotSupported {
                content_type: ct.to_string(),
            }
            .into()),
            None => Err(ContentTypeError::ExpectContentType.into()),
        }
    }
}

impl ParsePayload for UploadBody {
    const IS_REQUIRED: bool = true;

    async fn from_request(request: &Request, body: &mut RequestBody) -> poem::Result<Self> {
        let state = request
            .data::<Arc<AppState>>()
            .ok_or_else(|| ApiError::internal(anyhow::anyhow!("app state missing")))?;
        let limit = state.files.request_limit();
        let cut_off = Arc::new(AtomicBool::new(false));
        let capped = Capped {
            inner: Box::pin(body.take()?.into_bytes_stream()),
            left: limit,
            cut_off: cut_off.clone(),
        };
        let mut capped = RequestBody::new(Body::from_bytes_stream(capped));
        let multipart = <Multipart as FromRequest>::from_request(request, &mut capped)
            .await
            .map_err(|e| ApiError::BadRequest(format!("expected multipart/form-data: {e}")))?;
        Ok(UploadBody {
            multipart,
            cut_off,
            limit,
        })
    }
}

/// Passes a body through until `left` bytes, then fails (and says so), so
/// nothing downstream ever sees more than the limit.
struct Capped {
    inner: Pin<Box<dyn Stream<Item = Result<Bytes, std::io::Error>> + Send>>,
    left: usize,
    cut_off: Arc<AtomicBool>,
}

impl Stream for Capped {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match self.inner.as_mut().poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                if chunk.len() > self.left {
                    self.cut_off.store(true, Ordering::Relaxed);
                    self.left = 0;
                    return Poll::Ready(Some(Err(std::io::Error::other("upload too large"))));
                }
                self.left -= chunk.len();
                Poll::Ready(Some(Ok(chunk)))
            }
            other => other,
        }
    }
}

impl UploadBody {
    fn failed(&self, what: impl std::fmt::Display) -> ApiError {
        if self.cut_off.load(Ordering::Relaxed) {
            ApiError::PayloadTooLarge(self.limit)
        } else {
            ApiError::BadRequest(format!("cannot read the multipart body: {what}"))
        }
    }

    /// The bytes of the one `file` part, at most `max` of them.
    async fn file(mut self, max: usize) -> Result<Vec<u8>, ApiError> {
        let field = self
            .multipart
            .next_field()
            .await
            .map_err(|e| self.failed(e))?
            .ok_or_else(|| ApiError::BadRequest("missing the `file` part".into()))?;
        if field.name() != Some("file") {
            return Err(ApiError::BadRequest(format!(
                "unexpected part `{}`: send exactly one part, named `file`",
                field.name().unwrap_or("")
            )));
        }
        let mut bytes = Vec::new();
        {
            // The part must be gone before the next one is asked for.
            let mut reader = std::pin::pin!(field.into_async_read());
            reader
                .as_mut()
                .take(max as u64 + 1)
                .read_to_end(&mut bytes)
                .await
                .map_err(|e| self.failed(e))?;
        }
        if bytes.len() > max {
            return Err(ApiError::PayloadTooLarge(max));
        }
        match self.multipart.next_field().await {
            Ok(None) => Ok(bytes),
            Ok(Some(_)) => Err(ApiError::BadRequest(
                "too many parts: send exactly one part, named `file`".into(),
            )),
            Err(e) => Err(self.failed(e)),
        }
    }
}

/// An image, wherever one appears: an upload's answer, a shop's `image`
/// and `upi_qr_image`, a product's `image`, search hits. Its id is what a
/// request sets; the three URLs are its renditions.
#[derive(Debug, Clone, Object)]
pub struct ImageView {
    /// The upload id: SHA-256 of the stored original, so the same picture
    /// always gets the same id.
    pub id: String,
    /// Full size, in the uploaded format.
    pub original: String,
    /// WebP, at most 800 × 800.
    pub medium: String,
    /// WebP, at most 160 × 160.
    pub thumb: String,
}

impl ImageView {
    pub fn new(id: String) -> Self {
        ImageView {
            original: files::url(&id, Variant::Original),
            medium: files::url(&id, Variant::Medium),
            thumb: files::url(&id, Variant::Thumb),
            id,
        }
    }

    pub fn of(id: Option<String>) -> Option<Self> {
        id.map(Self::new)
    }
}

/// A stored image: the `ImageView` every other answer shows, with what the
/// original is. Set `id` as a shop's `image` or `upi_qr_image`, or a
/// product's `image`; one that nothing refers to is removed after
/// `files.gc_grace_hours` (6 by default).
#[derive(Object)]
pub struct UploadView {
    #[oai(flatten)]
    pub image: ImageView,
    /// Of the original.
    pub content_type: String,
    /// Of the original, in pixels.
    pub width: u32,
    pub height: u32,
    pub created_at: DateTime<Utc>,
}

impl From<Upload> for UploadView {
    fn from(u: Upload) -> Self {
        UploadView {
            content_type: u.kind.content_type().into(),
            width: u.width,
            height: u.height,
            created_at: u.created_at,
            image: ImageView::new(u.id),
        }
    }
}

#[derive(ApiResponse)]
pub enum UploadResponse {
    /// Stored.
    #[oai(status = 201)]
    Created(Json<UploadView>),
    /// The same picture was already stored; its record is returned.
    #[oai(status = 200)]
    Existing(Json<UploadView>),
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Files")]
impl FilesApi {
    /// Upload a shop or product image (or a UPI QR code): multipart with one
    /// part, `file`. The type is read from the content (JPEG, PNG, WebP);
    /// the image is decoded under a pixel limit, re-encoded without any
    /// metadata (EXIF, GPS), and stored with WebP renditions (medium, 800 px;
    /// thumb, 160 px). Shop owners and admins only; the owner of a shop not
    /// verified yet may have `uploads.unverified_shop_max_images` images
    /// stored (403 past that). Per user, `uploads.per_user_per_hour`
    /// requests an hour and `uploads.per_user_bytes_per_day` bytes a day:
    /// 429 with `Retry-After` past either. The same bytes again are answered
    /// from their hash (200), without decoding. 413 over the size limit;
    /// 422 for content that is not a usable image.
    #[oai(path = "/uploads", method = "post", operation_id = "uploadImage")]
    async fn upload(&self, auth: Auth, body: UploadBody) -> Result<UploadResponse, ApiError> {
        let user = auth.user_id().to_string();
        let state = &self.state;
        let limits = &state.config.uploads;
        let who = files::uploader(&state.store, user.clone(), auth.is_admin()).await?;
        if who == Uploader::Nobody {
            return Err(ApiError::Rule(Error::Forbidden(
                "only shop owners and admins may upload images".into(),
            )));
        }
        let quota = Quota {
            per_hour: limits.per_user_per_hour,
            bytes_per_day: limits.per_user_bytes_per_day,
        };
        let too_many = |retry_after_secs| ApiError::Rule(Error::TooMany { retry_after_secs });
        state
            .files
            .begin_upload(&user, Utc::now(), &quota)
            .map_err(too_many)?;
        if who == Uploader::UnverifiedShop {
            let stored = files::count_uploaded_by(&state.store, user.clone()).await?;
            if stored >= u64::from(limits.unverified_shop_max_images) {
                return Err(ApiError::Rule(Error::Forbidden(format!(
                    "a shop that is not verified yet may have {} images; \
                     more once an admin has verified it",
                    limits.unverified_shop_max_images
                ))));
            }
        }
        let bytes = body.file(state.files.config().max_upload_bytes).await?;
        state
            .files
            .add_upload_bytes(&user, Utc::now(), &quota, bytes.len() as u64)
            .map_err(too_many)?;
        let (upload, created) = self
            .state
            .files
            .ingest(&self.state.store, &user, bytes)
            .await?;
        Ok(if created {
            UploadResponse::Created(Json(upload.into()))
        } else {
            UploadResponse::Existing(Json(upload.into()))
        })
    }
}

const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// `If-None-Match` holds this strong tag (or `*`); weak comparison, as
/// RFC 9110 asks for this header.
fn matches_etag(req: &Request, etag: &str) -> bool {
    req.headers()
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim())
        .any(|t| t == "*" || t.strip_prefix("W/").unwrap_or(t) == etag)
}

/// One rendition of an upload. The id is a content hash, so the answer
/// never changes: cached for a year, `ETag` the file's SHA-256, 304 when
/// the client has it. Only ids of stored uploads and the three rendition
/// names reach the disk, so no path can leave the file store.
#[handler]
pub async fn serve_file(
    req: &Request,
    poem::web::Path((id, variant)): poem::web::Path<(String, String)>,
    Data(state): Data<&Arc<AppState>>,
) -> Response {
    match serve(req, state, id, variant).await {
        Ok(r) => r,
        Err(e) => poem::Error::from(e).into_response(),
    }
}

async fn serve(
    req: &Request,
    state: &AppState,
    id: String,
    variant: String,
) -> Result<Response, ApiError> {
    let not_found = || ApiError::Rule(Error::NotFound("no such file".into()));
    let variant = Variant::parse(&variant).ok_or_else(not_found)?;
    let upload = files::get(&state.store, id).await?.ok_or_else(not_found)?;
    let stored = upload.variant(variant).ok_or_else(not_found)?;
    let etag = format!("\"{}\"", stored.sha256);
    let headers = |b: poem::ResponseBuilder| {
        b.header(header::ETAG, etag.as_str())
            .header(header::CACHE_CONTROL, IMMUTABLE)
    };
    if matches_etag(req, &etag) {
        return Ok(headers(Response::builder().status(StatusCode::NOT_MODIFIED)).finish());
    }
    let path = state.files.disk().dir_of(&upload.id).join(&stored.file);
    let file = match tokio::fs::File::open(&path).await {
        Ok(f) => f,
        Err(e) => {
            tracing::warn!(error = %e, file = %path.display(), "upload record without its file");
            return Err(not_found());
        }
    };
    let mut resp = headers(Response::builder())
        .content_type(stored.kind.content_type())
        .body(Body::from_async_read(file));
    if let Ok(v) = HeaderValue::from_str(&stored.bytes.to_string()) {
        resp.headers_mut().insert(header::CONTENT_LENGTH, v);
    }
    Ok(resp)
}
