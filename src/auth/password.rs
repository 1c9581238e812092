//! Password hashing (argon2id, m=19456 KiB, t=2, p=1) and the password policy:
//! 8..=1024 characters, not a common password, not the email or its local part.

use crate::error::code;
use std::sync::LazyLock;

use argon2::{Algorithm, Argon2, Params, PasswordHasher, PasswordVerifier, Version};

use super::tokens::random_token;

pub const MIN_LENGTH: usize = 8;
pub const MAX_LENGTH: usize = 1024;

/// Lower-cased passwords of 8+ characters from the 30,000 most common leaked passwords
/// (zxcvbn's frequency list, itself from public password dumps), sorted for binary search.
static COMMON_PASSWORDS: LazyLock<Vec<&'static str>> =
    LazyLock::new(|| include_str!("common_passwords.txt").lines().collect());

fn hasher() -> Argon2<'static> {
    // The parameters are constants known to be valid, so construction cannot fail.
    let params = Params::new(19_456, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// A PHC-format argon2id hash with a fresh random salt.
pub fn hash(password: &str) -> crate::Result<String> {
    hasher()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| crate::Error::internal(anyhow::anyhow!("password hashing failed: {e}")))
}

/// Verifies against a stored hash; malformed hashes never verify.
pub fn verify(password: &str, stored_hash: &str) -> bool {
    hasher()
        .verify_password(password.as_bytes(), stored_hash)
        .is_ok()
}

/// Burns the same time as a real verification, so unknown users answer as slowly as known ones.
pub fn verify_dummy(password: &str) {
    static DUMMY: LazyLock<String> =
        LazyLock::new(|| hash("dummy-password-for-timing").unwrap_or_default());
    let _ = verify(password, &DUMMY);
}

/// The policy's complaints about a password, empty when it is acceptable.
pub fn strength_issues(password: &str, email: &str) -> Vec<String> {
    let mut issues = Vec::new();
    let length = password.chars().count();
    if length < MIN_LENGTH {
        issues.push(format!("Password must be at least {MIN_LENGTH} characters"));
    }
    if length > MAX_LENGTH {
        issues.push(format!("Password must be at most {MAX_LENGTH} characters"));
    }
    let lowered = password.to_lowercase();
    if COMMON_PASSWORDS.binary_search(&lowered.as_str()).is_ok() {
        issues.push("Password is too common".into());
    }
    let email = email.trim().to_lowercase();
    if !email.is_empty() {
        if lowered == email {
            issues.push("Password cannot be the same as your email address".into());
        } else if let Some(local) = email.split('@').next()
            && local.len() >= 3
            && lowered.contains(local)
        {
            issues.push("Password should not contain your email username".into());
        }
    }
    issues
}

/// A strong random password for new accounts and resets (22 URL-safe characters).
pub fn temporary_password() -> String {
    random_token(16)
}

/// [`hash`] on the blocking pool (argon2 takes ~20 ms of CPU).
pub async fn hash_blocking(password: &str) -> crate::Result<String> {
    let password = password.to_string();
    tokio::task::spawn_blocking(move || hash(&password)).await?
}

/// [`verify`] on the blocking pool; `None` as the hash burns the same time and fails.
pub async fn verify_blocking(password: &str, stored_hash: Option<&str>) -> bool {
    let password = password.to_string();
    let stored_hash = stored_hash.map(str::to_string);
    tokio::task::spawn_blocking(move || match stored_hash {
        Some(h) => verify(&password, &h),
        None => {
            verify_dummy(&password);
            false
        }
    })
    .await
    .unwrap_or(false)
}

/// Rejects a password the policy refuses, with every issue listed.
pub fn check_strength(password: &str, email: &str) -> crate::Result<()> {
    let issues = strength_issues(password, email);
    if issues.is_empty() {
        return Ok(());
    }
    Err(crate::Error::bad_request("Password is too weak")
        .with_code(code::WEAK_PASSWORD)
        .with_extra("issues", issues))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_then_verify() {
        let h = hash("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify("correct horse battery", &h));
        assert!(!verify("wrong", &h));
        assert!(!verify("x", "not-a-hash"));
    }

    #[test]
    fn policy() {
        assert!(strength_issues("short", "a@b.c")[0].contains("at least 8"));
        assert_eq!(
            strength_issues("password1", "a@b.c"),
            ["Password is too common"]
        );
        assert_eq!(
            strength_issues("PassWord123", "x@y.z"),
            ["Password is too common"]
        );
        assert!(
            strength_issues("jane@example.com", "Jane@Example.com")
                .iter()
                .any(|i| i.contains("same as your email"))
        );
        assert!(
            strength_issues("xxjanedoe-horse", "janedoe@example.com")
                .iter()
                .any(|i| i.contains("email username"))
        );
        assert!(strength_issues("Tr0ub4dor&3-staple", "jane@example.com").is_empty());
        assert!(!strength_issues(&"a".repeat(1025), "").is_empty());
    }

    #[test]
    fn common_list_is_sorted_for_binary_search() {
        assert!(COMMON_PASSWORDS.windows(2).all(|w| w[0] < w[1]));
        assert!(COMMON_PASSWORDS.len() > 10_000);
    }

    #[test]
    fn temporary_passwords_pass_the_policy() {
        let p = temporary_password();
        assert_eq!(p.len(), 22);
        assert!(strength_issues(&p, "admin@localhost").is_empty());
    }
}
