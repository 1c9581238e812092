//! Two-factor authentication: setup, confirmation, the login step, disabling and
//! regenerating recovery codes. TOTP codes are single-use (the last step is stored).

use dango_entity::{sessions as session_rows, users};
use sea_orm::{ActiveModelTrait, DatabaseConnection, IntoActiveModel, Set};
use serde_json::json;

use super::audit::{self, AuditEvent};
use super::login::{LoginOutcome, complete_login};
use super::sessions::{self, ClientInfo};
use super::{password, totp};
use crate::Error;
use crate::config::project::AuthConfig;

pub const MAX_VERIFY_ATTEMPTS: i32 = 5;

pub struct Enrollment {
    pub secret: String,
    pub provisioning_uri: String,
    pub recovery_codes: Vec<String>,
}

async fn require_password(user: &users::Model, given: &str) -> crate::Result<()> {
    if password::verify_blocking(given, user.password_hash.as_deref()).await {
        Ok(())
    } else {
        Err(Error::bad_request("Invalid password"))
    }
}

async fn hash_recovery_codes(codes: &[String]) -> crate::Result<String> {
    let mut hashes = Vec::with_capacity(codes.len());
    for code in codes {
        hashes.push(password::hash_blocking(&totp::normalize_recovery_code(code)).await?);
    }
    serde_json::to_string(&hashes).map_err(Error::internal)
}

/// Starts enrollment: a new secret and recovery codes, stored but not yet enabled.
pub async fn setup(
    db: &DatabaseConnection,
    user: &users::Model,
    given_password: &str,
) -> crate::Result<Enrollment> {
    require_password(user, given_password).await?;
    if user.totp_enabled {
        return Err(Error::bad_request(
            "2FA is already enabled. Disable it first to re-setup.",
        ));
    }
    let secret = totp::new_secret();
    let recovery_codes = totp::new_recovery_codes();
    let mut active = user.clone().into_active_model();
    active.totp_secret = Set(Some(secret.clone()));
    active.totp_last_step = Set(None);
    active.recovery_codes = Set(Some(hash_recovery_codes(&recovery_codes).await?));
    active.updated_at = Set(chrono::Utc::now());
    active.update(db).await?;
    Ok(Enrollment {
        provisioning_uri: totp::provisioning_uri(&secret, &user.email),
        secret,
        recovery_codes,
    })
}

/// Checks a TOTP code for the user and consumes its step; false for a wrong or replayed code.
async fn consume_totp(
    db: &DatabaseConnection,
    user: &users::Model,
    code: &str,
) -> crate::Result<bool> {
    let Some(secret) = user.totp_secret.as_deref() else {
        return Ok(false);
    };
    let Some(step) = totp::verify(secret, code, user.totp_last_step, totp::now_unix()) else {
        return Ok(false);
    };
    let mut active = user.clone().into_active_model();
    active.totp_last_step = Set(Some(step));
    active.update(db).await?;
    Ok(true)
}

pub async fn verify_setup(
    db: &DatabaseConnection,
    user: &users::Model,
    code: &str,
) -> crate::Result<()> {
    if user.totp_enabled {
        return Err(Error::bad_request("2FA is already enabled"));
    }
    if user.totp_secret.is_none() {
        return Err(Error::bad_request(
            "No pending 2FA setup. Call /api/auth/2fa/setup first.",
        ));
    }
    if !consume_totp(db, user, code).await? {
        return Err(Error::bad_request("Invalid verification code"));
    }
    let fresh = super::users::get(db, &user.id).await?;
    let mut active = fresh.into_active_model();
    active.totp_enabled = Set(true);
    active.updated_at = Set(chrono::Utc::now());
    active.update(db).await?;
    audit::record(
        db,
        AuditEvent::new("two_fa_enabled").user(&user.id, &user.email),
    )
    .await;
    Ok(())
}

