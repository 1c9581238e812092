//! Sources: their configuration, status and sync history.

use crate::app::AppState;
use crate::config::ProjectPaths;
use crate::config::sources::SourcesFile;
use crate::health::SyncFailure;

/// Counts of configured sources.
#[derive(Debug, Default, Clone)]
pub struct SourceSummary {
    pub total: u64,
    pub enabled: u64,
    pub never_synced: u64,
}

impl SourceSummary {
    pub fn load(paths: &ProjectPaths) -> Self {
        match SourcesFile::load(&paths.sources_yml()) {
            Ok(file) => {
                let enabled = file.sources.iter().filter(|s| s.enabled).count() as u64;
                Self {
                    total: file.sources.len() as u64,
                    enabled,
                    never_synced: enabled,
                }
            }
            Err(err) => {
                tracing::warn!("{err}");
                Self::default()
            }
        }
    }
}

/// Sources whose latest sync failed within the last 24 hours.
pub async fn recent_failures(_state: &AppState) -> Vec<SyncFailure> {
    Vec::new()
}
