//! The file watcher: changes under `platform.watch_directories` matching
//! `platform.watch_patterns` start a sync of the file sources they belong to, once
//! the directory has been quiet for `platform.debounce_seconds` (a burst of writes
//! gives one sync).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use notify_debouncer_full::notify::event::ModifyKind;
use notify_debouncer_full::notify::{EventKind, RecursiveMode};
use notify_debouncer_full::{DebounceEventResult, new_debouncer};
use tokio::sync::mpsc;

use crate::jobs::{self, Requester, RunDeps, RunRequest, SyncRequest};
use crate::runs::Trigger;
use crate::state::{AppState, FileWatcher};
use crate::util::glob;

fn is_hidden(path: &Path, root: &Path) -> bool {
    path.strip_prefix(root)
        .unwrap_or(path)
        .components()
        .any(|c| c.as_os_str().to_string_lossy().starts_with('.'))
}

/// Starts watching when `platform.auto_sync` is on; the watcher lives as long as the process.
/// A front end like the API: it holds the server's state and gives each sync it starts
/// only what starting a run needs.
pub fn start(state: Arc<AppState>) {
    let config = state.config();
    if !config.platform.auto_sync {
        return;
    }
    let root = state.paths.root.clone();
    let directories: Vec<PathBuf> = config
        .platform
        .watch_directories
        .iter()
        .map(|d| {
            if Path::new(d).is_absolute() {
                PathBuf::from(d)
            } else {
                root.join(d)
            }
        })
        .collect();
    let quiet = Duration::from_secs(config.platform.debounce_seconds.max(1));
    let patterns = config.platform.watch_patterns.clone();
    let (tx, rx) = mpsc::unbounded_channel::<Vec<PathBuf>>();
    // A short debouncer tick coalesces editors' write-rename sequences; the quiet period
    // for syncing is applied below.
    let debouncer = new_debouncer(
        Duration::from_millis(250),
        None,
        move |result: DebounceEventResult| {
            if let Ok(events) = result {
                // Content changes only: reading a file (as a sync does) must not trigger another sync.
                let paths: Vec<PathBuf> = events
                    .into_iter()
                    .filter(|e| {
                        matches!(
                            e.event.kind,
                            EventKind::Create(_)
                                | EventKind::Remove(_)
                                | EventKind::Modify(
                                    ModifyKind::Data(_) | ModifyKind::Name(_) | ModifyKind::Any
                                )
                        )
                    })
                    .flat_map(|e| e.event.paths.clone())
                    .collect();
                if !paths.is_empty() {
                    let _ = tx.send(paths);
                }
            }
        },
    );
    let mut debouncer = match debouncer {
        Ok(d) => d,
        Err(err) => {
            state.watcher.update(|s| s.error = Some(err.to_string()));
            tracing::warn!("file watcher unavailable: {err}");
            return;
        }
    };
    let mut watched = Vec::new();
    for dir in &directories {
        if let Err(err) = std::fs::create_dir_all(dir)
            .map_err(|e| e.to_string())
            .and_then(|_| {
                debouncer
                    .watch(dir, RecursiveMode::Recursive)
                    .map_err(|e| e.to_string())
            })
        {
            tracing::warn!("cannot watch {}: {err}", dir.display());
            continue;
        }
        watched.push(dir.to_string_lossy().into_owned());
    }
    state.watcher.update(|s| {
        s.running = !watched.is_empty();
        s.directories = watched;
    });
    tokio::spawn(run(state, debouncer, rx, root, patterns, quiet));
}

async fn run<D: Send + 'static>(
    state: Arc<AppState>,
    _debouncer: D,
    mut rx: mpsc::UnboundedReceiver<Vec<PathBuf>>,
    root: PathBuf,
    patterns: Vec<String>,
    quiet: Duration,
) {
    let mut pending: BTreeSet<PathBuf> = BTreeSet::new();
    loop {
        let received = if pending.is_empty() {
            rx.recv().await
        } else {
            match tokio::time::timeout(quiet, rx.recv()).await {
                Ok(received) => received,
                Err(_) => {
                    // quiet long enough: sync; keep the files pending if a sync is running
                    if trigger(RunDeps::of(&state), &state.watcher, &pending).await {
                        pending.clear();
                    }
                    state
                        .watcher
                        .update(|s| s.pending_files = names(&pending, &root));
                    continue;
                }
            }
        };
        let Some(paths) = received else { return };
        let relevant: Vec<PathBuf> = paths
            .into_iter()
            .filter(|p| !is_hidden(p, &root))
            .filter(|p| {
                let name = p
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                patterns.iter().any(|pattern| glob::matches(pattern, &name))
            })
            .collect();
        if relevant.is_empty() {
            continue;
        }
        pending.extend(relevant);
        state.watcher.update(|s| {
            s.last_event_at = Some(Utc::now());
            s.pending_files = names(&pending, &root);
        });
    }
}

fn names(paths: &BTreeSet<PathBuf>, root: &Path) -> Vec<String> {
    paths
        .iter()
        .map(|p| {
            p.strip_prefix(root)
                .unwrap_or(p)
                .to_string_lossy()
                .into_owned()
        })
        .collect()
}

/// Starts one sync of every enabled file source owning a changed file.
/// False when it must be retried (a sync of those sources is running).
async fn trigger(deps: RunDeps<'_>, status: &FileWatcher, changed: &BTreeSet<PathBuf>) -> bool {
    let Ok(config) = crate::sources::load(deps.paths) else {
        return true;
    };
    let mut sources = Vec::new();
    for source in config
        .sources
        .iter()
        .filter(|s| s.enabled && s.is_file_source())
    {
        let Some(dir) = source.file_directory(&deps.paths.root) else {
            continue;
        };
        let dir = dir.canonicalize().unwrap_or(dir);
        let pattern = source.file_pattern();
        let owns = changed.iter().any(|path| {
            let path = path
                .parent()
                .and_then(|p| p.canonicalize().ok())
                .map(|p| p.join(path.file_name().unwrap_or_default()))
                .unwrap_or_else(|| path.clone());
            path.strip_prefix(&dir)
                .ok()
                .is_some_and(|rel| glob::matches(&pattern, &rel.to_string_lossy()))
        });
        if owns {
            sources.push(source.name.clone());
        }
    }
    if sources.is_empty() {
        return true;
    }
    let request = RunRequest::Sync(SyncRequest {
        sources,
        ..Default::default()
    });
    let requester = Requester::system(Trigger::Watcher, None);
    match jobs::start(deps, request, &requester).await {
        Ok(run) => {
            status.update(|s| {
                s.last_sync_at = Some(Utc::now());
                s.last_run_id = Some(run.id);
            });
            true
        }
        Err(err) if err.kind == crate::ErrorKind::Conflict => false,
        Err(err) => {
            tracing::warn!("watcher could not start a sync: {err:?}");
            true
        }
    }
}
