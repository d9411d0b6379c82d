//! Connections: how many may be open (in all and per client address), how
//! long a client may take to send a request head or stay silent, the accept
//! loop that backs off when the process runs out of file descriptors, and
//! the open-file limit itself.
//!
//! `Gate` counts connections; `LimitedAcceptor` wraps the TCP acceptor (TLS
//! goes on top of it) and closes connections over a cap as soon as they are
//! accepted. `serve` replaces poem's `Server` loop so that hyper's timer,
//! header-read timeout and our own deadlines apply to every connection.

use std::collections::HashMap;
use std::convert::Infallible;
use std::io;
use std::net::{IpAddr, Ipv6Addr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use ipnet::IpNet;
use poem::endpoint::BoxEndpoint;
use poem::http::uri::Scheme;
use poem::listener::{Acceptor, BoxAcceptor};
use poem::web::{LocalAddr, RemoteAddr};
use poem::{Endpoint, Response};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// File descriptors kept free of connections for the store, the search
/// index, log files, uploads and outgoing mail.
pub const FD_RESERVE: u64 = 256;

/// The open-file limit after `raise_nofile_limit`: (soft, hard).
pub fn nofile_limit() -> Option<(u64, u64)> {
    nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE).ok()
}

/// Raises the soft open-file limit to the hard one (systemd's default soft
/// limit is 1,024, far below 10,000 event streams). Returns (soft, hard).
pub fn raise_nofile_limit() -> Option<(u64, u64)> {
    use nix::sys::resource::{Resource, setrlimit};
    let (soft, hard) = nofile_limit()?;
    if soft < hard {
        if let Err(e) = setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
            tracing::warn!(soft, hard, error = %e, "cannot raise the open-file limit");
            return Some((soft, hard));
        }
        return nofile_limit();
    }
    Some((soft, hard))
}

/// The connection caps in effect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    pub max_connections: usize,
    pub max_per_address: usize,
    pub exempt: Vec<IpNet>,
}

impl Limits {
    /// The configured caps, with the total lowered so that connections
    /// alone cannot use up `nofile` file descriptors.
    pub fn new(config: &crate::config::Config, nofile: Option<u64>) -> anyhow::Result<Self> {
        let mut max = config.server.max_connections;
        if let Some(n) = nofile {
            let room = usize::try_from(n.saturating_sub(FD_RESERVE).max(1)).unwrap_or(usize::MAX);
            max = max.min(room);
        }
        Ok(Self {
            max_connections: max,
            max_per_address: config.server.max_connections_per_address,
            exempt: config.per_address_exempt()?,
        })
    }
}

/// Counts open connections, in all and per client address.
pub struct Gate {
    limits: Limits,
    counts: Mutex<Counts>,
    refused_total: AtomicU64,
    refused_per_address: AtomicU64,
}

#[derive(Default)]
struct Counts {
    open: usize,
    by_address: HashMap<IpAddr, usize>,
}

/// Why a connection was closed at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    Total,
    PerAddress,
}

/// Held for as long as a connection is open; frees its place when dropped.
pub struct Permit {
    gate: Arc<Gate>,
    address: Option<IpAddr>,
}

/// The key an address is counted under: IPv4 as is (also when mapped into
/// IPv6), IPv6 by its /64, which one host usually has to itself.
fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

impl Gate {
    pub fn new(limits: Limits) -> Arc<Self> {
        Arc::new(Self {
            limits,
            counts: Mutex::new(Counts::default()),
            refused_total: AtomicU64::new(0),
            refused_per_address: AtomicU64::new(0),
        })
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.counts.lock().unwrap_or_else(|e| e.into_inner()).open
    }

    /// Connections closed at once so far: (over the total cap, over the
    /// per-address cap).
    pub fn refused(&self) -> (u64, u64) {
        (
            self.refused_total.load(Ordering::Relaxed),
            self.refused_per_address.load(Ordering::Relaxed),
        )
    }

