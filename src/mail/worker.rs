//! The outbox worker: sends due mail through lettre, one at a time.
//!
//! Two kinds of failure are kept apart. When the SMTP server cannot be
//! reached at all (connection refused, DNS, TLS handshake, timeout), the
//! mail is not at fault: the worker backs off as a whole and no mail uses
//! up a try, so an outage of any length loses nothing. When the server
//! answers with an error, the mail's `attempts` grows and its next try is
//! pushed back exponentially; a permanent refusal (5xx) or the last try
//! dead-letters it. Delivery is at least once: a crash between the
//! server's acceptance and the commit that removes the mail sends it again.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use tokio_util::sync::CancellationToken;

use super::templates::{self, Site};
use super::{MailState, MailStats, Message, OutboxMail, URGENT_PREFIX, due_key};
use crate::config::{Config, MailConfig, SmtpConfig, SmtpSecurity};
use crate::store::{Store, StoreError, codec, tables};

/// How often an idle worker looks for new mail: enqueues happen inside
/// other transactions, which cannot signal after their commit.
const POLL: Duration = Duration::from_secs(1);
/// Due mails taken per pass.
const BATCH: usize = 20;

type Transport = AsyncSmtpTransport<Tokio1Executor>;

/// Why one send failed.
#[derive(Debug)]
pub enum SendError {
    /// The mail cannot be built or the server refused it for good.
    Permanent(String),
    /// The server answered with a temporary refusal.
    Transient(String),
    /// The server could not be reached or did not answer in time.
    Unreachable(String),
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SendError::Permanent(e) => write!(f, "refused: {e}"),
            SendError::Transient(e) => write!(f, "temporarily refused: {e}"),
            SendError::Unreachable(e) => write!(f, "SMTP server unreachable: {e}"),
        }
    }
}

/// The SMTP sender, built from `[smtp]`.
pub struct Sender {
    transport: Transport,
    from: Mailbox,
    timeout: Duration,
    site: Site,
}

fn tls_parameters(cfg: &SmtpConfig) -> Result<TlsParameters, String> {
    let mut b = TlsParameters::builder(cfg.host.clone());
    if let Some(path) = &cfg.ca_file {
        let pem = std::fs::read_to_string(path)
            .map_err(|e| format!("smtp.ca_file {}: {e}", path.display()))?;
        const END: &str = "-----END CERTIFICATE-----";
        for block in pem.split_inclusive(END).filter(|b| b.contains(END)) {
            let cert = Certificate::from_pem(block.trim_start().as_bytes())
                .map_err(|e| format!("smtp.ca_file {}: {e}", path.display()))?;
            b = b.add_root_certificate(cert);
        }
    }
    b.build_rustls().map_err(|e| format!("TLS setup: {e}"))
}

impl Sender {
    /// `None` when SMTP is not configured (`smtp.host` empty).
    pub fn from_config(config: &Config, timeout: Duration) -> Result<Option<Self>, String> {
        let cfg = &config.smtp;
        if cfg.host.is_empty() {
            return Ok(None);
        }
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&cfg.host)
            .port(cfg.port())
            .timeout(Some(timeout));
        builder = match cfg.security() {
            SmtpSecurity::None => builder.tls(Tls::None),
            SmtpSecurity::Starttls => builder.tls(Tls::Required(tls_parameters(cfg)?)),
            SmtpSecurity::Tls => builder.tls(Tls::Wrapper(tls_parameters(cfg)?)),
        };
        if !cfg.username.is_empty() {
            builder =
                builder.credentials(Credentials::new(cfg.username.clone(), cfg.password.clone()));
        }
        let from = if cfg.from.is_empty() {
            format!("Uphill <uphill@{}>", cfg.host)
        } else {
            cfg.from.clone()
        };
        let from = from
            .parse::<Mailbox>()
            .map_err(|e| format!("smtp.from `{from}`: {e}"))?;
        Ok(Some(Self {
            transport: builder.build(),
            from,
            timeout,
            site: Site {
                base_url: config.public_url(),
                campus: config.campus.name.clone(),
            },
        }))
    }

    /// Renders and sends one mail.
    pub async fn send(&self, to: &str, message: &Message) -> Result<(), SendError> {
        let rendered = templates::render(message, &self.site).map_err(SendError::Permanent)?;
        let to: Mailbox = to
            .parse()
            .map_err(|e| SendError::Permanent(format!("recipient `{to}`: {e}")))?;
        let email = lettre::Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(rendered.subject)
            .multipart(MultiPart::alternative_plain_html(
                rendered.text,
                rendered.html,
            ))
            .map_err(|e| SendError::Permanent(format!("building the mail: {e}")))?;
        // lettre's timeout is per command; this bounds the whole exchange.
        match tokio::time::timeout(self.timeout * 2, self.transport.send(email)).await {
            Err(_) => Err(SendError::Unreachable("timed out".into())),
            Ok(Ok(_)) => Ok(()),
            // lettre's Display already appends the underlying cause.
            Ok(Err(e)) if e.is_permanent() || e.is_client() => {
                Err(SendError::Permanent(e.to_string()))
            }
            // A garbled answer is the server's doing: it costs a try, so a
            // broken server cannot hold mail forever without anyone knowing.
            Ok(Err(e)) if e.is_transient() || e.is_response() => {
                Err(SendError::Transient(e.to_string()))
            }
            Ok(Err(e)) => Err(SendError::Unreachable(e.to_string())),
        }
    }
}

