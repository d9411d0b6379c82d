//! Built-in alerts (SPEC §6), evaluated in-process every
//! `alerts.interval_secs`.
//!
//! [`Evaluator::evaluate`] turns a snapshot of [`Inputs`] into a finding per
//! rule (pure, unit-tested); [`transitions`] compares the findings with the
//! open incidents; [`apply`] records each opening or resolution together
//! with its mail to the admins, in one transaction. Open incidents live in
//! the store, so a restart finds them open and mails nothing again. A rule
//! whose input is unknown (`None`) neither opens nor resolves anything.
//!
//! Hysteresis: a rule with a measured value opens past its threshold but
//! resolves only once the value is back past a stricter *resolve*
//! threshold; in the band between, the finding is [`Finding::Holding`],
//! which keeps an open incident open and a closed one closed. A value
//! hovering at a threshold therefore opens one incident (one mail), not one
//! per crossing. The band needs no memory, so it holds across restarts.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::atomic::AtomicI64;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use redb::{ReadTransaction, ReadableTable, WriteTransaction};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::backup::Backups;
use crate::config::AlertsConfig;
use crate::mail::{self, MailStats, Message};
use crate::metrics::Metrics;
use crate::store::{Store, StoreError, codec, tables};

/// Free disk below this fraction is an incident…
pub const DISK_FREE_MIN: f64 = 0.10;
/// …resolved once at least this fraction is free again.
pub const DISK_FREE_RESOLVE: f64 = 0.12;
/// A closer idle this long is an incident.
pub const CLOSER_MAX_IDLE_SECS: i64 = 180;
/// p95 latency above this…
pub const SLOW_P95_SECS: f64 = 1.0;
/// …for this long is an incident…
pub const SLOW_FOR_SECS: i64 = 300;
/// …resolved once p95 is at most this.
pub const SLOW_RESOLVE_P95_SECS: f64 = 0.8;
/// 5xx share above this is an incident…
pub const ERROR_RATE_MAX: f64 = 0.05;
/// …resolved once the share is at most this…
pub const ERROR_RATE_RESOLVE: f64 = 0.025;
/// …both judged only once the window holds at least this many requests
/// (one failed request out of three is noise, not an outage).
pub const ERROR_RATE_MIN_REQUESTS: u64 = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    SlowRequests,
    ServerErrors,
    DiskLow,
    BackupFailed,
    BackupOverdue,
    DeadMail,
    BatchStuck,
    CloserStalled,
    OtpLocked,
}

impl Rule {
    pub const ALL: [Rule; 9] = [
        Rule::SlowRequests,
        Rule::ServerErrors,
        Rule::DiskLow,
        Rule::BackupFailed,
        Rule::BackupOverdue,
        Rule::DeadMail,
        Rule::BatchStuck,
        Rule::CloserStalled,
        Rule::OtpLocked,
    ];

    pub fn key(self) -> &'static str {
        match self {
            Rule::SlowRequests => "slow_requests",
            Rule::ServerErrors => "server_errors",
            Rule::DiskLow => "disk_low",
            Rule::BackupFailed => "backup_failed",
            Rule::BackupOverdue => "backup_overdue",
            Rule::DeadMail => "dead_mail",
            Rule::BatchStuck => "batch_stuck",
            Rule::CloserStalled => "closer_stalled",
            Rule::OtpLocked => "otp_locked",
        }
    }

    pub fn from_key(key: &str) -> Option<Rule> {
        Rule::ALL.into_iter().find(|r| r.key() == key)
    }

    pub fn title(self) -> &'static str {
        match self {
            Rule::SlowRequests => "Requests are slow (p95 over 1 s for 5 minutes)",
            Rule::ServerErrors => "More than 5% of requests fail with 5xx",
            Rule::DiskLow => "Disk almost full (under 10% free)",
            Rule::BackupFailed => "The last backup failed",
            Rule::BackupOverdue => "A backup is overdue",
            Rule::DeadMail => "Mail was dead-lettered",
            Rule::BatchStuck => "A batch is stuck LOCKED",
            Rule::CloserStalled => "The batch closer has not run for 3 minutes",
            Rule::OtpLocked => "An order is locked after too many wrong delivery OTPs",
        }
    }
}

