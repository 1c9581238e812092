//! The native dbt-compatible transformation engine: reads the dbt project in `dbt/`,
//! renders its Jinja, builds models, seeds, snapshots and tests in dependency order on
//! the warehouse, and writes dbt's artifacts (`manifest.json`, `run_results.json`,
//! `catalog.json`).

pub mod compile;
pub mod config;
pub mod graph;
mod hooks;
pub mod jinja;
pub mod manifest;
pub mod materialize;
pub mod nodes;
pub mod project;
pub mod results;
mod returns;
pub mod runner;
pub mod seeds;
pub mod snapshots;
pub mod staging;
pub mod status;
pub mod values;

use crate::error::code;
use std::path::Path;

/// What can go wrong in a transformation, each naming the file (and line when known).
#[derive(Debug, Clone, thiserror::Error)]
pub enum TransformError {
    #[error("{0}")]
    Parse(String),
    #[error("Compilation Error in {node} ({file}{}): {message}", line.map(|l| format!(", line {l}")).unwrap_or_default())]
    Compilation {
        node: String,
        file: String,
        line: Option<usize>,
        message: String,
    },
    #[error("Database Error in {node} ({file}): {message}")]
    Database {
        node: String,
        file: String,
        message: String,
    },
    #[error("Found a cycle: {}", .0.join(" --> "))]
    Cycle(Vec<String>),
    #[error("{0}")]
    Io(String),
}

impl TransformError {
    /// The warehouse refused what a node ran.
    pub fn in_node(node: &nodes::Node, message: String) -> Self {
        TransformError::Database {
            node: format!("{} {}", node.resource_type.as_str(), node.name),
            file: node.original_file_path.clone(),
            message,
        }
    }

    pub fn io(path: &Path, err: std::io::Error) -> Self {
        TransformError::Io(format!("{}: {err}", path.display()))
    }
}

impl From<TransformError> for crate::Error {
    fn from(err: TransformError) -> Self {
        crate::Error::unprocessable(err.to_string()).with_code(code::TRANSFORM_FAILED)
    }
}

pub mod artifact_model;
pub mod artifacts;

use serde_json::{Map, Value};

/// The warehouse's catalog name (dbt-duckdb uses it as `target.database`).
pub fn database_name(conn: &duckdb::Connection) -> Result<String, TransformError> {
    conn.query_row("SELECT current_database()", [], |row| {
        row.get::<_, String>(0)
    })
    .map_err(|e| TransformError::Io(format!("reading the warehouse's name: {e}")))
}

/// Parses the project in `dbt_dir` and runs `request` on the warehouse. A parse or
/// compile problem (dbt's exit code 2) is an `Err`; node failures are in the report.
pub fn run_project(
    dbt_dir: &Path,
    vars: &Map<String, Value>,
    request: &runner::Request,
    connect: runner::Connect<'_>,
    progress: &(dyn Fn(runner::Progress) + Sync),
) -> Result<(manifest::Manifest, runner::RunReport), TransformError> {
    let conn = connect().map_err(TransformError::Io)?;
    let database = database_name(&conn)?;
    drop(conn);
    let manifest = manifest::Manifest::load(dbt_dir, &database, vars)?;
    let report = runner::run(&manifest, request, connect, progress)?;
    Ok((manifest, report))
}
