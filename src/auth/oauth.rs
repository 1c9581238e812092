//! OAuth/OIDC social login: Google and GitHub presets plus generic providers whose
//! URLs come from `project.yml`. Only verified emails are trusted, and users are never
//! created here: an admin must have created the account first.

use std::time::Duration;

use chrono::Utc;
use dango_entity::users;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, IntoActiveModel, QueryFilter,
    Set,
};
use serde::Deserialize;

use super::normalize_email;
use crate::config::project::{AuthConfig, OAuthProviderConfig};

pub const STATE_COOKIE: &str = "dango_oauth_state";
pub const STATE_LIFETIME_SECONDS: i64 = 600;
const HTTP_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProviderKind {
    Google,
    Github,
    Generic,
}

#[derive(Clone, Debug)]
pub struct Provider {
    pub name: String,
    pub display_name: String,
    pub kind: ProviderKind,
    pub client_id: String,
    pub client_secret: String,
    pub authorize_url: String,
    pub token_url: String,
    pub userinfo_url: String,
    pub scopes: String,
}

/// The provider called `name`, if it is configured.
pub fn provider(config: &AuthConfig, name: &str) -> Option<Provider> {
    let settings = config.oauth_providers.get(name)?;
    Some(build(name, settings))
}

/// Every configured provider (for the login page's buttons).
pub fn configured(config: &AuthConfig) -> Vec<Provider> {
    config
        .oauth_providers
        .iter()
        .map(|(name, settings)| build(name, settings))
        .collect()
}

fn build(name: &str, settings: &OAuthProviderConfig) -> Provider {
    let kind = match name {
        "google" => ProviderKind::Google,
        "github" => ProviderKind::Github,
        _ => ProviderKind::Generic,
    };
    let (authorize, token, userinfo, scopes, display) = match kind {
        ProviderKind::Google => (
            "https://accounts.google.com/o/oauth2/v2/auth",
            "https://oauth2.googleapis.com/token",
            "https://openidconnect.googleapis.com/v1/userinfo",
            "openid email profile",
            "Google",
        ),
        ProviderKind::Github => (
            "https://github.com/login/oauth/authorize",
            "https://github.com/login/oauth/access_token",
            "https://api.github.com/user",
            "read:user user:email",
            "GitHub",
        ),
        ProviderKind::Generic => ("", "", "", "openid email profile", name),
    };
    let secret = match &settings.client_secret_env {
        Some(var) => std::env::var(var).unwrap_or_default(),
        None => settings.client_secret.clone(),
    };
    Provider {
        name: name.to_string(),
        display_name: settings
            .display_name
            .clone()
            .unwrap_or_else(|| display.to_string()),
        kind,
        client_id: settings.client_id.clone(),
        client_secret: secret,
        authorize_url: settings
            .authorize_url
            .clone()
            .unwrap_or_else(|| authorize.into()),
        token_url: settings.token_url.clone().unwrap_or_else(|| token.into()),
        userinfo_url: settings
            .userinfo_url
            .clone()
            .unwrap_or_else(|| userinfo.into()),
        scopes: settings.scopes.clone().unwrap_or_else(|| scopes.into()),
    }
}

/// Where to send the browser to start the login.
pub fn authorize_redirect(provider: &Provider, redirect_uri: &str, state: &str) -> String {
    let mut url = match url::Url::parse(&provider.authorize_url) {
        Ok(url) => url,
        Err(_) => return provider.authorize_url.clone(),
    };
    {
        let mut query = url.query_pairs_mut();
        query
            .append_pair("response_type", "code")
            .append_pair("client_id", &provider.client_id)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("scope", &provider.scopes)
            .append_pair("state", state);
        if provider.kind == ProviderKind::Google {
            query.append_pair("prompt", "select_account");
        }
    }
    url.into()
}

/// What the provider vouches for.
#[derive(Clone, Debug)]
pub struct Identity {
    pub subject: String,
    pub email: String,
    pub name: Option<String>,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: Option<String>,
    error: Option<String>,
}

#[derive(Deserialize)]
struct UserInfo {
    sub: Option<serde_json::Value>,
    id: Option<serde_json::Value>,
    email: Option<String>,
    email_verified: Option<serde_json::Value>,
    verified_email: Option<bool>,
    name: Option<String>,
    login: Option<String>,
}

#[derive(Deserialize)]
struct GithubEmail {
    email: String,
    primary: bool,
    verified: bool,
}

