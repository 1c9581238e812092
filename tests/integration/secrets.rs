//! Secrets: an admin sets, changes and removes variables of `.env` through the API; the
//! file keeps its comments and stays private (0600); values never come back, not in the
//! listing, not in the audit log; bad names and multi-line values are refused; nobody
//! but an admin gets near them.

use std::os::unix::fs::PermissionsExt;

use dango::auth::Role;
use serde_json::json;

use crate::common::{TestApp, error_body, json};

#[tokio::test]
async fn an_admin_keeps_credentials_in_env_without_ever_reading_them_back() {
    let app = TestApp::start().await;
    let env = app.root().join(".env");
    std::fs::write(&env, "# live Stripe key\nSTRIPE_API_KEY=sk_old\n").expect("write .env");
    app.write_sources(
        "  - name: payments\n    type: stripe\n    stripe:\n      stripe_secret_key_env: STRIPE_API_KEY\n",
    );
    let admin = app.login_as(Role::Admin).await;

    let updated = json(
        app.post_json(
            &admin,
            "/api/secrets",
            json!({"key": "STRIPE_API_KEY", "value": "sk_live_NEW"}),
        )
        .await,
    )
    .await;
    assert_eq!(updated["action"], "updated", "{updated}");
    let created = json(
        app.post_json(
            &admin,
            "/api/secrets",
            json!({"key": "WAREHOUSE_URL", "value": " postgres://u:p@h/db "}),
        )
        .await,
    )
    .await;
    assert_eq!(created["action"], "created");

    let text = std::fs::read_to_string(&env).expect("read .env");
    assert!(
        text.starts_with("# live Stripe key\nSTRIPE_API_KEY=sk_live_NEW\n"),
        "{text}"
    );
    let vars = dango::config::env_file::load(&env);
    assert_eq!(
        vars["WAREHOUSE_URL"], " postgres://u:p@h/db ",
        "read back exactly"
    );
    let mode = std::fs::metadata(&env).expect("stat").permissions().mode();
    assert_eq!(mode & 0o777, 0o600);

    let listed = app.get_json(&admin, "/api/secrets").await;
    let text = listed.to_string();
    assert!(
        !text.contains("sk_live_NEW") && !text.contains("postgres://"),
        "{listed}"
    );
    assert_eq!(listed["env_vars"][0]["key"], "STRIPE_API_KEY");
    assert_eq!(listed["env_vars"][0]["masked_value"], "***");
    assert_eq!(listed["env_vars"][0]["used_by"], json!(["source:payments"]));
    assert_eq!(listed["env_vars"][1]["key"], "WAREHOUSE_URL");

    for bad in [
        json!({"key": "1BAD", "value": "x"}),
        json!({"key": "A-B", "value": "x"}),
        json!({"key": "OK", "value": "two\nlines"}),
    ] {
        error_body(
            app.post_json(&admin, "/api/secrets", bad.clone()).await,
            400,
        )
        .await;
    }
    let deleted = json(app.delete(&admin, "/api/secrets/WAREHOUSE_URL").await).await;
    assert_eq!(deleted["action"], "deleted");
    error_body(app.delete(&admin, "/api/secrets/WAREHOUSE_URL").await, 404).await;
    assert!(!dango::config::env_file::load(&env).contains_key("WAREHOUSE_URL"));

    let audit = app
        .get_json(&admin, "/api/audit?limit=50")
        .await
        .to_string();
    assert!(
        audit.contains("secret_set") && audit.contains("secret_deleted"),
        "{audit}"
    );
    assert!(
        !audit.contains("sk_live_NEW") && !audit.contains("postgres://"),
        "no value is audited"
    );

    for role in [Role::Editor, Role::Viewer] {
        let other = app.login_as(role).await;
        error_body(app.get(&other, "/api/secrets").await, 403).await;
        let write = app
            .post_json(
                &other,
                "/api/secrets",
                json!({"key": "STRIPE_API_KEY", "value": "stolen"}),
            )
            .await;
        error_body(write, 403).await;
    }
    assert_eq!(
        dango::config::env_file::load(&env)["STRIPE_API_KEY"],
        "sk_live_NEW"
    );
}
