//! Operations: `/metrics` (Prometheus text), the backup admin API and the
//! metrics history behind the admin charts.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem::{Body, Request, Response, handler};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::{Binary, Json};
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};

use super::error::ApiError;
use super::extract::{Auth, authenticate};
use super::middleware::peer_ip;
use super::{ApiTags, origin};
use crate::app::AppState;
use crate::backup::{self, BackupError, BackupInfo, Kind};
use crate::error::Error;
use crate::metrics::history::{self, Rollup};

/// `GET /metrics`: Prometheus text. Open to loopback peers that are not a
/// trusted proxy (the peer address itself, never a forwarded header);
/// everyone else needs an admin's bearer token or session.
#[handler]
pub async fn metrics_text(
    req: &Request,
    state: Data<&Arc<AppState>>,
) -> Result<Response, ApiError> {
    let state = state.0.clone();
    let open = state.config.metrics.loopback_without_token
        && peer_ip(req).is_some_and(|ip| {
            ip.is_loopback()
                && !state
                    .config
                    .trusted_proxies()
                    .unwrap_or_default()
                    .iter()
                    .any(|n| n.contains(&ip))
        });
    if !open {
        let p = authenticate(req).await?;
        if !p.user.is_admin {
            return Err(ApiError::Rule(Error::Forbidden(
                "metrics are for admins".into(),
            )));
        }
    }
    // File sizes and statvfs: cheap, but still file-system calls.
    let text = tokio::task::spawn_blocking(move || state.metrics.render(&state.metrics_sources()))
        .await
        .map_err(ApiError::internal)?;
    Ok(Response::builder()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .header("cache-control", "no-store")
        .body(text))
}

pub struct OpsApi {
    pub state: Arc<AppState>,
}

#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[oai(rename_all = "lowercase")]
pub enum BackupKindView {
    Scheduled,
    Manual,
}

/// One archive in the backup directory.
#[derive(Object)]
pub struct BackupView {
    /// File name, e.g. `uphill-20261130T030000.000Z-scheduled.tar.gz`.
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub kind: BackupKindView,
    /// Bytes.
    pub size: u64,
}

impl From<BackupInfo> for BackupView {
    fn from(b: BackupInfo) -> Self {
        BackupView {
            name: b.name,
            created_at: b.created_at,
            kind: match b.kind {
                Kind::Scheduled => BackupKindView::Scheduled,
                Kind::Manual => BackupKindView::Manual,
            },
            size: b.size,
        }
    }
}

#[derive(Object)]
pub struct BackupStatusView {
    pub last_success: Option<DateTime<Utc>>,
    pub last_failure: Option<DateTime<Utc>>,
    /// Why the last failed attempt failed.
    pub last_error: Option<String>,
    /// The next scheduled run; absent when `backup.cron` is empty.
    pub next_due: Option<DateTime<Utc>>,
    /// The last attempt failed and none succeeded since.
    pub failing: bool,
    /// No backup for more than an hour past the time one was due.
    pub overdue: bool,
    pub running: bool,
}

#[derive(Object)]
pub struct BackupList {
    /// Newest first.
    pub items: Vec<BackupView>,
    pub status: BackupStatusView,
}

#[derive(ApiResponse)]
pub enum BackupCreated {
    /// The backup is written, fsync'd and listed.
    #[oai(status = 201)]
    Created(Json<BackupView>),
}

#[derive(ApiResponse)]
pub enum BackupDownload {
    /// The archive (gzip-compressed tar with `manifest.json`).
    #[oai(status = 200, content_type = "application/gzip")]
    Archive(
        Binary<Body>,
        /// `attachment; filename="…"`.
        #[oai(header = "Content-Disposition")]
        String,
    ),
}

#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[oai(rename_all = "lowercase")]
pub enum HistoryRange {
    /// The last 24 hours, one point per rollup (minute).
    Day,
    /// The last 7 days, one point per 10 minutes.
    Week,
}

