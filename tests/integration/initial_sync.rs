//! The first sync of a fresh deployment: the one-time deploy token starts it (once),
//! every enabled source is synced in turn and the models built; an admin may start it
//! too, and cancel it; a stranger may not.

use std::time::Duration;

use dango::auth::Role;
use serde_json::Value;

use crate::common::{TestApp, error_body, json};

const THREE: &str = "  - name: orders\n    type: csv\n    csv: {directory: data/uploads/orders}\n  - name: customers\n    type: csv\n    csv: {directory: data/uploads/customers}\n  - name: products\n    type: csv\n    csv: {directory: data/uploads/products}\n";

fn three_sources(app: &TestApp) {
    app.write_sources(THREE);
    for name in ["orders", "customers", "products"] {
        let dir = app.root().join("data/uploads").join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("a.csv"), "id,amount\n1,2\n2,3\n").unwrap();
    }
}

/// Polls the first sync's status until it has ended (60 s at most).
async fn until_ended(app: &TestApp, client: &reqwest::Client) -> Value {
    for _ in 0..600 {
        let status = app.get_json(client, "/api/initial-sync/status").await;
        if matches!(
            status["phase"].as_str(),
            Some("complete" | "cancelled" | "failed")
        ) {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the first sync did not end");
}

#[tokio::test]
async fn the_deploy_token_starts_the_first_sync_once_and_every_source_is_loaded_and_built() {
    let app = TestApp::start().await;
    three_sources(&app);
    let token = dango::jobs::initial_sync::new_deploy_token(&app.server.state.paths).unwrap();
    let start = app.url("/api/initial-sync/start");
    let stranger = app.anonymous();

    let refused = stranger.post(&start).send().await.unwrap();
    error_body(refused, 401).await;
    let guessed = stranger
        .post(&start)
        .bearer_auth("dango_deploy_0000")
        .send()
        .await
        .unwrap();
    error_body(guessed, 401).await;
    let editor = app.login_as(Role::Editor).await;
    assert_eq!(
        app.post(&editor, "/api/initial-sync/start").await.status(),
        403
    );

    let started = json(
        stranger
            .post(&start)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(started["status"], "started", "{started}");
    assert_eq!(started["message"], "Syncing 3 source(s)");
    let viewer = app.login_as(Role::Viewer).await;
    let ended = until_ended(&app, &viewer).await;
    assert_eq!(ended["phase"], "complete", "{ended}");
    assert_eq!(
        ended["completed_sources"],
        serde_json::json!(["orders", "customers", "products"])
    );
    assert_eq!(ended["total_sources"], 3);
    assert!(ended["error"].is_null(), "{ended}");
    assert_eq!(app.count("raw_orders.orders").await, 2);
    assert_eq!(app.count("raw_products.products").await, 2);
    // the models were built once the data was in
    let models = app.get_json(&viewer, "/api/dbt/models").await;
    assert!(
        models.to_string().contains("stg_orders__orders"),
        "{models}"
    );

    // the token was used up
    let again = stranger
        .post(&start)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    error_body(again, 401).await;
    // and the progress survives a restart of the process (read back from its file)
    let after = dango::runs::initial_sync::InitialSync::default().get(&app.server.state.paths);
    assert_eq!(after.phase, "complete");
}

#[tokio::test]
async fn an_admin_starts_and_cancels_the_first_sync() {
    let app = TestApp::start().await;
    three_sources(&app);
    let admin = app.login_as(Role::Admin).await;
    let editor = app.login_as(Role::Editor).await;
    assert_eq!(
        app.post(&admin, "/api/initial-sync/cancel").await.status(),
        409
    );
    let started = json(app.post(&admin, "/api/initial-sync/start").await).await;
    assert_eq!(started["status"], "started");
    assert_eq!(
        app.post(&editor, "/api/initial-sync/cancel").await.status(),
        403
    );
    let cancelled = json(app.post(&admin, "/api/initial-sync/cancel").await).await;
    assert_eq!(cancelled["message"], "Cancellation requested");
    let ended = until_ended(&app, &admin).await;
    assert_eq!(ended["phase"], "cancelled", "{ended}");
    let done = ended["completed_sources"].as_array().unwrap().len();
    assert!(done < 3, "nothing after the cancel starts: {ended}");
}
