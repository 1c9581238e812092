//! The first sync of a fresh deployment (behaviour §16.1): its progress, kept in memory
//! while it goes and in `.dango/state/initial_sync.json` after every change, so a
//! restart finds it (and marks an unfinished one failed).

use std::path::PathBuf;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::config::ProjectPaths;

/// Where the first sync is.
#[derive(Clone, Debug, Default, Serialize, Deserialize, poem_openapi::Object)]
pub struct Progress {
    /// `idle`, `syncing`, `building`, `complete`, `cancelled` or `failed`.
    pub phase: String,
    pub total_sources: u32,
    /// 1-based position of the source being synced.
    pub current_source_index: u32,
    pub current_source_name: Option<String>,
    /// The run syncing it (`GET /api/sync/status/{run_id}` follows it).
    pub current_run_id: Option<String>,
    pub completed_sources: Vec<String>,
    pub failed_sources: Vec<FailedSource>,
    pub skipped_sources: Vec<String>,
    pub cancel_requested: bool,
    pub skip_current_requested: bool,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub error: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, poem_openapi::Object)]
pub struct FailedSource {
    pub name: String,
    pub error: String,
}

impl Progress {
    pub fn is_going(&self) -> bool {
        matches!(self.phase.as_str(), "syncing" | "building")
    }
}

/// The progress of this project's first sync, shared by the orchestration and the API.
#[derive(Default)]
pub struct InitialSync {
    current: Mutex<Option<Progress>>,
}

fn progress_file(paths: &ProjectPaths) -> PathBuf {
    paths.state_dir().join("initial_sync.json")
}

impl InitialSync {
    /// The progress now. First read in a process: from the file, where one that was
    /// going when the server stopped is failed.
    pub fn get(&self, paths: &ProjectPaths) -> Progress {
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(progress) = current.as_ref() {
            return progress.clone();
        }
        let mut progress: Progress = std::fs::read_to_string(progress_file(paths))
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_else(|| Progress {
                phase: "idle".into(),
                ..Default::default()
            });
        if progress.is_going() {
            progress.phase = "failed".into();
            progress.error = Some("The first sync was interrupted by a server restart".into());
            progress.current_run_id = None;
            save(paths, &progress);
        }
        *current = Some(progress.clone());
        progress
    }

    /// Changes the progress with `change` and saves it; returns it as it now is.
    pub fn update(&self, paths: &ProjectPaths, change: impl FnOnce(&mut Progress)) -> Progress {
        let mut progress = self.get(paths);
        change(&mut progress);
        save(paths, &progress);
        *self.current.lock().unwrap_or_else(|e| e.into_inner()) = Some(progress.clone());
        progress
    }
}

fn save(paths: &ProjectPaths, progress: &Progress) {
    let text = serde_json::to_string_pretty(progress).unwrap_or_default();
    if let Err(err) = crate::util::write_atomic(&progress_file(paths), text.as_bytes()) {
        tracing::warn!("cannot save the first sync's progress: {err}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_first_sync_interrupted_by_a_restart_reads_back_failed() {
        let dir = tempfile::tempdir().unwrap();
        let paths = ProjectPaths::new(dir.path());
        let before = InitialSync::default();
        before.update(&paths, |p| p.phase = "syncing".into());
        let after_restart = InitialSync::default();
        let progress = after_restart.get(&paths);
        assert_eq!(progress.phase, "failed");
        assert!(progress.error.unwrap().contains("restart"));
    }
}
