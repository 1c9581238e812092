//! Running a selection of the project in dependency order: models, seeds, snapshots and
//! tests, independent nodes in parallel on their own warehouse connections. A failed
//! node (or a failing test with severity `error`) skips its descendants, nothing else.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use chrono::Utc;

use super::compile::compile;
use super::graph::{self, Graph};
use super::jinja::Resolver;
use super::manifest::Manifest;
use super::materialize::{self, TestOutcome};
use super::nodes::{Node, ResourceType};
pub use super::results::{Command, NodeResult, RunReport, Status};
use super::{TransformError, seeds, snapshots};

#[derive(Clone, Debug)]
pub struct Request {
    pub command: Command,
    pub select: Vec<String>,
    pub exclude: Vec<String>,
    pub full_refresh: bool,
    pub threads: Option<usize>,
}

/// What the runner reports while it works.
#[derive(Clone, Debug)]
pub enum Progress {
    Started {
        unique_id: String,
        index: usize,
        total: usize,
    },
    Finished(Box<NodeResult>),
}

/// Opens a connection to the warehouse for a worker thread.
pub type Connect<'a> = &'a (dyn Fn() -> Result<duckdb::Connection, String> + Sync);

struct Shared {
    pending: BTreeMap<String, BTreeSet<String>>,
    running: usize,
    done: HashMap<String, Status>,
    results: Vec<NodeResult>,
    started: usize,
}

fn skip_result(id: &str, relation: Option<String>, message: String) -> NodeResult {
    let now = Utc::now();
    NodeResult {
        unique_id: id.to_string(),
        status: Status::Skipped,
        message: Some(message),
        failures: None,
        rows_affected: None,
        started_at: now,
        completed_at: now,
        execution_time: 0.0,
        compiled_code: None,
        relation_name: relation,
        thread_id: "main".into(),
    }
}

