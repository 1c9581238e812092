//! The use cases of file sources (`csv`, `local_files`): upload a file (streamed to its
//! final place, never overwriting), list what is on disk and what is loaded, delete a
//! file and its rows. Every front end (the API today, the web UI and agents next) goes
//! through these, so the rules (names, extensions, patterns, path confinement, the
//! audit trail, the events) hold wherever the request comes from.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::{Stream, StreamExt};
use sea_orm::DatabaseConnection;
use serde_json::json;
use tokio::io::AsyncWriteExt;

use crate::activity::{self, Level};
use crate::auth::Principal;
use crate::auth::audit::{self, AuditEvent};
use crate::config::ProjectPaths;
use crate::config::sources::SourceConfig;
use crate::error::code;
use crate::events::{CsvDeletedEvent, CsvUploadedEvent, Event, EventBus};
use crate::ingest::files;
use crate::jobs::{self, Requester, RunDeps, RunRequest, SyncRequest};
use crate::runs::queue::JobQueue;
use crate::state::AppState;
use crate::util::glob;
use crate::warehouse::Warehouse;
use crate::{Error, ErrorKind, Result, sources};

pub const MAX_UPLOAD_BYTES: u64 = 100 * 1024 * 1024;
/// Large writes: the disk sees few, big requests.
const WRITE_BUFFER: usize = 4 * 1024 * 1024;

/// What the file use cases read and write.
#[derive(Clone, Copy)]
pub struct FileDeps<'a> {
    pub paths: &'a ProjectPaths,
    pub db: &'a DatabaseConnection,
    pub warehouse: &'a Arc<Warehouse>,
    pub events: &'a EventBus,
    pub queue: &'a JobQueue,
}

impl<'a> FileDeps<'a> {
    pub fn of(state: &'a AppState) -> Self {
        Self {
            paths: &state.paths,
            db: &state.db,
            warehouse: &state.warehouse,
            events: &state.events,
            queue: &state.jobs,
        }
    }
}

/// Who asks, for the audit trail.
#[derive(Clone, Copy)]
pub struct Actor<'a> {
    pub principal: &'a Principal,
    pub ip: IpAddr,
}

/// A configured file source and its directory.
pub struct FileSource {
    pub config: SourceConfig,
    pub dir: PathBuf,
}

/// The file source called `name`: 404 if unknown, 400 if it is not a file source.
pub fn file_source(paths: &ProjectPaths, name: &str) -> Result<FileSource> {
    let config = sources::get(paths, name)?;
    if !config.is_file_source() {
        return Err(Error::bad_request(format!(
            "Source '{}' is not a file source (type: {})",
            config.name, config.source_type
        )));
    }
    let dir = config
        .file_directory(&paths.root)
        .ok_or_else(|| Error::bad_request(format!("Source '{}' has no directory", config.name)))?;
    Ok(FileSource { config, dir })
}

/// What an upload did.
pub struct Uploaded {
    pub source: String,
    pub file_name: String,
    pub size: u64,
    pub message: String,
    /// The sync it started, if asked to and none was already running.
    pub run_id: Option<String>,
}

/// Stores `body` as `file_name` in the directory of `source` (from [`file_source`], which
/// a front end calls before it reads the body), records it (audit, activity,
/// event) and, with `trigger_sync`, starts a sync of the source (unless one is already
/// queued or running: that one, or the next, loads the file).
pub async fn upload<S>(
    deps: FileDeps<'_>,
    actor: Actor<'_>,
    source: FileSource,
    file_name: Option<&str>,
    body: S,
    trigger_sync: bool,
) -> Result<Uploaded>
where
    S: Stream<Item = Result<Bytes>> + Unpin,
{
    let name = file_name
        .and_then(sanitize_filename)
        .ok_or_else(|| Error::bad_request("The upload has no file name"))?;
    check_extension(&source.config, &name)?;
    let size = store(body, &source.dir, &name).await?;
    let source_name = source.config.name;
    audit::record(
        deps.db,
        AuditEvent::new("csv_uploaded")
            .actor(actor.principal)
            .ip(actor.ip)
            .details(json!({"source_name": source_name, "filename": name, "size": size})),
    )
    .await;
    activity::record(
        deps.db,
        Level::Success,
        Some(&source_name),
        &format!("File uploaded: {name}"),
    )
    .await;
    deps.events.publish(Event::new(CsvUploadedEvent {
        source: source_name.clone(),
        file: name.clone(),
        message: format!("File {name} uploaded to {source_name}"),
    }));
    let mut message = format!("File uploaded successfully: {name}");
    let mut run_id = None;
    if trigger_sync {
        let run_deps = RunDeps {
            db: deps.db,
            queue: deps.queue,
            paths: deps.paths,
        };
        let request = RunRequest::Sync(SyncRequest {
            sources: vec![source_name.clone()],
            ..Default::default()
        });
        match jobs::start(run_deps, request, &Requester::principal(actor.principal)).await {
            Ok(run) => {
                message.push_str(" - Sync started.");
                run_id = Some(run.id);
            }
            Err(err) if err.kind == ErrorKind::Conflict => {
                message.push_str(
                    " - A sync of this source is already running; it will pick the file up next time.",
                );
            }
            Err(err) => return Err(err),
        }
    }
    Ok(Uploaded {
        source: source_name,
        file_name: name,
        size,
        message,
        run_id,
    })
}

