//! The event log behind `GET /api/v1/events`.
//!
//! Domain code appends events in the transaction of the change (`emit`),
//! so an event exists exactly when the change does and a reconnecting
//! client can replay it. One tailer task reads new log entries after they
//! commit and hands them to every open stream through a broadcast channel,
//! so the store is read once per batch of events, not once per connection.

use std::collections::{HashMap, VecDeque};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use redb::{ReadTransaction, ReadableTable, WriteTransaction};
use serde::{Deserialize, Serialize};
use tokio::sync::futures::OwnedNotified;
use tokio::sync::{Notify, broadcast};
use tokio_util::sync::CancellationToken;

use crate::notify::{Audience, Roles};
use crate::store::{Store, StoreError, codec, tables};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Event {
    pub seq: u64,
    /// The one user it is for; `None` for an audience-wide event.
    pub user_id: Option<String>,
    pub audience: Option<Audience>,
    /// `notification`, `order.updated`, `batch.updated`, `broadcast`, …
    pub kind: String,
    pub data: serde_json::Value,
    pub at: DateTime<Utc>,
}

impl Event {
    /// Whether a client of `user_id` with `roles` may receive this event.
    /// Revocations are for the server's streams only, never for a client.
    pub fn visible_to(&self, user_id: &str, roles: &Roles) -> bool {
        if self.kind == REVOKE_KIND {
            return false;
        }
        match (&self.user_id, self.audience) {
            (Some(u), _) => u == user_id,
            (None, Some(a)) => roles.hears(a),
            (None, None) => false,
        }
    }
}

/// The SSE frame of an event: `id`, `event` and one `data` line. The JSON
/// has no raw line breaks (serde escapes them), so one line is enough.
pub fn sse_frame(e: &Event) -> Bytes {
    // Kinds are our own constants; a stray line break would still end the
    // frame early, so it cannot reach the wire.
    let kind: String = e.kind.chars().filter(|c| !c.is_control()).collect();
    Bytes::from(format!(
        "id: {}\nevent: {kind}\ndata: {}\n\n",
        e.seq, e.data
    ))
}

/// The kind of the log entries that end open streams. Logged in the
/// transaction that revokes a credential, so it reaches every stream in
/// commit order: a stream ends before anything committed after the
/// revocation could reach it. Never sent to a client.
pub const REVOKE_KIND: &str = "stream.revoke";

/// Which of a user's open streams a revocation ends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "scope", rename_all = "snake_case")]
pub enum Revoke {
    /// Every stream of the user: suspension, ban, password reset.
    User,
    /// Every stream of the user, whose rights changed: one opened again
    /// hears with the new rights (`stream.closed` says `rights_changed`).
    Rights,
    /// Every stream opened with one of the user's sessions except the one
    /// whose stored key is `keep` (API-token streams stay).
    Sessions { keep: Option<String> },
    /// Streams opened with the session stored under `key`.
    Session { key: String },
    /// Streams opened with the API token stored under `key`.
    Token { key: String },
}

/// The credential a stream was opened with: the stored key of its session
/// or API token (a digest, never the secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamCredential {
    Session(String),
    Token(String),
}

impl StreamCredential {
    /// Whether `r` ends a stream of its user opened with this credential.
    pub fn ended_by(&self, r: &Revoke) -> bool {
        match (r, self) {
            (Revoke::User | Revoke::Rights, _) => true,
            (Revoke::Sessions { keep }, Self::Session(k)) => keep.as_deref() != Some(k.as_str()),
            (Revoke::Session { key }, Self::Session(k)) => key == k,
            (Revoke::Token { key }, Self::Token(k)) => key == k,
            _ => false,
        }
    }
}

/// Logs, in the caller's transaction, that `what` of `user_id`'s open
/// streams end. Call it in the same transaction that revokes the
/// credential or changes the rights.
pub fn revoke(txn: &WriteTransaction, user_id: &str, what: &Revoke) -> Result<u64, StoreError> {
    let data =
        serde_json::to_value(what).map_err(|e| StoreError::Codec(format!("revocation: {e}")))?;
    append(txn, Some(user_id), None, REVOKE_KIND, data)
}

impl Event {
    /// The revocation this event carries, when it is one.
    pub fn revocation(&self) -> Option<Revoke> {
        if self.kind != REVOKE_KIND {
            return None;
        }
        serde_json::from_value(self.data.clone()).ok()
    }
}

