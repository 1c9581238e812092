//! The first sync of a fresh deployment (behaviour §16.1): every enabled source synced in
//! turn (each an ordinary run, so history and events are the usual ones), then one build
//! of the models. Started once with a one-time deploy token (or by an admin); skipping a
//! source really stops its run, cancelling stops the current run and the rest.

use std::sync::Arc;

use serde::Serialize;

use super::transform::{TransformSpec, has_project};
use super::{Requester, RunDeps, RunRequest, SyncRequest};
use crate::auth::Principal;
use crate::config::ProjectPaths;
use crate::runs::initial_sync::{FailedSource, Progress};
use crate::runs::{self, RunStatus, Trigger};
use crate::state::AppState;
use crate::{Error, Result};

/// What a start said.
#[derive(Debug, Serialize, poem_openapi::Object)]
pub struct Started {
    /// `started`, or `skipped` when no source is configured.
    pub status: String,
    pub message: String,
}

fn token_file(paths: &ProjectPaths) -> std::path::PathBuf {
    paths.state_dir().join("deploy_token")
}

/// A new one-time deploy token: its SHA-256 replaces any earlier one (mode 0600); the
/// token itself is returned, to be shown once.
pub fn new_deploy_token(paths: &ProjectPaths) -> std::io::Result<String> {
    use rand::Rng;
    let mut bytes = [0u8; 32];
    rand::rng().fill(&mut bytes);
    let token = format!("dango_deploy_{}", hex::encode(bytes));
    let file = token_file(paths);
    crate::util::write_private(&file, crate::util::sha256_hex(&token).as_bytes())?;
    Ok(token)
}

/// Whether `token` is the deploy token; if so it is used up.
pub fn use_deploy_token(paths: &ProjectPaths, token: &str) -> bool {
    let file = token_file(paths);
    let Ok(expected) = std::fs::read_to_string(&file) else {
        return false;
    };
    let matches =
        crate::auth::tokens::constant_time_eq(&crate::util::sha256_hex(token), expected.trim());
    if matches && let Err(err) = std::fs::remove_file(&file) {
        tracing::warn!("cannot remove the used deploy token: {err}");
    }
    matches
}

/// Starts the first sync in the background. 409 while one is going.
pub async fn start(state: &Arc<AppState>) -> Result<Started> {
    if state.initial_sync.get(&state.paths).is_going() {
        return Err(Error::conflict("The first sync is already in progress"));
    }
    let sources: Vec<String> = crate::sources::load(&state.paths)?
        .sources
        .into_iter()
        .filter(|s| s.enabled)
        .map(|s| s.name)
        .collect();
    if sources.is_empty() {
        return Ok(Started {
            status: "skipped".into(),
            message: "No sources configured".into(),
        });
    }
    let total = sources.len();
    state.initial_sync.update(&state.paths, |p| {
        *p = Progress {
            phase: "syncing".into(),
            total_sources: u32::try_from(total).unwrap_or(u32::MAX),
            started_at: Some(chrono::Utc::now()),
            ..Default::default()
        }
    });
    let running = state.clone();
    tokio::spawn(async move { orchestrate(&running, sources).await });
    Ok(Started {
        status: "started".into(),
        message: format!("Syncing {total} source(s)"),
    })
}

async fn orchestrate(state: &Arc<AppState>, sources: Vec<String>) {
    let paths = &state.paths;
    for (index, name) in sources.iter().enumerate() {
        if state.initial_sync.get(paths).cancel_requested {
            state.initial_sync.update(paths, finished("cancelled"));
            return;
        }
        state.initial_sync.update(paths, |p| {
            p.current_source_index = u32::try_from(index + 1).unwrap_or(u32::MAX);
            p.current_source_name = Some(name.clone());
            p.skip_current_requested = false;
        });
        let request = RunRequest::Sync(SyncRequest {
            sources: vec![name.clone()],
            skip_transform: true,
            ..Default::default()
        });
        let outcome = run_to_end(state, request).await;
        state.initial_sync.update(paths, |p| {
            p.current_run_id = None;
            match outcome {
                _ if p.skip_current_requested => p.skipped_sources.push(name.clone()),
                Ok(_) => p.completed_sources.push(name.clone()),
                Err(error) => p.failed_sources.push(FailedSource {
                    name: name.clone(),
                    error,
                }),
            }
        });
    }
    let progress = state.initial_sync.get(paths);
    if progress.cancel_requested {
        state.initial_sync.update(paths, finished("cancelled"));
        return;
    }
    if !progress.completed_sources.is_empty() && has_project(paths) {
        state
            .initial_sync
            .update(paths, |p| p.phase = "building".into());
        let build = run_to_end(state, RunRequest::Transform(TransformSpec::default())).await;
        if let Err(error) = build {
            state.initial_sync.update(paths, |p| {
                p.error = Some(format!(
                    "The data is loaded, but the models did not build: {error}"
                ))
            });
        }
    }
    let ended = if state.initial_sync.get(paths).cancel_requested {
        "cancelled"
    } else {
        "complete"
    };
    state.initial_sync.update(paths, finished(ended));
}

fn finished(phase: &'static str) -> impl FnOnce(&mut Progress) {
    move |p| {
        p.phase = phase.into();
        p.current_source_name = None;
        p.current_run_id = None;
        p.completed_at = Some(chrono::Utc::now());
    }
}

/// Starts `request`, waits for its end; the error says why it did not succeed.
async fn run_to_end(state: &Arc<AppState>, request: RunRequest) -> std::result::Result<(), String> {
    let requester = Requester::system(Trigger::Api, Some("first sync"));
    let run = crate::jobs::start(RunDeps::of(state), request, &requester)
        .await
        .map_err(|e| e.message)?;
    state
        .initial_sync
        .update(&state.paths, |p| p.current_run_id = Some(run.id.clone()));
    let ended = runs::wait_end(&state.db, &run.id, None)
        .await
        .map_err(|e| e.message)?;
    if ended.status == RunStatus::Success.as_str() {
        Ok(())
    } else {
        Err(ended.error.unwrap_or(ended.status))
    }
}

/// Skips the source being synced (its run is stopped). 409 when nothing is syncing.
pub async fn skip_current(state: &AppState, principal: &Principal) -> Result<String> {
    let progress = state.initial_sync.get(&state.paths);
    if progress.phase != "syncing" {
        return Err(Error::conflict("No first sync is in progress"));
    }
    state
        .initial_sync
        .update(&state.paths, |p| p.skip_current_requested = true);
    stop_current(state, &progress, principal).await;
    Ok(format!(
        "Skipping {}",
        progress.current_source_name.unwrap_or_default()
    ))
}

/// Stops the first sync: the current run is stopped, nothing after it starts.
pub async fn cancel(state: &AppState, principal: &Principal) -> Result<String> {
    let progress = state.initial_sync.get(&state.paths);
    if !progress.is_going() {
        return Err(Error::conflict("No first sync is in progress"));
    }
    state
        .initial_sync
        .update(&state.paths, |p| p.cancel_requested = true);
    stop_current(state, &progress, principal).await;
    Ok("Cancellation requested".into())
}

async fn stop_current(state: &AppState, progress: &Progress, principal: &Principal) {
    if let Some(run_id) = &progress.current_run_id
        && let Err(err) =
            super::cancel::cancel(super::cancel::CancelDeps::of(state), run_id, principal).await
    {
        tracing::info!(
            "the first sync's run {run_id} was not stopped: {}",
            err.message
        );
    }
}
