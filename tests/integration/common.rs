//! Test harness: boots the real app on 127.0.0.1:0 with a temporary project and talks
//! to it over HTTP. With `DANGO_TEST_POSTGRES_URL` set, each test gets its own fresh
//! Postgres database for metadata instead of SQLite.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::contract::{Violations, checked};
use dango::api::schema::Contract;

use dango::RunningApp;
use dango::auth::Role;
use dango::auth::users::{self as accounts, Credential, NewUser};
use dango::config::{ProjectConfig, ProjectPaths};
use dango_entity::users;
use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::Value;

pub const PASSWORD: &str = "Correct-Horse-Battery-9";

pub struct TestApp {
    pub server: RunningApp,
    pub dir: tempfile::TempDir,
    /// Answers that contradicted the published document (checked when the test ends).
    violations: Violations,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let violations = self.violations.lock().unwrap_or_else(|e| e.into_inner());
        if !violations.is_empty() && !std::thread::panicking() {
            panic!(
                "{} answer(s) contradict the OpenAPI document:\n{}",
                violations.len(),
                violations.join("\n")
            );
        }
    }
}

async fn database_url(dir: &Path) -> String {
    match std::env::var("DANGO_TEST_POSTGRES_URL") {
        Ok(admin_url) if !admin_url.is_empty() => {
            use sea_orm::ConnectionTrait;
            let name = format!("dango_test_{}", uuid::Uuid::new_v4().simple());
            let admin = sea_orm::Database::connect(&admin_url)
                .await
                .expect("connect to test Postgres");
            admin
                .execute_unprepared(&format!("CREATE DATABASE {name}"))
                .await
                .expect("create test database");
            admin.close().await.ok();
            let base = admin_url
                .rsplit_once('/')
                .map(|(b, _)| b)
                .unwrap_or(&admin_url);
            format!("{base}/{name}")
        }
        _ => format!(
            "sqlite://{}?mode=rwc",
            ProjectPaths::new(dir).metadata_db().display()
        ),
    }
}

impl TestApp {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// Boots a server on a fresh project whose configuration `edit` may change first.
    pub async fn start_with(edit: impl FnOnce(&mut ProjectConfig)) -> Self {
        dango::app::install_crypto_provider();
        let dir = tempfile::tempdir().expect("tempdir");
        let root =
            dango::project::create_layout(dir.path(), Some("Test Project"), false).expect("layout");
        let paths = ProjectPaths::new(&root);
        let mut config = ProjectConfig::load(&paths.project_yml()).expect("config");
        edit(&mut config);
        config.save(&paths.project_yml()).expect("save config");
        let url = database_url(&root).await;
        let app = dango::App::open_with_database(&root, &url)
            .await
            .expect("open app");
        let contract = Arc::new(Contract::new(dango::api::spec::document(
            &dango::api::service(),
        )));
        let violations = Violations::default();
        let recorded = violations.clone();
        let server = app
            .bind_with("127.0.0.1:0", move |endpoint| {
                checked(endpoint, contract, recorded)
            })
            .await
            .expect("bind");
        Self {
            server,
            dir,
            violations,
        }
    }

    pub fn root(&self) -> PathBuf {
        self.server.state.paths.root.clone()
    }

    pub fn url(&self, path: &str) -> String {
        self.server.url(path)
    }

    pub fn db(&self) -> &sea_orm::DatabaseConnection {
        &self.server.state.db
    }

    /// Creates an active user with [`PASSWORD`].
    pub async fn user(&self, email: &str, role: Role) -> users::Model {
        accounts::create(
            self.db(),
            NewUser {
                email,
                role,
                display_name: None,
                credential: Credential::Password(PASSWORD.into()),
            },
        )
        .await
        .expect("create user")
        .user
    }

    /// A browser-like client (cookie store, CSRF header on every request).
    pub fn browser(&self) -> reqwest::Client {
        let mut headers = HeaderMap::new();
        headers.insert("X-Requested-With", HeaderValue::from_static("test"));
        reqwest::Client::builder()
            .cookie_store(true)
            .default_headers(headers)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client")
    }

    /// A client without cookies or extra headers.
    pub fn anonymous(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client")
    }

    /// A browser client logged in as `email` with [`PASSWORD`].
    pub async fn login(&self, email: &str) -> reqwest::Client {
        let client = self.browser();
        let response = client
            .post(self.url("/api/auth/login"))
            .json(&serde_json::json!({"email": email, "password": PASSWORD}))
            .send()
            .await
            .expect("login request");
        assert_eq!(
            response.status(),
            200,
            "login of {email} failed: {}",
            response.text().await.unwrap_or_default()
        );
        client
    }