/// One point of the admin charts.
#[derive(Object)]
pub struct MetricsPoint {
    /// End of the interval.
    pub at: DateTime<Utc>,
    /// Length of the interval in seconds.
    pub secs: u64,
    pub requests: u64,
    pub errors_5xx: u64,
    /// 95th percentile latency in ms (worst minute of the interval).
    pub p95_ms: Option<f64>,
    pub orders_placed: u64,
    pub batches_locked: u64,
    pub sse_clients: u64,
    pub disk_free_ratio: Option<f64>,
    /// Mails the SMTP server accepted in the interval.
    pub mail_sent: u64,
    /// Sends that failed in the interval (each retry counts).
    pub mail_failed: u64,
}

impl From<Rollup> for MetricsPoint {
    fn from(r: Rollup) -> Self {
        MetricsPoint {
            at: r.at,
            secs: r.secs,
            requests: r.requests,
            errors_5xx: r.errors_5xx,
            p95_ms: r.p95_ms,
            orders_placed: r.orders_placed,
            batches_locked: r.batches_locked,
            sse_clients: r.sse_clients,
            disk_free_ratio: r.disk_free_ratio,
            mail_sent: r.mail_sent,
            mail_failed: r.mail_failed,
        }
    }
}

#[derive(Object)]
pub struct MetricsHistory {
    pub range: HistoryRange,
    /// Oldest first.
    pub points: Vec<MetricsPoint>,
}

/// One campus day of the dashboard.
#[derive(Object)]
pub struct DashboardDay {
    /// The campus day, `YYYY-MM-DD` (`campus.timezone`).
    pub date: chrono::NaiveDate,
    pub orders_placed: u32,
    pub orders_completed: u32,
    /// Totals of the orders completed (delivered) that day, minor units.
    pub revenue: i64,
    /// Distinct students who placed an order that day.
    pub active_students: u32,
    /// Distinct shops that received an order that day.
    pub active_shops: u32,
    /// Batches whose cutoff fell that day, locked within 5 minutes of it.
    pub batches_on_time: u32,
    /// Batches whose cutoff fell that day, locked later than that.
    pub batches_late: u32,
    /// Mails the SMTP server accepted (from the metrics rollups, kept
    /// `metrics.history_days`).
    pub mail_sent: u64,
    /// Sends that failed (each retry counts).
    pub mail_failed: u64,
}

impl From<crate::domain::dashboard::Day> for DashboardDay {
    fn from(d: crate::domain::dashboard::Day) -> Self {
        DashboardDay {
            date: d.date,
            orders_placed: d.orders_placed,
            orders_completed: d.orders_completed,
            revenue: d.revenue,
            active_students: d.active_students,
            active_shops: d.active_shops,
            batches_on_time: d.batches_on_time,
            batches_late: d.batches_late,
            mail_sent: d.mail_sent,
            mail_failed: d.mail_failed,
        }
    }
}

/// Campus at a glance: the last days' figures, oldest first, the last one
/// being today.
#[derive(Object)]
pub struct CampusDashboard {
    /// The campus time zone the days are in.
    pub timezone: String,
    /// ISO 4217 code of the money figures.
    pub currency: String,
    /// Every day of the range, days without activity included.
    pub days: Vec<DashboardDay>,
    /// The read stopped at its budget of records: days before
    /// `complete_from` may be short.
    pub truncated: bool,
    /// The first day whose figures are whole.
    pub complete_from: chrono::NaiveDate,
}

/// One housekeeping sweep and its last run.
#[derive(Object)]
pub struct SweepView {
    /// `notifications`, `sessions` or `carts`.
    pub name: String,
    /// Days its records are kept (none for sessions: they go at expiry).
    pub keep_days: Option<u32>,
    /// When it last ran; none before its first run.
    pub last_run_at: Option<DateTime<Utc>>,
    /// Records its last run removed.
    pub last_removed: u64,
    /// Its last run stopped at its limit: more will go on the next one.
    pub more_due: bool,
}

