//! Authentication and authorisation: passwords, sessions, API keys, TOTP, lockout,
//! rate limiting, OAuth login, the role matrix and the audit log.

pub mod api_keys;
pub mod audit;
pub mod credentials;
pub mod lockout;
pub mod login;
pub mod oauth;
pub mod password;
pub mod permissions;
pub mod qr;
pub mod rate_limit;
pub mod run_keys;
pub mod sessions;
pub mod tokens;
pub mod totp;
pub mod two_factor;
pub mod users;

pub use permissions::{Permission, Role};

/// How the caller proved who they are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthMethod {
    Session {
        session_id: String,
    },
    ApiKey {
        key_id: String,
    },
    /// Authentication is disabled in `project.yml`: every request is a local admin.
    Disabled,
    /// The `dango` CLI on this machine, with the token the server wrote for it.
    LocalCli,
    /// A script, with the key of the run it is in (`auth::run_keys`).
    RunKey {
        run_id: String,
    },
}

/// The authenticated caller of a request.
#[derive(Clone, Debug)]
pub struct Principal {
    pub user_id: String,
    pub email: String,
    pub display_name: Option<String>,
    /// The role requests act with: the account's role, capped by an API key's role cap.
    pub role: Role,
    pub method: AuthMethod,
    pub must_change_password: bool,
    /// The account as read when authenticating (none for the local CLI).
    pub account: Option<std::sync::Arc<dango_entity::users::Model>>,
}

impl Principal {
    pub fn can(&self, permission: Permission) -> bool {
        self.role.can(permission)
    }

    /// A person signed in with a session whose account has no second factor (API keys
    /// and the local CLI are credentials of their own): what `auth.require_2fa` holds
    /// back until they enrol.
    pub fn lacks_second_factor(&self) -> bool {
        matches!(self.method, AuthMethod::Session { .. })
            && self.account.as_ref().is_some_and(|a| !a.totp_enabled)
    }

    /// The stand-in caller when authentication is disabled.
    pub fn local_admin() -> Self {
        Self {
            user_id: "local".into(),
            email: "local@localhost".into(),
            display_name: Some("Local admin".into()),
            role: Role::Admin,
            method: AuthMethod::Disabled,
            must_change_password: false,
            account: None,
        }
    }

    /// The `dango` command line talking to the running server.
    pub fn local_cli() -> Self {
        Self {
            user_id: "cli".into(),
            email: "cli@localhost".into(),
            display_name: Some("dango CLI".into()),
            role: Role::Admin,
            method: AuthMethod::LocalCli,
            must_change_password: false,
            account: None,
        }
    }

    pub fn session_id(&self) -> Option<&str> {
        match &self.method {
            AuthMethod::Session { session_id } => Some(session_id),
            _ => None,
        }
    }
}

/// Emails are compared and stored trimmed and lower-cased.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// A plausible email: one `@`, something before it, a dot-less or dotted domain after it
/// (`admin@localhost` is allowed), no whitespace, at most 254 characters.
pub fn is_valid_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    email.len() <= 254
        && !local.is_empty()
        && !domain.is_empty()
        && !domain.contains('@')
        && !email.chars().any(char::is_whitespace)
        && !domain.starts_with('.')
        && !domain.ends_with('.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_rules() {
        assert!(is_valid_email("admin@localhost"));
        assert!(is_valid_email("jane.doe+x@example.co"));
        for bad in ["", "nobody", "@x", "a@", "a b@c", "a@b@c", "a@.com"] {
            assert!(!is_valid_email(bad), "{bad}");
        }
        assert_eq!(normalize_email("  Jane@Example.COM "), "jane@example.com");
    }
}
