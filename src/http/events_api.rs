//! `GET /api/v1/events`: the caller's live events as server-sent events.
//!
//! An OpenAPI operation whose response is built by hand: the document
//! describes each event (`LiveEvent`, one schema per kind of payload), the
//! body is the SSE stream below.
//!
//! The body is a stream of frames the tailer encoded once (`events::Live`),
//! not poem's `SSE`: that formats every event again for every stream and
//! copies it through a 4 KiB reader buffer each stream keeps for its
//! lifetime, which dominated CPU and memory with thousands of streams.

use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures_util::stream::{self, BoxStream};
use futures_util::{Stream, StreamExt};
use poem::{Body, IntoResponse, Request, RequestBody, Response};
use poem_openapi::registry::{
    MetaMediaType, MetaParamIn, MetaResponse, MetaResponses, MetaSchemaRef, Registry,
};
use poem_openapi::types::Type;
use poem_openapi::{
    ApiExtractor, ApiExtractorType, ApiResponse, Enum, ExtractParamOptions, Object, OpenApi, Union,
};
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::sync::futures::OwnedNotified;

use super::ApiTags;
use super::batch_api::{BatchStatusView, MilestoneView};
use super::chat_api::SenderView;
use super::error::ApiError;
use super::extract::Auth;
use super::market_api::OrderStatusView;
use super::notifications_api::{AudienceView, NoteCategoryView, NoteKindView};
use crate::app::AppState;
use crate::auth::{Principal, service};
use crate::error::Error;
use crate::events::{self, Revoke, StreamCredential};
use crate::notify;

/// Replay beyond this is cut short; a client that far behind should reload.
const REPLAY_LIMIT: usize = 10_000;

/// A comment line: ignored by `EventSource`, it keeps proxies from timing
/// the stream out and makes a closed peer show up at the next write.
const HEARTBEAT: Bytes = Bytes::from_static(b":\n\n");

/// Why the server ends a stream, told in its last frame
/// (`event: stream.closed`, `data: {"reason": …}`, no `id`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename = "StreamClosedReason", rename_all = "snake_case")]
pub enum Closed {
    /// Its session or token was revoked, or its user suspended or banned:
    /// reconnecting gets 401 or 403.
    Revoked,
    /// Its user's rights changed: a new stream hears with the new ones.
    RightsChanged,
    /// Its session or token expired.
    Expired,
    /// The user opened more streams than `events.max_streams_per_user`;
    /// the oldest ends. A client should not reconnect it by itself (that
    /// would end the next oldest, and so on).
    Replaced,
}

impl Closed {
    fn frame(self) -> Bytes {
        Bytes::from_static(match self {
            Closed::Revoked => b"event: stream.closed\ndata: {\"reason\":\"revoked\"}\n\n",
            Closed::RightsChanged => {
                b"event: stream.closed\ndata: {\"reason\":\"rights_changed\"}\n\n"
            }
            Closed::Expired => b"event: stream.closed\ndata: {\"reason\":\"expired\"}\n\n",
            Closed::Replaced => b"event: stream.closed\ndata: {\"reason\":\"replaced\"}\n\n",
        })
    }
}

/// `frames`, with a heartbeat after every `every` of the stream; ends when
/// `frames` does, or (with a last `stream.closed` frame) at the first
/// heartbeat after `expires`.
fn with_heartbeat(
    mut frames: BoxStream<'static, Bytes>,
    every: Duration,
    expires: Option<DateTime<Utc>>,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut ended = false;
    stream::poll_fn(move |cx| {
        if ended {
            return Poll::Ready(None);
        }
        if let Poll::Ready(frame) = frames.poll_next_unpin(cx) {
            return Poll::Ready(frame.map(Ok));
        }
        tick.poll_tick(cx).map(|_| {
            if expires.is_some_and(|e| e <= Utc::now()) {
                ended = true;
                return Some(Ok(Closed::Expired.frame()));
            }
            Some(Ok(HEARTBEAT))
        })
    })
}

/// What the live part of a stream carries from one frame to the next.
struct Follow {
    rx: broadcast::Receiver<Arc<events::Live>>,
    /// Its place in the hub, freed when this drops.
    _guard: events::StreamGuard,
    replaced: Pin<Box<OwnedNotified>>,
    uid: String,
    roles: notify::Roles,
    cred: StreamCredential,
    expires: Option<DateTime<Utc>>,
    /// Events up to here were replayed (or skipped by `Last-Event-ID`).
    floor: u64,
    /// The log's end in the snapshot the credential was checked in: only
    /// revocations after it concern this stream.
    checked_at: u64,
}

