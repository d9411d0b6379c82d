//! Metrics: Prometheus text at `/metrics`, one-minute rollups in the store
//! for the admin charts, and recent latency/error figures for the alerts.
//!
//! Request metrics are labelled by the *matched route template* (poem puts
//! a `PathPattern` on every response its router matched), never the raw
//! path, so ids in URLs cannot blow up the number of series. Unmatched
//! requests are `other`.

pub mod history;

use std::collections::VecDeque;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use prometheus::{
    Gauge, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder, exponential_buckets,
};

use crate::backup::Backups;
use crate::events::Hub;
use crate::mail::MailStats;
use crate::store::Store;

/// Fine latency buckets for percentiles of one minute: bucket `i` holds
/// latencies up to `0.1 ms × 1.25^i` (the last one everything above).
const FINE: usize = 64;

fn fine_bucket(secs: f64) -> usize {
    let ms = secs * 1000.0;
    if ms <= 0.1 {
        return 0;
    }
    let i = ((ms / 0.1).ln() / 1.25f64.ln()).ceil() as usize;
    i.min(FINE - 1)
}

fn fine_upper_ms(i: usize) -> f64 {
    0.1 * 1.25f64.powi(i as i32)
}

/// One window of requests (a rollup interval).
#[derive(Clone, Debug)]
pub struct Window {
    pub requests: u64,
    pub errors_5xx: u64,
    buckets: Vec<u64>,
}

impl Window {
    fn empty() -> Self {
        Self {
            requests: 0,
            errors_5xx: 0,
            buckets: vec![0; FINE],
        }
    }

    fn add(&mut self, other: &Window) {
        self.requests += other.requests;
        self.errors_5xx += other.errors_5xx;
        for (a, b) in self.buckets.iter_mut().zip(&other.buckets) {
            *a += b;
        }
    }

    /// The 95th percentile latency in ms (an upper bound within 25 %), or
    /// `None` without requests.
    pub fn p95_ms(&self) -> Option<f64> {
        let total: u64 = self.buckets.iter().sum();
        if total == 0 {
            return None;
        }
        let rank = (total as f64 * 0.95).ceil() as u64;
        let mut seen = 0;
        for (i, n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return Some(fine_upper_ms(i));
            }
        }
        Some(fine_upper_ms(FINE - 1))
    }
}

/// Latency and errors over the last minutes, for the alert rules
/// ("p95 > 1 s for 5 min", "5xx rate > 5 %").
#[derive(Clone, Debug)]
pub struct RecentHealth {
    /// Rollup windows the figures cover (fewer than asked after a start).
    pub windows: usize,
    pub requests: u64,
    pub errors_5xx: u64,
    /// 5xx / requests (0 without requests).
    pub error_rate: f64,
    pub p95_ms: Option<f64>,
}

/// What [`Metrics::render`] reads its gauges from; `app` hands it over.
pub struct Sources<'a> {
    pub store: &'a Store,
    /// The data directory: its file system's free space and the index size.
    pub data_dir: &'a Path,
    /// Unix seconds of the batch closer's last completed run (0: never).
    pub closer_last_run: &'a AtomicI64,
    pub events: &'a Hub,
    pub backups: &'a Backups,
    pub mail: &'a MailStats,
}

pub struct Metrics {
    registry: Registry,
    http_requests: IntCounterVec,
    http_duration: HistogramVec,
    orders: IntGaugeVec,
    pub batches_locked: IntCounter,
    closer_last_run: IntGauge,
    sse_clients: IntGauge,
    backup_last_success: IntGauge,
    backup_failing: IntGauge,
    store_bytes: IntGauge,
    index_bytes: IntGauge,
    disk_free_bytes: IntGauge,
    disk_free_ratio: Gauge,
    /// Mail: the counters follow `MailStats`' totals; the gauges are read
    /// from the outbox at each scrape.
    mail_sent: IntCounter,
    mail_failed: IntCounter,
    mail_queued: IntGauge,
    mail_dead: IntGauge,
    /// The writer's totals: commands over commits is the mean group size.
    store_commits: IntCounter,
    store_commands: IntCounter,
    window_requests: AtomicU64,
    window_errors: AtomicU64,
    window_buckets: Vec<AtomicU64>,
    recent: Mutex<VecDeque<Window>>,
    /// Batches-locked count at the last rollup, to report the difference.
    pub(crate) locked_at_last_rollup: AtomicI64,
    /// poem's route pattern (`/api/v1/shops/:param0`) → the documented
    /// template (`/api/v1/shops/{id}`).
    templates: std::sync::OnceLock<std::collections::HashMap<String, String>>,
}

