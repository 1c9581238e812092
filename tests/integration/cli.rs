//! The `dango` binary: init, auth administration, start and clean shutdown, openapi.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::process::{Server, dango, run, signed_in, start_server};

#[test]
fn init_creates_the_layout_and_a_first_admin() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("my-shop");
    let (ok, out) = run(dango(&project).arg("init"));
    assert!(ok, "{out}");
    assert!(out.contains("temporary password:"), "{out}");
    for path in [
        ".dango/project.yml",
        ".dango/sources.yml",
        ".dango/schedules.yml",
        ".dango/dango.db",
        "data/uploads",
        "data/warehouse.duckdb",
        "dbt/dbt_project.yml",
        "dbt/models/staging",
        "dbt/models/intermediate",
        "dbt/models/marts",
        "dbt/seeds",
        "dbt/macros/get_custom_schema.sql",
        "dbt/tests",
        "dbt/snapshots",
        "notebooks",
        ".gitignore",
    ] {
        assert!(project.join(path).exists(), "{path} missing");
    }
    let config = std::fs::read_to_string(project.join(".dango/project.yml")).unwrap();
    assert!(
        config.contains("name: My Shop") && config.contains("port: 8800"),
        "{config}"
    );
    assert!(
        config.contains("debounce_seconds: 600"),
        "all defaults written out: {config}"
    );
    let sources = std::fs::read_to_string(project.join(".dango/sources.yml")).unwrap();
    assert!(
        sources.contains("version: '1.0'") || sources.contains("version: \"1.0\""),
        "{sources}"
    );
    assert!(
        std::fs::read_to_string(project.join("dbt/dbt_project.yml"))
            .unwrap()
            .contains("name: my_shop")
    );

    let (ok, out) = run(dango(&project).arg("init"));
    assert!(!ok && out.contains("--force"), "{out}");
    let (ok, out) = run(dango(&project).args(["init", "--force"]));
    assert!(ok, "{out}");
    assert!(
        !out.contains("temporary password"),
        "an admin exists already: {out}"
    );
}

#[test]
fn init_uses_a_strong_admin_password_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, out) = run(dango(dir.path())
        .arg("init")
        .env("DANGO_ADMIN_EMAIL", "owner@example.com")
        .env("DANGO_ADMIN_PASSWORD", "Sturdy-Tiger-Pass-61"));
    assert!(ok, "{out}");
    assert!(
        out.contains("owner@example.com") && !out.contains("temporary password"),
        "{out}"
    );

    let weak = tempfile::tempdir().unwrap();
    let (ok, out) = run(dango(weak.path())
        .arg("init")
        .env("DANGO_ADMIN_PASSWORD", "password"));
    assert!(ok, "{out}");
    assert!(
        out.contains("temporary password:"),
        "weak env password replaced: {out}"
    );
}