/// Wait before try number `attempts + 1`, after `attempts` failed tries.
pub fn backoff(cfg: &MailConfig, attempts: u32) -> Duration {
    let exp = attempts.saturating_sub(1).min(30);
    let secs = cfg.retry_base_secs.saturating_mul(1u64 << exp);
    Duration::from_secs(secs.min(cfg.retry_max_secs))
}

/// Mails due at `now`: urgent ones (links someone waits for) first, then
/// the rest, each oldest due first.
fn due(store: &Store, now: DateTime<Utc>) -> Result<Vec<OutboxMail>, StoreError> {
    store.read_blocking(|txn| {
        let idx = txn.open_table(tables::OUTBOX_DUE)?;
        let outbox = txn.open_table(tables::OUTBOX)?;
        let urgent_upper = due_key(now, "~", true);
        // Plain keys start with a digit of the year, after the prefix.
        let upper = due_key(now, "~", false);
        let mut out = Vec::new();
        let urgent = idx.range(URGENT_PREFIX..=urgent_upper.as_str())?;
        let rest = idx.range("0"..=upper.as_str())?;
        for e in urgent.chain(rest).take(BATCH) {
            let (_, id) = e?;
            if let Some(m) = codec::get::<OutboxMail>(&outbox, id.value())? {
                out.push(m);
            }
        }
        Ok(out)
    })
}

/// Removes a sent mail (unless an admin discarded it meanwhile).
fn mark_sent(txn: &redb::WriteTransaction, id: &str) -> Result<(), StoreError> {
    let m: Option<OutboxMail> = codec::get(&txn.open_table(tables::OUTBOX)?, id)?;
    if let Some(m) = m {
        super::remove(txn, &m)?;
    }
    Ok(())
}

/// Records a refused try: retry later, or dead-letter.
fn mark_failed(
    txn: &redb::WriteTransaction,
    id: &str,
    error: &str,
    permanent: bool,
    cfg: &MailConfig,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let m: Option<OutboxMail> = codec::get(&txn.open_table(tables::OUTBOX)?, id)?;
    let Some(mut m) = m else { return Ok(()) };
    if m.state != MailState::Queued {
        return Ok(());
    }
    super::remove_due(txn, &m)?;
    m.attempts += 1;
    m.last_error = Some(error.chars().take(500).collect());
    if permanent || m.attempts >= cfg.max_attempts {
        m.state = MailState::Dead;
        m.dead_at = Some(now);
        txn.open_table(tables::OUTBOX_DEAD)?.insert(
            m.id.as_str(),
            now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                .as_str(),
        )?;
        tracing::warn!(mail = %m.id, to = %m.to, error, "mail dead-lettered");
    } else {
        let wait = chrono::Duration::from_std(backoff(cfg, m.attempts))
            .unwrap_or(chrono::Duration::seconds(60));
        m.next_attempt_at = now + wait;
        super::insert_due(txn, &m)?;
    }
    codec::put(&mut txn.open_table(tables::OUTBOX)?, &m.id, &m)
}

