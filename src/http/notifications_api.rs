//! The caller's notifications and the broadcasts addressed to them.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use poem::Request;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::ApiTags;
use super::error::ApiError;
use super::extract::Auth;
use super::origin;
use super::page::{self, Cursor, Limit, Page};
use super::types::{Text, mirror_enum};
use crate::app::AppState;
use crate::error::Error;
use crate::notify::{self, Broadcast, Notification};

pub struct NotificationsApi {
    pub state: Arc<AppState>,
}

pub struct BroadcastsApi {
    pub state: Arc<AppState>,
}

mirror_enum!(NoteKindView, notify::Kind, { Info, Success, Warning, Error });
mirror_enum!(NoteCategoryView, notify::Category, { General, Order, System, Announcement });

#[derive(Object)]
pub struct NotificationView {
    pub id: String,
    pub title: String,
    pub message: String,
    pub kind: NoteKindView,
    pub category: NoteCategoryView,
    /// A path in the UI, e.g. `/orders/01J…`.
    pub action: Option<String>,
    pub read: bool,
    pub created_at: DateTime<Utc>,
}

impl From<Notification> for NotificationView {
    fn from(n: Notification) -> Self {
        Self {
            id: n.id,
            title: n.title,
            message: n.message,
            kind: n.kind.into(),
            category: n.category.into(),
            action: n.action,
            read: n.read,
            created_at: n.created_at,
        }
    }
}

#[derive(Object)]
pub struct NotificationPage {
    /// Newest first.
    #[oai(flatten)]
    pub page: Page<NotificationView>,
    /// All of the caller's unread notifications, not just this page's.
    pub unread_count: u64,
    /// Broadcasts to the caller's audience not read yet (among the newest
    /// 100): the badge shows both counts added up.
    pub unread_broadcasts: u64,
}

#[derive(Object)]
pub struct ReadAll {
    /// How many notifications were unread.
    pub marked: u64,
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Notifications")]
impl NotificationsApi {
    /// Your notifications, newest first.
    #[oai(
        path = "/notifications",
        method = "get",
        operation_id = "listNotifications"
    )]
    async fn list(
        &self,
        auth: Auth,
        /// Only unread ones.
        unread: Query<Option<bool>>,
        limit: Query<Limit>,
        cursor: Query<Cursor>,
    ) -> Result<Json<NotificationPage>, ApiError> {
        let uid = auth.user_id().to_string();
        let unread_only = unread.0.unwrap_or(false);
        let req = page::request(limit.0, cursor.0);
        let found = self
            .state
            .store
            .read(move |txn| {
                let broadcasts = notify::unread_broadcasts(txn, &uid)?;
                Ok::<_, ApiError>((notify::list(txn, &uid, unread_only, &req)?, broadcasts))
            })
            .await?;
        let (found, unread_broadcasts) = found;
        Ok(Json(NotificationPage {
            unread_count: found.unread_count,
            unread_broadcasts,
            page: Page::of(
                crate::page::Page {
                    items: found.items,
                    next_cursor: found.next_cursor,
                },
                Into::into,
            ),
        }))
    }

    /// Mark one of your notifications read.
    #[oai(
        path = "/notifications/:id/read",
        method = "post",
        operation_id = "markNotificationRead"
    )]
    async fn read(
        &self,
        auth: Auth,
        #[oai(validator(max_length = 26))] id: Path<String>,
    ) -> Result<Json<NotificationView>, ApiError> {
        let uid = auth.user_id().to_string();
        let n = self
            .state
            .store
            .write(move |txn| {
                notify::mark_read(txn, &uid, &id.0)?
                    .ok_or_else(|| ApiError::Rule(Error::NotFound("no such notification".into())))
            })
            .await?;
        Ok(Json(n.into()))
    }

    /// Mark all your notifications read.
    #[oai(
        path = "/notifications/read-all",
        method = "post",
        operation_id = "markAllNotificationsRead"
    )]
    async fn read_all(&self, auth: Auth) -> Result<Json<ReadAll>, ApiError> {
        let uid = auth.user_id().to_string();
        let marked = self
            .state
            .store
            .write(move |txn| Ok::<_, ApiError>(notify::mark_all_read(txn, &uid)?))
            .await?;
        Ok(Json(ReadAll { marked }))
    }
}

