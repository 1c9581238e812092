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

/// The demo project (`dango demo`): its two marts read three sources directly, with
/// joins, aggregates and a `date_trunc`; every edge below was read off the SQL by hand.
#[tokio::test]
async fn the_demo_projects_marts_trace_to_their_source_columns() {
    let app = TestApp::start().await;
    let editor = app.login_as(Role::Editor).await;
    app.synced_demo(&editor).await;
    let viewer = app.login_as(Role::Viewer).await;

    let customer_revenue = app
        .get_json(&viewer, "/api/catalog/models/customer_revenue/columns")
        .await;
    assert_eq!(customer_revenue["error"], Value::Null, "{customer_revenue}");
    let expected: [(&str, &[(&str, &str)]); 5] = [
        ("customer_id", &[("customers", "customer_id")]),
        ("name", &[("customers", "name")]),
        ("country", &[("customers", "country")]),
        ("orders", &[("orders", "order_id")]),
        (
            "revenue",
            &[("orders", "quantity"), ("orders", "unit_price")],
        ),
    ];
    for (name, upstream) in expected {
        let traced = column(&customer_revenue, name);
        let want: Vec<_> = upstream.iter().map(|(t, c)| pair(t, c)).collect();
        assert_eq!(edges(&traced["upstream"]), want, "customer_revenue.{name}");
        assert_eq!(traced["unresolved"], serde_json::json!([]), "{name}");
    }

    let monthly = app
        .get_json(&viewer, "/api/catalog/models/monthly_revenue/columns")
        .await;
    let expected: [(&str, &[(&str, &str)]); 4] = [
        ("month", &[("orders", "ordered_at")]),
        ("category", &[("products", "category")]),
        // count(*) reads no particular column
        ("orders", &[]),
        (
            "revenue",
            &[("orders", "quantity"), ("orders", "unit_price")],
        ),
    ];
    for (name, upstream) in expected {
        let traced = column(&monthly, name);
        let want: Vec<_> = upstream.iter().map(|(t, c)| pair(t, c)).collect();
        assert_eq!(edges(&traced["upstream"]), want, "monthly_revenue.{name}");
    }

    // A price column of the orders source feeds both revenues, and its staging model.
    let impact = app
        .get_json(&viewer, "/api/catalog/impact/orders?column=unit_price")
        .await;
    let mut reached: Vec<(String, String)> = impact["column_impact"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| pair(c["name"].as_str().unwrap(), c["column"].as_str().unwrap()))
        .collect();
    reached.sort();
    assert_eq!(
        reached,
        [
            pair("customer_revenue", "revenue"),
            pair("monthly_revenue", "revenue"),
            pair("stg_orders__orders", "unit_price"),
        ]
    );
}

