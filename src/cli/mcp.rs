//! `dango mcp`: the MCP server on stdio for agent tools on this machine (the stdio
//! transport: one JSON-RPC message per line in, one per line out). Messages go to the
//! running server's `/mcp` with the local CLI token; without a running server the
//! platform is started in this process on a loopback port first.

use std::time::Duration;

use anyhow::Context;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::config::ProjectPaths;

pub async fn run(root: std::path::PathBuf) -> anyhow::Result<()> {
    let paths = ProjectPaths::new(&root);
    crate::app::install_crypto_provider();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()?;
    // A server already running answers; otherwise this process becomes one.
    let mut own_server = None;
    let info = match reachable(&client, crate::cli_token::read(&paths)).await {
        Some(info) => info,
        None => {
            let app = crate::App::open(&root).await?;
            own_server = Some(app.bind("127.0.0.1:0").await?);
            crate::cli_token::read(&paths).context("the started server left no CLI token")?
        }
    };
    eprintln!("dango mcp: serving {} on stdio", info.url);
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut stdout = tokio::io::stdout();
    while let Some(line) = lines.next_line().await? {
        if line.trim().is_empty() {
            continue;
        }
        let response = client
            .post(format!("{}/mcp", info.url))
            .bearer_auth(&info.token)
            .header("Content-Type", "application/json")
            .body(line)
            .send()
            .await
            .context("reaching the server")?;
        let text = response.text().await?;
        // Notifications are answered with an empty 202: nothing to write.
        if !text.trim().is_empty() {
            stdout.write_all(text.trim().as_bytes()).await?;
            stdout.write_all(b"\n").await?;
            stdout.flush().await?;
        }
    }
    if let Some(server) = own_server {
        server.shutdown().await?;
    }
    Ok(())
}

/// The published server, if it answers.
async fn reachable(
    client: &reqwest::Client,
    info: Option<crate::cli_token::ServerInfo>,
) -> Option<crate::cli_token::ServerInfo> {
    let info = info?;
    let status = client
        .get(format!("{}/api/status", info.url))
        .timeout(Duration::from_secs(2))
        .send()
        .await
        .ok()?;
    status.status().is_success().then_some(info)
}
