//! Secrets: the variables of the project's `.env` (source credentials named by `*_env`
//! keys, webhook signing keys). Values go in and are never given back, logged or
//! audited; the file is rewritten atomically, readable by its owner only (0600), with
//! its comments, blank lines and order kept.

use std::collections::BTreeMap;
use std::sync::Mutex;

use crate::config::ProjectPaths;
use crate::config::env_file;
use crate::{Error, Result};

/// Longest value accepted (a private key in PEM fits many times over).
pub const MAX_VALUE_BYTES: usize = 64 * 1024;

/// Serializes "read `.env`, change it, write it" within the process.
static WRITING: Mutex<()> = Mutex::new(());

/// A variable of `.env`, without its value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Secret {
    pub key: String,
    /// What reads it: `source:<name>` for a source whose settings name it in a `*_env`
    /// key, `webhook:<name>` for a webhook it signs.
    pub used_by: Vec<String>,
}

/// Whether a set made the variable or changed it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    Created,
    Updated,
}

impl Change {
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Created => "created",
            Change::Updated => "updated",
        }
    }
}

/// The variables of `.env` in the file's order.
pub fn list(paths: &ProjectPaths) -> Result<Vec<Secret>> {
    let text = read(paths)?;
    let users = users(paths);
    Ok(env_file::keys(&text)
        .into_iter()
        .map(|key| Secret {
            used_by: users.get(&key).cloned().unwrap_or_default(),
            key,
        })
        .collect())
}

/// Sets `key` to `value`. 400 for a key that is not a variable name and for a value the
/// file cannot hold (a line break, a NUL, more than 64 KiB).
pub fn set(paths: &ProjectPaths, key: &str, value: &str) -> Result<Change> {
    if !env_file::is_valid_key(key) {
        return Err(Error::bad_request(
            "key: a variable name (a letter or _, then letters, digits and _; at most 128)",
        ));
    }
    if value.len() > MAX_VALUE_BYTES {
        return Err(Error::bad_request("value: at most 64 KiB"));
    }
    let _writing = WRITING.lock().unwrap_or_else(|e| e.into_inner());
    let text = read(paths)?;
    let existed = env_file::parse(&text).contains_key(key);
    let changed = env_file::with_value(&text, key, value).ok_or_else(|| {
        Error::bad_request("value: one line without NUL characters (.env holds one value per line)")
    })?;
    write(paths, &changed)?;
    Ok(if existed {
        Change::Updated
    } else {
        Change::Created
    })
}

/// Removes `key` (every line that sets it). 404 when `.env` does not set it.
pub fn remove(paths: &ProjectPaths, key: &str) -> Result<()> {
    let _writing = WRITING.lock().unwrap_or_else(|e| e.into_inner());
    let text = read(paths)?;
    let changed = env_file::without(&text, key).ok_or_else(|| {
        Error::not_found(format!(
            "Key '{}' not found in .env",
            key.chars().take(128).collect::<String>()
        ))
    })?;
    write(paths, &changed)
}

fn read(paths: &ProjectPaths) -> Result<String> {
    match std::fs::read_to_string(paths.env_file()) {
        Ok(text) => Ok(text),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(err) => Err(Error::internal(anyhow::anyhow!("reading .env: {err}"))),
    }
}

fn write(paths: &ProjectPaths, text: &str) -> Result<()> {
    crate::util::write_private(&paths.env_file(), text.as_bytes())
        .map_err(|err| Error::internal(anyhow::anyhow!("writing .env: {err}")))
}

/// Variable → what reads it, from `sources.yml` and the webhooks of `schedules.yml`
/// (files that do not parse name nothing).
fn users(paths: &ProjectPaths) -> BTreeMap<String, Vec<String>> {
    let mut users: BTreeMap<String, Vec<String>> = BTreeMap::new();
    if let Ok(file) = crate::config::sources::SourcesFile::load(&paths.sources_yml()) {
        for source in &file.sources {
            let mut named = Vec::new();
            for block in source.blocks.values() {
                env_references(block, &mut named);
            }
            for key in named {
                users
                    .entry(key)
                    .or_default()
                    .push(format!("source:{}", source.name));
            }
        }
    }
    if let Ok(file) = crate::config::schedules::SchedulesFile::load(&paths.schedules_yml())
        && let Some(notifications) = &file.notifications
    {
        for webhook in &notifications.webhooks {
            users
                .entry(webhook.secret_variable())
                .or_default()
                .push(format!("webhook:{}", webhook.name));
        }
    }
    for names in users.values_mut() {
        names.sort();
        names.dedup();
    }
    users
}

/// The string values of `*_env` keys anywhere in `value`.
fn env_references(value: &serde_json::Value, found: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, inner) in map {
                match inner {
                    serde_json::Value::String(name) if key.ends_with("_env") => {
                        found.push(name.clone())
                    }
                    _ => env_references(inner, found),
                }
            }
        }
        serde_json::Value::Array(items) => {
            for item in items {
                env_references(item, found);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_secret_is_set_updated_and_removed_in_a_private_file_that_keeps_its_comments() {
        let dir = tempfile::tempdir().unwrap();
        let paths = ProjectPaths::new(dir.path());
        std::fs::write(paths.env_file(), "# Stripe, live key\nSTRIPE_API_KEY=old\n").unwrap();
        assert_eq!(
            set(&paths, "STRIPE_API_KEY", "sk_live_1").unwrap(),
            Change::Updated
        );
        assert_eq!(
            set(&paths, "DB_URL", "postgres://u:p@h/db").unwrap(),
            Change::Created
        );
        let text = std::fs::read_to_string(paths.env_file()).unwrap();
        assert_eq!(
            text,
            "# Stripe, live key\nSTRIPE_API_KEY=sk_live_1\nDB_URL=postgres://u:p@h/db\n"
        );
        let mode = std::fs::metadata(paths.env_file())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let keys: Vec<String> = list(&paths).unwrap().into_iter().map(|s| s.key).collect();
        assert_eq!(keys, ["STRIPE_API_KEY", "DB_URL"]);
        remove(&paths, "STRIPE_API_KEY").unwrap();
        assert_eq!(
            std::fs::read_to_string(paths.env_file()).unwrap(),
            "# Stripe, live key\nDB_URL=postgres://u:p@h/db\n"
        );
        assert_eq!(
            remove(&paths, "STRIPE_API_KEY").unwrap_err().kind,
            crate::ErrorKind::NotFound
        );
        assert_eq!(
            set(&paths, "1BAD", "x").unwrap_err().kind,
            crate::ErrorKind::BadRequest
        );
        assert_eq!(
            set(&paths, "OK", "a\nb").unwrap_err().kind,
            crate::ErrorKind::BadRequest
        );
    }

    #[test]
    fn env_keys_of_source_settings_are_found_at_any_depth() {
        let block = serde_json::json!({
            "api_key_env": "STRIPE_API_KEY",
            "auth": {"token_env": "TOKEN", "other": "x"},
            "endpoints": [{"headers_env": "H"}],
        });
        let mut found = Vec::new();
        env_references(&block, &mut found);
        found.sort();
        assert_eq!(found, ["H", "STRIPE_API_KEY", "TOKEN"]);
    }
}