/// One file of a file source: on disk, loaded, or both.
pub struct FileEntry {
    /// The path relative to the source directory.
    pub filename: String,
    /// Absolute (what [`delete`] takes back).
    pub path: String,
    pub size: Option<u64>,
    pub modified: Option<DateTime<Utc>>,
    pub on_disk: bool,
    pub loaded: bool,
    pub rows_loaded: Option<i64>,
    pub loaded_at: Option<String>,
    /// `loaded`, `updated`, `pending` (on disk, not loaded yet) or `file_deleted`.
    pub status: String,
}

pub struct FileListing {
    pub source: String,
    pub directory: String,
    pub file_pattern: String,
    pub files: Vec<FileEntry>,
}

/// The files matching the source's pattern, merged with what has been loaded.
pub async fn list(deps: FileDeps<'_>, source_name: &str) -> Result<FileListing> {
    let FileSource { config, dir } = file_source(deps.paths, source_name)?;
    let pattern = config.file_pattern();
    let on_disk = if dir.is_dir() {
        files::list_files(&dir, &pattern)?.0
    } else {
        vec![]
    };
    let name = config.name.clone();
    let tracked = deps
        .warehouse
        .read(move |conn| files::tracked_for_listing(conn, &name))
        .await?;
    let mut entries = Vec::new();
    for file in &on_disk {
        let record = tracked
            .iter()
            .find(|t| t.path == file.relative && t.status != "deleted");
        entries.push(FileEntry {
            filename: file.relative.clone(),
            path: file.absolute.to_string_lossy().into_owned(),
            size: Some(file.size),
            modified: DateTime::from_timestamp(file.mtime, 0),
            on_disk: true,
            loaded: record.is_some(),
            rows_loaded: record.map(|r| r.rows_loaded),
            loaded_at: record.and_then(|r| r.loaded_at.clone()),
            status: record
                .map(|r| r.status.clone())
                .unwrap_or_else(|| "pending".into()),
        });
    }
    for record in &tracked {
        if record.status == "deleted" || on_disk.iter().any(|f| f.relative == record.path) {
            continue;
        }
        entries.push(FileEntry {
            filename: record.path.clone(),
            path: dir.join(&record.path).to_string_lossy().into_owned(),
            size: None,
            modified: None,
            on_disk: false,
            loaded: true,
            rows_loaded: Some(record.rows_loaded),
            loaded_at: record.loaded_at.clone(),
            status: "file_deleted".into(),
        });
    }
    Ok(FileListing {
        source: config.name,
        directory: dir.to_string_lossy().into_owned(),
        file_pattern: pattern,
        files: entries,
    })
}

/// What a delete did.
pub struct Deleted {
    pub source: String,
    /// Absolute.
    pub path: String,
    /// Relative to the source directory.
    pub relative: String,
    pub rows_removed: u64,
}

/// Deletes a file of the source and its loaded rows. `file_path` is the absolute path the
/// listing reports, or a path relative to the source directory or the project root; after
/// following symlinks it must be a file inside the source directory.
pub async fn delete(
    deps: FileDeps<'_>,
    actor: Actor<'_>,
    source_name: &str,
    file_path: &str,
) -> Result<Deleted> {
    let FileSource { config, dir } = file_source(deps.paths, source_name)?;
    let path = confined_path(&dir, &deps.paths.root, file_path)?;
    let relative = relative_name(&dir, &path);
    let (name, rel) = (config.name.clone(), relative.clone());
    let rows_removed = deps
        .warehouse
        .write(move |conn| files::forget_file(conn, &name, &rel))
        .await?;
    tokio::fs::remove_file(&path).await?;
    audit::record(
        deps.db,
        AuditEvent::new("csv_deleted")
            .actor(actor.principal)
            .ip(actor.ip)
            .details(json!({"source_name": config.name, "filename": relative, "rows_removed": rows_removed})),
    )
    .await;
    activity::record(
        deps.db,
        Level::Info,
        Some(&config.name),
        &format!("File deleted: {relative} ({rows_removed} rows removed)"),
    )
    .await;
    deps.events.publish(Event::new(CsvDeletedEvent {
        source: config.name.clone(),
        file: relative.clone(),
        rows: rows_removed,
    }));
    Ok(Deleted {
        source: config.name,
        path: path.to_string_lossy().into_owned(),
        relative,
        rows_removed,
    })
}

