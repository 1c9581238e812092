//! API keys: `dango_ak_` + 32 random bytes, stored as SHA-256 with a 12-character prefix
//! for display; optional expiry and a role cap that can only lower the owner's role.

use chrono::{DateTime, Utc};
use dango_entity::{api_keys, users};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, Set,
};

use super::Role;
use super::tokens::{random_token, sha256_hex};
use crate::Error;

pub const KEY_PREFIX: &str = "dango_ak_";
const DISPLAY_PREFIX_LEN: usize = 12;
const LAST_USED_WRITE_INTERVAL_SECONDS: i64 = 60;

pub struct NewKey<'a> {
    pub name: &'a str,
    pub expires_at: Option<DateTime<Utc>>,
    pub role_cap: Option<Role>,
}

/// Creates a key for `owner`; the raw key is returned once and never stored.
pub async fn create(
    db: &DatabaseConnection,
    owner: &users::Model,
    owner_role: Role,
    new: NewKey<'_>,
) -> crate::Result<(String, api_keys::Model)> {
    let name = new.name.trim();
    if name.is_empty() || name.chars().count() > 128 {
        return Err(Error::bad_request("Key name must be 1 to 128 characters"));
    }
    if let Some(expiry) = new.expires_at
        && expiry <= Utc::now()
    {
        return Err(Error::bad_request("expires_at must be in the future"));
    }
    if let Some(cap) = new.role_cap
        && cap > owner_role
    {
        return Err(Error::forbidden(format!(
            "An API key cannot have a higher role ({cap}) than its owner ({owner_role})"
        )));
    }
    let key = format!("{KEY_PREFIX}{}", random_token(32));
    let model = api_keys::ActiveModel {
        id: Set(uuid::Uuid::new_v4().to_string()),
        user_id: Set(owner.id.clone()),
        name: Set(name.to_string()),
        key_hash: Set(sha256_hex(&key)),
        key_prefix: Set(key[..DISPLAY_PREFIX_LEN].to_string()),
        role_cap: Set(new.role_cap.map(|r| r.as_str().to_string())),
        is_active: Set(true),
        created_at: Set(Utc::now()),
        last_used_at: Set(None),
        expires_at: Set(new.expires_at),
    }
    .insert(db)
    .await?;
    Ok((key, model))
}

/// The owner's active keys, newest first.
pub async fn list(db: &DatabaseConnection, user_id: &str) -> crate::Result<Vec<api_keys::Model>> {
    Ok(api_keys::Entity::find()
        .filter(api_keys::Column::UserId.eq(user_id))
        .filter(api_keys::Column::IsActive.eq(true))
        .order_by_desc(api_keys::Column::CreatedAt)
        .all(db)
        .await?)
}

/// Revokes one of the owner's keys (404 for anyone else's).
pub async fn revoke(
    db: &DatabaseConnection,
    user_id: &str,
    key_id: &str,
) -> crate::Result<api_keys::Model> {
    let key = api_keys::Entity::find_by_id(key_id.to_string())
        .one(db)
        .await?
        .filter(|k| k.user_id == user_id && k.is_active)
        .ok_or_else(|| Error::not_found("API key not found"))?;
    api_keys::Entity::update_many()
        .col_expr(api_keys::Column::IsActive, Expr::value(false))
        .filter(api_keys::Column::Id.eq(key_id))
        .exec(db)
        .await?;
    Ok(key)
}

/// The key and its owner when `raw` is an active, unexpired key of an active user.
pub async fn validate(
    db: &DatabaseConnection,
    raw: &str,
) -> crate::Result<Option<(api_keys::Model, users::Model)>> {
    if !raw.starts_with(KEY_PREFIX) || raw.len() > 128 {
        return Ok(None);
    }
    let found = api_keys::Entity::find()
        .filter(api_keys::Column::KeyHash.eq(sha256_hex(raw)))
        .find_also_related(users::Entity)
        .one(db)
        .await?;
    let Some((key, Some(user))) = found else {
        return Ok(None);
    };
    let now = Utc::now();
    if !key.is_active || !user.is_active || is_expired(&key, now) {
        return Ok(None);
    }
    if key
        .last_used_at
        .is_none_or(|t| (now - t).num_seconds() >= LAST_USED_WRITE_INTERVAL_SECONDS)
    {
        api_keys::Entity::update_many()
            .col_expr(api_keys::Column::LastUsedAt, Expr::value(now))
            .filter(api_keys::Column::Id.eq(key.id.as_str()))
            .exec(db)
            .await?;
    }
    Ok(Some((key, user)))
}

pub fn is_expired(key: &api_keys::Model, now: DateTime<Utc>) -> bool {
    key.expires_at.is_some_and(|t| t <= now)
}

/// The role a key acts with: its owner's role, lowered to the cap if it has one.
pub fn effective_role(key: &api_keys::Model, owner_role: Role) -> Role {
    key.role_cap
        .as_deref()
        .and_then(Role::parse)
        .map_or(owner_role, |cap| cap.min(owner_role))
}
