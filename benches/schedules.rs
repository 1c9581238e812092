//! Scheduler benchmark (`cargo bench --bench schedules`), the release `dango` binary:
//!
//! 1. Idle overhead: the server's CPU time and memory over 60 s with no schedules, then
//!    with 1,000 enabled schedules that are not due (the scheduler reads and plans them
//!    every 10 s).
//! 2. A burst: 200 schedules on 20 sources all firing in the same minute. Every firing
//!    must end as exactly one run or one logged refusal (one sync per source at a time),
//!    no schedule may get two runs, every run must end recorded; meanwhile API requests
//!    are timed (p50, p95).
#![allow(clippy::disallowed_methods)] // benches are synchronous programs that may sleep

mod support;

use std::time::{Duration, Instant};

use chrono::{Timelike, Utc};
use support::load::{KeepAlive, get_request};
use support::{Server, fresh_project, memory_mb, percentile};

const SOURCES: usize = 20;

fn main() {
    let (_dir, project) = fresh_project();
    let mut sources = String::from("version: \"1.0\"\nsources:\n");
    for i in 0..SOURCES {
        let dir = project.join(format!("data/uploads/s{i}"));
        std::fs::create_dir_all(&dir).unwrap();
        let rows: String = (0..200).map(|r| format!("{r},{}\n", r * i)).collect();
        std::fs::write(dir.join("a.csv"), format!("id,amount\n{rows}")).unwrap();
        sources.push_str(&format!(
            "  - name: s{i}\n    type: csv\n    csv: {{directory: data/uploads/s{i}}}\n"
        ));
    }
    std::fs::write(project.join(".dango/sources.yml"), sources).unwrap();
    let schedules = project.join(".dango/schedules.yml");
    std::fs::write(&schedules, "schedules: []\n").unwrap();

    let server = Server::start(&project);
    let pid = server.pid();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let key = runtime.block_on(server.api_key());
    let address = server.url.trim_start_matches("http://").to_string();

    // 1. idle
    std::thread::sleep(Duration::from_secs(5));
    let (cpu_empty, rss_empty) = idle(pid, Duration::from_secs(60));
    let yearly: String = (0..1000)
        .map(|i| {
            format!(
                "- {{name: idle_{i}, cron: '{} {} 1 1 *', sources: [s{}]}}\n",
                i % 60,
                i % 24,
                i % SOURCES
            )
        })
        .collect();
    std::fs::write(&schedules, format!("schedules:\n{yearly}")).unwrap();
    std::thread::sleep(Duration::from_secs(12));
    let (cpu_idle, rss_idle) = idle(pid, Duration::from_secs(60));
    println!(
        "idle, 60 s: no schedules {:.3} % of a core, {rss_empty:.1} MB; 1,000 schedules {:.3} % of a core, {rss_idle:.1} MB (+{:.1} MB)",
        cpu_empty * 100.0,
        cpu_idle * 100.0,
        rss_idle - rss_empty
    );

    // 2. a burst: 10 schedules per source, all at the next minute
    let now = Utc::now();
    let at = now + chrono::Duration::seconds(90);
    let (minute, hour) = (at.minute(), at.hour());
    let burst: String = (0..200)
        .map(|i| {
            format!(
                "- {{name: burst_{i}, type: sync_only, cron: '{minute} {hour} * * *', sources: [s{}]}}\n",
                i % SOURCES
            )
        })
        .collect();
    std::fs::write(&schedules, format!("schedules:\n{burst}")).unwrap();
    let fire = at.with_second(0).unwrap();
    let request = get_request(&address, "/api/sources", &key);
    let mut connection = KeepAlive::connect(&address);
    let mut latencies = Vec::new();
    let measure_until = fire + chrono::Duration::seconds(60);
    while Utc::now() < measure_until {
        let t = Instant::now();
        assert_eq!(connection.send(request.as_bytes()), 200);
        if Utc::now() >= fire - chrono::Duration::seconds(1) {
            latencies.push(t.elapsed());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    latencies.sort();
    let summary = runtime.block_on(burst_outcome(&server.url, &key));
    println!(
        "burst of 200 schedules on {SOURCES} sources: {} runs started ({} succeeded, {} unfinished), {} firings refused and logged, {} schedules with two runs; GET /api/sources during it: {} requests, p50 {:?}, p95 {:?}, max {:?}",
        summary.runs,
        summary.succeeded,
        summary.unfinished,
        summary.refused,
        summary.doubled,
        latencies.len(),
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.95),
        latencies.last().copied().unwrap_or_default()
    );
    assert_eq!(summary.doubled, 0, "a schedule fired twice");
    assert_eq!(
        summary.runs + summary.refused,
        200,
        "every firing is a run or a logged refusal"
    );
}

/// The share of one core the process used over `window`, and its memory at the end (MB).
fn idle(pid: u32, window: Duration) -> (f64, f64) {
    let before = cpu_seconds(pid);
    std::thread::sleep(window);
    let used = cpu_seconds(pid) - before;
    (used / window.as_secs_f64(), memory_mb(pid).0)
}

/// User + system CPU time of a process, from /proc.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    (ticks(11) + ticks(12)) / 100.0
}

struct Burst {
    runs: usize,
    succeeded: usize,
    unfinished: usize,
    refused: usize,
    doubled: usize,
}

async fn burst_outcome(base: &str, key: &str) -> Burst {
    let client = reqwest::Client::new();
    let get = |path: String| {
        let client = client.clone();
        let key = key.to_string();
        async move {
            client
                .get(format!("{base}{path}"))
                .bearer_auth(key)
                .send()
                .await
                .unwrap()
                .json::<serde_json::Value>()
                .await
                .unwrap()
        }
    };
    // let the started runs end
    tokio::time::sleep(Duration::from_secs(10)).await;
    let recent = get("/api/schedules/history/recent?limit=200".into()).await;
    let runs: Vec<&serde_json::Value> = recent.as_array().unwrap().iter().collect();
    let mut names: Vec<&str> = runs
        .iter()
        .filter_map(|r| r["schedule_name"].as_str())
        .collect();
    let total = names.len();
    names.sort();
    names.dedup();
    let refusals = get("/api/logs?q=could%20not%20start&limit=200".into()).await;
    let skipped = get("/api/logs?q=skipped&limit=200".into()).await;
    Burst {
        runs: runs.len(),
        succeeded: runs.iter().filter(|r| r["status"] == "success").count(),
        unfinished: runs
            .iter()
            .filter(|r| r["status"] == "queued" || r["status"] == "running")
            .count(),
        refused: refusals.as_array().map_or(0, Vec::len) + skipped.as_array().map_or(0, Vec::len),
        doubled: total - names.len(),
    }
}
