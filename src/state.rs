//! What request handlers and background work share: the project's stores, the caches
//! in front of them and the live configuration. Built by [`crate::app::App`].

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sea_orm::DatabaseConnection;

use crate::auth::rate_limit::RateLimiter;
use crate::config::{ProjectConfig, ProjectPaths};
use crate::events::EventBus;
use crate::runs::queue::JobQueue;
use crate::util::{FileStamp, file_stamp};
use crate::warehouse::Warehouse;

/// `project.yml`, re-read when the file changes (checked at most every 2 s), so
/// `dango auth disable` or an edited setting reaches a running server.
pub struct ConfigHandle {
    path: PathBuf,
    current: RwLock<LoadedConfig>,
}

struct LoadedConfig {
    config: Arc<ProjectConfig>,
    stamp: FileStamp,
    checked: Instant,
}

const CONFIG_CHECK_INTERVAL: Duration = Duration::from_secs(2);

impl ConfigHandle {
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let config = ProjectConfig::load(path)?;
        Ok(Self {
            path: path.to_path_buf(),
            current: RwLock::new(LoadedConfig {
                config: Arc::new(config),
                stamp: file_stamp(path),
                checked: Instant::now(),
            }),
        })
    }

    pub fn get(&self) -> Arc<ProjectConfig> {
        {
            let current = self.current.read().unwrap_or_else(|e| e.into_inner());
            if current.checked.elapsed() < CONFIG_CHECK_INTERVAL {
                return current.config.clone();
            }
        }
        let mut current = self.current.write().unwrap_or_else(|e| e.into_inner());
        current.checked = Instant::now();
        let stamp = file_stamp(&self.path);
        if stamp != current.stamp {
            current.stamp = stamp;
            match ProjectConfig::load(&self.path) {
                Ok(config) => current.config = Arc::new(config),
                Err(err) => tracing::warn!("keeping the previous configuration: {err}"),
            }
        }
        current.config.clone()
    }
}

/// Everything request handlers and background work share.
pub struct AppState {
    pub paths: ProjectPaths,
    config: ConfigHandle,
    pub db: DatabaseConnection,
    pub warehouse: Arc<Warehouse>,
    pub rate_limiter: RateLimiter,
    pub http: reqwest::Client,
    pub events: EventBus,
    pub jobs: JobQueue,
    /// The runs executing in this process, each with its stop switch.
    pub run_controls: crate::runs::control::RunControls,
    /// The first sync of a fresh deployment, while it goes and after.
    pub initial_sync: crate::runs::initial_sync::InitialSync,
    /// The scheduler's plans (it ticks with them; a reload diffs against them).
    pub scheduler: tokio::sync::Mutex<crate::schedules::Memory>,
    pub watcher: FileWatcher,
    /// What source statuses derive from, rebuilt when it changes.
    pub source_facts: crate::sources::facts::FactsCache,
    /// dbt's artifacts as last parsed.
    pub artifacts: crate::transform::artifact_model::ArtifactsCache,
    /// dbt's target directory, by the size and modification time of `dbt_project.yml`.
    target_dir: Mutex<Option<(FileStamp, PathBuf)>>,
    /// Sessions and API keys validated moments ago.
    pub credentials: crate::auth::credentials::CredentialCache,
    /// The keys of the script runs executing in this process.
    pub run_keys: crate::auth::run_keys::RunKeys,
    /// Where this server listens, for programs it starts (`http://127.0.0.1:8800`).
    pub local_url: RwLock<Option<String>>,
    /// Unfinished runs, reloaded after each write to them.
    active_runs: crate::runs::ActiveRunsCache,
    /// Proxies that forward requests without being trusted (reported by health).
    pub untrusted_forwarders: crate::client_address::UntrustedForwarders,
    /// SHA-256 of the token the CLI uses, once the server listens.
    pub cli_token_hash: RwLock<Option<String>>,
    /// Queries running per user (`api.query_max_concurrent`).
    pub running_queries: crate::query::RunningQueries,
    /// Queries DuckDB's parser passed, so repeated ones skip its check.
    pub passed_queries: Arc<crate::query::catalog_check::Passed>,
    /// Columns governance flags as PII, masked in query results (`api.mask_pii`).
    pub pii_columns: crate::query::PiiColumns,
    pub started_at: Instant,
}

