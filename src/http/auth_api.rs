//! `/api/v1/auth/*` and `/api/v1/me*`: accounts, sessions, API tokens.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use poem::Request;
use poem::web::cookie::{Cookie, SameSite};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::error::ApiError;
use super::extract::{Auth, SESSION_COOKIE};
use super::middleware::ClientIp;
use super::page::{self, Cursor, Limit, Page};
use super::types::{Text, mirror_enum};
use super::{ApiTags, origin};
use crate::app::AppState;
use crate::auth::service::{ApiToken, NewSession, NewUser, Registered, Via, session_public_id};
use crate::catalog;
use crate::domain::user::{User, UserStatus};
use crate::error::Error;

pub struct AuthApi {
    pub state: Arc<AppState>,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct RegisterRequest {
    #[oai(validator(max_length = 254))]
    pub email: Text,
    #[oai(validator(max_length = 100))]
    pub name: Text,
    /// 8 to 128 characters.
    #[oai(validator(max_length = 128))]
    pub password: Text,
    #[oai(validator(max_length = 20))]
    pub phone: Option<Text>,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct LoginRequest {
    #[oai(validator(max_length = 254))]
    pub email: Text,
    #[oai(validator(max_length = 128))]
    pub password: Text,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct SetupRequest {
    /// The token from the one-time link printed at first start.
    #[oai(validator(max_length = 64))]
    pub token: Text,
    #[oai(validator(max_length = 254))]
    pub email: Text,
    #[oai(validator(max_length = 100))]
    pub name: Text,
    #[oai(validator(max_length = 128))]
    pub password: Text,
    #[oai(validator(max_length = 20))]
    pub phone: Option<Text>,
}

mirror_enum!(UserStatusView, UserStatus, { Active, Suspended, Banned });

/// A user as they see themselves.
#[derive(Object)]
pub struct Me {
    pub id: String,
    pub email: String,
    pub name: String,
    pub phone: Option<String>,
    pub admin: bool,
    pub status: UserStatusView,
    pub email_verified: bool,
    pub created_at: DateTime<Utc>,
    /// The shop you own (not deleted), if any: `GET /me/shop` reads it.
    pub shop_id: Option<String>,
    /// Email me when the batch of one of my orders locks (off unless chosen).
    pub email_batch_locked: bool,
    /// Email me when one of my orders is delivered (off unless chosen).
    pub email_delivered: bool,
}

impl Me {
    fn new(u: User, shop_id: Option<String>) -> Self {
        Me {
            id: u.id,
            email: u.email,
            name: u.name,
            phone: u.phone,
            admin: u.is_admin,
            status: u.status.into(),
            email_verified: u.email_verified,
            created_at: u.created_at,
            shop_id,
            email_batch_locked: u.email_prefs.batch_locked,
            email_delivered: u.email_prefs.delivered,
        }
    }
}

/// Your name, phone and order emails; only the fields sent change.
#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct UpdateProfileRequest {
    /// 1 to 100 characters.
    #[oai(validator(max_length = 100))]
    pub name: Option<Text>,
    /// 5 to 15 digits (with `+`, spaces, dashes, parentheses); empty removes it.
    #[oai(validator(max_length = 20))]
    pub phone: Option<String>,
    /// Email me when the batch of one of my orders locks.
    pub email_batch_locked: Option<bool>,
    /// Email me when one of my orders is delivered.
    pub email_delivered: Option<bool>,
}

#[derive(Object)]
pub struct SignedIn {
    pub user: Me,
    /// Send as `X-CSRF-Token` on every unsafe request made with the cookie.
    pub csrf_token: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(ApiResponse)]
pub enum SignInResponse {
    /// Signed in; the session cookie is set.
    #[oai(status = 200)]
    Ok(Json<SignedIn>, #[oai(header = "Set-Cookie")] String),
    /// Account created and signed in; the session cookie is set.
    #[oai(status = 201)]
    Created(Json<SignedIn>, #[oai(header = "Set-Cookie")] String),
}

/// The one answer to every accepted registration.
#[derive(Object)]
pub struct CheckYourMail {
    /// What to tell the person who signed up.
    pub message: String,
}

/// Said for a new address and a known one alike.
pub const CHECK_YOUR_MAIL: &str = "Check your mail: we sent a link to that address. \
     Open it to confirm the address and sign in.";

#[derive(ApiResponse)]
pub enum RegisterResponse {
    /// Accepted, whether or not the address already had an account: a mail
    /// with a confirmation link (or, for a known address, a reset link) is
    /// on its way. No session is created.
    #[oai(status = 202)]
    Accepted(Json<CheckYourMail>),
}

#[derive(ApiResponse)]
pub enum LogoutResponse {
    /// Signed out; the cookie is cleared.
    #[oai(status = 204)]
    Done(#[oai(header = "Set-Cookie")] String),
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct EmailTokenRequest {
    /// The token from the mailed link (64 hex characters).
    #[oai(validator(max_length = 64))]
    pub token: Text,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct ResetRequest {
    #[oai(validator(max_length = 254))]
    pub email: Text,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct ResetConfirmRequest {
    /// The token from the mailed link (64 hex characters).
    #[oai(validator(max_length = 64))]
    pub token: Text,
    /// The new password, 8 to 128 characters.
    #[oai(validator(max_length = 128))]
    pub password: Text,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    #[oai(validator(max_length = 128))]
    pub current_password: Text,
    /// The new password, 8 to 128 characters.
    #[oai(validator(max_length = 128))]
    pub new_password: Text,
}

#[derive(Object)]
pub struct PasswordChanged {
    /// Other sessions (signed-in devices) that were ended.
    pub sessions_ended: u32,
}

/// A signed-in device.
#[derive(Object)]
pub struct SessionView {
    /// Names the session for `DELETE /me/sessions/{id}`; not a credential.
    pub id: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// The session this request came with.
    pub current: bool,
}

#[derive(ApiResponse)]
pub enum AcceptedResponse {
    /// Accepted: a mail is on its way if there is anything to send.
    #[oai(status = 202)]
    Accepted,
}

#[derive(ApiResponse)]
pub enum NoContent {
    #[oai(status = 204)]
    Done,
}

#[derive(Object)]
pub struct TokenView {
    pub id: String,
    pub name: String,
    /// The first characters of the secret.
    pub hint: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
}

impl From<ApiToken> for TokenView {
    fn from(t: ApiToken) -> Self {
        TokenView {
            id: t.id,
            name: t.name,
            hint: t.hint,
            created_at: t.created_at,
            expires_at: t.expires_at,
        }
    }
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct CreateTokenRequest {
    #[oai(validator(max_length = 60))]
    pub name: Text,
    /// 1 to 3650; omitted means the token does not expire.
    #[oai(validator(minimum(value = "1"), maximum(value = "3650")))]
    pub expires_in_days: Option<u32>,
}

#[derive(Object)]
pub struct CreatedToken {
    pub token: TokenView,
    /// The secret, shown this once. Use it as `Authorization: Bearer <secret>`.
    pub secret: String,
}

#[derive(ApiResponse)]
pub enum CreatedTokenResponse {
    #[oai(status = 201)]
    Created(Json<CreatedToken>),
}

/// The client address the middleware worked out (`server.trusted_proxies`).
fn client_ip(req: &Request) -> std::net::IpAddr {
    req.extensions()
        .get::<ClientIp>()
        .map(|c| c.0)
        .unwrap_or(std::net::IpAddr::from([127, 0, 0, 1]))
}

impl AuthApi {
    fn session_cookie(&self, s: &NewSession) -> String {
        let mut c = Cookie::new_with_str(SESSION_COOKIE, s.token.clone());
        c.set_http_only(true);
        c.set_same_site(SameSite::Lax);
        c.set_path("/");
        c.set_secure(self.state.secure_cookies());
        let secs = (s.expires_at - Utc::now()).num_seconds().max(0) as u64;
        c.set_max_age(std::time::Duration::from_secs(secs));
        c.to_string()
    }

    /// The user as they see themselves, with the shop they own.
    async fn me_view(&self, user: User) -> Result<Me, ApiError> {
        let uid = user.id.clone();
        let shop = self
            .state
            .store
            .read(move |txn| Ok::<_, Error>(catalog::owned_shop(txn, &uid)?.map(|s| s.id)))
            .await?;
        Ok(Me::new(user, shop))
    }

    async fn signed_in(&self, user: User, s: &NewSession) -> Result<SignedIn, ApiError> {
        Ok(SignedIn {
            user: self.me_view(user).await?,
            csrf_token: s.csrf_token.clone(),
            expires_at: s.expires_at,
        })
    }
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Auth")]
impl AuthApi {
    /// Create a student account. The answer is 202 "check your mail"
    /// whether or not the address already has an account (no enumeration):
    /// a new address is mailed a confirmation link that signs the account
    /// in (`/auth/verify-email/confirm`); a known one is mailed that it has
    /// an account, with a reset link. Throttled per client network and in
    /// total (429 with `Retry-After`).
    #[oai(
        path = "/auth/register",
        method = "post",
        operation_id = "registerAccount"
    )]
    async fn register(
        &self,
        req: &Request,
        body: Json<RegisterRequest>,
    ) -> Result<RegisterResponse, ApiError> {
        let b = body.0;
        let done = self
            .state
            .auth
            .register(
                NewUser {
                    email: b.email.0,
                    name: b.name.0,
                    password: b.password.0,
                    phone: b.phone.map(Text::into_inner),
                },
                client_ip(req),
            )
            .await?;
        self.state.mail.wake();
        // Without SMTP nothing reaches the mailbox: the link goes to the
        // log instead, as the first-admin link does, so a demo still works.
        if self.state.config.smtp.host.is_empty() {
            match done {
                Registered::New {
                    email,
                    verify_token,
                } => tracing::warn!(
                    %email,
                    "smtp.host is empty: confirm this new account with {}/verify-email?token={verify_token}",
                    self.state.config.public_url()
                ),
                Registered::Known { email, mailed } => tracing::info!(
                    %email,
                    mailed,
                    "registration for an address that has an account; its mail waits in the outbox (smtp.host is empty)"
                ),
            }
        }
        Ok(RegisterResponse::Accepted(Json(CheckYourMail {
            message: CHECK_YOUR_MAIL.into(),
        })))
    }

    /// Sign in with email and password. Throttled per account and per IP.
    #[oai(path = "/auth/login", method = "post", operation_id = "signIn")]
    async fn login(
        &self,
        req: &Request,
        body: Json<LoginRequest>,
    ) -> Result<SignInResponse, ApiError> {
        let b = body.0;
        let (user, session) = self
            .state
            .auth
            .login(&b.email.0, b.password.0, client_ip(req))
            .await?;
        let cookie = self.session_cookie(&session);
        Ok(SignInResponse::Ok(
            Json(self.signed_in(user, &session).await?),
            cookie,
        ))
    }

    /// End this session and the event streams it opened.
    #[oai(path = "/auth/logout", method = "post", operation_id = "signOut")]
    async fn logout(&self, auth: Auth) -> Result<LogoutResponse, ApiError> {
        self.state.auth.logout(&auth.0).await?;
        let mut c = Cookie::new_with_str(SESSION_COOKIE, "");
        c.set_http_only(true);
        c.set_same_site(SameSite::Lax);
        c.set_path("/");
        c.set_max_age(std::time::Duration::ZERO);
        Ok(LogoutResponse::Done(c.to_string()))
    }

    /// Create the first admin with the one-time link printed at first start.
    #[oai(path = "/auth/setup", method = "post", operation_id = "completeSetup")]
    async fn setup(
        &self,
        req: &Request,
        body: Json<SetupRequest>,
    ) -> Result<SignInResponse, ApiError> {
        let b = body.0;
        let (user, session) = self
            .state
            .auth
            .complete_setup(
                &b.token.0,
                NewUser {
                    email: b.email.0,
                    name: b.name.0,
                    password: b.password.0,
                    phone: b.phone.map(Text::into_inner),
                },
                origin(req, None),
            )
            .await?;
        let cookie = self.session_cookie(&session);
        Ok(SignInResponse::Created(
            Json(self.signed_in(user, &session).await?),
            cookie,
        ))
    }

    /// Mail yourself a new email-verification link (one a minute at most;
    /// registering already sends one). 409 when already verified.
    #[oai(
        path = "/auth/verify-email/request",
        method = "post",
        operation_id = "requestEmailVerification"
    )]
    async fn verify_email_request(&self, auth: Auth) -> Result<AcceptedResponse, ApiError> {
        self.state.auth.request_verification(auth.user_id()).await?;
        self.state.mail.wake();
        Ok(AcceptedResponse::Accepted)
    }

    /// Confirm an email address with the token from the mailed link, and
    /// sign in: the session cookie is set. No sign-in needed before; the
    /// token works once (422 after), and a suspended or banned account is
    /// refused (403) without using it up.
    #[oai(
        path = "/auth/verify-email/confirm",
        method = "post",
        operation_id = "confirmEmailVerification"
    )]
    async fn verify_email_confirm(
        &self,
        body: Json<EmailTokenRequest>,
    ) -> Result<SignInResponse, ApiError> {
        let (user, session) = self
            .state
            .auth
            .confirm_verification(&body.0.token.0)
            .await?;
        let cookie = self.session_cookie(&session);
        Ok(SignInResponse::Ok(
            Json(self.signed_in(user, &session).await?),
            cookie,
        ))
    }

    /// Ask for a password-reset link. The answer is 202 whether or not the
    /// address has an account; throttled like login.
    #[oai(
        path = "/auth/password-reset/request",
        method = "post",
        operation_id = "requestPasswordReset"
    )]
    async fn password_reset_request(
        &self,
        req: &Request,
        body: Json<ResetRequest>,
    ) -> Result<AcceptedResponse, ApiError> {
        self.state
            .auth
            .request_password_reset(&body.0.email.0, client_ip(req))
            .await?;
        self.state.mail.wake();
        Ok(AcceptedResponse::Accepted)
    }

    /// Set a new password with the token from the mailed link. Ends every
    /// session and revokes every API token of the account, with the event
    /// streams they opened; sign in again afterwards.
    #[oai(
        path = "/auth/password-reset/confirm",
        method = "post",
        operation_id = "confirmPasswordReset"
    )]
    async fn password_reset_confirm(
        &self,
        req: &Request,
        body: Json<ResetConfirmRequest>,
    ) -> Result<NoContent, ApiError> {
        let b = body.0;
        self.state
            .auth
            .reset_password(&b.token.0, b.password.0, origin(req, None))
            .await?;
        Ok(NoContent::Done)
    }

