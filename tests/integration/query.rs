//! `POST /api/query`: people and scripts ask the warehouse read-only questions and get
//! faithful answers; everything else (writes, files, settings, bombs) is refused or
//! stopped, and leaves the warehouse and the host as they were.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use dango::auth::Role;
use serde_json::{Value, json};

use crate::common::{TestApp, error_body, json};

impl TestApp {
    /// `client` asks `sql` and gets the raw answer.
    async fn ask_raw(&self, client: &reqwest::Client, body: Value) -> reqwest::Response {
        self.post_json(client, "/api/query", body).await
    }

    /// `client` asks `sql`, which must be answered; the JSON result.
    async fn ask(&self, client: &reqwest::Client, sql: &str) -> Value {
        json(self.ask_raw(client, json!({"sql": sql})).await).await
    }

    /// `client` asks `sql`, which must be refused with `status`; the error body.
    async fn ask_refused(&self, client: &reqwest::Client, sql: &str, status: u16) -> Value {
        let response = self.ask_raw(client, json!({"sql": sql})).await;
        error_body(response, status).await
    }

    /// Runs `sql` (setup, not a user's query) on the warehouse's writer.
    async fn warehouse_setup(&self, sql: &str) {
        let sql = sql.to_string();
        self.server
            .state
            .warehouse
            .write(move |conn| conn.execute_batch(&sql).map_err(dango::Error::internal))
            .await
            .expect("warehouse setup");
    }

    /// Every table and view with its row count: what "the warehouse is untouched" means.
    async fn warehouse_inventory(&self) -> BTreeMap<String, String> {
        let tables = self
            .query(
                "SELECT schema_name || '.' || table_name FROM duckdb_tables() \
                 UNION ALL SELECT schema_name || '.' || view_name FROM duckdb_views() \
                 WHERE NOT internal ORDER BY 1",
            )
            .await;
        let mut inventory = BTreeMap::new();
        for table in tables {
            let count = self
                .query(&format!("SELECT count(*)::VARCHAR FROM {table}"))
                .await;
            inventory.insert(table, count.join(""));
        }
        let settings = self
            .query(
                "SELECT name || '=' || coalesce(value, '') FROM duckdb_settings() \
                 WHERE name IN ('enable_external_access', 'threads', 'memory_limit', \
                 'allow_community_extensions', 'autoload_known_extensions', 'temp_directory')",
            )
            .await;
        inventory.insert("settings".into(), settings.join(";"));
        let attached = self
            .query("SELECT database_name FROM duckdb_databases()")
            .await;
        inventory.insert("databases".into(), attached.join(";"));
        inventory
    }
}

const ORDERS: &str = "CREATE SCHEMA IF NOT EXISTS marts; \
    CREATE TABLE marts.orders AS SELECT range AS id, 'customer-' || range AS customer, \
    (range * 1.25)::DECIMAL(10, 2) AS amount FROM range(25000);";

async fn app_with_orders(edit: impl FnOnce(&mut dango::config::ProjectConfig)) -> TestApp {
    let app = TestApp::start_with(edit).await;
    app.warehouse_setup(ORDERS).await;
    app
}

