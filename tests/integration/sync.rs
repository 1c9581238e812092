//! File sources and the sync engine, driven over HTTP: upload, sync, incremental
//! changes, schema drift, failures that change nothing, empty-replace protection,
//! concurrency, listing and deleting files, live events.

use crate::common::{TestApp, error_body, json};
use dango::auth::Role;
use futures::StreamExt;
use serde_json::{Value, json};

const SALES: &str = "  - name: sales\n    type: csv\n    csv: {directory: data/uploads/sales}\n";
const MIXED: &str =
    "  - name: mixed\n    type: local_files\n    local_files: {directory: data/uploads/mixed}\n";

fn csv(rows: &[(i64, &str, f64)]) -> Vec<u8> {
    let mut out = String::from("id,email,amount\n");
    for (id, email, amount) in rows {
        out.push_str(&format!("{id},{email},{amount}\n"));
    }
    out.into_bytes()
}

async fn editor_app(sources: &str) -> (TestApp, reqwest::Client) {
    let app = TestApp::start().await;
    app.write_sources(sources);
    let client = app.login_as(Role::Editor).await;
    (app, client)
}

#[tokio::test]
async fn upload_and_sync_end_to_end() {
    let (app, client) = editor_app(SALES).await;
    let before = app.get_json(&client, "/api/sources").await;
    assert_eq!(before[0]["status"], "not_synced");
    assert_eq!(before[0]["freshness"]["status"], "never_synced");

    let uploaded = json(
        app.upload(
            &client,
            "sales",
            "jan.csv",
            csv(&[(1, "a@x.io", 10.5), (2, "b@x.io", 20.0)]),
            true,
        )
        .await,
    )
    .await;
    assert_eq!(uploaded["file_name"], "jan.csv");
    assert_eq!(uploaded["auto_sync"], true);
    let run = app
        .wait_run(&client, uploaded["run_id"].as_str().unwrap())
        .await;
    assert_eq!(run["status"], "success", "{run}");
    assert_eq!(run["rows_processed"], 2);
    assert_eq!(run["results"][0]["source"], "sales");

    assert_eq!(app.count("raw_sales.sales").await, 2);
    let files = app
        .query("SELECT DISTINCT _dango_filename FROM raw_sales.sales")
        .await;
    assert_eq!(files, ["jan.csv"]);
    assert_eq!(
        app.query("SELECT count(*) FROM raw_sales.sales WHERE _dango_loaded_at IS NULL")
            .await,
        ["0"]
    );

    let list = app.get_json(&client, "/api/sources").await;
    let sales = &list[0];
    assert_eq!(sales["status"], "synced");
    assert_eq!(sales["row_count"], 2);
    assert_eq!(sales["tables"][0]["schema"], "raw_sales");
    assert_eq!(sales["freshness"]["status"], "synced");
    assert_eq!(sales["freshness"]["days_old"], 0);

    let details = app.get_json(&client, "/api/sources/sales/details").await;
    assert_eq!(details["history"][0]["status"], "success");
    assert_eq!(details["history"][0]["details"]["files_new"][0], "jan.csv");
    assert_eq!(details["config"]["csv"]["directory"], "data/uploads/sales");

    let files = app.get_json(&client, "/api/sources/sales/csv-files").await;
    assert_eq!(files["files_on_disk"], 1);
    assert_eq!(files["files"][0]["status"], "loaded");
    assert_eq!(files["files"][0]["rows_loaded"], 2);

    let logs = app.get_json(&client, "/api/sources/sales/logs").await;
    assert!(
        logs.as_array()
            .unwrap()
            .iter()
            .any(|l| l["message"].as_str().unwrap().starts_with("Sync completed")),
        "{logs}"
    );
    let all = app.get_json(&client, "/api/logs?limit=2").await;
    assert_eq!(all.as_array().unwrap().len(), 2);

    let health = app.get_json(&client, "/api/health/platform").await;
    assert_eq!(health["database"]["raw_tables"], 1);
    assert_eq!(health["total_sources"], 1);
}

