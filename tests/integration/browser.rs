//! The pages in a real browser: headless Chromium (Debian's) driven by playwright-core,
//! each page checked by axe-core. The scripts under `tests/browser` do what a person
//! would; these tests set the scene (users, data) with the same helpers as the rest of
//! the suite and fail with the script's output. They need `DANGO_BROWSER_MODULES` (a
//! `node_modules` with the pinned packages of `tests/browser/package.json`), so they are
//! ignored by default; `.ci/run` runs them.

use std::path::PathBuf;

use dango::auth::Role;

use crate::common::{PASSWORD, TestApp};

/// Where screenshots go: `target/screenshots` next to the build, kept between runs.
fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target"));
    target.join("screenshots")
}

/// Runs `tests/browser/<script>` against `app` as `email`; panics with its output when
/// it fails.
async fn run_script(app: &TestApp, script: &str, email: &str) {
    run_script_with(app, script, email, PASSWORD).await;
}

async fn run_script_with(app: &TestApp, script: &str, email: &str, password: &str) {
    let Some(modules) = std::env::var_os("DANGO_BROWSER_MODULES") else {
        panic!("set DANGO_BROWSER_MODULES to a node_modules with playwright-core and axe-core");
    };
    let output = tokio::process::Command::new("node")
        .arg(
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("tests/browser")
                .join(script),
        )
        .env("DANGO_BROWSER_MODULES", modules)
        .env("DANGO_URL", app.url(""))
        .env("DANGO_EMAIL", email)
        .env("DANGO_PASSWORD", password)
        .env("DANGO_SCREENSHOTS", screenshot_dir())
        .output()
        .await
        .expect("run node");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    assert!(
        output.status.success(),
        "{script} failed:\n{stdout}\n{stderr}"
    );
}

#[tokio::test]
#[ignore = "needs Chromium and DANGO_BROWSER_MODULES; .ci/run runs it"]
async fn an_editor_profiles_a_table_queries_it_charts_and_downloads() {
    let app = TestApp::start().await;
    let email = "analyst@example.com";
    app.user(email, Role::Editor).await;
    let editor = app.login(email).await;
    app.synced_csv_source(
        &editor,
        "orders",
        "name,amount,<img src=x onerror=alert(1)>\nbert,2.5,x\nanna,1.25,y\ncleo,10,z\ndora,,w\n",
    )
    .await;
    run_script(&app, "query_and_catalog.mjs", email).await;
}

#[tokio::test]
#[ignore = "needs Chromium and DANGO_BROWSER_MODULES; .ci/run runs it"]
async fn an_editor_runs_a_model_and_uploads_a_file_that_syncs_live() {
    let app = TestApp::start().await;
    let email = "ops@example.com";
    app.user(email, Role::Editor).await;
    let editor = app.login(email).await;
    app.write_sources(
        "  - name: shop\n    type: csv\n    description: '<script>alert(\"source\")</script> shop export'\n    csv: {directory: data/uploads/shop}\n",
    );
    let dir = app.root().join("data/uploads/shop");
    std::fs::create_dir_all(&dir).expect("create upload folder");
    std::fs::write(
        dir.join("a.csv"),
        "item,amount\nalpha,1\nbravo,2\ncharlie,3\n",
    )
    .expect("write csv");
    // A mart over the staging model the sync generates.
    let marts = app.root().join("dbt/models/marts");
    std::fs::write(
        marts.join("shop_totals.sql"),
        "select item, sum(amount) as total from {{ ref('stg_shop__shop') }} group by item\n",
    )
    .expect("write model");
    std::fs::write(
        marts.join("shop_totals.yml"),
        "version: 2\nmodels:\n  - name: shop_totals\n    description: '<img src=x onerror=alert(\"model\")> totals per item'\n",
    )
    .expect("write model docs");
    let run = app.sync(&editor, "shop", serde_json::json!({})).await;
    assert_eq!(run["status"], "success", "{run}");
    run_script(&app, "sources_and_models.mjs", email).await;
}

#[tokio::test]
#[ignore = "needs Chromium and DANGO_BROWSER_MODULES; .ci/run runs it"]
async fn an_admin_reads_platform_health_filters_the_activity_log_and_sees_schedules() {
    let app = TestApp::start().await;
    let email = "admin@example.com";
    app.user(email, Role::Admin).await;
    let admin = app.login(email).await;
    app.synced_demo(&admin).await;
    std::fs::write(
        app.root().join(".dango/schedules.yml"),
        "schedules:\n- {name: nightly, cron: daily, timezone: Europe/Berlin, sources: [orders, customers]}\n",
    )
    .expect("write schedules.yml");
    run_script(&app, "health_and_logs.mjs", email).await;
}

#[tokio::test]
#[ignore = "needs Chromium and DANGO_BROWSER_MODULES; .ci/run runs it"]
async fn an_editor_runs_scripts_reads_their_output_and_cancels_a_slow_one() {
    use std::os::unix::fs::PermissionsExt;
    let app = TestApp::start().await;
    let email = "ops@example.com";
    app.user(email, Role::Editor).await;
    let scripts = app.root().join("scripts");
    std::fs::create_dir_all(scripts.join("reports")).expect("scripts dir");
    let files = [
        ("reports/daily.py", "print('3 sources checked')\n", 0o644),
        ("reports/_shared.py", "VALUE = 1\n", 0o644),
        (
            "broken.sh",
            "#!/bin/sh\necho 'reading orders'\necho 'the orders file is empty' >&2\nexit 2\n",
            0o755,
        ),
        (
            "slow.sh",
            "#!/bin/sh\ni=0\nwhile true; do i=$((i+1)); echo \"tick $i\"; sleep 0.5; done\n",
            0o755,
        ),
    ];
    for (name, body, mode) in files {
        let file = scripts.join(name);
        std::fs::write(&file, body).expect("write script");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).expect("chmod");
    }
    run_script(&app, "scripts_page.mjs", email).await;
}

#[tokio::test]
#[ignore = "needs Chromium and DANGO_BROWSER_MODULES; .ci/run runs it"]
async fn an_admin_secures_their_account_and_invites_a_viewer_who_sees_no_admin_controls() {
    let app = TestApp::start().await;
    let email = "admin@example.com";
    app.user(email, Role::Admin).await;
    let admin = app.login(email).await;
    app.synced_csv_source(&admin, "orders", "id,amount\n1,2.5\n")
        .await;
    run_script(&app, "account_and_users.mjs", email).await;
}

#[tokio::test]
#[ignore = "needs Chromium and DANGO_BROWSER_MODULES; .ci/run runs it"]
async fn a_new_user_must_choose_a_password_and_enrol_2fa_before_anything_else() {
    let app = TestApp::start_with(|config| config.auth.require_2fa = true).await;
    let email = "new.hire@example.com";
    let created = dango::auth::users::create(
        app.db(),
        dango::auth::users::NewUser {
            email,
            role: Role::Editor,
            display_name: None,
            credential: dango::auth::users::Credential::Temporary,
        },
    )
    .await
    .expect("create user");
    let temporary = created.temp_password.expect("a temporary password");
    run_script_with(&app, "forced_setup.mjs", email, &temporary).await;
}
