//! The transformation engine on projects with problems: a SQL error, a ref to a missing
//! model, a cycle and a Jinja error each fail with a message naming the file and line,
//! and every other model is still built.

use std::path::Path;
use std::sync::Arc;

use dango::config::ProjectPaths;
use dango::transform::runner::{Command, Request, RunReport, Status};
use dango::warehouse::Warehouse;

fn project(files: &[(&str, &str)]) -> (tempfile::TempDir, Arc<Warehouse>) {
    let dir = tempfile::tempdir().unwrap();
    let paths = ProjectPaths::new(dir.path());
    let dbt = paths.dbt_dir();
    std::fs::create_dir_all(dbt.join("models")).unwrap();
    std::fs::write(dbt.join("dbt_project.yml"), "name: shop\nprofile: shop\nconfig-version: 2\nmodels:\n  shop:\n    +materialized: table\n").unwrap();
    for (path, contents) in files {
        let full = dbt.join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, contents).unwrap();
    }
    let warehouse = Arc::new(Warehouse::open(&paths).unwrap());
    (dir, warehouse)
}

/// `build` of the whole project; `Err` when the run cannot start at all.
fn try_build(
    dir: &Path,
    warehouse: &Arc<Warehouse>,
) -> Result<RunReport, dango::transform::TransformError> {
    let connect = || warehouse.connection().map_err(|e| e.message.clone());
    let request = Request {
        command: Command::Build,
        select: vec![],
        exclude: vec![],
        full_refresh: false,
        threads: Some(4),
    };
    dango::transform::run_project(
        &ProjectPaths::new(dir).dbt_dir(),
        &Default::default(),
        &request,
        &connect,
        &|_| {},
    )
    .map(|(_, report)| report)
}

fn build(dir: &Path, warehouse: &Arc<Warehouse>) -> Vec<(String, Status, Option<String>)> {
    let report = try_build(dir, warehouse).expect("the project parses");
    let mut results: Vec<(String, Status, Option<String>)> = report
        .results
        .iter()
        .map(|r| {
            (
                r.unique_id.rsplit('.').next().unwrap().to_string(),
                r.status,
                r.message.clone(),
            )
        })
        .collect();
    results.sort_by(|a, b| a.0.cmp(&b.0));
    results
}

fn status_of<'a>(
    results: &'a [(String, Status, Option<String>)],
    name: &str,
) -> &'a (String, Status, Option<String>) {
    results
        .iter()
        .find(|r| r.0 == name)
        .unwrap_or_else(|| panic!("no result for {name}: {results:?}"))
}

fn table_exists(warehouse: &Arc<Warehouse>, name: &str) -> bool {
    let conn = warehouse.connection().unwrap();
    conn.query_row(
        "select count(*) from information_schema.tables where table_name = ?",
        [name],
        |r| r.get::<_, i64>(0),
    )
    .unwrap()
        > 0
}

#[test]
fn a_sql_error_fails_its_model_and_skips_only_its_descendants() {
    let (dir, warehouse) = project(&[
        ("models/good.sql", "select 1 as id"),
        (
            "models/bad.sql",
            "select id,\n  nonsense_column\nfrom {{ ref('good') }}",
        ),
        ("models/after_bad.sql", "select * from {{ ref('bad') }}"),
        (
            "models/after_good.sql",
            "select id + 1 as id from {{ ref('good') }}",
        ),
    ]);
    let results = build(dir.path(), &warehouse);
    assert_eq!(status_of(&results, "good").1, Status::Success);
    assert_eq!(status_of(&results, "after_good").1, Status::Success);
    let bad = status_of(&results, "bad");
    assert_eq!(bad.1, Status::Error);
    let message = bad.2.as_deref().unwrap();
    assert!(
        message.contains("models/bad.sql") && message.contains("nonsense_column"),
        "{message}"
    );
    assert_eq!(status_of(&results, "after_bad").1, Status::Skipped);
    assert!(table_exists(&warehouse, "after_good"));
    assert!(!table_exists(&warehouse, "bad"));
}

#[test]
fn a_ref_to_a_missing_model_names_file_and_line() {
    let (dir, warehouse) = project(&[
        ("models/ok.sql", "select 1 as id"),
        (
            "models/broken.sql",
            "-- first line\nselect *\nfrom {{ ref('does_not_exist') }}",
        ),
        ("models/downstream.sql", "select * from {{ ref('broken') }}"),
    ]);
    let results = build(dir.path(), &warehouse);
    assert_eq!(status_of(&results, "ok").1, Status::Success);
    let broken = status_of(&results, "broken");
    assert_eq!(broken.1, Status::Error);
    let message = broken.2.as_deref().unwrap();
    assert!(
        message.contains("models/broken.sql")
            && message.contains("line 3")
            && message.contains("does_not_exist"),
        "{message}"
    );
    assert_eq!(status_of(&results, "downstream").1, Status::Skipped);
    assert!(table_exists(&warehouse, "ok"));
}