/// An event on its way to the open streams, with its frame encoded once by
/// the tailer and shared by reference count, not re-encoded per stream.
pub struct Live {
    pub event: Event,
    pub frame: Bytes,
}

/// Kept in `META` rather than derived from the log's last key: a sweep
/// may empty the log, and a reused number would make a client skip events.
const SEQ_KEY: &str = "event_seq";

fn read_seq(bytes: Option<&[u8]>) -> u64 {
    let mut buf = [0u8; 8];
    match bytes {
        Some(b) if b.len() == 8 => {
            buf.copy_from_slice(b);
            u64::from_le_bytes(buf)
        }
        _ => 0,
    }
}

fn append(
    txn: &WriteTransaction,
    user_id: Option<&str>,
    audience: Option<Audience>,
    kind: &str,
    data: serde_json::Value,
) -> Result<u64, StoreError> {
    let seq = {
        let mut meta = txn.open_table(tables::META)?;
        let seq = read_seq(meta.get(SEQ_KEY)?.as_ref().map(|g| g.value())) + 1;
        meta.insert(SEQ_KEY, seq.to_le_bytes().as_slice())?;
        seq
    };
    let e = Event {
        seq,
        user_id: user_id.map(str::to_string),
        audience,
        kind: kind.to_string(),
        data,
        at: Utc::now(),
    };
    let bytes = codec::encode(&e)?;
    txn.open_table(tables::EVENTS)?
        .insert(seq, bytes.as_slice())?;
    Ok(seq)
}

/// Logs an event for one user in the caller's transaction.
pub fn emit(
    txn: &WriteTransaction,
    user_id: &str,
    kind: &str,
    data: serde_json::Value,
) -> Result<u64, StoreError> {
    append(txn, Some(user_id), None, kind, data)
}

/// Logs one event for a whole audience (not one per member).
pub fn emit_to(
    txn: &WriteTransaction,
    audience: Audience,
    kind: &str,
    data: serde_json::Value,
) -> Result<u64, StoreError> {
    append(txn, None, Some(audience), kind, data)
}

/// The highest sequence number handed out so far.
pub fn last_seq(txn: &ReadTransaction) -> Result<u64, StoreError> {
    let meta = txn.open_table(tables::META)?;
    let g = meta.get(SEQ_KEY)?;
    Ok(read_seq(g.as_ref().map(|g| g.value())))
}

/// Up to `limit` events after `after`, oldest first.
pub fn since(txn: &ReadTransaction, after: u64, limit: usize) -> Result<Vec<Event>, StoreError> {
    let t = txn.open_table(tables::EVENTS)?;
    let mut out = Vec::new();
    for e in t.range(after.saturating_add(1)..)?.take(limit) {
        out.push(codec::decode(e?.1.value())?);
    }
    Ok(out)
}

/// Deletes up to `limit` events older than `before`; returns how many
/// (fewer than `limit`: none is left). Sequence numbers grow with time, so
/// the old ones are a prefix of the log and only they are read.
pub fn sweep(
    txn: &WriteTransaction,
    before: DateTime<Utc>,
    limit: usize,
) -> Result<usize, StoreError> {
    let mut t = txn.open_table(tables::EVENTS)?;
    let mut old = Vec::new();
    for e in t.iter()?.take(limit) {
        let (k, v) = e?;
        let ev: Event = codec::decode(v.value())?;
        if ev.at >= before {
            break;
        }
        old.push(k.value());
    }
    for k in &old {
        t.remove(*k)?;
    }
    Ok(old.len())
}

/// Live fan-out: the tailer publishes here, every open stream subscribes.
pub struct Hub {
    tx: broadcast::Sender<Arc<Live>>,
    /// Each user's open streams, oldest first.
    streams: Mutex<HashMap<String, VecDeque<Slot>>>,
    next_stream: AtomicU64,
    /// Cancelled when the server starts shutting down, ending every stream
    /// so graceful shutdown does not wait for its timeout.
    pub shutdown: CancellationToken,
}

/// One open stream in the hub's registry.
struct Slot {
    id: u64,
    /// Told when a newer stream of the same user takes this one's place.
    replaced: Arc<Notify>,
}

impl Default for Hub {
    fn default() -> Self {
        Self::new()
    }
}

