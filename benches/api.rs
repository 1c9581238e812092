//! API benchmark (`cargo bench --bench api`): the release `dango` binary on a fresh project:
//!   - server start to first 200 on /api/status (median of 5 starts),
//!   - idle RSS after start and RSS after the load,
//!   - authenticated `GET /api/auth/me` with an API key over 4 keep-alive loopback
//!     connections for 10 s: p50 / p99 latency and requests per second.

mod support;

use std::time::{Duration, Instant};

use support::{Server, init, memory_mb, percentile};

fn main() {
    rustls::crypto::ring::default_provider()
        .install_default()
        .ok();
    let dir = tempfile::tempdir().expect("tempdir");
    let project = dir.path().join("bench");
    init(&project);

    let mut starts: Vec<Duration> = (0..5)
        .map(|_| Server::start(&project).ready_after)
        .collect();
    starts.sort();

    let server = Server::start(&project);
    std::thread::sleep(Duration::from_secs(2));
    let (idle_rss, _) = memory_mb(server.pid());

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (latencies, elapsed) = runtime.block_on(async {
        let key = server.api_key().await;
        let me = format!("{}/api/auth/me", server.url);
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
    let (loaded_rss, _) = memory_mb(server.pid());
    drop(server);

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