    /// The signed-in user.
    #[oai(path = "/me", method = "get", operation_id = "getCurrentUser")]
    async fn me(&self, auth: Auth) -> Result<Json<Me>, ApiError> {
        Ok(Json(self.me_view(auth.0.user).await?))
    }

    /// Change your name, phone or order emails (only the fields sent).
    /// Audited.
    #[oai(path = "/me", method = "patch", operation_id = "updateProfile")]
    async fn update_profile(
        &self,
        req: &Request,
        auth: Auth,
        body: Json<UpdateProfileRequest>,
    ) -> Result<Json<Me>, ApiError> {
        let b = body.0;
        let user = self
            .state
            .auth
            .update_profile(
                auth.user_id(),
                b.name.map(Text::into_inner),
                b.phone,
                crate::domain::user::EmailPrefsChange {
                    batch_locked: b.email_batch_locked,
                    delivered: b.email_delivered,
                },
                origin(req, Some(auth.user_id())),
            )
            .await?;
        Ok(Json(self.me_view(user).await?))
    }

    /// Change your password, proving the current one. Every other session
    /// ends (with its event streams); this one stays signed in; API tokens
    /// stay. Throttled like sign-in.
    #[oai(
        path = "/me/password",
        method = "post",
        operation_id = "changePassword"
    )]
    async fn change_password(
        &self,
        req: &Request,
        auth: Auth,
        body: Json<ChangePasswordRequest>,
    ) -> Result<Json<PasswordChanged>, ApiError> {
        let b = body.0;
        let ended = self
            .state
            .auth
            .change_password(
                &auth.0,
                b.current_password.0,
                b.new_password.0,
                client_ip(req),
                origin(req, Some(auth.user_id())),
            )
            .await?;
        Ok(Json(PasswordChanged {
            sessions_ended: u32::try_from(ended).unwrap_or(u32::MAX),
        }))
    }

    /// Your signed-in devices (browser sessions), newest first.
    #[oai(path = "/me/sessions", method = "get", operation_id = "listSessions")]
    async fn list_sessions(
        &self,
        auth: Auth,
        limit: Query<Limit>,
        cursor: Query<Cursor>,
    ) -> Result<Json<Page<SessionView>>, ApiError> {
        let current = match &auth.0.via {
            Via::Session { key, .. } => Some(session_public_id(key)),
            Via::ApiToken { .. } => None,
        };
        let list = self
            .state
            .auth
            .list_sessions(auth.user_id(), page::request(limit.0, cursor.0))
            .await?;
        Ok(Json(Page::of(list, |(key, s)| {
            let id = session_public_id(&key);
            SessionView {
                current: current.as_deref() == Some(id.as_str()),
                id,
                created_at: s.created_at,
                expires_at: s.expires_at,
            }
        })))
    }

    /// Sign out one of your devices; the event streams it opened end.
    #[oai(
        path = "/me/sessions/:id",
        method = "delete",
        operation_id = "endSession"
    )]
    async fn end_session(
        &self,
        auth: Auth,
        #[oai(validator(max_length = 16))] id: Path<String>,
    ) -> Result<NoContent, ApiError> {
        self.state.auth.end_session(auth.user_id(), &id.0).await?;
        Ok(NoContent::Done)
    }

    /// Your personal API tokens (secrets are never shown again).
    #[oai(path = "/me/tokens", method = "get", operation_id = "listTokens")]
    async fn list_tokens(&self, auth: Auth) -> Result<Json<Vec<TokenView>>, ApiError> {
        let tokens = self.state.auth.list_tokens(auth.user_id()).await?;
        Ok(Json(tokens.into_iter().map(Into::into).collect()))
    }

    /// Create a personal API token; its secret is in this response only.
    #[oai(path = "/me/tokens", method = "post", operation_id = "createToken")]
    async fn create_token(
        &self,
        auth: Auth,
        body: Json<CreateTokenRequest>,
    ) -> Result<CreatedTokenResponse, ApiError> {
        let (token, secret) = self
            .state
            .auth
            .create_token(auth.user_id(), &body.0.name.0, body.0.expires_in_days)
            .await?;
        Ok(CreatedTokenResponse::Created(Json(CreatedToken {
            token: token.into(),
            secret,
        })))
    }

    /// Revoke one of your tokens; event streams it opened end.
    #[oai(
        path = "/me/tokens/:id",
        method = "delete",
        operation_id = "revokeToken"
    )]
    async fn revoke_token(
        &self,
        auth: Auth,
        #[oai(validator(max_length = 26))] id: Path<String>,
    ) -> Result<NoContent, ApiError> {
        self.state.auth.revoke_token(auth.user_id(), &id.0).await?;
        Ok(NoContent::Done)
    }
}