/// Consumes a matching recovery code; false when none matches.
async fn consume_recovery_code(
    db: &DatabaseConnection,
    user: &users::Model,
    code: &str,
) -> crate::Result<bool> {
    let normalized = totp::normalize_recovery_code(code);
    if normalized.len() != 8 {
        return Ok(false);
    }
    let mut hashes: Vec<String> = user
        .recovery_codes
        .as_deref()
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or_default();
    let candidates = hashes.clone();
    let found = tokio::task::spawn_blocking(move || {
        candidates
            .iter()
            .position(|h| password::verify(&normalized, h))
    })
    .await?;
    let Some(index) = found else {
        return Ok(false);
    };
    hashes.remove(index);
    let mut active = user.clone().into_active_model();
    active.recovery_codes = Set(Some(
        serde_json::to_string(&hashes).map_err(Error::internal)?,
    ));
    active.update(db).await?;
    audit::record(
        db,
        AuditEvent::new("recovery_code_used")
            .user(&user.id, &user.email)
            .details(json!({"remaining": hashes.len()})),
    )
    .await;
    Ok(true)
}

/// The login's second step on a partial session. Five wrong codes end the partial session.
pub async fn verify_login(
    db: &DatabaseConnection,
    config: &AuthConfig,
    partial: &session_rows::Model,
    user: users::Model,
    code: &str,
    client: &ClientInfo<'_>,
) -> crate::Result<LoginOutcome> {
    if !user.totp_enabled {
        return Err(Error::bad_request("2FA is not enabled for this account"));
    }
    let code = code.trim();
    let (accepted, method) = if code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()) {
        (consume_totp(db, &user, code).await?, "totp")
    } else {
        (
            consume_recovery_code(db, &user, code).await?,
            "recovery_code",
        )
    };
    if !accepted {
        let attempts = sessions::count_failed_attempt(db, partial).await?;
        audit::record(
            db,
            AuditEvent::new("login_failure")
                .user(&user.id, &user.email)
                .ip(client.ip)
                .details(json!({"reason": "invalid_2fa_code", "attempt": attempts})),
        )
        .await;
        if attempts >= MAX_VERIFY_ATTEMPTS {
            sessions::delete(db, &partial.id).await?;
            return Err(Error::unauthenticated(
                "Too many failed attempts. Please log in again.",
            ));
        }
        return Err(Error::bad_request("Invalid verification code"));
    }
    sessions::delete(db, &partial.id).await?;
    let user = super::users::get(db, &user.id).await?;
    complete_login(
        db,
        config,
        user,
        client,
        json!({"method": "password+2fa", "second_factor": method}),
    )
    .await
}

pub async fn disable(
    db: &DatabaseConnection,
    user: &users::Model,
    given_password: &str,
) -> crate::Result<()> {
    require_password(user, given_password).await?;
    if !user.totp_enabled && user.totp_secret.is_none() {
        return Err(Error::bad_request("2FA is not enabled"));
    }
    let mut active = user.clone().into_active_model();
    active.totp_enabled = Set(false);
    active.totp_secret = Set(None);
    active.totp_last_step = Set(None);
    active.recovery_codes = Set(None);
    active.updated_at = Set(chrono::Utc::now());
    active.update(db).await?;
    audit::record(
        db,
        AuditEvent::new("two_fa_disabled").user(&user.id, &user.email),
    )
    .await;
    Ok(())
}

pub async fn regenerate_recovery_codes(
    db: &DatabaseConnection,
    user: &users::Model,
    given_password: &str,
    code: &str,
) -> crate::Result<Vec<String>> {
    require_password(user, given_password).await?;
    if !user.totp_enabled {
        return Err(Error::bad_request("2FA is not enabled"));
    }
    if !consume_totp(db, user, code).await? {
        return Err(Error::bad_request("Invalid verification code"));
    }
    let codes = totp::new_recovery_codes();
    let fresh = super::users::get(db, &user.id).await?;
    let mut active = fresh.into_active_model();
    active.recovery_codes = Set(Some(hash_recovery_codes(&codes).await?));
    active.update(db).await?;
    audit::record(
        db,
        AuditEvent::new("recovery_codes_regenerated").user(&user.id, &user.email),
    )
    .await;
    Ok(codes)
}
