//! OAuth login endpoints: provider list, redirect to the provider, callback.

use std::sync::Arc;

use poem::web::Data;
use poem::web::cookie::{Cookie, CookieJar, SameSite};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use serde_json::json;

use super::ApiTag;
use super::auth::{expired_cookie, session_cookie};
use super::context::{Ctx, RequestContext};
use crate::auth::login::{self, LoginOutcome};
use crate::auth::oauth::{self, STATE_COOKIE, STATE_LIFETIME_SECONDS};
use crate::auth::sessions::{PARTIAL_LIFETIME_SECONDS, SessionPolicy};
use crate::auth::tokens::{constant_time_eq, random_token};
use crate::auth::{audit, lockout};
use crate::state::AppState;

pub struct OAuthApi;

const STATE_COOKIE_PATH: &str = "/api/auth/oauth/";

#[derive(ApiResponse)]
pub enum Redirect {
    /// Continue in the browser at `Location`.
    #[oai(status = 302)]
    Found(#[oai(header = "Location")] String),
}

#[derive(Object)]
pub struct OAuthProviderInfo {
    pub name: String,
    pub display_name: String,
    pub login_url: String,
}

fn login_error(message: &str) -> Redirect {
    Redirect::Found(format!("/login?error={}", urlencoding::encode(message)))
}

fn redirect_uri(state: &AppState, ctx: &RequestContext, provider: &str) -> String {
    let base = state
        .config()
        .platform
        .public_url
        .clone()
        .unwrap_or_else(|| ctx.origin.clone());
    format!(
        "{}/api/auth/oauth/{provider}/callback",
        base.trim_end_matches('/')
    )
}

#[OpenApi(tag = "ApiTag::Authentication")]
impl OAuthApi {
    /// OAuth login providers configured for this project
    ///
    /// The providers under `auth.oauth_providers` in project.yml, for login buttons: name,
    /// display name (`Google` or `GitHub` for the presets unless overridden) and the URL that
    /// starts the login. The list is empty when none are configured.
    #[oai(
        path = "/api/auth/oauth/providers",
        method = "get",
        operation_id = "oauth_providers"
    )]
    async fn providers(&self, state: Data<&Arc<AppState>>) -> Json<Vec<OAuthProviderInfo>> {
        Json(
            oauth::configured(&state.config().auth)
                .into_iter()
                .map(|p| OAuthProviderInfo {
                    login_url: format!("/api/auth/oauth/{}/login", p.name),
                    name: p.name,
                    display_name: p.display_name,
                })
                .collect(),
        )
    }

    /// Start an OAuth login (redirects to the provider)
    ///
    /// Sets a short-lived state cookie (10 minutes) and redirects to the provider's
    /// authorization page, with the callback at
    /// `{public_url or origin}/api/auth/oauth/{provider_name}/callback`. An unconfigured
    /// provider redirects to `/login?error=…` instead.
    #[oai(
        path = "/api/auth/oauth/:provider_name/login",
        method = "get",
        operation_id = "oauth_login"
    )]
    async fn login(
        &self,
        state: Data<&Arc<AppState>>,
        Ctx(ctx): Ctx,
        jar: &CookieJar,
        /// A key of `auth.oauth_providers` in project.yml (`google`, `github` or a custom
        /// name); an unconfigured name redirects to `/login?error=…`.
        provider_name: Path<String>,
    ) -> Redirect {
        let Some(provider) = oauth::provider(&state.config().auth, &provider_name) else {
            return login_error(&format!(
                "OAuth provider '{}' is not configured",
                *provider_name
            ));
        };
        let nonce = random_token(32);
        let mut cookie = Cookie::new_with_str(STATE_COOKIE, &nonce);
        cookie.set_path(STATE_COOKIE_PATH);
        cookie.set_http_only(true);
        cookie.set_same_site(SameSite::Lax);
        cookie.set_secure(ctx.secure);
        cookie.set_max_age(std::time::Duration::from_secs(
            STATE_LIFETIME_SECONDS as u64,
        ));
        jar.add(cookie);
        let uri = redirect_uri(&state, &ctx, &provider.name);
        Redirect::Found(oauth::authorize_redirect(&provider, &uri, &nonce))
    }

    /// OAuth provider callback (finishes the login, redirects to the app)
    ///
    /// The provider returns here: the server checks `state` against the cookie, exchanges
    /// `code` for the verified email and logs into the **existing** account linked to that
    /// identity or with that email (linking it on first use; it never creates users).
    /// Success sets the session cookie and redirects to `/`, to `/setup` (password change or
    /// 2FA enrolment required) or to `/login?requires_2fa=true`; failures redirect to
    /// `/login?error=…`, and rejected logins are audited as `login_failure`.
    #[allow(clippy::too_many_arguments)] // one parameter per query field of the callback
    #[oai(
        path = "/api/auth/oauth/:provider_name/callback",
        method = "get",
        operation_id = "oauth_callback"
    )]
    async fn callback(
        &self,
        state: Data<&Arc<AppState>>,
        Ctx(ctx): Ctx,
        jar: &CookieJar,
        /// The provider the login was started with (same values as for the login step).
        provider_name: Path<String>,
        /// Authorization code from the provider; without it the login ends with a redirect to
        /// `/login?error=…`.
        code: Query<Option<String>>,
        /// Must equal the state cookie set by the login step (valid 10 minutes); otherwise the
        /// login is refused as a possible CSRF.
        #[oai(name = "state")]
        state_param: Query<Option<String>>,
        /// Sent by the provider when the user cancelled or access was denied; any value ends
        /// the login with a redirect to `/login?error=…`.
        error: Query<Option<String>>,
    ) -> Redirect {
        let expected_state = jar.get(STATE_COOKIE).map(|c| c.value_str().to_string());
        jar.add(expired_cookie(STATE_COOKIE, STATE_COOKIE_PATH));
        let config = state.config();
        let Some(provider) = oauth::provider(&config.auth, &provider_name) else {
            return login_error(&format!(
                "OAuth provider '{}' is not configured",
                *provider_name
            ));
        };
        let reject = |reason: String| {
            let db = state.db.clone();
            let ip = ctx.ip();
            let provider = provider.name.clone();
            async move {
                audit::record(
                    &db,
                    audit::AuditEvent::new("login_failure")
                        .ip(ip)
                        .details(json!({"provider": provider, "reason": reason})),
                )
                .await;
                login_error(&reason)
            }
        };
        if error.is_some() {
            return reject("Login was cancelled or denied by the provider".into()).await;
        }
        let (Some(code), Some(returned_state)) = (code.0, state_param.0) else {
            return reject("Missing authorization code or state".into()).await;
        };
        if !expected_state.is_some_and(|s| constant_time_eq(&s, &returned_state)) {
            return reject("OAuth state mismatch (possible CSRF)".into()).await;
        }
        let uri = redirect_uri(&state, &ctx, &provider.name);
        let identity = match oauth::fetch_identity(&state.http, &provider, &code, &uri).await {
            Ok(identity) => identity,
            Err(reason) => return reject(reason).await,
        };
        let user = match oauth::resolve_user(&state.db, &provider.name, &identity).await {
            Ok(Ok(user)) => user,
            Ok(Err(reason)) => return reject(reason.into()).await,
            Err(err) => {
                tracing::error!("OAuth user resolution failed: {err:?}");
                return login_error("Failed to complete OAuth login");
            }
        };
        let client = ctx.client();
        if let Err(err) = lockout::reset(&state.db, &client.ip, &user.email, &user.id).await {
            tracing::warn!("lockout reset failed: {err:?}");
        }
        match login::start_session(
            &state.db,
            &config.auth,
            user,
            &client.borrow(),
            json!({"provider": provider.name}),
        )
        .await
        {
            Ok(LoginOutcome::Complete {
                user,
                token,
                requires_2fa_setup,
            }) => {
                let max_age = SessionPolicy::from_config(&config.auth)
                    .max_age
                    .num_seconds();
                jar.add(session_cookie(&token, max_age, ctx.secure));
                if user.must_change_password {
                    Redirect::Found("/setup".into())
                } else if requires_2fa_setup {
                    Redirect::Found("/setup?requires_2fa_setup=true".into())
                } else {
                    Redirect::Found("/".into())
                }
            }
            Ok(LoginOutcome::SecondFactorRequired { token }) => {
                jar.add(session_cookie(&token, PARTIAL_LIFETIME_SECONDS, ctx.secure));
                Redirect::Found("/login?requires_2fa=true".into())
            }
            Err(err) => {
                tracing::error!("OAuth session start failed: {err:?}");
                login_error("Failed to complete OAuth login")
            }
        }
    }
}