    /// Creates a user with `role` and logs them in.
    pub async fn login_as(&self, role: Role) -> reqwest::Client {
        let email = format!(
            "{}-{}@example.com",
            role.as_str(),
            uuid::Uuid::new_v4().simple()
        );
        self.user(&email, role).await;
        self.login(&email).await
    }

    /// An API key of a new user with `role`, optionally capped.
    pub async fn api_key(&self, role: Role, cap: Option<Role>) -> String {
        let client = self.login_as(role).await;
        let mut body = serde_json::json!({"name": "test key"});
        if let Some(cap) = cap {
            body["role"] = cap.as_str().into();
        }
        let created = self.create_api_key(&client, body).await;
        created["key"].as_str().expect("key").to_string()
    }

    /// The status a script holding `key` gets for `GET path`.
    pub async fn status_with_key(&self, key: &str, path: &str) -> u16 {
        self.get_with_key(key, path).await.status().as_u16()
    }

    /// `client` creates an API key from `body` (`name`, `role`, `expires_at`): the
    /// creation answer, with the key itself in `key`.
    pub async fn create_api_key(&self, client: &reqwest::Client, body: Value) -> Value {
        json(
            client
                .post(self.url("/api/auth/api-keys"))
                .json(&body)
                .send()
                .await
                .expect("create key"),
        )
        .await
    }
}

/// Asserts the JSON error shape and returns the body.
pub async fn error_body(response: reqwest::Response, status: u16) -> Value {
    let actual = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    assert_eq!(actual, status, "unexpected status, body: {text}");
    let body: Value =
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("error body is not JSON: {text}"));
    assert!(body["detail"].is_string(), "no detail in {body}");
    assert!(
        body["code"]
            .as_str()
            .is_some_and(|c| c.starts_with("DANGO-")),
        "no code in {body}"
    );
    body
}

pub async fn json(response: reqwest::Response) -> Value {
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    assert!(status.is_success(), "status {status}: {text}");
    serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
}

impl TestApp {
    /// Replaces `.dango/sources.yml` with `sources` (the list under `sources:`).
    pub fn write_sources(&self, sources: &str) {
        let text = format!("version: \"1.0\"\nsources:\n{sources}");
        std::fs::write(self.root().join(".dango/sources.yml"), text).expect("write sources.yml");
    }

    /// Configures the csv source `source` (as the only source) with one file, `a.csv`
    /// holding `csv`, without syncing it.
    pub fn csv_source_with(&self, source: &str, csv: &str) {
        self.write_sources(&format!(
            "  - name: {source}\n    type: csv\n    csv: {{directory: data/uploads/{source}}}\n"
        ));
        let dir = self.root().join("data/uploads").join(source);
        std::fs::create_dir_all(&dir).expect("create upload folder");
        std::fs::write(dir.join("a.csv"), csv).expect("write csv");
    }

    /// [`TestApp::csv_source_with`], then `client` syncs it, which must succeed.
    pub async fn synced_csv_source(&self, client: &reqwest::Client, source: &str, csv: &str) {
        self.csv_source_with(source, csv);
        let run = self.sync(client, source, serde_json::json!({})).await;
        assert_eq!(run["status"], "success", "{run}");
    }

    /// The demo project (`dango start --demo`), all three sources synced by `client`.
    /// Each sync builds what is downstream of its source; a mart whose other source is
    /// not loaded yet fails until then, so the orders (which both marts read) come last.
    pub async fn synced_demo(&self, client: &reqwest::Client) {
        dango::project::demo::populate(&self.root()).expect("demo project");
        for source in ["customers", "products", "orders"] {
            let run = self.sync(client, source, serde_json::json!({})).await;
            assert_eq!(run["results"][0]["status"], "success", "{source}: {run}");
            if source == "orders" {
                assert_eq!(run["status"], "success", "{run}");
            }
        }
    }

    /// Uploads `bytes` as `name` to a source.
    pub async fn upload(
        &self,
        client: &reqwest::Client,
        source: &str,
        name: &str,
        bytes: Vec<u8>,
        trigger_sync: bool,
    ) -> reqwest::Response {
        let part = reqwest::multipart::Part::bytes(bytes).file_name(name.to_string());
        let form = reqwest::multipart::Form::new().part("file", part);
        client
            .post(self.url(&format!(
                "/api/sources/{source}/upload-csv?trigger_sync={trigger_sync}"
            )))
            .multipart(form)
            .send()
            .await
            .expect("upload request")
    }