impl Follow {
    /// The next frame to send, `Err` with why the stream ends now, or
    /// `Ok(None)` to end without a word (lagging: the client reconnects
    /// and replays; server shutdown).
    async fn next(&mut self) -> Result<Option<Bytes>, Closed> {
        loop {
            let l = tokio::select! {
                // Checked first: a replaced stream sends nothing more.
                biased;
                _ = &mut self.replaced => return Err(Closed::Replaced),
                r = self.rx.recv() => match r {
                    Ok(l) => l,
                    // Behind the channel: closing makes the client reconnect
                    // with Last-Event-ID and replay from the log.
                    Err(RecvError::Lagged(n)) => {
                        tracing::info!(user = %self.uid, missed = n, "closing a lagging event stream");
                        return Ok(None);
                    }
                    Err(RecvError::Closed) => return Ok(None),
                },
            };
            let e = &l.event;
            // Events reach every stream in commit order, so a revocation is
            // seen before anything committed after it.
            if e.kind == events::REVOKE_KIND
                && e.seq > self.checked_at
                && e.user_id.as_deref() == Some(self.uid.as_str())
                && let Some(r) = e.revocation()
                && self.cred.ended_by(&r)
            {
                return Err(match r {
                    Revoke::Rights => Closed::RightsChanged,
                    _ => Closed::Revoked,
                });
            }
            if e.seq > self.floor && e.visible_to(&self.uid, &self.roles) {
                if self.expires.is_some_and(|x| x <= Utc::now()) {
                    return Err(Closed::Expired);
                }
                return Ok(Some(l.frame.clone()));
            }
        }
    }
}

pub struct EventsApi;

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Notifications")]
impl EventsApi {
    /// Your live events as server-sent events (`text/event-stream`, for an
    /// `EventSource`): notifications, broadcasts to your audience, your
    /// orders' and batches' changes, new and cancelled orders of the shop
    /// you run or work for, and your orders' chat messages. Each
    /// event is described by `LiveEvent`: its `event` field names the kind,
    /// `id` is its sequence number and `data` one line of JSON. Comment
    /// lines (`:`) are heartbeats. When the server ends the stream its
    /// last event is `stream.closed`, which says why. A user's oldest
    /// stream ends when they open more than `events.max_streams_per_user`.
    #[oai(path = "/events", method = "get", operation_id = "streamEvents")]
    async fn stream_events(
        &self,
        req: &Request,
        auth: Auth,
        /// The `id` of the last event received: the stream first replays
        /// what came after it (`EventSource` sends it when it reconnects).
        /// A value that is not a number is ignored.
        #[oai(name = "Last-Event-ID")]
        last_event_id: LastEventId,
    ) -> Result<EventStream, ApiError> {
        event_stream(req, auth.0, last_event_id.0)
            .await
            .map(EventStream)
    }
}

/// The `Last-Event-ID` header as a number, if it is one. Read by hand
/// rather than as a typed header: a value that does not parse is ignored
/// (no replay), not refused.
pub struct LastEventId(Option<u64>);

impl<'a> ApiExtractor<'a> for LastEventId {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::Parameter];
    type ParamType = u64;
    type ParamRawType = u64;

    fn register(registry: &mut Registry) {
        u64::register(registry);
    }

    fn param_in() -> Option<MetaParamIn> {
        Some(MetaParamIn::Header)
    }

    fn param_schema_ref() -> Option<MetaSchemaRef> {
        Some(u64::schema_ref())
    }

    fn param_raw_type(&self) -> Option<&Self::ParamRawType> {
        self.0.as_ref()
    }

    async fn from_request(
        req: &'a Request,
        _body: &mut RequestBody,
        _opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        Ok(LastEventId(
            req.headers()
                .get("last-event-id")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse().ok()),
        ))
    }
}

/// The open stream: a response built by hand, documented as a
/// `text/event-stream` of `LiveEvent`s.
pub struct EventStream(Response);

impl IntoResponse for EventStream {
    fn into_response(self) -> Response {
        self.0
    }
}

impl ApiResponse for EventStream {
    fn meta() -> MetaResponses {
        MetaResponses {
            responses: vec![MetaResponse {
                description: "The stream: one `LiveEvent` per server-sent event, heartbeats \
                              between them",
                status: Some(200),
                status_range: None,
                content: vec![MetaMediaType {
                    content_type: "text/event-stream",
                    schema: LiveEvent::schema_ref(),
                }],
                headers: vec![],
            }],
        }
    }

