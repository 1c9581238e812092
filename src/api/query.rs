//! `POST /api/query`: ad-hoc read-only SQL (permission `query.execute`), answered as JSON
//! or, for downloads, as CSV or NDJSON of the whole result.

use std::sync::Arc;

use poem::web::Data;
use poem::{Body, IntoResponse, Request, Response};
use poem_openapi::param::Query;
use poem_openapi::payload::Json;
use poem_openapi::registry::{MetaMediaType, MetaResponse, MetaResponses, Registry};
use poem_openapi::types::Type;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::ApiTag;
use super::context::Caller;
use crate::Result;
use crate::auth::{Permission, Principal};
use crate::query::history::HistoryEntry;
use crate::query::schema::QueryableTables;
use crate::query::{self, Asker, ExportFormat, QueryDeps, QueryLimits, QueryResult};
use crate::state::AppState;

pub struct QueryApi;

#[derive(Object)]
pub struct QueryRequest {
    /// One read-only query (SELECT, WITH, VALUES, FROM-first; at most 100 KB). Tables are
    /// named `schema.table` (`raw_<source>.<table>`, `staging.stg_…`, `marts.…`).
    #[oai(validator(min_length = 1))]
    pub sql: String,
    /// Rows to return at most (default and maximum: `api.query_max_rows`, 10,000). Ignored
    /// for CSV and NDJSON downloads, which hold the whole result up to
    /// `api.query_export_max_rows`.
    #[oai(validator(minimum(value = "1")))]
    pub limit: Option<u64>,
}

/// What a query for this caller may use and where it reports.
fn deps<'a>(state: &'a AppState, principal: &Principal) -> QueryDeps<'a> {
    let config = state.config();
    let masked = (config.api.mask_pii && !principal.can(Permission::GovernanceManage))
        .then(|| state.pii_columns.snapshot());
    QueryDeps {
        warehouse: &state.warehouse,
        db: &state.db,
        running: &state.running_queries,
        limits: QueryLimits::of(&config.api),
        masked,
        export_dir: state.paths.state_dir().join("exports"),
        passed: state.passed_queries.clone(),
    }
}

/// The format the client asked for with `Accept`.
fn export_format(req: &Request) -> Option<ExportFormat> {
    let accept = req.header("accept")?.to_ascii_lowercase();
    // The first of the download formats named wins; JSON otherwise.
    accept.split(',').find_map(
        |part| match part.split(';').next().unwrap_or_default().trim() {
            "text/csv" => Some(ExportFormat::Csv),
            "application/x-ndjson" | "application/ndjson" => Some(ExportFormat::Ndjson),
            _ => None,
        },
    )
}

#[OpenApi(tag = "ApiTag::Query")]
impl QueryApi {
    /// Run a read-only SQL query on the warehouse
    ///
    /// Exactly one read-only query (DuckDB dialect). Refused with 400 before it runs:
    /// anything but a query (DDL, DML, ATTACH, COPY, SET, PRAGMA, transactions, stacked
    /// statements), table functions other than `range`, `generate_series` and `unnest`
    /// (no file, URL or catalog readers), files named as tables (`FROM 'x.csv'`), and
    /// functions that reveal the host (`getenv`, `current_setting`). A syntax error answers
    /// with the parser's message and `line`/`column`. SQL over 100 KB answers 413.
    ///
    /// At most `limit` rows (default 10,000) come back, with `truncated: true` when there
    /// were more; a query runs at most `api.query_timeout_seconds` (30 s; then it is
    /// interrupted and 408 answers); each user runs at most `api.query_max_concurrent`
    /// queries at once (429 beyond, with `Retry-After`). With `Accept: text/csv` or
    /// `Accept: application/x-ndjson` the whole result (up to
    /// `api.query_export_max_rows`) is sent as a download instead; `X-Dango-Rows` gives the
    /// row count and `X-Dango-Truncated: true` says the cap was reached. Every query is
    /// audited (`query_executed`, `query_exported` or `query_refused`, with the SHA-256 of
    /// the SQL).
    #[oai(path = "/api/query", method = "post", operation_id = "run_query")]
    async fn run(
        &self,
        state: Data<&Arc<AppState>>,
        caller: Caller,
        req: &Request,
        body: Json<QueryRequest>,
    ) -> Result<QueryAnswer> {
        let Caller(principal, ctx) = caller;
        let asker = Asker {
            principal: &principal,
            ip: ctx.ip(),
        };
        let deps = deps(&state, &principal);
        let sql = &body.0.sql;
        if let Some(format) = export_format(req) {
            let export = query::export(deps, sql, format, &asker).await?;
            return Ok(QueryAnswer::Download(format, export));
        }
        let limit = body
            .0
            .limit
            .map(|n| usize::try_from(n).unwrap_or(usize::MAX));
        Ok(QueryAnswer::Rows(
            query::run(deps, sql, limit, &asker).await?,
        ))
    }

