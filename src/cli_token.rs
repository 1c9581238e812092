//! How the `dango` CLI reaches a running server: the server writes its address and a
//! fresh random token to `.dango/state/server.json` (mode 0600) when it starts; the CLI
//! presents the token as a bearer credential, accepted only from the loopback address.
//! Whoever can read that file can already read the project's databases.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::auth::tokens::{constant_time_eq, random_token, sha256_hex};
use crate::config::ProjectPaths;

pub const TOKEN_PREFIX: &str = "dango_cli_";

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ServerInfo {
    pub url: String,
    pub pid: u32,
    pub token: String,
}

pub fn info_path(paths: &ProjectPaths) -> PathBuf {
    paths.state_dir().join("server.json")
}

/// Writes the file for the CLI; returns the token's hash for the server to check.
pub fn publish(paths: &ProjectPaths, url: &str) -> std::io::Result<String> {
    let token = format!("{TOKEN_PREFIX}{}", random_token(32));
    let info = ServerInfo {
        url: url.to_string(),
        pid: std::process::id(),
        token: token.clone(),
    };
    write_private(
        &info_path(paths),
        serde_json::to_string_pretty(&info)
            .unwrap_or_default()
            .as_bytes(),
    )?;
    Ok(sha256_hex(&token))
}

fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&tmp)?;
    file.write_all(contents)?;
    file.sync_all()?;
    std::fs::rename(tmp, path)
}

/// The running server's address and token, if its file is there.
pub fn read(paths: &ProjectPaths) -> Option<ServerInfo> {
    let text = std::fs::read_to_string(info_path(paths)).ok()?;
    serde_json::from_str(&text).ok()
}

/// Removes the file when the server stops.
pub fn withdraw(paths: &ProjectPaths) {
    let _ = std::fs::remove_file(info_path(paths));
}

pub fn matches(token: &str, expected_hash: &str) -> bool {
    token.starts_with(TOKEN_PREFIX) && constant_time_eq(&sha256_hex(token), expected_hash)
}
