//! Sync benchmark (`cargo bench --bench sync`), the release `dango` binary on a fresh project:
//!   - upload + sync of a 1,000,000-row CSV (id, email, amount decimal, created_at
//!     timestamp, country; ~62 MB) end to end, through the HTTP API, followed on the
//!     WebSocket: until the rows are committed, and until the chained dbt build ends,
//!   - the load step (the source's sync duration) against a bare DuckDB
//!     `CREATE TABLE AS SELECT * FROM read_csv(...)` of the same file in the same run,
//!   - an incremental sync adding a 1,000-row file (upload + sync),
//!   - peak RSS of the server during the run.
#![allow(clippy::disallowed_methods)] // benches are synchronous programs that may sleep

mod support;

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{Server, fresh_project, memory_mb};

fn write_csv(path: &Path, first_id: usize, rows: usize) {
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path).unwrap());
    writeln!(out, "id,email,amount,created_at,country").unwrap();
    const COUNTRIES: [&str; 8] = ["DE", "FR", "NL", "ES", "IT", "GB", "US", "PL"];
    for i in first_id..first_id + rows {
        writeln!(
            out,
            "{i},customer{i}@example.com,{}.{:02},2026-{:02}-{:02} {:02}:{:02}:{:02},{}",
            i % 5000,
            i % 100,
            i % 12 + 1,
            i % 28 + 1,
            i % 24,
            i % 60,
            (i * 7) % 60,
            COUNTRIES[i % COUNTRIES.len()]
        )
        .unwrap();
    }
    out.flush().unwrap();
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The live event stream, as a client of the product listens to it.
async fn events(url: &str, key: &str) -> Socket {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = format!("{}/ws", url.replace("http://", "ws://"))
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("Authorization", format!("Bearer {key}").parse().unwrap());
    tokio_tungstenite::connect_async(request).await.unwrap().0
}

async fn next_event(socket: &mut Socket, run: &str, kinds: &[&str]) -> Value {
    use futures::StreamExt;
    loop {
        let message = socket.next().await.expect("event stream open").unwrap();
        let Ok(text) = message.to_text() else {
            continue;
        };
        let event: Value = serde_json::from_str(text).unwrap_or_default();
        if event["run_id"] == run && kinds.contains(&event["type"].as_str().unwrap_or_default()) {
            return event;
        }
    }
}

/// Uploads `file` with `trigger_sync` and follows the run on the WebSocket (no polling,
/// which would take CPU from the load): the time until `sync_completed` (rows committed
/// and queryable) and until the whole run ends (staging models and downstream built).
async fn upload_and_sync(
    client: &reqwest::Client,
    socket: &mut Socket,
    url: &str,
    key: &str,
    file: &Path,
) -> (Duration, Duration, Value) {
    let bytes = std::fs::read(file).unwrap();
    let name = file.file_name().unwrap().to_string_lossy().into_owned();
    let began = Instant::now();
    let part = reqwest::multipart::Part::bytes(bytes).file_name(name);
    let form = reqwest::multipart::Form::new().part("file", part);
    let uploaded: Value = client
        .post(format!(
            "{url}/api/sources/sales/upload-csv?trigger_sync=true"
        ))
        .bearer_auth(key)
        .multipart(form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let run = uploaded["run_id"]
        .as_str()
        .expect("run started")
        .to_string();
    let synced = next_event(socket, &run, &["sync_completed", "sync_failed"]).await;
    assert_eq!(synced["type"], "sync_completed", "{synced}");
    let loaded = began.elapsed();
    loop {
        let status: Value = client
            .get(format!("{url}/api/sync/status/{run}"))
            .bearer_auth(key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if matches!(status["status"].as_str(), Some("success" | "failed")) {
            assert_eq!(status["status"], "success", "{status}");
            return (loaded, began.elapsed(), status);
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// The bare DuckDB load of the same file, same library, same settings.
fn bare_ctas(file: &Path, scratch: &Path) -> Duration {
    let conn = dango::warehouse::open_file(&scratch.join("bare.duckdb")).unwrap();
    let began = Instant::now();
    conn.execute_batch(&format!(
        "CREATE TABLE t AS SELECT * FROM read_csv('{}')",
        file.display()
    ))
    .unwrap();
    began.elapsed()
}

fn main() {
    let (dir, project) = fresh_project();
    std::fs::write(
        project.join(".dango/sources.yml"),
        "version: \"1.0\"\nsources:\n  - name: sales\n    type: csv\n    csv: {directory: data/uploads/sales}\n",
    )
    .unwrap();
    let big = dir.path().join("orders_1m.csv");
    write_csv(&big, 0, 1_000_000);
    let small = dir.path().join("orders_more.csv");
    write_csv(&small, 1_000_000, 1_000);
    let size_mb = std::fs::metadata(&big).unwrap().len() as f64 / 1_048_576.0;

    let server = Server::start(&project);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (full, full_status, incremental, incremental_status) = runtime.block_on(async {
        let key = server.api_key().await;
        let client = reqwest::Client::new();
        let mut socket = events(&server.url, &key).await;
        let full = upload_and_sync(&client, &mut socket, &server.url, &key, &big).await;
        let incremental = upload_and_sync(&client, &mut socket, &server.url, &key, &small).await;
        (
            (full.0, full.1),
            full.2,
            (incremental.0, incremental.1),
            incremental.2,
        )
    });
    let (_, peak_rss) = memory_mb(server.pid());
    drop(server);

    let scratch = tempfile::tempdir().unwrap();
    let bare = bare_ctas(&big, scratch.path());
    let load = full_status["results"][0]["duration_seconds"]
        .as_f64()
        .unwrap_or(0.0);
    println!(
        "1,000,000-row CSV ({size_mb:.1} MB): upload + sync end to end {:?} (rows committed); \
         {:?} with the staging model and its tests built; rows {}",
        full.0, full.1, full_status["rows_processed"]
    );
    println!(
        "load step {:.3} s vs bare DuckDB CTAS {:.3} s: ratio {:.2}",
        load,
        bare.as_secs_f64(),
        load / bare.as_secs_f64()
    );
    println!(
        "incremental 1,000-row file: upload + sync {:?} (rows committed); {:?} with models built; \
         rows {}, load step {:.3} s",
        incremental.0,
        incremental.1,
        incremental_status["rows_processed"],
        incremental_status["results"][0]["duration_seconds"]
            .as_f64()
            .unwrap_or(0.0)
    );
    println!("server peak RSS (VmHWM) over the run: {peak_rss:.1} MB");
}
