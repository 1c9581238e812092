//! Transformation benchmark (`cargo bench --bench transform`):
//!   - a generated dbt project of 100 models (3 staging views, an enriched 1M-row table,
//!     96 marts, some built on other marts) over 1M-row sources: full build with
//!     `dango run` (release binary, a fresh process each time) against `dbt run` of
//!     dbt-core + dbt-duckdb on the same project and warehouse, in the same run; the
//!     100 tables each engine leaves are compared row for row (by hash);
//!   - parse + compile of a generated 1,000-model project (Jinja loops, vars, refs,
//!     schema tests) with the built-in engine, and `dbt parse` of it for reference.
//!
//! dbt comes from DANGO_BENCH_DBT, else /var/cache/dango/venv/bin/dbt (the venv
//! `.ci/run` creates); without it the dbt side is skipped.
#![allow(clippy::disallowed_methods)] // benches are synchronous programs that may sleep

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use support::{dango, init};

const MARTS: usize = 96;
const DIMENSIONS: [&str; 6] = [
    "country",
    "segment",
    "category",
    "status",
    "date_trunc('month', created_at)",
    "customer_id % 100",
];

fn dbt_executable() -> Option<PathBuf> {
    let path = std::env::var_os("DANGO_BENCH_DBT")
        .map(PathBuf::from)
        .unwrap_or_else(|| "/var/cache/dango/venv/bin/dbt".into());
    path.is_file().then_some(path)
}

/// 1M orders, 50k customers, 1k products, in `raw_shop` of the project's warehouse.
fn create_sources(warehouse: &Path) {
    let conn = dango::warehouse::open_file(warehouse).unwrap();
    conn.execute_batch(
        "CREATE SCHEMA IF NOT EXISTS raw_shop;
         CREATE OR REPLACE TABLE raw_shop.orders AS
           SELECT i AS id, (i * 7919) % 50000 AS customer_id, (i * 31) % 1000 AS product_id,
                  ((i % 50000) / 100.0)::DECIMAL(12,2) AS amount, (i % 7 + 1)::INTEGER AS quantity,
                  ['placed', 'shipped', 'delivered', 'returned'][i % 4 + 1] AS status,
                  TIMESTAMP '2025-01-01' + to_seconds(i * 31) AS created_at
           FROM range(1000000) t(i);
         CREATE OR REPLACE TABLE raw_shop.customers AS
           SELECT i AS id, ['DE', 'FR', 'NL', 'ES', 'IT', 'GB', 'US', 'PL'][i % 8 + 1] AS country,
                  ['smb', 'mid', 'enterprise'][i % 3 + 1] AS segment,
                  TIMESTAMP '2024-01-01' + to_seconds(i * 600) AS signup_at
           FROM range(50000) t(i);
         CREATE OR REPLACE TABLE raw_shop.products AS
           SELECT i AS id, 'category_' || (i % 20)::VARCHAR AS category,
                  (i % 300 + 0.99)::DECIMAL(10,2) AS price
           FROM range(1000) t(i);",
    )
    .unwrap();
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// The 100-model project, with a profiles.yml both engines read.
fn write_build_project(dbt_dir: &Path, warehouse: &Path, marts: &str) {
    let _ = std::fs::remove_dir_all(dbt_dir.join("models"));
    write(
        &dbt_dir.join("dbt_project.yml"),
        &format!(
            "name: shop\nversion: '1.0'\nprofile: shop\nmodel-paths: ['models']\n\
             models:\n  shop:\n    staging:\n      +materialized: view\n    \
             intermediate:\n      +materialized: table\n    marts:\n      +materialized: {marts}\n"
        ),
    );
    write(
        &dbt_dir.join("profiles.yml"),
        &format!(
            "shop:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: '{}'\n      schema: main\n      threads: 4\n",
            warehouse.display()
        ),
    );
    let models = dbt_dir.join("models");
    write(
        &models.join("staging/sources.yml"),
        "version: 2\nsources:\n  - name: shop\n    schema: raw_shop\n    tables:\n      \
         - name: orders\n      - name: customers\n      - name: products\n",
    );
    for table in ["orders", "customers", "products"] {
        write(
            &models.join(format!("staging/stg_{table}.sql")),
            &format!("select * from {{{{ source('shop', '{table}') }}}}"),
        );
    }
    write(
        &models.join("intermediate/int_orders_enriched.sql"),
        "select o.id, o.customer_id, o.amount, o.quantity, o.status, o.created_at,\n  \
         c.country, c.segment, p.category, p.price\n\
         from {{ ref('stg_orders') }} o\n\
         join {{ ref('stg_customers') }} c on c.id = o.customer_id\n\
         join {{ ref('stg_products') }} p on p.id = o.product_id",
    );
    for i in 0..MARTS {
        let dimension = DIMENSIONS[i % DIMENSIONS.len()];
        let sql = if i % 8 == 7 {
            // built on two earlier marts
            format!(
                "select a.dim, a.orders + b.orders as orders, a.revenue + b.revenue as revenue\n\
                 from {{{{ ref('mart_{:02}') }}}} a join {{{{ ref('mart_{:02}') }}}} b using (dim)",
                i - 6,
                i - DIMENSIONS.len() - 6 + if i >= 12 { 0 } else { DIMENSIONS.len() },
            )
        } else {
            format!(
                "select {dimension} as dim, count(*) as orders, sum(amount) as revenue,\n  \
                 sum(quantity * price) as gross\n\
                 from {{{{ ref('int_orders_enriched') }}}}\n\
                 where id % {modulus} <> {remainder}\n\
                 group by 1",
                modulus = i % 5 + 2,
                remainder = i % 2,
            )
        };
        write(&models.join(format!("marts/mart_{i:02}.sql")), &sql);
    }
}

/// `count(*)` and an order-independent hash of every row, per model.
fn fingerprints(warehouse: &Path) -> BTreeMap<String, (i64, String)> {
    let conn = dango::warehouse::open_file(warehouse).unwrap();
    let mut names = Vec::new();
    let mut stmt = conn
        .prepare(
            "SELECT table_name FROM information_schema.tables \
             WHERE table_schema = 'main' ORDER BY 1",
        )
        .unwrap();
    for row in stmt.query_map([], |r| r.get::<_, String>(0)).unwrap() {
        names.push(row.unwrap());
    }
    names
        .into_iter()
        .map(|name| {
            let print = conn
                .query_row(
                    &format!(
                        "SELECT count(*), coalesce(sum(hash(t::VARCHAR)::HUGEINT), 0)::VARCHAR \
                         FROM main.\"{name}\" AS t"
                    ),
                    [],
                    |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)),
                )
                .unwrap();
            (name, print)
        })
        .collect()
}