impl Hub {
    pub fn new() -> Self {
        Self {
            tx: broadcast::channel(1024).0,
            streams: Mutex::new(HashMap::new()),
            next_stream: AtomicU64::new(0),
            shutdown: CancellationToken::new(),
        }
    }

    /// Live event streams open right now (for metrics).
    pub fn open_streams(&self) -> usize {
        let m = self.streams.lock().unwrap_or_else(|e| e.into_inner());
        m.values().map(VecDeque::len).sum()
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Live>> {
        self.tx.subscribe()
    }

    /// Registers a new stream for `user_id`. At the cap the user's oldest
    /// streams are told to end (`StreamGuard::replaced`) and give up their
    /// places at once, so a reload never locks a user out of live updates.
    /// The place is freed when the returned guard drops (the stream ends).
    pub fn open_stream(self: &Arc<Self>, user_id: &str, cap: usize) -> StreamGuard {
        let id = self.next_stream.fetch_add(1, Ordering::Relaxed);
        let replaced = Arc::new(Notify::new());
        let mut m = self.streams.lock().unwrap_or_else(|e| e.into_inner());
        let open = m.entry(user_id.to_string()).or_default();
        while open.len() >= cap.max(1) {
            match open.pop_front() {
                // Stores a permit: the stream ends even if it is busy now.
                Some(old) => old.replaced.notify_one(),
                None => break,
            }
        }
        open.push_back(Slot {
            id,
            replaced: replaced.clone(),
        });
        StreamGuard {
            hub: self.clone(),
            user_id: user_id.to_string(),
            id,
            replaced,
        }
    }
}

/// A stream's place in the hub; dropping it frees the place.
pub struct StreamGuard {
    hub: Arc<Hub>,
    user_id: String,
    id: u64,
    replaced: Arc<Notify>,
}

impl StreamGuard {
    /// Completes once a newer stream of the same user has taken this
    /// stream's place (at once if that already happened). Made once and
    /// polled for the stream's life, so it registers once.
    pub fn replaced(&self) -> Pin<Box<OwnedNotified>> {
        Box::pin(self.replaced.clone().notified_owned())
    }
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        let mut m = self.hub.streams.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(open) = m.get_mut(&self.user_id) {
            open.retain(|s| s.id != self.id);
            if open.is_empty() {
                m.remove(&self.user_id);
            }
        }
    }
}

