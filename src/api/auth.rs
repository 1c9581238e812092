//! Authentication endpoints: login, logout, me, password change, sessions, API keys, invites.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem::web::cookie::{Cookie, CookieJar, SameSite};
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use serde_json::json;

use super::ApiTag;
use super::context::{Caller, Ctx, RequestContext};
use super::models::{SuccessResponse, UserResponse};
use crate::auth::audit::{self, AuditEvent};
use crate::auth::login::{self, LoginOutcome};
use crate::auth::sessions::{self, COOKIE_NAME, PARTIAL_LIFETIME_SECONDS, SessionPolicy};
use crate::auth::{AuthMethod, Role, api_keys, users as accounts};
use crate::state::AppState;
use crate::{Error, Result};

pub struct AuthApi;

#[derive(Object)]
pub struct LoginRequest {
    #[oai(validator(max_length = 254))]
    pub email: String,
    #[oai(validator(max_length = 1024))]
    pub password: String,
}

/// The outcome of a login step.
#[derive(Object)]
pub struct LoginResponse {
    /// `ok` when logged in, `2fa_required` when a TOTP or recovery code must follow.
    pub status: String,
    pub user: Option<UserResponse>,
    pub must_change_password: bool,
    /// A code must be sent to `POST /api/auth/2fa/verify` next.
    pub requires_2fa: bool,
    /// The project requires 2FA and this user has not enrolled yet.
    pub requires_2fa_setup: bool,
}

/// The caller. When signed in as a user, that user's fields appear both at the top
/// level (as the original returns them, so `me.email` works) and under `user`.
#[derive(Object)]
pub struct MeResponse {
    pub auth_enabled: bool,
    pub authenticated: bool,
    #[oai(flatten)]
    pub account: MeAccount,
    pub user: Option<UserResponse>,
    /// The role requests act with (an API key's cap may lower the account's role).
    pub role: Option<String>,
    /// `session`, `api_key`, `disabled` (authentication off) or `cli` (the local `dango` CLI).
    pub auth_method: Option<String>,
    pub must_change_password: bool,
    /// Permission tokens the caller holds.
    pub permissions: Vec<String>,
}

/// The signed-in user's own fields; absent when nobody is signed in or authentication
/// is disabled.
#[derive(Object, Default)]
pub struct MeAccount {
    pub id: Option<String>,
    pub email: Option<String>,
    pub display_name: Option<String>,
    pub is_active: Option<bool>,
    pub totp_enabled: Option<bool>,
    pub oauth_provider: Option<String>,
    pub locked_until: Option<DateTime<Utc>>,
    pub last_login: Option<DateTime<Utc>>,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
}

impl From<&UserResponse> for MeAccount {
    fn from(user: &UserResponse) -> Self {
        Self {
            id: Some(user.id.clone()),
            email: Some(user.email.clone()),
            display_name: Some(user.display_name.clone()),
            is_active: Some(user.is_active),
            totp_enabled: Some(user.totp_enabled),
            oauth_provider: user.oauth_provider.clone(),
            locked_until: user.locked_until,
            last_login: user.last_login,
            created_at: Some(user.created_at),
            updated_at: Some(user.updated_at),
        }
    }
}

#[derive(Object)]
pub struct ChangePasswordRequest {
    #[oai(validator(max_length = 1024))]
    pub current_password: String,
    #[oai(validator(max_length = 1024))]
    pub new_password: String,
}

#[derive(Object)]
pub struct SessionInfo {
    pub id: String,
    pub created_at: DateTime<Utc>,
    pub last_activity: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
    pub is_current: bool,
}

#[derive(Object)]
pub struct CreateApiKeyRequest {
    pub name: String,
    /// When the key stops working (never, when absent).
    pub expires_at: Option<DateTime<Utc>>,
    /// Cap the key's role (viewer, editor, admin); never above your own.
    pub role: Option<String>,
}

