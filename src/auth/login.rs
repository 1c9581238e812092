//! Password login: lockout, constant-time failure path, password rotation, partial
//! sessions when 2FA is on, full sessions otherwise.

use chrono::{Duration, Utc};
use dango_entity::users;
use sea_orm::{ActiveModelTrait, DatabaseConnection, IntoActiveModel, Set};
use serde_json::json;

use super::audit::{self, AuditEvent};
use super::sessions::{self, ClientInfo, SessionPolicy};
use super::{lockout, normalize_email, password, users as accounts};
use crate::Error;
use crate::config::project::AuthConfig;
use crate::error::code;

pub enum LoginOutcome {
    /// Logged in: a full session.
    Complete {
        user: Box<users::Model>,
        token: String,
        requires_2fa_setup: bool,
    },
    /// Password accepted, a TOTP or recovery code is still needed: a partial session.
    SecondFactorRequired { token: String },
}

pub const INVALID_CREDENTIALS: &str = "Invalid email or password";

fn locked_error(remaining_seconds: u64) -> Error {
    Error::new(crate::ErrorKind::Locked, "Account is temporarily locked")
        .with_extra("remaining_seconds", remaining_seconds)
        .with_retry_after(remaining_seconds)
}

pub async fn password_login(
    db: &DatabaseConnection,
    config: &AuthConfig,
    email: &str,
    password: &str,
    client: &ClientInfo<'_>,
) -> crate::Result<LoginOutcome> {
    let email = normalize_email(email);
    if email.is_empty() || email.len() > 254 || password.is_empty() || password.len() > 1024 {
        return Err(Error::bad_request(INVALID_CREDENTIALS).with_code(code::INVALID_CREDENTIALS));
    }
    let user = accounts::find_by_email(db, &email).await?;
    if let Some(remaining) = lockout::locked_for(db, client.ip, &email, user.as_ref()).await? {
        return Err(locked_error(remaining));
    }
    let usable = user.as_ref().filter(|u| u.is_active);
    let stored_hash = usable.and_then(|u| u.password_hash.as_deref());
    if !password::verify_blocking(password, stored_hash).await {
        return Err(
            failed_attempt(db, config, &email, usable, client, "invalid_credentials").await,
        );
    }
    let Some(user) = usable.cloned() else {
        return Err(failed_attempt(db, config, &email, None, client, "invalid_credentials").await);
    };
    lockout::reset(db, client.ip, &email, &user.id).await?;
    let user = apply_password_rotation(db, config, user).await?;
    start_session(db, config, user, client, json!({"method": "password"})).await
}

/// Records a failed login (audit + lockout) and returns the error to answer with.
pub async fn failed_attempt(
    db: &DatabaseConnection,
    config: &AuthConfig,
    email: &str,
    user: Option<&users::Model>,
    client: &ClientInfo<'_>,
    reason: &str,
) -> Error {
    let mut event = AuditEvent::new("login_failure")
        .email(email)
        .ip(client.ip)
        .details(json!({"reason": reason}));
    event.user_id = user.map(|u| u.id.clone());
    audit::record(db, event).await;
    match lockout::record_failure(db, &config.lockout, client.ip, email, user).await {
        Ok(Some(remaining)) => {
            audit::record(
                db,
                AuditEvent::new("account_locked")
                    .email(email)
                    .ip(client.ip)
                    .details(json!({"lockout_seconds": remaining})),
            )
            .await;
            locked_error(remaining)
        }
        Ok(None) => Error::bad_request(INVALID_CREDENTIALS).with_code(code::INVALID_CREDENTIALS),
        Err(err) => err,
    }
}

async fn apply_password_rotation(
    db: &DatabaseConnection,
    config: &AuthConfig,
    user: users::Model,
) -> crate::Result<users::Model> {
    if config.password_max_age_days == 0 || user.must_change_password {
        return Ok(user);
    }
    let changed = user.password_changed_at.unwrap_or(user.created_at);
    if Utc::now() - changed <= Duration::days(config.password_max_age_days as i64) {
        return Ok(user);
    }
    let mut active = user.into_active_model();
    active.must_change_password = Set(true);
    Ok(active.update(db).await?)
}

/// After the first factor: a partial session when 2FA is enabled, else a full one.
pub async fn start_session(
    db: &DatabaseConnection,
    config: &AuthConfig,
    user: users::Model,
    client: &ClientInfo<'_>,
    audit_details: serde_json::Value,
) -> crate::Result<LoginOutcome> {
    let policy = SessionPolicy::from_config(config);
    if user.totp_enabled {
        let (token, _) = sessions::create(db, &user.id, true, policy, client).await?;
        return Ok(LoginOutcome::SecondFactorRequired { token });
    }
    complete_login(db, config, user, client, audit_details).await
}

/// Creates the full session, stamps `last_login` and audits the success.
pub async fn complete_login(
    db: &DatabaseConnection,
    config: &AuthConfig,
    user: users::Model,
    client: &ClientInfo<'_>,
    audit_details: serde_json::Value,
) -> crate::Result<LoginOutcome> {
    let policy = SessionPolicy::from_config(config);
    let (token, _) = sessions::create(db, &user.id, false, policy, client).await?;
    let user = accounts::touch_last_login(db, user).await?;
    audit::record(
        db,
        AuditEvent::new("login_success")
            .user(&user.id, &user.email)
            .ip(client.ip)
            .details(audit_details),
    )
    .await;
    let requires_2fa_setup = config.require_2fa && !user.totp_enabled;
    Ok(LoginOutcome::Complete {
        user: Box::new(user),
        token,
        requires_2fa_setup,
    })
}