/// The housekeeping sweeps (every 10 minutes), their settings
/// (`[housekeeping]` in the config) and last runs.
#[derive(Object)]
pub struct Housekeeping {
    pub every_minutes: u32,
    pub sweeps: Vec<SweepView>,
}

fn backup_error(e: BackupError) -> ApiError {
    match e {
        BackupError::Busy => ApiError::Rule(Error::Conflict(
            "a backup is already running; try again when it ends".into(),
        )),
        BackupError::Failed(m) => ApiError::internal(anyhow::anyhow!(m)),
    }
}

#[OpenApi(prefix_path = "/api/v1/admin", tag = "ApiTags::Admin")]
impl OpsApi {
    /// List backups (newest first) with the backup status. Admins only.
    #[oai(path = "/backups", method = "get", operation_id = "listBackups")]
    async fn list_backups(&self, auth: Auth) -> Result<Json<BackupList>, ApiError> {
        auth.require_admin()?;
        let b = self.state.backups.clone();
        let items = tokio::task::spawn_blocking(move || b.list())
            .await
            .map_err(ApiError::internal)?
            .map_err(ApiError::internal)?;
        let s = self.state.backups.status();
        Ok(Json(BackupList {
            items: items.into_iter().map(Into::into).collect(),
            status: BackupStatusView {
                failing: s.failing(),
                overdue: s.overdue(Utc::now()),
                last_success: s.last_success,
                last_failure: s.last_failure,
                last_error: s.last_error,
                next_due: s.next_due,
                running: s.running,
            },
        }))
    }

    /// Take a backup now. Answers 201 once the archive is written and
    /// fsync'd (seconds for a campus-sized store); 409 while another backup
    /// runs. Writes go on while it runs. Admins only; audited.
    #[oai(path = "/backups", method = "post", operation_id = "createBackup")]
    async fn create_backup(&self, auth: Auth, req: &Request) -> Result<BackupCreated, ApiError> {
        auth.require_admin()?;
        let info = self
            .state
            .backups
            .run(self.state.store.clone(), Kind::Manual)
            .await
            .map_err(backup_error)?;
        let origin = origin(req, Some(auth.user_id()));
        let (name, size) = (info.name.clone(), info.size);
        self.state
            .store
            .write(move |txn| {
                crate::audit::append(
                    txn,
                    &origin,
                    "backup.create",
                    &name,
                    format!("{size} bytes"),
                )
            })
            .await?;
        Ok(BackupCreated::Created(Json(info.into())))
    }