#[derive(Object)]
pub struct ApiKeyInfo {
    pub id: String,
    pub name: String,
    pub key_prefix: String,
    /// The role cap, if any.
    pub role: Option<String>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Object)]
pub struct CreatedApiKey {
    /// The full key. It is shown only this once.
    pub key: String,
    pub id: String,
    pub name: String,
    pub key_prefix: String,
    pub role: Option<String>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Object)]
pub struct AcceptInviteRequest {
    #[oai(validator(max_length = 256))]
    pub token: String,
    #[oai(validator(max_length = 1024))]
    pub password: String,
    pub display_name: Option<String>,
}

#[derive(Object)]
pub struct AcceptInviteResponse {
    pub message: String,
    pub email: String,
}

/// The session cookie: HttpOnly, SameSite=Lax, Secure over HTTPS.
pub(crate) fn session_cookie(token: &str, max_age_seconds: i64, secure: bool) -> Cookie {
    let mut cookie = Cookie::new_with_str(COOKIE_NAME, token);
    cookie.set_path("/");
    cookie.set_http_only(true);
    cookie.set_same_site(SameSite::Lax);
    cookie.set_secure(secure);
    cookie.set_max_age(std::time::Duration::from_secs(max_age_seconds.max(0) as u64));
    cookie
}

pub(crate) fn expired_cookie(name: &str, path: &str) -> Cookie {
    let mut cookie = Cookie::new_with_str(name, "");
    cookie.set_path(path);
    cookie.set_http_only(true);
    cookie.set_same_site(SameSite::Lax);
    cookie.set_max_age(std::time::Duration::ZERO);
    cookie
}

/// Sets the cookie for a login outcome and builds the response body.
pub(crate) fn login_response(
    state: &AppState,
    ctx: &RequestContext,
    jar: &CookieJar,
    outcome: LoginOutcome,
) -> LoginResponse {
    match outcome {
        LoginOutcome::Complete {
            user,
            token,
            requires_2fa_setup,
        } => {
            let max_age = SessionPolicy::from_config(&state.config().auth)
                .max_age
                .num_seconds();
            jar.add(session_cookie(&token, max_age, ctx.secure));
            LoginResponse {
                status: "ok".into(),
                must_change_password: user.must_change_password,
                user: Some(UserResponse::from(user.as_ref())),
                requires_2fa: false,
                requires_2fa_setup,
            }
        }
        LoginOutcome::SecondFactorRequired { token } => {
            jar.add(session_cookie(&token, PARTIAL_LIFETIME_SECONDS, ctx.secure));
            LoginResponse {
                status: "2fa_required".into(),
                user: None,
                must_change_password: false,
                requires_2fa: true,
                requires_2fa_setup: false,
            }
        }
    }
}

fn key_info(key: &dango_entity::api_keys::Model) -> ApiKeyInfo {
    ApiKeyInfo {
        id: key.id.clone(),
        name: key.name.clone(),
        key_prefix: key.key_prefix.clone(),
        role: key.role_cap.clone(),
        created_at: key.created_at,
        last_used_at: key.last_used_at,
        expires_at: key.expires_at,
    }
}

#[OpenApi(tag = "ApiTag::Authentication")]
impl AuthApi {
    /// Log in with email and password
    ///
    /// Sets the `dango_session` cookie. With 2FA enabled the answer is
    /// `{"status": "2fa_required", "requires_2fa": true}` and a short-lived partial
    /// session; send the code to `POST /api/auth/2fa/verify`. Wrong credentials answer
    /// 400 (never 401); 5 failures lock the account for 15 minutes (423).
    #[oai(path = "/api/auth/login", method = "post", operation_id = "login")]
    async fn login(
        &self,
        state: Data<&Arc<AppState>>,
        Ctx(ctx): Ctx,
        jar: &CookieJar,
        body: Json<LoginRequest>,
    ) -> Result<Json<LoginResponse>> {
        let config = state.config();
        let client = ctx.client();
        let outcome = login::password_login(
            &state.db,
            &config.auth,
            &body.email,
            &body.password,
            &client.borrow(),
        )
        .await?;
        Ok(Json(login_response(&state, &ctx, jar, outcome)))
    }

