//! Project configuration files in the Dango layout (`.dango/*.yml`, `.env`).

pub mod env_file;
pub mod project;
pub mod schedules;
pub mod schedules_edit;
pub mod sources;

use std::path::{Path, PathBuf};

pub use project::ProjectConfig;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("no Dango project at {0} (missing .dango/project.yml); run `dango init` first")]
    NoProject(String),
}

/// Reads the file at `path` and parses it with `parse`; problems name the file.
fn read_config<T>(path: &Path, parse: fn(&str) -> Result<T, String>) -> Result<T, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
        path: path.display().to_string(),
        source,
    })?;
    parse(&text).map_err(|message| ConfigError::Invalid {
        path: path.display().to_string(),
        message,
    })
}

/// Paths of a project's well-known files, all derived from the project root.
#[derive(Clone, Debug)]
pub struct ProjectPaths {
    pub root: PathBuf,
}

impl ProjectPaths {
    /// Paths under `root`, made absolute and canonical (symlinks resolved) here, once:
    /// every path the product reports derives from it, so whatever `--project` looked
    /// like (`.`, `../x`, a symlink), a path it lists is a path it accepts back.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        let root = root.into();
        let root = std::fs::canonicalize(&root)
            .or_else(|_| std::path::absolute(&root))
            .unwrap_or(root);
        Self { root }
    }
    pub fn dango_dir(&self) -> PathBuf {
        self.root.join(".dango")
    }
    pub fn project_yml(&self) -> PathBuf {
        self.dango_dir().join("project.yml")
    }
    pub fn sources_yml(&self) -> PathBuf {
        self.dango_dir().join("sources.yml")
    }
    pub fn schedules_yml(&self) -> PathBuf {
        self.dango_dir().join("schedules.yml")
    }
    pub fn state_dir(&self) -> PathBuf {
        self.dango_dir().join("state")
    }
    pub fn metadata_db(&self) -> PathBuf {
        self.dango_dir().join("dango.db")
    }
    pub fn jobs_db(&self) -> PathBuf {
        self.dango_dir().join("jobs.db")
    }
    pub fn data_dir(&self) -> PathBuf {
        self.root.join("data")
    }
    pub fn uploads_dir(&self) -> PathBuf {
        self.data_dir().join("uploads")
    }
    pub fn warehouse(&self) -> PathBuf {
        self.data_dir().join("warehouse.duckdb")
    }
    pub fn warehouse_lock(&self) -> PathBuf {
        self.state_dir().join("warehouse.lock")
    }
    pub fn dbt_dir(&self) -> PathBuf {
        self.root.join("dbt")
    }
    /// dbt's artifacts (`dbt/target` unless `dbt_project.yml` sets `target-path`).
    pub fn dbt_target_dir(&self) -> PathBuf {
        crate::transform::project::artifacts_dir(&self.dbt_dir())
    }
    pub fn env_file(&self) -> PathBuf {
        self.root.join(".env")
    }
    /// The user's programs (`scripts/`).
    pub fn scripts_dir(&self) -> PathBuf {
        self.root.join("scripts")
    }
    /// What each script run printed (`.dango/logs/scripts/runs/{run_id}/`).
    pub fn script_runs_dir(&self) -> PathBuf {
        self.dango_dir().join("logs").join("scripts").join("runs")
    }
    pub fn is_project(&self) -> bool {
        self.project_yml().is_file()
    }
}

/// Walks up from `start` to the first directory containing `.dango/project.yml`.
pub fn find_project_root(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .find(|dir| ProjectPaths::new(*dir).is_project())
        .map(Path::to_path_buf)
}

pub use crate::util::write_atomic;

#[cfg(test)]
mod tests {
    use super::ProjectPaths;

    #[test]
    fn project_root_is_absolute_and_canonical() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("project");
        std::fs::create_dir(&real).unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let canonical = real.canonicalize().unwrap();
        assert_eq!(ProjectPaths::new(&link).root, canonical);
        assert_eq!(ProjectPaths::new(real.join("../project")).root, canonical);
        // a folder that does not exist yet is still made absolute
        let relative = ProjectPaths::new("not-created-yet");
        assert!(relative.root.is_absolute() && relative.root.ends_with("not-created-yet"));
    }
}