    /// Starts a sync of `source` and waits for its run to end; returns the run status.
    pub async fn sync(&self, client: &reqwest::Client, source: &str, body: Value) -> Value {
        let started = json(
            client
                .post(self.url(&format!("/api/sources/{source}/sync")))
                .json(&body)
                .send()
                .await
                .expect("sync request"),
        )
        .await;
        self.wait_run(client, started["record_id"].as_str().expect("record_id"))
            .await
    }

    /// Starts `POST /api/dbt/run` with `body` and waits for its run to end.
    pub async fn dbt_run(&self, client: &reqwest::Client, body: Value) -> Value {
        let started = json(
            client
                .post(self.url("/api/dbt/run"))
                .json(&body)
                .send()
                .await
                .expect("dbt run request"),
        )
        .await;
        self.wait_run(client, started["run_id"].as_str().expect("run_id"))
            .await
    }

    /// The status of every model in `GET /api/dbt/models`, by name.
    pub async fn model_statuses(
        &self,
        client: &reqwest::Client,
    ) -> std::collections::HashMap<String, Value> {
        let models = json(
            client
                .get(self.url("/api/dbt/models"))
                .send()
                .await
                .expect("models request"),
        )
        .await;
        models["models"]
            .as_array()
            .expect("models")
            .iter()
            .map(|m| {
                (
                    m["name"].as_str().unwrap_or_default().to_string(),
                    m["status"].clone(),
                )
            })
            .collect()
    }

    /// Polls a run until its status is `wanted` (60 s at most).
    pub async fn wait_status(&self, client: &reqwest::Client, run_id: &str, wanted: &str) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let status = self
                .get_json(client, &format!("/api/sync/status/{run_id}"))
                .await;
            if status["status"] == wanted {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "run {run_id} did not become {wanted}: {status}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
    }

    /// Polls a run until it ends (60 s at most).
    pub async fn wait_run(&self, client: &reqwest::Client, run_id: &str) -> Value {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let status = json(
                client
                    .get(self.url(&format!("/api/sync/status/{run_id}")))
                    .send()
                    .await
                    .unwrap(),
            )
            .await;
            if matches!(
                status["status"].as_str(),
                Some("success" | "failed" | "cancelled" | "timeout")
            ) {
                return status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "run {run_id} did not finish: {status}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// Runs a read query on the warehouse and returns the first column of each row as strings.
    pub async fn query(&self, sql: &str) -> Vec<String> {
        let sql = sql.to_string();
        self.server
            .state
            .warehouse
            .read(move |conn| {
                let mut stmt = conn.prepare(&sql).map_err(dango::Error::internal)?;
                let rows = stmt
                    .query_map([], |row| {
                        let value: duckdb::types::Value = row.get(0)?;
                        use duckdb::types::Value as V;
                        Ok(match value {
                            V::Null => "NULL".to_string(),
                            V::Text(s) => s,
                            V::Boolean(b) => b.to_string(),
                            V::TinyInt(n) => n.to_string(),
                            V::SmallInt(n) => n.to_string(),
                            V::Int(n) => n.to_string(),
                            V::BigInt(n) => n.to_string(),
                            V::HugeInt(n) => n.to_string(),
                            V::UBigInt(n) => n.to_string(),
                            V::Double(n) => n.to_string(),
                            other => format!("{other:?}"),
                        })
                    })
                    .map_err(dango::Error::internal)?;
                rows.collect::<Result<Vec<_>, _>>()
                    .map_err(dango::Error::internal)
            })
            .await
            .expect("query")
    }

    pub async fn count(&self, table: &str) -> i64 {
        let table = table.to_string();
        self.server
            .state
            .warehouse
            .read(move |conn| {
                conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |row| {
                    row.get::<_, i64>(0)
                })
                .map_err(dango::Error::internal)
            })
            .await
            .expect("count")
    }
}

impl TestApp {
    /// A client that opens pages like a browser does: cookies, `Accept: text/html`, no
    /// `X-Requested-With` (which only our scripts send), signed in as `email`.
    pub async fn page_browser(&self, email: &str) -> reqwest::Client {
        self.page_browser_with(email, PASSWORD).await
    }