#[test]
fn auth_commands_manage_users() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path();
    assert!(run(dango(project).arg("init")).0);
    let (ok, out) = run(dango(project).args([
        "auth",
        "add-user",
        "Ed@Example.com",
        "--role",
        "editor",
        "--password",
    ]));
    assert!(ok && out.contains("Temporary password"), "{out}");
    let (ok, out) = run(dango(project).args(["auth", "add-user", "vi@example.com"]));
    assert!(ok && out.contains("/invite/"), "{out}");
    let (ok, out) = run(dango(project).args(["auth", "add-user", "vi@example.com"]));
    assert!(!ok && out.contains("already exists"), "{out}");
    let (ok, out) =
        run(dango(project).args(["auth", "add-user", "x@example.com", "--role", "root"]));
    assert!(!ok && out.contains("invalid role"), "{out}");

    let (ok, out) = run(dango(project).args(["auth", "list-users"]));
    assert!(
        ok && out.contains("ed@example.com") && out.contains("editor") && out.contains("invited"),
        "{out}"
    );

    for args in [
        vec!["change-role", "ed@example.com", "admin"],
        vec!["deactivate-user", "ed@example.com"],
        vec!["reactivate-user", "ed@example.com"],
        vec!["unlock", "ed@example.com"],
        vec!["reset-password", "ed@example.com"],
        vec!["delete-user", "vi@example.com", "-y"],
    ] {
        let (ok, out) = run(dango(project).arg("auth").args(&args));
        assert!(ok, "{args:?}: {out}");
    }
    let (_, out) = run(dango(project).args(["auth", "list-users"]));
    assert!(
        out.contains("ed@example.com") && out.contains("admin") && !out.contains("vi@example.com"),
        "{out}"
    );
    // The last admin cannot be removed from the shell either.
    let (ok, out) = run(dango(project).args(["auth", "deactivate-user", "admin@localhost"]));
    assert!(ok, "there are two admins now: {out}");
    let (ok, out) = run(dango(project).args(["auth", "deactivate-user", "ed@example.com"]));
    assert!(!ok && out.contains("only active admin"), "{out}");
    let (ok, out) = run(dango(project).args(["auth", "reset-password", "ghost@example.com"]));
    assert!(!ok && out.contains("ghost@example.com"), "{out}");

    let (ok, out) = run(dango(project).args(["auth", "recover"]));
    assert!(
        ok && out.contains("recovery@localhost") && out.contains("Temporary password"),
        "{out}"
    );

    let (ok, _) = run(dango(project).args(["auth", "disable"]));
    assert!(ok);
    assert!(
        std::fs::read_to_string(project.join(".dango/project.yml"))
            .unwrap()
            .contains("enabled: false")
    );
    let (ok, _) = run(dango(project).args(["auth", "enable"]));
    assert!(ok);
    assert!(
        std::fs::read_to_string(project.join(".dango/project.yml"))
            .unwrap()
            .contains("enabled: true")
    );
}

#[test]
fn start_in_an_empty_directory_serves_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Server(
        dango(dir.path())
            .args(["start", "--port", "0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let stdout = child.0.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut url = None;
    let mut saw_password = false;
    while Instant::now() < deadline {
        let Some(Ok(line)) = lines.next() else { break };
        saw_password |= line.contains("temporary password:");
        if let Some(rest) = line.strip_prefix("Dango is running at ") {
            url = rest.split_whitespace().next().map(str::to_string);
            break;
        }
    }
    let url = url.expect("server announced its address");
    assert!(saw_password, "a first admin was created and shown");
    assert!(dir.path().join(".dango/project.yml").exists());

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let status = runtime.block_on(async {
        dango::app::install_crypto_provider();
        reqwest::get(format!("{url}/api/status"))
            .await
            .unwrap()
            .json::<serde_json::Value>()
            .await
            .unwrap()
    });
    assert_eq!(status["status"], "healthy");

    // A second process cannot take the warehouse while the server holds it.
    assert!(matches!(
        dango::warehouse::try_lock(&dango::config::ProjectPaths::new(dir.path())),
        Err(dango::warehouse::OpenError::Busy(_))
    ));

    child.stop();
}

#[test]
fn refuses_to_listen_publicly_with_auth_disabled() {
    let dir = tempfile::tempdir().unwrap();
    assert!(run(dango(dir.path()).arg("init")).0);
    assert!(run(dango(dir.path()).args(["auth", "disable"])).0);
    let (ok, out) = run(dango(dir.path()).args(["start", "--host", "0.0.0.0", "--port", "0"]));
    assert!(!ok && out.contains("authentication disabled"), "{out}");
}

#[test]
fn openapi_command_prints_the_document() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, out) = run(dango(dir.path()).arg("openapi"));
    assert!(ok);
    let spec: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(spec["openapi"], "3.0.0");
    assert!(spec["paths"]["/api/auth/login"]["post"].is_object());
}

