//! Column-level lineage through a real project: a source table, the staging model the
//! sync generates, and a mart; expected edges written by hand.

use dango::auth::Role;
use serde_json::Value;

use crate::common::{TestApp, error_body, named_column as column};

fn edges(list: &Value) -> Vec<(String, String)> {
    let mut edges: Vec<_> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap().to_string(),
                e["column"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    edges.sort();
    edges
}

fn pair(name: &str, column: &str) -> (String, String) {
    (name.to_string(), column.to_string())
}

#[tokio::test]
async fn columns_trace_from_source_through_staging_to_a_mart() {
    let app = TestApp::start().await;
    let marts = app.root().join("dbt/models/marts");
    std::fs::create_dir_all(&marts).unwrap();
    std::fs::write(
        marts.join("revenue_by_country.sql"),
        "with sales as (select * from {{ ref('stg_sales__sales') }})\n\
         select country, sum(amount * quantity) as revenue, count(*) as orders\n\
         from sales group by 1",
    )
    .unwrap();
    let editor = app.login_as(Role::Editor).await;
    app.synced_csv_source(
        &editor,
        "sales",
        "id,amount,quantity,country\n1,2.5,2,DE\n2,4,1,FR\n",
    )
    .await;
    let viewer = app.login_as(Role::Viewer).await;

    let staging = app
        .get_json(&viewer, "/api/catalog/models/stg_sales__sales/columns")
        .await;
    assert_eq!(staging["error"], Value::Null, "{staging}");
    let amount = column(&staging, "amount");
    assert_eq!(
        edges(&amount["upstream"]),
        [pair("sales", "amount")],
        "{staging}"
    );
    assert_eq!(
        edges(&amount["downstream"]),
        [pair("revenue_by_country", "revenue")]
    );
    assert_eq!(
        edges(&column(&staging, "country")["downstream"]),
        [pair("revenue_by_country", "country")]
    );

    let mart = app
        .get_json(&viewer, "/api/catalog/models/revenue_by_country/columns")
        .await;
    assert_eq!(
        edges(&column(&mart, "revenue")["upstream"]),
        [
            pair("stg_sales__sales", "amount"),
            pair("stg_sales__sales", "quantity")
        ]
    );
    let orders = column(&mart, "orders");
    assert_eq!(
        orders["upstream"],
        serde_json::json!([]),
        "count(*) reads no column"
    );
    assert_eq!(orders["unresolved"], serde_json::json!([]));

    let impact = app
        .get_json(&viewer, "/api/catalog/impact/sales?column=amount")
        .await;
    let reached: Vec<(String, String, u64)> = impact["column_impact"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                c["column"].as_str().unwrap().to_string(),
                c["depth"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        reached,
        [
            ("stg_sales__sales".to_string(), "amount".to_string(), 1),
            ("revenue_by_country".to_string(), "revenue".to_string(), 2),
        ]
    );
    let plain = app.get_json(&viewer, "/api/catalog/impact/sales").await;
    assert_eq!(plain["column_impact"], Value::Null);

    error_body(
        app.get(&viewer, "/api/catalog/models/nope/columns").await,
        404,
    )
    .await;
}
