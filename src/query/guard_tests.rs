use super::*;

fn refused(sql: &str) -> Refusal {
    match check(sql) {
        Ok(checked) => panic!("{sql:?} passed the guard: {checked:?}"),
        Err(refusal) => refusal,
    }
}

fn forbidden(sql: &str) {
    match refused(sql) {
        Refusal::Forbidden { .. } => {}
        other => panic!("{sql:?} was refused as {other:?}, not as forbidden"),
    }
}

fn not_a_query(sql: &str) {
    match refused(sql) {
        Refusal::NotAQuery { .. } | Refusal::MultipleStatements | Refusal::Forbidden { .. } => {}
        Refusal::Syntax { .. } => {}
        other => panic!("{sql:?} was refused as {other:?}"),
    }
}

#[test]
fn ordinary_queries_pass() {
    for sql in [
        "SELECT 1",
        "select 1;",
        "SELECT 1 ;  -- done\n",
        "SELECT * FROM orders",
        "SELECT * FROM main.orders o JOIN raw_stripe.charges c ON o.id = c.order_id",
        "SELECT * FROM warehouse.main.orders",
        "FROM orders",
        "FROM orders SELECT id",
        "VALUES (1, 'a'), (2, 'b')",
        "WITH a AS (SELECT 1 AS x) SELECT * FROM a",
        "WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t WHERE n < 10) SELECT * FROM t",
        "SELECT * FROM range(10)",
        "SELECT * FROM generate_series(1, 10, 2)",
        "SELECT unnest([1, 2, 3])",
        "SELECT * FROM unnest([1, 2, 3])",
        "SELECT count(*), sum(amount) FROM orders GROUP BY ALL ORDER BY ALL",
        "SELECT * EXCLUDE (email) FROM customers",
        "SELECT * REPLACE (lower(email) AS email) FROM customers",
        "SELECT 'it''s' AS quote, \"odd \"\"name\"\"\" FROM t",
        "SELECT '--not a comment' AS a, '/* nor this */' AS b",
        "SELECT 'a;b' AS semicolon",
        "SELECT '日本語', 'ü' AS umlaut",
        "SELECT café FROM menu",
        "SELECT /* a comment */ 1",
        "SELECT 1 -- trailing comment",
        "SELECT x FROM t WHERE x IN (SELECT y FROM u)",
        "SELECT list_transform([1, 2], x -> x * 2)",
        "SELECT {'a': 1, 'b': [1, 2]} AS s",
        "SELECT MAP {'k': 1}",
        "SELECT CAST(1 AS DECIMAL(18, 3)), 1::BIGINT, DATE '2024-01-01'",
        "SELECT * FROM orders PIVOT (sum(amount) FOR status IN ('paid', 'open'))",
        "SELECT row_number() OVER (PARTITION BY a ORDER BY b) FROM t",
        "SELECT * FROM t QUALIFY row_number() OVER (ORDER BY a) = 1",
        "SELECT a FROM t UNION ALL SELECT b FROM u EXCEPT SELECT c FROM v",
        "SELECT current_database()",
        "SELECT main.my_macro(1)",
        "SELECT x'00ff'",
        "SELECT name FROM information_schema.tables",
        "SELECT a.e FROM t AS a WHERE a.e = 'x'",
        "\n\n  SELECT 1\r\n",
    ] {
        if let Err(refusal) = check(sql) {
            panic!("{sql:?} was refused: {refusal}");
        }
    }
}

#[test]
fn only_one_statement_runs() {
    assert_eq!(refused("SELECT 1; SELECT 2"), Refusal::MultipleStatements);
    assert_eq!(
        refused("SELECT 1; DROP TABLE orders"),
        Refusal::MultipleStatements
    );
    assert_eq!(refused(""), Refusal::Empty);
    assert_eq!(refused("   \n "), Refusal::Empty);
    assert_eq!(refused("-- only a comment"), Refusal::Empty);
}