/// Runs `request` over the manifest.
pub fn run(
    manifest: &Manifest,
    request: &Request,
    connect: Connect<'_>,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<RunReport, TransformError> {
    let began = Instant::now();
    let graph = Graph::new(manifest);
    // Nodes on a cycle cannot run; everything else still can.
    let mut failed_early: BTreeMap<String, TransformError> = graph.cycles(manifest);
    for (id, err) in &manifest.broken {
        failed_early
            .entry(id.clone())
            .or_insert_with(|| err.clone());
    }
    let selected = graph::select(manifest, &graph, &request.select, &request.exclude)?;
    let run_set: BTreeSet<String> = selected
        .into_iter()
        .filter(|id| {
            manifest
                .nodes
                .get(id)
                .is_some_and(|n| request.command.runs(n.resource_type) && !n.is_ephemeral())
        })
        .collect();
    // Each node waits for its ancestors in the run set (through ephemeral models too).
    let mut pending: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for id in &run_set {
        let mut waits: BTreeSet<String> = graph
            .ancestors(id)
            .into_iter()
            .filter(|a| run_set.contains(a))
            .collect();
        // a node on a cycle is its own ancestor: it fails at once instead of waiting
        if failed_early.contains_key(id) {
            waits.clear();
        }
        waits.remove(id);
        pending.insert(id.clone(), waits);
    }
    // In a build, a node also waits for a test when every node the test depends on is
    // upstream of it (dbt's test edges): a failing test stops the nodes below.
    let tests: Vec<&Node> = run_set
        .iter()
        .filter_map(|id| manifest.nodes.get(id))
        .filter(|n| n.resource_type == ResourceType::Test)
        .collect();
    for (id, waits) in pending.iter_mut() {
        if manifest
            .nodes
            .get(id)
            .is_none_or(|n| n.resource_type == ResourceType::Test)
        {
            continue;
        }
        let upstream = graph.ancestors(id);
        for test in &tests {
            if !test.depends_on.is_empty() && test.depends_on.iter().all(|p| upstream.contains(p)) {
                waits.insert(test.unique_id.clone());
            }
        }
    }
    let resolver = manifest.resolver();
    {
        // Schemas first: creating them from parallel workers would conflict.
        let conn = connect().map_err(TransformError::Io)?;
        let mut schemas: BTreeSet<(String, String)> = BTreeSet::new();
        for id in &run_set {
            let node = &manifest.nodes[id];
            if node.resource_type != ResourceType::Test {
                schemas.insert((node.database.clone(), node.schema.clone()));
            }
        }
        for (database, schema) in schemas {
            materialize::ensure_schema(&conn, &database, &schema).map_err(|message| {
                TransformError::Database {
                    node: format!("schema {schema}"),
                    file: String::new(),
                    message,
                }
            })?;
        }
    }
    let mut hook_results = Vec::new();
    if !run_set.is_empty() {
        let conn = connect().map_err(TransformError::Io)?;
        hook_results = super::hooks::operation_hooks(manifest, &resolver, "on-run-start", &conn);
        if let Some(failed) = hook_results.iter().find(|r| r.status == Status::Error) {
            // dbt runs nothing after a failing on-run-start hook.
            return Err(TransformError::Database {
                node: failed.unique_id.clone(),
                file: "dbt_project.yml".into(),
                message: failed.message.clone().unwrap_or_default(),
            });
        }
    }
    let total = run_set.len();
    let threads = request
        .threads
        .unwrap_or(manifest.project.target.threads)
        .clamp(1, 16)
        .min(total.max(1));
    let shared = Mutex::new(Shared {
        pending,
        running: 0,
        done: HashMap::new(),
        results: Vec::with_capacity(total),
        started: 0,
    });
    let wakeup = Condvar::new();
    let worker_error: Mutex<Option<TransformError>> = Mutex::new(None);

    std::thread::scope(|scope| {
        for worker in 0..threads {
            let (shared, wakeup, resolver, worker_error, failed_early) =
                (&shared, &wakeup, &resolver, &worker_error, &failed_early);
            scope.spawn(move || {
                let conn = match connect() {
                    Ok(conn) => conn,
                    Err(err) => {
                        *worker_error.lock().unwrap_or_else(|e| e.into_inner()) =
                            Some(TransformError::Io(err));
                        return;
                    }
                };
                let thread_id = format!("Thread-{}", worker + 1);
                loop {
                    let next = {
                        let mut state = shared.lock().unwrap_or_else(|e| e.into_inner());
                        loop {
                            if state.pending.is_empty() {
                                break None;
                            }
                            // first, settle nodes whose upstream failed (to a fixpoint: a skip
                            // may block further nodes)
                            loop {
                                let blocked: Vec<(String, String)> = state
                                    .pending
                                    .iter()
                                    .filter_map(|(id, waits)| {
                                        waits
                                            .iter()
                                            .find(|w| {
                                                state.done.get(*w).is_some_and(|s| s.blocks())
                                            })
                                            .map(|w| (id.clone(), w.clone()))
                                    })
                                    .collect();
                                if blocked.is_empty() {
                                    break;
                                }
                                for (id, cause) in blocked {
                                    state.pending.remove(&id);
                                    state.done.insert(id.clone(), Status::Skipped);
                                    let node = &manifest.nodes[&id];
                                    let cause_name = manifest
                                        .nodes
                                        .get(&cause)
                                        .map(|n| n.name.clone())
                                        .unwrap_or(cause);
                                    let result = skip_result(
                                        &id,
                                        (node.resource_type != ResourceType::Test)
                                            .then(|| node.relation_name()),
                                        format!("Skipped because {cause_name} did not succeed"),
                                    );
                                    progress(Progress::Finished(Box::new(result.clone())));
                                    state.results.push(result);
                                    wakeup.notify_all();
                                }
                            }
                            let ready = state
                                .pending
                                .iter()
                                .find(|(_, waits)| waits.iter().all(|w| state.done.contains_key(w)))
                                .map(|(id, _)| id.clone());
                            if let Some(id) = ready {
                                state.pending.remove(&id);
                                state.running += 1;
                                state.started += 1;
                                progress(Progress::Started {
                                    unique_id: id.clone(),
                                    index: state.started,
                                    total,
                                });
                                break Some(id);
                            }
                            if state.pending.is_empty() {
                                break None;
                            }
                            state = wakeup.wait(state).unwrap_or_else(|e| e.into_inner());
                        }
                    };
                    let Some(id) = next else {
                        wakeup.notify_all();
                        return;
                    };
                    let node = &manifest.nodes[&id];
                    let mut result = match failed_early.get(&id) {
                        Some(err) => {
                            let mut failed = skip_result(&id, None, err.to_string());
                            failed.status = Status::Error;
                            failed
                        }
                        None => execute_node(manifest, resolver, node, request.full_refresh, &conn),
                    };
                    result.thread_id = thread_id.clone();
                    progress(Progress::Finished(Box::new(result.clone())));
                    let mut state = shared.lock().unwrap_or_else(|e| e.into_inner());
                    state.running -= 1;
                    state.done.insert(id, result.status);
                    state.results.push(result);
                    wakeup.notify_all();
                }
            });
        }
    });
    if let Some(err) = worker_error.into_inner().unwrap_or_else(|e| e.into_inner()) {
        return Err(err);
    }
    let state = shared.into_inner().unwrap_or_else(|e| e.into_inner());
    let mut results = state.results;
    results.sort_by_key(|r| r.started_at);
    if !run_set.is_empty() {
        let conn = connect().map_err(TransformError::Io)?;
        hook_results.extend(super::hooks::operation_hooks(
            manifest,
            &resolver,
            "on-run-end",
            &conn,
        ));
    }
    // dbt reports the hooks as `operation` results: start hooks first, end hooks last.
    let end_hooks = hook_results.split_off(
        hook_results
            .iter()
            .position(|r| r.unique_id.contains("-on-run-end-"))
            .unwrap_or(hook_results.len()),
    );
    results.splice(0..0, hook_results);
    results.extend(end_hooks);
    Ok(RunReport {
        invocation_id: uuid::Uuid::new_v4().to_string(),
        command: request.command,
        generated_at: Utc::now(),
        elapsed_time: began.elapsed().as_secs_f64(),
        results,
        args: serde_json::json!({
            "which": request.command.as_str(),
            "select": request.select,
            "exclude": request.exclude,
            "full_refresh": request.full_refresh,
        }),
    })
}

