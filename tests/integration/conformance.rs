//! Conformance with real dbt: every fixture project under `tests/conformance/fixtures/`
//! (plus `example/`) is run step by step by our engine, and the warehouse after each
//! step (every table and view, values cast to text by DuckDB, rows sorted) and the node
//! results must equal what dbt-core + dbt-duckdb produced, recorded in
//! `tests/conformance/reference/<name>.json` by `tests/conformance/dbt_reference.py`
//! (`.ci/run` runs real dbt again into a fresh directory and points this test at it
//! with `DANGO_CONFORMANCE_REFERENCE_DIR`, so CI compares against live dbt output).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use dango::config::ProjectPaths;
use dango::transform::artifact_model::{self, Artifacts};
use dango::transform::runner::{Command, Request};
use dango::warehouse::Warehouse;
use serde_json::{Map, Value, json};

fn conformance_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance")
}

/// Copies the tree `from` into `to` (created).
pub(crate) fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn parse_args(command: &str, args: &[String], vars: &Value) -> (Request, Map<String, Value>) {
    let command = match command {
        "build" => Command::Build,
        "run" => Command::Run,
        "seed" => Command::Seed,
        "snapshot" => Command::Snapshot,
        "test" => Command::Test,
        other => panic!("unknown command {other}"),
    };
    let mut request = Request {
        command,
        select: vec![],
        exclude: vec![],
        full_refresh: false,
        threads: Some(1),
    };
    let mut cli_vars = vars.as_object().cloned().unwrap_or_default();
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--select" | "-s" | "--models" | "-m" => {
                i += 1;
                while i < args.len() && !args[i].starts_with('-') {
                    request.select.push(args[i].clone());
                    i += 1;
                }
                continue;
            }
            "--exclude" => {
                i += 1;
                while i < args.len() && !args[i].starts_with('-') {
                    request.exclude.push(args[i].clone());
                    i += 1;
                }
                continue;
            }
            "--full-refresh" => request.full_refresh = true,
            "--vars" => {
                i += 1;
                let parsed: serde_norway::Value = serde_norway::from_str(&args[i]).unwrap();
                cli_vars.extend(
                    serde_json::to_value(parsed)
                        .unwrap()
                        .as_object()
                        .cloned()
                        .unwrap_or_default(),
                );
            }
            other => panic!("unsupported dbt argument {other}"),
        }
        i += 1;
    }
    (request, cli_vars)
}

