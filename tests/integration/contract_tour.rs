//! Every operation of the published document, called as a client would, in an order
//! where each has something to work on: the contract checker (`contract.rs`) validates
//! each answer (status documented, body matching its schema, nullable fields, headers).
//! A new operation fails this test until the tour calls it.

use std::collections::BTreeSet;

use crate::common::{PASSWORD, TestApp, json};
use dango::auth::Role;
use dango::auth::totp::{code_at, now_unix};
use reqwest::RequestBuilder;
use serde_json::{Value, json};

struct Tour {
    called: BTreeSet<String>,
}

impl Tour {
    /// Sends the request for `operation`; asserts the expected status; returns the body.
    async fn call(&mut self, operation: &str, request: RequestBuilder, status: u16) -> Value {
        self.called.insert(operation.to_string());
        let response = request.send().await.expect(operation);
        let actual = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        assert_eq!(actual, status, "{operation}: {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }
}

#[tokio::test]
async fn every_operation_answers_as_documented() {
    let app = TestApp::start().await;
    app.write_sources("  - name: sales\n    type: csv\n    csv: {directory: data/uploads/sales}\n");
    app.user("tour@example.com", Role::Admin).await;
    let admin = app.login("tour@example.com").await;
    let url = |path: &str| app.url(path);
    let mut tour = Tour {
        called: BTreeSet::new(),
    };

    // Health, status, configuration
    tour.call("status", app.anonymous().get(url("/api/status")), 200)
        .await;
    tour.call("api_info", app.anonymous().get(url("/api")), 200)
        .await;
    tour.call("watcher_status", admin.get(url("/api/watcher/status")), 200)
        .await;
    tour.call(
        "platform_health",
        admin.get(url("/api/health/platform")),
        200,
    )
    .await;
    tour.call(
        "deployment_history",
        admin.get(url("/api/deployments/history")),
        200,
    )
    .await;
    tour.call("get_config", admin.get(url("/api/config")), 200)
        .await;
    tour.call(
        "get_metabase_config",
        admin.get(url("/api/metabase-config")),
        200,
    )
    .await;
    tour.call("me", app.anonymous().get(url("/api/auth/me")), 200)
        .await;
    tour.call("me", admin.get(url("/api/auth/me")), 200).await;

    // OAuth (no provider configured: redirects back to the login page)
    tour.call(
        "oauth_providers",
        app.anonymous().get(url("/api/auth/oauth/providers")),
        200,
    )
    .await;
    tour.call(
        "oauth_login",
        app.anonymous().get(url("/api/auth/oauth/acme/login")),
        302,
    )
    .await;
    tour.call(
        "oauth_callback",
        app.anonymous()
            .get(url("/api/auth/oauth/acme/callback?code=c&state=s")),
        302,
    )
    .await;

    // Sessions and API keys
    tour.call("list_sessions", admin.get(url("/api/auth/sessions")), 200)
        .await;
    tour.call(
        "revoke_session",
        admin.delete(url("/api/auth/sessions/no-such-session")),
        404,
    )
    .await;
    let key = tour
        .call(
            "create_api_key",
            admin
                .post(url("/api/auth/api-keys"))
                .json(&json!({"name": "tour", "role": "viewer"})),
            200,
        )
        .await;
    tour.call("list_api_keys", admin.get(url("/api/auth/api-keys")), 200)
        .await;
    let key_id = key["id"].as_str().unwrap();
    tour.call(
        "revoke_api_key",
        admin.delete(url(&format!("/api/auth/api-keys/{key_id}"))),
        200,
    )
    .await;

    // Users
    tour.call("list_users", admin.get(url("/api/admin/users")), 200)
        .await;
    let invited = tour
        .call(
            "create_user",
            admin
                .post(url("/api/admin/users"))
                .json(&json!({"email": "invited@example.com", "role": "viewer"})),
            201,
        )
        .await;
    let user_id = invited["user"]["id"].as_str().unwrap().to_string();
    let user = |action: &str| url(&format!("/api/admin/users/{user_id}{action}"));
    let reinvited = tour
        .call("reinvite_user", admin.post(user("/reinvite")), 200)
        .await;
    tour.call(
        "change_user_role",
        admin.put(user("/role")).json(&json!({"role": "editor"})),
        200,
    )
    .await;
    tour.call("unlock_user", admin.post(user("/unlock")), 200)
        .await;
    tour.call(
        "revoke_user_sessions",
        admin.post(user("/revoke-sessions")),
        200,
    )
    .await;
    tour.call("deactivate_user", admin.post(user("/deactivate")), 200)
        .await;
    tour.call("reactivate_user", admin.post(user("/reactivate")), 200)
        .await;
    let token = reinvited["invite_url"]
        .as_str()
        .and_then(|u| u.rsplit('/').next())
        .unwrap()
        .to_string();
    tour.call(
        "accept_invite",
        app.anonymous().post(url("/api/auth/accept-invite")).json(
            &json!({"token": token, "password": "Quiet-Harbor-Lamp-77", "display_name": null}),
        ),
        200,
    )
    .await;
    tour.call(
        "reset_user_password",
        admin.post(user("/reset-password")),
        200,
    )
    .await;
    tour.call(
        "delete_user",
        admin
            .delete(user(""))
            .query(&[("confirm_email", "invited@example.com")]),
        200,
    )
    .await;

    // Password change and the second factor, as another user
    app.user("second@example.com", Role::Editor).await;
    let second = app.login("second@example.com").await;
    let setup = tour
        .call(
            "two_factor_setup",
            second
                .post(url("/api/auth/2fa/setup"))
                .json(&json!({"password": PASSWORD})),
            200,
        )
        .await;
    let secret = setup["secret"].as_str().unwrap().to_string();
    let recovery: Vec<String> = setup["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    tour.call(
        "two_factor_verify_setup",
        second
            .post(url("/api/auth/2fa/verify-setup"))
            .json(&json!({"code": code_at(&secret, now_unix()).unwrap()})),
        200,
    )
    .await;
    let regenerated = tour
        .call(
            "two_factor_regenerate_recovery",
            second.post(url("/api/auth/2fa/regenerate-recovery")).json(
                &json!({"password": PASSWORD, "code": code_at(&secret, now_unix() + 30).unwrap()}),
            ),
            200,
        )
        .await;
    assert_ne!(regenerated["recovery_codes"][0], json!(recovery[0]));
    let pending = app.browser();
    let step = tour
        .call(
            "login",
            pending
                .post(url("/api/auth/login"))
                .json(&json!({"email": "second@example.com", "password": PASSWORD})),
            200,
        )
        .await;
    assert_eq!(step["status"], "2fa_required");
    let code = regenerated["recovery_codes"][0].as_str().unwrap();
    tour.call(
        "two_factor_verify",
        pending
            .post(url("/api/auth/2fa/verify"))
            .json(&json!({"code": code})),
        200,
    )
    .await;
    tour.call(
        "two_factor_disable",
        pending
            .post(url("/api/auth/2fa/disable"))
            .json(&json!({"password": PASSWORD})),
        200,
    )
    .await;
    tour.call(
        "change_password",
        pending
            .post(url("/api/auth/change-password"))
            .json(&json!({"current_password": PASSWORD, "new_password": "Amber-Violet-Kettle-8"})),
        200,
    )
    .await;
    tour.call("logout", pending.post(url("/api/auth/logout")), 200)
        .await;

    // Files, syncs, logs
    tour.call("list_sources", admin.get(url("/api/sources")), 200)
        .await;
    let part =
        reqwest::multipart::Part::bytes(b"id,amount\n1,10\n2,20\n".to_vec()).file_name("a.csv");
    tour.call(
        "upload_file",
        admin
            .post(url("/api/sources/sales/upload-csv"))
            .multipart(reqwest::multipart::Form::new().part("file", part)),
        200,
    )
    .await;
    let started = tour
        .call(
            "sync_source",
            admin.post(url("/api/sources/sales/sync")).json(&json!({})),
            200,
        )
        .await;
    let run = app
        .wait_run(&admin, started["run_id"].as_str().unwrap())
        .await;
    assert_eq!(run["status"], "success", "{run}");
    let run_id = started["run_id"].as_str().unwrap();
    tour.call(
        "sync_status",
        admin.get(url(&format!("/api/sync/status/{run_id}"))),
        200,
    )
    .await;
    let triggered = tour
        .call(
            "trigger_sync",
            admin
                .post(url("/api/sync/trigger"))
                .json(&json!({"sources": ["sales"]})),
            200,
        )
        .await;
    app.wait_run(&admin, triggered["run_id"].as_str().unwrap())
        .await;
    tour.call(
        "source_details",
        admin.get(url("/api/sources/sales/details")),
        200,
    )
    .await;
    tour.call(
        "source_logs",
        admin.get(url("/api/sources/sales/logs")),
        200,
    )
    .await;
    tour.call("activity_logs", admin.get(url("/api/logs?limit=50")), 200)
        .await;

    // schedules
    std::fs::write(
        app.root().join(".dango/schedules.yml"),
        "schedules:\n- {name: nightly, cron: daily, sources: [sales]}\n",
    )
    .unwrap();
    tour.call("list_schedules", admin.get(url("/api/schedules")), 200)
        .await;
    tour.call(
        "get_schedule",
        admin.get(url("/api/schedules/nightly")),
        200,
    )
    .await;
    tour.call(
        "preview_schedule",
        admin.get(url("/api/schedules/nightly/preview?count=3")),
        200,
    )
    .await;
    tour.call(
        "unscheduled_sources",
        admin.get(url("/api/sources/unscheduled")),
        200,
    )
    .await;
    let triggered = tour
        .call(
            "trigger_schedule",
            admin.post(url("/api/schedules/nightly/trigger")),
            200,
        )
        .await;
    let run_id = triggered["run_id"].as_str().unwrap();
    app.wait_run(&admin, run_id).await;
    tour.call(
        "cancel_job",
        admin.post(url(&format!("/api/schedules/jobs/{run_id}/cancel"))),
        404,
    )
    .await;
    tour.call(
        "schedule_history",
        admin.get(url("/api/schedules/nightly/history?limit=5")),
        200,
    )
    .await;
    tour.call(
        "reload_schedules",
        admin.post(url("/api/schedules/reload")),
        200,
    )
    .await;
    let weekly = json!({"name": "weekly", "cron": "weekly", "sources": ["sales"]});
    tour.call(
        "create_schedule",
        admin.post(url("/api/schedules")).json(&weekly),
        201,
    )
    .await;
    tour.call(
        "replace_schedule",
        admin.put(url("/api/schedules/weekly")).json(
            &json!({"name": "weekly", "cron": "0 7 * * 1", "sources": ["sales"], "enabled": false}),
        ),
        200,
    )
    .await;
    tour.call(
        "delete_schedule",
        admin.delete(url("/api/schedules/weekly")),
        204,
    )
    .await;
    tour.call(
        "notification_config",
        admin.get(url("/api/notifications/config")),
        200,
    )
    .await;
    tour.call(
        "test_notification",
        admin.post(url("/api/notifications/test")),
        400,
    )
    .await;
    tour.call(
        "notification_deliveries",
        admin.get(url("/api/notifications/deliveries?limit=5")),
        200,
    )
    .await;
    tour.call(
        "recent_schedule_runs",
        admin.get(url("/api/schedules/history/recent")),
        200,
    )
    .await;

    // scripts: one that runs until it is cancelled
    std::fs::create_dir_all(app.root().join("scripts/tools")).unwrap();
    std::fs::write(
        app.root().join("scripts/tools/wait.py"),
        "import time\ntime.sleep(60)\n",
    )
    .unwrap();
    tour.call("list_scripts", admin.get(url("/api/scripts")), 200)
        .await;
    tour.call(
        "get_script",
        admin.get(url("/api/scripts/tools%2Fwait.py")),
        200,
    )
    .await;
    let started = tour
        .call(
            "run_script",
            admin.post(url("/api/scripts/tools%2Fwait.py/run?timeout_seconds=30")),
            200,
        )
        .await;
    let script_run = started["run_id"].as_str().unwrap().to_string();
    app.wait_status(&admin, &script_run, "running").await;
    tour.call(
        "cancel_script",
        admin.post(url("/api/scripts/tools%2Fwait.py/cancel")),
        200,
    )
    .await;
    tour.call(
        "script_history",
        admin.get(url("/api/scripts/tools%2Fwait.py/history?limit=5")),
        200,
    )
    .await;
    tour.call(
        "script_run_log",
        admin.get(url(&format!(
            "/api/scripts/tools%2Fwait.py/runs/{script_run}"
        ))),
        200,
    )
    .await;
    let files = tour
        .call(
            "list_files",
            admin.get(url("/api/sources/sales/csv-files")),
            200,
        )
        .await;

    // dbt and the catalog (the sync generated stg_sales__sales)
    tour.call("list_dbt_models", admin.get(url("/api/dbt/models")), 200)
        .await;
    let built = tour
        .call(
            "run_dbt",
            admin
                .post(url("/api/dbt/run"))
                .json(&json!({"command": "build"})),
            200,
        )
        .await;
    app.wait_run(&admin, built["run_id"].as_str().unwrap())
        .await;
    let model = tour
        .call(
            "run_dbt_model",
            admin.post(url("/api/dbt/models/stg_sales__sales/run")),
            200,
        )
        .await;
    app.wait_run(&admin, model["run_id"].as_str().unwrap())
        .await;
    let answer = tour
        .call(
            "run_query",
            admin
                .post(url("/api/query"))
                .json(&json!({"sql": "SELECT count(*) AS n FROM staging.stg_sales__sales"})),
            200,
        )
        .await;
    assert_eq!(answer["columns"][0]["name"], "n", "{answer}");
    tour.call(
        "run_query",
        admin
            .post(url("/api/query"))
            .json(&json!({"sql": "DROP TABLE staging.stg_sales__sales"})),
        400,
    )
    .await;
    let tables = tour
        .call(
            "list_queryable_tables",
            admin.get(url("/api/query/schema")),
            200,
        )
        .await;
    assert!(tables["tables"].as_array().unwrap().len() >= 2, "{tables}");
    // Entries are kept after the answer: wait for both queries above.
    for _ in 0..100 {
        let history = tour
            .call(
                "list_query_history",
                admin.get(url("/api/query/history?limit=10")),
                200,
            )
            .await;
        if history["entries"].as_array().map_or(0, Vec::len) >= 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    tour.call(
        "list_query_history",
        admin.get(url("/api/query/history?limit=0")),
        400,
    )
    .await;
    tour.call(
        "clear_query_history",
        admin.delete(url("/api/query/history")),
        200,
    )
    .await;
    tour.call(
        "catalog_profile_table",
        admin.post(url("/api/catalog/sales/sales/profile")),
        200,
    )
    .await;
    tour.call(
        "catalog_table_columns",
        admin.get(url("/api/catalog/sales/stg_sales__sales/columns")),
        200,
    )
    .await;
    tour.call(
        "catalog_table_columns",
        admin.get(url("/api/catalog/sales/nothing/columns")),
        404,
    )
    .await;
    tour.call(
        "catalog_search",
        admin.get(url("/api/catalog/search?q=sales")),
        200,
    )
    .await;
    tour.call(
        "catalog_search",
        admin.get(url("/api/catalog/search?q=%20x")),
        400,
    )
    .await;
    tour.call("list_agent_tools", admin.get(url("/api/tools")), 200)
        .await;
    tour.call(
        "catalog_summary",
        admin.get(url("/api/catalog/summary")),
        200,
    )
    .await;
    tour.call("catalog_models", admin.get(url("/api/catalog/models")), 200)
        .await;
    tour.call(
        "catalog_model",
        admin.get(url("/api/catalog/models/stg_sales__sales")),
        200,
    )
    .await;
    tour.call(
        "catalog_model_columns",
        admin.get(url("/api/catalog/models/stg_sales__sales/columns")),
        200,
    )
    .await;
    tour.call(
        "catalog_impact",
        admin.get(url("/api/catalog/impact/stg_sales__sales?column=amount")),
        200,
    )
    .await;
    tour.call(
        "catalog_lineage",
        admin.get(url("/api/catalog/lineage")),
        200,
    )
    .await;
    tour.call(
        "catalog_impact",
        admin.get(url("/api/catalog/impact/stg_sales__sales")),
        200,
    )
    .await;

    let path = files["files"][0]["path"].as_str().unwrap();
    tour.call(
        "delete_file",
        admin
            .delete(url("/api/sources/sales/csv-files"))
            .query(&[("file_path", path)]),
        200,
    )
    .await;
    tour.call(
        "list_audit_events",
        admin.get(url("/api/audit?limit=100")),
        200,
    )
    .await;

    // secrets
    tour.call(
        "set_secret",
        admin
            .post(url("/api/secrets"))
            .json(&json!({"key": "TOUR_TOKEN", "value": "t0ken"})),
        200,
    )
    .await;
    tour.call("list_secrets", admin.get(url("/api/secrets")), 200)
        .await;
    tour.call(
        "delete_secret",
        admin.delete(url("/api/secrets/TOUR_TOKEN")),
        200,
    )
    .await;

    // last: the first sync runs in the background
    tour.call(
        "skip_initial_sync_source",
        admin.post(url("/api/initial-sync/skip-source")),
        409,
    )
    .await;
    tour.call(
        "cancel_initial_sync",
        admin.post(url("/api/initial-sync/cancel")),
        409,
    )
    .await;
    tour.call(
        "start_initial_sync",
        admin.post(url("/api/initial-sync/start")),
        200,
    )
    .await;
    tour.call(
        "initial_sync_status",
        admin.get(url("/api/initial-sync/status")),
        200,
    )
    .await;

    let spec = dango::api::spec::document(&dango::api::service());
    let all: BTreeSet<String> = spec["paths"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|item| item.as_object().unwrap().values())
        .map(|operation| operation["operationId"].as_str().unwrap().to_string())
        .collect();
    let missed: Vec<&String> = all.difference(&tour.called).collect();
    assert!(missed.is_empty(), "the tour does not call {missed:?}");
    let _ = json; // the checker validates bodies; this test checks coverage
}