    /// [`TestApp::page_browser`] signed in with `password`.
    pub async fn page_browser_with(&self, email: &str, password: &str) -> reqwest::Client {
        let mut headers = HeaderMap::new();
        headers.insert(
            "Accept",
            HeaderValue::from_static("text/html,application/xhtml+xml,*/*;q=0.8"),
        );
        let client = reqwest::Client::builder()
            .cookie_store(true)
            .default_headers(headers)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        let response = client
            .post(self.url("/api/auth/login"))
            .header("X-Requested-With", "test")
            .json(&serde_json::json!({"email": email, "password": password}))
            .send()
            .await
            .expect("login request");
        assert_eq!(response.status(), 200, "login of {email}");
        client
    }
}

/// A reverse proxy on loopback in front of `target` (a base URL), forwarding like nginx
/// with `X-Forwarded-For $proxy_add_x_forwarded_for` and `X-Forwarded-Proto https`.
/// Returns its base URL.
pub async fn start_forwarding_proxy(target: String) -> String {
    use poem::listener::{Acceptor, Listener};
    use poem::{EndpointExt, handler};

    #[handler]
    async fn forward(
        req: &poem::Request,
        body: poem::Body,
        target: poem::web::Data<&String>,
    ) -> poem::Response {
        let peer = req
            .remote_addr()
            .as_socket_addr()
            .map(|a| a.ip().to_string())
            .unwrap_or_default();
        let forwarded_for = match req
            .headers()
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
        {
            Some(earlier) => format!("{earlier}, {peer}"),
            None => peer,
        };
        let path = req
            .uri()
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/");
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("proxy client");
        let mut outgoing = client
            .request(req.method().clone(), format!("{}{path}", target.0))
            .header("x-forwarded-for", forwarded_for)
            .header("x-forwarded-proto", "https");
        for (name, value) in req.headers() {
            if !matches!(name.as_str(), "host" | "x-forwarded-for" | "content-length") {
                outgoing = outgoing.header(name, value);
            }
        }
        let bytes = body.into_vec().await.unwrap_or_default();
        let answer = match outgoing.body(bytes).send().await {
            Ok(answer) => answer,
            Err(_) => {
                return poem::Response::builder()
                    .status(poem::http::StatusCode::BAD_GATEWAY)
                    .finish();
            }
        };
        let status = answer.status();
        let headers = answer.headers().clone();
        let mut response = poem::Response::builder()
            .status(status)
            .body(answer.bytes().await.unwrap_or_default());
        for (name, value) in &headers {
            if name != "content-length" && name != "transfer-encoding" {
                response.headers_mut().append(name.clone(), value.clone());
            }
        }
        response
    }

    let acceptor = poem::listener::TcpListener::bind("127.0.0.1:0")
        .into_acceptor()
        .await
        .expect("bind proxy");
    let addr = acceptor.local_addr()[0]
        .as_socket_addr()
        .copied()
        .expect("proxy address");
    let routes = poem::Route::new()
        .at("/*path", forward)
        .at("/", forward)
        .data(target.trim_end_matches('/').to_string());
    tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(routes));
    format!("http://{addr}")
}

/// The entry of `answer["columns"]` called `name` (catalog answers list columns by name).
pub fn named_column<'a>(answer: &'a Value, name: &str) -> &'a Value {
    answer["columns"]
        .as_array()
        .expect("a columns list")
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no column {name} in {answer}"))
}

/// An instant written in RFC 3339, as the tests' clock reads it.
pub fn instant(text: &str) -> chrono::DateTime<chrono::Utc> {
    text.parse().expect("RFC 3339")
}

/// New Year 2027 (a second past), when the yearly schedules of the tests fire: a time the
/// real clock of a test run does not reach, so only the test's ticks fire them.
pub fn new_year() -> chrono::DateTime<chrono::Utc> {
    instant("2027-01-01T00:00:01Z")
}

/// A scheduler (as a test drives one) that holds the scheduler's lease and has seen the
/// schedules at `at`: the server's own scheduler may hold the lease at first, and a
/// schedule seen for the first time plans from then on (it does not fire for a time
/// already past).
pub async fn scheduler_seeing(
    state: &dango::state::AppState,
    at: chrono::DateTime<chrono::Utc>,
) -> dango::schedules::Memory {
    use dango::jobs::scheduler::{LEASE, tick};
    let mut memory = dango::schedules::Memory::default();
    for _ in 0..50 {
        assert!(
            tick(state, &mut memory, at).await.is_empty(),
            "nothing due at {at}"
        );
        let holder = dango::lease::holder(&state.db, LEASE, at)
            .await
            .expect("lease");
        if holder.as_deref() == Some(memory.holder()) {
            return memory;
        }
    }
    panic!("the test's scheduler never got the lease");
}