    /// Download a backup archive. The name must be exactly one the list
    /// shows (400 otherwise, so no path can be smuggled in); 404 when no
    /// such backup exists. Admins only; audited.
    #[oai(
        path = "/backups/:name",
        method = "get",
        operation_id = "downloadBackup"
    )]
    async fn download_backup(
        &self,
        auth: Auth,
        req: &Request,
        #[oai(validator(max_length = 100))] name: Path<String>,
    ) -> Result<BackupDownload, ApiError> {
        auth.require_admin()?;
        if backup::parse_name(&name.0).is_none() {
            return Err(ApiError::BadRequest(format!(
                "`{}` is not a backup name (uphill-<time>-<kind>.tar.gz)",
                name.0.chars().take(100).collect::<String>()
            )));
        }
        let info = self
            .state
            .backups
            .find(&name.0)
            .ok_or_else(|| ApiError::Rule(Error::NotFound("no such backup".into())))?;
        let file = tokio::fs::File::open(&info.path)
            .await
            .map_err(|_| ApiError::Rule(Error::NotFound("no such backup".into())))?;
        let origin = origin(req, Some(auth.user_id()));
        let target = info.name.clone();
        self.state
            .store
            .write(move |txn| crate::audit::append(txn, &origin, "backup.download", &target, ""))
            .await?;
        Ok(BackupDownload::Archive(
            Binary(Body::from_async_read(file)),
            format!("attachment; filename=\"{}\"", info.name),
        ))
    }

    /// Campus at a glance: per campus day, orders placed and completed,
    /// revenue, active students and shops, batches locked on time or late,
    /// mail sent and failed. `days` (1 to 90, default 14) ends today. The
    /// read is bounded (10,000 orders, 10,000 batches, two weeks of
    /// rollups, newest first); `truncated` says when older days are short.
    #[oai(
        path = "/dashboard",
        method = "get",
        operation_id = "getCampusDashboard"
    )]
    async fn dashboard(
        &self,
        auth: Auth,
        #[oai(validator(minimum(value = "1"), maximum(value = "90")))] days: Query<Option<u32>>,
    ) -> Result<Json<CampusDashboard>, ApiError> {
        auth.require_admin()?;
        let days = days.0.unwrap_or(crate::domain::dashboard::DEFAULT_DAYS);
        let tz = self.state.config.campus_tz().map_err(ApiError::internal)?;
        let now = self.state.clock.now();
        let d = self
            .state
            .store
            .read(move |txn| Ok::<_, ApiError>(crate::dashboard::read(txn, now, days, tz)?))
            .await?;
        Ok(Json(CampusDashboard {
            timezone: self.state.config.campus.timezone.clone(),
            currency: self.state.config.campus.currency.clone(),
            days: d.days.into_iter().map(Into::into).collect(),
            truncated: d.truncated,
            complete_from: d.complete_from,
        }))
    }

    /// The housekeeping sweeps of old read notifications, expired sessions
    /// and untouched carts: what each keeps and its last run.
    #[oai(
        path = "/housekeeping",
        method = "get",
        operation_id = "getHousekeeping"
    )]
    async fn housekeeping(&self, auth: Auth) -> Result<Json<Housekeeping>, ApiError> {
        auth.require_admin()?;
        let runs = self
            .state
            .store
            .read(|txn| Ok::<_, ApiError>(crate::housekeeping::last_runs(txn)?))
            .await?;
        let h = &self.state.config.housekeeping;
        let sweeps = runs
            .into_iter()
            .map(|(name, run)| SweepView {
                keep_days: match name.as_str() {
                    crate::housekeeping::NOTIFICATIONS => Some(h.notification_days),
                    crate::housekeeping::CARTS => Some(h.cart_days),
                    _ => None,
                },
                last_run_at: run.as_ref().map(|r| r.at),
                last_removed: run.as_ref().map_or(0, |r| r.removed),
                more_due: run.is_some_and(|r| r.more),
                name,
            })
            .collect();
        Ok(Json(Housekeeping {
            every_minutes: crate::housekeeping::EVERY_MINUTES,
            sweeps,
        }))
    }

    /// Rollups for the admin charts: requests, 5xx, p95 latency, orders
    /// placed, batches locked, SSE clients, disk free and mail. Admins only.
    #[oai(
        path = "/metrics/history",
        method = "get",
        operation_id = "getMetricsHistory"
    )]
    async fn metrics_history(
        &self,
        auth: Auth,
        /// `day` (default) or `week`.
        range: Query<Option<HistoryRange>>,
    ) -> Result<Json<MetricsHistory>, ApiError> {
        auth.require_admin()?;
        let range = range.0.unwrap_or(HistoryRange::Day);
        let from = Utc::now()
            - match range {
                HistoryRange::Day => chrono::Duration::days(1),
                HistoryRange::Week => chrono::Duration::days(7),
            };
        let points = self
            .state
            .store
            .read(move |txn| Ok::<_, ApiError>(history::since(txn, from)?))
            .await?;
        let points = match range {
            HistoryRange::Day => points,
            HistoryRange::Week => history::downsample(points, chrono::Duration::minutes(10)),
        };
        Ok(Json(MetricsHistory {
            range,
            points: points.into_iter().map(Into::into).collect(),
        }))
    }
}