    /// Log out (end the current session)
    ///
    /// Ends the session the request was made with and expires the `dango_session` cookie;
    /// the logout is audited. With an API key nothing is revoked (revoke the key instead),
    /// but the call still succeeds.
    #[oai(path = "/api/auth/logout", method = "post", operation_id = "logout")]
    async fn logout(
        &self,
        state: Data<&Arc<AppState>>,
        caller: Caller,
        jar: &CookieJar,
    ) -> Result<Json<SuccessResponse>> {
        let Caller(principal, ctx) = caller;
        if let Some(session_id) = principal.session_id() {
            sessions::delete(&state.db, session_id).await?;
        }
        jar.add(expired_cookie(COOKIE_NAME, "/"));
        audit::record(
            &state.db,
            AuditEvent::new("logout")
                .actor(&principal)
                .ip(ctx.client_ip),
        )
        .await;
        Ok(SuccessResponse::ok())
    }

    /// The current user (or that authentication is disabled)
    ///
    /// Who the caller is; when nobody is signed in it answers with `authenticated: false`.
    /// With authentication disabled in project.yml (`auth_method: disabled`), or for the
    /// local `dango` CLI (`auth_method: cli`), the caller is an admin with no `user`; a
    /// script's run key (`auth_method: run_key`) is an editor with no `user`.
    /// Otherwise it returns the account, with its fields both under `user` and at the top
    /// level, the effective `role` (an API key's cap may lower it), `auth_method` and the
    /// permission tokens held.
    #[oai(path = "/api/auth/me", method = "get", operation_id = "me")]
    async fn me(&self, state: Data<&Arc<AppState>>, Ctx(ctx): Ctx) -> Result<Json<MeResponse>> {
        let auth_enabled = state.config().auth.enabled;
        let Some(principal) = ctx.principal else {
            return Ok(Json(MeResponse {
                auth_enabled,
                authenticated: false,
                account: MeAccount::default(),
                user: None,
                role: None,
                auth_method: None,
                must_change_password: false,
                permissions: vec![],
            }));
        };
        let user = match (&principal.method, &principal.account) {
            (AuthMethod::Disabled | AuthMethod::LocalCli | AuthMethod::RunKey { .. }, _) => None,
            // Read moments ago by the authentication of this request.
            (_, Some(account)) => Some(UserResponse::from(account.as_ref())),
            (_, None) => Some(UserResponse::from(
                &accounts::get(&state.db, &principal.user_id).await?,
            )),
        };
        let method = match principal.method {
            AuthMethod::Session { .. } => "session",
            AuthMethod::ApiKey { .. } => "api_key",
            AuthMethod::Disabled => "disabled",
            AuthMethod::LocalCli => "cli",
            AuthMethod::RunKey { .. } => "run_key",
        };
        Ok(Json(MeResponse {
            auth_enabled,
            authenticated: true,
            account: user.as_ref().map(MeAccount::from).unwrap_or_default(),
            user,
            role: Some(principal.role.as_str().into()),
            auth_method: Some(method.into()),
            must_change_password: principal.must_change_password,
            permissions: crate::auth::Permission::ALL
                .iter()
                .filter(|p| principal.can(**p))
                .map(|p| p.as_str().to_string())
                .collect(),
        }))
    }