#[tokio::test]
async fn the_activity_log_filters_by_level_source_text_time_and_page() {
    let (app, client) = editor_app(SALES).await;
    let dir = app.root().join("data/uploads/sales");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("a.csv"), csv(&[(1, "a@x.io", 1.0)])).unwrap();
    app.sync(&client, "sales", json!({})).await;
    let entries = |path: &'static str| {
        let (app, client) = (&app, &client);
        async move { app.get_json(client, path).await.as_array().unwrap().clone() }
    };
    let all = entries("/api/logs").await;
    assert!(all.len() >= 3, "{all:?}");
    let ids: Vec<i64> = all.iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first: {ids:?}");

    let success = entries("/api/logs?level=success").await;
    assert!(!success.is_empty() && success.iter().all(|e| e["level"] == "success"));
    let completed = entries("/api/logs?q=SYNC%20COMPLETED&source=sales").await;
    assert!(!completed.is_empty(), "text matches whatever the case");
    assert!(completed.iter().all(|e| {
        e["source"] == "sales"
            && e["message"]
                .as_str()
                .unwrap()
                .to_lowercase()
                .contains("sync completed")
    }));
    // LIKE's wildcards are taken as written
    assert!(entries("/api/logs?q=%25").await.is_empty());
    assert!(
        entries("/api/logs?q=s_les").await.is_empty(),
        "_ is not any character"
    );
    assert!(
        entries("/api/logs?since=2999-01-01T00:00:00Z")
            .await
            .is_empty()
    );
    assert!(
        entries("/api/logs?until=2000-01-01T00:00:00Z")
            .await
            .is_empty()
    );
    assert_eq!(
        entries("/api/logs?since=2000-01-01T00:00:00Z").await.len(),
        all.len()
    );
    // a page further on starts where the one before ended
    let second = entries("/api/logs?limit=1&offset=1").await;
    assert_eq!(second[0]["id"], all[1]["id"]);

    let refused = app.get(&client, "/api/logs?level=loud").await;
    let body = error_body(refused, 400).await;
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("parameter `level`"),
        "{body}"
    );
}

#[tokio::test]
async fn incremental_sync_loads_only_changes_and_removes_deleted_files() {
    let (app, client) = editor_app(SALES).await;
    let dir = app.root().join("data/uploads/sales");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("a.csv"),
        csv(&[(1, "a@x.io", 1.0), (2, "b@x.io", 2.0)]),
    )
    .unwrap();
    std::fs::write(dir.join("b.csv"), csv(&[(3, "c@x.io", 3.0)])).unwrap();
    let first = app.sync(&client, "sales", json!({})).await;
    assert_eq!(first["rows_processed"], 3);

    // nothing changed: nothing loaded
    let second = app.sync(&client, "sales", json!({})).await;
    assert_eq!(second["status"], "success");
    assert_eq!(second["rows_processed"], 0);
    assert_eq!(second["results"][0]["details"]["files_unchanged"], 2);

    // same content rewritten (new mtime): recognised by its hash, not reloaded
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    std::fs::write(dir.join("b.csv"), csv(&[(3, "c@x.io", 3.0)])).unwrap();
    let touched = app.sync(&client, "sales", json!({})).await;
    assert_eq!(touched["rows_processed"], 0);

    // a changed file replaces its own rows; a new file adds; a deleted file's rows go
    std::fs::write(dir.join("a.csv"), csv(&[(1, "a@x.io", 100.0)])).unwrap();
    std::fs::write(
        dir.join("c.csv"),
        csv(&[(4, "d@x.io", 4.0), (5, "e@x.io", 5.0)]),
    )
    .unwrap();
    std::fs::remove_file(dir.join("b.csv")).unwrap();
    let third = app.sync(&client, "sales", json!({})).await;
    assert_eq!(third["status"], "success", "{third}");
    let details = &third["results"][0]["details"];
    assert_eq!(details["files_updated"], json!(["a.csv"]));
    assert_eq!(details["files_new"], json!(["c.csv"]));
    assert_eq!(details["files_deleted"], json!(["b.csv"]));
    assert_eq!(third["rows_processed"], 3);
    assert_eq!(app.query("SELECT string_agg(id::VARCHAR || ':' || amount::VARCHAR, ',' ORDER BY id) FROM raw_sales.sales").await, ["1:100,4:4,5:5"]);

    // full refresh reloads every file
    let full = app
        .sync(&client, "sales", json!({"full_refresh": true}))
        .await;
    assert_eq!(full["status"], "success", "{full}");
    assert_eq!(full["rows_processed"], 3);
    assert_eq!(app.count("raw_sales.sales").await, 3);
}

