//! Query and profiling benchmark (`cargo bench --bench query`): the release `dango`
//! binary on a project whose warehouse holds a 10,000-row, 8-column table and a
//! 1,000,000-row, 5-column table:
//!   - `POST /api/query` `SELECT 1` against `GET /api/auth/me` in the same run, one
//!     keep-alive connection each for 5 s (p50, p99, and the ratio of the p50s), then
//!     4 connections,
//!   - the 10,000 × 8 result as JSON, sequential p50,
//!   - a CSV download of the 1,000,000 rows (median of 3, rows per second),
//!   - `POST /api/catalog/marts/million/profile` (median of 3),
//!   - `GET /api/catalog/search` over a manifest of 1,000 models with 20 columns each
//!     (an exact name, a column, a typo), sequential p50 each.
#![allow(clippy::disallowed_methods)] // benches are synchronous programs that may sleep

mod support;

use std::time::{Duration, Instant};

use support::load::{get_request, hammer, post_json_request, report};
use support::{Server, fresh_project, percentile};

fn main() {
    let (_dir, project) = fresh_project();
    let warehouse = dango::config::ProjectPaths::new(&project).warehouse();
    let conn = duckdb::Connection::open(&warehouse).unwrap();
    conn.execute_batch(
        "CREATE SCHEMA IF NOT EXISTS marts;
         CREATE TABLE marts.wide AS SELECT range AS id, range * 7 AS big,
           range / 3.0 AS ratio, (range * 1.25)::DECIMAL(12, 2) AS amount,
           'customer-' || range AS name, DATE '2024-01-01' + (range % 365)::INT AS day,
           TIMESTAMP '2024-01-01' + INTERVAL (range) SECOND AS at, range % 2 = 0 AS even
           FROM range(10000);
         CREATE TABLE marts.million AS SELECT range AS id, (range % 1000)::INT AS bucket,
           random() * 100 AS amount, 'name-' || (range % 50000) AS name,
           DATE '2020-01-01' + (range % 2000)::INT AS day FROM range(1000000);",
    )
    .unwrap();
    drop(conn);
    write_search_manifest(&project.join("dbt/target"));

    let server = Server::start(&project);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let key = runtime.block_on(server.api_key());
    let address = server.url.trim_start_matches("http://").to_string();
    let me = get_request(&address, "/api/auth/me", &key);
    let select_one = post_json_request(&address, "/api/query", &key, r#"{"sql":"SELECT 1"}"#);
    let wide = post_json_request(
        &address,
        "/api/query",
        &key,
        r#"{"sql":"SELECT * FROM marts.wide"}"#,
    );
    // Warm both paths, then measure them back to back.
    hammer(&address, &me, 1, Duration::from_secs(1));
    hammer(&address, &select_one, 1, Duration::from_secs(1));
    let (me_sequential, _) = hammer(&address, &me, 1, Duration::from_secs(5));
    let (one_sequential, _) = hammer(&address, &select_one, 1, Duration::from_secs(5));
    let (me_parallel, me_elapsed) = hammer(&address, &me, 4, Duration::from_secs(5));
    let (one_parallel, one_elapsed) = hammer(&address, &select_one, 4, Duration::from_secs(5));
    let (wide_sequential, _) = hammer(&address, &wide, 1, Duration::from_secs(5));

    let searches: Vec<(&str, Vec<Duration>)> = ["model_0500", "metric_07", "custmer_segment"]
        .into_iter()
        .map(|q| {
            let request = get_request(&address, &format!("/api/catalog/search?q={q}"), &key);
            (q, hammer(&address, &request, 1, Duration::from_secs(3)).0)
        })
        .collect();

    let client = reqwest::Client::new();
    let exports: Vec<(f64, usize)> = (0..3)
        .map(|_| runtime.block_on(export_csv(&client, &server.url, &key)))
        .collect();
    let profiles: Vec<(f64, u64)> = (0..3)
        .map(|_| runtime.block_on(profile(&client, &server.url, &key)))
        .collect();
    drop(server);

    let p50 = |mut latencies: Vec<Duration>| {
        latencies.sort();
        (percentile(&latencies, 0.5), percentile(&latencies, 0.99))
    };
    let (me_p50, me_p99) = p50(me_sequential);
    let (one_p50, one_p99) = p50(one_sequential);
    println!("GET /api/auth/me, 1 connection: p50 {me_p50:?}, p99 {me_p99:?}");
    println!("POST /api/query SELECT 1, 1 connection: p50 {one_p50:?}, p99 {one_p99:?}");
    println!(
        "SELECT 1 p50 / auth/me p50: {:.2}",
        one_p50.as_secs_f64() / me_p50.as_secs_f64()
    );
    report("GET /api/auth/me, 4 connections", me_parallel, me_elapsed);
    report(
        "POST /api/query SELECT 1, 4 connections",
        one_parallel,
        one_elapsed,
    );
    let (wide_p50, wide_p99) = p50(wide_sequential);
    println!("POST /api/query 10,000 x 8 as JSON: p50 {wide_p50:?}, p99 {wide_p99:?}");
    let mut exports = exports;
    exports.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (seconds, rows) = exports[1];
    println!(
        "CSV download of {rows} rows: median {seconds:.3} s, {:.0} rows/s",
        rows as f64 / seconds
    );
    for (q, latencies) in searches {
        let (p50, p99) = p50(latencies);
        println!(
            "GET /api/catalog/search?q={q}, 1,000 models x 20 columns: p50 {p50:?}, p99 {p99:?}"
        );
    }
    let mut profiles = profiles;
    profiles.sort_by(|a, b| a.0.total_cmp(&b.0));
    println!(
        "profile 1,000,000 x 5: median {:.3} s over HTTP ({} ms inside the server)",
        profiles[1].0, profiles[1].1
    );
}

/// Downloads all of `marts.million` as CSV: seconds and data rows.
async fn export_csv(client: &reqwest::Client, url: &str, key: &str) -> (f64, usize) {
    let began = Instant::now();
    let body = client
        .post(format!("{url}/api/query"))
        .bearer_auth(key)
        .header("Accept", "text/csv")
        .json(&serde_json::json!({"sql": "SELECT * FROM marts.million"}))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let seconds = began.elapsed().as_secs_f64();
    let rows = body.iter().filter(|b| **b == b'\n').count() - 1;
    (seconds, rows)
}

/// Profiles `marts.million` afresh: seconds over HTTP and the server's own timing.
async fn profile(client: &reqwest::Client, url: &str, key: &str) -> (f64, u64) {
    let began = Instant::now();
    let answer: serde_json::Value = client
        .post(format!("{url}/api/catalog/marts/million/profile"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let seconds = began.elapsed().as_secs_f64();
    assert_eq!(answer["row_count"], 1_000_000, "{answer}");
    (
        seconds,
        answer["profile_duration_ms"].as_u64().unwrap_or_default(),
    )
}

/// A manifest of 1,000 models with 20 documented columns each, for the search.
fn write_search_manifest(target: &std::path::Path) {
    let mut nodes = serde_json::Map::new();
    for i in 0..1000 {
        let columns: serde_json::Map<String, serde_json::Value> = (0..20)
            .map(|j| {
                let name = match j {
                    0 => "id".to_string(),
                    1 => "customer_segment".to_string(),
                    _ => format!("metric_{j:02}_{i}"),
                };
                (
                    name,
                    serde_json::json!({"description": format!("Measure {j} of model {i}")}),
                )
            })
            .collect();
        nodes.insert(
            format!("model.bench.model_{i:04}"),
            serde_json::json!({
                "unique_id": format!("model.bench.model_{i:04}"),
                "name": format!("model_{i:04}"),
                "resource_type": "model",
                "schema": "marts",
                "description": format!("Model number {i} of the search benchmark"),
                "tags": ["bench", format!("group_{}", i % 10)],
                "columns": columns,
                "config": {"materialized": "table"},
            }),
        );
    }
    std::fs::create_dir_all(target).unwrap();
    std::fs::write(
        target.join("manifest.json"),
        serde_json::json!({"nodes": nodes, "sources": {}, "child_map": {}}).to_string(),
    )
    .unwrap();
}