/// The same dump as dbt_reference.py's `snapshot_database`.
fn dump(conn: &duckdb::Connection) -> Map<String, Value> {
    let mut out = Map::new();
    let mut stmt = conn
        .prepare(
            "select schema_name, table_name, 'table' as kind from duckdb_tables()
              where database_name = current_database() and not temporary and not internal
             union all
             select schema_name, view_name, 'view' from duckdb_views()
              where database_name = current_database() and not temporary and not internal
             order by 1, 2",
        )
        .unwrap();
    let relations: Vec<(String, String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    for (schema, name, kind) in relations {
        if ["information_schema", "pg_catalog"].contains(&schema.as_str()) {
            continue;
        }
        let columns: Vec<(String, String)> = conn
            .prepare(
                "select column_name, data_type from duckdb_columns()
                  where database_name = current_database() and schema_name = ? and table_name = ?
                  order by column_index",
            )
            .unwrap()
            .query_map([&schema, &name], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let mut entry = Map::new();
        entry.insert("kind".into(), json!(kind));
        entry.insert(
            "columns".into(),
            json!(
                columns
                    .iter()
                    .map(|(c, t)| vec![c.clone(), t.clone()])
                    .collect::<Vec<_>>()
            ),
        );
        let quote = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
        if columns.is_empty() {
            entry.insert("rows".into(), json!([]));
        } else {
            let list = columns
                .iter()
                .map(|(c, _)| format!("CAST({} AS VARCHAR)", quote(c)))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!("SELECT {list} FROM {}.{}", quote(&schema), quote(&name));
            match conn.prepare(&sql).and_then(|mut s| {
                let n = columns.len();
                s.query_map([], |r| {
                    (0..n)
                        .map(|i| r.get::<_, Option<String>>(i))
                        .collect::<Result<Vec<_>, _>>()
                })
                .map(|rows| rows.collect::<Result<Vec<_>, _>>())
            }) {
                Ok(Ok(mut rows)) => {
                    rows.sort_by(|a, b| {
                        let key = |r: &Vec<Option<String>>| {
                            r.iter()
                                .map(|v| v.clone().map_or((0, String::new()), |s| (1, s)))
                                .collect::<Vec<_>>()
                        };
                        key(a).cmp(&key(b))
                    });
                    entry.insert("rows".into(), json!(rows));
                }
                _ => {
                    entry.insert("rows".into(), Value::Null);
                }
            }
        }
        out.insert(format!("{schema}.{name}"), Value::Object(entry));
    }
    out
}

/// Values derived from the run's clock (check-strategy snapshots) cannot match:
/// compare them as "present or null".
fn mask_clock(tables: &mut Map<String, Value>, reference_step: &Value) {
    let _ = reference_step;
    for table in tables.values_mut() {
        let Some(columns) = table["columns"].as_array().cloned() else {
            continue;
        };
        let names: Vec<String> = columns
            .iter()
            .map(|c| c[0].as_str().unwrap_or_default().to_string())
            .collect();
        if !names.iter().any(|n| n == "dbt_scd_id") {
            continue;
        }
        let clocked: Vec<usize> = names
            .iter()
            .enumerate()
            .filter(|(_, n)| {
                [
                    "dbt_scd_id",
                    "dbt_updated_at",
                    "dbt_valid_from",
                    "dbt_valid_to",
                ]
                .contains(&n.as_str())
            })
            .map(|(i, _)| i)
            .collect();
        if let Some(rows) = table["rows"].as_array_mut() {
            for row in rows.iter_mut() {
                if let Some(cells) = row.as_array_mut() {
                    for &i in &clocked {
                        if !cells[i].is_null() {
                            cells[i] = json!("<clock>");
                        }
                    }
                }
            }
            rows.sort_by_key(|r| r.to_string());
        }
    }
}

fn run_fixture(name: &str, project: &Path, clock_masked: bool) {
    let reference_dir = std::env::var_os("DANGO_CONFORMANCE_REFERENCE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| conformance_dir().join("reference"));
    let reference_path = reference_dir.join(format!("{name}.json"));
    let reference: Value = serde_json::from_str(
        &std::fs::read_to_string(&reference_path).unwrap_or_else(|_| {
            panic!(
                "missing {}: run tests/conformance/generate.sh",
                reference_path.display()
            )
        }),
    )
    .unwrap();
    let steps: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(project.join("steps.json")).unwrap())
            .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let paths = ProjectPaths::new(dir.path());
    copy_dir(project, &paths.dbt_dir());
    let warehouse = Arc::new(Warehouse::open(&paths).unwrap());
    // dbt_reference.py runs dbt with TZ=UTC; the warehouse's zone is UTC as well.
    // Our warehouse creates its layer schemas; they are empty, so they do not appear.
    let mut problems = Vec::new();
    let mut last_manifest = None;
    for (index, step) in steps.iter().enumerate() {
        let conn = warehouse.connection().unwrap();
        if let Some(sql) = step["sql"].as_str() {
            conn.execute_batch(sql).unwrap();
        }
        let expected = &reference["steps"][index];
        let mut results = Map::new();
        if let Some(command) = step["command"].as_str() {
            let args: Vec<String> = step["args"]
                .as_array()
                .map(|a| a.iter().map(|v| v.as_str().unwrap().to_string()).collect())
                .unwrap_or_default();
            let (request, vars) = parse_args(command, &args, &step["vars"]);
            let connect = || warehouse.connection().map_err(|e| e.message.clone());
            match dango::transform::run_project(
                &paths.dbt_dir(),
                &vars,
                &request,
                &connect,
                &|_| {},
            ) {
                Ok((manifest, report)) => {
                    if std::env::var("DEBUG_DEPS").is_ok() {
                        for n in manifest.nodes.values() {
                            eprintln!("{} -> {:?}", n.unique_id, n.depends_on);
                        }
                    }
                    if std::env::var("DEBUG_DEPS").is_ok() {
                        for r in &report.results {
                            eprintln!(
                                "RESULT {} {} {:?}",
                                r.unique_id,
                                r.status.as_str(),
                                r.message
                            );
                        }
                    }
                    last_manifest = Some(manifest);
                    for r in &report.results {
                        results.insert(
                            r.unique_id.clone(),
                            json!({"status": r.status.as_str(), "failures": r.failures}),
                        );
                    }
                    if expected["exit_code"] == 2 {
                        problems.push(format!(
                            "step {index}: dbt failed to parse (exit 2) but we ran"
                        ));
                    }
                }
                Err(err) => {
                    if expected["exit_code"] != 2 {
                        problems.push(format!("step {index}: we failed to parse: {err}"));
                    }
                }
            }
        }
        let mut tables = dump(&conn);
        let mut expected_tables = expected["tables"].as_object().cloned().unwrap_or_default();
        if clock_masked {
            mask_clock(&mut tables, expected);
            mask_clock(&mut expected_tables, expected);
        }
        for (key, want) in &expected_tables {
            match tables.get(key) {
                None => problems.push(format!("step {index}: {key} missing")),
                Some(got) => {
                    if got["kind"] != want["kind"] {
                        problems.push(format!(
                            "step {index}: {key} is a {} (dbt: {})",
                            got["kind"], want["kind"]
                        ));
                    }
                    if got["columns"] != want["columns"] {
                        problems.push(format!(
                            "step {index}: {key} columns {} != dbt {}",
                            got["columns"], want["columns"]
                        ));
                    }
                    if got["rows"] != want["rows"] {
                        problems.push(format!(
                            "step {index}: {key} rows {} != dbt {}",
                            got["rows"], want["rows"]
                        ));
                    }
                }
            }
        }
        for key in tables.keys() {
            if !expected_tables.contains_key(key) {
                problems.push(format!("step {index}: {key} exists here but not with dbt"));
            }
        }
        let want_results = expected["results"].as_object().cloned().unwrap_or_default();
        for (id, want) in &want_results {
            if id.starts_with("operation.") {
                continue;
            }
            match results.get(id) {
                None => problems.push(format!("step {index}: no result for {id} (dbt: {want})")),
                Some(got) if got != want => {
                    problems.push(format!("step {index}: {id} {got} != dbt {want}"))
                }
                _ => {}
            }
        }
        for id in results.keys() {
            if !want_results.contains_key(id) {
                problems.push(format!(
                    "step {index}: result for {id} that dbt did not produce"
                ));
            }
        }
    }
    // The catalog reads dbt's manifest through the typed model, whoever wrote it: what it
    // sees in ours must be what it sees in real dbt's (written beside the references).
    let theirs = reference_dir.join(format!("{name}.json.artifacts"));
    if let (Some(ours), Some(theirs)) = (last_manifest, Artifacts::read(&theirs)) {
        let written = dango::transform::artifacts::manifest_json(
            &ours,
            &Default::default(),
            "conformance",
            chrono::Utc::now(),
        );
        match serde_json::from_value::<artifact_model::Manifest>(written) {
            Ok(ours) => {
                let (ours, theirs) = (catalog_view(&ours), catalog_view(&theirs.manifest));
                for missing in theirs.difference(&ours) {
                    problems.push(format!("manifest: dbt has {missing}; we do not"));
                }
                for extra in ours.difference(&theirs) {
                    problems.push(format!("manifest: we have {extra}; dbt does not"));
                }
            }
            Err(err) => problems.push(format!("manifest: ours does not read back: {err}")),
        }
    }
    assert!(
        problems.is_empty(),
        "{name}: {} differences from dbt:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// What the catalog, lineage and docs read of a manifest, one line per fact: each model,
/// seed, snapshot and source table with its relation, materialization, description,
/// parents and columns, and each test by what it tests (test ids differ by hash).
fn catalog_view(manifest: &artifact_model::Manifest) -> std::collections::BTreeSet<String> {
    let mut facts = std::collections::BTreeSet::new();
    for (id, node) in manifest.nodes.iter().chain(&manifest.sources) {
        match node.resource_type.as_str() {
            "model" | "seed" | "snapshot" | "source" => {
                let mut parents = node.depends_on.nodes.clone();
                parents.sort();
                let columns: Vec<String> = node
                    .columns
                    .iter()
                    .map(|(name, c)| format!("{name}: {}", c.description))
                    .collect();
                facts.insert(format!(
                    "{id} ({}) {}.{} materialized {:?}, {:?}, parents {parents:?}, columns {columns:?}",
                    node.resource_type,
                    node.schema,
                    node.relation(),
                    node.config.materialized,
                    node.description,
                ));
            }
            "test" => {
                let mut parents = node.depends_on.nodes.clone();
                parents.sort();
                facts.insert(format!(
                    "test {:?} on {:?} of {parents:?}",
                    node.test_metadata.as_ref().map(|m| &m.name),
                    node.column_name,
                ));
            }
            _ => {}
        }
    }
    facts
}

#[test]
fn example_project_matches_dbt() {
    run_fixture("example", &conformance_dir().join("example"), true);
}

#[test]
fn fixtures_match_dbt() {
    let fixtures = conformance_dir().join("fixtures");
    let mut names: Vec<String> = std::fs::read_dir(&fixtures)
        .map(|d| {
            d.flatten()
                .filter(|e| e.path().is_dir())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    assert!(!names.is_empty(), "no fixtures in {}", fixtures.display());
    for name in names {
        run_fixture(&name, &fixtures.join(&name), false);
    }
}