/// Requests seen over the recent window (fed by the metrics code).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequestWindow {
    pub requests: u64,
    pub server_errors: u64,
}

/// The backup schedule's health (fed by the backup code).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackupHealth {
    /// The last backup's error, when the last one failed.
    pub last_error: Option<String>,
    /// No successful backup within the schedule's allowance.
    pub overdue: bool,
}

/// One evaluation's view of the world. `None` means "not known" (the
/// feeding subsystem is not there or has nothing yet).
#[derive(Debug, Clone)]
pub struct Inputs {
    pub now: DateTime<Utc>,
    pub started_at: DateTime<Utc>,
    pub disk_free_ratio: Option<f64>,
    pub dead_mail: Option<u64>,
    /// LOCKED batches idle past `batch.stale_after_minutes`.
    pub stuck_batches: Option<usize>,
    /// The closer's last completed run; `None` = not since start.
    pub closer_last_run: Option<DateTime<Utc>>,
    /// p95 request latency over the last minute, in seconds.
    pub latency_p95_secs: Option<f64>,
    /// Requests and 5xx answers over the last five minutes.
    pub requests: Option<RequestWindow>,
    pub backup: Option<BackupHealth>,
    /// Orders locked by wrong OTPs and not yet settled.
    pub otp_locked: Option<u64>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Finding {
    /// The condition holds; the text says how bad it is.
    Firing(String),
    /// Clearly recovered: past the resolve threshold.
    Clear,
    /// Between the resolve and the open threshold, or not yet bad for long
    /// enough, or too little traffic to judge: changes nothing, so an open
    /// incident stays open and none opens.
    Holding,
    /// The input is not known.
    Unknown,
}

/// What other subsystems feed in; the alert job reads a snapshot each run.
#[derive(Default)]
pub struct Feed {
    latency_p95_secs: Mutex<Option<f64>>,
    requests: Mutex<Option<RequestWindow>>,
    backup: Mutex<Option<BackupHealth>>,
}

impl Feed {
    pub fn set_latency_p95_secs(&self, v: Option<f64>) {
        *self
            .latency_p95_secs
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = v;
    }
    pub fn set_requests(&self, v: Option<RequestWindow>) {
        *self.requests.lock().unwrap_or_else(|e| e.into_inner()) = v;
    }
    pub fn set_backup(&self, v: Option<BackupHealth>) {
        *self.backup.lock().unwrap_or_else(|e| e.into_inner()) = v;
    }
    fn snapshot(&self) -> (Option<f64>, Option<RequestWindow>, Option<BackupHealth>) {
        (
            *self
                .latency_p95_secs
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
            *self.requests.lock().unwrap_or_else(|e| e.into_inner()),
            self.backup
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        )
    }
}

/// Rule evaluation with the little memory "for 5 minutes" needs.
#[derive(Debug, Default)]
pub struct Evaluator {
    slow_since: Option<DateTime<Utc>>,
}

impl Evaluator {
    pub fn evaluate(&mut self, i: &Inputs) -> Vec<(Rule, Finding)> {
        use Finding::*;
        let slow = match i.latency_p95_secs {
            None => Unknown,
            Some(p95) if p95 > SLOW_P95_SECS => {
                let since = *self.slow_since.get_or_insert(i.now);
                if (i.now - since).num_seconds() >= SLOW_FOR_SECS {
                    Firing(format!(
                        "p95 latency is {p95:.2} s and has been over 1 s since {since}"
                    ))
                } else {
                    // Not yet five minutes: neither an incident nor its end.
                    Holding
                }
            }
            Some(p95) => {
                // Any fast minute restarts the five-minute clock, but only
                // a clearly fast one ends an incident.
                self.slow_since = None;
                if p95 <= SLOW_RESOLVE_P95_SECS {
                    Clear
                } else {
                    Holding
                }
            }
        };
        let errors = match i.requests {
            None => Unknown,
            Some(w) if w.requests < ERROR_RATE_MIN_REQUESTS => Holding,
            Some(w) if (w.server_errors as f64) > ERROR_RATE_MAX * w.requests as f64 => {
                Firing(format!(
                    "{} of {} recent requests failed with 5xx ({:.1}%)",
                    w.server_errors,
                    w.requests,
                    100.0 * w.server_errors as f64 / w.requests as f64
                ))
            }
            Some(w) if (w.server_errors as f64) <= ERROR_RATE_RESOLVE * w.requests as f64 => Clear,
            Some(_) => Holding,
        };
        let disk = match i.disk_free_ratio {
            None => Unknown,
            Some(r) if r < DISK_FREE_MIN => {
                Firing(format!("{:.1}% of the data disk is free", 100.0 * r))
            }
            Some(r) if r >= DISK_FREE_RESOLVE => Clear,
            Some(_) => Holding,
        };
        let (failed, overdue) = match &i.backup {
            None => (Unknown, Unknown),
            Some(b) => (
                match &b.last_error {
                    Some(e) => Firing(format!("the last backup failed: {e}")),
                    None => Clear,
                },
                if b.overdue {
                    Firing("no successful backup within the schedule".into())
                } else {
                    Clear
                },
            ),
        };
        let dead = match i.dead_mail {
            None => Unknown,
            Some(0) => Clear,
            Some(n) => Firing(format!(
                "{n} mail(s) in the outbox are dead-lettered; retry or discard them"
            )),
        };
        let stuck = match i.stuck_batches {
            None => Unknown,
            Some(0) => Clear,
            Some(n) => Firing(format!(
                "{n} batch(es) have been LOCKED longer than the stale limit without leaving"
            )),
        };
        let last = i.closer_last_run.unwrap_or(i.started_at);
        let idle = (i.now - last).num_seconds();
        let closer = if idle > CLOSER_MAX_IDLE_SECS {
            Firing(match i.closer_last_run {
                Some(t) => format!("the batch closer last ran at {t}"),
                None => "the batch closer has not run since the server started".into(),
            })
        } else {
            Clear
        };
        let otp = match i.otp_locked {
            None => Unknown,
            Some(0) => Clear,
            Some(n) => Firing(format!(
                "{n} order(s) locked after too many wrong delivery OTPs; settle each from the \
                 order (status override, with a reason)"
            )),
        };
        vec![
            (Rule::SlowRequests, slow),
            (Rule::ServerErrors, errors),
            (Rule::DiskLow, disk),
            (Rule::BackupFailed, failed),
            (Rule::BackupOverdue, overdue),
            (Rule::DeadMail, dead),
            (Rule::BatchStuck, stuck),
            (Rule::CloserStalled, closer),
            (Rule::OtpLocked, otp),
        ]
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Transition {
    Open { rule: Rule, detail: String },
    Resolve { rule: Rule },
}

/// What changes given the rules with an open incident.
pub fn transitions(open: &BTreeSet<Rule>, findings: &[(Rule, Finding)]) -> Vec<Transition> {
    findings
        .iter()
        .filter_map(|(rule, f)| match f {
            Finding::Firing(detail) if !open.contains(rule) => Some(Transition::Open {
                rule: *rule,
                detail: detail.clone(),
            }),
            Finding::Clear if open.contains(rule) => Some(Transition::Resolve { rule: *rule }),
            _ => None,
        })
        .collect()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Incident {
    pub id: String,
    pub rule: Rule,
    pub title: String,
    pub detail: String,
    pub opened_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    /// Admin mails queued for the opening.
    #[serde(default)]
    pub mailed: usize,
}

pub fn open_rules(txn: &ReadTransaction) -> Result<BTreeSet<Rule>, StoreError> {
    let mut out = BTreeSet::new();
    for e in txn.open_table(tables::OPEN_INCIDENTS)?.iter()? {
        if let Some(r) = Rule::from_key(e?.0.value()) {
            out.insert(r);
        }
    }
    Ok(out)
}

/// Records the transitions and queues their mails, in the caller's
/// transaction. Re-checks the open set, so applying twice changes nothing.
pub fn apply(
    txn: &WriteTransaction,
    changes: &[Transition],
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    let mut done = 0;
    for t in changes {
        match t {
            Transition::Open { rule, detail } => {
                if txn
                    .open_table(tables::OPEN_INCIDENTS)?
                    .get(rule.key())?
                    .is_some()
                {
                    continue;
                }
                let mut inc = Incident {
                    id: ulid::Ulid::new().to_string(),
                    rule: *rule,
                    title: rule.title().to_string(),
                    detail: detail.clone(),
                    opened_at: now,
                    resolved_at: None,
                    mailed: 0,
                };
                inc.mailed = mail::enqueue_to_admins(
                    txn,
                    &Message::Alert {
                        rule: rule.key().into(),
                        title: inc.title.clone(),
                        detail: inc.detail.clone(),
                        opened_at: now,
                    },
                )?;
                codec::put(&mut txn.open_table(tables::INCIDENTS)?, &inc.id, &inc)?;
                txn.open_table(tables::OPEN_INCIDENTS)?
                    .insert(rule.key(), inc.id.as_str())?;
                tracing::warn!(rule = rule.key(), detail = %inc.detail, "alert opened");
                done += 1;
            }
            Transition::Resolve { rule } => {
                let id = match txn.open_table(tables::OPEN_INCIDENTS)?.remove(rule.key())? {
                    Some(g) => g.value().to_string(),
                    None => continue,
                };
                let inc: Option<Incident> = codec::get(&txn.open_table(tables::INCIDENTS)?, &id)?;
                if let Some(mut inc) = inc {
                    inc.resolved_at = Some(now);
                    codec::put(&mut txn.open_table(tables::INCIDENTS)?, &inc.id, &inc)?;
                    mail::enqueue_to_admins(
                        txn,
                        &Message::AlertResolved {
                            rule: rule.key().into(),
                            title: inc.title.clone(),
                            opened_at: inc.opened_at,
                            resolved_at: now,
                        },
                    )?;
                }
                tracing::info!(rule = rule.key(), "alert resolved");
                done += 1;
            }
        }
    }
    Ok(done)
}

/// Open incidents (the admin banner) and the most recent ones, newest first.
pub fn overview(
    txn: &ReadTransaction,
    recent: usize,
) -> Result<(Vec<Incident>, Vec<Incident>), StoreError> {
    let t = txn.open_table(tables::INCIDENTS)?;
    let mut active = Vec::new();
    for e in txn.open_table(tables::OPEN_INCIDENTS)?.iter()? {
        let (_, id) = e?;
        if let Some(i) = codec::get::<Incident>(&t, id.value())? {
            active.push(i);
        }
    }
    active.sort_by(|a, b| b.id.cmp(&a.id));
    let mut history = Vec::new();
    for e in t.iter()?.rev().take(recent) {
        history.push(codec::decode::<Incident>(e?.1.value())?);
    }
    Ok((active, history))
}

/// What the alert job reads; `app` hands it over.
pub struct Handles {
    pub store: Store,
    /// `interval_secs`.
    pub config: AlertsConfig,
    /// `batch.stale_after_minutes`: when a LOCKED batch counts as stuck.
    pub stale_after_minutes: u32,
    /// The data directory, whose file system's free space is watched.
    pub data_dir: PathBuf,
    /// When the server started (a closer that never ran is judged from it).
    pub started: Instant,
    /// Unix seconds of the batch closer's last completed run (0: never).
    pub closer_last_run: Arc<AtomicI64>,
    /// Recent request health.
    pub metrics: Arc<Metrics>,
    pub backups: Arc<Backups>,
    /// Dead-lettered mail.
    pub mail: Arc<MailStats>,
    /// What metrics and backups feed to the rules.
    pub feed: Arc<Feed>,
}

/// Gathers what the store and the process know, plus the feed.
async fn inputs(state: &Handles, now: DateTime<Utc>) -> Inputs {
    let data_dir = state.data_dir.clone();
    let disk = tokio::task::spawn_blocking(move || crate::store::disk_free_ratio(&data_dir))
        .await
        .ok()
        .and_then(Result::ok);
    let dead = state.mail.counts(&state.store).await.ok().map(|c| c.dead);
    let after = chrono::Duration::minutes(state.stale_after_minutes.into());
    let stuck = state
        .store
        .read(move |txn| crate::market::batches::stale(txn, now, after))
        .await
        .ok()
        .map(|v| v.len());
    let otp_locked = state
        .store
        .read(|txn| {
            use redb::ReadableTableMetadata;
            Ok::<_, StoreError>(txn.open_table(crate::store::tables::OTP_LOCKED)?.len()?)
        })
        .await
        .ok();
    let last = state
        .closer_last_run
        .load(std::sync::atomic::Ordering::Relaxed);
    let (latency_p95_secs, requests, backup) = state.feed.snapshot();
    let uptime = chrono::Duration::from_std(state.started.elapsed()).unwrap_or_default();
    Inputs {
        now,
        started_at: now - uptime,
        disk_free_ratio: disk,
        dead_mail: dead,
        stuck_batches: stuck,
        closer_last_run: (last > 0)
            .then(|| DateTime::from_timestamp(last, 0))
            .flatten(),
        latency_p95_secs,
        requests,
        backup,
        otp_locked,
    }
}

/// One evaluation: returns how many incidents opened or resolved.
pub async fn evaluate_once(
    state: &Handles,
    evaluator: &mut Evaluator,
) -> Result<usize, StoreError> {
    let now = Utc::now();
    let i = inputs(state, now).await;
    let findings = evaluator.evaluate(&i);
    let open = state.store.read(open_rules).await?;
    let changes = transitions(&open, &findings);
    if changes.is_empty() {
        return Ok(0);
    }
    state
        .store
        .write(move |txn| apply(txn, &changes, now))
        .await
}

/// The alert job: evaluates every `alerts.interval_secs` until `cancel`.
/// Hands the latest request health (metrics rollups) and backup status to
/// the rules. The latency rule keeps its own 5-minute window, so it gets the
/// last rollup's p95; the error rate is taken over the last five rollups.
fn feed_from_metrics_and_backups(state: &Handles) {
    let last = state.metrics.recent(1);
    state.feed.set_latency_p95_secs(
        (last.windows > 0)
            .then_some(last.p95_ms)
            .flatten()
            .map(|ms| ms / 1000.0),
    );
    let five = state.metrics.recent(5);
    state
        .feed
        .set_requests((five.windows > 0).then_some(RequestWindow {
            requests: five.requests,
            server_errors: five.errors_5xx,
        }));
    let b = state.backups.status();
    state.feed.set_backup(Some(BackupHealth {
        last_error: if b.failing() {
            Some(
                b.last_error
                    .clone()
                    .unwrap_or_else(|| "backup failed".into()),
            )
        } else {
            None
        },
        overdue: b.overdue(Utc::now()),
    }));
}

pub async fn run(state: Handles, cancel: CancellationToken) {
    let mut every = tokio::time::interval(Duration::from_secs(state.config.interval_secs));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut evaluator = Evaluator::default();
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = every.tick() => {}
        }
        feed_from_metrics_and_backups(&state);
        if let Err(e) = evaluate_once(&state, &mut evaluator).await {
            tracing::error!(error = %e, "alert evaluation failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base(now: DateTime<Utc>) -> Inputs {
        Inputs {
            now,
            started_at: now - chrono::Duration::hours(1),
            disk_free_ratio: Some(0.5),
            dead_mail: Some(0),
            stuck_batches: Some(0),
            closer_last_run: Some(now - chrono::Duration::seconds(30)),
            latency_p95_secs: None,
            requests: None,
            backup: None,
            otp_locked: Some(0),
        }
    }

    fn finding(f: &[(Rule, Finding)], r: Rule) -> Finding {
        f.iter()
            .find(|(x, _)| *x == r)
            .map(|(_, f)| f.clone())
            .unwrap()
    }

    #[test]
    fn healthy_inputs_clear_known_rules_and_leave_unknown_ones() {
        let f = Evaluator::default().evaluate(&base(Utc::now()));
        for r in [
            Rule::DiskLow,
            Rule::DeadMail,
            Rule::BatchStuck,
            Rule::CloserStalled,
            Rule::OtpLocked,
        ] {
            assert_eq!(finding(&f, r), Finding::Clear, "{r:?}");
        }
        for r in [
            Rule::SlowRequests,
            Rule::ServerErrors,
            Rule::BackupFailed,
            Rule::BackupOverdue,
        ] {
            assert_eq!(finding(&f, r), Finding::Unknown, "{r:?}");
        }
    }

    #[test]
    fn the_otp_alert_holds_while_a_locked_order_is_unsettled() {
        let now = Utc::now();
        let mut i = base(now);
        i.otp_locked = Some(2);
        let open = BTreeSet::new();
        let f = Evaluator::default().evaluate(&i);
        assert!(
            matches!(finding(&f, Rule::OtpLocked), Finding::Firing(d) if d.contains("2 order(s)"))
        );
        let opened = transitions(&open, &f);
        assert!(opened.contains(&Transition::Open {
            rule: Rule::OtpLocked,
            detail: match finding(&f, Rule::OtpLocked) {
                Finding::Firing(d) => d,
                other => panic!("{other:?}"),
            },
        }));
        // Settled: the open incident resolves; unknown (store unreadable): it holds.
        let open: BTreeSet<Rule> = [Rule::OtpLocked].into();
        i.otp_locked = Some(0);
        let f = Evaluator::default().evaluate(&i);
        assert!(transitions(&open, &f).contains(&Transition::Resolve {
            rule: Rule::OtpLocked
        }));
        i.otp_locked = None;
        let f = Evaluator::default().evaluate(&i);
        assert!(!transitions(&open, &f).iter().any(|t| matches!(
            t,
            Transition::Resolve {
                rule: Rule::OtpLocked
            }
        )));
    }

    #[test]
    fn each_store_rule_fires_at_its_threshold() {
        let now = Utc::now();
        let mut i = base(now);
        i.disk_free_ratio = Some(0.099);
        i.dead_mail = Some(2);
        i.stuck_batches = Some(1);
        i.closer_last_run = Some(now - chrono::Duration::seconds(181));
        let f = Evaluator::default().evaluate(&i);
        for r in [
            Rule::DiskLow,
            Rule::DeadMail,
            Rule::BatchStuck,
            Rule::CloserStalled,
        ] {
            assert!(matches!(finding(&f, r), Finding::Firing(_)), "{r:?}");
        }
        i.disk_free_ratio = Some(0.10);
        i.closer_last_run = Some(now - chrono::Duration::seconds(180));
        let f = Evaluator::default().evaluate(&i);
        assert_eq!(
            finding(&f, Rule::DiskLow),
            Finding::Holding,
            "at 10 % it no longer fires, but is not yet clear"
        );
        assert_eq!(finding(&f, Rule::CloserStalled), Finding::Clear);
        i.disk_free_ratio = Some(0.1199);
        let f = Evaluator::default().evaluate(&i);
        assert_eq!(finding(&f, Rule::DiskLow), Finding::Holding);
        i.disk_free_ratio = Some(0.12);
        let f = Evaluator::default().evaluate(&i);
        assert_eq!(finding(&f, Rule::DiskLow), Finding::Clear);
        // Never ran: measured from the start.
        i.closer_last_run = None;
        i.started_at = now - chrono::Duration::seconds(60);
        assert_eq!(
            finding(&Evaluator::default().evaluate(&i), Rule::CloserStalled),
            Finding::Clear
        );
        i.started_at = now - chrono::Duration::seconds(200);
        assert!(matches!(
            finding(&Evaluator::default().evaluate(&i), Rule::CloserStalled),
            Finding::Firing(_)
        ));
    }

    #[test]
    fn latency_must_stay_high_for_five_minutes() {
        let t0 = Utc::now();
        let mut ev = Evaluator::default();
        let mut at = |mins: i64, p95: f64| {
            let mut i = base(t0 + chrono::Duration::minutes(mins));
            i.latency_p95_secs = Some(p95);
            finding(&ev.evaluate(&i), Rule::SlowRequests)
        };
        assert_eq!(at(0, 1.5), Finding::Holding);
        assert_eq!(at(4, 1.5), Finding::Holding);
        assert!(matches!(at(5, 1.5), Finding::Firing(_)));
        assert_eq!(at(6, 0.2), Finding::Clear);
        // The clock restarts after a fast minute.
        assert_eq!(at(7, 2.0), Finding::Holding);
        assert_eq!(at(11, 2.0), Finding::Holding);
        assert!(matches!(at(12, 2.0), Finding::Firing(_)));
        // A minute under 1 s but over 0.8 s restarts the clock too, yet
        // does not count as recovered.
        assert_eq!(at(13, 0.9), Finding::Holding);
        assert_eq!(at(14, 2.0), Finding::Holding);
        assert_eq!(at(18, 2.0), Finding::Holding);
        assert!(matches!(at(19, 2.0), Finding::Firing(_)));
        assert_eq!(at(20, 0.8), Finding::Clear);
    }

    #[test]
    fn error_rate_needs_volume_and_share() {
        let mut i = base(Utc::now());
        let mut check = |requests, server_errors| {
            i.requests = Some(RequestWindow {
                requests,
                server_errors,
            });
            finding(&Evaluator::default().evaluate(&i), Rule::ServerErrors)
        };
        assert_eq!(
            check(10, 5),
            Finding::Holding,
            "too few requests to judge either way"
        );
        assert_eq!(
            check(100, 5),
            Finding::Holding,
            "5% is the limit, not over it; not yet recovered either"
        );
        assert!(matches!(check(100, 6), Finding::Firing(_)));
        assert_eq!(check(100, 3), Finding::Holding);
        assert_eq!(check(200, 5), Finding::Clear, "2.5% is recovered");
        assert_eq!(check(100, 0), Finding::Clear);
    }

    #[test]
    fn backups_fail_and_go_overdue_separately() {
        let mut i = base(Utc::now());
        i.backup = Some(BackupHealth {
            last_error: Some("disk full".into()),
            overdue: false,
        });
        let f = Evaluator::default().evaluate(&i);
        assert!(
            matches!(finding(&f, Rule::BackupFailed), Finding::Firing(d) if d.contains("disk full"))
        );
        assert_eq!(finding(&f, Rule::BackupOverdue), Finding::Clear);
    }

    #[test]
    fn transitions_open_once_and_resolve_once() {
        let firing = vec![
            (Rule::DiskLow, Finding::Firing("5%".into())),
            (Rule::DeadMail, Finding::Clear),
            (Rule::SlowRequests, Finding::Unknown),
        ];
        let none = BTreeSet::new();
        assert_eq!(
            transitions(&none, &firing),
            vec![Transition::Open {
                rule: Rule::DiskLow,
                detail: "5%".into()
            }]
        );
        let open: BTreeSet<Rule> = [Rule::DiskLow, Rule::SlowRequests].into();
        assert!(
            transitions(&open, &firing).is_empty(),
            "already open; unknown stays"
        );
        let holding = vec![
            (Rule::DiskLow, Finding::Holding),
            (Rule::ServerErrors, Finding::Holding),
        ];
        assert!(
            transitions(&open, &holding).is_empty(),
            "holding neither resolves the open one nor opens the closed one"
        );
        let cleared = vec![
            (Rule::DiskLow, Finding::Clear),
            (Rule::SlowRequests, Finding::Unknown),
        ];
        assert_eq!(
            transitions(&open, &cleared),
            vec![Transition::Resolve {
                rule: Rule::DiskLow
            }]
        );
    }

    /// Feeds one rule's readings, a minute apart, through the evaluator and
    /// `transitions`, keeping the open set as `apply` would; returns how
    /// many incidents opened and resolved (each is one admin mail).
    fn opens_and_resolves(
        rule: Rule,
        readings: &[f64],
        set: fn(&mut Inputs, f64),
    ) -> (usize, usize) {
        let t0 = Utc::now();
        let mut ev = Evaluator::default();
        let mut open = BTreeSet::new();
        let (mut opened, mut resolved) = (0, 0);
        for (n, v) in readings.iter().enumerate() {
            let mut i = base(t0 + chrono::Duration::minutes(n as i64));
            set(&mut i, *v);
            let findings: Vec<_> = ev
                .evaluate(&i)
                .into_iter()
                .filter(|(r, _)| *r == rule)
                .collect();
            for t in transitions(&open, &findings) {
                match t {
                    Transition::Open { rule, .. } => {
                        open.insert(rule);
                        opened += 1;
                    }
                    Transition::Resolve { rule } => {
                        open.remove(&rule);
                        resolved += 1;
                    }
                }
            }
        }
        (opened, resolved)
    }

    fn disk(i: &mut Inputs, v: f64) {
        i.disk_free_ratio = Some(v);
    }

    fn error_share(i: &mut Inputs, v: f64) {
        i.requests = Some(RequestWindow {
            requests: 1000,
            server_errors: (v * 1000.0).round() as u64,
        });
    }

    fn p95(i: &mut Inputs, v: f64) {
        i.latency_p95_secs = Some(v);
    }

    #[test]
    fn a_disk_hovering_at_the_threshold_opens_once_and_never_flaps() {
        let hovering = [
            0.101, 0.099, 0.102, 0.098, 0.105, 0.099, 0.11, 0.0995, 0.119,
        ];
        assert_eq!(opens_and_resolves(Rule::DiskLow, &hovering, disk), (1, 0));
        // Starting on the good side, hovering just above the threshold and
        // around the resolve threshold opens nothing.
        let near = [0.13, 0.101, 0.121, 0.119, 0.121, 0.1001];
        assert_eq!(opens_and_resolves(Rule::DiskLow, &near, disk), (0, 0));
    }

    #[test]
    fn a_clear_recovery_resolves_once_and_stays_resolved() {
        let mut readings = vec![0.099, 0.098, 0.101, 0.099];
        readings.extend([0.30, 0.30, 0.119, 0.11, 0.30, 0.101]);
        assert_eq!(opens_and_resolves(Rule::DiskLow, &readings, disk), (1, 1));
        // Going bad again after a real recovery is a new incident.
        readings.push(0.05);
        assert_eq!(opens_and_resolves(Rule::DiskLow, &readings, disk), (2, 1));
    }

    #[test]
    fn an_error_rate_hovering_at_five_percent_does_not_flap() {
        let hovering = [0.051, 0.049, 0.06, 0.03, 0.052, 0.026, 0.055, 0.04];
        assert_eq!(
            opens_and_resolves(Rule::ServerErrors, &hovering, error_share),
            (1, 0)
        );
        let recovery = [0.051, 0.049, 0.06, 0.02, 0.049, 0.03, 0.0];
        assert_eq!(
            opens_and_resolves(Rule::ServerErrors, &recovery, error_share),
            (1, 1)
        );
    }

    #[test]
    fn latency_hovering_at_one_second_does_not_flap() {
        // Slow for five minutes opens; then wobbling around 1 s keeps it
        // open (each dip restarts the clock but is not a recovery).
        let mut readings = vec![1.2; 6];
        readings.extend([0.95, 1.1, 0.9, 1.3, 0.85, 1.05, 0.99]);
        assert_eq!(
            opens_and_resolves(Rule::SlowRequests, &readings, p95),
            (1, 0)
        );
        readings.extend([0.3, 0.9, 0.3]);
        assert_eq!(
            opens_and_resolves(Rule::SlowRequests, &readings, p95),
            (1, 1)
        );
    }

    #[test]
    fn rule_keys_round_trip() {
        for r in Rule::ALL {
            assert_eq!(Rule::from_key(r.key()), Some(r));
            assert_eq!(
                serde_json::to_value(r).unwrap(),
                serde_json::Value::String(r.key().into())
            );
        }
    }
}
