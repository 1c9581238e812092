//! The file watcher: a burst of file writes gives exactly one sync, after a quiet period.

use crate::common::{TestApp, json};
use dango::auth::Role;

#[tokio::test]
async fn a_burst_of_writes_triggers_one_sync() {
    let app = TestApp::start_with(|c| {
        c.platform.debounce_seconds = 1;
        c.platform.watch_directories = vec!["data/uploads".into()];
    })
    .await;
    app.write_sources("  - name: drops\n    type: local_files\n    local_files: {directory: data/uploads/drops}\n");
    let client = app.login_as(Role::Viewer).await;
    let status = json(app.get(&client, "/api/watcher/status").await).await;
    assert_eq!(status["running"], true, "{status}");
    assert_eq!(status["debounce_seconds"], 1);

    let dir = app.root().join("data/uploads/drops");
    std::fs::create_dir_all(&dir).unwrap();
    for i in 0..5 {
        std::fs::write(
            dir.join(format!("part{i}.csv")),
            format!("id,value\n{i},{}\n", i * 10),
        )
        .unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    }
    // ignored: hidden files and patterns not watched
    std::fs::write(dir.join(".partial.csv"), "id\n1\n").unwrap();
    std::fs::write(dir.join("notes.txt"), "hello").unwrap();

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let run = loop {
        let runs = dango::runs::recent(app.db(), 10).await.unwrap();
        let finished: Vec<_> = runs
            .iter()
            .filter(|r| r.trigger == "watcher" && dango::runs::is_terminal(&r.status))
            .collect();
        if let Some(run) = finished.first() {
            break (*run).clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no watcher sync: {runs:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(run.status, "success", "{run:?}");
    assert_eq!(run.rows_processed, Some(5));
    assert_eq!(app.count("raw_drops.drops").await, 5);
    // quiet afterwards: still exactly one watcher run
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let runs = dango::runs::recent(app.db(), 10).await.unwrap();
    assert_eq!(
        runs.iter().filter(|r| r.trigger == "watcher").count(),
        1,
        "{runs:?}"
    );
    let status = json(app.get(&client, "/api/watcher/status").await).await;
    assert_eq!(status["last_run_id"], run.id.as_str());
    assert_eq!(status["pending_files"], serde_json::json!([]));
}

#[tokio::test]
async fn no_watcher_without_auto_sync() {
    let app = TestApp::start_with(|c| c.platform.auto_sync = false).await;
    let client = app.login_as(Role::Viewer).await;
    let status = json(app.get(&client, "/api/watcher/status").await).await;
    assert_eq!(status["running"], false);
    assert_eq!(status["auto_sync_enabled"], false);
}