/// Windows kept in memory for `recent` (an hour of one-minute rollups).
const RECENT: usize = 60;

const HTTP_LABELS: &[&str] = &["route", "method", "status"];

/// poem-openapi turns each `{name}` of a documented path into `:paramN`;
/// map those patterns back to the documented paths for readable labels.
pub fn route_templates(openapi_json: &str) -> std::collections::HashMap<String, String> {
    let mut out = std::collections::HashMap::new();
    let spec: serde_json::Value = serde_json::from_str(openapi_json).unwrap_or_default();
    if let Some(paths) = spec.get("paths").and_then(|p| p.as_object()) {
        for doc in paths.keys() {
            let mut n = 0;
            let pattern: Vec<String> = doc
                .split('/')
                .map(|seg| {
                    if seg.starts_with('{') && seg.ends_with('}') {
                        n += 1;
                        format!(":param{}", n - 1)
                    } else {
                        seg.to_string()
                    }
                })
                .collect();
            out.insert(pattern.join("/"), doc.clone());
        }
    }
    out
}

impl Metrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new_custom(Some("uphill".into()), None)?;
        let http_requests = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP requests by matched route, method and status class",
            ),
            HTTP_LABELS,
        )?;
        // 0.5 ms … ~16 s.
        let http_duration = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "HTTP request latency by matched route, method and status class",
            )
            .buckets(exponential_buckets(0.0005, 2.0, 16)?),
            HTTP_LABELS,
        )?;
        let orders = IntGaugeVec::new(
            Opts::new(
                "orders",
                "Orders by status (recounted every metrics.refresh_secs)",
            ),
            &["status"],
        )?;
        let int_gauge = |name: &str, help: &str| IntGauge::new(name, help);
        let batches_locked = IntCounter::new(
            "batches_locked_total",
            "Batches locked since start (at cutoff or early)",
        )?;
        let closer_last_run = int_gauge(
            "closer_last_run_timestamp_seconds",
            "Unix time of the batch closer's last completed run (0: never)",
        )?;
        let sse_clients = int_gauge("sse_clients", "Open live event streams")?;
        let backup_last_success = int_gauge(
            "backup_last_success_timestamp_seconds",
            "Unix time of the newest successful backup (0: none)",
        )?;
        let backup_failing = int_gauge("backup_failing", "1 when the last backup attempt failed")?;
        let store_bytes = int_gauge("store_size_bytes", "Size of the store file")?;
        let index_bytes = int_gauge(
            "search_index_size_bytes",
            "Size of the search index directory",
        )?;
        let disk_free_bytes = int_gauge(
            "disk_free_bytes",
            "Free space on the data directory's file system (for this user)",
        )?;
        let disk_free_ratio = Gauge::new(
            "disk_free_ratio",
            "Free fraction of the data directory's file system",
        )?;
        registry.register(Box::new(http_requests.clone()))?;
        registry.register(Box::new(http_duration.clone()))?;
        registry.register(Box::new(orders.clone()))?;
        registry.register(Box::new(batches_locked.clone()))?;
        for g in [
            &closer_last_run,
            &sse_clients,
            &backup_last_success,
            &backup_failing,
            &store_bytes,
            &index_bytes,
            &disk_free_bytes,
        ] {
            registry.register(Box::new(g.clone()))?;
        }
        registry.register(Box::new(disk_free_ratio.clone()))?;
        let mail_sent = IntCounter::new(
            "mail_sent_total",
            "Mails handed to the SMTP server since start",
        )?;
        let mail_failed = IntCounter::new(
            "mail_failed_total",
            "Mail sends that failed since start (refused or server unreachable)",
        )?;
        let mail_queued = int_gauge("mail_queued", "Mails waiting in the outbox")?;
        let mail_dead = int_gauge("mail_dead", "Dead-lettered mails waiting for an admin")?;
        registry.register(Box::new(mail_sent.clone()))?;
        registry.register(Box::new(mail_failed.clone()))?;
        registry.register(Box::new(mail_queued.clone()))?;
        registry.register(Box::new(mail_dead.clone()))?;
        let store_commits = IntCounter::new(
            "store_commits_total",
            "Durable store commits since start (one per group of write commands)",
        )?;
        let store_commands = IntCounter::new(
            "store_commands_total",
            "Write commands run by the store's writer since start",
        )?;
        registry.register(Box::new(store_commits.clone()))?;
        registry.register(Box::new(store_commands.clone()))?;
        Ok(Self {
            store_commits,
            store_commands,
            mail_sent,
            mail_failed,
            mail_queued,
            mail_dead,
            registry,
            http_requests,
            http_duration,
            orders,
            batches_locked,
            closer_last_run,
            sse_clients,
            backup_last_success,
            backup_failing,
            store_bytes,
            index_bytes,
            disk_free_bytes,
            disk_free_ratio,
            window_requests: AtomicU64::new(0),
            window_errors: AtomicU64::new(0),
            window_buckets: (0..FINE).map(|_| AtomicU64::new(0)).collect(),
            recent: Mutex::new(VecDeque::with_capacity(RECENT)),
            locked_at_last_rollup: AtomicI64::new(0),
            templates: std::sync::OnceLock::new(),
        })
    }

    /// Sets the pattern → documented path map (from [`route_templates`])
    /// once the routes exist; until then labels show poem's patterns.
    pub fn set_route_templates(&self, t: std::collections::HashMap<String, String>) {
        let _ = self.templates.set(t);
    }

    /// Counts one answered request. `route` is poem's matched pattern.
    pub fn record(&self, route: Option<&str>, method: &str, status: u16, elapsed: Duration) {
        let method = match method {
            "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS" => method,
            _ => "OTHER",
        };
        // A nest that matched nothing inside reports its empty rest.
        let route = match route {
            None | Some("") => "other",
            Some(r) => self
                .templates
                .get()
                .and_then(|t| t.get(r))
                .map(String::as_str)
                .unwrap_or(r),
        };
        let class = match status {
            100..=199 => "1xx",
            200..=299 => "2xx",
            300..=399 => "3xx",
            400..=499 => "4xx",
            _ => "5xx",
        };
        let labels = [route, method, class];
        let secs = elapsed.as_secs_f64();
        self.http_requests.with_label_values(&labels).inc();
        self.http_duration.with_label_values(&labels).observe(secs);
        self.window_requests.fetch_add(1, Ordering::Relaxed);
        if status >= 500 {
            self.window_errors.fetch_add(1, Ordering::Relaxed);
        }
        self.window_buckets[fine_bucket(secs)].fetch_add(1, Ordering::Relaxed);
    }

    /// Ends the current window: returns it and starts a new one. The
    /// window also goes into the in-memory list behind [`Self::recent`].
    pub fn take_window(&self) -> Window {
        let w = Window {
            requests: self.window_requests.swap(0, Ordering::Relaxed),
            errors_5xx: self.window_errors.swap(0, Ordering::Relaxed),
            buckets: self
                .window_buckets
                .iter()
                .map(|b| b.swap(0, Ordering::Relaxed))
                .collect(),
        };
        let mut r = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        if r.len() == RECENT {
            r.pop_front();
        }
        r.push_back(w.clone());
        w
    }

    /// p95 latency and 5xx rate over the last `windows` rollup windows
    /// (minutes with the default `metrics.rollup_secs`).
    pub fn recent(&self, windows: usize) -> RecentHealth {
        let r = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        let mut sum = Window::empty();
        let n = windows.min(r.len());
        for w in r.iter().rev().take(n) {
            sum.add(w);
        }
        RecentHealth {
            windows: n,
            requests: sum.requests,
            errors_5xx: sum.errors_5xx,
            error_rate: if sum.requests == 0 {
                0.0
            } else {
                sum.errors_5xx as f64 / sum.requests as f64
            },
            p95_ms: sum.p95_ms(),
        }
    }

    /// Sets the order-status gauges from a fresh count.
    pub fn set_orders(&self, counts: &[(String, i64)]) {
        for (status, n) in counts {
            self.orders.with_label_values(&[status.as_str()]).set(*n);
        }
    }

    /// Updates the gauges that are cheap to read (file sizes, disk, live
    /// counters) and renders everything in the Prometheus text format.
    pub fn render(&self, state: &Sources<'_>) -> String {
        self.closer_last_run.set(
            state
                .closer_last_run
                .load(std::sync::atomic::Ordering::Relaxed),
        );
        self.sse_clients.set(state.events.open_streams() as i64);
        let b = state.backups.status();
        self.backup_last_success
            .set(b.last_success.map(|t| t.timestamp()).unwrap_or(0));
        self.backup_failing.set(i64::from(b.failing()));
        if let Ok(m) = std::fs::metadata(state.store.path()) {
            self.store_bytes.set(m.len() as i64);
        }
        self.index_bytes
            .set(dir_size(&state.data_dir.join("search")) as i64);
        if let Ok((avail, total)) = crate::store::disk_space(state.data_dir) {
            self.disk_free_bytes.set(avail as i64);
            self.disk_free_ratio.set(if total > 0 {
                avail as f64 / total as f64
            } else {
                0.0
            });
        }
        let w = state.store.writer_stats();
        for (counter, total) in [
            (&self.mail_sent, state.mail.sent_total()),
            (&self.mail_failed, state.mail.failed_attempts_total()),
            (&self.store_commits, w.commits),
            (&self.store_commands, w.commands),
        ] {
            let seen = counter.get();
            if total > seen {
                counter.inc_by(total - seen);
            }
        }
        if let Ok(c) = state.store.read_blocking(crate::mail::counts) {
            self.mail_queued.set(c.queued as i64);
            self.mail_dead.set(c.dead as i64);
        }
        TextEncoder::new()
            .encode_to_string(&self.registry.gather())
            .unwrap_or_else(|e| {
                tracing::error!(error = %e, "cannot render metrics");
                String::new()
            })
    }
}