    /// Change your password
    ///
    /// Ends all your sessions and, when called with a session, starts a new one (new cookie).
    #[oai(
        path = "/api/auth/change-password",
        method = "post",
        operation_id = "change_password"
    )]
    async fn change_password(
        &self,
        state: Data<&Arc<AppState>>,
        caller: Caller,
        jar: &CookieJar,
        body: Json<ChangePasswordRequest>,
    ) -> Result<Json<SuccessResponse>> {
        let Caller(principal, ctx) = caller;
        let user = accounts::get(&state.db, &principal.user_id).await?;
        accounts::change_password(&state.db, &user, &body.current_password, &body.new_password)
            .await?;
        sessions::delete_all_for_user(&state.db, &user.id).await?;
        if principal.session_id().is_some() {
            let policy = SessionPolicy::from_config(&state.config().auth);
            let client = ctx.client();
            let (token, _) =
                sessions::create(&state.db, &user.id, false, policy, &client.borrow()).await?;
            jar.add(session_cookie(
                &token,
                policy.max_age.num_seconds(),
                ctx.secure,
            ));
        }
        audit::record(
            &state.db,
            AuditEvent::new("password_change")
                .actor(&principal)
                .ip(ctx.client_ip),
        )
        .await;
        Ok(SuccessResponse::ok())
    }

    /// Your active sessions
    ///
    /// Your live, fully logged-in sessions, newest first (2FA-pending and expired sessions
    /// are left out), with client IP and user agent. `is_current` marks the session of this
    /// request.
    #[oai(
        path = "/api/auth/sessions",
        method = "get",
        operation_id = "list_sessions"
    )]
    async fn list_sessions(
        &self,
        state: Data<&Arc<AppState>>,
        caller: Caller,
    ) -> Result<Json<Vec<SessionInfo>>> {
        let Caller(principal, _) = caller;
        let current = principal.session_id();
        let rows = sessions::list_for_user(&state.db, &principal.user_id).await?;
        Ok(Json(
            rows.into_iter()
                .map(|s| SessionInfo {
                    is_current: current == Some(s.id.as_str()),
                    id: s.id,
                    created_at: s.created_at,
                    last_activity: s.last_activity,
                    expires_at: s.expires_at,
                    ip_address: s.ip_address,
                    user_agent: s.user_agent,
                })
                .collect(),
        ))
    }

    /// Revoke one of your other sessions
    ///
    /// Ends one of your other live sessions; the revocation is audited. The current session
    /// cannot be revoked here (use logout), and an id that is not one of your live sessions
    /// is not found.
    #[oai(
        path = "/api/auth/sessions/:session_id",
        method = "delete",
        operation_id = "revoke_session"
    )]
    async fn revoke_session(
        &self,
        state: Data<&Arc<AppState>>,
        caller: Caller,
        /// Id of one of your live sessions (a UUID, from `GET /api/auth/sessions`); the
        /// current session is refused (400), any other id is not found (404).
        session_id: Path<String>,
    ) -> Result<Json<SuccessResponse>> {
        let Caller(principal, ctx) = caller;
        if principal.session_id() == Some(session_id.as_str()) {
            return Err(Error::bad_request(
                "Cannot revoke current session. Use logout.",
            ));
        }
        let owned = sessions::list_for_user(&state.db, &principal.user_id)
            .await?
            .into_iter()
            .any(|s| s.id == *session_id);
        if !owned {
            return Err(Error::not_found("Session not found"));
        }
        sessions::delete(&state.db, &session_id).await?;
        audit::record(
            &state.db,
            AuditEvent::new("session_revoked")
                .actor(&principal)
                .ip(ctx.client_ip)
                .details(json!({"session_id": *session_id})),
        )
        .await;
        Ok(SuccessResponse::ok())
    }

    /// Create an API key
    ///
    /// The full key is in this answer only. A key acts with your role, or with the lower
    /// `role` you give it.
    #[oai(
        path = "/api/auth/api-keys",
        method = "post",
        operation_id = "create_api_key"
    )]
    async fn create_api_key(
        &self,
        state: Data<&Arc<AppState>>,
        caller: Caller,
        body: Json<CreateApiKeyRequest>,
    ) -> Result<Json<CreatedApiKey>> {
        let Caller(principal, ctx) = caller;
        let role_cap = match body.role.as_deref() {
            None => None,
            Some(r) => Some(Role::parse(r).ok_or_else(|| {
                Error::bad_request(format!(
                    "Invalid role '{r}'. Must be admin, editor, or viewer."
                ))
            })?),
        };
        // A capped caller (an API key) cannot mint a key stronger than itself.
        let role_cap = match (role_cap, principal.method.clone()) {
            (None, AuthMethod::ApiKey { .. }) => Some(principal.role),
            (cap, _) => cap,
        };
        let owner = accounts::get(&state.db, &principal.user_id).await?;
        let (key, model) = api_keys::create(
            &state.db,
            &owner,
            principal.role,
            api_keys::NewKey {
                name: &body.name,
                expires_at: body.expires_at,
                role_cap,
            },
        )
        .await?;
        audit::record(
            &state.db,
            AuditEvent::new("api_key_created")
                .actor(&principal)
                .ip(ctx.client_ip)
                .details(json!({"name": model.name, "key_id": model.id, "role": model.role_cap})),
        )
        .await;
        let info = key_info(&model);
        Ok(Json(CreatedApiKey {
            key,
            id: info.id,
            name: info.name,
            key_prefix: info.key_prefix,
            role: info.role,
            created_at: info.created_at,
            last_used_at: info.last_used_at,
            expires_at: info.expires_at,
        }))
    }

    /// Your API keys (prefixes and metadata, never the keys)
    ///
    /// Your API keys that have not been revoked, newest first: name, 12-character prefix,
    /// role cap, creation time, last use (updated at most once a minute) and expiry. Expired
    /// keys are still listed.
    #[oai(
        path = "/api/auth/api-keys",
        method = "get",
        operation_id = "list_api_keys"
    )]
    async fn list_api_keys(
        &self,
        state: Data<&Arc<AppState>>,
        caller: Caller,
    ) -> Result<Json<Vec<ApiKeyInfo>>> {
        let Caller(principal, _) = caller;
        let keys = api_keys::list(&state.db, &principal.user_id).await?;
        Ok(Json(keys.iter().map(key_info).collect()))
    }

    /// Revoke one of your API keys
    ///
    /// Revokes one of your own keys at once: requests made with it are no longer
    /// authenticated. The revocation is audited; an unknown, already revoked or someone
    /// else's key is not found.
    #[oai(
        path = "/api/auth/api-keys/:key_id",
        method = "delete",
        operation_id = "revoke_api_key"
    )]
    async fn revoke_api_key(
        &self,
        state: Data<&Arc<AppState>>,
        caller: Caller,
        /// `id` of one of your active keys (a UUID, from `GET /api/auth/api-keys`); any other
        /// id is not found (404).
        key_id: Path<String>,
    ) -> Result<Json<SuccessResponse>> {
        let Caller(principal, ctx) = caller;
        let key = api_keys::revoke(&state.db, &principal.user_id, &key_id).await?;
        audit::record(
            &state.db,
            AuditEvent::new("api_key_revoked")
                .actor(&principal)
                .ip(ctx.client_ip)
                .details(json!({"name": key.name, "key_id": key.id})),
        )
        .await;
        Ok(SuccessResponse::ok())
    }

    /// Accept an invitation and set your password
    ///
    /// The invite link is valid for 72 hours. No session is created: log in afterwards.
    #[oai(
        path = "/api/auth/accept-invite",
        method = "post",
        operation_id = "accept_invite"
    )]
    async fn accept_invite(
        &self,
        state: Data<&Arc<AppState>>,
        Ctx(ctx): Ctx,
        body: Json<AcceptInviteRequest>,
    ) -> Result<Json<AcceptInviteResponse>> {
        let user = accounts::accept_invite(
            &state.db,
            &body.token,
            &body.password,
            body.display_name.as_deref(),
        )
        .await?;
        audit::record(
            &state.db,
            AuditEvent::new("invite_accepted")
                .user(&user.id, &user.email)
                .ip(ctx.client_ip),
        )
        .await;
        Ok(Json(AcceptInviteResponse {
            message: "Password set successfully".into(),
            email: user.email,
        }))
    }
}
