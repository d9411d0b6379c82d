//! Order chat: `GET`/`POST /api/v1/orders/{id}/messages`.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::ApiTags;
use super::error::ApiError;
use super::extract::Auth;
use super::page::{self, Cursor, Limit, Page};
use super::types::{Text, mirror_enum};
use crate::app::AppState;
use crate::domain::chat;
use crate::market::chat::{self as thread, Message, Sender};

pub struct ChatApi {
    pub state: Arc<AppState>,
}

mirror_enum!(SenderView, Sender, { Student, Shop });

#[derive(Object)]
pub struct MessageView {
    pub id: String,
    pub order_id: String,
    /// `STUDENT` or `SHOP`: staff write as their shop.
    pub sender: SenderView,
    pub sender_name: String,
    /// True when the caller wrote it.
    pub mine: bool,
    pub body: String,
    pub at: DateTime<Utc>,
}

fn view(m: Message, caller: &str) -> MessageView {
    MessageView {
        mine: m.author_id == caller,
        id: m.id,
        order_id: m.order_id,
        sender: m.sender.into(),
        sender_name: m.sender_name,
        body: m.body,
        at: m.at,
    }
}

/// One order's thread in a shop's inbox: its latest message.
#[derive(Object)]
pub struct ChatThreadView {
    pub order_id: String,
    pub display_id: String,
    pub student_name: String,
    /// Who wrote the latest message.
    pub last_sender: SenderView,
    pub last_message: String,
    pub last_at: DateTime<Utc>,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct MessageRequest {
    /// 1–1000 characters; newlines allowed.
    #[oai(validator(max_length = 1000))]
    pub body: Text,
}

#[derive(ApiResponse)]
enum MessageCreated {
    #[oai(status = 201)]
    Created(Json<MessageView>),
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Orders")]
impl ChatApi {
    /// An order's chat thread, oldest first. Readable by the order's student,
    /// the shop's staff and admins; anyone else gets 404.
    #[oai(
        path = "/orders/:id/messages",
        method = "get",
        operation_id = "listOrderMessages"
    )]
    async fn list_messages(
        &self,
        auth: Auth,
        #[oai(validator(max_length = 26))] id: Path<String>,
        /// Only messages after this message id (for catching up).
        #[oai(validator(max_length = 26))]
        after: Query<Option<String>>,
        limit: Query<Limit>,
        cursor: Query<Cursor>,
    ) -> Result<Json<Page<MessageView>>, ApiError> {
        let uid = auth.user_id().to_string();
        let admin = auth.is_admin();
        let caller = uid.clone();
        let req = page::request(limit.0, cursor.0);
        let msgs = self
            .state
            .store
            .read(move |txn| thread::list(txn, &id.0, &uid, admin, after.0.as_deref(), &req))
            .await?;
        Ok(Json(Page::of(msgs, |m| view(m, &caller))))
    }

    /// Write to the shop (as the order's student) or to the student (as the
    /// shop's staff). At most 10 messages a minute per author (429 with
    /// Retry-After), 500 per thread; the thread closes 3 days after the order
    /// ends (409). Both sides get a `chat.message` event; a student's
    /// message also notifies the shop's owner and runners.
    #[oai(
        path = "/orders/:id/messages",
        method = "post",
        operation_id = "postOrderMessage"
    )]
    async fn post_message(
        &self,
        auth: Auth,
        #[oai(validator(max_length = 26))] id: Path<String>,
        body: Json<MessageRequest>,
    ) -> Result<MessageCreated, ApiError> {
        let text = chat::body(&body.0.body.0)?;
        let uid = auth.user_id().to_string();
        let admin = auth.is_admin();
        let m = self
            .state
            .store
            .write(move |txn| thread::post(txn, &id.0, &uid, admin, &text, Utc::now()))
            .await?;
        Ok(MessageCreated::Created(Json(view(m, auth.user_id()))))
    }

    /// The shop's order chats, latest activity first: per thread the
    /// order, its student and the latest message. The shop's owner, its
    /// runners and admins; anyone else gets 404.
    #[oai(
        path = "/shops/:id/chats",
        method = "get",
        operation_id = "listShopChats"
    )]
    async fn shop_chats(
        &self,
        auth: Auth,
        #[oai(validator(max_length = 26))] id: Path<String>,
        limit: Query<Limit>,
        cursor: Query<Cursor>,
    ) -> Result<Json<Page<ChatThreadView>>, ApiError> {
        let uid = auth.user_id().to_string();
        let admin = auth.is_admin();
        let req = page::request(limit.0, cursor.0);
        let list = self
            .state
            .store
            .read(move |txn| thread::inbox(txn, &id.0, &uid, admin, &req))
            .await?;
        Ok(Json(Page::of(list, |(t, student_name)| ChatThreadView {
            order_id: t.order_id,
            display_id: t.display_id,
            student_name,
            last_sender: t.last_sender.into(),
            last_message: t.last_body,
            last_at: t.last_at,
        })))
    }
}
