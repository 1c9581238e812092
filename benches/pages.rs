//! Pages benchmark (`cargo bench --bench pages`): the release `dango` binary on the demo
//! project; for every page, the server's time to answer it (one keep-alive connection
//! for 2 s: p50 and p99 of the whole answer, which for these sizes is the time to first
//! byte plus a few microseconds), and what a first visit transfers: the HTML and every
//! stylesheet and script it loads (module imports followed), uncompressed and as sent
//! to a browser that accepts gzip.
#![allow(clippy::disallowed_methods)] // benches are synchronous programs that may sleep

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use support::load::{get_request, hammer};
use support::{Server, fresh_project, percentile};

const PAGES: &[&str] = &[
    "/",
    "/sources",
    "/models",
    "/schedules",
    "/catalog",
    "/catalog/customer_revenue",
    "/query",
    "/health",
    "/logs",
    "/settings/account",
    "/settings/users",
    "/dbt-docs/",
    "/login",
    "/setup",
];

fn main() {
    let (_dir, project) = fresh_project();
    dango::project::demo::populate(&project).unwrap();
    let server = Server::start(&project);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let key = runtime.block_on(server.api_key());
    let address = server.url.trim_start_matches("http://").to_string();
    let client = reqwest::Client::new();
    println!("page: p50 / p99 answer time; HTML + CSS + JS uncompressed → gzip on the wire");
    for page in PAGES {
        // The sign-in page sends a signed-in visitor on to `/`: ask it as a stranger.
        let request = if *page == "/login" {
            format!("GET /login HTTP/1.1\r\nHost: {address}\r\n\r\n")
        } else {
            get_request(&address, page, &key)
        };
        hammer(&address, &request, 1, Duration::from_millis(300));
        let (mut latencies, _) = hammer(&address, &request, 1, Duration::from_secs(2));
        latencies.sort();
        let visitor = if *page == "/login" { "" } else { key.as_str() };
        let (raw, wire, files) = runtime.block_on(transfer(&client, &server.url, page, visitor));
        println!(
            "{page}: p50 {:?} / p99 {:?}; {} files, {:.1} KB → {:.1} KB",
            percentile(&latencies, 0.5),
            percentile(&latencies, 0.99),
            files,
            raw as f64 / 1024.0,
            wire as f64 / 1024.0,
        );
    }
}

/// Bytes of the page and everything it loads: (uncompressed, gzip, number of files).
async fn transfer(
    client: &reqwest::Client,
    base: &str,
    page: &str,
    key: &str,
) -> (usize, usize, usize) {
    let mut pending = vec![page.to_string()];
    let mut seen = BTreeSet::new();
    let (mut raw, mut wire) = (0, 0);
    while let Some(path) = pending.pop() {
        if !seen.insert(path.clone()) {
            continue;
        }
        let get = |gzip: bool| {
            let mut request = client
                .get(format!("{base}{path}"))
                .header("Accept", "text/html,*/*");
            if !key.is_empty() {
                request = request.header("Authorization", format!("Bearer {key}"));
            }
            if gzip {
                request = request.header("Accept-Encoding", "gzip");
            }
            request.send()
        };
        let body = get(false).await.unwrap().text().await.unwrap();
        raw += body.len();
        wire += get(true).await.unwrap().bytes().await.unwrap().len();
        pending.extend(static_refs(&body));
    }
    (raw, wire, seen.len())
}

/// The `/static/…` files a page or module refers to (`src=`, `href=`, `from '…'`).
fn static_refs(text: &str) -> Vec<String> {
    text.match_indices("/static/")
        .filter_map(|(at, _)| {
            let rest = &text[at..];
            let end = rest.find(['"', '\'', ' ', ')', '>'])?;
            let path = &rest[..end];
            (path.ends_with(".js") || path.ends_with(".css")).then(|| path.to_string())
        })
        .collect()
}
