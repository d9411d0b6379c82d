//! `/api/v1/admin/mail*` (the outbox) and `/api/v1/admin/alerts`. Admins
//! only; retry and discard write an audit entry in their transaction.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use poem::Request;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

use super::auth_api::NoContent;
use super::error::ApiError;
use super::extract::Auth;
use super::page::{Cursor, Limit, Page};
use super::types::mirror_enum;
use super::{ApiTags, origin};
use crate::alerts::{self, Incident};
use crate::app::AppState;
use crate::error::Error;
use crate::mail::{self, MailState, OutboxMail, OutboxQuery};

pub struct MailApi {
    pub state: Arc<AppState>,
}

mirror_enum!(MailStateView, MailState, { Queued, Dead });

/// A mail in the outbox. What it says is not shown: verification and reset
/// mails carry sign-in capable tokens.
#[derive(Object)]
pub struct OutboxItem {
    pub id: String,
    pub to: String,
    /// Which template, e.g. `batch_ready`.
    pub template: String,
    pub state: MailStateView,
    pub created_at: DateTime<Utc>,
    /// Tries the SMTP server refused.
    pub attempts: u32,
    /// When a queued mail is tried next.
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub dead_at: Option<DateTime<Utc>>,
}

impl From<OutboxMail> for OutboxItem {
    fn from(m: OutboxMail) -> Self {
        OutboxItem {
            template: m.message.template().to_string(),
            id: m.id,
            to: m.to,
            state: m.state.into(),
            created_at: m.created_at,
            attempts: m.attempts,
            next_attempt_at: m.next_attempt_at,
            last_error: m.last_error,
            dead_at: m.dead_at,
        }
    }
}

/// How mail is doing overall.
#[derive(Object)]
pub struct MailStatus {
    /// `smtp.host` is set.
    pub smtp_configured: bool,
    /// The last error talking to the SMTP server, until a mail goes out.
    pub last_error: Option<String>,
    pub queued: u64,
    pub dead: u64,
    /// Accepted by the SMTP server since this process started.
    pub sent_since_start: u64,
    /// Failed sends since this process started.
    pub failed_attempts_since_start: u64,
}

#[derive(Object)]
pub struct OutboxPage {
    /// Oldest first.
    #[oai(flatten)]
    pub page: Page<OutboxItem>,
    pub status: MailStatus,
}

mirror_enum!(RuleView, alerts::Rule, {
    SlowRequests, ServerErrors, DiskLow, BackupFailed, BackupOverdue, DeadMail, BatchStuck, CloserStalled,
    OtpLocked
});

#[derive(Object)]
pub struct IncidentView {
    pub id: String,
    pub rule: RuleView,
    pub title: String,
    pub detail: String,
    pub opened_at: DateTime<Utc>,
    /// Absent while the incident is open.
    pub resolved_at: Option<DateTime<Utc>>,
}

impl From<Incident> for IncidentView {
    fn from(i: Incident) -> Self {
        IncidentView {
            id: i.id,
            rule: i.rule.into(),
            title: i.title,
            detail: i.detail,
            opened_at: i.opened_at,
            resolved_at: i.resolved_at,
        }
    }
}

#[derive(Object)]
pub struct AlertsView {
    /// Open incidents: the admin banner. Newest first.
    pub active: Vec<IncidentView>,
    /// The latest incidents, open or resolved, newest first (up to 50).
    pub recent: Vec<IncidentView>,
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Admin")]
impl MailApi {
    /// The mail outbox: queued and dead-lettered mail, oldest first, with
    /// the state of the SMTP connection.
    #[oai(path = "/admin/mail", method = "get", operation_id = "listMailOutbox")]
    async fn list_outbox(
        &self,
        auth: Auth,
        state: Query<Option<MailStateView>>,
        limit: Query<Limit>,
        cursor: Query<Cursor>,
    ) -> Result<Json<OutboxPage>, ApiError> {
        auth.require_admin()?;
        let q = OutboxQuery {
            state: state.0.map(Into::into),
            limit: limit.0.0,
            cursor: cursor.0.0,
        };
        let (page, counts) = self
            .state
            .store
            .read(move |txn| Ok::<_, ApiError>((mail::list(txn, &q)?, mail::counts(txn)?)))
            .await?;
        let stats = &self.state.mail;
        Ok(Json(OutboxPage {
            page: Page::of(
                crate::page::Page {
                    items: page.items,
                    next_cursor: page.next_cursor,
                },
                Into::into,
            ),
            status: MailStatus {
                smtp_configured: !self.state.config.smtp.host.is_empty(),
                last_error: stats.last_error(),
                queued: counts.queued,
                dead: counts.dead,
                sent_since_start: stats.sent_total(),
                failed_attempts_since_start: stats.failed_attempts_total(),
            },
        }))
    }

    /// Put a dead-lettered mail back in the queue with a fresh set of tries.
    #[oai(
        path = "/admin/mail/:id/retry",
        method = "post",
        operation_id = "retryMail"
    )]
    async fn retry_mail(
        &self,
        req: &Request,
        auth: Auth,
        #[oai(validator(max_length = 26))] id: Path<String>,
    ) -> Result<Json<OutboxItem>, ApiError> {
        auth.require_admin()?;
        let (id, origin) = (id.0, origin(req, Some(auth.user_id())));
        let m = self
            .state
            .store
            .write(move |txn| mail::retry(txn, &origin, &id).map_err(Error::from))
            .await?;
        self.state.mail.wake();
        Ok(Json(m.into()))
    }

    /// Remove a mail (queued or dead) from the outbox for good.
    #[oai(
        path = "/admin/mail/:id",
        method = "delete",
        operation_id = "discardMail"
    )]
    async fn discard_mail(
        &self,
        req: &Request,
        auth: Auth,
        #[oai(validator(max_length = 26))] id: Path<String>,
    ) -> Result<NoContent, ApiError> {
        auth.require_admin()?;
        let (id, origin) = (id.0, origin(req, Some(auth.user_id())));
        self.state
            .store
            .write(move |txn| mail::discard(txn, &origin, &id).map_err(Error::from))
            .await?;
        Ok(NoContent::Done)
    }

    /// Active alerts (the admin banner) and recent incidents.
    #[oai(path = "/admin/alerts", method = "get", operation_id = "getAlerts")]
    async fn alerts(&self, auth: Auth) -> Result<Json<AlertsView>, ApiError> {
        auth.require_admin()?;
        let (active, recent) = self
            .state
            .store
            .read(|txn| Ok::<_, ApiError>(alerts::overview(txn, 50)?))
            .await?;
        Ok(Json(AlertsView {
            active: active.into_iter().map(Into::into).collect(),
            recent: recent.into_iter().map(Into::into).collect(),
        }))
    }
}
