//! Login sessions: 32-byte random tokens, stored as SHA-256; an idle timeout (sliding)
//! and an absolute lifetime. Partial sessions (2FA pending) live 5 minutes and are only
//! good for `/api/auth/2fa/verify`.

use chrono::{DateTime, Duration, Utc};
use dango_entity::{sessions, users};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, Set,
};

use super::tokens::{random_token, sha256_hex};
use crate::config::project::AuthConfig;

pub const COOKIE_NAME: &str = "dango_session";
pub const PARTIAL_LIFETIME_SECONDS: i64 = 300;
/// `last_activity` is written at most this often, so validation is usually read-only.
const ACTIVITY_WRITE_INTERVAL_SECONDS: i64 = 60;

#[derive(Clone, Copy, Debug)]
pub struct SessionPolicy {
    pub idle: Duration,
    pub max_age: Duration,
}

impl SessionPolicy {
    pub fn from_config(config: &AuthConfig) -> Self {
        Self {
            idle: Duration::minutes(config.idle_timeout_minutes as i64),
            max_age: Duration::days(config.session_max_days as i64),
        }
    }
}

pub struct ClientInfo<'a> {
    pub ip: &'a str,
    pub user_agent: Option<&'a str>,
}

/// Creates a session and returns its raw token (shown to the client once, as a cookie).
pub async fn create(
    db: &DatabaseConnection,
    user_id: &str,
    partial: bool,
    policy: SessionPolicy,
    client: &ClientInfo<'_>,
) -> crate::Result<(String, sessions::Model)> {
    let token = random_token(32);
    let now = Utc::now();
    let lifetime = if partial {
        Duration::seconds(PARTIAL_LIFETIME_SECONDS)
    } else {
        policy.max_age
    };
    let model = sessions::ActiveModel {
        id: Set(uuid::Uuid::new_v4().to_string()),
        user_id: Set(user_id.to_string()),
        token_hash: Set(sha256_hex(&token)),
        is_partial: Set(partial),
        failed_attempts: Set(0),
        created_at: Set(now),
        expires_at: Set(now + lifetime),
        last_activity: Set(now),
        ip_address: Set(Some(client.ip.chars().take(64).collect())),
        user_agent: Set(client.user_agent.map(|ua| ua.chars().take(512).collect())),
    }
    .insert(db)
    .await?;
    Ok((token, model))
}

/// The session and its active user, if `token` names a live full session.
/// Expired and idle sessions are deleted on sight.
pub async fn validate(
    db: &DatabaseConnection,
    token: &str,
    policy: SessionPolicy,
) -> crate::Result<Option<(sessions::Model, users::Model)>> {
    let Some((session, user)) = find_with_user(db, token).await? else {
        return Ok(None);
    };
    if session.is_partial {
        return Ok(None);
    }
    let now = Utc::now();
    if !is_live(&session, policy, now) {
        delete(db, &session.id).await?;
        return Ok(None);
    }
    if !user.is_active {
        return Ok(None);
    }
    if (now - session.last_activity).num_seconds() >= ACTIVITY_WRITE_INTERVAL_SECONDS {
        sessions::Entity::update_many()
            .col_expr(sessions::Column::LastActivity, Expr::value(now))
            .filter(sessions::Column::Id.eq(session.id.as_str()))
            .exec(db)
            .await?;
    }
    Ok(Some((session, user)))
}

/// Neither past its absolute expiry nor idle longer than the policy allows.
pub fn is_live(session: &sessions::Model, policy: SessionPolicy, now: DateTime<Utc>) -> bool {
    now < session.expires_at && now - session.last_activity <= policy.idle
}

/// A live partial (2FA-pending) session and its user.
pub async fn find_partial(
    db: &DatabaseConnection,
    token: &str,
) -> crate::Result<Option<(sessions::Model, users::Model)>> {
    let Some((session, user)) = find_with_user(db, token).await? else {
        return Ok(None);
    };
    if !session.is_partial || Utc::now() >= session.expires_at || !user.is_active {
        return Ok(None);
    }
    Ok(Some((session, user)))
}

async fn find_with_user(
    db: &DatabaseConnection,
    token: &str,
) -> crate::Result<Option<(sessions::Model, users::Model)>> {
    if token.is_empty() || token.len() > 128 {
        return Ok(None);
    }
    let found = sessions::Entity::find()
        .filter(sessions::Column::TokenHash.eq(sha256_hex(token)))
        .find_also_related(users::Entity)
        .one(db)
        .await?;
    Ok(found.and_then(|(session, user)| user.map(|user| (session, user))))
}

/// Counts a failed 2FA attempt on a partial session; returns the new count.
pub async fn count_failed_attempt(
    db: &DatabaseConnection,
    session: &sessions::Model,
) -> crate::Result<i32> {
    let attempts = session.failed_attempts + 1;
    sessions::Entity::update_many()
        .col_expr(sessions::Column::FailedAttempts, Expr::value(attempts))
        .filter(sessions::Column::Id.eq(session.id.as_str()))
        .exec(db)
        .await?;
    Ok(attempts)
}

pub async fn delete(db: &DatabaseConnection, session_id: &str) -> crate::Result<()> {
    sessions::Entity::delete_by_id(session_id.to_string())
        .exec(db)
        .await?;
    Ok(())
}

/// Ends every session of a user; returns how many were live.
pub async fn delete_all_for_user(db: &DatabaseConnection, user_id: &str) -> crate::Result<u64> {
    let result = sessions::Entity::delete_many()
        .filter(sessions::Column::UserId.eq(user_id))
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}

/// The user's live full sessions, newest first.
pub async fn list_for_user(
    db: &DatabaseConnection,
    user_id: &str,
) -> crate::Result<Vec<sessions::Model>> {
    let now = Utc::now();
    Ok(sessions::Entity::find()
        .filter(sessions::Column::UserId.eq(user_id))
        .filter(sessions::Column::IsPartial.eq(false))
        .filter(sessions::Column::ExpiresAt.gt(now))
        .order_by_desc(sessions::Column::CreatedAt)
        .all(db)
        .await?)
}

/// Deletes sessions past their absolute expiry.
pub async fn purge_expired(db: &DatabaseConnection) -> crate::Result<u64> {
    let result = sessions::Entity::delete_many()
        .filter(sessions::Column::ExpiresAt.lt(Utc::now()))
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}

pub fn is_idle(session: &sessions::Model, policy: SessionPolicy, now: DateTime<Utc>) -> bool {
    now - session.last_activity > policy.idle
}
