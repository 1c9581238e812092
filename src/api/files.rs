//! File sources: upload (streamed to disk, 100 MB), list, delete.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures::StreamExt;
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

use super::ApiTag;
use super::context::Caller;
use crate::file_sources::{self, Actor, FileDeps};
use crate::state::AppState;
use crate::{Error, Result};

pub struct FilesApi;

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

impl From<file_sources::FileEntry> for FileEntry {
    fn from(entry: file_sources::FileEntry) -> Self {
        Self {
            filename: entry.filename,
            path: entry.path,
            size: entry.size,
            modified: entry.modified,
            on_disk: entry.on_disk,
            loaded: entry.loaded,
            rows_loaded: entry.rows_loaded,
            loaded_at: entry.loaded_at,
            status: entry.status,
        }
    }
}

fn malformed(err: multer::Error) -> Error {
    Error::bad_request(format!(
        "The upload is not valid multipart/form-data: {err}"
    ))
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
        let source = file_sources::file_source(&state.paths, &source_name)?;
        let file = upload.file().await?;
        let file_name = file.file_name().map(str::to_string);
        let actor = Actor {
            principal: &principal,
            ip: ctx.client_ip,
        };
        let uploaded = file_sources::upload(
            FileDeps::of(&state),
            actor,
            source,
            file_name.as_deref(),
            file.map(|chunk| chunk.map_err(malformed)),
            trigger_sync.0,
        )
        .await?;
        Ok(Json(UploadResponse {
            success: true,
            message: uploaded.message,
            source_name: uploaded.source,
            file_name: uploaded.file_name,
            size: uploaded.size,
            auto_sync: uploaded.run_id.is_some(),
            run_id: uploaded.run_id,
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
        let listing = file_sources::list(FileDeps::of(&state), &source_name).await?;
        let files: Vec<FileEntry> = listing.files.into_iter().map(FileEntry::from).collect();
        Ok(Json(FileList {
            source_name: listing.source,
            directory: listing.directory,
            file_pattern: listing.file_pattern,
            total_files: files.len() as u64,
            files_on_disk: files.iter().filter(|e| e.on_disk).count() as u64,
            files_loaded: files.iter().filter(|e| e.loaded).count() as u64,
            files,
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
        let actor = Actor {
            principal: &principal,
            ip: ctx.client_ip,
        };
        let deleted =
            file_sources::delete(FileDeps::of(&state), actor, &source_name, &file_path).await?;
        Ok(Json(DeleteResponse {
            success: true,
            message: format!("File deleted: {}", deleted.relative),
            file_path: deleted.path,
            source_name: deleted.source,
            rows_removed: deleted.rows_removed,
        }))
    }
}
