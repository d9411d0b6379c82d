//! Builds the application from a configuration so that `main`, the CLI and
//! the tests all start the same thing. `Application::build` binds the port
//! (0 picks a free one) and `run_until` serves until told to stop.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicI64;
use std::time::{Duration, Instant};

use poem::listener::{
    Acceptor, AcceptorExt, IntoTlsConfigStream, Listener, RustlsCertificate, RustlsConfig,
    TcpListener,
};

use crate::auth::AuthService;
use crate::auth::password::Hasher;
use crate::auth::throttle::{LoginThrottle, SignupThrottle};
use crate::config::Config;
use crate::store::Store;

pub struct AppState {
    pub config: Arc<Config>,
    pub store: Store,
    pub auth: AuthService,
    pub started: Instant,
    /// Unix seconds of the batch closer's last completed run (0: never).
    pub closer_last_run: Arc<AtomicI64>,
    /// Live fan-out of the event log to open SSE streams.
    pub events: Arc<crate::events::Hub>,
    /// Prometheus metrics, rollups and recent health for the alerts.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Backups, and their status for the alerts (`backups.status()`).
    pub backups: Arc<crate::backup::Backups>,
    /// "Now" for cutoff decisions (checkout's batch choice, the closer).
    pub clock: Arc<crate::clock::Clock>,
    /// Mail counters (for metrics) and the worker's wake-up.
    pub mail: Arc<crate::mail::MailStats>,
    /// What metrics and backups feed to the alert rules.
    pub alerts: Arc<crate::alerts::Feed>,
    /// The search index and its one writer thread.
    pub search: crate::search::Search,
    /// Uploaded images under `<data_dir>/files`.
    pub files: Arc<crate::files::Files>,
}

impl AppState {
    pub fn secure_cookies(&self) -> bool {
        self.config.tls_enabled() || self.config.auth.secure_cookies
    }

    /// What the batch closer uses.
    pub fn job_handles(&self) -> crate::jobs::Handles {
        crate::jobs::Handles {
            store: self.store.clone(),
            batch: self.config.batch.clone(),
            metrics: self.metrics.clone(),
            clock: self.clock.clone(),
            closer_last_run: self.closer_last_run.clone(),
            // Validated when the config was loaded.
            tz: self.config.campus_tz().unwrap_or(chrono_tz::UTC),
        }
    }

    /// What the alert job reads.
    pub fn alert_handles(&self) -> crate::alerts::Handles {
        crate::alerts::Handles {
            store: self.store.clone(),
            config: self.config.alerts.clone(),
            stale_after_minutes: self.config.batch.stale_after_minutes,
            data_dir: self.config.storage.data_dir.clone(),
            started: self.started,
            closer_last_run: self.closer_last_run.clone(),
            metrics: self.metrics.clone(),
            backups: self.backups.clone(),
            mail: self.mail.clone(),
            feed: self.alerts.clone(),
        }
    }

    /// What the metrics rollups and the order recount use.
    pub fn history_handles(&self) -> crate::metrics::history::Handles {
        crate::metrics::history::Handles {
            store: self.store.clone(),
            config: self.config.metrics.clone(),
            metrics: self.metrics.clone(),
            events: self.events.clone(),
            data_dir: self.config.storage.data_dir.clone(),
            mail: self.mail.clone(),
            mail_seen: Default::default(),
        }
    }

    /// What `/metrics` reads its gauges from.
    pub fn metrics_sources(&self) -> crate::metrics::Sources<'_> {
        crate::metrics::Sources {
            store: &self.store,
            data_dir: &self.config.storage.data_dir,
            closer_last_run: &self.closer_last_run,
            events: &self.events,
            backups: &self.backups,
            mail: &self.mail,
        }
    }
}

/// Opens the store with the configured writer options.
pub fn open_store(config: &Config) -> anyhow::Result<Store> {
    Ok(Store::open_configured(&config.storage)?)
}

pub use crate::store::disk_space;

pub struct Application {
    acceptor: poem::listener::BoxAcceptor,
    gate: Arc<crate::net::Gate>,
    addr: SocketAddr,
    state: Arc<AppState>,
    setup_token: Option<String>,
}

