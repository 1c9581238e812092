//! Admin user management (permission `users.manage`).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use serde_json::json;

use super::ApiTag;
use super::context::Caller;
use super::models::{SuccessResponse, UserResponse};
use crate::auth::audit::{self, AuditEvent};
use crate::auth::users::{self as accounts, Credential, NewUser};
use crate::auth::{Principal, Role, sessions};
use crate::state::AppState;
use crate::{Error, Result};

pub struct UsersApi;

#[derive(Object)]
pub struct UserList {
    pub users: Vec<UserResponse>,
    pub total: u64,
}

#[derive(Object)]
pub struct CreateUserRequest {
    #[oai(validator(max_length = 254))]
    pub email: String,
    /// admin, editor or viewer
    pub role: String,
    pub display_name: Option<String>,
    /// Give the user a temporary password instead of an invite link.
    #[oai(default)]
    pub generate_password: bool,
}

#[derive(Object)]
pub struct CreatedUserResponse {
    pub user: UserResponse,
    /// Link for the user to set their password (72 h), for invites.
    pub invite_url: Option<String>,
    /// Temporary password (must be changed at first login), when requested.
    pub temp_password: Option<String>,
}

#[derive(ApiResponse)]
pub enum CreateUserAnswer {
    /// The user was created.
    #[oai(status = 201)]
    Created(Json<CreatedUserResponse>),
}

#[derive(Object)]
pub struct InviteResponse {
    pub invite_url: String,
    pub invite_expires_at: Option<DateTime<Utc>>,
}

#[derive(Object)]
pub struct RoleRequest {
    pub role: String,
}

#[derive(Object)]
pub struct ResetPasswordResponse {
    pub user: UserResponse,
    pub temp_password: String,
}

#[derive(Object)]
pub struct RevokeSessionsResponse {
    pub success: bool,
    pub revoked_count: u64,
}

fn parse_role(value: &str) -> Result<Role> {
    Role::parse(value).ok_or_else(|| {
        Error::bad_request(format!(
            "Invalid role '{value}'. Must be admin, editor, or viewer."
        ))
    })
}

fn invite_url(state: &AppState, origin: &str, token: &str) -> String {
    let base = state
        .config()
        .platform
        .public_url
        .clone()
        .unwrap_or_else(|| origin.to_string());
    format!("{}/invite/{token}", base.trim_end_matches('/'))
}

async fn audit_admin(
    state: &AppState,
    event: &'static str,
    actor: &Principal,
    target: &dango_entity::users::Model,
    details: serde_json::Value,
) {
    let mut details = details;
    details["target_user_id"] = json!(target.id);
    details["target_email"] = json!(target.email);
    audit::record(
        &state.db,
        AuditEvent::new(event).actor(actor).details(details),
    )
    .await;
}

#[OpenApi(tag = "ApiTag::Users")]
impl UsersApi {
    /// All users with role, status and last login
    ///
    /// Every account, oldest first, with `total`. It never includes secrets: no password
    /// hashes, TOTP secrets or invite tokens.
    #[oai(path = "/api/admin/users", method = "get", operation_id = "list_users")]
    async fn list(&self, state: Data<&Arc<AppState>>) -> Result<Json<UserList>> {
        let users = accounts::list(&state.db).await?;
        Ok(Json(UserList {
            total: users.len() as u64,
            users: users.iter().map(UserResponse::from).collect(),
        }))
    }

