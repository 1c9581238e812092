//! Table profiles in the catalog: after a sync the source's tables and views are profiled
//! in the background; `GET …/columns` answers from that cache, `POST …/profile` afresh.

use std::time::Duration;

use dango::auth::Role;
use serde_json::{Value, json};

use crate::common::{TestApp, error_body, json, named_column as column};

impl TestApp {
    /// `client` reads the columns of `source`/`table` once they have been profiled.
    async fn profiled_columns(&self, client: &reqwest::Client, source: &str, table: &str) -> Value {
        let path = format!("/api/catalog/{source}/{table}/columns");
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let answer = self.get_json(client, &path).await;
            if !answer["profiled_at"].is_null() {
                return answer;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "never profiled: {answer}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn synced_sales() -> (TestApp, reqwest::Client) {
    let app = TestApp::start().await;
    let editor = app.login_as(Role::Editor).await;
    let csv = "id,status,amount,note\n1,paid,10.5,\n2,paid,20.0,late\n3,open,,\n4,paid,30.25,\n";
    app.synced_csv_source(&editor, "sales", csv).await;
    (app, editor)
}

#[tokio::test]
async fn a_sync_profiles_its_tables_in_the_background() {
    let (app, _) = synced_sales().await;
    let viewer = app.login_as(Role::Viewer).await;
    let raw = app.profiled_columns(&viewer, "sales", "sales").await;
    assert_eq!(raw["schema"], "raw_sales");
    assert_eq!(raw["row_count"], 4);

    let id = column(&raw, "id");
    assert_eq!(id["type"], "BIGINT");
    assert_eq!(id["stats"]["distinct_count"], 4);
    assert_eq!(id["stats"]["median"], 2.5);
    assert_eq!(id["stats"]["top_values"], json!([]));

    let status = column(&raw, "status");
    assert_eq!(
        status["stats"]["top_values"],
        json!([
            {"value": "paid", "count": 3}, {"value": "open", "count": 1}
        ])
    );
    assert_eq!(status["stats"]["min_length"], 4);

    let amount = column(&raw, "amount");
    assert_eq!(amount["stats"]["null_count"], 1);
    assert_eq!(amount["stats"]["null_pct"], 25.0);
    assert_eq!(amount["stats"]["max"], "30.25");

    let note = column(&raw, "note");
    assert_eq!(note["stats"]["null_count"], 3);
    assert_eq!(note["stats"]["sample_values"], json!(["late"]));

    // The staging view the sync generated is profiled too.
    let staging = app
        .profiled_columns(&viewer, "sales", "stg_sales__sales")
        .await;
    assert_eq!(staging["schema"], "staging");
    assert_eq!(staging["row_count"], 4);
}

#[tokio::test]
async fn profiling_now_sees_new_rows_and_the_cache_keeps_it() {
    let (app, editor) = synced_sales().await;
    app.profiled_columns(&editor, "sales", "sales").await;
    app.server
        .state
        .warehouse
        .write(|conn| {
            conn.execute_batch("INSERT INTO raw_sales.sales (id, status) VALUES (5, 'refunded')")
                .map_err(dango::Error::internal)
        })
        .await
        .unwrap();

    let fresh = json(app.post(&editor, "/api/catalog/sales/sales/profile").await).await;
    assert_eq!(fresh["row_count"], 5);
    assert_eq!(column(&fresh, "status")["stats"]["distinct_count"], 3);
    assert!(fresh["profile_duration_ms"].is_number());

    let cached = app
        .get_json(&editor, "/api/catalog/sales/sales/columns")
        .await;
    assert_eq!(cached["row_count"], 5);
    assert_eq!(cached["profiled_at"], fresh["profiled_at"]);
}

#[tokio::test]
async fn dbt_relations_are_found_by_their_schema() {
    let app = TestApp::start().await;
    app.server
        .state
        .warehouse
        .write(|conn| {
            conn.execute_batch(
                "CREATE SCHEMA IF NOT EXISTS marts; CREATE TABLE marts.revenue AS \
                 SELECT range % 3 AS region, range * 2.0 AS total FROM range(30)",
            )
            .map_err(dango::Error::internal)
        })
        .await
        .unwrap();
    let viewer = app.login_as(Role::Viewer).await;
    let before = app
        .get_json(&viewer, "/api/catalog/marts/revenue/columns")
        .await;
    assert_eq!(before["row_count"], Value::Null);
    assert_eq!(column(&before, "region")["stats"], Value::Null);
    assert_eq!(column(&before, "total")["type"], "DECIMAL(21,1)");

    let profiled = json(
        app.post(&viewer, "/api/catalog/marts/revenue/profile")
            .await,
    )
    .await;
    assert_eq!(profiled["row_count"], 30);
    assert_eq!(
        column(&profiled, "region")["stats"]["top_values"][0]["count"],
        10
    );
}

#[tokio::test]
async fn unknown_and_malformed_tables_are_explained() {
    let (app, editor) = synced_sales().await;
    let missing = error_body(
        app.get(&editor, "/api/catalog/sales/nope/columns").await,
        404,
    )
    .await;
    assert!(
        missing["detail"]
            .as_str()
            .unwrap()
            .contains("Table 'nope' not found"),
        "{missing}"
    );
    let no_data = error_body(
        app.get(&editor, "/api/catalog/crm/people/columns").await,
        404,
    )
    .await;
    assert!(
        no_data["detail"].as_str().unwrap().contains("has no data"),
        "{no_data}"
    );
    for path in [
        "/api/catalog/sales/na%20me/columns",
        "/api/catalog/sa-les/sales/columns",
        "/api/catalog/sales/sales%3Bdrop/profile",
    ] {
        let response = if path.ends_with("profile") {
            app.post(&editor, path).await
        } else {
            app.get(&editor, path).await
        };
        assert_eq!(response.status(), 400, "{path}");
    }
    let anonymous = app.browser();
    assert_eq!(
        app.get(&anonymous, "/api/catalog/sales/sales/columns")
            .await
            .status(),
        401
    );
}
