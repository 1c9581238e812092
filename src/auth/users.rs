//! User accounts: creation (invite, temporary or chosen password), admin actions with
//! their self-action and last-admin guards, invites, password changes, bootstrap admin.

use chrono::{Duration, Utc};
use dango_entity::users;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, IntoActiveModel,
    PaginatorTrait, QueryFilter, QueryOrder, Set,
};

use super::password::{self, check_strength};
use super::tokens::{random_token, sha256_hex};
use super::{Role, is_valid_email, lockout, normalize_email, sessions};
use crate::Error;
use crate::error::code;

pub const INVITE_LIFETIME_HOURS: i64 = 72;
pub const DEFAULT_ADMIN_EMAIL: &str = "admin@localhost";

/// The account's role; a row with an unknown role gets the least privilege.
pub fn role_of(user: &users::Model) -> Role {
    Role::parse(&user.role).unwrap_or(Role::Viewer)
}

pub enum Credential {
    /// No password yet: the user sets one through an invite link.
    Invite,
    /// A random password the user must change at first login.
    Temporary,
    /// A password chosen now (checked against the policy).
    Password(String),
}

pub struct NewUser<'a> {
    pub email: &'a str,
    pub role: Role,
    pub display_name: Option<&'a str>,
    pub credential: Credential,
}

pub struct CreatedUser {
    pub user: users::Model,
    pub invite_token: Option<String>,
    pub temp_password: Option<String>,
}