#[tokio::test]
async fn an_editor_gets_typed_faithful_values() {
    let app = TestApp::start().await;
    app.warehouse_setup(
        "CREATE TABLE typed AS SELECT \
           12.345::DECIMAL(18, 3) AS price, \
           9007199254740993::BIGINT AS big, \
           42::BIGINT AS small, \
           170141183460469231731687303715884105727::HUGEINT AS huge, \
           'nan'::DOUBLE AS not_a_number, \
           'inf'::DOUBLE AS infinite, \
           1.5::DOUBLE AS ratio, \
           TIMESTAMPTZ '2024-03-01 12:30:00+00' AS paid_at, \
           TIMESTAMP '2024-03-01 12:30:00.5' AS created_at, \
           DATE '2024-02-29' AS day, \
           [1, 2, 3] AS list, \
           {'a': 1, 'b': 'x'} AS struct, \
           MAP {'k': 1} AS map, \
           '\\x00\\xFF'::BLOB AS blob, \
           NULL::VARCHAR AS missing, \
           true AS flag, \
           'Grüße, 世界' AS text, \
           '6f1b2c3d-0000-4000-8000-000000000001'::UUID AS id, \
           INTERVAL '1 day 2 hours' AS wait",
    )
    .await;
    let editor = app.login_as(Role::Editor).await;
    let answer = app.ask(&editor, "SELECT * FROM typed").await;

    let types: BTreeMap<&str, &str> = answer["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap(), c["type"].as_str().unwrap()))
        .collect();
    assert_eq!(types["price"], "DECIMAL(18,3)");
    assert_eq!(types["big"], "BIGINT");
    assert_eq!(types["paid_at"], "TIMESTAMP WITH TIME ZONE");
    assert_eq!(types["list"], "INTEGER[]");
    assert_eq!(answer["row_count"], 1);
    assert_eq!(answer["truncated"], false);
    assert!(answer["elapsed_ms"].is_number());

    let names: Vec<&str> = answer["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    let row: BTreeMap<&str, &Value> = names
        .iter()
        .copied()
        .zip(answer["rows"][0].as_array().unwrap())
        .collect();
    assert_eq!(row["price"], &json!("12.345"));
    assert_eq!(row["big"], &json!("9007199254740993"));
    assert_eq!(row["small"], &json!(42));
    assert_eq!(
        row["huge"],
        &json!("170141183460469231731687303715884105727")
    );
    assert_eq!(row["not_a_number"], &json!("NaN"));
    assert_eq!(row["infinite"], &json!("Infinity"));
    assert_eq!(row["ratio"], &json!(1.5));
    assert_eq!(row["paid_at"], &json!("2024-03-01T12:30:00Z"));
    assert_eq!(row["created_at"], &json!("2024-03-01T12:30:00.500"));
    assert_eq!(row["day"], &json!("2024-02-29"));
    assert_eq!(row["list"], &json!([1, 2, 3]));
    assert_eq!(row["struct"], &json!({"a": 1, "b": "x"}));
    assert_eq!(row["map"], &json!({"k": 1}));
    assert_eq!(row["blob"], &json!("AP8="));
    assert_eq!(row["missing"], &Value::Null);
    assert_eq!(row["flag"], &json!(true));
    assert_eq!(row["text"], &json!("Grüße, 世界"));
    assert_eq!(row["id"], &json!("6f1b2c3d-0000-4000-8000-000000000001"));
    assert_eq!(row["wait"], &json!("P1DT2H"));
}

#[tokio::test]
async fn results_are_limited_and_say_when_they_were_cut() {
    let app = app_with_orders(|_| {}).await;
    let editor = app.login_as(Role::Editor).await;

    let all = app
        .ask(&editor, "SELECT id FROM marts.orders ORDER BY id")
        .await;
    assert_eq!(all["row_count"], 10_000, "the default limit");
    assert_eq!(all["truncated"], true);
    assert!(
        all["warning"].as_str().is_some_and(|w| w.contains("10000")),
        "{all}"
    );

    let few = json(
        app.ask_raw(
            &editor,
            json!({"sql": "SELECT id FROM marts.orders ORDER BY id", "limit": 3}),
        )
        .await,
    )
    .await;
    assert_eq!(few["rows"], json!([[0], [1], [2]]));
    assert_eq!(few["truncated"], true);

    let exact = json(
        app.ask_raw(
            &editor,
            json!({"sql": "SELECT 1 UNION ALL SELECT 2", "limit": 2}),
        )
        .await,
    )
    .await;
    assert_eq!(exact["row_count"], 2);
    assert_eq!(exact["truncated"], false);

    // The query's own LIMIT and trailing semicolon and comment are kept.
    let own = app
        .ask(
            &editor,
            "SELECT id FROM marts.orders ORDER BY id DESC LIMIT 2; -- newest",
        )
        .await;
    assert_eq!(own["rows"], json!([[24999], [24998]]));

    for limit in [0, 10_001] {
        let response = app
            .ask_raw(&editor, json!({"sql": "SELECT 1", "limit": limit}))
            .await;
        assert_eq!(response.status(), 400, "limit {limit}");
    }
}

#[tokio::test]
async fn downloads_hold_the_whole_result_as_csv_or_ndjson() {
    let app = app_with_orders(|_| {}).await;
    let editor = app.login_as(Role::Editor).await;
    let sql = json!({"sql": "SELECT id, customer, amount FROM marts.orders ORDER BY id"});

    let csv = editor
        .post(app.url("/api/query"))
        .header("Accept", "text/csv")
        .json(&sql)
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), 200);
    assert!(
        csv.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    assert!(
        csv.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("attachment")
    );
    assert_eq!(csv.headers()["x-dango-rows"], "25000");
    let text = csv.text().await.unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines.len(),
        25_001,
        "a header and every row, past the JSON limit"
    );
    assert_eq!(lines[0], "id,customer,amount");
    assert_eq!(lines[1], "0,customer-0,0.00");
    assert_eq!(lines[25_000], "24999,customer-24999,31248.75");

    let ndjson = editor
        .post(app.url("/api/query"))
        .header("Accept", "application/x-ndjson")
        .json(&sql)
        .send()
        .await
        .unwrap();
    assert_eq!(ndjson.status(), 200);
    let text = ndjson.text().await.unwrap();
    let rows: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 25_000);
    assert_eq!(
        rows[1],
        json!({"id": 1, "customer": "customer-1", "amount": "1.25"})
    );

    // Nothing is left behind in the project's export folder.
    let exports = app.root().join(".dango/state/exports");
    let left: Vec<_> = std::fs::read_dir(&exports)
        .map(|dir| dir.filter_map(Result::ok).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
}

