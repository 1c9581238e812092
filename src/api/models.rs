//! Response objects shared by several API modules.

use chrono::{DateTime, Utc};
use dango_entity::users;
use poem_openapi::Object;

/// A user as the API shows it (never secrets: no hashes, TOTP secret or tokens).
#[derive(Object, Clone, Debug)]
pub struct UserResponse {
    pub id: String,
    pub email: String,
    pub display_name: String,
    /// admin, editor or viewer
    pub role: String,
    pub is_active: bool,
    pub totp_enabled: bool,
    pub oauth_provider: Option<String>,
    pub failed_login_attempts: i32,
    pub locked_until: Option<DateTime<Utc>>,
    pub must_change_password: bool,
    pub last_login: Option<DateTime<Utc>>,
    pub invite_expires_at: Option<DateTime<Utc>>,
    pub has_pending_invite: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&users::Model> for UserResponse {
    fn from(user: &users::Model) -> Self {
        let now = Utc::now();
        Self {
            id: user.id.clone(),
            email: user.email.clone(),
            display_name: display_name(user),
            role: user.role.clone(),
            is_active: user.is_active,
            totp_enabled: user.totp_enabled,
            oauth_provider: user.oauth_provider.clone(),
            failed_login_attempts: user.failed_login_attempts,
            locked_until: user.locked_until.filter(|t| *t > now),
            must_change_password: user.must_change_password,
            last_login: user.last_login,
            invite_expires_at: user.invite_expires_at,
            has_pending_invite: user.invite_expires_at.is_some_and(|t| t > now),
            created_at: user.created_at,
            updated_at: user.updated_at,
        }
    }
}

/// The display name, or the email's local part when none was given.
pub fn display_name(user: &users::Model) -> String {
    user.display_name.clone().unwrap_or_else(|| {
        user.email
            .split('@')
            .next()
            .unwrap_or(&user.email)
            .to_string()
    })
}

#[derive(Object)]
pub struct SuccessResponse {
    pub success: bool,
}

impl SuccessResponse {
    pub fn ok() -> poem_openapi::payload::Json<Self> {
        poem_openapi::payload::Json(Self { success: true })
    }
}
