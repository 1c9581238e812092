//! `GET /api/catalog/search`: one box finds sources, tables, models and columns, best
//! match first, typos forgiven.

use dango::auth::Role;
use serde_json::Value;

use crate::common::{TestApp, error_body};

async fn search(app: &TestApp, client: &reqwest::Client, q: &str) -> Value {
    app.get_json(client, &format!("/api/catalog/search?q={q}"))
        .await
}

fn names_and_kinds(answer: &Value) -> Vec<(String, String, String)> {
    answer["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|hit| {
            (
                hit["name"].as_str().unwrap().to_string(),
                hit["kind"].as_str().unwrap().to_string(),
                hit["match_type"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn search_ranks_names_before_columns_and_forgives_typos() {
    let app = TestApp::start().await;
    let editor = app.login_as(Role::Editor).await;
    app.synced_csv_source(
        &editor,
        "orders",
        "id,customer_email,amount\n1,a@x.io,2.5\n",
    )
    .await;
    let viewer = app.login_as(Role::Viewer).await;

    let orders = search(&app, &viewer, "orders").await;
    let hits = names_and_kinds(&orders);
    assert_eq!(
        hits[0],
        ("orders".into(), "source".into(), "name".into()),
        "{orders}"
    );
    assert_eq!(
        hits[1],
        ("orders".into(), "source_table".into(), "name".into()),
        "{orders}"
    );
    assert!(hits.contains(&("stg_orders__orders".into(), "model".into(), "name".into())));
    let source = &orders["results"][0];
    assert_eq!(source["link"], "/sources/orders");
    let model = orders["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["kind"] == "model")
        .unwrap();
    assert_eq!(model["layer"], "staging");
    assert_eq!(model["api"], "/api/catalog/models/stg_orders__orders");

    let email = search(&app, &viewer, "customer_email").await;
    let first = &email["results"][0];
    assert_eq!(first["match_type"], "column", "{email}");
    assert_eq!(first["matched_column"], "customer_email");

    let typo = search(&app, &viewer, "custmer_email").await;
    assert_eq!(
        typo["results"][0]["matched_column"], "customer_email",
        "{typo}"
    );
    assert_eq!(typo["results"][0]["fuzzy"], true);

    let nothing = search(&app, &viewer, "zzzz").await;
    assert_eq!(nothing["total"], 0);
    for short in ["a", "%20%20x%20"] {
        error_body(
            app.get(&viewer, &format!("/api/catalog/search?q={short}"))
                .await,
            400,
        )
        .await;
    }
}
