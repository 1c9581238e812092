//! Load generation for the benchmarks: keep-alive loopback clients on their own threads,
//! minimal so the generator takes as little as possible of the cores it shares with the
//! server.

use std::time::{Duration, Instant};

use super::percentile;

/// A `GET path` request with an API key.
pub fn get_request(address: &str, path: &str, key: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {key}\r\n\r\n")
}

pub fn report(label: &str, mut latencies: Vec<Duration>, elapsed: Duration) {
    latencies.sort();
    println!(
        "{label}, {:.0} s: {} requests, {:.0} req/s, p50 {:?}, p99 {:?}",
        elapsed.as_secs_f64(),
        latencies.len(),
        latencies.len() as f64 / elapsed.as_secs_f64(),
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99)
    );
}

/// `connections` keep-alive clients, each on its own thread, sending `request` for
/// `duration`: every latency, and the wall time. A minimal client so the load generator
/// takes as little as possible of the two cores it shares with the server.
pub fn hammer(
    address: &str,
    request: &str,
    connections: usize,
    duration: Duration,
) -> (Vec<Duration>, Duration) {
    let began = Instant::now();
    let workers: Vec<_> = (0..connections)
        .map(|_| {
            let (address, request) = (address.to_string(), request.to_string());
            std::thread::spawn(move || {
                let mut connection = KeepAlive::connect(&address);
                let mut latencies = Vec::with_capacity(100_000);
                while began.elapsed() < duration {
                    let t = Instant::now();
                    let status = connection.send(request.as_bytes());
                    assert_eq!(status, 200);
                    latencies.push(t.elapsed());
                }
                latencies
            })
        })
        .collect();
    let latencies = workers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    (latencies, began.elapsed())
}

/// A `POST path` request with an API key and a JSON body.
pub fn post_json_request(address: &str, path: &str, key: &str, body: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// One HTTP/1.1 keep-alive connection that sends a fixed request and reads the response
/// (headers, then `Content-Length` bytes of body).
pub struct KeepAlive {
    stream: std::io::BufReader<std::net::TcpStream>,
}

impl KeepAlive {
    pub fn connect(address: &str) -> Self {
        let stream = std::net::TcpStream::connect(address).unwrap();
        stream.set_nodelay(true).unwrap();
        Self {
            stream: std::io::BufReader::new(stream),
        }
    }

    pub fn send(&mut self, request: &[u8]) -> u16 {
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
