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
        .env("DANGO_PASSWORD", PASSWORD)
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
