//! Assembles the server: opens the project's stores into the shared state
//! ([`crate::state`]), puts the route tree behind the request guard, and serves it with
//! `App::bind` on any listener (tests bind `127.0.0.1:0`). The only module that wires
//! the API to the rest.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use poem::listener::{Acceptor, Listener, TcpListener};
use poem::middleware::{CatchPanic, CookieJarManager};
use poem::{Endpoint, EndpointExt, Route, Server};

use crate::config::ProjectPaths;
use crate::runs::queue::JobQueue;
use crate::state::{AppState, ConfigHandle};
use crate::warehouse::Warehouse;
use crate::{api, db, web};

pub use crate::VERSION;

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
        for run in crate::runs::fail_interrupted(&db).await? {
            tracing::warn!(
                "run {} ({}) was interrupted by a restart and is marked failed",
                run.id,
                run.sources
            );
        }
        let state = Arc::new(AppState::new(
            paths,
            config,
            db,
            warehouse,
            jobs,
            http_client()?,
        ));
        Ok(App { state })
    }

    pub fn state(&self) -> &Arc<AppState> {
        &self.state
    }

    /// The whole HTTP surface behind the request guard.
    pub fn endpoint(&self) -> impl Endpoint<Output = poem::Response> + 'static {
        // MCP tool calls go to the same guarded surface (without `/mcp` itself).
        let dispatch = api::mcp::Dispatch(Arc::new(self.surface(None)));
        self.surface(Some(dispatch))
    }

    fn surface(
        &self,
        mcp: Option<api::mcp::Dispatch>,
    ) -> poem::endpoint::BoxEndpoint<'static, poem::Response> {
        let service = api::service();
        let document = api::spec::document(&service);
        let spec = Arc::new(serde_json::to_string_pretty(&document).unwrap_or_default() + "\n");
        let contract = Arc::new(api::schema::Contract::new(document));
        // The API owns `/api` and everything below it (its unknown paths answer JSON);
        // pages own the rest. Nesting the API at `/` would shadow the page at `/`.
        let mut routes = web::routes(Route::new(), &service, spec)
            .at("/ws", poem::get(api::ws::socket))
            .nest_no_strip("/api", service);
        if let Some(dispatch) = mcp {
            routes = routes.at(
                "/mcp",
                poem::post(api::mcp::post.data(dispatch))
                    .get(api::mcp::unsupported)
                    .delete(api::mcp::unsupported),
            );
        }
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
            .boxed()
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
        *state.local_url.write().unwrap_or_else(|e| e.into_inner()) = Some(loopback_url(local));
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
        crate::jobs::spawn_worker(&state);
        crate::watcher::start(state.clone());
        crate::jobs::scheduler::spawn(state.clone());
        crate::notifications::stale::spawn(crate::notifications::NotifyDeps::of(&state));
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

/// The URL a program on this machine reaches the server at (loopback when it listens on
/// every interface).
fn loopback_url(local: SocketAddr) -> String {
    let host = match local.ip() {
        std::net::IpAddr::V4(ip) if ip.is_unspecified() => std::net::Ipv4Addr::LOCALHOST.into(),
        std::net::IpAddr::V6(ip) if ip.is_unspecified() => std::net::Ipv6Addr::LOCALHOST.into(),
        ip => ip,
    };
    format!("http://{}", SocketAddr::new(host, local.port()))
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
        crate::jobs::scheduler::stop(&self.state).await;
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