#[tokio::test]
async fn schema_changes_evolve_the_table_and_are_recorded_as_drift() {
    let (app, client) = editor_app(MIXED).await;
    let dir = app.root().join("data/uploads/mixed");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("a.csv"), "id,code\n1,10\n2,20\n").unwrap();
    assert_eq!(
        app.sync(&client, "mixed", json!({})).await["status"],
        "success"
    );
    // new column `note`, and `code` now holds text
    std::fs::write(dir.join("b.csv"), "id,code,note\n3,X7,hello\n").unwrap();
    let run = app.sync(&client, "mixed", json!({})).await;
    assert_eq!(run["status"], "success", "{run}");
    assert_eq!(
        app.query("SELECT coalesce(note, 'NULL') FROM raw_mixed.mixed ORDER BY id")
            .await,
        ["NULL", "NULL", "hello"]
    );
    assert_eq!(
        app.query("SELECT code FROM raw_mixed.mixed ORDER BY id")
            .await,
        ["10", "20", "X7"]
    );
    let drift: Vec<(String, String, String)> = dango_entity::schema_drift_events::Entity::find()
        .all(app.db())
        .await
        .unwrap()
        .into_iter()
        .map(|d| (d.column_name, d.change_type, d.new_type.unwrap_or_default()))
        .collect();
    assert!(
        drift.contains(&("note".into(), "column_added".into(), "VARCHAR".into())),
        "{drift:?}"
    );
    assert!(
        drift.contains(&("code".into(), "type_changed".into(), "VARCHAR".into())),
        "{drift:?}"
    );

    // JSON lines and Parquet in the same source
    std::fs::write(
        dir.join("c.jsonl"),
        "{\"id\": 4, \"code\": \"J\"}\n{\"id\": 5, \"code\": \"K\"}\n",
    )
    .unwrap();
    let run = app.sync(&client, "mixed", json!({})).await;
    assert_eq!(run["status"], "success", "{run}");
    assert_eq!(app.count("raw_mixed.mixed").await, 5);
}

use sea_orm::EntityTrait;

#[tokio::test]
async fn a_broken_file_fails_the_sync_and_changes_nothing() {
    let (app, client) = editor_app(SALES).await;
    let dir = app.root().join("data/uploads/sales");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("a.csv"),
        csv(&[(1, "a@x.io", 1.0), (2, "b@x.io", 2.0)]),
    )
    .unwrap();
    app.sync(&client, "sales", json!({})).await;

    std::fs::write(dir.join("a.csv"), csv(&[(1, "a@x.io", 9.0)])).unwrap();
    // a ragged row with bytes that are not UTF-8: DuckDB refuses the file
    std::fs::write(
        dir.join("z.csv"),
        b"id,email,amount\n1,a@x.io,5\n2,\xff\xfe,6,7,8\n",
    )
    .unwrap();
    let run = app.sync(&client, "sales", json!({})).await;
    assert_eq!(run["status"], "failed", "{run}");
    let error = run["error"].as_str().unwrap();
    assert!(error.contains("z.csv"), "{error}");
    // a.csv's change was not applied either: one transaction
    assert_eq!(
        app.query("SELECT string_agg(amount::VARCHAR, ',' ORDER BY id) FROM raw_sales.sales")
            .await,
        ["1,2"]
    );
    let sources = app.get_json(&client, "/api/sources").await;
    assert_eq!(sources[0]["status"], "failed");
    assert_eq!(sources[0]["row_count"], 2);
    let health = app.get_json(&client, "/api/health/platform").await;
    assert_eq!(health["sync_failures"][0]["source"], "sales");
    assert_eq!(health["sync_failures"][0]["count"], 1);
    // a second failure is counted, and the newest error is the one shown
    let run = app.sync(&client, "sales", json!({})).await;
    assert_eq!(run["status"], "failed", "{run}");
    let health = app.get_json(&client, "/api/health/platform").await;
    assert_eq!(health["sync_failures"][0]["count"], 2, "{health}");
    assert!(
        health["sync_failures"][0]["last_error"]
            .as_str()
            .unwrap()
            .contains("z.csv")
    );

    // fixing the file makes the next sync succeed with both changes
    std::fs::remove_file(dir.join("z.csv")).unwrap();
    let run = app.sync(&client, "sales", json!({})).await;
    assert_eq!(run["status"], "success", "{run}");
    assert_eq!(
        app.query("SELECT string_agg(amount::VARCHAR, ',' ORDER BY id) FROM raw_sales.sales")
            .await,
        ["9"]
    );
}

