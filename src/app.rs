//! Builds the server: shared state, the route tree behind the request guard, and
//! `App::bind` to serve it on any listener (tests bind `127.0.0.1:0`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;
use poem::listener::{Acceptor, Listener, TcpListener};
use poem::middleware::{CatchPanic, CookieJarManager};
use poem::{Endpoint, EndpointExt, Route, Server};
use sea_orm::DatabaseConnection;

use crate::auth::rate_limit::RateLimiter;
use crate::config::{ProjectConfig, ProjectPaths};
use crate::events::EventBus;
use crate::jobs::queue::JobQueue;
use crate::warehouse::Warehouse;
use crate::{api, db, web};

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// `project.yml`, re-read when the file changes (checked at most every 2 s), so
/// `dango auth disable` or an edited setting reaches a running server.
pub struct ConfigHandle {
    path: PathBuf,
    current: RwLock<LoadedConfig>,
}

struct LoadedConfig {
    config: Arc<ProjectConfig>,
    modified: Option<SystemTime>,
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
                modified: modified_time(path),
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
        let modified = modified_time(&self.path);
        if modified != current.modified {
            current.modified = modified;
            match ProjectConfig::load(&self.path) {
                Ok(config) => current.config = Arc::new(config),
                Err(err) => tracing::warn!("keeping the previous configuration: {err}"),
            }
        }
        current.config.clone()
    }
}

fn modified_time(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
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
    pub watcher: crate::watcher::FileWatcher,
    /// What source statuses derive from, rebuilt when it changes.
    source_facts: crate::sources::facts::FactsCache,
    /// Sessions and API keys validated moments ago.
    pub credentials: crate::auth::credentials::CredentialCache,
    /// Unfinished runs, reloaded after each write to them.
    active_runs: crate::jobs::runs::ActiveRunsCache,
    /// Proxies that forward requests without being trusted (reported by health).
    pub untrusted_forwarders: crate::api::client::UntrustedForwarders,
    /// SHA-256 of the token the CLI uses, once the server listens.
    pub cli_token_hash: RwLock<Option<String>>,
    pub started_at: Instant,
}

impl AppState {
    /// What starting a run needs (`jobs::start`).
    pub fn run_deps(&self) -> crate::jobs::RunDeps<'_> {
        crate::jobs::RunDeps {
            db: &self.db,
            queue: &self.jobs,
            paths: &self.paths,
        }
    }

    pub fn config(&self) -> Arc<ProjectConfig> {
        self.config.get()
    }

    /// Records a source's sync in the history (and lets source statuses show it).
    pub async fn record_history(
        &self,
        entry: crate::sources::history::Entry<'_>,
    ) -> crate::Result<dango_entity::sync_history::Model> {
        let recorded = crate::sources::history::record(&self.db, entry).await;
        self.source_facts.history_recorded();
        recorded
    }

    /// Sources, their raw tables and recent syncs, as of now (cached until one changes).
    pub async fn source_facts(&self) -> crate::Result<Arc<crate::sources::facts::Facts>> {
        self.source_facts
            .get(&self.paths, &self.db, &self.warehouse)
            .await
    }

    /// Unfinished runs, oldest first (cached until a run is written).
    pub async fn active_runs(&self) -> crate::Result<Arc<Vec<dango_entity::job_runs::Model>>> {
        self.active_runs.get(&self.db).await
    }
}

/// Installs ring as rustls' crypto provider (once per process; reqwest needs one).
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