    /// List the tables and views a query can read
    ///
    /// Every relation of the warehouse (`raw_<source>`, `staging`, the dbt schemas) with
    /// its columns and their DuckDB types, for the query page's table browser and for
    /// editors' completion.
    #[oai(
        path = "/api/query/schema",
        method = "get",
        operation_id = "list_queryable_tables"
    )]
    async fn schema(&self, state: Data<&Arc<AppState>>) -> Result<Json<QueryableTables>> {
        Ok(Json(query::schema::tables(&state.warehouse).await?))
    }

    /// Your recent queries
    ///
    /// The queries you ran from the web UI (signed in with a browser session, or as the
    /// local admin), newest first, with their outcome; at most 200 are kept per person.
    /// Queries made with an API key are audited but not kept here. Nobody else's
    /// history is visible, whatever their role.
    #[oai(
        path = "/api/query/history",
        method = "get",
        operation_id = "list_query_history"
    )]
    async fn history(
        &self,
        state: Data<&Arc<AppState>>,
        caller: Caller,
        /// Entries to return (1–200, default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u64>>,
    ) -> Result<Json<QueryHistory>> {
        let Caller(principal, _) = caller;
        let entries =
            query::history::recent(&state.db, &principal.user_id, limit.0.unwrap_or(50)).await?;
        Ok(Json(QueryHistory { entries }))
    }

    /// Clear your query history
    #[oai(
        path = "/api/query/history",
        method = "delete",
        operation_id = "clear_query_history"
    )]
    async fn clear_history(
        &self,
        state: Data<&Arc<AppState>>,
        caller: Caller,
    ) -> Result<Json<ClearedHistory>> {
        let Caller(principal, _) = caller;
        let removed = query::history::clear(&state.db, &principal.user_id).await?;
        Ok(Json(ClearedHistory { removed }))
    }
}

#[derive(Object)]
pub struct QueryHistory {
    pub entries: Vec<HistoryEntry>,
}

#[derive(Object)]
pub struct ClearedHistory {
    /// Entries removed.
    pub removed: u64,
}

/// The rows as JSON, or the whole result as a download.
pub enum QueryAnswer {
    Rows(QueryResult),
    Download(ExportFormat, query::Export),
}

impl IntoResponse for QueryAnswer {
    fn into_response(self) -> Response {
        match self {
            // Written by serde straight from the result (the same shape the document
            // publishes): poem-openapi's `Json` would build a second tree of every value first.
            QueryAnswer::Rows(result) => match serde_json::to_vec(&result) {
                Ok(body) => Response::builder()
                    .content_type("application/json; charset=utf-8")
                    .body(body),
                Err(err) => crate::Error::internal(err).to_response(),
            },
            QueryAnswer::Download(format, export) => {
                let (content_type, name) = match format {
                    ExportFormat::Csv => ("text/csv; charset=utf-8", "query.csv"),
                    ExportFormat::Ndjson => ("application/x-ndjson", "query.ndjson"),
                };
                let file = tokio::fs::File::from_std(export.file);
                Response::builder()
                    .content_type(content_type)
                    .header(
                        "Content-Disposition",
                        format!("attachment; filename=\"{name}\""),
                    )
                    .header("X-Dango-Rows", export.rows.to_string())
                    .header("X-Dango-Truncated", export.capped.to_string())
                    .body(Body::from_async_read(file))
            }
        }
    }
}

impl ApiResponse for QueryAnswer {
    fn meta() -> MetaResponses {
        MetaResponses {
            responses: vec![MetaResponse {
                description: "The rows (JSON), or the whole result as CSV or NDJSON when `Accept` asks for it",
                status: Some(200),
                status_range: None,
                content: vec![
                    MetaMediaType {
                        content_type: "application/json; charset=utf-8",
                        schema: QueryResult::schema_ref(),
                    },
                    MetaMediaType {
                        content_type: "text/csv",
                        schema: String::schema_ref(),
                    },
                    MetaMediaType {
                        content_type: "application/x-ndjson",
                        schema: String::schema_ref(),
                    },
                ],
                headers: vec![],
            }],
        }
    }

    fn register(registry: &mut Registry) {
        QueryResult::register(registry);
    }
}