/// Bytes of the regular files under `dir` (0 when it does not exist).
pub fn dir_size(dir: &std::path::Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(e.path()),
                Ok(t) if t.is_file() => total += e.metadata().map(|m| m.len()).unwrap_or(0),
                _ => {}
            }
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p95_of_a_window() {
        let m = Metrics::new().unwrap();
        for _ in 0..95 {
            m.record(Some("/a"), "GET", 200, Duration::from_millis(2));
        }
        for _ in 0..5 {
            m.record(Some("/a"), "GET", 503, Duration::from_millis(900));
        }
        let w = m.take_window();
        assert_eq!((w.requests, w.errors_5xx), (100, 5));
        let p95 = w.p95_ms().unwrap();
        assert!((2.0..=2.5).contains(&p95), "{p95}");
        let r = m.recent(5);
        assert_eq!(r.windows, 1);
        assert!((r.error_rate - 0.05).abs() < 1e-9);
        // A fresh window is empty.
        assert_eq!(m.take_window().requests, 0);
        assert_eq!(m.recent(5).windows, 2);
        assert!(Window::empty().p95_ms().is_none());
    }

    #[test]
    fn labels_are_templates_and_bounded() {
        let spec =
            r#"{"paths": {"/api/v1/shops/{id}": {}, "/api/v1/shops/{id}/slots/{slot_id}": {}}}"#;
        let t = route_templates(spec);
        assert_eq!(t["/api/v1/shops/:param0"], "/api/v1/shops/{id}");
        assert_eq!(
            t["/api/v1/shops/:param0/slots/:param1"],
            "/api/v1/shops/{id}/slots/{slot_id}"
        );
        let m = Metrics::new().unwrap();
        m.set_route_templates(t);
        m.record(None, "BREW", 404, Duration::from_millis(1));
        m.record(Some(""), "GET", 404, Duration::from_millis(1));
        m.record(
            Some("/api/v1/shops/:param0"),
            "GET",
            200,
            Duration::from_millis(1),
        );
        let out = TextEncoder::new()
            .encode_to_string(&m.registry.gather())
            .unwrap();
        for line in [
            r#"uphill_http_requests_total{method="OTHER",route="other",status="4xx"} 1"#,
            r#"uphill_http_requests_total{method="GET",route="other",status="4xx"} 1"#,
            r#"uphill_http_requests_total{method="GET",route="/api/v1/shops/{id}",status="2xx"} 1"#,
        ] {
            assert!(out.contains(line), "{line} not in\n{out}");
        }
    }
}