    /// Takes a place for a connection from `ip` (None: not an IP peer).
    pub fn admit(self: &Arc<Self>, ip: Option<IpAddr>) -> Result<Permit, Refusal> {
        let ip = ip.map(|ip| match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        });
        let address = ip
            .filter(|ip| !self.limits.exempt.iter().any(|n| n.contains(ip)))
            .map(address_key);
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        if counts.open >= self.limits.max_connections {
            self.refused_total.fetch_add(1, Ordering::Relaxed);
            return Err(Refusal::Total);
        }
        if let Some(a) = address {
            let n = counts.by_address.entry(a).or_insert(0);
            if *n >= self.limits.max_per_address {
                self.refused_per_address.fetch_add(1, Ordering::Relaxed);
                return Err(Refusal::PerAddress);
            }
            *n += 1;
        }
        counts.open += 1;
        Ok(Permit {
            gate: self.clone(),
            address,
        })
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut counts = self.gate.counts.lock().unwrap_or_else(|e| e.into_inner());
        counts.open -= 1;
        if let Some(a) = self.address
            && let Some(n) = counts.by_address.get_mut(&a)
        {
            *n -= 1;
            if *n == 0 {
                counts.by_address.remove(&a);
            }
        }
    }
}

/// A connection's stream with its place in the `Gate`.
pub struct Tracked<T> {
    inner: T,
    _permit: Permit,
}

impl<T: AsyncRead + Unpin> AsyncRead for Tracked<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Tracked<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// Logs a recurring condition at most once per `every`, with how many
/// times it happened in between.
pub struct RateLimitedLog {
    every: Duration,
    last: Option<Instant>,
    suppressed: u64,
}

impl RateLimitedLog {
    pub fn new(every: Duration) -> Self {
        Self {
            every,
            last: None,
            suppressed: 0,
        }
    }

    /// Some(times it was suppressed since the last log) when it is time to
    /// log again.
    pub fn ready(&mut self, now: Instant) -> Option<u64> {
        match self.last {
            Some(t) if now.duration_since(t) < self.every => {
                self.suppressed += 1;
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.suppressed))
            }
        }
    }
}

/// Waits between failed accepts: from 5 ms, doubling to 1 s; a successful
/// accept starts over.
#[derive(Default)]
pub struct Backoff {
    next: Option<Duration>,
}

impl Backoff {
    pub const FIRST: Duration = Duration::from_millis(5);
    pub const MAX: Duration = Duration::from_secs(1);

    pub fn fail(&mut self) -> Duration {
        let d = self.next.unwrap_or(Self::FIRST);
        self.next = Some((d * 2).min(Self::MAX));
        d
    }

    pub fn reset(&mut self) {
        self.next = None;
    }
}

/// An accept error that concerns one connection (the peer gave up before
/// it was accepted); the next accept can follow at once.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
    )
}

/// Wraps an acceptor (the TCP one; TLS goes on top): connections over a
/// cap are closed at once, and accept errors such as EMFILE are logged at
/// most every 10 s and backed off instead of retried in a busy loop.
pub struct LimitedAcceptor<A> {
    inner: A,
    gate: Arc<Gate>,
    backoff: Backoff,
    accept_errors: RateLimitedLog,
    refusals: RateLimitedLog,
}

impl<A: Acceptor> LimitedAcceptor<A> {
    pub fn new(inner: A, gate: Arc<Gate>) -> Self {
        Self {
            inner,
            gate,
            backoff: Backoff::default(),
            accept_errors: RateLimitedLog::new(Duration::from_secs(10)),
            refusals: RateLimitedLog::new(Duration::from_secs(10)),
        }
    }
}

impl<A: Acceptor> Acceptor for LimitedAcceptor<A> {
    type Io = Tracked<A::Io>;

    fn local_addr(&self) -> Vec<LocalAddr> {
        self.inner.local_addr()
    }