fn execute_node(
    manifest: &Manifest,
    resolver: &Arc<Resolver>,
    node: &Node,
    full_refresh: bool,
    conn: &duckdb::Connection,
) -> NodeResult {
    let started_at = Utc::now();
    let clock = Instant::now();
    let relation_name = (node.resource_type != ResourceType::Test).then(|| node.relation_name());
    let mut result = NodeResult {
        unique_id: node.unique_id.clone(),
        status: Status::Success,
        message: None,
        failures: None,
        rows_affected: None,
        started_at,
        completed_at: started_at,
        execution_time: 0.0,
        compiled_code: None,
        relation_name,
        thread_id: String::new(),
    };
    let outcome = run_node(manifest, resolver, node, full_refresh, conn, &mut result);
    if let Err(err) = outcome {
        result.status = Status::Error;
        result.message = Some(err.to_string());
    }
    result.completed_at = Utc::now();
    result.execution_time = clock.elapsed().as_secs_f64();
    result
}

fn run_node(
    manifest: &Manifest,
    resolver: &Arc<Resolver>,
    node: &Node,
    full_refresh: bool,
    conn: &duckdb::Connection,
    result: &mut NodeResult,
) -> Result<(), TransformError> {
    let clone = || conn.try_clone().ok();
    match node.resource_type {
        ResourceType::Seed => {
            super::hooks::run_node_hooks(manifest, resolver, node, "pre_hook", conn)?;
            let (rows, created) = seeds::load(manifest, node, conn, full_refresh)
                .map_err(|m| TransformError::in_node(node, m))?;
            super::hooks::run_node_hooks(manifest, resolver, node, "post_hook", conn)?;
            result.rows_affected = Some(rows);
            result.message = Some(format!(
                "{} {rows}",
                if created { "CREATE" } else { "INSERT" }
            ));
        }
        ResourceType::Snapshot => {
            let compiled = compile(manifest, resolver, node, false, clone())?;
            write_compiled(manifest, node, &compiled.sql);
            result.compiled_code = Some(compiled.sql.clone());
            super::hooks::run_node_hooks(manifest, resolver, node, "pre_hook", conn)?;
            let rows = snapshots::run_snapshot(conn, node, &compiled.sql)
                .map_err(|m| TransformError::in_node(node, m))?;
            super::hooks::run_node_hooks(manifest, resolver, node, "post_hook", conn)?;
            result.rows_affected = Some(rows);
            result.message = Some("OK".into());
        }
        ResourceType::Test => {
            let compiled = compile(manifest, resolver, node, false, clone())?;
            write_compiled(manifest, node, &compiled.sql);
            result.compiled_code = Some(compiled.sql.clone());
            let TestOutcome {
                failures,
                should_warn,
                should_error,
            } = materialize::test(conn, node, &compiled.sql)
                .map_err(|m| TransformError::in_node(node, m))?;
            let severity = node
                .config
                .str("severity")
                .unwrap_or_else(|| "error".into())
                .to_lowercase();
            // dbt reports 0 failures for a passing test, even under a threshold
            result.failures = Some(if (severity == "error" && should_error) || should_warn {
                failures
            } else {
                0
            });
            result.status = if severity == "error" && should_error {
                Status::Fail
            } else if should_warn {
                Status::Warn
            } else {
                Status::Pass
            };
            if result.status != Status::Pass {
                let condition = if result.status == Status::Fail {
                    node.config.str("error_if").unwrap_or_else(|| "!= 0".into())
                } else {
                    node.config.str("warn_if").unwrap_or_else(|| "!= 0".into())
                };
                result.message = Some(format!(
                    "Got {failures} result{}, configured to {} if {condition}",
                    if failures == 1 { "" } else { "s" },
                    if result.status == Status::Fail {
                        "fail"
                    } else {
                        "warn"
                    }
                ));
            }
        }
        ResourceType::Model | ResourceType::Analysis => {
            let materialized = node.config.materialized();
            let incremental = materialized == "incremental"
                && materialize::is_incremental_run(conn, node, full_refresh)
                    .map_err(|m| TransformError::in_node(node, m))?;
            let compiled = compile(manifest, resolver, node, incremental, clone())?;
            write_compiled(manifest, node, &compiled.sql);
            result.compiled_code = Some(compiled.sql.clone());
            super::hooks::run_node_hooks(manifest, resolver, node, "pre_hook", conn)?;
            let rows = match materialized.as_str() {
                "view" => materialize::view(conn, node, &compiled.sql),
                "table" => materialize::table(conn, node, &compiled.sql),
                "incremental" => materialize::incremental(conn, node, &compiled.sql, incremental),
                other => Err(format!("materialization '{other}' is not supported (use view, table, incremental or ephemeral)")),
            }
            .map_err(|m| TransformError::in_node(node, m))?;
            super::hooks::run_node_hooks(manifest, resolver, node, "post_hook", conn)?;
            result.rows_affected = (rows >= 0).then_some(rows);
            result.message = Some(match materialized.as_str() {
                "view" => "OK".to_string(),
                _ => format!("OK {rows}"),
            });
        }
    }
    Ok(())
}

/// dbt writes compiled SQL to `target/compiled/<project>/<file>`; so do we.
fn write_compiled(manifest: &Manifest, node: &Node, sql: &str) {
    let path = match node.resource_type {
        ResourceType::Test if node.test_metadata.is_some() => {
            let dir = node
                .original_file_path
                .rsplit_once('/')
                .map(|(d, _)| d)
                .unwrap_or("");
            format!("{dir}/{}.sql", node.name)
        }
        _ => node.original_file_path.clone(),
    };
    let target = manifest
        .project
        .target_dir()
        .join("compiled")
        .join(&manifest.project.name)
        .join(path);
    if let Some(dir) = target.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let _ = std::fs::write(target, sql);
}