#[tokio::test]
async fn empty_replacement_is_refused_unless_allowed() {
    let (app, client) = editor_app(SALES).await;
    let dir = app.root().join("data/uploads/sales");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("a.csv"), csv(&[(1, "a@x.io", 1.0)])).unwrap();
    app.sync(&client, "sales", json!({})).await;

    // the file vanished from disk (unmounted share, wrong directory): keep the data
    std::fs::remove_file(dir.join("a.csv")).unwrap();
    let run = app.sync(&client, "sales", json!({})).await;
    assert_eq!(run["status"], "failed");
    assert!(
        run["error"].as_str().unwrap().contains("preserved"),
        "{run}"
    );
    assert_eq!(app.count("raw_sales.sales").await, 1);
    let full = app
        .sync(&client, "sales", json!({"full_refresh": true}))
        .await;
    assert_eq!(full["status"], "failed");
    assert_eq!(app.count("raw_sales.sales").await, 1);

    // a file rewritten with only a header keeps its previous rows
    std::fs::write(dir.join("a.csv"), csv(&[(1, "a@x.io", 1.0)])).unwrap();
    app.sync(&client, "sales", json!({})).await;
    std::fs::write(dir.join("a.csv"), "id,email,amount\n").unwrap();
    let kept = app.sync(&client, "sales", json!({})).await;
    assert_eq!(kept["status"], "success");
    assert_eq!(app.count("raw_sales.sales").await, 1);

    // explicitly allowed: emptied
    std::fs::remove_file(dir.join("a.csv")).unwrap();
    let allowed = app
        .sync(&client, "sales", json!({"allow_empty_replace": true}))
        .await;
    assert_eq!(allowed["status"], "success", "{allowed}");
    assert_eq!(app.count("raw_sales.sales").await, 0);
}

#[tokio::test]
async fn a_second_sync_of_a_running_source_gets_409() {
    let (app, client) = editor_app(SALES).await;
    let dir = app.root().join("data/uploads/sales");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("a.csv"), csv(&[(1, "a@x.io", 1.0)])).unwrap();
    // Hold the warehouse writer so the first sync stays running.
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let warehouse = app.server.state.warehouse.clone();
    let holder = tokio::spawn(async move {
        warehouse
            .write(move |_| {
                let _ = release_rx.recv_timeout(std::time::Duration::from_secs(30));
                Ok(())
            })
            .await
    });
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let first = json(
        app.post_json(&client, "/api/sources/sales/sync", json!({}))
            .await,
    )
    .await;
    let second = app
        .post_json(&client, "/api/sources/sales/sync", json!({}))
        .await;
    let body = error_body(second, 409).await;
    assert_eq!(body["run_id"], first["record_id"]);
    let trigger = app
        .post_json(&client, "/api/sync/trigger", json!({"sources": ["sales"]}))
        .await;
    error_body(trigger, 409).await;
    let listed = app.get_json(&client, "/api/sources").await;
    assert_eq!(listed[0]["status"], "syncing");
    release_tx.send(()).unwrap();
    holder.await.unwrap().unwrap();
    let done = app
        .wait_run(&client, first["record_id"].as_str().unwrap())
        .await;
    assert_eq!(done["status"], "success");
    // afterwards a new sync is accepted
    let again = app.sync(&client, "sales", json!({})).await;
    assert_eq!(again["status"], "success");
}