impl Application {
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let config = Arc::new(config);
        let store = open_store(&config)?;
        let auth = AuthService::new(
            store.clone(),
            Hasher::new(
                config.auth.password_hash_concurrency,
                config.auth.signup_hash_concurrency,
            )?,
            LoginThrottle::new(
                config.auth.login_attempts_per_ip_per_minute,
                config.auth.login_attempts_per_account_per_minute,
                config
                    .auth
                    .login_attempts_per_account_all_networks_per_minute,
            ),
            SignupThrottle::new(
                config.auth.registrations_per_ip_per_hour,
                config.auth.registrations_per_hour,
            ),
            config.auth.session_ttl_hours,
            config.campus.allowed_email_domains.clone(),
        );
        let files = crate::files::Files::open(&config.storage.data_dir, config.files.clone())
            .map_err(|e| {
                anyhow::anyhow!(
                    "file store under {}: {e}",
                    config.storage.data_dir.display()
                )
            })?;
        let state = Arc::new(AppState {
            config: config.clone(),
            store: store.clone(),
            auth,
            started: Instant::now(),
            closer_last_run: Arc::new(AtomicI64::new(0)),
            events: Arc::new(crate::events::Hub::new()),
            metrics: Arc::new(crate::metrics::Metrics::new()?),
            backups: Arc::new(crate::backup::Backups::new(&config)?),
            clock: Arc::new(crate::clock::Clock::default()),
            mail: Arc::new(crate::mail::MailStats::default()),
            alerts: Arc::new(crate::alerts::Feed::default()),
            search: crate::search::Search::start(
                store.clone(),
                &config.storage.data_dir,
                crate::search::options(&config.search),
            )?,
            files,
        });
        // Before the listener: 10,000 event streams need more than the
        // 1,024 files most systems allow by default.
        let nofile = crate::net::raise_nofile_limit();
        let limits = crate::net::Limits::new(&config, nofile.map(|(soft, _)| soft))?;
        if limits.max_connections < config.server.max_connections {
            tracing::warn!(
                configured = config.server.max_connections,
                effective = limits.max_connections,
                open_files = nofile.map(|(soft, _)| soft),
                "server.max_connections lowered to fit the open-file limit (raise LimitNOFILE)"
            );
        }
        let gate = crate::net::Gate::new(limits);
        let tcp = TcpListener::bind(config.bind_addr()?)
            .into_acceptor()
            .await?;
        let tcp = crate::net::LimitedAcceptor::new(tcp, gate.clone());
        let addr = tcp
            .local_addr()
            .first()
            .and_then(|a| a.as_socket_addr().copied())
            .ok_or_else(|| anyhow::anyhow!("no local address"))?;
        let acceptor = match (&config.server.tls_cert, &config.server.tls_key) {
            (Some(cert), Some(key)) => {
                let cert_pem = std::fs::read(cert)
                    .map_err(|e| anyhow::anyhow!("server.tls_cert {}: {e}", cert.display()))?;
                let key_pem = std::fs::read(key)
                    .map_err(|e| anyhow::anyhow!("server.tls_key {}: {e}", key.display()))?;
                let tls = RustlsConfig::new()
                    .fallback(RustlsCertificate::new().cert(cert_pem).key(key_pem));
                // Validates the certificate and key now, not at the first handshake.
                let stream = tls
                    .into_stream()
                    .map_err(|e| anyhow::anyhow!("server.tls_cert/tls_key: {e}"))?;
                tcp.rustls(stream).boxed()
            }
            _ => tcp.boxed(),
        };
        if !state.search.wait_ready(Duration::from_secs(5)).await {
            tracing::warn!("search is not ready yet; it answers 503 until the index is built");
        }
        let setup_token = state.auth.first_admin_token().await?;
        Ok(Self {
            acceptor,
            gate,
            addr,
            state,
            setup_token,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn state(&self) -> Arc<AppState> {
        self.state.clone()
    }

    /// The connection caps in effect (`server.max_connections` lowered to
    /// the open-file limit) and how many connections are open.
    pub fn connections(&self) -> Arc<crate::net::Gate> {
        self.gate.clone()
    }

    /// The one-time first-admin link, when no admin exists yet.
    pub fn first_admin_link(&self) -> Option<String> {
        let base = if self.state.config.server.public_url.is_empty() {
            let scheme = if self.state.config.tls_enabled() {
                "https"
            } else {
                "http"
            };
            format!("{scheme}://{}", self.addr)
        } else {
            self.state.config.public_url()
        };
        self.setup_token
            .as_ref()
            .map(|t| format!("{base}/setup?token={t}"))
    }

    /// Serves until `shutdown` resolves (or the store fails), then finishes
    /// in-flight requests — and with them their pending commits.
    pub async fn run_until(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let state = self.state.clone();
        let store = state.store.clone();
        let timeout = Duration::from_secs(state.config.server.shutdown_timeout_secs);
        let app = crate::http::routes(state.clone());
        let store_failed = store.clone();
        let hub = state.events.clone();
        let signal = async move {
            tokio::select! {
                _ = shutdown => tracing::info!("shutting down"),
                _ = store_failed.failed() => tracing::error!("the store cannot be reopened; shutting down for a restart"),
            }
            // Open SSE streams never finish by themselves; end them first.
            hub.shutdown.cancel();
        };
        let tailer = tokio::spawn(crate::events::tail(store.clone(), state.events.clone()));
        let sweeper = {
            let state = state.clone();
            tokio::spawn(async move {
                let mut every = tokio::time::interval(Duration::from_secs(
                    u64::from(crate::housekeeping::EVERY_MINUTES) * 60,
                ));
                loop {
                    every.tick().await;
                    state.auth.sweep_throttles();
                    crate::housekeeping::run(
                        &state.store,
                        &state.config.housekeeping,
                        chrono::Duration::hours(state.config.events.retention_hours.into()),
                        state.clock.now(),
                    )
                    .await;
                }
            })
        };
        // Catch up on cutoffs missed while the server was down, then tick.
        // The closer's handles: its scheduled runs stop when these drop.
        let jobs = Arc::new(state.job_handles());
        let caught_up = crate::jobs::lock_due_batches(&jobs, state.clock.now()).await;
        if caught_up.locked > 0 {
            tracing::info!(
                locked = caught_up.locked,
                "closed batches whose cutoff passed while down"
            );
        }
        let mut scheduler = crate::jobs::start(&jobs).await?;
        let ops_stop = tokio_util::sync::CancellationToken::new();
        let ops_jobs = [
            tokio::spawn(crate::metrics::history::run(
                state.history_handles(),
                ops_stop.clone(),
            )),
            tokio::spawn(
                state
                    .backups
                    .clone()
                    .schedule_loop(store.clone(), ops_stop.clone()),
            ),
        ];
        // Background tasks that end with the server (not on the SSE token:
        // that one is cancelled first, while requests still finish).
        let background = tokio_util::sync::CancellationToken::new();
        let mailer = tokio::spawn(crate::mail::worker::run(
            store.clone(),
            state.config.clone(),
            state.mail.clone(),
            background.clone(),
        ));
        let alerter = tokio::spawn(crate::alerts::run(
            state.alert_handles(),
            background.clone(),
        ));
        let files_gc = crate::files::spawn_gc(state.store.clone(), state.files.clone());
        let limits = self.gate.limits();
        tracing::info!(
            max_connections = limits.max_connections,
            max_connections_per_address = limits.max_per_address,
            header_timeout_secs = state.config.server.header_timeout_secs,
            idle_timeout_secs = state.config.server.idle_timeout_secs,
            open_files = crate::net::nofile_limit().map(|(soft, _)| soft),
            "connection limits"
        );
        tracing::info!(addr = %self.addr, "serving");
        let served = crate::net::serve(
            self.acceptor,
            app,
            crate::net::Timeouts::from_config(&state.config),
            signal,
            timeout,
        )
        .await;
        sweeper.abort();
        ops_stop.cancel();
        for j in ops_jobs {
            let _ = j.await;
        }
        background.cancel();
        // A send in flight may finish (it is bounded by its timeout), so
        // the mail it carries is marked sent rather than sent twice.
        let grace = Duration::from_secs(state.config.mail.send_timeout_secs.min(10));
        for task in [mailer, alerter] {
            let abort = task.abort_handle();
            if tokio::time::timeout(grace, task).await.is_err() {
                abort.abort();
            }
        }
        files_gc.abort();
        state.events.shutdown.cancel();
        let _ = tailer.await;
        let _ = scheduler.shutdown().await;
        // Commits what the indexer holds; the queue would replay it anyway.
        let search = state.search.clone();
        let _ = tokio::task::spawn_blocking(move || search.shutdown()).await;
        // Only now: no task may keep the store open after a failed serve.
        served?;
        // Nothing else to flush: every acknowledged write was committed
        // before its answer was sent.
        if !store.is_healthy() {
            anyhow::bail!("the store could not be reopened; exiting so the service restarts");
        }
        Ok(())
    }
}

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