fn timed(mut command: Command, what: &str) -> Duration {
    let began = Instant::now();
    let output = command.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    let took = began.elapsed();
    assert!(
        output.status.success(),
        "{what} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    took
}

fn dbt(executable: &Path, dbt_dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(executable);
    command
        .args(args)
        .arg("--project-dir")
        .arg(dbt_dir)
        .arg("--profiles-dir")
        .arg(dbt_dir)
        .env("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
        .env("DBT_PARTIAL_PARSE", "false")
        .current_dir(dbt_dir);
    command
}

/// Column lineage of every model of the built project (what `GET
/// /api/catalog/models/{name}/columns` computes): median of 5, from the artifacts and the
/// warehouse's column lists.
fn bench_column_lineage(target: &Path, warehouse: &Path) {
    let artifacts = dango::transform::artifact_model::Artifacts::read(target).expect("manifest");
    let conn = duckdb::Connection::open(warehouse).unwrap();
    let columns = dango::catalog::column_names(&conn).unwrap();
    let mut times: Vec<Duration> = (0..5)
        .map(|_| {
            let began = Instant::now();
            let project = dango::catalog::trace_project(&artifacts, &columns);
            let took = began.elapsed();
            let traced = project.models.values().filter(|m| m.is_ok()).count();
            assert_eq!(traced, 100, "every model traced");
            took
        })
        .collect();
    times.sort();
    println!(
        "column lineage of the 100 models: median {:?} (min {:?})",
        times[2], times[0]
    );
}

fn seconds(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

/// `marts`: the materialization of the 96 marts (`table`: every mart aggregates 1M rows
/// during the build; `view`: dbt's default, the build mostly creates views).
fn bench_full_build(dbt_exe: Option<&Path>, marts: &str) {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("shop");
    if std::env::var_os("DANGO_BENCH_KEEP").is_some() {
        println!("project kept in {}", project.display());
        std::mem::forget(dir);
    }
    init(&project);
    let warehouse = std::path::absolute(project.join("data/warehouse.duckdb")).unwrap();
    let dbt_dir = project.join("dbt");
    create_sources(&warehouse);
    write_build_project(&dbt_dir, &warehouse, marts);

    let dango_runs: Vec<Duration> = (0..3)
        .map(|_| {
            let mut run = dango(&project);
            run.arg("run");
            timed(run, "dango run")
        })
        .collect();
    let dango_prints = fingerprints(&warehouse);
    assert_eq!(dango_prints.len(), 100, "every model is in the warehouse");
    println!(
        "100 models over 1M-row sources, marts as {marts}s, full build: dango run {} (runs: {})",
        seconds(*dango_runs.iter().min().unwrap()),
        dango_runs
            .iter()
            .map(|d| seconds(*d))
            .collect::<Vec<_>>()
            .join(", ")
    );

    if marts == "table" {
        bench_column_lineage(&dbt_dir.join("target"), &warehouse);
    }

    let Some(dbt_exe) = dbt_exe else {
        println!("dbt: not installed (set DANGO_BENCH_DBT); comparison skipped");
        return;
    };
    let dbt_runs: Vec<Duration> = (0..2)
        .map(|_| timed(dbt(dbt_exe, &dbt_dir, &["run"]), "dbt run"))
        .collect();
    let dbt_prints = fingerprints(&warehouse);
    let same = dango_prints == dbt_prints;
    let dbt_best = *dbt_runs.iter().min().unwrap();
    let dango_best = *dango_runs.iter().min().unwrap();
    println!(
        "dbt run (dbt-core + dbt-duckdb) {} (runs: {}); dango is {:.1}x faster; tables identical: {same}",
        seconds(dbt_best),
        dbt_runs
            .iter()
            .map(|d| seconds(*d))
            .collect::<Vec<_>>()
            .join(", "),
        dbt_best.as_secs_f64() / dango_best.as_secs_f64()
    );
    assert!(same, "dango and dbt built different tables");
}

/// 1,000 models: a chain of layers with Jinja loops, vars, configs and column tests.
fn write_compile_project(dbt_dir: &Path) {
    write(
        &dbt_dir.join("dbt_project.yml"),
        "name: big\nversion: '1.0'\nprofile: big\nvars:\n  factor: 3\n\
         models:\n  big:\n    +materialized: view\n",
    );
    write(
        &dbt_dir.join("profiles.yml"),
        "big:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: ':memory:'\n",
    );
    write(
        &dbt_dir.join("macros/cents.sql"),
        "{% macro cents(column) %}({{ column }} * 100)::bigint{% endmacro %}",
    );
    let models = dbt_dir.join("models");
    write(
        &models.join("sources.yml"),
        "version: 2\nsources:\n  - name: shop\n    tables:\n      - name: orders\n",
    );
    let mut schema = String::from("version: 2\nmodels:\n");
    for i in 0..1000usize {
        let from = if i < 10 {
            "{{ source('shop', 'orders') }}".to_string()
        } else {
            format!("{{{{ ref('model_{:04}') }}}}", (i * 7919) % i)
        };
        let sql = format!(
            "{{{{ config(tags=['layer_{layer}']) }}}}\n\
             {{% set columns = ['a', 'b', 'c', 'd'] %}}\n\
             select\n\
             {{% for c in columns %}}  {{{{ c }}}} * {{{{ var('factor') }}}} as {{{{ c }}}},\n{{% endfor %}}\
               {{{{ cents('amount') }}}} as amount_cents, amount\n\
             from {from}\n\
             {{% if target.name == 'dev' %}}where a is not null{{% endif %}}\n",
            layer = i / 100,
        );
        write(
            &models.join(format!("layer_{}/model_{i:04}.sql", i / 100)),
            &sql,
        );
        if i % 4 == 0 {
            schema.push_str(&format!(
                "  - name: model_{i:04}\n    columns:\n      - name: a\n        data_tests: [not_null, unique]\n"
            ));
        }
    }
    write(&models.join("schema.yml"), &schema);
}

fn bench_parse_compile(dbt_exe: Option<&Path>) {
    let dir = tempfile::tempdir().unwrap();
    let dbt_dir = dir.path().join("dbt");
    write_compile_project(&dbt_dir);
    let conn = duckdb::Connection::open_in_memory_with_flags(
        duckdb::Config::default()
            .enable_autoload_extension(false)
            .unwrap(),
    )
    .unwrap();
    let mut times = Vec::new();
    let mut counts = (0, 0);
    for _ in 0..3 {
        let began = Instant::now();
        let manifest =
            dango::transform::manifest::Manifest::load(&dbt_dir, "memory", &Default::default())
                .unwrap();
        let compiled = dango::transform::artifacts::compile_all(&manifest, None, &conn);
        times.push(began.elapsed());
        counts = (manifest.nodes.len(), compiled.len());
    }
    println!(
        "parse + compile of 1,000 models ({} nodes with tests, {} compiled): {} (runs: {})",
        counts.0,
        counts.1,
        seconds(*times.iter().min().unwrap()),
        times
            .iter()
            .map(|d| format!("{:.3} s", d.as_secs_f64()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    assert!(counts.1 >= 1000, "every model compiles");
    if let Some(dbt_exe) = dbt_exe {
        let parse = timed(dbt(dbt_exe, &dbt_dir, &["parse"]), "dbt parse");
        println!(
            "dbt parse of the same project (no compile): {}",
            seconds(parse)
        );
    }
}

fn main() {
    let dbt_exe = dbt_executable();
    bench_parse_compile(dbt_exe.as_deref());
    bench_full_build(dbt_exe.as_deref(), "table");
    bench_full_build(dbt_exe.as_deref(), "view");
}
