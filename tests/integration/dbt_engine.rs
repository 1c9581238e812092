//! `transform.engine: dbt`: the server hands the warehouse to a real `dbt` executable
//! and reports dbt's own results. Needs dbt-core + dbt-duckdb; `.ci/run` installs them
//! and sets DANGO_TEST_DBT to the executable.

use crate::common::{TestApp, json};
use dango::auth::Role;
use serde_json::json;

fn dbt_executable() -> String {
    std::env::var("DANGO_TEST_DBT").expect("set DANGO_TEST_DBT to a dbt executable")
}

#[tokio::test]
#[ignore = "needs a dbt executable: set DANGO_TEST_DBT"]
async fn a_real_dbt_builds_the_project_and_the_server_keeps_serving() {
    let executable = dbt_executable();
    let app = TestApp::start_with(|config| {
        config.transform.engine = "dbt".into();
        config.transform.dbt_executable = Some(executable);
    })
    .await;
    app.write_sources("  - name: sales\n    type: csv\n    csv: {directory: data/uploads/sales}\n");
    let marts = app.root().join("dbt/models/marts");
    std::fs::create_dir_all(&marts).unwrap();
    std::fs::write(
        marts.join("by_country.sql"),
        "select country, sum(amount) as total from {{ ref('stg_sales__sales') }} group by 1",
    )
    .unwrap();
    std::fs::write(
        marts.join("broken.sql"),
        "select no_such_column from {{ ref('stg_sales__sales') }}",
    )
    .unwrap();

    let editor = app.login_as(Role::Editor).await;
    let csv = b"id,amount,country\n1,10.5,DE\n2,20,FR\n3,5,DE\n".to_vec();
    let uploaded = json(app.upload(&editor, "sales", "jan.csv", csv, true).await).await;
    // The sync itself succeeds; the chained dbt build reports the broken model.
    app.wait_run(&editor, uploaded["run_id"].as_str().unwrap())
        .await;

    let done = app
        .dbt_run(
            &editor,
            json!({"command": "build", "select": ["stg_sales__sales+"]}),
        )
        .await;
    assert_eq!(done["status"], "failed", "{done}");
    assert!(done["error"].as_str().unwrap().contains("broken"), "{done}");

    // The warehouse was reopened: dbt's tables are readable through the server.
    assert_eq!(app.count("staging.stg_sales__sales").await, 3);
    assert_eq!(
        app.query("select country || ':' || total::varchar from marts.by_country order by 1")
            .await,
        ["DE:15.5", "FR:20.0"]
    );
    let health = json(app.get(&editor, "/api/status").await).await;
    assert_eq!(health["services"]["duckdb"], "healthy", "{health}");

    // dbt's run_results.json drove the model statuses and the catalog.
    let status = app.model_statuses(&editor).await;
    assert_eq!(status["by_country"], "success", "{status:?}");
    assert_eq!(status["broken"], "error", "{status:?}");
    let log_dir = app.root().join(".dango/state/dbt_logs");
    assert!(
        std::fs::read_dir(&log_dir).unwrap().count() >= 1,
        "dbt's output is kept"
    );
}

#[tokio::test]
async fn a_missing_dbt_executable_is_a_clear_error() {
    let app = TestApp::start_with(|config| {
        config.transform.engine = "dbt".into();
        config.transform.dbt_executable = Some("/nonexistent/dbt".into());
    })
    .await;
    let editor = app.login_as(Role::Editor).await;
    let done = app.dbt_run(&editor, json!({})).await;
    assert_eq!(done["status"], "failed");
    assert!(
        done["error"].as_str().unwrap().contains("/nonexistent/dbt"),
        "{done}"
    );
    // The warehouse is open again after the failed start.
    assert_eq!(app.query("select 42").await, ["42"]);
}
