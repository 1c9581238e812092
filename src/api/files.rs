//! File sources: upload (streamed to disk, 100 MB), list, delete.

use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::error::ContentTypeError;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::payload::Payload;
use poem_openapi::registry::{MetaRequest, Registry};
use poem_openapi::types::multipart::Upload;
use poem_openapi::{
    ApiExtractor, ApiExtractorType, ExtractParamOptions, Multipart, Object, OpenApi,
};
use serde_json::json;
use tokio::io::AsyncWriteExt;

use super::ApiTag;
use super::context::Caller;
use crate::activity::{self, Level};
use crate::auth::audit::{self, AuditEvent};
use crate::config::sources::SourceConfig;
use crate::error::code;
use crate::events::{CsvDeletedEvent, CsvUploadedEvent, Event};
use crate::ingest::files;
use crate::jobs::{Requester, RunRequest, SyncRequest};
use crate::state::AppState;
use crate::util::glob;
use crate::{Error, Result, jobs, sources};

pub struct FilesApi;

pub const MAX_UPLOAD_BYTES: usize = 100 * 1024 * 1024;

/// The documented shape of an upload. The handler does not parse it into memory or a
/// temporary file: [`StreamedUpload`] hands it the body to stream into place.
#[derive(Multipart)]
pub struct UploadForm {
    /// The file (CSV for `csv` sources; CSV, JSON, JSONL, NDJSON or Parquet for `local_files`).
    #[expect(
        dead_code,
        reason = "the shape is documented here; StreamedUpload reads the body"
    )]
    pub file: Upload,
}

/// A `multipart/form-data` body in the shape of [`UploadForm`], read as it arrives.
pub struct StreamedUpload(multer::Multipart<'static>);

impl<'a> ApiExtractor<'a> for StreamedUpload {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];
    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        <UploadForm as Payload>::register(registry);
    }

    fn request_meta() -> Option<MetaRequest> {
        <UploadForm as ApiExtractor<'a>>::request_meta()
    }

    async fn from_request(
        request: &'a poem::Request,
        body: &mut poem::RequestBody,
        _options: ExtractParamOptions<()>,
    ) -> poem::Result<Self> {
        let content_type = request
            .content_type()
            .ok_or(ContentTypeError::ExpectContentType)?;
        let boundary =
            multer::parse_boundary(content_type).map_err(|_| ContentTypeError::NotSupported {
                content_type: content_type.to_string(),
            })?;
        Ok(Self(multer::Multipart::new(
            body.take()?.into_bytes_stream(),
            boundary,
        )))
    }
}

impl StreamedUpload {
    /// The `file` part (other parts are skipped).
    async fn file(&mut self) -> Result<multer::Field<'static>> {
        while let Some(field) = self.0.next_field().await.map_err(malformed)? {
            if field.name() == Some("file") {
                return Ok(field);
            }
        }
        Err(Error::bad_request("The upload has no `file` part"))
    }
}

#[derive(Object)]
pub struct UploadResponse {
    pub success: bool,
    pub message: String,
    pub source_name: String,
    pub file_name: String,
    pub size: u64,
    /// A sync was started for the source.
    pub auto_sync: bool,
    pub run_id: Option<String>,
}