/// The name a file is stored under: control characters dropped, only the last path
/// component kept, surrounding whitespace and leading dots trimmed.
pub fn sanitize_filename(raw: &str) -> Option<String> {
    let cleaned: String = raw.chars().filter(|c| !c.is_control()).collect();
    let last = cleaned.rsplit(['/', '\\']).next().unwrap_or_default();
    let name = last.trim().trim_start_matches('.').trim();
    (!name.is_empty() && name.len() <= 255).then(|| name.to_string())
}

fn check_extension(source: &SourceConfig, name: &str) -> Result<()> {
    let ext = Path::new(name)
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    if source.source_type == "csv" {
        if ext != "csv" {
            return Err(Error::bad_request(
                "Only CSV files are supported for this source",
            ));
        }
    } else if !files::SUPPORTED_EXTENSIONS.contains(&ext.as_str()) {
        return Err(Error::bad_request(
            "Unsupported file format. Supported: .csv, .json, .jsonl, .ndjson, .parquet",
        ));
    }
    let pattern = source.file_pattern();
    if !glob::matches(&pattern, name) {
        return Err(Error::bad_request(format!(
            "File name '{name}' does not match the source's file_pattern '{pattern}', so it would never be loaded"
        )));
    }
    Ok(())
}

/// Streams `body` into a file next to its destination (its only copy: the bytes are
/// written once, as they arrive), syncs it, then links it into place, which fails if the
/// name is taken (no overwrite, no race). A failed or oversized upload leaves nothing.
async fn store<S>(mut body: S, dir: &Path, name: &str) -> Result<u64>
where
    S: Stream<Item = Result<Bytes>> + Unpin,
{
    tokio::fs::create_dir_all(dir).await?;
    let target = dir.join(name);
    if tokio::fs::try_exists(&target).await.unwrap_or(false) {
        return Err(exists(name));
    }
    let temp = dir.join(format!(".upload-{}.tmp", uuid::Uuid::new_v4().simple()));
    let result = async {
        let file = tokio::fs::File::create(&temp).await?;
        let mut writer = tokio::io::BufWriter::with_capacity(WRITE_BUFFER, file);
        let mut written: u64 = 0;
        while let Some(chunk) = body.next().await {
            let chunk = chunk?;
            written += chunk.len() as u64;
            if written > MAX_UPLOAD_BYTES {
                return Err(Error::too_large(
                    "File too large. Maximum upload size is 100 MB.",
                ));
            }
            writer.write_all(&chunk).await?;
        }
        writer.flush().await?;
        let file = writer.into_inner();
        // Durable before it is visible: a crash never leaves a truncated file to be loaded.
        file.sync_data().await?;
        drop(file);
        match tokio::fs::hard_link(&temp, &target).await {
            Ok(()) => Ok(written),
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => Err(exists(name)),
            Err(err) => Err(Error::from(err)),
        }
    }
    .await;
    let _ = tokio::fs::remove_file(&temp).await;
    result
}

fn exists(name: &str) -> Error {
    Error::conflict(format!(
        "File '{name}' already exists. Delete the existing file first or rename your file."
    ))
}

/// `file_path` resolved inside `dir`: the absolute path the listing reports (through
/// any symlink), or a path relative to the source directory or to the project root.
fn confined_path(dir: &Path, project_root: &Path, file_path: &str) -> Result<PathBuf> {
    let dir = dir
        .canonicalize()
        .map_err(|_| Error::not_found(format!("Source directory not found: {}", dir.display())))?;
    let candidate = Path::new(file_path);
    let resolved = if candidate.is_absolute() {
        candidate.canonicalize().ok()
    } else {
        dir.join(candidate)
            .canonicalize()
            .or_else(|_| project_root.join(candidate).canonicalize())
            .ok()
    }
    .ok_or_else(|| Error::not_found(format!("File not found: {file_path}")))?;
    if !resolved.starts_with(&dir) || resolved == dir {
        return Err(
            Error::forbidden("Cannot delete files outside source directory")
                .with_code(code::PATH_OUTSIDE_SOURCE),
        );
    }
    if !resolved.is_file() {
        return Err(Error::not_found(format!("File not found: {file_path}")));
    }
    Ok(resolved)
}

fn relative_name(dir: &Path, path: &Path) -> String {
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    path.strip_prefix(&dir)
        .map(|p| {
            p.components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/")
        })
        .unwrap_or_else(|_| {
            path.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        })
}

#[cfg(test)]
mod tests {
    use super::sanitize_filename;

    #[test]
    fn filenames_are_sanitized() {
        assert_eq!(
            sanitize_filename("../../etc/passwd.csv").as_deref(),
            Some("passwd.csv")
        );
        assert_eq!(
            sanitize_filename("C:\\Users\\x\\data.csv").as_deref(),
            Some("data.csv")
        );
        assert_eq!(
            sanitize_filename(" sales\u{0}.csv ").as_deref(),
            Some("sales.csv")
        );
        assert_eq!(
            sanitize_filename(".hidden.csv").as_deref(),
            Some("hidden.csv")
        );
        assert_eq!(sanitize_filename(".."), None);
        assert_eq!(sanitize_filename("dir/"), None);
    }
}