    async fn accept(&mut self) -> io::Result<(Self::Io, LocalAddr, RemoteAddr, Scheme)> {
        loop {
            match self.inner.accept().await {
                Ok((io, local, remote, scheme)) => {
                    self.backoff.reset();
                    let ip = remote.as_socket_addr().map(|a| a.ip());
                    match self.gate.admit(ip) {
                        Ok(permit) => {
                            return Ok((
                                Tracked {
                                    inner: io,
                                    _permit: permit,
                                },
                                local,
                                remote,
                                scheme,
                            ));
                        }
                        Err(why) => {
                            drop(io);
                            if let Some(suppressed) = self.refusals.ready(Instant::now()) {
                                let (total, per_address) = self.gate.refused();
                                let limits = self.gate.limits();
                                tracing::warn!(
                                    peer = %remote,
                                    reason = match why {
                                        Refusal::Total => "server.max_connections",
                                        Refusal::PerAddress => "server.max_connections_per_address",
                                    },
                                    max_connections = limits.max_connections,
                                    max_per_address = limits.max_per_address,
                                    refused_total = total,
                                    refused_per_address = per_address,
                                    suppressed,
                                    "connection closed at once: over a connection cap"
                                );
                            }
                        }
                    }
                }
                Err(e) if is_connection_error(&e) => {}
                Err(e) => {
                    let wait = self.backoff.fail();
                    if let Some(suppressed) = self.accept_errors.ready(Instant::now()) {
                        tracing::error!(
                            error = %e,
                            open = self.gate.open(),
                            suppressed,
                            backoff_ms = wait.as_millis() as u64,
                            "accepting connections failed; backing off"
                        );
                    }
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }
}

/// Per-connection timeouts.
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    /// To deliver a complete request head.
    pub header: Duration,
    /// Without a byte either way before the connection is closed gracefully
    /// (twice as long: dropped).
    pub idle: Duration,
}

impl Timeouts {
    pub fn from_config(config: &crate::config::Config) -> Self {
        Self {
            header: Duration::from_secs(config.server.header_timeout_secs),
            idle: Duration::from_secs(config.server.idle_timeout_secs),
        }
    }
}

/// What a connection's stream shares with its task: when it last moved a
/// byte and whether a request has arrived.
struct Activity {
    start: Instant,
    /// Milliseconds after `start` of the last byte read or written.
    last_ms: AtomicU64,
    requested: AtomicBool,
}

impl Activity {
    fn touch(&self) {
        let ms = self.start.elapsed().as_millis() as u64;
        self.last_ms.store(ms, Ordering::Relaxed);
    }
}

struct Watched<T> {
    inner: T,
    activity: Arc<Activity>,
}

impl<T: AsyncRead + Unpin> AsyncRead for Watched<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.touch();
        }
        r
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Watched<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        r
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        r
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// Live connection tasks, to wait for on shutdown.
#[derive(Default)]
struct Alive {
    count: AtomicUsize,
    idle: tokio::sync::Notify,
}

struct AliveGuard(Arc<Alive>);

impl Drop for AliveGuard {
    fn drop(&mut self) {
        if self.0.count.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

type HyperBody = http_body_util::combinators::BoxBody<bytes::Bytes, io::Error>;

/// Serves `ep` on the connections `acceptor` yields until `signal`
/// resolves, then lets open connections finish for up to `grace` and
/// drops the rest. Like poem's `Server::run_with_graceful_shutdown`, plus
/// `timeouts` and accept errors that cannot spin.
pub async fn serve(
    mut acceptor: BoxAcceptor,
    ep: impl Endpoint + 'static,
    timeouts: Timeouts,
    signal: impl std::future::Future<Output = ()>,
    grace: Duration,
) -> io::Result<()> {
    use poem::EndpointExt;
    let ep: Arc<BoxEndpoint<'static, Response>> = Arc::new(ep.map_to_response().boxed());
    let alive = Arc::new(Alive::default());
    let graceful = CancellationToken::new();
    let hard = CancellationToken::new();
    let mut backoff = Backoff::default();
    let mut errors = RateLimitedLog::new(Duration::from_secs(10));
    tokio::pin!(signal);
    loop {
        tokio::select! {
            _ = &mut signal => break,
            res = acceptor.accept() => match res {
                Ok((io, local, remote, scheme)) => {
                    backoff.reset();
                    alive.count.fetch_add(1, Ordering::AcqRel);
                    let guard = AliveGuard(alive.clone());
                    let (ep, graceful, hard) = (ep.clone(), graceful.clone(), hard.clone());
                    tokio::spawn(async move {
                        let _guard = guard;
                        connection(io, local, remote, scheme, ep, timeouts, graceful, hard).await;
                    });
                }
                // The TLS acceptor's own errors (no TLS configuration); the
                // TCP ones are handled by `LimitedAcceptor`.
                Err(e) => {
                    let wait = backoff.fail();
                    if let Some(suppressed) = errors.ready(Instant::now()) {
                        tracing::error!(error = %e, suppressed, "accept failed; backing off");
                    }
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }
    // Stop listening, then let the connections finish.
    drop(acceptor);
    graceful.cancel();
    let drained = async {
        loop {
            let idle = alive.idle.notified();
            if alive.count.load(Ordering::Acquire) == 0 {
                return;
            }
            idle.await;
        }
    };
    tokio::pin!(drained);
    if tokio::time::timeout(grace, &mut drained).await.is_err() {
        tracing::info!(
            open = alive.count.load(Ordering::Acquire),
            "closing the connections still open after the shutdown timeout"
        );
        hard.cancel();
        drained.await;
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn connection(
    io: poem::listener::BoxIo,
    local: LocalAddr,
    remote: RemoteAddr,
    scheme: Scheme,
    ep: Arc<BoxEndpoint<'static, Response>>,
    timeouts: Timeouts,
    graceful: CancellationToken,
    hard: CancellationToken,
) {
    let activity = Arc::new(Activity {
        start: Instant::now(),
        last_ms: AtomicU64::new(0),
        requested: AtomicBool::new(false),
    });
    let io = Watched {
        inner: io,
        activity: activity.clone(),
    };
    let service = {
        let activity = activity.clone();
        let remote = remote.clone();
        hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
            activity.requested.store(true, Ordering::Relaxed);
            let ep = ep.clone();
            let req = poem::Request::from((req, local.clone(), remote.clone(), scheme.clone()));
            async move {
                let resp: hyper::Response<HyperBody> = ep.get_response(req).await.into();
                Ok::<_, Infallible>(resp)
            }
        })
    };
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(timeouts.header);
    // What poem's server sets.
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_pending_accept_reset_streams(20)
        .max_header_list_size(16384);
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(io), service);
    tokio::pin!(conn);

    let header_ms = timeouts.header.as_millis() as u64;
    let idle_ms = timeouts.idle.as_millis() as u64;
    let mut closing = false;
    loop {
        // The next moment something may be due.
        let last = activity.last_ms.load(Ordering::Relaxed);
        let requested = activity.requested.load(Ordering::Relaxed);
        let mut due = last + if closing { 2 * idle_ms } else { idle_ms };
        if !requested {
            due = due.min(header_ms);
        }
        let at = activity.start + Duration::from_millis(due);
        tokio::select! {
            _ = conn.as_mut() => return,
            _ = hard.cancelled() => return,
            _ = graceful.cancelled(), if !closing => {
                closing = true;
                conn.as_mut().graceful_shutdown();
            }
            _ = tokio::time::sleep_until(at) => {
                let now = activity.start.elapsed().as_millis() as u64;
                if !activity.requested.load(Ordering::Relaxed) && now >= header_ms {
                    // No request head in time (TLS handshake and protocol
                    // detection included): nothing to finish.
                    tracing::debug!(peer = %remote, "no request within server.header_timeout_secs; closing");
                    return;
                }
                let silent = now.saturating_sub(activity.last_ms.load(Ordering::Relaxed));
                if silent >= 2 * idle_ms {
                    tracing::debug!(peer = %remote, "silent for twice server.idle_timeout_secs; dropping");
                    return;
                }
                if silent >= idle_ms && !closing {
                    closing = true;
                    conn.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(total: usize, per: usize, exempt: &[&str]) -> Limits {
        Limits {
            max_connections: total,
            max_per_address: per,
            exempt: exempt.iter().map(|s| s.parse().unwrap()).collect(),
        }
    }

    #[test]
    fn caps_count_per_address_and_in_all_and_free_on_drop() {
        let gate = Gate::new(limits(4, 2, &["10.9.0.0/16"]));
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let p1 = gate.admit(Some(a)).unwrap();
        let _p2 = gate.admit(Some(a)).unwrap();
        assert_eq!(gate.admit(Some(a)).err(), Some(Refusal::PerAddress));
        // The same address mapped into IPv6 is the same client.
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        assert_eq!(gate.admit(Some(mapped)).err(), Some(Refusal::PerAddress));
        drop(p1);
        let _p3 = gate.admit(Some(mapped)).unwrap();
        let _p4 = gate.admit(Some(b)).unwrap();
        let exempt: IpAddr = "10.9.1.1".parse().unwrap();
        let _p5 = gate.admit(Some(exempt)).unwrap();
        assert_eq!(gate.open(), 4);
        assert_eq!(gate.admit(Some(exempt)).err(), Some(Refusal::Total));
        assert_eq!(gate.refused(), (1, 2));
    }

    #[test]
    fn an_ipv6_client_counts_by_its_64() {
        let gate = Gate::new(limits(10, 1, &[]));
        let _p = gate
            .admit(Some("2001:db8:1:2::1".parse().unwrap()))
            .unwrap();
        assert_eq!(
            gate.admit(Some("2001:db8:1:2:ffff::9".parse().unwrap()))
                .err(),
            Some(Refusal::PerAddress)
        );
        assert!(gate.admit(Some("2001:db8:1:3::1".parse().unwrap())).is_ok());
    }

    #[test]
    fn exempt_addresses_are_only_under_the_total_cap() {
        let gate = Gate::new(limits(3, 1, &["127.0.0.0/8", "::1/128"]));
        let held: Vec<_> = (0..3)
            .map(|_| gate.admit(Some("127.0.0.1".parse().unwrap())).unwrap())
            .collect();
        assert_eq!(
            gate.admit(Some("::1".parse().unwrap())).err(),
            Some(Refusal::Total)
        );
        drop(held);
        assert_eq!(gate.open(), 0);
    }

    #[test]
    fn the_total_cap_leaves_file_descriptors_for_the_rest() {
        let c = crate::config::Config::default();
        let l = Limits::new(&c, Some(1024)).unwrap();
        assert_eq!(l.max_connections, 1024 - FD_RESERVE as usize);
        let l = Limits::new(&c, Some(1 << 20)).unwrap();
        assert_eq!(l.max_connections, c.server.max_connections);
        let l = Limits::new(&c, Some(10)).unwrap();
        assert_eq!(l.max_connections, 1);
    }

    #[test]
    fn backoff_doubles_to_a_ceiling_and_resets() {
        let mut b = Backoff::default();
        assert_eq!(b.fail(), Backoff::FIRST);
        assert_eq!(b.fail(), Backoff::FIRST * 2);
        for _ in 0..20 {
            b.fail();
        }
        assert_eq!(b.fail(), Backoff::MAX);
        b.reset();
        assert_eq!(b.fail(), Backoff::FIRST);
    }

    #[test]
    fn repeated_errors_are_logged_once_per_period_with_a_count() {
        let mut log = RateLimitedLog::new(Duration::from_secs(10));
        let t = Instant::now();
        assert_eq!(log.ready(t), Some(0));
        for i in 1..=5 {
            assert_eq!(log.ready(t + Duration::from_secs(i)), None);
        }
        assert_eq!(log.ready(t + Duration::from_secs(10)), Some(5));
    }
}