#[derive(Object)]
pub struct FileEntry {
    pub filename: String,
    /// Absolute path on the server (what `DELETE …/csv-files?file_path=` takes).
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

#[derive(Object)]
pub struct FileList {
    pub source_name: String,
    pub directory: String,
    pub file_pattern: String,
    pub files: Vec<FileEntry>,
    pub total_files: u64,
    pub files_on_disk: u64,
    pub files_loaded: u64,
}

#[derive(Object)]
pub struct DeleteResponse {
    pub success: bool,
    pub message: String,
    pub file_path: String,
    pub source_name: String,
    pub rows_removed: u64,
}

fn file_source(state: &AppState, name: &str) -> Result<(SourceConfig, PathBuf)> {
    let source = sources::get(&state.paths, name)?;
    if !source.is_file_source() {
        return Err(Error::bad_request(format!(
            "Source '{}' is not a file source (type: {})",
            source.name, source.source_type
        )));
    }
    let dir = source
        .file_directory(&state.paths.root)
        .ok_or_else(|| Error::bad_request(format!("Source '{}' has no directory", source.name)))?;
    Ok((source, dir))
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
    let ext = FsPath::new(name)
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

/// Streams the upload into a file next to its destination (its only copy: the bytes are
/// written once, as they arrive), syncs it, then links it into place, which fails if the
/// name is taken (no overwrite, no race). A failed or oversized upload leaves nothing.
async fn store(mut field: multer::Field<'static>, dir: &FsPath, name: &str) -> Result<u64> {
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
        while let Some(chunk) = field.chunk().await.map_err(malformed)? {
            written += chunk.len() as u64;
            if written > MAX_UPLOAD_BYTES as u64 {
                return Err(too_large());
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

/// Large writes: the disk sees few, big requests.
const WRITE_BUFFER: usize = 4 * 1024 * 1024;

fn too_large() -> Error {
    Error::too_large("File too large. Maximum upload size is 100 MB.")
}

fn malformed(err: multer::Error) -> Error {
    Error::bad_request(format!(
        "The upload is not valid multipart/form-data: {err}"
    ))
}

fn exists(name: &str) -> Error {
    Error::conflict(format!(
        "File '{name}' already exists. Delete the existing file first or rename your file."
    ))
}

/// `file_path` resolved inside `dir`: the absolute path the listing reports (through
/// any symlink), or a path relative to the source directory or to the project root.
fn confined_path(dir: &FsPath, project_root: &FsPath, file_path: &str) -> Result<PathBuf> {
    let dir = dir
        .canonicalize()
        .map_err(|_| Error::not_found(format!("Source directory not found: {}", dir.display())))?;
    let candidate = FsPath::new(file_path);
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

fn relative_name(dir: &FsPath, path: &FsPath) -> String {
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

#[OpenApi(tag = "ApiTag::Files")]
impl FilesApi {
    /// Upload a file to a file source
    ///
    /// At most 100 MB; an existing file is never overwritten (409). With
    /// `trigger_sync=true` a sync of the source starts afterwards.
    #[oai(
        path = "/api/sources/:source_name/upload-csv",
        method = "post",
        operation_id = "upload_file"
    )]
    async fn upload(
        &self,
        state: Data<&Arc<AppState>>,
        caller: Caller,
        /// Name of a configured `csv` or `local_files` source (letters, digits and underscores,
        /// at most 128; case-insensitive); other source types get 400, an unknown name 404.
        source_name: Path<String>,
        /// Start a sync of the source after storing the file (default `false`); if one is
        /// already queued or running, none starts (`auto_sync: false`) and the next sync loads it.
        #[oai(default)]
        trigger_sync: Query<bool>,
        mut upload: StreamedUpload,
    ) -> Result<Json<UploadResponse>> {
        let Caller(principal, ctx) = caller;
        let (source, dir) = file_source(&state, &source_name)?;
        let file = upload.file().await?;
        let name = file
            .file_name()
            .and_then(sanitize_filename)
            .ok_or_else(|| Error::bad_request("The upload has no file name"))?;
        check_extension(&source, &name)?;
        let size = store(file, &dir, &name).await?;
        audit::record(
            &state.db,
            AuditEvent::new("csv_uploaded")
                .actor(&principal)
                .ip(ctx.client_ip)
                .details(json!({"source_name": source.name, "filename": name, "size": size})),
        )
        .await;
        activity::record(
            &state.db,
            Level::Success,
            Some(&source.name),
            &format!("File uploaded: {name}"),
        )
        .await;
        state.events.publish(Event::new(CsvUploadedEvent {
            source: source.name.clone(),
            file: name.clone(),
            message: format!("File {name} uploaded to {}", source.name),
        }));
        let mut message = format!("File uploaded successfully: {name}");
        let mut run_id = None;
        if trigger_sync.0 {
            match jobs::start(
                crate::jobs::RunDeps::of(&state),
                RunRequest::Sync(SyncRequest {
                    sources: vec![source.name.clone()],
                    ..Default::default()
                }),
                &Requester::principal(&principal),
            )
            .await
            {
                Ok(run) => {
                    message.push_str(" - Sync started.");
                    run_id = Some(run.id);
                }
                Err(err) if err.kind == crate::ErrorKind::Conflict => {
                    message.push_str(" - A sync of this source is already running; it will pick the file up next time.");
                }
                Err(err) => return Err(err),
            }
        }
        Ok(Json(UploadResponse {
            success: true,
            message,
            source_name: source.name,
            file_name: name,
            size,
            auto_sync: run_id.is_some(),
            run_id,
        }))
    }

    /// Files of a file source, on disk and loaded
    ///
    /// The files in the source's directory that match its `file_pattern`, merged with what
    /// has been loaded. Each file is `pending` (on disk, not loaded), `loaded`, `updated`
    /// (reloaded after a change) or `file_deleted` (loaded, but gone from disk until the next
    /// sync removes its rows).
    #[oai(
        path = "/api/sources/:source_name/csv-files",
        method = "get",
        operation_id = "list_files"
    )]
    async fn list(
        &self,
        state: Data<&Arc<AppState>>,
        /// Name of a configured `csv` or `local_files` source (letters, digits and underscores,
        /// at most 128; case-insensitive); other source types get 400, an unknown name 404.
        source_name: Path<String>,
    ) -> Result<Json<FileList>> {
        let (source, dir) = file_source(&state, &source_name)?;
        let pattern = source.file_pattern();
        let on_disk = if dir.is_dir() {
            files::list_files(&dir, &pattern)?.0
        } else {
            vec![]
        };
        let name = source.name.clone();
        let tracked = state
            .warehouse
            .read(move |conn| files::tracked_for_listing(conn, &name))
            .await?;
        let mut entries: Vec<FileEntry> = Vec::new();
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
        Ok(Json(FileList {
            source_name: source.name,
            directory: dir.to_string_lossy().into_owned(),
            file_pattern: pattern,
            total_files: entries.len() as u64,
            files_on_disk: entries.iter().filter(|e| e.on_disk).count() as u64,
            files_loaded: entries.iter().filter(|e| e.loaded).count() as u64,
            files: entries,
        }))
    }

    /// Delete a file of a file source (and its rows)
    ///
    /// `file_path` is absolute or relative to the source directory, and must stay
    /// inside it (403 otherwise).
    #[oai(
        path = "/api/sources/:source_name/csv-files",
        method = "delete",
        operation_id = "delete_file"
    )]
    async fn delete(
        &self,
        state: Data<&Arc<AppState>>,
        caller: Caller,
        /// Name of a configured `csv` or `local_files` source (letters, digits and underscores,
        /// at most 128; case-insensitive); other source types get 400, an unknown name 404.
        source_name: Path<String>,
        /// The file to delete, with its loaded rows: the absolute `path` from the file listing,
        /// or a path relative to the source directory (or the project root). After following
        /// symlinks it must be a file inside the source directory (403 otherwise, 404 if missing).
        file_path: Query<String>,
    ) -> Result<Json<DeleteResponse>> {
        let Caller(principal, ctx) = caller;
        let (source, dir) = file_source(&state, &source_name)?;
        let path = confined_path(&dir, &state.paths.root, &file_path)?;
        let relative = relative_name(&dir, &path);
        let name = source.name.clone();
        let rel = relative.clone();
        let rows_removed = state
            .warehouse
            .write(move |conn| files::forget_file(conn, &name, &rel))
            .await?;
        tokio::fs::remove_file(&path).await?;
        audit::record(
            &state.db,
            AuditEvent::new("csv_deleted")
                .actor(&principal)
                .ip(ctx.client_ip)
                .details(json!({"source_name": source.name, "filename": relative, "rows_removed": rows_removed})),
        )
        .await;
        activity::record(
            &state.db,
            Level::Info,
            Some(&source.name),
            &format!("File deleted: {relative} ({rows_removed} rows removed)"),
        )
        .await;
        state.events.publish(Event::new(CsvDeletedEvent {
            source: source.name.clone(),
            file: relative.clone(),
            rows: rows_removed,
        }));
        Ok(Json(DeleteResponse {
            success: true,
            message: format!("File deleted: {relative}"),
            file_path: path.to_string_lossy().into_owned(),
            source_name: source.name,
            rows_removed,
        }))
    }
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
