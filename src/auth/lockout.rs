//! Brute-force lockout: `max_attempts` failures lock for `lockout_minutes`, counted per
//! SHA-256(`ip:email`) (the same for known and unknown emails, so the lockout reveals
//! nothing) and mirrored on the user row (so a lock also holds from other addresses).

use chrono::{DateTime, Duration, Utc};
use dango_entity::{login_attempts, users};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set};

use super::tokens::sha256_hex;
use crate::config::project::LockoutConfig;

fn attempt_key(ip: &str, email: &str) -> String {
    sha256_hex(&format!("{ip}:{email}"))
}

fn remaining(until: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Option<u64> {
    let until = until?;
    (until > now).then(|| ((until - now).num_seconds().max(1)) as u64)
}

/// Seconds until the lock lifts, if this IP+email or this user is locked now.
pub async fn locked_for(
    db: &DatabaseConnection,
    ip: &str,
    email: &str,
    user: Option<&users::Model>,
) -> crate::Result<Option<u64>> {
    let now = Utc::now();
    let by_user = user.and_then(|u| remaining(u.locked_until, now));
    let row = login_attempts::Entity::find_by_id(attempt_key(ip, email))
        .one(db)
        .await?;
    let by_key = row.and_then(|r| remaining(r.locked_until, now));
    Ok(by_key.max(by_user))
}

/// Counts a failure; `Some(seconds)` when this failure locked the account.
pub async fn record_failure(
    db: &DatabaseConnection,
    config: &LockoutConfig,
    ip: &str,
    email: &str,
    user: Option<&users::Model>,
) -> crate::Result<Option<u64>> {
    let now = Utc::now();
    let key = attempt_key(ip, email);
    let existing = login_attempts::Entity::find_by_id(key.clone())
        .one(db)
        .await?;
    let previous = match &existing {
        // an expired lock restarts the count
        Some(row) if row.locked_until.is_some_and(|t| t <= now) => 0,
        Some(row) => row.attempts,
        None => 0,
    };
    let attempts = previous + 1;
    let lock_until = (attempts as u32 >= config.max_attempts)
        .then(|| now + Duration::minutes(config.lockout_minutes as i64));
    let row = login_attempts::ActiveModel {
        key: Set(key),
        email: Set(email.to_string()),
        attempts: Set(attempts),
        locked_until: Set(lock_until),
        updated_at: Set(now),
    };
    login_attempts::Entity::insert(row)
        .on_conflict(
            OnConflict::column(login_attempts::Column::Key)
                .update_columns([
                    login_attempts::Column::Attempts,
                    login_attempts::Column::LockedUntil,
                    login_attempts::Column::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec(db)
        .await?;

    if let Some(user) = user {
        let user_attempts = if user.locked_until.is_some_and(|t| t <= now) {
            1
        } else {
            user.failed_login_attempts + 1
        };
        let user_lock = (user_attempts as u32 >= config.max_attempts)
            .then(|| now + Duration::minutes(config.lockout_minutes as i64));
        users::Entity::update_many()
            .col_expr(
                users::Column::FailedLoginAttempts,
                Expr::value(user_attempts),
            )
            .col_expr(
                users::Column::LockedUntil,
                Expr::value(user_lock.or(user.locked_until.filter(|t| *t > now))),
            )
            .filter(users::Column::Id.eq(user.id.as_str()))
            .exec(db)
            .await?;
    }
    Ok(lock_until.and_then(|t| remaining(Some(t), now)))
}

/// After a successful login: forget this IP+email's failures and the user's counter.
pub async fn reset(
    db: &DatabaseConnection,
    ip: &str,
    email: &str,
    user_id: &str,
) -> crate::Result<()> {
    login_attempts::Entity::delete_by_id(attempt_key(ip, email))
        .exec(db)
        .await?;
    clear_user(db, user_id).await
}

/// Admin unlock: clears the user row and every IP's counter for the email.
pub async fn unlock(db: &DatabaseConnection, email: &str, user_id: &str) -> crate::Result<()> {
    login_attempts::Entity::delete_many()
        .filter(login_attempts::Column::Email.eq(email))
        .exec(db)
        .await?;
    clear_user(db, user_id).await
}

async fn clear_user(db: &DatabaseConnection, user_id: &str) -> crate::Result<()> {
    users::Entity::update_many()
        .col_expr(users::Column::FailedLoginAttempts, Expr::value(0))
        .col_expr(
            users::Column::LockedUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .filter(users::Column::Id.eq(user_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Drops counters untouched for a day.
pub async fn purge_stale(db: &DatabaseConnection) -> crate::Result<u64> {
    let cutoff = Utc::now() - Duration::hours(24);
    let result = login_attempts::Entity::delete_many()
        .filter(login_attempts::Column::UpdatedAt.lt(cutoff))
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}
