use super::*;

fn warehouse_with(sql: &str) -> Connection {
    let conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(sql).unwrap();
    conn
}

fn column<'a>(profile: &'a TableProfile, name: &str) -> &'a ColumnStats {
    &profile
        .columns
        .iter()
        .find(|c| c.name == name)
        .unwrap()
        .stats
}

#[test]
fn a_profile_summarises_each_column_by_its_type() {
    let conn = warehouse_with(
        "CREATE SCHEMA raw_shop; CREATE TABLE raw_shop.orders AS \
         SELECT range AS id, \
                CASE WHEN range % 4 = 0 THEN NULL ELSE range % 3 END AS bucket, \
                (range * 0.5)::DECIMAL(10, 2) AS amount, \
                CASE WHEN range < 6 THEN 'paid' ELSE 'open' END AS status, \
                DATE '2024-01-01' + range::INT AS day, \
                [range, range] AS pair \
         FROM range(10)",
    );
    let profile = compute(&conn, &Relation::new("raw_shop", "orders")).unwrap();
    assert_eq!(profile.row_count, 10);
    let names: Vec<_> = profile.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["id", "bucket", "amount", "status", "day", "pair"]);

    let id = column(&profile, "id");
    assert_eq!((id.null_count, id.distinct_count), (0, 10));
    assert!(!id.distinct_approximate);
    assert_eq!(
        (id.min.as_deref(), id.max.as_deref()),
        (Some("0"), Some("9"))
    );
    assert_eq!(id.mean, Some(4.5));
    assert_eq!(id.median, Some(4.5));
    assert_eq!(id.p25, Some(2.25));
    assert!(
        id.top_values.is_empty(),
        "all distinct: no value is more frequent"
    );
    assert_eq!(id.sample_values.len(), 5);

    let bucket = column(&profile, "bucket");
    assert_eq!(bucket.null_count, 3);
    assert_eq!(bucket.null_pct, 30.0);
    assert_eq!(bucket.distinct_count, 3);
    assert_eq!(bucket.top_values[0].count, 3);
    assert_eq!(
        bucket.top_values.iter().map(|v| v.count).sum::<u64>(),
        7,
        "{bucket:?}"
    );

    let amount = column(&profile, "amount");
    assert_eq!(amount.max.as_deref(), Some("4.50"));
    assert_eq!(amount.mean, Some(2.25));

    let status = column(&profile, "status");
    assert_eq!((status.min_length, status.max_length), (Some(4), Some(4)));
    assert_eq!(
        status.top_values,
        vec![
            ValueCount {
                value: "paid".into(),
                count: 6
            },
            ValueCount {
                value: "open".into(),
                count: 4
            },
        ]
    );
    assert_eq!(status.sample_values, ["paid", "open"]);
    assert_eq!(status.mean, None);

    let day = column(&profile, "day");
    assert_eq!(day.min.as_deref(), Some("2024-01-01"));
    assert_eq!(day.max.as_deref(), Some("2024-01-10"));
    assert_eq!(day.mean, None);

    let pair = column(&profile, "pair");
    assert_eq!(pair.distinct_count, 10);
    assert_eq!(pair.min, None);
    assert_eq!(pair.sample_values.len(), 5);
}

#[test]
fn an_empty_table_and_an_all_null_column_profile_cleanly() {
    let conn = warehouse_with(
        "CREATE TABLE empty (a INTEGER, b VARCHAR); \
         CREATE TABLE nulls AS SELECT NULL::VARCHAR AS nothing FROM range(3)",
    );
    let empty = compute(&conn, &Relation::new("main", "empty")).unwrap();
    assert_eq!(empty.row_count, 0);
    assert_eq!(column(&empty, "a").null_pct, 0.0);
    assert_eq!(column(&empty, "b").min_length, None);

    let nulls = compute(&conn, &Relation::new("main", "nulls")).unwrap();
    let nothing = column(&nulls, "nothing");
    assert_eq!((nothing.null_count, nothing.null_pct), (3, 100.0));
    assert!(nothing.sample_values.is_empty() && nothing.top_values.is_empty());
}

#[test]
fn names_that_need_quoting_are_profiled() {
    let conn = warehouse_with(
        "CREATE SCHEMA raw_x; CREATE TABLE raw_x.\"odd table\" AS \
         SELECT 1 AS \"select\", 'a\"b' AS \"we\"\"ird\"",
    );
    let profile = compute(&conn, &Relation::new("raw_x", "odd table")).unwrap();
    assert_eq!(column(&profile, "we\"ird").sample_values, ["a\"b"]);
    assert_eq!(column(&profile, "select").min.as_deref(), Some("1"));
}

#[test]
fn large_tables_estimate_distinct_counts_and_say_so() {
    let conn = warehouse_with(
        "CREATE TABLE big AS SELECT range AS id, range % 100 AS bucket FROM range(1000001)",
    );
    let profile = compute(&conn, &Relation::new("main", "big")).unwrap();
    let id = column(&profile, "id");
    assert!(id.distinct_approximate);
    let error = (id.distinct_count as f64 - 1_000_001.0).abs() / 1_000_001.0;
    assert!(error < 0.05, "{}", id.distinct_count);
    assert!(column(&profile, "bucket").median.is_some());
}

#[test]
fn locate_finds_raw_tables_staging_views_and_dbt_relations() {
    let conn = warehouse_with(
        "CREATE SCHEMA raw_sales; CREATE TABLE raw_sales.orders AS SELECT 1 AS id; \
         CREATE TABLE raw_sales._dlt_loads AS SELECT 1 AS id; \
         CREATE SCHEMA staging; CREATE VIEW staging.stg_sales__orders AS SELECT 1 AS id; \
         CREATE SCHEMA marts; CREATE TABLE marts.revenue AS SELECT 1 AS id",
    );
    assert_eq!(
        locate(&conn, "sales", "orders").unwrap(),
        Relation::new("raw_sales", "orders")
    );
    assert_eq!(
        locate(&conn, "Sales", "stg_sales__orders").unwrap(),
        Relation::new("staging", "stg_sales__orders")
    );
    assert_eq!(
        locate(&conn, "marts", "revenue").unwrap(),
        Relation::new("marts", "revenue")
    );
    let missing = locate(&conn, "sales", "nope").unwrap_err();
    assert_eq!(missing.kind, crate::ErrorKind::NotFound);
    assert!(
        missing.message.contains("Table 'nope' not found"),
        "{}",
        missing.message
    );
    let no_data = locate(&conn, "crm", "people").unwrap_err();
    assert!(
        no_data.message.contains("has no data"),
        "{}",
        no_data.message
    );
    for (source, table) in [("sales", "orders;drop"), ("../x", "y"), ("sales", "")] {
        assert_eq!(
            locate(&conn, source, table).unwrap_err().kind,
            crate::ErrorKind::BadRequest
        );
    }
    let synced = relations_of_sources(&conn, &["sales".to_string()]).unwrap();
    let mut names: Vec<_> = synced
        .iter()
        .map(|r| format!("{}.{}", r.schema, r.name))
        .collect();
    names.sort();
    assert_eq!(names, ["raw_sales.orders", "staging.stg_sales__orders"]);
}
