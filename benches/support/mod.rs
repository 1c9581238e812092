//! Shared by the benchmarks: a release `dango` server on a fresh project.

#![allow(dead_code)]

pub mod load;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

pub const EMAIL: &str = "bench@example.com";
pub const PASSWORD: &str = "Quartz-Lantern-Pass-48";

/// The release `dango` built with the bench, or `DANGO_BENCH_BIN` (another build, such
/// as an earlier commit's, measured by the same bench).
pub fn binary() -> PathBuf {
    std::env::var_os("DANGO_BENCH_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_dango")))
}

#[path = "../../tests/integration/process.rs"]
mod process;

pub fn dango(project: &Path) -> Command {
    let mut command = process::dango_at(&binary(), project);
    command
        .env("DANGO_ADMIN_EMAIL", EMAIL)
        .env("DANGO_ADMIN_PASSWORD", PASSWORD)
        .env(
            "DANGO_LOG",
            std::env::var("DANGO_LOG").unwrap_or_else(|_| "warn".into()),
        );
    command
}

pub fn init(project: &Path) {
    let init = dango(project).arg("init").output().expect("init");
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
}

/// A new project in a temporary folder (removed with the returned guard), with ring as
/// the TLS provider the benches' HTTP clients need.
pub fn fresh_project() -> (tempfile::TempDir, PathBuf) {
    rustls::crypto::ring::default_provider()
        .install_default()
        .ok();
    let dir = tempfile::tempdir().expect("tempdir");
    let project = dir.path().join("bench");
    init(&project);
    (dir, project)
}

/// A running server, killed when dropped.
pub struct Server {
    pub process: process::Server,
    pub url: String,
    /// From spawning the process to the first 200 on /api/status.
    pub ready_after: Duration,
}

impl Server {
    pub fn start(project: &Path) -> Server {
        let began = Instant::now();
        let (process, url) = process::start_server(dango(project).args(["start", "--port", "0"]));
        let status_url = format!("{url}/api/status");
        while raw_get(&status_url).ok() != Some(200) {
            std::thread::sleep(Duration::from_millis(1));
        }
        Server {
            process,
            url,
            ready_after: began.elapsed(),
        }
    }

    pub fn pid(&self) -> u32 {
        self.process.0.id()
    }

    /// Logs in and creates an API key.
    pub async fn api_key(&self) -> String {
        let login = reqwest::Client::builder()
            .cookie_store(true)
            .build()
            .unwrap();
        let response = login
            .post(format!("{}/api/auth/login", self.url))
            .json(&serde_json::json!({"email": EMAIL, "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success());
        let key: serde_json::Value = login
            .post(format!("{}/api/auth/api-keys", self.url))
            .header("X-Requested-With", "bench")
            .json(&serde_json::json!({"name": "bench"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        key["key"].as_str().unwrap().to_string()
    }
}

/// A minimal blocking GET over std's TcpStream (no client setup in the measurement).
pub fn raw_get(url: &str) -> std::io::Result<u16> {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").unwrap_or(url);
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let mut stream = std::net::TcpStream::connect(host)?;
    write!(
        stream,
        "GET /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head)?;
    Ok(std::str::from_utf8(&head[9..12])
        .unwrap_or("0")
        .parse()
        .unwrap_or(0))
}

/// `VmRSS` (current) and `VmHWM` (peak) of a process, in MB.
pub fn memory_mb(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|v| v.parse::<f64>().ok())
            })
            .map(|kb| kb / 1024.0)
            .unwrap_or(0.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}