#[test]
fn statements_that_are_not_queries_are_refused_by_kind() {
    for (sql, kind) in [
        ("INSERT INTO orders VALUES (1)", "INSERT"),
        ("UPDATE orders SET amount = 0", "UPDATE"),
        ("DELETE FROM orders", "DELETE"),
        ("DROP TABLE orders", "DROP TABLE"),
        ("CREATE TABLE x AS SELECT 1", "CREATE TABLE"),
        ("CREATE VIEW v AS SELECT 1", "CREATE VIEW"),
        ("ALTER TABLE orders ADD COLUMN x INT", "ALTER TABLE"),
        ("TRUNCATE orders", "TRUNCATE"),
    ] {
        assert_eq!(
            refused(sql),
            Refusal::NotAQuery { kind: kind.into() },
            "{sql}"
        );
    }
    for sql in [
        "COPY orders TO '/tmp/out.csv'",
        "COPY orders FROM '/etc/passwd'",
        "ATTACH '/tmp/other.duckdb' AS other",
        "DETACH warehouse",
        "USE other",
        "INSTALL httpfs",
        "LOAD httpfs",
        "PRAGMA enable_profiling",
        "SET enable_external_access = true",
        "SET GLOBAL threads = 1",
        "RESET threads",
        "CALL pragma_version()",
        "CHECKPOINT",
        "BEGIN TRANSACTION",
        "COMMIT",
        "ROLLBACK",
        "EXPORT DATABASE '/tmp/dump'",
        "IMPORT DATABASE '/tmp/dump'",
        "EXPLAIN ANALYZE SELECT 1",
        "SHOW TABLES",
        "DESCRIBE orders",
        "SUMMARIZE orders",
        "CREATE SECRET s (TYPE s3, KEY_ID 'x')",
        "CREATE MACRO m(x) AS x",
        "MERGE INTO t USING u ON t.id = u.id WHEN MATCHED THEN DELETE",
        "VACUUM",
        "PREPARE p AS SELECT 1",
        "EXECUTE p",
        "DEALLOCATE p",
        "SET VARIABLE x = 1",
    ] {
        not_a_query(sql);
    }
}

#[test]
fn writes_hidden_inside_a_query_are_refused() {
    for sql in [
        "WITH x AS (DELETE FROM orders RETURNING *) SELECT * FROM x",
        "WITH x AS (INSERT INTO orders VALUES (1) RETURNING *) SELECT * FROM x",
        "WITH x AS (UPDATE orders SET a = 1 RETURNING *) SELECT 1",
        "SELECT * INTO new_table FROM orders",
        "SELECT * FROM orders FOR UPDATE",
        "SELECT nextval('seq')",
        "SELECT setseed(0.5)",
        "SELECT * FROM t WHERE a = (SELECT nextval('s'))",
    ] {
        match check(sql) {
            Err(Refusal::Forbidden { .. } | Refusal::Syntax { .. } | Refusal::NotAQuery { .. }) => {
            }
            other => panic!("{sql:?}: {other:?}"),
        }
    }
}

#[test]
fn every_file_reader_is_refused() {
    for sql in [
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM read_csv_auto('/etc/passwd')",
        "SELECT * FROM READ_CSV('/etc/passwd')",
        "SELECT * FROM \"read_csv\"('/etc/passwd')",
        "SELECT * FROM main.read_csv('/etc/passwd')",
        "SELECT * FROM read_json('x.json')",
        "SELECT * FROM read_json_auto('x.json')",
        "SELECT * FROM read_ndjson_objects('x.json')",
        "SELECT * FROM read_parquet('x.parquet')",
        "SELECT * FROM parquet_scan('x.parquet')",
        "SELECT * FROM parquet_metadata('x.parquet')",
        "SELECT * FROM parquet_schema('x.parquet')",
        "SELECT * FROM read_text('/etc/hostname')",
        "SELECT * FROM read_blob('/etc/hostname')",
        "SELECT * FROM glob('/*')",
        "SELECT * FROM sniff_csv('/etc/passwd')",
        "SELECT * FROM sqlite_scan('x.db', 't')",
        "SELECT * FROM postgres_scan('host=x', 'public', 't')",
        "SELECT * FROM query('SELECT 1')",
        "SELECT * FROM query_table('orders')",
        "SELECT * FROM iceberg_scan('s3://b/t')",
        "SELECT * FROM delta_scan('s3://b/t')",
        "SELECT * FROM 'data.csv'",
        "SELECT * FROM '/etc/passwd'",
        "SELECT * FROM \"/etc/passwd\"",
        "SELECT * FROM \"data.csv\"",
        "SELECT * FROM \"https://example.com/x.parquet\"",
        "FROM 'x.parquet'",
        "SELECT * FROM orders, read_csv('/etc/passwd')",
        "SELECT * FROM orders WHERE id IN (SELECT * FROM read_csv('/etc/passwd'))",
        "WITH x AS (SELECT * FROM read_text('/etc/passwd')) SELECT * FROM x",
        "SELECT (SELECT content FROM read_text('/etc/passwd'))",
        "SELECT * FROM (SELECT * FROM read_blob('/etc/passwd')) AS t",
        "SELECT * FROM orders o, LATERAL read_csv(o.path)",
        "SELECT read_text('/etc/passwd')",
        "SELECT * FROM TABLE(read_csv('/etc/passwd'))",
    ] {
        match check(sql) {
            Err(Refusal::Forbidden { .. } | Refusal::Syntax { .. }) => {}
            other => panic!("{sql:?}: {other:?}"),
        }
    }
}

