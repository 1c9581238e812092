//! Run keys: the API key a script gets for the one run it is in (`DANGO_API_KEY`). It
//! acts as an editor named after the script, lives only in this process's memory (never
//! stored, so a crash cannot leave one valid) and stops working when the run ends.

use std::collections::HashMap;
use std::sync::Mutex;

use super::tokens::{random_token, sha256_hex};
use super::{AuthMethod, Principal, Role};

pub const RUN_KEY_PREFIX: &str = "dango_rk_";

/// What a run key stands for.
#[derive(Clone, Debug)]
struct Grant {
    run_id: String,
    script: String,
}

/// The run keys of the runs executing in this process, by the SHA-256 of the key.
#[derive(Default)]
pub struct RunKeys {
    grants: Mutex<HashMap<String, Grant>>,
}

/// A run key, valid until dropped.
pub struct IssuedKey<'a> {
    keys: &'a RunKeys,
    hash: String,
    pub token: String,
}

impl Drop for IssuedKey<'_> {
    fn drop(&mut self) {
        self.keys.lock().remove(&self.hash);
    }
}

impl RunKeys {
    /// A key for run `run_id` of `script`, revoked when the returned value is dropped.
    pub fn issue(&self, run_id: &str, script: &str) -> IssuedKey<'_> {
        let token = format!("{RUN_KEY_PREFIX}{}", random_token(32));
        let hash = sha256_hex(&token);
        self.lock().insert(
            hash.clone(),
            Grant {
                run_id: run_id.to_string(),
                script: script.to_string(),
            },
        );
        IssuedKey {
            keys: self,
            hash,
            token,
        }
    }

    /// The caller a live run key stands for; none for any other token.
    pub fn principal(&self, raw: &str) -> Option<Principal> {
        if !raw.starts_with(RUN_KEY_PREFIX) || raw.len() > 128 {
            return None;
        }
        let grant = self.lock().get(&sha256_hex(raw)).cloned()?;
        Some(Principal {
            user_id: format!("script:{}", grant.script),
            email: format!("script:{}", grant.script),
            display_name: Some(format!("Script {}", grant.script)),
            // What a script needs (read, sync, build, query), never user or platform
            // management, whoever started it.
            role: Role::Editor,
            method: AuthMethod::RunKey {
                run_id: grant.run_id,
            },
            must_change_password: false,
            account: None,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Grant>> {
        self.grants.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_key_works_while_issued_and_never_after() {
        let keys = RunKeys::default();
        let issued = keys.issue("run-1", "daily.py");
        let token = issued.token.clone();
        let principal = keys.principal(&token).expect("a live key");
        assert_eq!(principal.role, Role::Editor);
        assert_eq!(principal.email, "script:daily.py");
        assert_eq!(
            principal.method,
            AuthMethod::RunKey {
                run_id: "run-1".into()
            }
        );
        assert!(keys.principal("dango_rk_guess").is_none());
        assert!(keys.principal("dango_ak_other").is_none());
        drop(issued);
        assert!(keys.principal(&token).is_none());
    }
}