pub async fn create(db: &DatabaseConnection, new: NewUser<'_>) -> crate::Result<CreatedUser> {
    let email = normalize_email(new.email);
    if !is_valid_email(&email) {
        return Err(Error::bad_request(format!(
            "'{}' is not a valid email address",
            new.email
        )));
    }
    if find_by_email(db, &email).await?.is_some() {
        return Err(
            Error::conflict(format!("A user with email '{email}' already exists"))
                .with_code(code::USER_EXISTS),
        );
    }
    let display_name = clean_display_name(new.display_name)?;
    let now = Utc::now();
    let (mut invite_token, mut temp_password) = (None, None);
    let (password_hash, must_change, invite_hash, invite_expires) = match new.credential {
        Credential::Invite => {
            let token = random_token(32);
            let hash = sha256_hex(&token);
            invite_token = Some(token);
            (
                None,
                false,
                Some(hash),
                Some(now + Duration::hours(INVITE_LIFETIME_HOURS)),
            )
        }
        Credential::Temporary => {
            let temp = password::temporary_password();
            let hash = password::hash_blocking(&temp).await?;
            temp_password = Some(temp);
            (Some(hash), true, None, None)
        }
        Credential::Password(chosen) => {
            check_strength(&chosen, &email)?;
            (
                Some(password::hash_blocking(&chosen).await?),
                false,
                None,
                None,
            )
        }
    };
    let user = users::ActiveModel {
        id: Set(uuid::Uuid::new_v4().to_string()),
        email: Set(email),
        display_name: Set(display_name),
        password_hash: Set(password_hash.clone()),
        role: Set(new.role.as_str().to_string()),
        is_active: Set(true),
        totp_secret: Set(None),
        totp_enabled: Set(false),
        totp_last_step: Set(None),
        recovery_codes: Set(None),
        oauth_provider: Set(None),
        oauth_id: Set(None),
        failed_login_attempts: Set(0),
        locked_until: Set(None),
        must_change_password: Set(must_change),
        last_login: Set(None),
        invite_token_hash: Set(invite_hash),
        invite_expires_at: Set(invite_expires),
        password_changed_at: Set(password_hash.map(|_| now)),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await?;
    Ok(CreatedUser {
        user,
        invite_token,
        temp_password,
    })
}

fn clean_display_name(name: Option<&str>) -> crate::Result<Option<String>> {
    let Some(name) = name.map(str::trim).filter(|n| !n.is_empty()) else {
        return Ok(None);
    };
    if name.chars().count() > 200 {
        return Err(Error::bad_request(
            "display_name must be at most 200 characters",
        ));
    }
    Ok(Some(name.to_string()))
}

pub async fn find_by_email(
    db: &DatabaseConnection,
    email: &str,
) -> crate::Result<Option<users::Model>> {
    Ok(users::Entity::find()
        .filter(users::Column::Email.eq(normalize_email(email)))
        .one(db)
        .await?)
}

pub async fn get(db: &DatabaseConnection, user_id: &str) -> crate::Result<users::Model> {
    users::Entity::find_by_id(user_id.to_string())
        .one(db)
        .await?
        .ok_or_else(|| Error::not_found("User not found").with_code(code::USER_NOT_FOUND))
}

pub async fn get_by_email(db: &DatabaseConnection, email: &str) -> crate::Result<users::Model> {
    find_by_email(db, email).await?.ok_or_else(|| {
        Error::not_found(format!("No user with email '{}'", normalize_email(email)))
            .with_code(code::USER_NOT_FOUND)
    })
}

pub async fn list(db: &DatabaseConnection) -> crate::Result<Vec<users::Model>> {
    Ok(users::Entity::find()
        .order_by_asc(users::Column::CreatedAt)
        .all(db)
        .await?)
}

pub async fn count_active_admins(db: &DatabaseConnection) -> crate::Result<u64> {
    Ok(users::Entity::find()
        .filter(users::Column::Role.eq(Role::Admin.as_str()))
        .filter(users::Column::IsActive.eq(true))
        .count(db)
        .await?)
}

async fn is_last_active_admin(db: &DatabaseConnection, user: &users::Model) -> crate::Result<bool> {
    Ok(role_of(user) == Role::Admin && user.is_active && count_active_admins(db).await? <= 1)
}

fn refuse_self(actor_id: &str, target: &users::Model, action: &str) -> crate::Result<()> {
    if actor_id == target.id {
        return Err(Error::conflict(format!("Cannot {action} your own account")));
    }
    Ok(())
}

/// Returns the previous role and the updated user.
pub async fn change_role(
    db: &DatabaseConnection,
    user_id: &str,
    role: Role,
) -> crate::Result<(Role, users::Model)> {
    let user = get(db, user_id).await?;
    let old = role_of(&user);
    if old == Role::Admin && role != Role::Admin && is_last_active_admin(db, &user).await? {
        return Err(Error::conflict("Cannot demote the only active admin"));
    }
    let mut active = user.into_active_model();
    active.role = Set(role.as_str().to_string());
    active.updated_at = Set(Utc::now());
    Ok((old, active.update(db).await?))
}

pub async fn deactivate(
    db: &DatabaseConnection,
    actor_id: &str,
    user_id: &str,
) -> crate::Result<users::Model> {
    let user = get(db, user_id).await?;
    refuse_self(actor_id, &user, "deactivate")?;
    if is_last_active_admin(db, &user).await? {
        return Err(Error::conflict("Cannot deactivate the only active admin"));
    }
    sessions::delete_all_for_user(db, &user.id).await?;
    let mut active = user.into_active_model();
    active.is_active = Set(false);
    active.updated_at = Set(Utc::now());
    Ok(active.update(db).await?)
}

pub async fn reactivate(db: &DatabaseConnection, user_id: &str) -> crate::Result<users::Model> {
    let user = get(db, user_id).await?;
    let mut active = user.into_active_model();
    active.is_active = Set(true);
    active.updated_at = Set(Utc::now());
    Ok(active.update(db).await?)
}

/// Deletes a user for good; `confirm_email` must repeat the user's email.
pub async fn delete(
    db: &DatabaseConnection,
    actor_id: &str,
    user_id: &str,
    confirm_email: Option<&str>,
) -> crate::Result<users::Model> {
    let user = get(db, user_id).await?;
    if let Some(confirm) = confirm_email
        && normalize_email(confirm) != user.email
    {
        return Err(Error::bad_request(
            "Confirmation email does not match user email",
        ));
    }
    refuse_self(actor_id, &user, "delete")?;
    if is_last_active_admin(db, &user).await? {
        return Err(Error::conflict("Cannot delete the only active admin"));
    }
    users::Entity::delete_by_id(user.id.clone())
        .exec(db)
        .await?;
    Ok(user)
}

/// Sets a new temporary password (must change at next login) and ends all sessions.
pub async fn reset_password(
    db: &DatabaseConnection,
    user_id: &str,
) -> crate::Result<(users::Model, String)> {
    let user = get(db, user_id).await?;
    let temp = password::temporary_password();
    let hash = password::hash_blocking(&temp).await?;
    sessions::delete_all_for_user(db, &user.id).await?;
    let now = Utc::now();
    let mut active = user.into_active_model();
    active.password_hash = Set(Some(hash));
    active.must_change_password = Set(true);
    active.password_changed_at = Set(Some(now));
    active.updated_at = Set(now);
    Ok((active.update(db).await?, temp))
}

/// A new 72-hour invite token for a user who has not set a password yet.
pub async fn reinvite(
    db: &DatabaseConnection,
    user_id: &str,
) -> crate::Result<(users::Model, String)> {
    let user = get(db, user_id).await?;
    if !user.is_active {
        return Err(Error::bad_request("User is deactivated"));
    }
    let invite_pending = user.invite_expires_at.is_some_and(|t| t > Utc::now());
    if user.password_hash.is_some() && !invite_pending {
        return Err(Error::bad_request(
            "User has already set a password. Use 'Reset Password' instead.",
        ));
    }
    let token = random_token(32);
    let now = Utc::now();
    let mut active = user.into_active_model();
    active.invite_token_hash = Set(Some(sha256_hex(&token)));
    active.invite_expires_at = Set(Some(now + Duration::hours(INVITE_LIFETIME_HOURS)));
    active.updated_at = Set(now);
    Ok((active.update(db).await?, token))
}

/// The active user an unexpired invite token belongs to.
pub async fn find_by_invite(
    db: &DatabaseConnection,
    token: &str,
) -> crate::Result<Option<users::Model>> {
    if token.is_empty() || token.len() > 128 {
        return Ok(None);
    }
    let user = users::Entity::find()
        .filter(users::Column::InviteTokenHash.eq(sha256_hex(token)))
        .filter(users::Column::IsActive.eq(true))
        .one(db)
        .await?;
    Ok(user.filter(|u| u.invite_expires_at.is_some_and(|t| t > Utc::now())))
}

pub async fn accept_invite(
    db: &DatabaseConnection,
    token: &str,
    new_password: &str,
    display_name: Option<&str>,
) -> crate::Result<users::Model> {
    let user = find_by_invite(db, token)
        .await?
        .ok_or_else(|| Error::bad_request("This invite link is invalid or has expired"))?;
    check_strength(new_password, &user.email)?;
    let display_name = clean_display_name(display_name)?;
    let hash = password::hash_blocking(new_password).await?;
    let now = Utc::now();
    let mut active = user.into_active_model();
    active.password_hash = Set(Some(hash));
    active.must_change_password = Set(false);
    active.password_changed_at = Set(Some(now));
    active.invite_token_hash = Set(None);
    active.invite_expires_at = Set(None);
    if display_name.is_some() {
        active.display_name = Set(display_name);
    }
    active.updated_at = Set(now);
    Ok(active.update(db).await?)
}

/// Changes the user's own password after checking the current one.
pub async fn change_password(
    db: &DatabaseConnection,
    user: &users::Model,
    current: &str,
    new: &str,
) -> crate::Result<users::Model> {
    if !password::verify_blocking(current, user.password_hash.as_deref()).await {
        return Err(Error::bad_request("Current password is incorrect"));
    }
    check_strength(new, &user.email)?;
    if current == new {
        return Err(Error::bad_request(
            "New password must be different from current password",
        ));
    }
    set_password(db, user.clone(), new).await
}

/// Stores a new password hash, clearing `must_change_password`.
pub async fn set_password(
    db: &DatabaseConnection,
    user: users::Model,
    new: &str,
) -> crate::Result<users::Model> {
    let hash = password::hash_blocking(new).await?;
    let now = Utc::now();
    let mut active = user.into_active_model();
    active.password_hash = Set(Some(hash));
    active.must_change_password = Set(false);
    active.password_changed_at = Set(Some(now));
    active.updated_at = Set(now);
    Ok(active.update(db).await?)
}

pub async fn unlock(db: &DatabaseConnection, user_id: &str) -> crate::Result<users::Model> {
    let user = get(db, user_id).await?;
    lockout::unlock(db, &user.email, &user.id).await?;
    get(db, user_id).await
}

pub async fn touch_last_login(
    db: &DatabaseConnection,
    user: users::Model,
) -> crate::Result<users::Model> {
    let mut active = user.into_active_model();
    active.last_login = Set(Some(Utc::now()));
    Ok(active.update(db).await?)
}

/// The first admin, when the database has no active admin: `email` with `password` when
/// given and strong enough, else a temporary password that must be changed.
/// Returns the account created and the temporary password to show once.
pub async fn ensure_admin(
    db: &DatabaseConnection,
    email: &str,
    password: Option<&str>,
) -> crate::Result<Option<(users::Model, Option<String>)>> {
    if count_active_admins(db).await? > 0 {
        return Ok(None);
    }
    let chosen = password
        .filter(|p| password::strength_issues(p, email).is_empty())
        .map(str::to_string);
    if password.is_some() && chosen.is_none() {
        tracing::warn!(
            "DANGO_ADMIN_PASSWORD is too weak; a temporary password is generated instead"
        );
    }
    if let Some(existing) = find_by_email(db, email).await? {
        // The email exists but is not an active admin: make it one with a fresh password.
        let (user, temp) = match chosen {
            Some(p) => (set_password(db, existing, &p).await?, None),
            None => {
                let (user, temp) = reset_password(db, &existing.id).await?;
                (user, Some(temp))
            }
        };
        let mut active = user.into_active_model();
        active.role = Set(Role::Admin.as_str().to_string());
        active.is_active = Set(true);
        return Ok(Some((active.update(db).await?, temp)));
    }
    let credential = match chosen {
        Some(p) => Credential::Password(p),
        None => Credential::Temporary,
    };
    let created = create(
        db,
        NewUser {
            email,
            role: Role::Admin,
            display_name: Some("Admin"),
            credential,
        },
    )
    .await?;
    Ok(Some((created.user, created.temp_password)))
}