/// A server process that is killed if the test ends early (a failed assertion).
/// `dango auth` writes the database while the server runs; when the command returns, the
/// server no longer honours what it changed, though it had checked the credential a
/// moment before.
#[test]
fn shell_auth_changes_hold_on_the_running_server_once_the_command_returns() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path();
    let admin_password = "Cli-Auth-Password-4";
    let (ok, out) = run(dango(project)
        .arg("init")
        .env("DANGO_ADMIN_EMAIL", "ops@example.com")
        .env("DANGO_ADMIN_PASSWORD", admin_password));
    assert!(ok, "{out}");
    let (server, url) = start_server(dango(project).args(["start", "--port", "0"]));
    let (ok, out) = run(dango(project).args([
        "auth",
        "add-user",
        "ed@example.com",
        "--role",
        "editor",
        "--password",
    ]));
    assert!(ok, "{out}");
    let temporary = out
        .lines()
        .find_map(|line| line.split_once("(shown once): "))
        .map(|(_, password)| password.trim().to_string())
        .expect("the temporary password");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let ed = signed_in(&url, "ed@example.com", &temporary).await;
        let me = |client: reqwest::Client| {
            let url = url.clone();
            async move {
                client
                    .get(format!("{url}/api/auth/me"))
                    .send()
                    .await
                    .unwrap()
                    .json::<serde_json::Value>()
                    .await
                    .unwrap()
            }
        };
        let before = me(ed.clone()).await;
        assert_eq!(before["role"], "editor", "{before}");
        let admin = signed_in(&url, "ops@example.com", admin_password).await;
        assert_eq!(me(admin.clone()).await["role"], "admin");

        let (ok, out) =
            run(dango(project).args(["auth", "change-role", "ops@example.com", "viewer"]));
        assert!(!ok, "the only admin keeps the role: {out}");
        let (ok, out) =
            run(dango(project).args(["auth", "change-role", "ed@example.com", "viewer"]));
        assert!(ok, "{out}");
        assert_eq!(me(ed.clone()).await["role"], "viewer");
        let (ok, out) = run(dango(project).args(["auth", "deactivate-user", "ed@example.com"]));
        assert!(ok, "{out}");
        let after = me(ed.clone()).await;
        assert_eq!(after["authenticated"], false, "{after}");
        assert_eq!(me(admin).await["authenticated"], true);
    });
    server.stop();
}

#[test]
fn cli_sync_runs_in_process_or_through_the_running_server() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path();
    init_with_admin(project, "Cli-Sync-Password-3");
    let uploads = sales_source(project, "id,amount\n1,10\n2,20\n");

    let (ok, out) = run(dango(project).arg("sync"));
    assert!(ok, "{out}");
    assert!(out.contains("✓ sales: 2 rows loaded"), "{out}");
    let (ok, out) = run(dango(project).args(["sync", "nope"]));
    assert!(!ok && out.contains("'nope' not found"), "{out}");
    let (ok, out) = run(dango(project).args(["sync", "--since", "2026-13-01"]));
    assert!(!ok && out.contains("YYYY-MM-DD"), "{out}");
    // the sync generated a staging model; `dango run` builds it in this process
    let (ok, out) = run(dango(project).args(["run", "--select", "stg_sales__sales"]));
    assert!(ok, "{out}");
    assert!(out.contains("OK       stg_sales__sales"), "{out}");
    let (ok, out) = run(dango(project).args(["run", "--command", "explode"]));
    assert!(!ok, "{out}");

    let (server, url) = start_server(dango(project).args(["start", "--port", "0"]));
    std::fs::write(uploads.join("b.csv"), "id,amount\n3,30\n").unwrap();
    let (ok, out) = run(dango(project).args(["sync", "sales"]));
    assert!(ok, "{out}");
    assert!(
        out.contains("Asking the running server") && out.contains("✓ sales: 1 rows loaded"),
        "{out}"
    );
    let (ok, out) = run(dango(project).arg("run"));
    assert!(ok, "{out}");
    assert!(
        out.contains("Asking the running server") && out.contains("dbt build finished"),
        "{out}"
    );

    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let client = signed_in(&url, "ops@example.com", "Cli-Sync-Password-3").await;
        let sources: serde_json::Value = client
            .get(format!("{url}/api/sources"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(sources[0]["row_count"], 3);
        let history = &sources[0];
        assert_eq!(history["status"], "synced");
        // a forged CLI token is refused
        let forged = reqwest::Client::new()
            .get(format!("{url}/api/sources"))
            .bearer_auth("dango_cli_forged")
            .send()
            .await
            .unwrap();
        assert_eq!(forged.status(), 401);
    });
    server.stop();
    assert!(
        !project.join(".dango/state/server.json").exists(),
        "the CLI token is withdrawn at shutdown"
    );
    // every run the CLI started, in this process or through the server, is recorded as `cli`
    runtime.block_on(async {
        let app = dango::App::open(project).await.unwrap();
        let runs = dango::runs::recent(&app.state().db, 20).await.unwrap();
        let by_cli: Vec<(&str, &str)> = runs
            .iter()
            .filter(|r| r.trigger != "watcher")
            .map(|r| (r.kind.as_str(), r.trigger.as_str()))
            .collect();
        assert_eq!(
            by_cli,
            [("transform", "cli"), ("sync", "cli"), ("sync", "cli")],
            "{runs:?}"
        );
    });
}

