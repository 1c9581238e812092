//! `dango start`: open (or create) the project and serve until SIGINT/SIGTERM.

use std::net::IpAddr;
use std::path::PathBuf;

use anyhow::bail;

use crate::App;
use crate::config::{ProjectConfig, ProjectPaths};

fn is_loopback_host(host: &str) -> bool {
    host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

pub async fn start(root: PathBuf, host: Option<String>, port: Option<u16>) -> anyhow::Result<()> {
    let paths = ProjectPaths::new(&root);
    if !paths.is_project() {
        println!("No project in {}; creating one.", root.display());
        let report = crate::project::init(&root, None, false).await?;
        super::print_admin(report.admin.as_ref());
    }
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
    let admin = crate::project::ensure_first_admin(&app.state().db).await?;
    super::print_admin(admin.as_ref());
    let running = app.bind(&format!("{host}:{port}")).await?;
    println!(
        "Dango is running at http://{}  (API docs: /api/docs)",
        running.addr
    );
    if !config.auth.enabled {
        println!("Authentication is disabled: every request acts as a local admin.");
    }
    running.serve_until_signal().await
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
