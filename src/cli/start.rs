//! `dango start`: open (or create) the project and serve until SIGINT/SIGTERM.

use std::net::IpAddr;
use std::path::PathBuf;

use anyhow::bail;

use crate::App;
use crate::config::{ProjectConfig, ProjectPaths};

fn is_loopback_host(host: &str) -> bool {
    host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

pub async fn start(
    root: PathBuf,
    host: Option<String>,
    port: Option<u16>,
    demo: bool,
) -> anyhow::Result<()> {
    let paths = ProjectPaths::new(&root);
    if !paths.is_project() {
        println!(
            "No project in {}; creating {}.",
            root.display(),
            if demo { "the demo project" } else { "one" }
        );
        let name = demo.then_some("Dango Demo");
        let report = crate::project::init(&root, name, false).await?;
        if demo {
            crate::project::demo::populate(&report.root)?;
        }
        super::print_admin(report.admin.as_ref());
    }
    let paths = ProjectPaths::new(&root);
    let config = ProjectConfig::load(&paths.project_yml())?;
    let host = host.unwrap_or_else(|| config.platform.host.clone());
    let port = port.unwrap_or(config.platform.port);
    if !config.auth.enabled && !is_loopback_host(&host) {
        bail!(
            "refusing to listen on {host} with authentication disabled (auth.enabled: false); \
             enable auth or listen on 127.0.0.1"
        );
    }
    let app = App::open(&root).await?;
    if let Some(deployment) = crate::project::deployments::record_if_changed(&paths) {
        tracing::info!("deployment recorded: {}", deployment.changed.join(", "));
    }
    let admin = crate::project::ensure_first_admin(&app.state().db).await?;
    super::print_admin(admin.as_ref());
    let running = app.bind(&format!("{host}:{port}")).await?;
    println!(
        "Dango is running at http://{}  (API docs: /api/docs)",
        running.addr
    );
    tracing::info!(
        "client addresses: {}",
        crate::client_address::describe_setup(&config.auth.rate_limit)
    );
    if demo {
        sync_demo_once(&running.state).await;
    }
    if !config.auth.enabled {
        println!("Authentication is disabled: every request acts as a local admin.");
    }
    running.serve_until_signal().await
}

/// On the demo's first start, sync every source so there is data to look at.
async fn sync_demo_once(state: &crate::state::AppState) {
    use crate::jobs::{Requester, RunDeps, RunRequest, SyncRequest};
    use crate::runs::Trigger;
    let Ok(config) = crate::sources::load(&state.paths) else {
        return;
    };
    let mut never_synced = Vec::new();
    for source in config.sources.iter().filter(|s| s.enabled) {
        if crate::sources::history::latest(&state.db, &source.name, 1)
            .await
            .map(|h| h.is_empty())
            .unwrap_or(false)
        {
            never_synced.push(source.name.clone());
        }
    }
    if never_synced.is_empty() {
        return;
    }
    let request = RunRequest::Sync(SyncRequest {
        sources: never_synced.clone(),
        ..Default::default()
    });
    let requester = Requester::system(Trigger::Cli, Some("demo"));
    match crate::jobs::start(RunDeps::of(state), request, &requester).await {
        Ok(_) => println!("Loading the demo data ({})…", never_synced.join(", ")),
        Err(err) => eprintln!("could not start the demo sync: {}", err.message),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn loopback_hosts() {
        assert!(super::is_loopback_host("127.0.0.1"));
        assert!(super::is_loopback_host("::1"));
        assert!(super::is_loopback_host("localhost"));
        assert!(!super::is_loopback_host("0.0.0.0"));
        assert!(!super::is_loopback_host("192.168.1.2"));
    }
}