#[test]
fn settings_catalog_and_host_facts_are_refused() {
    for sql in [
        "SELECT getenv('HOME')",
        "SELECT current_setting('home_directory')",
        "SELECT CURRENT_SETTING('temp_directory')",
        "SELECT getvariable('x')",
        "SELECT * FROM duckdb_settings()",
        "SELECT * FROM duckdb_secrets()",
        "SELECT * FROM duckdb_extensions()",
        "SELECT * FROM duckdb_databases()",
        "SELECT * FROM pragma_database_list",
        "SELECT * FROM pragma_table_info('orders')",
        "SELECT * FROM duckdb_tables",
        "SELECT * FROM system.main.duckdb_tables",
        "SELECT * FROM pg_catalog.pg_settings",
        "SELECT * FROM temp.main.t",
        "SELECT * FROM sqlite_master",
        "SELECT enable_profiling()",
        "SELECT checkpoint()",
        "SELECT which_secret('s3://x', 's3')",
        "SELECT version()",
        "SELECT export_database('x')",
        "SELECT other_schema.my_function(1)",
        "SELECT a.b.c(1)",
        "SELECT * FROM a.b.c.d",
        "SELECT * FROM \"duckdb_settings\"()",
        "SELECT (SELECT value FROM duckdb_settings() LIMIT 1)",
        "SELECT 1 WHERE getenv('X') IS NULL",
        "SELECT list_transform([1], x -> getenv('HOME'))",
        "SELECT * FROM range(getenv('N')::INT)",
    ] {
        forbidden(sql);
    }
}

#[test]
fn text_the_parsers_could_read_differently_is_refused() {
    for sql in [
        "SELECT 1\0; DROP TABLE t",
        "SELECT 1 -- comment\r DROP TABLE t",
        "SELECT `x` FROM t",
        "SELECT $$a$$",
        "SELECT $tag$x$tag$",
        "SELECT $1",
        "SELECT /* outer /* inner */ still comment */ 1",
        "SELECT /* never closed",
        "SELECT E'\\x41'",
        "SELECT e'it\\'s'",
        "SELECT 'a\\'; DROP TABLE t; --'",
        "SELECT U&'\\0041'",
        "SELECT U&\"\\0041\" FROM t",
        "SELECT 1\u{037E} DROP TABLE t",
        "SELECT 1\u{FF1B} DROP TABLE t",
        "SELECT\u{00A0}1",
        "SELECT\u{2028}1",
        "SELECT 1\u{200B}",
        "\u{FEFF}SELECT 1",
        "SELECT \u{2018}x\u{2019}",
        "SELECT 1 \\ 2",
    ] {
        forbidden(sql);
    }
}