    fn register(registry: &mut Registry) {
        LiveEvent::register(registry);
    }
}

async fn event_stream(
    req: &Request,
    principal: Principal,
    last_id: Option<u64>,
) -> Result<Response, ApiError> {
    let state = req
        .data::<Arc<AppState>>()
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("app state missing")))?
        .clone();
    let uid = principal.user.id.clone();
    let cap = state.config.events.max_streams_per_user as usize;
    // Subscribed before the snapshot read below, so nothing committed after
    // that snapshot is lost; what both deliver is dropped from the live
    // side by `seq`.
    let rx = state.events.subscribe();
    let (checked, checked_at, roles, replay) = {
        let uid = uid.clone();
        state
            .store
            .read(move |txn| {
                // The credential again, in the snapshot the stream starts
                // from: a revocation since `authenticate` is seen here, a
                // later one reaches the stream through `rx`.
                let checked = service::recheck(txn, &principal, Utc::now())?;
                let checked_at = events::last_seq(txn)?;
                let roles = notify::roles(txn, &uid)?;
                let replay = match (last_id, &checked) {
                    (Some(after), Some(_)) => events::since(txn, after, REPLAY_LIMIT)?
                        .into_iter()
                        .filter(|e| e.visible_to(&uid, &roles))
                        .collect(),
                    _ => Vec::new(),
                };
                Ok::<_, ApiError>((checked, checked_at, roles, replay))
            })
            .await?
    };
    let Some((cred, expires)) = checked else {
        return Err(ApiError::Rule(Error::Unauthenticated(
            "sign in first".into(),
        )));
    };
    // At the cap this ends the user's oldest stream rather than refusing
    // this one: the newest is the one someone is looking at.
    let guard = state.events.open_stream(&uid, cap);
    let floor = replay.last().map(|e| e.seq).or(last_id).unwrap_or(0);
    let replayed = stream::iter(replay.iter().map(events::sse_frame).collect::<Vec<_>>());
    let follow = Follow {
        rx,
        replaced: guard.replaced(),
        _guard: guard,
        uid,
        roles,
        cred,
        expires,
        floor,
        checked_at,
    };
    let live = stream::unfold(Some(follow), |follow| async move {
        let mut follow = follow?;
        match follow.next().await {
            Ok(Some(frame)) => Some((frame, Some(follow))),
            Ok(None) => None,
            // The place is freed before the last frame goes out.
            Err(why) => {
                drop(follow);
                Some((why.frame(), None))
            }
        }
    });
    let frames = replayed
        .chain(live)
        .take_until(state.events.shutdown.clone().cancelled_owned())
        .boxed();
    let heartbeat = Duration::from_secs(state.config.events.heartbeat_secs);
    Ok(Response::builder()
        .content_type("text/event-stream")
        .header("X-Accel-Buffering", "no")
        .header("Cache-Control", "no-cache")
        .body(Body::from_bytes_stream(with_heartbeat(
            frames, heartbeat, expires,
        ))))
}

// ---------- what the stream carries, for the OpenAPI document ----------
//
// The domain code builds each event's `data` as JSON where the change
// happens (`events::emit`); these types only describe it. The tests in
// `tests/api/events.rs` check every event they read against the served
// document, so a payload that grows a field fails there until it is
// described here.

/// `notification`: a new notification for you (as the notifications list
/// shows it, with its `user_id`).
#[derive(Object)]
pub struct NotificationEvent {
    pub id: String,
    pub user_id: String,
    pub title: String,
    pub message: String,
    pub kind: NoteKindView,
    pub category: NoteCategoryView,
    /// A path in the UI, e.g. `/orders/01J…`.
    pub action: Option<String>,
    pub read: bool,
    pub created_at: DateTime<Utc>,
}

/// `broadcast`: a broadcast to an audience you are in.
#[derive(Object)]
pub struct BroadcastEvent {
    pub id: String,
    pub title: String,
    pub message: String,
    pub audience: AudienceView,
    pub created_at: DateTime<Utc>,
}

/// `order.updated`: one of your orders changed (without its OTP: read the
/// order again for that).
#[derive(Object)]
pub struct OrderUpdatedEvent {
    pub order_id: String,
    pub display_id: String,
    pub status: OrderStatusView,
    /// The batch it rides in, once it has one.
    pub batch_id: Option<String>,
}

/// `shop.order`: an order of a shop you run or work for was placed,
/// cancelled or accepted (a hint: read the order again).
#[derive(Object)]
pub struct ShopOrderEvent {
    pub order_id: String,
    pub display_id: String,
    pub status: OrderStatusView,
    /// The batch it rides in; absent for a direct order.
    pub batch_id: Option<String>,
}