mirror_enum!(AudienceView, notify::Audience, { All, Students, Vendors, Runners, Admins });

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct BroadcastRequest {
    /// 1–100 characters.
    #[oai(validator(max_length = 100))]
    pub title: Text,
    /// 1–1000 characters.
    #[oai(validator(max_length = 1000))]
    pub message: Text,
    pub audience: AudienceView,
}

#[derive(Object)]
pub struct BroadcastView {
    pub id: String,
    pub title: String,
    pub message: String,
    pub audience: AudienceView,
    pub created_at: DateTime<Utc>,
    /// Whether the caller has read it (always false for the admin who sends it).
    pub read: bool,
}

fn broadcast_view(b: Broadcast, read: bool) -> BroadcastView {
    BroadcastView {
        id: b.id,
        title: b.title,
        message: b.message,
        audience: b.audience.into(),
        created_at: b.created_at,
        read,
    }
}

#[derive(ApiResponse)]
pub enum BroadcastCreated {
    #[oai(status = 201)]
    Created(Json<BroadcastView>),
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Notifications")]
impl BroadcastsApi {
    /// Send a broadcast to everyone or one role (admins only; audited).
    #[oai(
        path = "/admin/broadcasts",
        method = "post",
        operation_id = "createBroadcast"
    )]
    async fn create(
        &self,
        req: &Request,
        auth: Auth,
        body: Json<BroadcastRequest>,
    ) -> Result<BroadcastCreated, ApiError> {
        auth.require_admin()?;
        let title = crate::domain::bounded_text("title", &body.0.title.0, 1, 100, true)?;
        let message = crate::domain::bounded_text("message", &body.0.message.0, 1, 1000, true)?;
        let audience: notify::Audience = body.0.audience.into();
        let uid = auth.user_id().to_string();
        let origin = origin(req, Some(&uid));
        let b = self
            .state
            .store
            .write(move |txn| notify::broadcast(txn, &origin, &title, &message, audience))
            .await?;
        Ok(BroadcastCreated::Created(Json(broadcast_view(b, false))))
    }

    /// Broadcasts addressed to you, newest first, with your read flag.
    #[oai(path = "/broadcasts", method = "get", operation_id = "listBroadcasts")]
    async fn list(
        &self,
        auth: Auth,
        limit: Query<Limit>,
        cursor: Query<Cursor>,
    ) -> Result<Json<Page<BroadcastView>>, ApiError> {
        let uid = auth.user_id().to_string();
        let req = page::request(limit.0, cursor.0);
        let list = self
            .state
            .store
            .read(move |txn| Ok::<_, ApiError>(notify::broadcasts_for(txn, &uid, &req)?))
            .await?;
        Ok(Json(Page::of(list, |(b, read)| broadcast_view(b, read))))
    }

    /// Mark a broadcast read.
    #[oai(
        path = "/broadcasts/:id/read",
        method = "post",
        operation_id = "markBroadcastRead"
    )]
    async fn read(
        &self,
        auth: Auth,
        #[oai(validator(max_length = 26))] id: Path<String>,
    ) -> Result<Json<BroadcastView>, ApiError> {
        let uid = auth.user_id().to_string();
        let b = self
            .state
            .store
            .write(move |txn| {
                notify::mark_broadcast_read(txn, &uid, &id.0)?
                    .ok_or_else(|| ApiError::Rule(Error::NotFound("no such broadcast".into())))
            })
            .await?;
        Ok(Json(broadcast_view(b, true)))
    }
}