    /// Create a user (invite link by default, or a temporary password)
    ///
    /// The email is trimmed, lowercased and checked, and must not belong to an existing user;
    /// `role` must be `admin`, `editor` or `viewer`. By default the answer carries an
    /// `invite_url` valid for 72 hours; with `generate_password: true` it carries a
    /// `temp_password` instead, which must be changed at first login.
    #[oai(
        path = "/api/admin/users",
        method = "post",
        operation_id = "create_user"
    )]
    async fn create(
        &self,
        state: Data<&Arc<AppState>>,
        caller: Caller,
        body: Json<CreateUserRequest>,
    ) -> Result<CreateUserAnswer> {
        let Caller(actor, ctx) = caller;
        let role = parse_role(&body.role)?;
        let credential = if body.generate_password {
            Credential::Temporary
        } else {
            Credential::Invite
        };
        let created = accounts::create(
            &state.db,
            NewUser {
                email: &body.email,
                role,
                display_name: body.display_name.as_deref(),
                credential,
            },
        )
        .await?;
        let method = if created.temp_password.is_some() {
            "temp_password"
        } else {
            "invite"
        };
        audit_admin(
            &state,
            "user_created",
            &actor,
            &created.user,
            json!({"role": role.as_str(), "method": method}),
        )
        .await;
        Ok(CreateUserAnswer::Created(Json(CreatedUserResponse {
            user: UserResponse::from(&created.user),
            invite_url: created
                .invite_token
                .map(|t| invite_url(&state, &ctx.origin, &t)),
            temp_password: created.temp_password,
        })))
    }

    /// Send a new invite link to a user who has not set a password
    ///
    /// Issues a new 72-hour invite link, which invalidates the previous one. It is refused
    /// when the user is deactivated or has already set a password (use reset-password then).
    #[oai(
        path = "/api/admin/users/:user_id/reinvite",
        method = "post",
        operation_id = "reinvite_user"
    )]
    async fn reinvite(
        &self,
        state: Data<&Arc<AppState>>,
        caller: Caller,
        /// Id of an active user who has not set a password yet (from `GET /api/admin/users`);
        /// 404 if unknown.
        user_id: Path<String>,
    ) -> Result<Json<InviteResponse>> {
        let Caller(actor, ctx) = caller;
        let (user, token) = accounts::reinvite(&state.db, &user_id).await?;
        audit_admin(&state, "invite_resent", &actor, &user, json!({})).await;
        Ok(Json(InviteResponse {
            invite_url: invite_url(&state, &ctx.origin, &token),
            invite_expires_at: user.invite_expires_at,
        }))
    }

    /// Change a user's role (the last active admin cannot be demoted)
    ///
    /// Sets the role (`admin`, `editor` or `viewer`) and returns the updated user. It takes
    /// effect from the user's next request, and the user's API keys are capped by the new
    /// role; demoting the only active admin is refused.
    #[oai(
        path = "/api/admin/users/:user_id/role",
        method = "put",
        operation_id = "change_user_role"
    )]
    async fn change_role(
        &self,
        state: Data<&Arc<AppState>>,
        caller: Caller,
        /// Id of the user (from `GET /api/admin/users`); 404 if unknown.
        user_id: Path<String>,
        body: Json<RoleRequest>,
    ) -> Result<Json<UserResponse>> {
        let Caller(actor, _) = caller;
        let role = parse_role(&body.role)?;
        let (old, user) = accounts::change_role(&state.db, &user_id, role).await?;
        audit_admin(
            &state,
            "role_changed",
            &actor,
            &user,
            json!({"old_role": old.as_str(), "new_role": role.as_str()}),
        )
        .await;
        Ok(Json(UserResponse::from(&user)))
    }

    /// Give a user a new temporary password (ends their sessions)
    ///
    /// Replaces the password with a random temporary one (returned once), requires a change
    /// at the next login and ends all of the user's sessions.
    #[oai(
        path = "/api/admin/users/:user_id/reset-password",
        method = "post",
        operation_id = "reset_user_password"
    )]
    async fn reset_password(
        &self,
        state: Data<&Arc<AppState>>,
        caller: Caller,
        /// Id of the user (from `GET /api/admin/users`); 404 if unknown.
        user_id: Path<String>,
    ) -> Result<Json<ResetPasswordResponse>> {
        let Caller(actor, _) = caller;
        let (user, temp_password) = accounts::reset_password(&state.db, &user_id).await?;
        audit_admin(&state, "password_reset", &actor, &user, json!({})).await;
        Ok(Json(ResetPasswordResponse {
            user: UserResponse::from(&user),
            temp_password,
        }))
    }

    /// Deactivate a user (keeps the account, ends access)
    ///
    /// Blocks the account without deleting it: all of the user's sessions end and the user's
    /// API keys stop working. Your own account and the only active admin cannot be
    /// deactivated.
    #[oai(
        path = "/api/admin/users/:user_id/deactivate",
        method = "post",
        operation_id = "deactivate_user"
    )]
    async fn deactivate(
        &self,
        state: Data<&Arc<AppState>>,
        caller: Caller,
        /// Id of the user to deactivate (from `GET /api/admin/users`): not yourself or the
        /// only active admin (409); 404 if unknown.
        user_id: Path<String>,
    ) -> Result<Json<SuccessResponse>> {
        let Caller(actor, _) = caller;
        let user = accounts::deactivate(&state.db, &actor.user_id, &user_id).await?;
        audit_admin(&state, "user_deactivated", &actor, &user, json!({})).await;
        Ok(SuccessResponse::ok())
    }

    /// Reactivate a deactivated user
    ///
    /// Allows a deactivated account to log in again, and its API keys work again; it returns
    /// the account. It does not clear a login lock or restore ended sessions.
    #[oai(
        path = "/api/admin/users/:user_id/reactivate",
        method = "post",
        operation_id = "reactivate_user"
    )]
    async fn reactivate(
        &self,
        state: Data<&Arc<AppState>>,
        caller: Caller,
        /// Id of the user to reactivate (from `GET /api/admin/users`); 404 if unknown.
        user_id: Path<String>,
    ) -> Result<Json<UserResponse>> {
        let Caller(actor, _) = caller;
        let user = accounts::reactivate(&state.db, &user_id).await?;
        audit_admin(&state, "user_reactivated", &actor, &user, json!({})).await;
        Ok(Json(UserResponse::from(&user)))
    }

    /// Delete a user for good
    ///
    /// `confirm_email` must repeat the user's email. You cannot delete yourself or the last admin.
    #[oai(
        path = "/api/admin/users/:user_id",
        method = "delete",
        operation_id = "delete_user"
    )]
    async fn delete(
        &self,
        state: Data<&Arc<AppState>>,
        caller: Caller,
        /// Id of the user to delete (from `GET /api/admin/users`); 404 if unknown.
        user_id: Path<String>,
        /// The user's email again, as a safeguard (case and surrounding spaces are ignored);
        /// 400 when it differs.
        confirm_email: Query<String>,
    ) -> Result<Json<SuccessResponse>> {
        let Caller(actor, _) = caller;
        let user =
            accounts::delete(&state.db, &actor.user_id, &user_id, Some(&confirm_email)).await?;
        audit_admin(&state, "user_deleted", &actor, &user, json!({})).await;
        Ok(SuccessResponse::ok())
    }

    /// Unlock an account locked after failed logins
    ///
    /// Clears the account's failed-login counter and `locked_until`, and the failed attempts
    /// recorded for its email. It succeeds even when the account was not locked.
    #[oai(
        path = "/api/admin/users/:user_id/unlock",
        method = "post",
        operation_id = "unlock_user"
    )]
    async fn unlock(
        &self,
        state: Data<&Arc<AppState>>,
        caller: Caller,
        /// Id of the user to unlock (from `GET /api/admin/users`); 404 if unknown.
        user_id: Path<String>,
    ) -> Result<Json<SuccessResponse>> {
        let Caller(actor, _) = caller;
        let user = accounts::unlock(&state.db, &user_id).await?;
        audit_admin(&state, "account_unlocked", &actor, &user, json!({})).await;
        Ok(SuccessResponse::ok())
    }

    /// End all sessions of a user
    ///
    /// Deletes every session of the user, including 2FA-pending ones; `revoked_count` is how
    /// many were removed. API keys are not affected, and the action is audited as
    /// `session_expired`.
    #[oai(
        path = "/api/admin/users/:user_id/revoke-sessions",
        method = "post",
        operation_id = "revoke_user_sessions"
    )]
    async fn revoke_sessions(
        &self,
        state: Data<&Arc<AppState>>,
        caller: Caller,
        /// Id of the user whose sessions end (from `GET /api/admin/users`); 404 if unknown.
        user_id: Path<String>,
    ) -> Result<Json<RevokeSessionsResponse>> {
        let Caller(actor, _) = caller;
        let user = accounts::get(&state.db, &user_id).await?;
        let revoked_count = sessions::delete_all_for_user(&state.db, &user.id).await?;
        audit_admin(
            &state,
            "session_expired",
            &actor,
            &user,
            json!({"action": "admin_revoke_all", "revoked_count": revoked_count}),
        )
        .await;
        Ok(Json(RevokeSessionsResponse {
            success: true,
            revoked_count,
        }))
    }
}
