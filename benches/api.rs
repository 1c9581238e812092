//! API benchmark (`cargo bench --bench api`): the release `dango` binary on a fresh project:
//!   - server start to first 200 on /api/status (median of 5 starts),
//!   - idle RSS after start and RSS after the load,
//!   - `GET /api/status` (public, touches no database) over 4 connections for 5 s: the
//!     floor every other route stands on,
//!   - authenticated `GET /api/auth/me` with an API key over 4 keep-alive loopback
//!     connections for 10 s: p50 / p99 latency and requests per second,
//!   - `GET /api/sources` (what dashboards and scripts poll) with 20 synced sources of
//!     5,000 rows each (100,000 rows): sequential p50, then 4 connections for 10 s,
//!   - uploads through `POST /api/sources/{name}/upload-csv`: a 6 MB and a 60 MB CSV,
//!     median of 5 each, in MB/s.
#![allow(clippy::disallowed_methods)] // benches are synchronous programs that may sleep

mod support;

use std::time::{Duration, Instant};

use support::load::{get_request, hammer, report};
use support::{Server, fresh_project, memory_mb, percentile};

fn main() {
    let (_dir, project) = fresh_project();

    let mut starts: Vec<Duration> = (0..5)
        .map(|_| Server::start(&project).ready_after)
        .collect();
    starts.sort();

    let server = Server::start(&project);
    std::thread::sleep(Duration::from_secs(2));
    let (idle_rss, _) = memory_mb(server.pid());

    let key = {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(server.api_key())
    };
    let address = server.url.trim_start_matches("http://").to_string();
    // The floor: a public route that touches neither database.
    let status = format!("GET /api/status HTTP/1.1\r\nHost: {address}\r\n\r\n");
    let (status_latencies, status_elapsed) = hammer(&address, &status, 4, Duration::from_secs(5));
    let me = get_request(&address, "/api/auth/me", &key);
    let (me_latencies, me_elapsed) = hammer(&address, &me, 4, Duration::from_secs(10));
    let (loaded_rss, _) = memory_mb(server.pid());

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(twenty_synced_sources(&server, &project, &key));
    let sources = get_request(&address, "/api/sources", &key);
    let (sequential, _) = hammer(&address, &sources, 1, Duration::from_secs(5));
    let (sources_latencies, sources_elapsed) =
        hammer(&address, &sources, 4, Duration::from_secs(10));
    let uploads = runtime.block_on(upload_rates(&server, &project, &key));
    drop(server);

    println!(
        "start to first 200: median {:?} (min {:?}, max {:?}) over 5 starts",
        starts[2], starts[0], starts[4]
    );
    println!("idle RSS after start: {idle_rss:.1} MB; after load: {loaded_rss:.1} MB");
    report(
        "GET /api/status (no credentials, 4 connections)",
        status_latencies,
        status_elapsed,
    );
    report(
        "GET /api/auth/me (API key, 4 connections)",
        me_latencies,
        me_elapsed,
    );
    let mut sequential = sequential;
    sequential.sort();
    println!(
        "GET /api/sources, 20 sources / 100k rows, sequential: p50 {:?}, p99 {:?}",
        percentile(&sequential, 0.5),
        percentile(&sequential, 0.99)
    );
    report(
        "GET /api/sources, 20 sources / 100k rows, 4 connections",
        sources_latencies,
        sources_elapsed,
    );
    for (label, mut seconds) in uploads {
        seconds.sort_by(f64::total_cmp);
        let median = seconds[seconds.len() / 2];
        println!(
            "upload {label}: median {median:.3} s over {} uploads",
            seconds.len()
        );
    }
}

fn csv(rows: usize) -> Vec<u8> {
    let mut out = String::from("id,email,amount,created_at\n");
    for i in 0..rows {
        out.push_str(&format!(
            "{i},customer{i}@example.com,{}.{:02},2026-{:02}-{:02} 10:00:00\n",
            i % 5000,
            i % 100,
            i % 12 + 1,
            i % 28 + 1
        ));
    }
    out.into_bytes()
}

async fn upload(
    client: &reqwest::Client,
    url: &str,
    source: &str,
    name: &str,
    bytes: Vec<u8>,
    sync: bool,
) -> serde_json::Value {
    let part = reqwest::multipart::Part::bytes(bytes).file_name(name.to_string());
    let response = client
        .post(format!(
            "{url}/api/sources/{source}/upload-csv?trigger_sync={sync}"
        ))
        .multipart(reqwest::multipart::Form::new().part("file", part))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

fn bearer(key: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("Authorization", format!("Bearer {key}").parse().unwrap());
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .unwrap()
}

/// Declares 20 csv sources, uploads 5,000 rows to each and waits for every sync.
async fn twenty_synced_sources(server: &Server, project: &std::path::Path, key: &str) {
    let mut yaml = String::from("version: \"1.0\"\nsources:\n");
    for i in 0..20 {
        yaml.push_str(&format!(
            "  - name: source_{i:02}\n    type: csv\n    csv: {{directory: data/uploads/source_{i:02}}}\n"
        ));
    }
    std::fs::write(project.join(".dango/sources.yml"), yaml).unwrap();
    let client = bearer(key);
    let data = csv(5000);
    for i in 0..20 {
        let answer = upload(
            &client,
            &server.url,
            &format!("source_{i:02}"),
            "rows.csv",
            data.clone(),
            true,
        )
        .await;
        let run = answer["run_id"].as_str().unwrap().to_string();
        loop {
            let status: serde_json::Value = client
                .get(format!("{}/api/sync/status/{run}", server.url))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            match status["status"].as_str() {
                Some("success") => break,
                Some("failed") => panic!("sync failed: {status}"),
                _ => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }
}

/// Seconds per upload of a 6 MB and a 60 MB CSV (no sync), five of each.
async fn upload_rates(
    server: &Server,
    project: &std::path::Path,
    key: &str,
) -> Vec<(String, Vec<f64>)> {
    let _ = project;
    let client = bearer(key);
    let mut results = Vec::new();
    for rows in [100_000usize, 1_000_000] {
        let data = csv(rows);
        let megabytes = data.len() as f64 / 1e6;
        let mut seconds = Vec::new();
        for attempt in 0..5 {
            let began = Instant::now();
            upload(
                &client,
                &server.url,
                "source_00",
                &format!("big-{rows}-{attempt}.csv"),
                data.clone(),
                false,
            )
            .await;
            seconds.push(began.elapsed().as_secs_f64());
        }
        let median = {
            let mut s = seconds.clone();
            s.sort_by(f64::total_cmp);
            s[s.len() / 2]
        };
        results.push((
            format!("{megabytes:.1} MB ({:.0} MB/s)", megabytes / median),
            seconds,
        ));
    }
    results
}