#[test]
fn syntax_errors_carry_their_position() {
    match refused("SELECT 1\nFROM WHERE") {
        Refusal::Syntax {
            message,
            line,
            column,
        } => {
            assert_eq!(line, 2, "{message}");
            assert!(column > 0, "{message}");
            assert!(!message.contains("Line:"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(refused("SELEC 1"), Refusal::Syntax { .. }));
    assert!(matches!(refused("SELECT (1"), Refusal::Syntax { .. }));
    assert!(matches!(
        refused("SELECT 'unterminated"),
        Refusal::Syntax { .. }
    ));
}

#[test]
fn a_too_large_query_is_refused_without_repeating_it() {
    let sql = format!("SELECT '{}'", "secret".repeat(20_000));
    let refusal = refused(&sql);
    assert_eq!(refusal, Refusal::TooLarge { bytes: sql.len() });
    assert!(!refusal.to_string().contains("secret"));
}

#[test]
fn deep_nesting_is_refused_not_a_crash() {
    let parens = format!("SELECT {}1{}", "(".repeat(5_000), ")".repeat(5_000));
    forbidden(&parens);
    let subqueries = format!("SELECT {}1{}", "(SELECT ".repeat(200), ")".repeat(200));
    forbidden(&subqueries);
    // A long flat chain parses iteratively into a deep tree; checking and dropping it
    // must not overflow the stack.
    let chain = format!("SELECT 1{}", " + 1".repeat(24_000));
    assert!(chain.len() < MAX_SQL_BYTES);
    let _ = check(&chain);
    let ands = format!("SELECT 1 WHERE {}", "a = 1 AND ".repeat(9_000) + "true");
    let _ = check(&ands);
}

#[test]
fn refusals_never_echo_the_query() {
    for sql in [
        "DROP TABLE secret_table_name",
        "SELECT * FROM read_csv('/secret/path')",
        "SELECT getenv('SECRET_VAR')",
    ] {
        let message = refused(sql).to_string();
        assert!(!message.to_lowercase().contains("secret"), "{message}");
    }
}

#[test]
fn checked_lists_relations_and_ctes() {
    let checked = check(
        "WITH recent AS (SELECT * FROM Main.Orders) \
         SELECT * FROM recent JOIN customers USING (id) JOIN main.orders USING (id)",
    )
    .unwrap();
    assert_eq!(checked.relations, vec!["customers", "main.orders"]);
    assert_eq!(checked.ctes, vec!["recent"]);
}

#[test]
fn allow_and_deny_lists() {
    for name in ["range", "generate_series", "unnest"] {
        assert!(is_allowed_table_function(name));
    }
    for name in ["read_csv", "glob", "query", "duckdb_tables", "sqlite_scan"] {
        assert!(!is_allowed_table_function(name));
    }
    for name in [
        "getenv",
        "GETENV",
        "current_setting",
        "duckdb_settings",
        "pragma_version",
        "read_text",
        "read_csv_auto",
        "query_table",
        "enable_profiling",
        "disable_optimizer",
        "export_csv",
        "sqlite_attach",
        "nextval",
    ] {
        assert!(denied_function(name).is_some(), "{name}");
    }
    for name in [
        "sum",
        "lower",
        "date_trunc",
        "list_transform",
        "current_database",
        "regexp_matches",
    ] {
        assert!(denied_function(name).is_none(), "{name}");
    }
}

#[test]
fn statement_end_cuts_trailing_noise_only() {
    for (sql, statement) in [
        ("SELECT 1", "SELECT 1"),
        ("SELECT 1;", "SELECT 1"),
        ("SELECT 1 ; \n", "SELECT 1"),
        ("SELECT 1 -- note", "SELECT 1"),
        ("SELECT 1; -- note\n", "SELECT 1"),
        ("SELECT 1 /* note */", "SELECT 1"),
        ("SELECT 1 /* a */ -- b\n ;", "SELECT 1"),
        ("SELECT '--x'", "SELECT '--x'"),
        ("SELECT '/* x */'", "SELECT '/* x */'"),
        ("SELECT 1 -- a\n + 2", "SELECT 1 -- a\n + 2"),
        ("SELECT \"a;\"", "SELECT \"a;\""),
    ] {
        assert_eq!(&sql[..statement_end(sql)], statement, "{sql:?}");
    }
}
