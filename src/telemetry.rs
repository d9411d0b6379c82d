//! Logs: `tracing` to stdout (journald under systemd) and to daily rolling
//! files in `log.dir`, keeping `log.retention_days` files.

use std::io::IsTerminal;

use tracing_appender::non_blocking::WorkerGuard;
use tracing_appender::rolling::{RollingFileAppender, Rotation};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, fmt};

use crate::config::{Config, LogFormat};

/// Log lines queued for the file writer.
const LOG_QUEUE_LINES: usize = 8_192;

/// Installs the global subscriber. Keep the guard alive until exit so the
/// file writer flushes.
pub fn init_server(config: &Config) -> anyhow::Result<WorkerGuard> {
    let dir = config.log_dir();
    std::fs::create_dir_all(&dir).map_err(|e| anyhow::anyhow!("log.dir {}: {e}", dir.display()))?;
    let appender = RollingFileAppender::builder()
        .rotation(Rotation::DAILY)
        .filename_prefix("uphill")
        .filename_suffix("log")
        .max_log_files(config.log.retention_days)
        .build(&dir)?;
    // The default queue (128,000 lines) is a channel allocated whole at
    // start: 4 MiB of an idle server's memory. A burst that fills these
    // lines drops the excess (lossy, the default) rather than block requests.
    let (file_writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .buffered_lines_limit(LOG_QUEUE_LINES)
        .finish(appender);
    let filter =
        || EnvFilter::try_new(&config.log.level).unwrap_or_else(|_| EnvFilter::new("info"));
    let json = config.log.format == LogFormat::Json;
    let stdout = if json {
        fmt::layer().json().with_filter(filter()).boxed()
    } else {
        // Colour only on a terminal: journald and log scrapers get plain text.
        fmt::layer()
            .with_ansi(std::io::stdout().is_terminal())
            .with_filter(filter())
            .boxed()
    };
    let file = if json {
        fmt::layer()
            .json()
            .with_writer(file_writer)
            .with_filter(filter())
            .boxed()
    } else {
        fmt::layer()
            .with_ansi(false)
            .with_writer(file_writer)
            .with_filter(filter())
            .boxed()
    };
    tracing_subscriber::registry()
        .with(stdout)
        .with(file)
        .try_init()?;
    Ok(guard)
}

/// For one-shot commands: warnings and errors to stderr only.
pub fn init_cli() {
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(EnvFilter::new("warn"))
        .try_init();
}
