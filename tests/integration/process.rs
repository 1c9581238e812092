//! The real `dango` binary as a separate process, for tests that need what only a
//! process has (the command line, signals, SIGKILL, a second process beside the server)
//! and for the benchmarks, which include this file (`benches/support`).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// `dango --project <project>` with a clean environment: no admin credentials or
/// database URL inherited from the shell, warnings-only logs. Add `.env(...)` for more.
pub(crate) fn dango(project: &Path) -> Command {
    dango_at(Path::new(env!("CARGO_BIN_EXE_dango")), project)
}

/// [`dango`] with another build of the binary (a bench measuring an earlier commit).
pub(crate) fn dango_at(binary: &Path, project: &Path) -> Command {
    let mut command = Command::new(binary);
    command
        .arg("--project")
        .arg(project)
        .env_remove("DANGO_ADMIN_PASSWORD")
        .env_remove("DANGO_ADMIN_EMAIL")
        .env_remove("DANGO_DATABASE_URL")
        .env("DANGO_LOG", "warn");
    command
}

/// Runs to the end: whether it succeeded, and stdout followed by stderr.
pub(crate) fn run(command: &mut Command) -> (bool, String) {
    let output = command.output().expect("run dango");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

/// A server process, killed (SIGKILL) when dropped, also when an assertion fails.
pub(crate) struct Server(pub(crate) Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Server {
    /// SIGTERM, and the process must exit cleanly.
    pub(crate) fn stop(mut self) {
        send_sigterm(self.0.id());
        assert!(self.0.wait().unwrap().success(), "clean shutdown");
    }
}

pub(crate) fn send_sigterm(pid: u32) {
    let status = Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(status.success());
}

/// Spawns `command` (a `start` or `demo`) and waits for the address it announces.
pub(crate) fn start_server(command: &mut Command) -> (Server, String) {
    let mut server = Server(
        command
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let stdout = server.0.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    loop {
        let line = lines.next().expect("server output").unwrap();
        if let Some(rest) = line.strip_prefix("Dango is running at ") {
            let url = rest.split_whitespace().next().unwrap().to_string();
            // keep draining stdout so the server never blocks on a full pipe
            std::thread::spawn(move || for _ in lines {});
            return (server, url);
        }
    }
}

/// A browser-like client (cookies, CSRF header) signed in with `email` and `password`.
pub(crate) async fn signed_in(url: &str, email: &str, password: &str) -> reqwest::Client {
    dango::app::install_crypto_provider();
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("X-Requested-With", "test".parse().unwrap());
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .default_headers(headers)
        .build()
        .unwrap();
    let response = client
        .post(format!("{url}/api/auth/login"))
        .json(&serde_json::json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());
    client
}