/// Follows the log from its current end and publishes what commits, until
/// the hub shuts down. Woken by every write, and polls as a fallback.
pub async fn tail(store: Store, hub: Arc<Hub>) {
    let wake = store.commits();
    let mut last = match store.read(last_seq).await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "event tailer cannot read the log; no live events");
            return;
        }
    };
    let mut full = false;
    loop {
        if !full {
            tokio::select! {
                _ = hub.shutdown.cancelled() => return,
                _ = wake.notified() => {}
                _ = tokio::time::sleep(Duration::from_millis(100)) => {}
            }
        }
        const PAGE: usize = 1000;
        match store.read(move |txn| since(txn, last, PAGE)).await {
            Ok(evs) => {
                full = evs.len() == PAGE;
                for e in evs {
                    last = e.seq;
                    // No subscribers is not an error: nobody is listening.
                    let frame = sse_frame(&e);
                    let _ = hub.tx.send(Arc::new(Live { event: e, frame }));
                }
            }
            Err(e) => {
                full = false;
                tracing::warn!(error = %e, "event tailer read failed; retrying");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A backlog larger than a slice goes in several writes of at most a
    /// slice, oldest first, and the sweep stops at the first event it must
    /// keep.
    #[tokio::test]
    async fn the_sweep_removes_a_backlog_in_slices_and_keeps_newer_events() {
        let dir = tempfile::tempdir().unwrap();
        let store =
            crate::store::Store::open(dir.path(), crate::store::WriterOptions::default()).unwrap();
        const SLICE: usize = 300;
        let backlog = SLICE * 2 + 7;
        store
            .write(move |txn| {
                for _ in 0..backlog {
                    emit(txn, "u", "notification", serde_json::json!({}))?;
                }
                Ok::<_, StoreError>(())
            })
            .await
            .unwrap();
        let before = Utc::now() + chrono::Duration::milliseconds(1);
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        store
            .write(|txn| emit(txn, "u", "notification", serde_json::json!({})))
            .await
            .unwrap();
        let mut slices = Vec::new();
        loop {
            let n = store
                .write(move |txn| sweep(txn, before, SLICE))
                .await
                .unwrap();
            slices.push(n);
            if n < SLICE {
                break;
            }
        }
        assert_eq!(slices, [SLICE, SLICE, 7]);
        let left = store.read(|txn| since(txn, 0, 10)).await.unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].seq, backlog as u64 + 1);
    }

    fn event(kind: &str, data: serde_json::Value) -> Event {
        Event {
            seq: 42,
            user_id: Some("u".into()),
            audience: None,
            kind: kind.into(),
            data,
            at: Utc::now(),
        }
    }

    #[test]
    fn a_frame_is_one_sse_event_whatever_the_data_holds() {
        let e = event(
            "order.updated",
            serde_json::json!({"note": "line one\nline two\r\n"}),
        );
        let frame = sse_frame(&e);
        let text = std::str::from_utf8(&frame).unwrap();
        assert_eq!(
            text,
            "id: 42\nevent: order.updated\ndata: {\"note\":\"line one\\nline two\\r\\n\"}\n\n"
        );
        // Exactly one blank line: the frame cannot be split into two events.
        assert_eq!(text.matches("\n\n").count(), 1);
        assert!(text.ends_with("\n\n"));
    }

    #[test]
    fn a_line_break_in_a_kind_cannot_forge_a_field() {
        let e = event("x\ndata: forged", serde_json::json!(1));
        let text = String::from_utf8(sse_frame(&e).to_vec()).unwrap();
        assert_eq!(text.lines().filter(|l| l.starts_with("data:")).count(), 1);
        assert!(text.starts_with("id: 42\nevent: xdata: forged\ndata: 1\n"));
    }

    #[test]
    fn revocations_end_the_streams_they_name_and_no_other() {
        let s1 = StreamCredential::Session("s1".into());
        let s2 = StreamCredential::Session("s2".into());
        let t1 = StreamCredential::Token("t1".into());
        let keep_s1 = Revoke::Sessions {
            keep: Some("s1".into()),
        };
        let cases = [
            (Revoke::User, [true, true, true]),
            (Revoke::Rights, [true, true, true]),
            (Revoke::Sessions { keep: None }, [true, true, false]),
            (keep_s1, [false, true, false]),
            (Revoke::Session { key: "s1".into() }, [true, false, false]),
            (Revoke::Token { key: "t1".into() }, [false, false, true]),
            (Revoke::Token { key: "s1".into() }, [false, false, false]),
            (Revoke::Session { key: "t1".into() }, [false, false, false]),
        ];
        for (r, want) in cases {
            let got = [&s1, &s2, &t1].map(|c| c.ended_by(&r));
            assert_eq!(got, want, "{r:?}");
        }
    }

    #[test]
    fn a_revocation_round_trips_through_the_log_and_is_never_visible() {
        let r = Revoke::Session { key: "abc".into() };
        let mut e = event(REVOKE_KIND, serde_json::to_value(&r).unwrap());
        assert_eq!(e.revocation(), Some(r));
        let everyone = Roles {
            vendor: true,
            runner: true,
            admin: true,
        };
        assert!(!e.visible_to("u", &everyone));
        e.kind = "notification".into();
        assert_eq!(e.revocation(), None);
        assert!(e.visible_to("u", &everyone));
    }

    #[tokio::test]
    async fn one_stream_over_the_cap_ends_the_oldest_and_a_dropped_one_frees_its_place() {
        let hub = Arc::new(Hub::new());
        let first = hub.open_stream("u", 2);
        let second = hub.open_stream("u", 2);
        let other = hub.open_stream("v", 2);
        assert_eq!(hub.open_streams(), 3);
        let third = hub.open_stream("u", 2);
        assert_eq!(hub.open_streams(), 3, "the oldest gave up its place");
        let soon = std::time::Duration::from_millis(50);
        assert!(tokio::time::timeout(soon, first.replaced()).await.is_ok());
        for g in [&second, &third, &other] {
            assert!(tokio::time::timeout(soon, g.replaced()).await.is_err());
        }
        drop(first);
        assert_eq!(hub.open_streams(), 3, "already counted out");
        drop(second);
        assert_eq!(hub.open_streams(), 2, "freed at once");
        let _fourth = hub.open_stream("u", 2);
        assert!(tokio::time::timeout(soon, third.replaced()).await.is_err());
        drop((third, other));
        assert_eq!(hub.open_streams(), 1);
    }
}