#[tokio::test]
async fn uploads_reject_bad_input_and_never_overwrite() {
    let (app, client) = editor_app(&format!("{SALES}{MIXED}  - name: api\n    type: rest_api\n    rest_api: {{base_url: 'http://x', endpoints: [a]}}\n")).await;
    let ok = app
        .upload(&client, "sales", "a.csv", csv(&[(1, "a@x.io", 1.0)]), false)
        .await;
    assert_eq!(json(ok).await["auto_sync"], false);
    let dup = app
        .upload(&client, "sales", "a.csv", csv(&[(2, "b@x.io", 1.0)]), false)
        .await;
    assert!(
        error_body(dup, 409).await["detail"]
            .as_str()
            .unwrap()
            .contains("already exists")
    );
    assert_eq!(
        std::fs::read(app.root().join("data/uploads/sales/a.csv")).unwrap(),
        csv(&[(1, "a@x.io", 1.0)])
    );

    let wrong = app
        .upload(&client, "sales", "a.json", b"{}".to_vec(), false)
        .await;
    assert_eq!(
        error_body(wrong, 400).await["detail"],
        "Only CSV files are supported for this source"
    );
    let exe = app
        .upload(&client, "mixed", "run.exe", vec![1, 2], false)
        .await;
    error_body(exe, 400).await;
    let unknown = app.upload(&client, "nope", "a.csv", vec![], false).await;
    error_body(unknown, 404).await;
    let bad_name = app
        .upload(&client, "bad-name!", "a.csv", vec![], false)
        .await;
    error_body(bad_name, 400).await;
    let not_files = app.upload(&client, "api", "a.csv", vec![], false).await;
    error_body(not_files, 400).await;

    // traversal in the upload name: stored inside the source directory under its last component
    let sneaky = json(
        app.upload(
            &client,
            "sales",
            "../../../../tmp/evil.csv",
            csv(&[(1, "a", 1.0)]),
            false,
        )
        .await,
    )
    .await;
    assert_eq!(sneaky["file_name"], "evil.csv");
    assert!(app.root().join("data/uploads/sales/evil.csv").exists());

    // not multipart at all
    let raw = client
        .post(app.url("/api/sources/sales/upload-csv"))
        .header("Content-Type", "text/csv")
        .body("id\n1\n")
        .send()
        .await
        .unwrap();
    let status = raw.status().as_u16();
    assert!(status == 400 || status == 415, "{status}");
    error_body(raw, status).await;

    // viewers cannot upload
    let viewer = app.login_as(Role::Viewer).await;
    error_body(
        app.upload(&viewer, "sales", "v.csv", vec![], false).await,
        403,
    )
    .await;
}

#[tokio::test]
async fn uploads_over_100_mb_are_refused_and_leave_nothing() {
    let (app, client) = editor_app(SALES).await;
    let mut big = b"id\n".to_vec();
    big.resize(100 * 1024 * 1024 + 1, b'1');
    let response = app.upload(&client, "sales", "big.csv", big, false).await;
    assert_eq!(
        error_body(response, 413).await["detail"],
        "File too large. Maximum upload size is 100 MB."
    );
    let dir = app.root().join("data/uploads/sales");
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .map(|d| d.flatten().collect())
        .unwrap_or_default();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // declared bigger than the limit: refused before reading
    let huge = client
        .post(app.url("/api/sources/sales/upload-csv"))
        .header("Content-Type", "multipart/form-data; boundary=x")
        .header("Content-Length", (200u64 * 1024 * 1024).to_string())
        .body("--x--")
        .send()
        .await;
    if let Ok(response) = huge {
        error_body(response, 413).await;
    }
}