fn is_true(value: &Option<serde_json::Value>) -> bool {
    match value {
        Some(serde_json::Value::Bool(b)) => *b,
        Some(serde_json::Value::String(s)) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

fn id_string(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Exchanges the authorization code and reads the verified identity.
/// Errors are user-facing sentences (the cause is logged).
pub async fn fetch_identity(
    http: &reqwest::Client,
    provider: &Provider,
    code: &str,
    redirect_uri: &str,
) -> Result<Identity, String> {
    const FAILED: &str = "Failed to complete OAuth login";
    let token: TokenResponse = http
        .post(&provider.token_url)
        .timeout(HTTP_TIMEOUT)
        .header("Accept", "application/json")
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("client_id", provider.client_id.as_str()),
            ("client_secret", provider.client_secret.as_str()),
        ])
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .map_err(|e| log_failure(provider, "token request", e))?
        .json()
        .await
        .map_err(|e| log_failure(provider, "token response", e))?;
    let access_token = match (token.access_token, token.error) {
        (Some(t), _) => t,
        (None, error) => {
            tracing::warn!(
                provider = provider.name,
                ?error,
                "OAuth token response without access_token"
            );
            return Err(FAILED.into());
        }
    };
    let info: UserInfo = get_json(http, &provider.userinfo_url, &access_token)
        .await
        .map_err(|e| log_failure(provider, "userinfo", e))?;
    let subject = info
        .sub
        .as_ref()
        .or(info.id.as_ref())
        .map(id_string)
        .ok_or_else(|| FAILED.to_string())?;
    let name = info.name.clone().or(info.login.clone());
    let email = match provider.kind {
        ProviderKind::Github => github_verified_email(http, provider, &access_token).await?,
        _ => {
            let verified = is_true(&info.email_verified) || info.verified_email == Some(true);
            match info.email {
                Some(email) if verified => email,
                Some(_) => {
                    return Err("Your email address is not verified with the provider".into());
                }
                None => return Err("The provider did not share an email address".into()),
            }
        }
    };
    Ok(Identity {
        subject,
        email: normalize_email(&email),
        name,
    })
}

async fn github_verified_email(
    http: &reqwest::Client,
    provider: &Provider,
    token: &str,
) -> Result<String, String> {
    let emails_url = format!("{}/emails", provider.userinfo_url.trim_end_matches('/'));
    let emails: Vec<GithubEmail> = get_json(http, &emails_url, token)
        .await
        .map_err(|e| log_failure(provider, "emails", e))?;
    emails
        .iter()
        .find(|e| e.primary && e.verified)
        .or_else(|| emails.iter().find(|e| e.verified))
        .map(|e| e.email.clone())
        .ok_or_else(|| "No verified email found on your GitHub account".into())
}

async fn get_json<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    url: &str,
    token: &str,
) -> Result<T, reqwest::Error> {
    http.get(url)
        .timeout(HTTP_TIMEOUT)
        .bearer_auth(token)
        .header("Accept", "application/json")
        .header("User-Agent", "dango")
        .send()
        .await?
        .error_for_status()?
        .json()
        .await
}

fn log_failure(provider: &Provider, step: &str, err: reqwest::Error) -> String {
    tracing::warn!(provider = provider.name, step, "OAuth login failed: {err}");
    "Failed to complete OAuth login".into()
}

/// The existing account this identity may log into, linking it on first use.
/// Errors are user-facing reasons.
pub async fn resolve_user(
    db: &DatabaseConnection,
    provider: &str,
    identity: &Identity,
) -> crate::Result<Result<users::Model, &'static str>> {
    let linked = users::Entity::find()
        .filter(users::Column::OauthProvider.eq(provider))
        .filter(users::Column::OauthId.eq(identity.subject.as_str()))
        .one(db)
        .await?;
    let user = match linked {
        Some(user) => user,
        None => {
            let Some(user) = super::users::find_by_email(db, &identity.email).await? else {
                return Ok(Err(
                    "No account found for this email. Contact your administrator.",
                ));
            };
            if user
                .oauth_provider
                .as_deref()
                .is_some_and(|p| p != provider)
            {
                return Ok(Err(
                    "This email is already linked to a different login provider",
                ));
            }
            if !user.is_active {
                return Ok(Err("Your account has been deactivated"));
            }
            let mut active = user.into_active_model();
            active.oauth_provider = Set(Some(provider.to_string()));
            active.oauth_id = Set(Some(identity.subject.clone()));
            active.updated_at = Set(Utc::now());
            active.update(db).await?
        }
    };
    if !user.is_active {
        return Ok(Err("Your account has been deactivated"));
    }
    Ok(Ok(user))
}
