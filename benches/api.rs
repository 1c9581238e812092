//! API benchmark (run with `cargo bench --bench api`): spawns the release `dango` binary on
//! a fresh project and reports
//!   - server start to first 200 on /api/status (median of 5 starts),
//!   - idle RSS after start and after the load,
//!   - authenticated `GET /api/auth/me` with an API key over 4 keep-alive loopback
//!     connections for 10 s: p50 / p99 latency and requests per second.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PASSWORD: &str = "Bench-Admin-Password-1";

fn dango(project: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_dango"));
    command
        .arg("--project")
        .arg(project)
        .env("DANGO_ADMIN_EMAIL", "bench@example.com")
        .env("DANGO_ADMIN_PASSWORD", PASSWORD)
        .env("DANGO_LOG", "warn");
    command
}

/// Starts the server; returns it, its URL and the time until the first 200.
fn start(project: &Path) -> (Child, String, Duration) {
    let began = Instant::now();
    let mut child = dango(project)
        .args(["start", "--port", "0"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn dango");
    let stdout = child.stdout.take().expect("stdout");
    let mut url = None;
    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
        if let Some(rest) = line.strip_prefix("Dango is running at ") {
            url = rest.split_whitespace().next().map(str::to_string);
            break;
        }
    }
    let url = url.expect("server address");
    let status_url = format!("{url}/api/status");
    loop {
        if let Ok(response) = ureq_get(&status_url)
            && response == 200
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    (child, url, began.elapsed())
}

/// A minimal blocking GET over std's TcpStream (keeps the start measurement free of client setup).
fn ureq_get(url: &str) -> std::io::Result<u16> {
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
    let code = std::str::from_utf8(&head[9..12])
        .unwrap_or("0")
        .parse()
        .unwrap_or(0);
    Ok(code)
}

fn rss_mb(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|v| v.parse::<f64>().ok())
            })
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

fn stop(mut child: Child) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let _ = child.wait();
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    rustls::crypto::ring::default_provider()
        .install_default()
        .ok();
    let dir = tempfile::tempdir().expect("tempdir");
    let project = dir.path().join("bench");
    let init = dango(&project).arg("init").output().expect("init");
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );

    let mut starts = vec![];
    for _ in 0..5 {
        let (child, _, elapsed) = start(&project);
        starts.push(elapsed);
        stop(child);
    }
    starts.sort();

    let (child, url, _) = start(&project);
    std::thread::sleep(Duration::from_secs(2));
    let idle_rss = rss_mb(child.id());

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (latencies, elapsed) = runtime.block_on(async {
        let login = reqwest::Client::builder()
            .cookie_store(true)
            .build()
            .unwrap();
        let response = login
            .post(format!("{url}/api/auth/login"))
            .json(&serde_json::json!({"email": "bench@example.com", "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success());
        let key: serde_json::Value = login
            .post(format!("{url}/api/auth/api-keys"))
            .header("X-Requested-With", "bench")
            .json(&serde_json::json!({"name": "bench"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let key = key["key"].as_str().unwrap().to_string();

        let me = format!("{url}/api/auth/me");
        let duration = Duration::from_secs(10);
        let began = Instant::now();
        let mut tasks = vec![];
        for _ in 0..4 {
            let (me, key) = (me.clone(), key.clone());
            tasks.push(tokio::spawn(async move {
                let client = reqwest::Client::builder()
                    .pool_max_idle_per_host(1)
                    .build()
                    .unwrap();
                let mut latencies = Vec::with_capacity(100_000);
                while began.elapsed() < duration {
                    let t = Instant::now();
                    let response = client.get(&me).bearer_auth(&key).send().await.unwrap();
                    assert_eq!(response.status(), 200);
                    response.bytes().await.unwrap();
                    latencies.push(t.elapsed());
                }
                latencies
            }));
        }
        let mut all = vec![];
        for task in tasks {
            all.extend(task.await.unwrap());
        }
        (all, began.elapsed())
    });
    let loaded_rss = rss_mb(child.id());
    stop(child);

    let mut sorted = latencies;
    sorted.sort();
    println!(
        "start to first 200: median {:?} (min {:?}, max {:?}) over 5 starts",
        starts[2], starts[0], starts[4]
    );
    println!("idle RSS after start: {idle_rss:.1} MB; after load: {loaded_rss:.1} MB");
    println!(
        "GET /api/auth/me (API key, 4 connections, {:.0} s): {} requests, {:.0} req/s, p50 {:?}, p99 {:?}",
        elapsed.as_secs_f64(),
        sorted.len(),
        sorted.len() as f64 / elapsed.as_secs_f64(),
        percentile(&sorted, 0.5),
        percentile(&sorted, 0.99)
    );
}