#[tokio::test]
async fn downloads_stop_at_the_export_cap() {
    let app = app_with_orders(|config| config.api.query_export_max_rows = 100).await;
    let editor = app.login_as(Role::Editor).await;
    let response = editor
        .post(app.url("/api/query"))
        .header("Accept", "text/csv")
        .json(&json!({"sql": "SELECT id FROM marts.orders"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-dango-truncated"], "true");
    assert_eq!(response.text().await.unwrap().lines().count(), 101);
}

#[tokio::test]
async fn only_editors_and_admins_may_query() {
    let app = app_with_orders(|_| {}).await;
    let viewer = app.login_as(Role::Viewer).await;
    error_body(app.ask_raw(&viewer, json!({"sql": "SELECT 1"})).await, 403).await;
    let anonymous = app.browser();
    let response = app.ask_raw(&anonymous, json!({"sql": "SELECT 1"})).await;
    assert_eq!(response.status(), 401);
    let admin = app.login_as(Role::Admin).await;
    assert_eq!(
        app.ask(&admin, "SELECT 1 AS one").await["rows"],
        json!([[1]])
    );
}

#[tokio::test]
async fn a_syntax_error_says_where() {
    let app = TestApp::start().await;
    let editor = app.login_as(Role::Editor).await;
    let error = app.ask_refused(&editor, "SELECT 1\nFROM WHERE", 400).await;
    assert_eq!(error["code"], "DANGO-Q001");
    assert_eq!(error["line"], 2, "{error}");
    assert!(error["column"].as_u64().is_some_and(|c| c > 0), "{error}");

    let missing = app
        .ask_refused(&editor, "SELECT nope FROM marts.nothing", 400)
        .await;
    assert_eq!(missing["code"], "DANGO-Q004");
}

#[tokio::test]
async fn a_huge_query_is_refused_without_echoing_it() {
    let app = TestApp::start().await;
    let editor = app.login_as(Role::Editor).await;
    let sql = format!("SELECT '{}'", "topsecret".repeat(12_000));
    let response = app.ask_raw(&editor, json!({"sql": sql})).await;
    let text = response_text(response, 413).await;
    assert!(text.contains("DANGO-Q007"), "{text}");
    assert!(!text.contains("topsecret"), "the SQL was echoed back");
}

async fn response_text(response: reqwest::Response, status: u16) -> String {
    assert_eq!(response.status(), status);
    response.text().await.unwrap()
}

/// Every way in we know of, each refused (400) or stopped (408).
fn attack_corpus(canary: &str, target: &str) -> Vec<String> {
    let readers = [
        "read_csv",
        "read_csv_auto",
        "read_json",
        "read_json_auto",
        "read_ndjson",
        "read_json_objects",
        "read_parquet",
        "parquet_scan",
        "parquet_metadata",
        "parquet_schema",
        "read_text",
        "read_blob",
        "glob",
        "sniff_csv",
        "sqlite_scan",
    ];
    let mut corpus: Vec<String> = readers
        .iter()
        .map(|f| format!("SELECT * FROM {f}('{canary}')"))
        .collect();
    corpus.extend([
        // replacement scans and quoted paths
        format!("SELECT * FROM '{canary}'"),
        format!("FROM '{canary}'"),
        format!("SELECT * FROM \"{canary}\""),
        "SELECT * FROM \"canary.csv\"".to_string(),
        // readers hidden in CTEs, subqueries, laterals and scalar positions
        format!("WITH x AS (SELECT * FROM read_text('{canary}')) SELECT * FROM x"),
        format!("SELECT (SELECT content FROM read_text('{canary}'))"),
        format!(
            "SELECT * FROM marts.orders WHERE customer IN (SELECT * FROM read_csv('{canary}'))"
        ),
        format!("SELECT read_text('{canary}')"),
        format!("SELECT * FROM query('SELECT * FROM read_text(''{canary}'')')"),
        // writes, stacked and hidden
        "SELECT 1; DROP TABLE marts.orders".to_string(),
        "SELECT 1; DELETE FROM marts.orders".to_string(),
        "DROP TABLE marts.orders".to_string(),
        "DELETE FROM marts.orders".to_string(),
        "UPDATE marts.orders SET amount = 0".to_string(),
        "INSERT INTO marts.orders VALUES (-1, 'x', 0)".to_string(),
        "CREATE TABLE marts.stolen AS SELECT * FROM marts.orders".to_string(),
        "WITH x AS (DELETE FROM marts.orders RETURNING *) SELECT * FROM x".to_string(),
        "WITH x AS (INSERT INTO marts.orders VALUES (-1, 'x', 0) RETURNING *) SELECT 1".to_string(),
        "SELECT * INTO marts.stolen FROM marts.orders".to_string(),
        "TRUNCATE marts.orders".to_string(),
        "ALTER TABLE marts.orders RENAME TO gone".to_string(),
        // files and the outside world
        format!("COPY marts.orders TO '{target}'"),
        format!("COPY (SELECT 1) TO '{target}' (FORMAT CSV)"),
        format!("EXPORT DATABASE '{target}'"),
        format!("ATTACH '{target}' AS other"),
        "DETACH warehouse".to_string(),
        "USE system".to_string(),
        "INSTALL httpfs".to_string(),
        "LOAD httpfs".to_string(),
        // settings, transactions, the catalog
        "SET enable_external_access = true".to_string(),
        "SET threads = 1".to_string(),
        "RESET memory_limit".to_string(),
        "PRAGMA threads = 1".to_string(),
        "CALL pragma_version()".to_string(),
        "CHECKPOINT".to_string(),
        "BEGIN TRANSACTION".to_string(),
        "SELECT getenv('HOME')".to_string(),
        "SELECT current_setting('temp_directory')".to_string(),
        "SELECT * FROM duckdb_settings()".to_string(),
        "SELECT * FROM duckdb_secrets()".to_string(),
        "SELECT * FROM duckdb_tables()".to_string(),
        "SELECT * FROM pragma_database_list".to_string(),
        "SELECT * FROM system.main.duckdb_settings()".to_string(),
        // comment and string tricks
        "SELECT 1 /* ; */ ; DROP TABLE marts.orders".to_string(),
        "SELECT 1 -- \r DROP TABLE marts.orders".to_string(),
        "SELECT 'a\\'; DROP TABLE marts.orders; --'".to_string(),
        "SELECT $$x$$; DROP TABLE marts.orders".to_string(),
        "SELECT /* /* */ 1; DROP TABLE marts.orders; /* */".to_string(),
        "SELECT 1\u{0000}; DROP TABLE marts.orders".to_string(),
        // unicode look-alikes
        "SELECT 1\u{037E} DROP TABLE marts.orders".to_string(),
        "SELECT 1\u{FF1B} DROP TABLE marts.orders".to_string(),
        "DROP\u{00A0}TABLE marts.orders".to_string(),
        "SELECT\u{200B} 1; DROP TABLE marts.orders".to_string(),
    ]);
    corpus
}

#[tokio::test]
async fn the_attack_corpus_is_refused_and_nothing_is_touched() {
    let app = app_with_orders(|config| config.api.query_timeout_seconds = 2).await;
    let outside = tempfile::tempdir().unwrap();
    let canary = outside.path().join("canary.csv");
    std::fs::write(&canary, "secret\ncanary-7f3a9\n").unwrap();
    let target = outside.path().join("stolen.csv");
    let (canary, target) = (canary.display().to_string(), target.display().to_string());
    let editor = app.login_as(Role::Editor).await;
    let before = app.warehouse_inventory().await;

    let corpus = attack_corpus(&canary, &target);
    assert!(corpus.len() >= 40, "{} cases", corpus.len());
    for sql in &corpus {
        let response = app.ask_raw(&editor, json!({"sql": sql})).await;
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        assert_eq!(status, 400, "{sql:?} was answered: {text}");
        assert!(
            !text.contains("canary-7f3a9"),
            "{sql:?} leaked the file: {text}"
        );
        let code = serde_json::from_str::<Value>(&text).unwrap()["code"].clone();
        assert!(
            ["DANGO-Q001", "DANGO-Q002", "DANGO-Q003", "DANGO-Q004"]
                .contains(&code.as_str().unwrap()),
            "{sql:?}: {text}"
        );
    }

    assert_eq!(
        app.warehouse_inventory().await,
        before,
        "the warehouse changed"
    );
    assert!(
        !std::path::Path::new(&target).exists(),
        "a file was written"
    );
    let files: BTreeSet<_> = std::fs::read_dir(outside.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    // And the warehouse still answers.
    assert_eq!(
        app.ask(&editor, "SELECT count(*) FROM marts.orders").await["rows"],
        json!([[25000]])
    );
}

#[tokio::test]
async fn bombs_are_stopped_at_the_deadline_and_free_their_slot() {
    let app = app_with_orders(|config| {
        config.api.query_timeout_seconds = 1;
        config.api.query_max_concurrent = 1;
    })
    .await;
    let editor = app.login_as(Role::Editor).await;
    let before = app.warehouse_inventory().await;
    for bomb in [
        "WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t) SELECT count(*) FROM t",
        "SELECT count(*) FROM range(1000000000) a, range(1000000000) b",
        "SELECT count(*) FROM marts.orders a, marts.orders b, marts.orders c",
        "SELECT sum(hash(a.range * b.range)) FROM range(100000) a CROSS JOIN range(100000) b",
    ] {
        let error = app.ask_refused(&editor, bomb, 408).await;
        assert_eq!(error["code"], "DANGO-Q009", "{bomb}");
        // The one slot this user has is free again: the reader really stopped.
        assert_eq!(app.server.state.running_queries.total(), 0, "{bomb}");
        assert_eq!(app.ask(&editor, "SELECT 42").await["rows"], json!([[42]]));
    }
    assert_eq!(app.warehouse_inventory().await, before);
}

#[tokio::test]
async fn a_user_beyond_their_concurrent_queries_is_told_to_retry() {
    let app = app_with_orders(|config| {
        config.api.query_timeout_seconds = 3;
        config.api.query_max_concurrent = 1;
    })
    .await;
    let editor = app.login_as(Role::Editor).await;
    let long = start_long_query(&app, &editor).await;

    let response = app.ask_raw(&editor, json!({"sql": "SELECT 1"})).await;
    assert_eq!(response.headers()["retry-after"], "1");
    let error = error_body(response, 429).await;
    assert_eq!(error["code"], "DANGO-Q008");

    // Someone else is not held up by this user's query.
    let other = app.login_as(Role::Editor).await;
    assert_eq!(app.ask(&other, "SELECT 2").await["rows"], json!([[2]]));

    // At its deadline the query is stopped and the slot given back.
    assert_eq!(long.await.unwrap().unwrap(), 408);
    assert_eq!(app.server.state.running_queries.total(), 0);
    assert_eq!(app.ask(&editor, "SELECT 3").await["rows"], json!([[3]]));
}

/// `client` starts a query that runs until its deadline; its status, once answered.
async fn start_long_query(
    app: &TestApp,
    client: &reqwest::Client,
) -> tokio::task::JoinHandle<reqwest::Result<u16>> {
    let (client, url) = (client.clone(), app.url("/api/query"));
    let sql = "SELECT count(*) FROM range(1000000000) a, range(1000000000) b";
    let long = tokio::spawn(async move {
        let response = client.post(url).json(&json!({"sql": sql})).send().await;
        response.map(|r| r.status().as_u16())
    });
    wait_until_running(app, 1).await;
    long
}

async fn wait_until_running(app: &TestApp, count: usize) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while app.server.state.running_queries.total() != count {
        assert!(
            std::time::Instant::now() < deadline,
            "never {count} running"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_running_query_does_not_block_a_sync() {
    let app = app_with_orders(|config| config.api.query_timeout_seconds = 4).await;
    app.csv_source_with("sales", "id,amount\n1,2.5\n2,3.5\n");
    let editor = app.login_as(Role::Editor).await;
    let long = start_long_query(&app, &editor).await;

    let run = app.sync(&editor, "sales", json!({})).await;
    assert_eq!(run["status"], "success", "{run}");
    assert_eq!(run["rows_processed"], 2);
    assert!(!long.is_finished(), "the query should still be running");
    assert_eq!(app.server.state.running_queries.total(), 1);
    assert_eq!(long.await.unwrap().unwrap(), 408);
}

#[tokio::test]
async fn every_query_is_audited_by_hash() {
    let app = TestApp::start().await;
    let editor = app.login_as(Role::Editor).await;
    app.ask(&editor, "SELECT 1 AS audited").await;
    app.ask_refused(&editor, "DROP TABLE x", 400).await;
    let admin = app.login_as(Role::Admin).await;

    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let (executed, refused) = loop {
        let executed = app
            .get_json(&admin, "/api/audit?event=query_executed")
            .await;
        let refused = app.get_json(&admin, "/api/audit?event=query_refused").await;
        if executed["total"] == 1 && refused["total"] == 1 {
            break (executed, refused);
        }
        assert!(std::time::Instant::now() < deadline, "{executed} {refused}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let event = &executed["events"][0];
    assert!(event["email"].as_str().unwrap().starts_with("editor-"));
    let details = &event["details"];
    assert_eq!(
        details["sql_sha256"],
        dango::util::sha256_hex("SELECT 1 AS audited")
    );
    assert_eq!(details["rows"], 1);
    assert!(details["elapsed_ms"].is_number());
    assert!(
        !executed.to_string().contains("audited"),
        "the SQL itself is not stored"
    );
    assert_eq!(refused["events"][0]["details"]["code"], "DANGO-Q002");
}

#[tokio::test]
async fn pii_columns_are_masked_for_those_who_cannot_manage_governance() {
    let app = TestApp::start_with(|config| config.api.mask_pii = true).await;
    app.warehouse_setup(
        "CREATE SCHEMA raw_crm; CREATE TABLE raw_crm.people AS \
         SELECT 1 AS id, 'ada@example.com' AS email, 'Ada' AS name \
         UNION ALL SELECT 2, NULL, 'Bob'",
    )
    .await;
    let mut flags = dango::query::mask::Flags::new();
    flags.insert(
        ("raw_crm".into(), "people".into()),
        BTreeSet::from(["email".to_string()]),
    );
    app.server.state.pii_columns.set(flags);

    let editor = app.login_as(Role::Editor).await;
    let masked = app
        .ask(
            &editor,
            "SELECT id, email, name FROM raw_crm.people ORDER BY id",
        )
        .await;
    assert_eq!(masked["rows"], json!([[1, "***", "Ada"], [2, null, "Bob"]]));
    let joined = app
        .ask(
            &editor,
            "WITH p AS (SELECT * FROM raw_crm.people) SELECT max(email) FROM p",
        )
        .await;
    assert_eq!(joined["rows"], json!([["***"]]));

    let admin = app.login_as(Role::Admin).await;
    let clear = app
        .ask(&admin, "SELECT email FROM raw_crm.people WHERE id = 1")
        .await;
    assert_eq!(clear["rows"], json!([["ada@example.com"]]));
}