#[test]
fn a_cycle_is_named_and_the_rest_builds() {
    let (dir, warehouse) = project(&[
        ("models/a.sql", "select * from {{ ref('b') }}"),
        (
            "models/b.sql",
            "select 1 as x\nunion all\nselect * from {{ ref('a') }}",
        ),
        ("models/c.sql", "select * from {{ ref('a') }}"),
        ("models/free.sql", "select 42 as answer"),
    ]);
    let results = build(dir.path(), &warehouse);
    assert_eq!(status_of(&results, "free").1, Status::Success);
    for name in ["a", "b"] {
        let entry = status_of(&results, name);
        assert_eq!(entry.1, Status::Error, "{entry:?}");
        let message = entry.2.as_deref().unwrap();
        assert!(
            message.contains("cycle")
                && message.contains("models/a.sql")
                && message.contains("models/b.sql"),
            "{message}"
        );
    }
    assert_eq!(status_of(&results, "c").1, Status::Skipped);
    assert!(table_exists(&warehouse, "free"));
}

#[test]
fn a_jinja_error_names_file_and_line() {
    let (dir, warehouse) = project(&[
        ("models/fine.sql", "select 1 as id"),
        (
            "models/typo.sql",
            "select\n  1 as id\n{% if true %}\n  , 2 as other\n{% endfi %}",
        ),
        (
            "models/unknown_macro.sql",
            "select {{ no_such_macro('x') }} as y",
        ),
        (
            "macros/broken_macro.sql",
            "{% macro boom() %}{{ exceptions.raise_compiler_error('boom went the macro') }}{% endmacro %}",
        ),
        ("models/raises.sql", "select 1 as x\n-- {{ boom() }}"),
    ]);
    let results = build(dir.path(), &warehouse);
    assert_eq!(status_of(&results, "fine").1, Status::Success);
    let typo = status_of(&results, "typo");
    assert_eq!(typo.1, Status::Error);
    let message = typo.2.as_deref().unwrap();
    assert!(
        message.contains("models/typo.sql") && message.contains("line 5"),
        "{message}"
    );
    let unknown = status_of(&results, "unknown_macro");
    assert_eq!(unknown.1, Status::Error);
    assert!(
        unknown
            .2
            .as_deref()
            .unwrap()
            .contains("models/unknown_macro.sql"),
        "{unknown:?}"
    );
    let raises = status_of(&results, "raises");
    assert_eq!(raises.1, Status::Error);
    assert!(
        raises.2.as_deref().unwrap().contains("boom went the macro"),
        "{raises:?}"
    );
}

#[test]
fn a_broken_project_file_is_an_error_naming_it() {
    let (dir, warehouse) = project(&[(
        "models/schema.yml",
        "version: 2\nmodels:\n  - name: x\n   columns: [",
    )]);
    let connect = || warehouse.connection().map_err(|e| e.message.clone());
    let request = Request {
        command: Command::Build,
        select: vec![],
        exclude: vec![],
        full_refresh: false,
        threads: None,
    };
    let err = dango::transform::run_project(
        &ProjectPaths::new(dir.path()).dbt_dir(),
        &Default::default(),
        &request,
        &connect,
        &|_| {},
    )
    .err()
    .expect("a YAML error");
    assert!(err.to_string().contains("models/schema.yml"), "{err}");
}

#[test]
fn a_failing_hook_fails_its_model_and_a_failing_on_run_start_stops_the_run() {
    let (dir, warehouse) = project(&[
        ("models/good.sql", "select 1 as id"),
        (
            "models/hooked.sql",
            "{{ config(post_hook=\"insert into no_such_table values (1)\") }}\nselect 2 as id",
        ),
        (
            "models/after_hooked.sql",
            "select * from {{ ref('hooked') }}",
        ),
    ]);
    let results = build(dir.path(), &warehouse);
    assert_eq!(status_of(&results, "good").1, Status::Success);
    let hooked = status_of(&results, "hooked");
    assert_eq!(hooked.1, Status::Error);
    let message = hooked.2.as_deref().unwrap();
    assert!(
        message.contains("post-hook") && message.contains("no_such_table"),
        "{message}"
    );
    assert_eq!(status_of(&results, "after_hooked").1, Status::Skipped);

    let dbt = ProjectPaths::new(dir.path()).dbt_dir();
    std::fs::write(
        dbt.join("dbt_project.yml"),
        "name: shop\nprofile: shop\non-run-start: [\"select * from missing_audit_table\"]\n",
    )
    .unwrap();
    let Err(err) = try_build(dir.path(), &warehouse) else {
        panic!("a failing on-run-start hook stops the run");
    };
    let message = err.to_string();
    assert!(
        message.contains("on-run-start") && message.contains("missing_audit_table"),
        "{message}"
    );
}
