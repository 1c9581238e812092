//! What the query page reads besides `POST /api/query`: the tables a query can name,
//! and each person's own history of what they ran.

use std::time::Duration;

use dango::auth::Role;
use serde_json::{Value, json};

use crate::common::{TestApp, error_body, json};

impl TestApp {
    /// `client`'s query history, newest first (waits for the entries written after an
    /// answer, which are kept in the background).
    async fn history_of(&self, client: &reqwest::Client, expected: usize) -> Vec<Value> {
        for _ in 0..100 {
            let answer = self.get_json(client, "/api/query/history").await;
            let entries = answer["entries"].as_array().cloned().unwrap_or_default();
            if entries.len() >= expected {
                return entries;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("the history never reached {expected} entries");
    }
}

#[tokio::test]
async fn the_table_browser_lists_every_relation_with_its_columns() {
    let app = TestApp::start().await;
    let editor = app.login_as(Role::Editor).await;
    app.synced_csv_source(&editor, "shop", "id,name,amount\n1,a,2.5\n2,b,3\n")
        .await;
    let answer = app.get_json(&editor, "/api/query/schema").await;
    let tables = answer["tables"].as_array().unwrap();
    let raw = tables
        .iter()
        .find(|t| t["schema"] == "raw_shop")
        .expect("the raw table is listed");
    assert_eq!(raw["kind"], "TABLE");
    let columns: Vec<&str> = raw["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert!(
        columns.starts_with(&["id", "name", "amount"]),
        "{columns:?}"
    );
    assert_eq!(raw["columns"][0]["type"], "BIGINT");
    let staging = tables
        .iter()
        .find(|t| t["schema"] == "staging")
        .expect("the staging view is listed");
    assert_eq!(staging["kind"], "VIEW");
    // Viewers cannot query, so they do not get the list either.
    let viewer = app.login_as(Role::Viewer).await;
    error_body(app.get(&viewer, "/api/query/schema").await, 403).await;
}

#[tokio::test]
async fn each_person_sees_only_their_own_history_and_can_clear_it() {
    let app = TestApp::start().await;
    let alice = app.login_as(Role::Editor).await;
    let bob = app.login_as(Role::Admin).await;
    let ok = app
        .post_json(&alice, "/api/query", json!({"sql": "SELECT 42 AS answer"}))
        .await;
    assert_eq!(ok.status(), 200);
    let refused = app
        .post_json(&alice, "/api/query", json!({"sql": "DROP TABLE x"}))
        .await;
    assert_eq!(refused.status(), 400);
    let entries = app.history_of(&alice, 2).await;
    assert_eq!(entries[0]["sql"], "DROP TABLE x", "newest first");
    assert_eq!(entries[0]["succeeded"], false);
    assert!(entries[0]["error"].as_str().unwrap().len() > 5);
    assert_eq!(entries[1]["sql"], "SELECT 42 AS answer");
    assert_eq!(entries[1]["succeeded"], true);
    assert_eq!(entries[1]["row_count"], 1);

    // An admin does not see another person's queries.
    let theirs = app.get_json(&bob, "/api/query/history").await;
    assert_eq!(theirs["entries"], json!([]));

    let cleared = json(app.delete(&alice, "/api/query/history").await).await;
    assert_eq!(cleared["removed"], 2);
    assert_eq!(
        app.get_json(&alice, "/api/query/history").await["entries"],
        json!([])
    );
    error_body(app.get(&alice, "/api/query/history?limit=0").await, 400).await;
}

#[tokio::test]
async fn queries_made_with_an_api_key_are_audited_but_not_kept_in_history() {
    let app = TestApp::start().await;
    let key = app.api_key(Role::Editor, None).await;
    let answer = app
        .post_json_with_key(&key, "/api/query", json!({"sql": "SELECT 1"}))
        .await;
    assert_eq!(answer.status(), 200);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let listed = json(app.get_with_key(&key, "/api/query/history").await).await;
    assert_eq!(listed["entries"], json!([]));
}

#[tokio::test]
async fn the_history_keeps_the_latest_two_hundred_per_person() {
    let app = TestApp::start().await;
    let editor = app.login_as(Role::Editor).await;
    for n in 0..205 {
        let answer = app
            .post_json(&editor, "/api/query", json!({"sql": format!("SELECT {n}")}))
            .await;
        assert_eq!(answer.status(), 200);
    }
    // Entries are written after each answer: wait until the last one is in and the
    // oldest are gone.
    for _ in 0..250 {
        let answer = app.get_json(&editor, "/api/query/history?limit=200").await;
        let entries = answer["entries"].as_array().unwrap();
        let has = |sql: &str| entries.iter().any(|e| e["sql"] == sql);
        if has("SELECT 204") && !has("SELECT 0") && entries.len() == 200 {
            assert_eq!(entries[0]["sql"], "SELECT 204", "newest first");
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the history did not settle at the latest 200 entries");
}
