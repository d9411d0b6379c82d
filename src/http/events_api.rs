//! `GET /api/v1/events`: the caller's live events as server-sent events.
//!
//! A plain poem handler rather than an OpenAPI operation: the stream needs
//! the raw request (for `Last-Event-ID`) and a hand-built SSE response.
//!
//! The body is a stream of frames the tailer encoded once (`events::Live`),
//! not poem's `SSE`: that formats every event again for every stream and
//! copies it through a 4 KiB reader buffer each stream keeps for its
//! lifetime, which dominated CPU and memory with thousands of streams.

use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::{self, BoxStream};
use futures_util::{Stream, StreamExt};
use poem::{Body, Request, Response, handler};
use tokio::sync::broadcast::error::RecvError;

use super::error::ApiError;
use super::extract::authenticate;
use crate::app::AppState;
use crate::events;
use crate::notify;

/// Replay beyond this is cut short; a client that far behind should reload.
const REPLAY_LIMIT: usize = 10_000;

/// A comment line: ignored by `EventSource`, it keeps proxies from timing
/// the stream out and makes a closed peer show up at the next write.
const HEARTBEAT: Bytes = Bytes::from_static(b":\n\n");

/// `frames`, with a heartbeat after every `every` of the stream; ends when
/// `frames` does.
fn with_heartbeat(
    mut frames: BoxStream<'static, Bytes>,
    every: Duration,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    stream::poll_fn(move |cx| {
        if let Poll::Ready(frame) = frames.poll_next_unpin(cx) {
            return Poll::Ready(frame.map(Ok));
        }
        tick.poll_tick(cx).map(|_| Some(Ok(HEARTBEAT)))
    })
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
    let replayed = stream::iter(replay.iter().map(events::sse_frame).collect::<Vec<_>>());
    let live = stream::unfold((rx, guard), move |(mut rx, guard)| {
        let uid = uid.clone();
        async move {
            loop {
                match rx.recv().await {
                    Ok(l) if l.event.seq > floor && l.event.visible_to(&uid, &roles) => {
                        return Some((l.frame.clone(), (rx, guard)));
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
    let frames = replayed
        .chain(live)
        .take_until(state.events.shutdown.clone().cancelled_owned())
        .boxed();
    let heartbeat = Duration::from_secs(state.config.events.heartbeat_secs);
    Ok(Response::builder()
        .content_type("text/event-stream")
        .header("X-Accel-Buffering", "no")
        .header("Cache-Control", "no-cache")
        .body(Body::from_bytes_stream(with_heartbeat(frames, heartbeat))))
}
