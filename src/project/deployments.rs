//! The deployments journal (`.dango/state/deployments.jsonl`, append-only): `dango start`
//! adds a record when the version or the project's configuration changed since the last
//! one, so "what changed when" has an answer. Never fails a start.

use std::io::Write;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::config::ProjectPaths;

/// One deployment.
#[derive(Clone, Debug, Serialize, Deserialize, poem_openapi::Object)]
pub struct Deployment {
    pub timestamp: DateTime<Utc>,
    /// Who started it (the OS user).
    pub deployer: String,
    pub success: bool,
    pub dango_version: String,
    /// The commit and branch of the project's git checkout, if it is one.
    pub git_commit: Option<String>,
    pub git_branch: Option<String>,
    /// What changed since the previous record: `version`, or a configuration file.
    pub changed: Vec<String>,
    /// SHA-256 of each configuration file, by path (what the next start compares with).
    pub fingerprints: std::collections::BTreeMap<String, String>,
}

const CONFIG_FILES: &[&str] = &[
    ".dango/project.yml",
    ".dango/sources.yml",
    ".dango/schedules.yml",
    "dbt/dbt_project.yml",
];

fn journal(paths: &ProjectPaths) -> PathBuf {
    paths.state_dir().join("deployments.jsonl")
}

/// Every record, newest first (unreadable lines are left out).
pub fn history(paths: &ProjectPaths) -> Vec<Deployment> {
    let text = std::fs::read_to_string(journal(paths)).unwrap_or_default();
    let mut records: Vec<Deployment> = text
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect();
    records.reverse();
    records
}

/// At start: appends a record if the version or a configuration file changed since the
/// newest one (the first start always records). Returns the record written.
pub fn record_if_changed(paths: &ProjectPaths) -> Option<Deployment> {
    let fingerprints: std::collections::BTreeMap<String, String> = CONFIG_FILES
        .iter()
        .filter_map(|file| {
            let text = std::fs::read_to_string(paths.root.join(file)).ok()?;
            Some((file.to_string(), crate::util::sha256_hex(&text)))
        })
        .collect();
    let previous = history(paths).into_iter().next();
    let mut changed = Vec::new();
    match &previous {
        None => changed.push("first start".to_string()),
        Some(previous) => {
            if previous.dango_version != crate::VERSION {
                changed.push("version".into());
            }
            for file in CONFIG_FILES {
                if previous.fingerprints.get(*file) != fingerprints.get(*file) {
                    changed.push((*file).to_string());
                }
            }
        }
    }
    if changed.is_empty() {
        return None;
    }
    let (git_commit, git_branch) = git_head(paths);
    let record = Deployment {
        timestamp: Utc::now(),
        deployer: std::env::var("USER").unwrap_or_else(|_| "unknown".into()),
        success: true,
        dango_version: crate::VERSION.to_string(),
        git_commit,
        git_branch,
        changed,
        fingerprints,
    };
    let line = serde_json::to_string(&record).ok()?;
    let written = std::fs::create_dir_all(paths.state_dir()).and_then(|_| {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(journal(paths))?;
        writeln!(file, "{line}")
    });
    match written {
        Ok(()) => Some(record),
        Err(err) => {
            tracing::warn!("cannot write the deployments journal: {err}");
            None
        }
    }
}

/// The commit and branch of `.git/HEAD` (read, no git process).
fn git_head(paths: &ProjectPaths) -> (Option<String>, Option<String>) {
    let git = paths.root.join(".git");
    let Ok(head) = std::fs::read_to_string(git.join("HEAD")) else {
        return (None, None);
    };
    let head = head.trim();
    match head.strip_prefix("ref: ") {
        Some(reference) => {
            let commit = std::fs::read_to_string(git.join(reference))
                .ok()
                .map(|c| c.trim().to_string());
            let branch = reference.strip_prefix("refs/heads/").map(str::to_string);
            (commit, branch)
        }
        None => (Some(head.to_string()), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_start_is_recorded_when_something_changed() {
        let dir = tempfile::tempdir().unwrap();
        let paths = ProjectPaths::new(dir.path());
        std::fs::create_dir_all(dir.path().join(".dango")).unwrap();
        std::fs::write(dir.path().join(".dango/sources.yml"), "sources: []\n").unwrap();
        let first = record_if_changed(&paths).expect("the first start");
        assert_eq!(first.changed, ["first start"]);
        assert!(record_if_changed(&paths).is_none(), "nothing changed");
        std::fs::write(dir.path().join(".dango/sources.yml"), "sources: [x]\n").unwrap();
        let second = record_if_changed(&paths).expect("a change");
        assert_eq!(second.changed, [".dango/sources.yml"]);
        let listed = history(&paths);
        assert_eq!(listed.len(), 2);
        assert_eq!(listed[0].changed, second.changed, "newest first");
    }
}
