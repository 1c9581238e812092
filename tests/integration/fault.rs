//! Fault tolerance: the server is killed (SIGKILL) in the middle of a large sync.
//! After a restart the previous data is intact, the run is recorded as failed (not
//! left running), and a new sync succeeds.

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::process::{self, Server, signed_in, start_server};

const PASSWORD: &str = "Fault-Test-Password-7";

fn dango(project: &Path) -> Command {
    let mut command = process::dango(project);
    command
        .env("DANGO_ADMIN_EMAIL", "ops@example.com")
        .env("DANGO_ADMIN_PASSWORD", PASSWORD);
    command
}

fn start(project: &Path) -> (Server, String) {
    start_server(dango(project).args(["start", "--port", "0"]))
}

async fn login(url: &str) -> reqwest::Client {
    signed_in(url, "ops@example.com", PASSWORD).await
}

async fn get(client: &reqwest::Client, url: &str) -> Value {
    client.get(url).send().await.unwrap().json().await.unwrap()
}

async fn sync(client: &reqwest::Client, url: &str) -> String {
    let started: Value = client
        .post(format!("{url}/api/sources/big/sync"))
        .json(&json!({}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    started["record_id"]
        .as_str()
        .expect("record id")
        .to_string()
}

async fn wait(client: &reqwest::Client, url: &str, run: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let status = get(client, &format!("{url}/api/sync/status/{run}")).await;
        if matches!(status["status"].as_str(), Some("success" | "failed")) {
            return status;
        }
        assert!(Instant::now() < deadline, "{status}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn write_big_csv(path: &Path, rows: usize) {
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path).unwrap());
    writeln!(out, "id,email,amount,created_at,country").unwrap();
    for i in 0..rows {
        writeln!(
            out,
            "{i},user{i}@example.com,{}.{:02},2026-01-{:02} 10:{:02}:00,DE",
            i % 997,
            i % 100,
            i % 28 + 1,
            i % 60
        )
        .unwrap();
    }
    out.flush().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_sync_keeps_previous_data_and_records_the_failure() {
    dango::app::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("fault");
    assert!(dango(&project).arg("init").status().unwrap().success());
    std::fs::write(
        project.join(".dango/sources.yml"),
        "version: \"1.0\"\nsources:\n  - name: big\n    type: csv\n    csv: {directory: data/uploads/big}\n",
    )
    .unwrap();
    let uploads = project.join("data/uploads/big");
    std::fs::create_dir_all(&uploads).unwrap();
    std::fs::write(uploads.join("small.csv"), "id,email,amount,created_at,country\n1,a@x.io,1.5,2026-01-01 00:00:00,FR\n2,b@x.io,2.5,2026-01-02 00:00:00,FR\n3,c@x.io,3.5,2026-01-03 00:00:00,FR\n").unwrap();

    let (server, url) = start(&project);
    let client = login(&url).await;
    let first = sync(&client, &url).await;
    assert_eq!(wait(&client, &url, &first).await["status"], "success");

    // A large file: the load runs for seconds inside one warehouse transaction.
    for part in 0..3 {
        write_big_csv(&uploads.join(format!("huge_{part}.csv")), 1_500_000);
    }
    let run = sync(&client, &url).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = get(&client, &format!("{url}/api/sync/status/{run}")).await;
        assert_ne!(
            status["status"], "success",
            "the sync finished before it could be interrupted"
        );
        if status["status"] == "running" {
            break;
        }
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    let still = get(&client, &format!("{url}/api/sync/status/{run}")).await;
    assert_eq!(still["status"], "running", "not running any more: {still}");
    drop(server); // SIGKILL

    let (server, url) = start(&project);
    let client = login(&url).await;
    let interrupted = get(&client, &format!("{url}/api/sync/status/{run}")).await;
    assert_eq!(interrupted["status"], "failed", "{interrupted}");
    assert!(
        interrupted["error"].as_str().unwrap().contains("stopped"),
        "{interrupted}"
    );
    assert!(interrupted["ended_at"].is_string());
    let sources = get(&client, &format!("{url}/api/sources")).await;
    assert_eq!(
        sources[0]["row_count"], 3,
        "previous data intact: {sources}"
    );

    // The big files were never committed: a new sync loads them (and succeeds).
    for part in 1..3 {
        std::fs::remove_file(uploads.join(format!("huge_{part}.csv"))).unwrap();
    }
    let again = sync(&client, &url).await;
    let done = wait(&client, &url, &again).await;
    assert_eq!(done["status"], "success", "{done}");
    let sources = get(&client, &format!("{url}/api/sources")).await;
    assert_eq!(sources[0]["row_count"], 1_500_003);
    drop(server);
}