/// The `features` conformance fixture: Jinja loops, a macro that lists a relation's
/// columns, two chained ephemeral models (one `s.*` through a join, one `*` plus an
/// expression, both expanded without a warehouse relation of their own) under a CTE with
/// `select *`. Edges read off the SQL by hand.
#[tokio::test]
async fn the_features_fixture_traces_through_jinja_macros_and_ephemeral_models() {
    let app = TestApp::start().await;
    let dbt = app.root().join("dbt");
    std::fs::remove_dir_all(&dbt).unwrap();
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/conformance/fixtures/features");
    crate::conformance::copy_dir(&fixture, &dbt);
    app.server
        .state
        .warehouse
        .write(|conn| {
            conn.execute_batch(
                "create schema raw_shop; \
                 create table raw_shop.item_table (id integer, kind varchar, price double); \
                 insert into raw_shop.item_table values (1, 'book', 12.345), (2, 'toy', 5.5); \
                 create table raw_shop.sales (id integer, item_id integer, quantity integer, channel varchar); \
                 insert into raw_shop.sales values (1, 1, 1, 'online'), (2, 2, 3, 'store');",
            )
            .map_err(dango::Error::internal)
        })
        .await
        .unwrap();
    let editor = app.login_as(Role::Editor).await;
    app.dbt_run(&editor, serde_json::json!({"command": "run"}))
        .await;
    let viewer = app.login_as(Role::Viewer).await;
    let traced = |model: &'static str| {
        let (app, viewer) = (&app, &viewer);
        async move {
            let answer = app
                .get_json(viewer, &format!("/api/catalog/models/{model}/columns"))
                .await;
            assert_eq!(answer["error"], Value::Null, "{model}: {answer}");
            answer
        }
    };
    let check = |answer: &Value, model: &str, expected: &[(&str, &[(&str, &str)])]| {
        let names: Vec<&str> = answer["columns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        let wanted: Vec<&str> = expected.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, wanted, "{model}: the output columns in order");
        for (name, upstream) in expected {
            let column = column(answer, name);
            let want: Vec<_> = upstream.iter().map(|(t, c)| pair(t, c)).collect();
            assert_eq!(edges(&column["upstream"]), want, "{model}.{name}: {column}");
            assert_eq!(
                column["unresolved"],
                serde_json::json!([]),
                "{model}.{name}"
            );
        }
    };

    let quantity_and_channel: &[(&str, &str)] = &[("sales", "channel"), ("sales", "quantity")];
    check(
        &traced("stg_sales").await,
        "stg_sales",
        &[
            ("id", &[("sales", "id")]),
            ("item_id", &[("sales", "item_id")]),
            ("quantity", &[("sales", "quantity")]),
            ("online_quantity", quantity_and_channel),
            ("store_quantity", quantity_and_channel),
        ],
    );
    check(
        &traced("stg_items").await,
        "stg_items",
        &[
            ("id", &[("items", "id")]),
            ("kind", &[("items", "kind")]),
            ("price", &[("items", "price")]),
            // literals rendered by Jinja: derived from nothing
            ("currency", &[]),
            ("flag", &[]),
            ("target_name", &[]),
            ("model_name", &[]),
            ("env_value", &[]),
        ],
    );
    // Edges go one step up, and an ephemeral model is a step of its own (it has
    // columns and lineage of its own), though its SQL is inlined where it is used.
    check(
        &traced("sales_enriched").await,
        "sales_enriched",
        &[
            ("id", &[("stg_sales", "id")]),
            ("item_id", &[("stg_sales", "item_id")]),
            ("quantity", &[("stg_sales", "quantity")]),
            ("online_quantity", &[("stg_sales", "online_quantity")]),
            ("store_quantity", &[("stg_sales", "store_quantity")]),
            ("price", &[("stg_items", "price")]),
            ("kind", &[("stg_items", "kind")]),
        ],
    );
    check(
        &traced("sales_valued").await,
        "sales_valued",
        &[
            ("id", &[("sales_enriched", "id")]),
            ("item_id", &[("sales_enriched", "item_id")]),
            ("quantity", &[("sales_enriched", "quantity")]),
            ("online_quantity", &[("sales_enriched", "online_quantity")]),
            ("store_quantity", &[("sales_enriched", "store_quantity")]),
            ("price", &[("sales_enriched", "price")]),
            ("kind", &[("sales_enriched", "kind")]),
            (
                "revenue",
                &[("sales_enriched", "price"), ("sales_enriched", "quantity")],
            ),
        ],
    );
    check(
        &traced("revenue_by_kind").await,
        "revenue_by_kind",
        &[
            ("kind", &[("sales_valued", "kind")]),
            ("revenue", &[("sales_valued", "revenue")]),
            ("quantity", &[("sales_valued", "quantity")]),
        ],
    );
    check(
        &traced("channel_mix").await,
        "channel_mix",
        &[
            ("online", &[("stg_sales", "online_quantity")]),
            ("store", &[("stg_sales", "store_quantity")]),
        ],
    );
    check(
        &traced("item_columns").await,
        "item_columns",
        &[
            ("id", &[("stg_items", "id")]),
            ("kind", &[("stg_items", "kind")]),
            ("price", &[("stg_items", "price")]),
            ("currency", &[("stg_items", "currency")]),
            ("flag", &[("stg_items", "flag")]),
            ("model_name", &[("stg_items", "model_name")]),
        ],
    );
}
