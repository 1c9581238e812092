//! API benchmark (`cargo bench --bench api`): the release `dango` binary on a fresh project:
//!   - server start to first 200 on /api/status (median of 5 starts),
//!   - idle RSS after start and RSS after the load,
//!   - authenticated `GET /api/auth/me` with an API key over 4 keep-alive loopback
//!     connections for 10 s: p50 / p99 latency and requests per second.

mod support;

use std::time::{Duration, Instant};

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
    let request = format!(
        "GET /api/auth/me HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {key}\r\n\r\n"
    );
    let duration = Duration::from_secs(10);
    let began = Instant::now();
    // A minimal keep-alive client per connection on its own thread, so the load generator
    // takes as little as possible of the two cores it shares with the server.
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (address, request) = (address.clone(), request.clone());
            std::thread::spawn(move || {
                let mut connection = KeepAlive::connect(&address);
                let mut latencies = Vec::with_capacity(100_000);
                while began.elapsed() < duration {
                    let t = Instant::now();
                    let status = connection.get(request.as_bytes());
                    assert_eq!(status, 200);
                    latencies.push(t.elapsed());
                }
                latencies
            })
        })
        .collect();
    let latencies: Vec<Duration> = workers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    let elapsed = began.elapsed();
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

/// One HTTP/1.1 keep-alive connection that sends a fixed request and reads the response
/// (headers, then `Content-Length` bytes of body).
struct KeepAlive {
    stream: std::io::BufReader<std::net::TcpStream>,
}

impl KeepAlive {
    fn connect(address: &str) -> Self {
        let stream = std::net::TcpStream::connect(address).unwrap();
        stream.set_nodelay(true).unwrap();
        Self {
            stream: std::io::BufReader::new(stream),
        }
    }

    fn get(&mut self, request: &[u8]) -> u16 {
        use std::io::{BufRead, Read, Write};
        self.stream.get_mut().write_all(request).unwrap();
        let mut line = String::new();
        self.stream.read_line(&mut line).unwrap();
        let status = line.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
        let mut length = 0usize;
        loop {
            line.clear();
            self.stream.read_line(&mut line).unwrap();
            if line == "\r\n" {
                break;
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap();
            }
        }
        let mut body = vec![0; length];
        self.stream.read_exact(&mut body).unwrap();
        status
    }
}