/// `batch.updated`: the batch one of your orders rides in changed.
#[derive(Object)]
pub struct BatchUpdatedEvent {
    pub batch_id: String,
    /// Your order in it.
    pub order_id: String,
    /// The slot's label.
    pub label: String,
    pub status: BatchStatusView,
    /// How far the runner got, once the batch is on its way.
    pub milestone: Option<MilestoneView>,
}

/// `chat.message`: a new message in the chat of an order you take part in
/// (as the order's thread shows it, without `mine`).
#[derive(Object)]
pub struct ChatMessageEvent {
    pub id: String,
    pub order_id: String,
    pub sender: SenderView,
    /// The student's name, or the shop's name for its staff.
    pub sender_name: String,
    pub body: String,
    pub at: DateTime<Utc>,
}

/// `stream.closed`: the server ends this stream; the last event it sends.
/// `replaced`: you opened more streams than the server keeps, and this is
/// the oldest (a client should not reconnect it by itself); `revoked`: the
/// credential is no longer valid (reconnecting gets 401 or 403);
/// `rights_changed`: a new stream hears with your new rights; `expired`:
/// the session or token expired.
#[derive(Object)]
pub struct StreamClosedEvent {
    pub reason: Closed,
}

/// A `notification` event.
#[derive(Object)]
pub struct NotificationFrame {
    /// The event's sequence number (`Last-Event-ID` after it).
    pub id: String,
    pub data: NotificationEvent,
}

/// A `broadcast` event.
#[derive(Object)]
pub struct BroadcastFrame {
    /// The event's sequence number (`Last-Event-ID` after it).
    pub id: String,
    pub data: BroadcastEvent,
}

/// An `order.updated` event.
#[derive(Object)]
pub struct OrderUpdatedFrame {
    /// The event's sequence number (`Last-Event-ID` after it).
    pub id: String,
    pub data: OrderUpdatedEvent,
}

/// A `shop.order` event.
#[derive(Object)]
pub struct ShopOrderFrame {
    /// The event's sequence number (`Last-Event-ID` after it).
    pub id: String,
    pub data: ShopOrderEvent,
}

/// A `batch.updated` event.
#[derive(Object)]
pub struct BatchUpdatedFrame {
    /// The event's sequence number (`Last-Event-ID` after it).
    pub id: String,
    pub data: BatchUpdatedEvent,
}

/// A `chat.message` event.
#[derive(Object)]
pub struct ChatMessageFrame {
    /// The event's sequence number (`Last-Event-ID` after it).
    pub id: String,
    pub data: ChatMessageEvent,
}

/// The `stream.closed` event: it has no `id` (it is not in the log).
#[derive(Object)]
pub struct StreamClosedFrame {
    pub data: StreamClosedEvent,
}

/// One server-sent event of `GET /api/v1/events`, as its fields: `event`
/// (the kind), `id` and `data` (the JSON of its one `data:` line).
#[derive(Union)]
#[oai(discriminator_name = "event", one_of)]
pub enum LiveEvent {
    #[oai(mapping = "notification")]
    Notification(NotificationFrame),
    #[oai(mapping = "broadcast")]
    Broadcast(BroadcastFrame),
    #[oai(mapping = "order.updated")]
    OrderUpdated(OrderUpdatedFrame),
    #[oai(mapping = "batch.updated")]
    BatchUpdated(BatchUpdatedFrame),
    #[oai(mapping = "shop.order")]
    ShopOrder(ShopOrderFrame),
    #[oai(mapping = "chat.message")]
    ChatMessage(ChatMessageFrame),
    #[oai(mapping = "stream.closed")]
    StreamClosed(StreamClosedFrame),
}

#[cfg(test)]
mod tests {
    use poem_openapi::types::ToJSON;

    use super::*;

    #[test]
    fn the_closing_frames_say_the_documented_reasons() {
        for c in [
            Closed::Revoked,
            Closed::RightsChanged,
            Closed::Expired,
            Closed::Replaced,
        ] {
            let frame = c.frame();
            let text = std::str::from_utf8(&frame).unwrap();
            let data = text
                .strip_prefix("event: stream.closed\ndata: ")
                .and_then(|d| d.strip_suffix("\n\n"))
                .unwrap();
            let data: serde_json::Value = serde_json::from_str(data).unwrap();
            assert_eq!(Some(data["reason"].clone()), c.to_json(), "{c:?}");
        }
    }
}
