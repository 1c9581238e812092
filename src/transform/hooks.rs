//! dbt hooks: a node's `pre-hook`/`post-hook` and the project's `on-run-start`/`on-run-end`,
//! rendered when they run (with `this` and the node's config, as dbt does).

use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;

use super::TransformError;
use super::jinja::{Mode, Resolver};
use super::manifest::Manifest;
use super::nodes::Node;
use super::results::{NodeResult, Status};

/// Runs the project's `on-run-start` or `on-run-end` statements, one result each
/// (`operation.<project>.<project>-on-run-end-0`, as dbt names them).
pub(super) fn operation_hooks(
    manifest: &Manifest,
    resolver: &Arc<Resolver>,
    which: &str,
    conn: &duckdb::Connection,
) -> Vec<NodeResult> {
    let project = &manifest.project;
    let hooks = if which == "on-run-start" {
        &project.on_run_start
    } else {
        &project.on_run_end
    };
    let mut results = Vec::new();
    for (index, hook) in hooks.iter().enumerate() {
        let name = format!("{}-{which}-{index}", project.name);
        let started_at = Utc::now();
        let clock = Instant::now();
        let scope = super::jinja::Scope {
            mode: Mode::Compile,
            resolver: resolver.clone(),
            target: project.target.clone(),
            unique_id: format!("operation.{}.{name}", project.name),
            name: name.clone(),
            resource_type: "operation".into(),
            this: None,
            is_incremental: false,
            config: Default::default(),
            connection: conn.try_clone().ok().map(std::sync::Mutex::new),
        };
        let (rendered, _) = manifest.templates.render_snippet(hook, scope);
        let outcome = rendered
            .map_err(|message| format!("Compilation Error in {which} hook {index}: {message}"))
            .and_then(|sql| {
                if sql.trim().is_empty() {
                    return Ok(());
                }
                conn.execute_batch(&sql)
                    .map_err(|e| format!("Database Error in {which} hook {index}: {e}"))
            });
        let failed = outcome.as_ref().err().cloned();
        results.push(NodeResult {
            unique_id: format!("operation.{}.{name}", project.name),
            status: if failed.is_some() {
                Status::Error
            } else {
                Status::Success
            },
            message: failed,
            failures: None,
            rows_affected: None,
            started_at,
            completed_at: Utc::now(),
            execution_time: clock.elapsed().as_secs_f64(),
            compiled_code: None,
            relation_name: None,
            thread_id: "main".into(),
        });
    }
    results
}

/// Renders and runs a node's `pre_hook` or `post_hook` statements (rendered at run
/// time, with `this` and the node's config, as dbt does).
pub(super) fn run_node_hooks(
    manifest: &Manifest,
    resolver: &Arc<Resolver>,
    node: &Node,
    key: &str,
    conn: &duckdb::Connection,
) -> Result<(), TransformError> {
    for hook in node.config.hooks(key) {
        let mut scope = manifest.scope(node, Mode::Compile, resolver.clone());
        scope.connection = conn.try_clone().ok().map(std::sync::Mutex::new);
        let (rendered, _) = manifest.templates.render_snippet(&hook, scope);
        let sql = rendered.map_err(|message| TransformError::Compilation {
            node: node.unique_id.clone(),
            file: node.original_file_path.clone(),
            line: None,
            message: format!("in {}: {message}", key.replace('_', "-")),
        })?;
        if !sql.trim().is_empty() {
            conn.execute_batch(&sql).map_err(|e| {
                super::TransformError::in_node(node, format!("in {}: {e}", key.replace('_', "-")))
            })?;
        }
    }
    Ok(())
}