pub fn http_client() -> anyhow::Result<reqwest::Client> {
    install_crypto_provider();
    Ok(reqwest::Client::builder()
        .user_agent(concat!("dango/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(60))
        .build()?)
}

pub struct App {
    state: Arc<AppState>,
}

impl App {
    /// Opens a project: configuration, metadata database (migrated), warehouse.
    /// The metadata database is `DANGO_DATABASE_URL` or the project's SQLite file.
    pub async fn open(root: impl Into<PathBuf>) -> anyhow::Result<App> {
        let paths = ProjectPaths::new(root);
        let url = db::database_url(&paths.metadata_db());
        Self::open_with_database(paths.root, &url).await
    }

    /// Like [`App::open`] with an explicit metadata database URL.
    pub async fn open_with_database(
        root: impl Into<PathBuf>,
        database_url: &str,
    ) -> anyhow::Result<App> {
        let paths = ProjectPaths::new(root);
        let config = ConfigHandle::load(&paths.project_yml())?;
        std::fs::create_dir_all(paths.state_dir())
            .with_context(|| format!("creating {}", paths.state_dir().display()))?;
        let db = db::connect(database_url)
            .await
            .context("opening the metadata database")?;
        let warehouse = Arc::new(Warehouse::open(&paths)?);
        let jobs = JobQueue::open(&paths.jobs_db())
            .await
            .context("opening the job queue")?;
        for run in crate::jobs::runs::fail_interrupted(&db).await? {
            tracing::warn!(
                "run {} ({}) was interrupted by a restart and is marked failed",
                run.id,
                run.sources
            );
        }
        let state = Arc::new(AppState {
            paths,
            config,
            db,
            warehouse,
            rate_limiter: RateLimiter::default(),
            http: http_client()?,
            events: EventBus::default(),
            jobs,
            watcher: Default::default(),
            source_facts: Default::default(),
            active_runs: Default::default(),
            credentials: Default::default(),
            untrusted_forwarders: Default::default(),
            cli_token_hash: RwLock::new(None),
            started_at: Instant::now(),
        });
        Ok(App { state })
    }

    pub fn state(&self) -> &Arc<AppState> {
        &self.state
    }

    /// The whole HTTP surface behind the request guard.
    pub fn endpoint(&self) -> impl Endpoint<Output = poem::Response> + 'static {
        let service = api::service();
        let document = api::spec::document(&service);
        let spec = Arc::new(serde_json::to_string_pretty(&document).unwrap_or_default() + "\n");
        let contract = Arc::new(api::schema::Contract::new(document));
        // The API owns `/api` and everything below it (its unknown paths answer JSON);
        // pages own the rest. Nesting the API at `/` would shadow the page at `/`.
        let routes = web::routes(Route::new(), &service, spec)
            .at("/ws", poem::get(api::ws::socket))
            .nest_no_strip("/api", service);
        routes
            .data(self.state.clone())
            .with(CookieJarManager::new())
            .with(api::guard::Guard {
                state: self.state.clone(),
                contract,
            })
            // A bug must never take a connection down: answer 500 in the JSON shape.
            .with(CatchPanic::new().with_handler(|_| {
                tracing::error!("a request handler panicked");
                crate::Error::internal(anyhow::anyhow!("handler panicked")).to_response()
            }))
    }

    /// Serves on `addr` (e.g. `127.0.0.1:0`) until [`RunningApp::shutdown`].
    pub async fn bind(self, addr: &str) -> anyhow::Result<RunningApp> {
        self.bind_with(addr, |endpoint| endpoint).await
    }

    /// Like [`App::bind`], with `wrap` around the whole HTTP surface (the integration
    /// suite checks every answer against the published document this way).
    pub async fn bind_with<W, E>(self, addr: &str, wrap: W) -> anyhow::Result<RunningApp>
    where
        W: FnOnce(poem::endpoint::BoxEndpoint<'static, poem::Response>) -> E,
        E: Endpoint + 'static,
    {
        let acceptor = TcpListener::bind(addr.to_string())
            .into_acceptor()
            .await
            .with_context(|| format!("binding {addr}"))?;
        let local = acceptor
            .local_addr()
            .first()
            .and_then(|a| a.as_socket_addr().copied())
            .context("listener has no socket address")?;
        let endpoint = wrap(self.endpoint().boxed());
        let state = self.state.clone();
        match crate::cli_token::publish(&state.paths, &format!("http://{local}")) {
            Ok(hash) => {
                *state
                    .cli_token_hash
                    .write()
                    .unwrap_or_else(|e| e.into_inner()) = Some(hash)
            }
            Err(err) => tracing::warn!("the CLI will not reach this server: {err}"),
        }
        spawn_housekeeping(state.clone());
        state.jobs.spawn_worker(state.clone());
        crate::watcher::start(state.clone());
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            Server::new_with_acceptor(acceptor)
                .run_with_graceful_shutdown(
                    endpoint,
                    async {
                        let _ = stop_rx.await;
                    },
                    Some(Duration::from_secs(5)),
                )
                .await
        });
        Ok(RunningApp {
            addr: local,
            state,
            stop: Some(stop_tx),
            server,
        })
    }
}

/// Periodic cleanup: expired sessions and stale login-attempt counters.
fn spawn_housekeeping(state: Arc<AppState>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(6 * 3600));
        loop {
            tick.tick().await;
            if let Err(err) = crate::auth::sessions::purge_expired(&state.db).await {
                tracing::warn!("session cleanup failed: {err}");
            }
            if let Err(err) = crate::auth::lockout::purge_stale(&state.db).await {
                tracing::warn!("login-attempt cleanup failed: {err}");
            }
        }
    });
}

pub struct RunningApp {
    pub addr: SocketAddr,
    pub state: Arc<AppState>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl RunningApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Stops accepting, lets in-flight requests finish, and waits for the server.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.server).await??;
        crate::cli_token::withdraw(&self.state.paths);
        Ok(())
    }

    /// Serves until the process receives SIGINT or SIGTERM, then shuts down cleanly.
    pub async fn serve_until_signal(self) -> anyhow::Result<()> {
        shutdown_signal().await;
        tracing::info!("shutting down");
        self.shutdown().await
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