#[tokio::test]
async fn deleting_files_is_confined_to_the_source_directory() {
    let (app, client) = editor_app(SALES).await;
    json(
        app.upload(
            &client,
            "sales",
            "a.csv",
            csv(&[(1, "a@x.io", 1.0), (2, "b", 2.0)]),
            false,
        )
        .await,
    )
    .await;
    json(
        app.upload(&client, "sales", "b.csv", csv(&[(3, "c", 3.0)]), false)
            .await,
    )
    .await;
    app.sync(&client, "sales", json!({})).await;
    std::fs::write(app.root().join("secret.csv"), "x\n1\n").unwrap();

    for path in [
        "../../secret.csv",
        app.root().join("secret.csv").to_str().unwrap(),
        "/etc/passwd",
    ] {
        let r = client
            .delete(app.url("/api/sources/sales/csv-files"))
            .query(&[("file_path", path)])
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        assert!(status == 403 || status == 404, "{path}: {status}");
        error_body(r, status).await;
    }
    assert!(app.root().join("secret.csv").exists());
    let missing = client
        .delete(app.url("/api/sources/sales/csv-files"))
        .query(&[("file_path", "nope.csv")])
        .send()
        .await
        .unwrap();
    error_body(missing, 404).await;

    let list = app.get_json(&client, "/api/sources/sales/csv-files").await;
    let a_path = list["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["filename"] == "a.csv")
        .unwrap()["path"]
        .as_str()
        .unwrap()
        .to_string();
    let deleted = json(
        client
            .delete(app.url("/api/sources/sales/csv-files"))
            .query(&[("file_path", a_path.as_str())])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(deleted["rows_removed"], 2);
    assert!(!app.root().join("data/uploads/sales/a.csv").exists());
    assert_eq!(app.count("raw_sales.sales").await, 1);
    // relative paths work too; deleting the last file empties the table (explicit intent)
    json(
        client
            .delete(app.url("/api/sources/sales/csv-files"))
            .query(&[("file_path", "b.csv")])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(app.count("raw_sales.sales").await, 0);
    let next = app.sync(&client, "sales", json!({})).await;
    assert_eq!(next["status"], "success", "{next}");
    let viewer = app.login_as(Role::Viewer).await;
    let r = viewer
        .delete(app.url("/api/sources/sales/csv-files"))
        .query(&[("file_path", "x.csv")])
        .send()
        .await
        .unwrap();
    error_body(r, 403).await;
}

#[tokio::test]
async fn sync_requests_are_validated() {
    let (app, client) = editor_app(&format!(
        "{SALES}  - name: off\n    type: csv\n    enabled: false\n    csv: {{directory: d}}\n"
    ))
    .await;
    for (body, status) in [
        (json!({"start_date": "2026-02-30"}), 400),
        (json!({"start_date": "yesterday"}), 400),
        (
            json!({"start_date": "2026-03-01", "end_date": "2026-02-01"}),
            400,
        ),
    ] {
        let r = app
            .post_json(&client, "/api/sources/sales/sync", body)
            .await;
        error_body(r, status).await;
    }
    error_body(
        app.post_json(&client, "/api/sources/ghost/sync", json!({}))
            .await,
        404,
    )
    .await;
    error_body(
        app.post_json(&client, "/api/sources/off/sync", json!({}))
            .await,
        400,
    )
    .await;
    error_body(
        app.post_json(&client, "/api/sync/trigger", json!({"sources": []}))
            .await,
        400,
    )
    .await;
    error_body(
        app.post_json(
            &client,
            "/api/sync/trigger",
            json!({"sources": ["sales", "ghost"]}),
        )
        .await,
        404,
    )
    .await;
    error_body(app.get(&client, "/api/sync/status/nope").await, 404).await;
    let viewer = app.login_as(Role::Viewer).await;
    error_body(
        app.post_json(&viewer, "/api/sources/sales/sync", json!({}))
            .await,
        403,
    )
    .await;

    // a broken sources.yml is reported with the key at fault
    std::fs::write(
        app.root().join(".dango/sources.yml"),
        "version: \"1.0\"\nsources:\n  - {name: s, type: csv, csv: {directory: d}, colour: red}\n",
    )
    .unwrap();
    let r = app.get(&client, "/api/sources").await;
    assert!(
        error_body(r, 400).await["detail"]
            .as_str()
            .unwrap()
            .contains("colour")
    );
}

#[tokio::test]
async fn websocket_streams_sync_events_to_signed_in_clients_only() {
    let (app, client) = editor_app(SALES).await;
    let key = app.api_key(Role::Viewer, None).await;
    let ws_url = app.url("/ws").replace("http://", "ws://");

    // anonymous upgrade refused
    let anonymous = tokio_tungstenite::connect_async(ws_url.as_str()).await;
    assert!(anonymous.is_err());
    // cross-site origin refused
    let mut request =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
            ws_url.as_str(),
        )
        .unwrap();
    request
        .headers_mut()
        .insert("Authorization", format!("Bearer {key}").parse().unwrap());
    request
        .headers_mut()
        .insert("Origin", "http://evil.example".parse().unwrap());
    assert!(tokio_tungstenite::connect_async(request).await.is_err());

    let mut request =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
            ws_url.as_str(),
        )
        .unwrap();
    request
        .headers_mut()
        .insert("Authorization", format!("Bearer {key}").parse().unwrap());
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let hello: Value =
        serde_json::from_str(socket.next().await.unwrap().unwrap().to_text().unwrap()).unwrap();
    assert_eq!(hello["type"], "connected");
    let spec = app.get_json(&client, "/api/openapi.json").await;
    assert_is_published_event(&spec, &hello);

    json(
        app.upload(&client, "sales", "a.csv", csv(&[(1, "a@x.io", 1.0)]), true)
            .await,
    )
    .await;
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    while !seen.contains(&"sync_completed".to_string()) {
        let message = tokio::time::timeout_at(deadline, socket.next())
            .await
            .expect("events in time")
            .unwrap()
            .unwrap();
        let event: Value = serde_json::from_str(message.to_text().unwrap()).unwrap();
        assert_eq!(event["type"], event["event"]);
        assert_is_published_event(&spec, &event);
        if event["type"] == "sync_completed" {
            assert_eq!(event["rows"], 1);
            assert_eq!(event["source"], "sales");
        }
        if event["type"] == "csv_uploaded" {
            assert_eq!(event["file"], "a.csv");
        }
        seen.push(event["type"].as_str().unwrap().to_string());
    }
    for expected in [
        "csv_uploaded",
        "sync_started",
        "sync_progress",
        "sync_completed",
    ] {
        assert!(
            seen.iter().any(|s| s == expected),
            "{expected} missing in {seen:?}"
        );
    }
}

/// The event has exactly the fields the OpenAPI document's `PlatformEvent` schema gives
/// its kind: every required one, and none it does not declare.
fn assert_is_published_event(spec: &Value, event: &Value) {
    let schemas = &spec["components"]["schemas"];
    let kind = event["type"].as_str().expect("type");
    let target = spec["components"]["schemas"]["PlatformEvent"]["discriminator"]["mapping"][kind]
        .as_str()
        .unwrap_or_else(|| panic!("{kind} is not in the published catalogue"));
    let resolve = |reference: &str| &schemas[reference.trim_start_matches("#/components/schemas/")];
    let (mut declared, mut required) = (Vec::new(), Vec::new());
    for part in resolve(target)["allOf"].as_array().expect("allOf") {
        let part = match part["$ref"].as_str() {
            Some(reference) => resolve(reference),
            None => part,
        };
        if let Some(properties) = part["properties"].as_object() {
            declared.extend(properties.keys().cloned());
        }
        if let Some(names) = part["required"].as_array() {
            required.extend(names.iter().filter_map(Value::as_str).map(str::to_string));
        }
    }
    let fields = event.as_object().expect("an object");
    for name in fields.keys() {
        assert!(
            declared.contains(name),
            "{kind}: `{name}` is not published: {event}"
        );
    }
    for name in &required {
        assert!(
            fields.contains_key(name),
            "{kind}: `{name}` is missing: {event}"
        );
    }
}

#[tokio::test]
async fn source_statuses_are_cached_until_something_changes() {
    let (app, client) = editor_app(SALES).await;
    let list = || async { app.get_json(&client, "/api/sources").await };
    let first = list().await;
    assert_eq!(first[0]["status"], "not_synced");
    let warehouse = app.server.state.warehouse.clone();
    let before = warehouse.uses();
    for _ in 0..5 {
        list().await;
    }
    assert_eq!(warehouse.uses(), before, "polling asks nothing of DuckDB");

    // a sync shows at once
    app.upload(
        &client,
        "sales",
        "a.csv",
        csv(&[(1, "a@x.io", 1.0), (2, "b@x.io", 2.0)]),
        false,
    )
    .await;
    assert_eq!(
        app.sync(&client, "sales", json!({})).await["status"],
        "success"
    );
    let synced = list().await;
    assert_eq!(synced[0]["row_count"], 2);
    assert_eq!(synced[0]["status"], "synced");
    assert!(synced[0]["last_sync"].is_string());

    // so does an edit of sources.yml, even one right after another of the same length
    app.write_sources(&format!(
        "{SALES}  - name: other\n    type: csv\n    csv: {{directory: data/uploads/other}}\n"
    ));
    assert_eq!(list().await.as_array().unwrap().len(), 2);
    app.write_sources(&format!(
        "{SALES}  - name: otter\n    type: csv\n    csv: {{directory: data/uploads/otter}}\n"
    ));
    let names: Vec<String> = list()
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["otter", "sales"]);
}

#[tokio::test]
async fn a_large_upload_arrives_byte_for_byte() {
    let (app, client) = editor_app(SALES).await;
    // 12 MB with no repeating pattern at chunk boundaries
    let mut body = b"id,payload\n".to_vec();
    let mut i: u64 = 0;
    while body.len() < 12 * 1024 * 1024 {
        body.extend_from_slice(
            format!("{i},{:x}\n", i.wrapping_mul(0x9E37_79B9_7F4A_7C15)).as_bytes(),
        );
        i += 1;
    }
    let uploaded = json(
        app.upload(&client, "sales", "big.csv", body.clone(), false)
            .await,
    )
    .await;
    assert_eq!(uploaded["size"], body.len());
    let dir = app.root().join("data/uploads/sales");
    assert_eq!(std::fs::read(dir.join("big.csv")).unwrap(), body);
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".upload-"))
        .collect();
    assert!(leftovers.is_empty(), "no temporary file is left behind");
}