/// When the next queued mail is due, if any: the earlier of the first
/// urgent key and the first plain one.
fn next_due(store: &Store) -> Result<Option<DateTime<Utc>>, StoreError> {
    store.read_blocking(|txn| {
        let idx = txn.open_table(tables::OUTBOX_DUE)?;
        let at = |k: &str| {
            k.trim_start_matches(URGENT_PREFIX)
                .split_once('/')
                .and_then(|(t, _)| DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.with_timezone(&Utc))
        };
        let first_urgent = idx
            .range(URGENT_PREFIX.."0")?
            .next()
            .transpose()?
            .and_then(|(k, _)| at(k.value()));
        let first_plain = idx
            .range("0"..)?
            .next()
            .transpose()?
            .and_then(|(k, _)| at(k.value()));
        Ok(first_urgent.into_iter().chain(first_plain).min())
    })
}

/// What one pass over the due mail ended with.
enum Pass {
    /// Everything due was handled.
    Done,
    /// The server could not be reached; try again after a pause.
    Unreachable,
}

async fn pass(
    store: &Store,
    sender: &Sender,
    cfg: &MailConfig,
    stats: &MailStats,
    cancel: &CancellationToken,
) -> Result<Pass, StoreError> {
    loop {
        let now = Utc::now();
        let s = store.clone();
        let batch = tokio::task::spawn_blocking(move || due(&s, now))
            .await
            .map_err(|e| StoreError::Unavailable(format!("outbox read: {e}")))??;
        if batch.is_empty() {
            return Ok(Pass::Done);
        }
        for m in batch {
            if cancel.is_cancelled() {
                return Ok(Pass::Done);
            }
            match sender.send(&m.to, &m.message).await {
                Ok(()) => {
                    let id = m.id.clone();
                    store.write(move |txn| mark_sent(txn, &id)).await?;
                    stats.record_sent();
                    tracing::info!(mail = %m.id, to = %m.to, template = m.message.template(), "mail sent");
                }
                Err(e @ SendError::Unreachable(_)) => {
                    let text = e.to_string();
                    stats.record_failure(&text);
                    tracing::warn!(error = %text, "mail waits");
                    return Ok(Pass::Unreachable);
                }
                Err(e) => {
                    let permanent = matches!(e, SendError::Permanent(_));
                    let text = e.to_string();
                    stats.record_failure(&text);
                    tracing::warn!(mail = %m.id, to = %m.to, error = %text, "mail refused");
                    let (id, cfg) = (m.id.clone(), cfg.clone());
                    let now = Utc::now();
                    store
                        .write(move |txn| mark_failed(txn, &id, &text, permanent, &cfg, now))
                        .await?;
                }
            }
        }
    }
}

/// Runs until `cancel`: sends due mail, sleeps until more is due.
pub async fn run(
    store: Store,
    config: Arc<Config>,
    stats: Arc<MailStats>,
    cancel: CancellationToken,
) {
    let timeout = Duration::from_secs(config.mail.send_timeout_secs);
    let sender = match Sender::from_config(&config, timeout) {
        Ok(Some(s)) => Some(s),
        Ok(None) => {
            tracing::info!("smtp.host is empty: mail waits in the outbox");
            None
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot set up SMTP: mail waits in the outbox");
            *stats.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
            None
        }
    };
    let Some(sender) = sender else {
        cancel.cancelled().await;
        return;
    };
    let cfg = config.mail.clone();
    // Pause after the server was unreachable: 1 s doubling, capped.
    let mut pause = Duration::from_secs(1);
    loop {
        let wait = match pass(&store, &sender, &cfg, &stats, &cancel).await {
            Ok(Pass::Done) => {
                pause = Duration::from_secs(1);
                let s = store.clone();
                let next = tokio::task::spawn_blocking(move || next_due(&s))
                    .await
                    .ok()
                    .and_then(Result::ok)
                    .flatten();
                next.and_then(|t| (t - Utc::now()).to_std().ok())
                    .map_or(POLL, |d| d.min(POLL))
            }
            Ok(Pass::Unreachable) => {
                let now = pause;
                pause = (pause * 2).min(Duration::from_secs(cfg.retry_max_secs.min(60)));
                now
            }
            Err(e) => {
                tracing::error!(error = %e, "outbox worker could not use the store");
                Duration::from_secs(5)
            }
        };
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
            _ = stats.wake.notified() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let cfg = MailConfig {
            max_attempts: 8,
            retry_base_secs: 60,
            retry_max_secs: 3600,
            send_timeout_secs: 30,
        };
        let secs: Vec<u64> = (1..=8).map(|a| backoff(&cfg, a).as_secs()).collect();
        assert_eq!(secs, [60, 120, 240, 480, 960, 1920, 3600, 3600]);
        assert_eq!(backoff(&cfg, 100).as_secs(), 3600);
    }
}
