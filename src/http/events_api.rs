//! `GET /api/v1/events`: the caller's live events as server-sent events.
//!
//! A plain poem handler rather than an OpenAPI operation: the stream needs
//! the raw request (for `Last-Event-ID`) and a hand-built SSE response.
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
use poem::{Body, Request, Response, handler};
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::sync::futures::OwnedNotified;

use super::error::ApiError;
use super::extract::authenticate;
use crate::app::AppState;
use crate::auth::service;
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
#[derive(Debug, Clone, Copy)]
enum Closed {
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

#[handler]
pub async fn event_stream(req: &Request) -> Result<Response, ApiError> {
    let principal = authenticate(req).await?;
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
    let last_id: Option<u64> = req
        .headers()
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok());
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
