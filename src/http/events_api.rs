//! `GET /api/v1/events`: the caller's live events as server-sent events.
//!
//! A plain poem handler rather than an OpenAPI operation: the stream needs
//! the raw request (for `Last-Event-ID`) and a hand-built SSE response.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream::{self, BoxStream};
use poem::web::sse::{Event as SseEvent, SSE};
use poem::{IntoResponse, Request, Response, handler};
use tokio::sync::broadcast::error::RecvError;

use super::error::ApiError;
use super::extract::authenticate;
use crate::app::AppState;
use crate::events::{self, Event};
use crate::notify;

/// Replay beyond this is cut short; a client that far behind should reload.
const REPLAY_LIMIT: usize = 10_000;

fn sse(e: &Event) -> SseEvent {
    SseEvent::message(e.data.to_string())
        .id(e.seq.to_string())
        .event_type(e.kind.clone())
}

#[handler]
pub async fn event_stream(req: &Request) -> Result<Response, ApiError> {
    let principal = authenticate(req).await?;
    let state = req
        .data::<Arc<AppState>>()
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("app state missing")))?
        .clone();
    let uid = principal.user.id.clone();
    let cap = state.config.events.max_streams_per_user as usize;
    let guard = state
        .events
        .open_stream(&uid, cap)
        .ok_or(ApiError::TooManyRequests {
            retry_after_secs: 5,
        })?;
    // Subscribed before the replay read, so nothing committed in between
    // is lost; what both deliver is dropped from the live side by `seq`.
    let rx = state.events.subscribe();
    let last_id: Option<u64> = req
        .headers()
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok());
    let (roles, replay) = {
        let uid = uid.clone();
        state
            .store
            .read(move |txn| {
                let roles = notify::roles(txn, &uid)?;
                let replay = match last_id {
                    Some(after) => events::since(txn, after, REPLAY_LIMIT)?
                        .into_iter()
                        .filter(|e| e.visible_to(&uid, &roles))
                        .collect(),
                    None => Vec::new(),
                };
                Ok::<_, ApiError>((roles, replay))
            })
            .await?
    };
    let floor = replay.last().map(|e| e.seq).or(last_id).unwrap_or(0);
    let replayed = stream::iter(replay.iter().map(sse).collect::<Vec<_>>());
    let live = stream::unfold((rx, guard), move |(mut rx, guard)| {
        let uid = uid.clone();
        async move {
            loop {
                match rx.recv().await {
                    Ok(e) if e.seq > floor && e.visible_to(&uid, &roles) => {
                        return Some((sse(&e), (rx, guard)));
                    }
                    Ok(_) => {}
                    // Behind the channel: closing makes the client reconnect
                    // with Last-Event-ID and replay from the log.
                    Err(RecvError::Lagged(n)) => {
                        tracing::info!(user = %uid, missed = n, "closing a lagging event stream");
                        return None;
                    }
                    Err(RecvError::Closed) => return None,
                }
            }
        }
    });
    let body: BoxStream<'static, SseEvent> = replayed
        .chain(live)
        .take_until(state.events.shutdown.clone().cancelled_owned())
        .boxed();
    let heartbeat = Duration::from_secs(state.config.events.heartbeat_secs);
    Ok(SSE::new(body).keep_alive(heartbeat).into_response())
}
