//! Runs started through the running server: when the server holds the warehouse, the CLI
//! asks it (with the local CLI token) and follows the run until it ends.

use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::Value;

use crate::cli_token::ServerInfo;
use crate::config::ProjectPaths;

pub struct RunningServer {
    client: reqwest::Client,
    info: ServerInfo,
}

impl RunningServer {
    /// Reads the server's address and token; `what` completes "Asking the running server to …".
    pub fn connect(paths: &ProjectPaths, what: &str) -> anyhow::Result<Self> {
        let info = crate::cli_token::read(paths)
            .context("the warehouse is in use, but the running server left no address in .dango/state/server.json")?;
        eprintln!("Asking the running server ({}) to {what}…", info.url);
        crate::app::install_crypto_provider();
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()?;
        Ok(Self { client, info })
    }

    /// POSTs `body` to `path` and returns the run id it started; `refused` is the error
    /// when the server gives no reason.
    pub async fn start(&self, path: &str, body: &Value, refused: &str) -> anyhow::Result<String> {
        let response: Value = self
            .client
            .post(format!("{}{path}", self.info.url))
            .bearer_auth(&self.info.token)
            .json(body)
            .send()
            .await
            .context("reaching the server")?
            .json()
            .await?;
        match response["run_id"].as_str() {
            Some(run_id) => Ok(run_id.to_string()),
            None => bail!("{}", response["detail"].as_str().unwrap_or(refused)),
        }
    }

    /// GETs `path`; an error status becomes the error, with the server's message.
    pub async fn get_json(&self, path: &str) -> anyhow::Result<Value> {
        let request = self.client.get(format!("{}{path}", self.info.url));
        answer(request.bearer_auth(&self.info.token)).await
    }

    /// POSTs `body` to `path`; an error status becomes the error, with the server's message.
    pub async fn post_json(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        let request = self.client.post(format!("{}{path}", self.info.url));
        answer(request.bearer_auth(&self.info.token).json(body)).await
    }

    /// Polls the run's status until it ends (success, failed or cancelled) and returns it;
    /// `progress` sees every status before that.
    pub async fn wait(
        &self,
        run_id: &str,
        mut progress: impl FnMut(&Value),
    ) -> anyhow::Result<Value> {
        loop {
            let status: Value = self
                .client
                .get(format!("{}/api/sync/status/{run_id}", self.info.url))
                .bearer_auth(&self.info.token)
                .send()
                .await?
                .json()
                .await?;
            if matches!(
                status["status"].as_str(),
                Some("success" | "failed" | "cancelled" | "timeout")
            ) {
                return Ok(status);
            }
            progress(&status);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

async fn answer(request: reqwest::RequestBuilder) -> anyhow::Result<Value> {
    let response = request.send().await.context("reaching the server")?;
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        bail!(
            "{}",
            body["detail"]
                .as_str()
                .map_or_else(|| format!("the server answered {status}"), str::to_string)
        );
    }
    Ok(body)
}