#[test]
fn schedule_commands_edit_the_file_and_go_through_the_running_server() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path();
    init_with_admin(project, "Cli-Schedule-Password-4");
    sales_source(project, "id,amount\n1,10\n");
    let schedules = project.join(".dango/schedules.yml");
    std::fs::write(&schedules, "# kept\nschedules: []\n").unwrap();

    let (ok, out) = run(dango(project).args(["schedule", "list"]));
    assert!(ok && out.contains("No schedules"), "{out}");
    let add = [
        "schedule",
        "add",
        "nightly",
        "--cron",
        "daily",
        "--sources",
        "sales",
    ];
    let (ok, out) = run(dango(project).args(add));
    assert!(ok && out.contains("Added schedule 'nightly'"), "{out}");
    let (ok, out) = run(dango(project).args(add));
    assert!(!ok && out.contains("--replace"), "{out}");
    let (ok, out) = run(dango(project).args([
        "schedule",
        "add",
        "bad",
        "--cron",
        "61 * * * *",
        "--sources",
        "sales",
    ]));
    assert!(!ok && out.contains("cron"), "{out}");
    let (ok, out) = run(dango(project).args([
        "schedule",
        "add",
        "other",
        "--cron",
        "daily",
        "--sources",
        "nowhere",
    ]));
    assert!(!ok && out.contains("'nowhere'"), "{out}");
    assert!(
        std::fs::read_to_string(&schedules)
            .unwrap()
            .starts_with("# kept\n")
    );
    let (ok, out) = run(dango(project).args(["schedule", "list"]));
    assert!(
        ok && out.contains("nightly") && out.contains("Daily at 6 AM"),
        "{out}"
    );
    let (ok, out) = run(dango(project).args(["schedule", "validate"]));
    assert!(ok && out.contains("1 schedule(s), valid"), "{out}");
    let (ok, out) = run(dango(project).args(["schedule", "trigger", "nightly"]));
    assert!(!ok && out.contains("dango start"), "{out}");

    // with the server running: triggered there, listed with its last run
    let (server, _url) = start_server(dango(project).args(["start", "--port", "0"]));
    let (ok, out) = run(dango(project).args(["schedule", "trigger", "nightly"]));
    assert!(ok && out.contains(": success"), "{out}");
    let (ok, out) = run(dango(project).args(["schedule", "list"]));
    assert!(ok && out.contains("last run success"), "{out}");
    let (ok, out) = run(dango(project).args(["schedule", "remove", "nightly"]));
    assert!(ok && out.contains("Removed"), "{out}");
    let (ok, out) = run(dango(project).args(["schedule", "list"]));
    assert!(ok && out.contains("No schedules"), "{out}");
    server.stop();
    assert_eq!(
        std::fs::read_to_string(&schedules).unwrap(),
        "# kept\nschedules: []\n"
    );
    // the start was journaled (the first one always is); another with no change is not
    let journal = project.join(".dango/state/deployments.jsonl");
    let text = std::fs::read_to_string(&journal).unwrap();
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.contains("\"first start\""), "{text}");
    let (again, _url) = start_server(dango(project).args(["start", "--port", "0"]));
    again.stop();
    let text = std::fs::read_to_string(&journal).unwrap();
    assert_eq!(
        text.lines().count(),
        2,
        "schedules.yml changed since: {text}"
    );
    assert!(
        text.lines()
            .last()
            .unwrap()
            .contains(".dango/schedules.yml"),
        "{text}"
    );
}

