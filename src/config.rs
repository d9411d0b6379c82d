//! Configuration: defaults < TOML file < `UPHILL_SECTION__KEY` environment <
//! command-line flags. Unknown keys and bad values are errors that name the
//! key. Secrets can come from files (`*_file` keys, e.g. systemd credentials).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

pub const DEFAULT_CONFIG_PATH: &str = "/etc/uphill/config.toml";
pub const EXAMPLE: &str = include_str!("../config.example.toml");

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{origin}: {message}")]
    Syntax { origin: String, message: String },
    #[error("config key `{key}`: {message}")]
    Key { key: String, message: String },
    #[error("environment variable {var}: {message}")]
    Env { var: String, message: String },
}

fn key_err(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Key {
        key: key.into(),
        message: message.into(),
    }
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub storage: StorageConfig,
    pub campus: CampusConfig,
    pub auth: AuthConfig,
    pub log: LogConfig,
    pub smtp: SmtpConfig,
    pub batch: BatchConfig,
    pub events: EventsConfig,
    pub housekeeping: HousekeepingConfig,
    pub backup: BackupConfig,
    pub metrics: MetricsConfig,
    pub mail: MailConfig,
    pub alerts: AlertsConfig,
    pub search: SearchConfig,
    pub files: FilesConfig,
    pub uploads: UploadsConfig,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct BackupConfig {
    /// When scheduled backups run: cron with a seconds field, in
    /// `campus.timezone`. Empty: only on demand.
    pub cron: String,
    /// Where archives go; unset means `<data_dir>/backups`.
    pub dir: Option<PathBuf>,
    /// Retention: the newest backup of each of this many days, ISO weeks
    /// and months (0–1000 each).
    pub keep_daily: u32,
    pub keep_weekly: u32,
    pub keep_monthly: u32,
}

impl Default for BackupConfig {
    fn default() -> Self {
        Self {
            cron: "0 0 3 * * *".into(),
            dir: None,
            keep_daily: 7,
            keep_weekly: 4,
            keep_monthly: 6,
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct MailConfig {
    /// Tries before a mail the SMTP server keeps refusing is dead-lettered
    /// (1–50). Time with the server unreachable does not use tries up.
    pub max_attempts: u32,
    /// Wait before the first retry; doubled after each failed try (1–86400 s).
    pub retry_base_secs: u64,
    /// Longest wait between tries (1–86400 s).
    pub retry_max_secs: u64,
    /// Longest one SMTP conversation may take (1–300 s).
    pub send_timeout_secs: u64,
}

impl Default for MailConfig {
    fn default() -> Self {
        Self {
            max_attempts: 8,
            retry_base_secs: 60,
            retry_max_secs: 3600,
            send_timeout_secs: 30,
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Serve `/metrics` without a token to loopback peers that are not
    /// listed in `server.trusted_proxies`.
    pub loopback_without_token: bool,
    /// Seconds between history rollups (1–3600; one minute in production).
    pub rollup_secs: u64,
    /// Seconds between recounts of orders by status (10–86400).
    pub refresh_secs: u64,
    /// Days of rollups kept (1–90).
    pub history_days: u32,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            loopback_without_token: true,
            rollup_secs: 60,
            refresh_secs: 60,
            history_days: 7,
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertsConfig {
    /// Seconds between evaluations of the alert rules (1–3600).
    pub interval_secs: u64,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        Self { interval_secs: 60 }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SearchConfig {
    /// Most milliseconds between a change and the index commit that makes
    /// it searchable, while changes are pending (50–900).
    pub commit_interval_ms: u64,
    /// Memory budget of the live index writer, in MB (15–1024).
    pub writer_heap_mb: usize,
    /// Memory budget of a full rebuild, in MB (32–4096); more is faster.
    pub rebuild_heap_mb: usize,
}

impl Default for SearchConfig {
    fn default() -> Self {
        Self {
            commit_interval_ms: 250,
            writer_heap_mb: 20,
            rebuild_heap_mb: 256,
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct FilesConfig {
    /// Largest accepted image file, in bytes (1 KiB to 64 MiB).
    pub max_upload_bytes: usize,
    /// Most pixels (width x height) an image may have; larger ones are
    /// refused from their header, before decoding (1 to 100,000,000).
    pub max_pixels: u64,
    /// Images decoded and encoded at once; the rest wait (1 to 16).
    pub processing_concurrency: usize,
    /// Hours an upload may go unreferenced before it is removed (1 to 720).
    pub gc_grace_hours: u32,
    /// Minutes between passes of the file collector (1 to 1440).
    pub gc_interval_minutes: u32,
}

impl Default for FilesConfig {
    fn default() -> Self {
        Self {
            max_upload_bytes: 8 * 1024 * 1024,
            max_pixels: 25_000_000,
            processing_concurrency: 2,
            gc_grace_hours: 6,
            gc_interval_minutes: 60,
        }
    }
}

/// Per-user upload quotas (`POST /api/v1/uploads`); over them: 429 with
/// `Retry-After`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct UploadsConfig {
    /// Upload requests one user may make per rolling hour (1 to 10,000).
    pub per_user_per_hour: u32,
    /// Bytes one user may upload per rolling 24 hours (at least
    /// `files.max_upload_bytes`, at most 64 GiB).
    pub per_user_bytes_per_day: u64,
    /// Images the owner of a shop that is not verified yet may have stored
    /// (0 to 1,000): enough to set the shop up before an admin verifies it.
    pub unverified_shop_max_images: u32,
}

impl Default for UploadsConfig {
    fn default() -> Self {
        Self {
            per_user_per_hour: 30,
            per_user_bytes_per_day: 256 * 1024 * 1024,
            unverified_shop_max_images: 5,
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct EventsConfig {
    /// Seconds between heartbeat comments on an idle SSE stream (1–300).
    pub heartbeat_secs: u64,
    /// How long the event log keeps events for replay (24–720 hours).
    pub retention_hours: u32,
    /// Open SSE streams one user may hold at once (1–100); opening one more
    /// ends the user's oldest.
    pub max_streams_per_user: u32,
}

impl Default for EventsConfig {
    fn default() -> Self {
        Self {
            heartbeat_secs: 15,
            retention_hours: 48,
            max_streams_per_user: 5,
        }
    }
}

/// The sweeps of old records (`housekeeping`), run every 10 minutes.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct HousekeepingConfig {
    /// Days a read notification is kept (7–3650); unread ones stay.
    pub notification_days: u32,
    /// Days a cart nobody changed is kept (1–365).
    pub cart_days: u32,
}

impl Default for HousekeepingConfig {
    fn default() -> Self {
        Self {
            notification_days: 90,
            cart_days: 30,
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct BatchConfig {
    /// When the batch closer runs: a cron expression with a seconds field,
    /// in UTC (slot cutoffs carry the campus time zone, not this).
    pub closer_cron: String,
    /// Digits of a delivery OTP (4–8).
    pub otp_digits: u8,
    /// Wrong OTP tries per order (never reset) before the order locks and
    /// only an admin can settle it.
    pub otp_max_attempts: u8,
    /// Delivery tries (right or wrong) one staff member may make a minute.
    pub deliver_per_minute: u32,
    /// A LOCKED batch idle this long warns its vendor, once.
    pub stale_after_minutes: u32,
    /// This long before a batch's cutoff, students with a non-empty cart
    /// at its shop and no order in it are reminded, once.
    pub reminder_lead_minutes: u32,
}

impl Default for BatchConfig {
    fn default() -> Self {
        Self {
            closer_cron: "0 * * * * *".into(),
            otp_digits: 4,
            otp_max_attempts: 5,
            deliver_per_minute: 30,
            stale_after_minutes: 30,
            reminder_lead_minutes: 15,
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    pub bind: String,
    /// Base URL used in links we print or mail; empty means derived from `bind`.
    pub public_url: String,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Peers whose `X-Forwarded-For` is believed (IPs or CIDRs).
    pub trusted_proxies: Vec<String>,
    /// Largest accepted JSON request body, in bytes.
    pub body_limit_bytes: usize,
    pub shutdown_timeout_secs: u64,
    /// Most connections open at once (TLS or not); more are closed as soon
    /// as they are accepted. Lowered at start to the open-file limit less a
    /// reserve for the store, index and logs.
    pub max_connections: usize,
    /// Most connections open at once from one client address (an IPv6
    /// client counts by its /64).
    pub max_connections_per_address: usize,
    /// Addresses (IPs or CIDRs) without a per-address cap, besides
    /// `trusted_proxies`: loopback by default (a local reverse proxy, the
    /// benchmarks).
    pub per_address_exempt: Vec<String>,
    /// Seconds a connection has to deliver a complete request head: from
    /// accept (TLS handshake included) for the first request, from the end
    /// of the previous response for the next ones on a kept-alive HTTP/1
    /// connection.
    pub header_timeout_secs: u64,
    /// A connection that neither sends nor receives a byte for this long is
    /// closed once its requests are answered, and dropped after twice this
    /// long. Must exceed `events.heartbeat_secs` so live streams stay open.
    pub idle_timeout_secs: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:8080".into(),
            public_url: String::new(),
            tls_cert: None,
            tls_key: None,
            trusted_proxies: Vec::new(),
            body_limit_bytes: 64 * 1024,
            shutdown_timeout_secs: 10,
            max_connections: 16_384,
            max_connections_per_address: 512,
            per_address_exempt: vec!["127.0.0.0/8".into(), "::1".into()],
            header_timeout_secs: 10,
            idle_timeout_secs: 60,
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    pub data_dir: PathBuf,
    /// Commit many requests' writes in one transaction. Off only to measure.
    pub group_commit: bool,
    /// Most write commands in one group.
    pub max_group: usize,
    /// Writes are refused (507) while the data directory's file system has
    /// less than this many MiB free, so a filling disk never fails a commit
    /// half-way. 0 disables the check.
    pub min_free_mb: u64,
    /// The store's page cache, in MiB (4–16384): hot pages stay in memory
    /// up to this; the OS file cache holds the rest.
    pub cache_mb: u64,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./uphill-data"),
            group_commit: true,
            max_group: 512,
            min_free_mb: 64,
            cache_mb: 64,
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct CampusConfig {
    pub name: String,
    pub timezone: String,
    pub currency: String,
    /// When non-empty, only these email domains may register.
    pub allowed_email_domains: Vec<String>,
}

impl Default for CampusConfig {
    fn default() -> Self {
        Self {
            name: "Uphill Campus".into(),
            timezone: "Asia/Kolkata".into(),
            currency: "INR".into(),
            allowed_email_domains: Vec::new(),
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    pub session_ttl_hours: u64,
    pub login_attempts_per_ip_per_minute: u32,
    /// Attempts at one account from one client network (an IPv4 address
    /// or an IPv6 /64): what a stranger alone can use up.
    pub login_attempts_per_account_per_minute: u32,
    /// Attempts at one account from all networks together.
    pub login_attempts_per_account_all_networks_per_minute: u32,
    /// Password checks at sign-in computed at once; the rest wait, so logins
    /// never starve the API of CPU.
    pub password_hash_concurrency: usize,
    /// Password hashes for registration, reset and setup computed at once,
    /// apart from the sign-in ones: a wave of sign-ups cannot slow sign-in.
    pub signup_hash_concurrency: usize,
    /// Registrations per client network (IPv4 address or IPv6 /64) per
    /// hour, a tenth of them at once.
    pub registrations_per_ip_per_hour: u32,
    /// Registrations per hour from everyone together, a tenth at once.
    pub registrations_per_hour: u32,
    /// Setting this `true` marks the session cookie `Secure` even without TLS
    /// here (when a TLS proxy sits in front).
    pub secure_cookies: bool,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            session_ttl_hours: 24 * 30,
            login_attempts_per_ip_per_minute: 30,
            login_attempts_per_account_per_minute: 5,
            login_attempts_per_account_all_networks_per_minute: 60,
            password_hash_concurrency: 2,
            signup_hash_concurrency: 1,
            registrations_per_ip_per_hour: 60,
            registrations_per_hour: 600,
            secure_cookies: false,
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Human,
    Json,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// Directory of the daily log files; empty means `<data_dir>/logs`.
    pub dir: Option<PathBuf>,
    pub format: LogFormat,
    /// A tracing filter such as `info` or `uphill=debug,info`.
    pub level: String,
    pub retention_days: usize,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            dir: None,
            format: LogFormat::Human,
            level: "info".into(),
            retention_days: 14,
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SmtpSecurity {
    /// Plain SMTP, for a relay on the same host.
    None,
    Starttls,
    /// Implicit TLS (port 465), through rustls.
    Tls,
}

#[derive(Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmtpConfig {
    /// Empty: mail waits in the outbox until SMTP is configured.
    pub host: String,
    pub port: Option<u16>,
    pub security: Option<SmtpSecurity>,
    pub username: String,
    pub password: String,
    /// Read the password from this file instead (systemd credentials).
    pub password_file: Option<PathBuf>,
    pub from: String,
    /// Extra PEM CA certificates to trust (a campus CA), besides the
    /// built-in Mozilla roots.
    pub ca_file: Option<PathBuf>,
}

impl SmtpConfig {
    /// The effective security: STARTTLS unless set, so credentials never
    /// travel in clear by default.
    pub fn security(&self) -> SmtpSecurity {
        self.security.clone().unwrap_or(SmtpSecurity::Starttls)
    }

    /// The effective port: the configured one, or the usual one for the
    /// security mode.
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(match self.security() {
            SmtpSecurity::None => 25,
            SmtpSecurity::Starttls => 587,
            SmtpSecurity::Tls => 465,
        })
    }
}

impl std::fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("username", &self.username)
            .field("password", &redact(&self.password))
            .field("password_file", &self.password_file)
            .field("from", &self.from)
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

fn redact(s: &str) -> &'static str {
    if s.is_empty() { "" } else { "<redacted>" }
}

/// What the command line may override (the highest layer).
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub bind: Option<String>,
    pub data_dir: Option<PathBuf>,
}

impl Config {
    /// Loads the layers. `file` is `--config`; without it the system path is
    /// used when it exists, and otherwise the embedded defaults alone.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
        overrides: &Overrides,
    ) -> Result<Config, ConfigError> {
        let mut tree = toml::Table::new();
        let path = match file {
            Some(p) => Some(p.to_path_buf()),
            None if Path::new(DEFAULT_CONFIG_PATH).exists() => Some(DEFAULT_CONFIG_PATH.into()),
            None => None,
        };
        if let Some(path) = &path {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.clone(),
                source,
            })?;
            tree = text
                .parse::<toml::Table>()
                .map_err(|e| ConfigError::Syntax {
                    origin: path.display().to_string(),
                    message: e.to_string(),
                })?;
        }
        apply_env(&mut tree, env)?;
        let mut config = Self::from_table(tree)?;
        if let Some(b) = &overrides.bind {
            config.server.bind = b.clone();
        }
        if let Some(d) = &overrides.data_dir {
            config.storage.data_dir = d.clone();
        }
        config.resolve_secrets()?;
        config.validate()?;
        Ok(config)
    }

    /// Parses config text and `UPHILL_*` variables the way `load` does, minus
    /// the file system: `*_file` secrets are not read. The parser the fuzz
    /// targets and property tests drive; it must never panic.
    pub fn from_toml(
        text: &str,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let mut tree = text
            .parse::<toml::Table>()
            .map_err(|e| ConfigError::Syntax {
                origin: "config".into(),
                message: e.to_string(),
            })?;
        apply_env(&mut tree, env)?;
        let config = Self::from_table(tree)?;
        config.validate()?;
        Ok(config)
    }

    fn from_table(tree: toml::Table) -> Result<Config, ConfigError> {
        serde_path_to_error::deserialize(toml::Value::Table(tree)).map_err(|e| {
            let key = e.path().to_string();
            let message = e.into_inner().to_string();
            // serde names unknown fields in its message; keep the path too.
            key_err(&key, message)
        })
    }

    fn resolve_secrets(&mut self) -> Result<(), ConfigError> {
        if let Some(p) = &self.smtp.password_file {
            if !self.smtp.password.is_empty() {
                return Err(key_err(
                    "smtp.password_file",
                    "set either smtp.password or smtp.password_file, not both",
                ));
            }
            let s = std::fs::read_to_string(p)
                .map_err(|e| key_err("smtp.password_file", format!("{}: {e}", p.display())))?;
            self.smtp.password = s.trim_end_matches(['\r', '\n']).to_string();
        }
        Ok(())
    }

    /// Checks what serde cannot: values that parse but make no sense.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.bind_addr()?;
        self.campus_tz()?;
        self.trusted_proxies()?;
        self.per_address_exempt()?;
        if !(1..=1_000_000).contains(&self.server.max_connections) {
            return Err(key_err("server.max_connections", "must be 1 to 1000000"));
        }
        if !(1..=1_000_000).contains(&self.server.max_connections_per_address) {
            return Err(key_err(
                "server.max_connections_per_address",
                "must be 1 to 1000000",
            ));
        }
        if !(1..=300).contains(&self.server.header_timeout_secs) {
            return Err(key_err("server.header_timeout_secs", "must be 1 to 300"));
        }
        if !(2..=3600).contains(&self.server.idle_timeout_secs) {
            return Err(key_err("server.idle_timeout_secs", "must be 2 to 3600"));
        }
        if self.server.idle_timeout_secs <= self.events.heartbeat_secs {
            return Err(key_err(
                "server.idle_timeout_secs",
                format!(
                    "must exceed events.heartbeat_secs ({}), or idle event streams are cut",
                    self.events.heartbeat_secs
                ),
            ));
        }
        if self.server.tls_cert.is_some() != self.server.tls_key.is_some() {
            return Err(key_err(
                "server.tls_cert",
                "set both server.tls_cert and server.tls_key, or neither",
            ));
        }
        if !(1024..=16 * 1024 * 1024).contains(&self.server.body_limit_bytes) {
            return Err(key_err(
                "server.body_limit_bytes",
                "must be between 1024 and 16777216",
            ));
        }
        if self.storage.max_group == 0 || self.storage.max_group > 10_000 {
            return Err(key_err("storage.max_group", "must be between 1 and 10000"));
        }
        if self.storage.min_free_mb > 1024 * 1024 {
            return Err(key_err(
                "storage.min_free_mb",
                "must be between 0 and 1048576 (1 TiB)",
            ));
        }
        if !(4..=16 * 1024).contains(&self.storage.cache_mb) {
            return Err(key_err("storage.cache_mb", "must be 4 to 16384"));
        }
        if self.storage.data_dir.as_os_str().is_empty() {
            return Err(key_err("storage.data_dir", "must not be empty"));
        }
        if crate::domain::money::Currency::parse(&self.campus.currency).is_none() {
            return Err(key_err(
                "campus.currency",
                "must be a three-letter ISO 4217 code such as INR",
            ));
        }
        for d in &self.campus.allowed_email_domains {
            if d.is_empty() || d.contains('@') || !d.contains('.') {
                return Err(key_err(
                    "campus.allowed_email_domains",
                    format!("`{d}` is not a domain such as example.edu"),
                ));
            }
        }
        if self.auth.password_hash_concurrency == 0 {
            return Err(key_err(
                "auth.password_hash_concurrency",
                "must be at least 1",
            ));
        }
        if self.auth.login_attempts_per_ip_per_minute == 0
            || self.auth.login_attempts_per_account_per_minute == 0
        {
            return Err(key_err("auth.login_attempts_per_*", "must be at least 1"));
        }
        if self.auth.login_attempts_per_account_all_networks_per_minute
            < self.auth.login_attempts_per_account_per_minute
        {
            return Err(key_err(
                "auth.login_attempts_per_account_all_networks_per_minute",
                "must be at least auth.login_attempts_per_account_per_minute",
            ));
        }
        if self.auth.signup_hash_concurrency == 0 {
            return Err(key_err(
                "auth.signup_hash_concurrency",
                "must be at least 1",
            ));
        }
        if self.auth.registrations_per_ip_per_hour == 0 || self.auth.registrations_per_hour == 0 {
            return Err(key_err("auth.registrations_per_*", "must be at least 1"));
        }
        if self.auth.session_ttl_hours == 0 {
            return Err(key_err("auth.session_ttl_hours", "must be at least 1"));
        }
        if !(4..=8).contains(&self.batch.otp_digits) {
            return Err(key_err("batch.otp_digits", "must be 4 to 8"));
        }
        if !(1..=20).contains(&self.batch.otp_max_attempts) {
            return Err(key_err("batch.otp_max_attempts", "must be 1 to 20"));
        }
        if !(1..=10_000).contains(&self.batch.deliver_per_minute) {
            return Err(key_err("batch.deliver_per_minute", "must be 1 to 10000"));
        }
        if !(1..=300).contains(&self.events.heartbeat_secs) {
            return Err(key_err("events.heartbeat_secs", "must be 1 to 300"));
        }
        if !(7..=3650).contains(&self.housekeeping.notification_days) {
            return Err(key_err(
                "housekeeping.notification_days",
                "must be 7 to 3650",
            ));
        }
        if !(1..=365).contains(&self.housekeeping.cart_days) {
            return Err(key_err("housekeeping.cart_days", "must be 1 to 365"));
        }
        if !(24..=720).contains(&self.events.retention_hours) {
            return Err(key_err("events.retention_hours", "must be 24 to 720"));
        }
        if !(1..=100).contains(&self.events.max_streams_per_user) {
            return Err(key_err("events.max_streams_per_user", "must be 1 to 100"));
        }
        if !(1..=50).contains(&self.mail.max_attempts) {
            return Err(key_err("mail.max_attempts", "must be 1 to 50"));
        }
        for (key, v) in [
            ("mail.retry_base_secs", self.mail.retry_base_secs),
            ("mail.retry_max_secs", self.mail.retry_max_secs),
        ] {
            if !(1..=86_400).contains(&v) {
                return Err(key_err(key, "must be 1 to 86400"));
            }
        }
        if !(1..=300).contains(&self.mail.send_timeout_secs) {
            return Err(key_err("mail.send_timeout_secs", "must be 1 to 300"));
        }
        if !(1..=3600).contains(&self.alerts.interval_secs) {
            return Err(key_err("alerts.interval_secs", "must be 1 to 3600"));
        }
        if !self.smtp.from.is_empty() {
            self.smtp
                .from
                .parse::<lettre::message::Mailbox>()
                .map_err(|e| {
                    key_err(
                        "smtp.from",
                        format!("`{}` is not a mailbox ({e})", self.smtp.from),
                    )
                })?;
        }
        if let Some(ca) = &self.smtp.ca_file
            && !ca.is_file()
        {
            return Err(key_err(
                "smtp.ca_file",
                format!("{} is not a readable file", ca.display()),
            ));
        }
        if !(50..=900).contains(&self.search.commit_interval_ms) {
            return Err(key_err("search.commit_interval_ms", "must be 50 to 900"));
        }
        if !(15..=1024).contains(&self.search.writer_heap_mb) {
            return Err(key_err("search.writer_heap_mb", "must be 15 to 1024"));
        }
        if !(32..=4096).contains(&self.search.rebuild_heap_mb) {
            return Err(key_err("search.rebuild_heap_mb", "must be 32 to 4096"));
        }
        if !(1024..=64 * 1024 * 1024).contains(&self.files.max_upload_bytes) {
            return Err(key_err(
                "files.max_upload_bytes",
                "must be between 1024 and 67108864",
            ));
        }
        if !(1..=100_000_000).contains(&self.files.max_pixels) {
            return Err(key_err("files.max_pixels", "must be 1 to 100000000"));
        }
        if !(1..=16).contains(&self.files.processing_concurrency) {
            return Err(key_err("files.processing_concurrency", "must be 1 to 16"));
        }
        if !(1..=720).contains(&self.files.gc_grace_hours) {
            return Err(key_err("files.gc_grace_hours", "must be 1 to 720"));
        }
        if !(1..=10_000).contains(&self.uploads.per_user_per_hour) {
            return Err(key_err("uploads.per_user_per_hour", "must be 1 to 10000"));
        }
        if !(self.files.max_upload_bytes as u64..=64 << 30)
            .contains(&self.uploads.per_user_bytes_per_day)
        {
            return Err(key_err(
                "uploads.per_user_bytes_per_day",
                "must be at least files.max_upload_bytes and at most 68719476736",
            ));
        }
        if self.uploads.unverified_shop_max_images > 1000 {
            return Err(key_err(
                "uploads.unverified_shop_max_images",
                "must be 0 to 1000",
            ));
        }
        if !(1..=1440).contains(&self.files.gc_interval_minutes) {
            return Err(key_err("files.gc_interval_minutes", "must be 1 to 1440"));
        }
        if self.batch.stale_after_minutes == 0 {
            return Err(key_err("batch.stale_after_minutes", "must be at least 1"));
        }
        if !(1..=1440).contains(&self.batch.reminder_lead_minutes) {
            return Err(key_err("batch.reminder_lead_minutes", "must be 1 to 1440"));
        }
        tokio_cron_scheduler::Job::new_async(self.batch.closer_cron.as_str(), |_, _| {
            Box::pin(async {})
        })
        .map_err(|e| {
            key_err(
                "batch.closer_cron",
                format!(
                    "`{}` is not a cron expression with seconds ({e})",
                    self.batch.closer_cron
                ),
            )
        })?;
        if !self.backup.cron.trim().is_empty() {
            crate::backup::parse_cron(&self.backup.cron).map_err(|e| {
                key_err(
                    "backup.cron",
                    format!(
                        "`{}` is not a cron expression with seconds ({e})",
                        self.backup.cron
                    ),
                )
            })?;
        }
        for (key, v) in [
            ("backup.keep_daily", self.backup.keep_daily),
            ("backup.keep_weekly", self.backup.keep_weekly),
            ("backup.keep_monthly", self.backup.keep_monthly),
        ] {
            if v > 1000 {
                return Err(key_err(key, "must be 0 to 1000"));
            }
        }
        if self.backup.keep_daily + self.backup.keep_weekly + self.backup.keep_monthly == 0 {
            return Err(key_err(
                "backup.keep_daily",
                "retention keeps nothing; keep at least one backup",
            ));
        }
        if !(1..=3600).contains(&self.metrics.rollup_secs) {
            return Err(key_err("metrics.rollup_secs", "must be 1 to 3600"));
        }
        if !(10..=86_400).contains(&self.metrics.refresh_secs) {
            return Err(key_err("metrics.refresh_secs", "must be 10 to 86400"));
        }
        if !(1..=90).contains(&self.metrics.history_days) {
            return Err(key_err("metrics.history_days", "must be 1 to 90"));
        }
        tracing_subscriber::EnvFilter::try_new(&self.log.level)
            .map_err(|e| key_err("log.level", e.to_string()))?;
        if self.log.retention_days == 0 {
            return Err(key_err("log.retention_days", "must be at least 1"));
        }
        Ok(())
    }

    pub fn bind_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.server.bind.parse().map_err(|_| {
            key_err(
                "server.bind",
                format!(
                    "`{}` is not an address such as 127.0.0.1:8080",
                    self.server.bind
                ),
            )
        })
    }

    /// `campus.currency`, validated when the config was loaded.
    pub fn currency(&self) -> crate::domain::money::Currency {
        crate::domain::money::Currency::parse(&self.campus.currency)
            .unwrap_or(crate::domain::money::Currency::INR)
    }

    pub fn campus_tz(&self) -> Result<chrono_tz::Tz, ConfigError> {
        self.campus.timezone.parse().map_err(|_| {
            key_err(
                "campus.timezone",
                format!(
                    "`{}` is not an IANA time zone such as Asia/Kolkata",
                    self.campus.timezone
                ),
            )
        })
    }

    pub fn trusted_proxies(&self) -> Result<Vec<IpNet>, ConfigError> {
        Self::parse_nets("server.trusted_proxies", &self.server.trusted_proxies)
    }

    /// Addresses without a per-address connection cap: `per_address_exempt`
    /// and the trusted proxies (every client behind a proxy shares its address).
    pub fn per_address_exempt(&self) -> Result<Vec<IpNet>, ConfigError> {
        let mut nets =
            Self::parse_nets("server.per_address_exempt", &self.server.per_address_exempt)?;
        nets.extend(self.trusted_proxies()?);
        Ok(nets)
    }

    fn parse_nets(key: &str, list: &[String]) -> Result<Vec<IpNet>, ConfigError> {
        list.iter()
            .map(|s| {
                s.parse::<IpNet>()
                    .or_else(|_| s.parse::<std::net::IpAddr>().map(IpNet::from))
                    .map_err(|_| key_err(key, format!("`{s}` is not an IP address or CIDR")))
            })
            .collect()
    }

    pub fn tls_enabled(&self) -> bool {
        self.server.tls_cert.is_some()
    }

    pub fn log_dir(&self) -> PathBuf {
        self.log
            .dir
            .clone()
            .unwrap_or_else(|| self.storage.data_dir.join("logs"))
    }

    pub fn backup_dir(&self) -> PathBuf {
        self.backup
            .dir
            .clone()
            .unwrap_or_else(|| self.storage.data_dir.join("backups"))
    }

    pub fn public_url(&self) -> String {
        if !self.server.public_url.is_empty() {
            return self.server.public_url.trim_end_matches('/').to_string();
        }
        let scheme = if self.tls_enabled() { "https" } else { "http" };
        format!("{scheme}://{}", self.server.bind)
    }

    /// The effective configuration as TOML, with secrets redacted.
    pub fn redacted_toml(&self) -> String {
        let mut c = self.clone();
        if !c.smtp.password.is_empty() {
            c.smtp.password = "<redacted>".into();
        }
        toml::to_string_pretty(&c).unwrap_or_else(|e| format!("# cannot render: {e}"))
    }
}

/// Applies `UPHILL_SECTION__KEY=value` variables on top of the file's table.
/// A value is read as a TOML literal when it is one (numbers, booleans,
/// arrays) and as a plain string otherwise.
fn apply_env(
    tree: &mut toml::Table,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<(), ConfigError> {
    for (var, raw) in env {
        let Some(rest) = var.strip_prefix("UPHILL_") else {
            continue;
        };
        let Some((section, key)) = rest.split_once("__") else {
            continue; // UPHILL_CONFIG and friends are flags, not keys
        };
        let (section, key) = (section.to_ascii_lowercase(), key.to_ascii_lowercase());
        if section.is_empty() || key.is_empty() || key.contains("__") {
            return Err(ConfigError::Env {
                var,
                message: "expected UPHILL_SECTION__KEY".into(),
            });
        }
        let value = parse_env_value(&raw);
        let entry = tree
            .entry(section.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        let Some(table) = entry.as_table_mut() else {
            return Err(ConfigError::Env {
                var,
                message: format!("`{section}` is not a section"),
            });
        };
        table.insert(key, value);
    }
    Ok(())
}

fn parse_env_value(raw: &str) -> toml::Value {
    format!("v = {raw}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_str(toml_text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(&p, toml_text).unwrap();
        let env = env.iter().map(|(a, b)| (a.to_string(), b.to_string()));
        Config::load(Some(&p), env, &Overrides::default())
    }

    #[test]
    fn defaults_run_on_loopback_with_local_data() {
        let c = load_str("", &[]).unwrap();
        assert_eq!(c.server.bind, "127.0.0.1:8080");
        assert_eq!(c.storage.data_dir, PathBuf::from("./uphill-data"));
    }

    #[test]
    fn the_example_config_is_the_defaults() {
        let example = load_str(EXAMPLE, &[]).unwrap();
        let defaults = load_str("", &[]).unwrap();
        assert_eq!(example.redacted_toml(), defaults.redacted_toml());
    }

    #[test]
    fn layers_apply_in_order() {
        let c = load_str(
            "[server]\nbind = \"127.0.0.1:9000\"\n[storage]\nmax_group = 7\n",
            &[
                ("UPHILL_SERVER__BIND", "127.0.0.1:9100"),
                ("UPHILL_CAMPUS__ALLOWED_EMAIL_DOMAINS", "[\"uni.edu\"]"),
                ("UPHILL_CONFIG", "ignored"),
            ],
        )
        .unwrap();
        assert_eq!(c.server.bind, "127.0.0.1:9100");
        assert_eq!(c.storage.max_group, 7);
        assert_eq!(c.campus.allowed_email_domains, vec!["uni.edu"]);

        let dir = tempfile::tempdir().unwrap();
        let flags = Overrides {
            bind: Some("127.0.0.1:9200".into()),
            data_dir: Some(dir.path().into()),
        };
        let env = vec![(
            "UPHILL_SERVER__BIND".to_string(),
            "127.0.0.1:9100".to_string(),
        )];
        let c = Config::load(Some(&dir.path().join("none.toml")), env.clone(), &flags);
        assert!(matches!(c, Err(ConfigError::Read { .. })));
        let p = dir.path().join("c.toml");
        std::fs::write(&p, "").unwrap();
        let c = Config::load(Some(&p), env, &flags).unwrap();
        assert_eq!(c.server.bind, "127.0.0.1:9200");
    }

    #[test]
    fn unknown_keys_and_bad_values_name_the_key() {
        let e = load_str("[server]\nbnd = \"x\"\n", &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("bnd"), "{e}");
        let e = load_str("[storage]\nmax_group = \"many\"\n", &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("storage.max_group"), "{e}");
        for bad in ["0", "3", "16385"] {
            let e = load_str(&format!("[storage]\ncache_mb = {bad}\n"), &[])
                .unwrap_err()
                .to_string();
            assert!(e.contains("storage.cache_mb"), "{bad}: {e}");
        }
        let c = load_str("[storage]\ncache_mb = 16\n", &[]).unwrap();
        assert_eq!(
            crate::store::WriterOptions::from_config(&c.storage).cache_bytes,
            16 << 20
        );
        let e = load_str("", &[("UPHILL_SERVER__BIND", "not-an-addr")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("server.bind"), "{e}");
        let e = load_str("", &[("UPHILL_NOPE__KEY", "1")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("nope"), "{e}");
        let e = load_str("[campus]\ntimezone = \"Mars/Base\"\n", &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("campus.timezone"), "{e}");
        let e = load_str("[server]\ntls_cert = \"/x\"\n", &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("tls"), "{e}");
    }

    #[test]
    fn connection_keys_are_checked() {
        let e = load_str("[server]\nidle_timeout_secs = 15\n", &[])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("server.idle_timeout_secs") && e.contains("heartbeat"),
            "{e}"
        );
        let e = load_str("[server]\nper_address_exempt = [\"nope\"]\n", &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("server.per_address_exempt"), "{e}");
        for (key, v) in [
            ("UPHILL_SERVER__MAX_CONNECTIONS", "0"),
            ("UPHILL_SERVER__MAX_CONNECTIONS_PER_ADDRESS", "0"),
            ("UPHILL_SERVER__HEADER_TIMEOUT_SECS", "0"),
            ("UPHILL_SERVER__IDLE_TIMEOUT_SECS", "7200"),
        ] {
            let e = load_str("", &[(key, v)]).unwrap_err().to_string();
            let name = key["UPHILL_SERVER__".len()..].to_ascii_lowercase();
            assert!(e.contains(&format!("server.{name}")), "{key}: {e}");
        }
        let c = load_str("[server]\ntrusted_proxies = [\"10.0.0.1\"]\n", &[]).unwrap();
        let exempt = c.per_address_exempt().unwrap();
        assert!(
            exempt
                .iter()
                .any(|n| n.contains(&"10.0.0.1".parse::<std::net::IpAddr>().unwrap()))
        );
        assert!(
            exempt
                .iter()
                .any(|n| n.contains(&"127.0.0.9".parse::<std::net::IpAddr>().unwrap()))
        );
    }

    #[test]
    fn secrets_come_from_files_and_are_redacted() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("pw");
        std::fs::write(&secret, "hunter2\n").unwrap();
        let c = load_str(
            &format!(
                "[smtp]\npassword_file = {:?}\n",
                secret.display().to_string()
            ),
            &[],
        )
        .unwrap();
        assert_eq!(c.smtp.password, "hunter2");
        assert!(!c.redacted_toml().contains("hunter2"));
        assert!(!format!("{:?}", c.smtp).contains("hunter2"));
    }

    /// The example config, randomly mutated (bytes cut, copied, replaced),
    /// must parse or fail with an error, never panic; whatever parses must
    /// also pass the derived checks. The `cargo fuzz` target `config` does
    /// the same with coverage guidance (scripts/fuzz).
    #[test]
    fn mutated_configs_never_panic_the_parser() {
        use rand::Rng;
        let mut rng = rand::rng();
        const NOISE: &[&str] = &[
            "=",
            "\"",
            "[",
            "]",
            "\n",
            "0",
            "-1",
            "99999999999999999999",
            "true",
            "\"\"",
            ".",
            "[storage]\nmin_free_mb = ",
            "[batch]\notp_digits = ",
            "é",
            "#",
            "{",
            "}",
            ",",
        ];
        for _ in 0..1_500 {
            let mut text = EXAMPLE.to_string();
            for _ in 0..rng.random_range(1..6) {
                let mut at = rng.random_range(0..=text.len());
                while !text.is_char_boundary(at) {
                    at -= 1;
                }
                match rng.random_range(0..3) {
                    0 => {
                        let mut end = (at + rng.random_range(1..40)).min(text.len());
                        while !text.is_char_boundary(end) {
                            end -= 1;
                        }
                        text.replace_range(at..end, "");
                    }
                    _ => text.insert_str(at, NOISE[rng.random_range(0..NOISE.len())]),
                }
            }
            let env = [(
                "UPHILL_SERVER__BODY_LIMIT_BYTES".to_string(),
                NOISE[rng.random_range(0..NOISE.len())].to_string(),
            )];
            if let Ok(c) = Config::from_toml(&text, env) {
                assert!(c.bind_addr().is_ok(), "{text}");
                assert!(c.campus_tz().is_ok(), "{text}");
            }
        }
    }
}