impl AppState {
    pub fn new(
        paths: ProjectPaths,
        config: ConfigHandle,
        db: DatabaseConnection,
        warehouse: Arc<Warehouse>,
        jobs: JobQueue,
        http: reqwest::Client,
    ) -> Self {
        Self {
            paths,
            config,
            db,
            warehouse,
            rate_limiter: RateLimiter::default(),
            http,
            events: EventBus::default(),
            jobs,
            run_controls: Default::default(),
            initial_sync: Default::default(),
            scheduler: Default::default(),
            watcher: Default::default(),
            source_facts: Default::default(),
            active_runs: Default::default(),
            credentials: Default::default(),
            run_keys: Default::default(),
            local_url: RwLock::new(None),
            artifacts: Default::default(),
            target_dir: Mutex::new(None),
            untrusted_forwarders: Default::default(),
            cli_token_hash: RwLock::new(None),
            running_queries: Default::default(),
            passed_queries: Default::default(),
            pii_columns: Default::default(),
            started_at: Instant::now(),
        }
    }

    pub fn config(&self) -> Arc<ProjectConfig> {
        self.config.get()
    }

    /// Sources, their raw tables and recent syncs, as of now (cached until one changes).
    pub async fn source_facts(&self) -> crate::Result<Arc<crate::sources::facts::Facts>> {
        self.source_facts
            .get(&self.paths, &self.db, &self.warehouse)
            .await
    }

    /// The last run's `manifest.json` and `run_results.json` (parsed once per change).
    pub fn dbt_artifacts(&self) -> Option<Arc<crate::transform::artifact_model::Artifacts>> {
        self.artifacts.get(&self.dbt_target_dir())
    }

    /// Where dbt writes its artifacts (`target-path` of `dbt_project.yml`), read again only
    /// when that file changes: status polls ask for it on every request.
    pub fn dbt_target_dir(&self) -> PathBuf {
        let stamp = file_stamp(&self.paths.dbt_dir().join("dbt_project.yml"));
        let mut current = self.target_dir.lock().unwrap_or_else(|e| e.into_inner());
        match current.as_ref() {
            Some((seen, dir)) if *seen == stamp && stamp.is_some() => dir.clone(),
            _ => {
                let dir = self.paths.dbt_target_dir();
                *current = Some((stamp, dir.clone()));
                dir
            }
        }
    }

    /// The sync in progress of each source that has one (source → run id).
    pub async fn active_syncs(&self) -> crate::Result<crate::sources::ActiveSyncs> {
        Ok(crate::runs::syncs_by_source(&self.active_runs().await?))
    }

    /// Unfinished runs, oldest first (cached until a run is written).
    pub async fn active_runs(&self) -> crate::Result<Arc<Vec<dango_entity::job_runs::Model>>> {
        self.active_runs.get(&self.db).await
    }
}

/// What `GET /api/watcher/status` reports.
#[derive(Clone, Debug, Default)]
pub struct WatcherState {
    pub running: bool,
    pub directories: Vec<String>,
    pub pending_files: Vec<String>,
    pub last_event_at: Option<DateTime<Utc>>,
    pub last_sync_at: Option<DateTime<Utc>>,
    pub last_run_id: Option<String>,
    pub error: Option<String>,
}

/// The file watcher's live state (`watcher.rs` keeps it current).
#[derive(Default)]
pub struct FileWatcher {
    state: Mutex<WatcherState>,
}

impl FileWatcher {
    pub fn snapshot(&self) -> WatcherState {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub(crate) fn update(&self, change: impl FnOnce(&mut WatcherState)) {
        change(&mut self.state.lock().unwrap_or_else(|e| e.into_inner()));
    }
}