#[test]
fn demo_starts_with_synced_sample_data() {
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("demo");
    let mut command = Command::new(env!("CARGO_BIN_EXE_dango"));
    command
        .args(["demo"])
        .arg(&demo)
        .args(["--port", "0"])
        .env("DANGO_ADMIN_EMAIL", "demo@example.com")
        .env("DANGO_ADMIN_PASSWORD", "Sample-Admin-Password-5")
        .env("DANGO_LOG", "warn");
    let (server, url) = start_server(&mut command);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let client = signed_in(&url, "demo@example.com", "Sample-Admin-Password-5").await;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let sources: serde_json::Value = client
                .get(format!("{url}/api/sources"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let counts: Vec<(String, i64)> = sources
                .as_array()
                .unwrap()
                .iter()
                .map(|s| {
                    (
                        s["name"].as_str().unwrap().to_string(),
                        s["row_count"].as_i64().unwrap_or(0),
                    )
                })
                .collect();
            if counts.iter().all(|(_, n)| *n > 0)
                && sources
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(|s| s["status"] == "synced")
            {
                assert_eq!(
                    counts,
                    vec![
                        ("customers".into(), 1000),
                        ("orders".into(), 6000),
                        ("products".into(), 50)
                    ]
                );
                break;
            }
            assert!(Instant::now() < deadline, "demo not synced: {sources}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    server.stop();
}

#[test]
fn dango_run_names_failing_tests_as_dbt_does() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path();
    assert!(run(dango(project).arg("init")).0);
    let models = project.join("dbt/models/marts");
    std::fs::create_dir_all(&models).unwrap();
    std::fs::write(
        models.join("dim_customers.sql"),
        "select 1 as customer_id union all select null",
    )
    .unwrap();
    std::fs::write(
        models.join("dim_customers.yml"),
        "version: 2\nmodels:\n  - name: dim_customers\n    columns:\n      - name: customer_id\n        data_tests: [not_null]\n",
    )
    .unwrap();
    let (ok, out) = run(dango(project).arg("run"));
    assert!(!ok, "a failing test fails the run: {out}");
    assert!(
        out.contains("FAIL     not_null_dim_customers_customer_id"),
        "the test is named, not hashed: {out}"
    );
}

/// `dango mcp` speaks MCP on stdio, one JSON-RPC message per line, as the local CLI: it
/// starts the platform itself when no server runs.
#[test]
fn mcp_on_stdio_answers_line_by_line() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path();
    init_with_admin(project, "Cli-Mcp-Password-7");
    let mut child = Server(
        dango(project)
            .arg("mcp")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut stdin = child.0.stdin.take().unwrap();
    let mut lines = BufReader::new(child.0.stdout.take().unwrap()).lines();
    let messages = [
        r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"cli-test","version":"1"}}}"#,
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
        r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"run_query","arguments":{"sql":"SELECT 40 + 2 AS answer"}}}"#,
    ];
    for message in messages {
        writeln!(stdin, "{message}").unwrap();
    }
    stdin.flush().unwrap();
    let first: serde_json::Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(first["result"]["serverInfo"]["name"], "dango", "{first}");
    let second: serde_json::Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(second["id"], 2, "the notification got no answer line");
    assert_eq!(second["result"]["isError"], false, "{second}");
    assert_eq!(
        second["result"]["structuredContent"]["rows"],
        serde_json::json!([[42]])
    );
    drop(stdin);
    assert!(child.0.wait().unwrap().success());
}

/// `dango init` with the admin `ops@example.com` and `password`, which must succeed.
/// A csv source `sales` whose folder holds `a.csv` with `csv`; returns the folder.
fn sales_source(project: &std::path::Path, csv: &str) -> std::path::PathBuf {
    std::fs::write(
        project.join(".dango/sources.yml"),
        "version: \"1.0\"\nsources:\n  - name: sales\n    type: csv\n    csv: {directory: data/uploads/sales}\n",
    )
    .unwrap();
    let uploads = project.join("data/uploads/sales");
    std::fs::create_dir_all(&uploads).unwrap();
    std::fs::write(uploads.join("a.csv"), csv).unwrap();
    uploads
}

fn init_with_admin(project: &std::path::Path, password: &str) {
    let (ok, out) = run(dango(project)
        .arg("init")
        .env("DANGO_ADMIN_EMAIL", "ops@example.com")
        .env("DANGO_ADMIN_PASSWORD", password));
    assert!(ok, "{out}");
}
