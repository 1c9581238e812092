use super::*;

/// A project: raw.orders(id, customer_id, amount, status), raw.customers(id, name, email),
/// and an unprofiled raw.events (columns unknown).
fn known() -> Known {
    let mut known = Known::default();
    for (schema, name, id, columns) in [
        (
            "raw",
            "orders",
            "source.shop.raw.orders",
            Some(vec!["id", "customer_id", "amount", "status"]),
        ),
        (
            "raw",
            "customers",
            "source.shop.raw.customers",
            Some(vec!["id", "name", "email"]),
        ),
        ("raw", "events", "source.shop.raw.events", None),
    ] {
        known
            .relations
            .insert((schema.into(), name.into()), id.into());
        if let Some(columns) = columns {
            known
                .columns
                .insert(id.into(), columns.into_iter().map(String::from).collect());
        }
    }
    known
        .ephemeral
        .insert("__dbt__cte__eph".into(), "model.shop.eph".into());
    known
}

fn col(node: &str, column: &str) -> ColumnRef {
    ColumnRef {
        node: format!("source.shop.raw.{node}"),
        column: column.into(),
    }
}

fn traced(sql: &str) -> Vec<TracedColumn> {
    trace(sql, &known(), None).unwrap()
}

fn upstream_of(columns: &[TracedColumn], name: &str) -> Vec<ColumnRef> {
    columns
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no output {name} in {columns:?}"))
        .upstream
        .iter()
        .cloned()
        .collect()
}

#[test]
fn aliases_and_expressions_trace_to_their_columns() {
    let columns = traced(
        "select o.id as order_id, o.amount * 100 as cents, upper(c.name) as customer, 1 as one \
         from \"db\".\"raw\".\"orders\" o join raw.customers c on o.customer_id = c.id",
    );
    let names: Vec<_> = columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["order_id", "cents", "customer", "one"]);
    assert_eq!(upstream_of(&columns, "order_id"), [col("orders", "id")]);
    assert_eq!(upstream_of(&columns, "cents"), [col("orders", "amount")]);
    assert_eq!(
        upstream_of(&columns, "customer"),
        [col("customers", "name")]
    );
    assert!(
        upstream_of(&columns, "one").is_empty(),
        "a constant has no upstream"
    );
    assert!(
        columns.iter().all(|c| c.unresolved.is_empty()),
        "{columns:?}"
    );
}

#[test]
fn ctes_and_subqueries_are_followed_through() {
    let columns = traced(
        "with paid as (select id, amount as value from raw.orders where status = 'paid'), \
              totals as (select sum(value) as total from paid) \
         select total, (select max(amount) from raw.orders) as biggest from totals",
    );
    assert_eq!(upstream_of(&columns, "total"), [col("orders", "amount")]);
    assert_eq!(upstream_of(&columns, "biggest"), [col("orders", "amount")]);
}

#[test]
fn star_expands_with_real_columns_less_exclude_with_replace() {
    let columns =
        traced("select * exclude (status) replace (amount / 100 as amount) from raw.orders");
    let names: Vec<_> = columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["id", "customer_id", "amount"]);
    assert_eq!(
        upstream_of(&columns, "customer_id"),
        [col("orders", "customer_id")]
    );
    let qualified =
        traced("select c.*, o.id as order_id from raw.orders o join raw.customers c on true");
    let names: Vec<_> = qualified.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["id", "name", "email", "order_id"]);
    assert_eq!(upstream_of(&qualified, "id"), [col("customers", "id")]);
}

#[test]
fn unions_merge_positionally_and_unqualified_names_find_their_table() {
    let columns = traced(
        "select id, email as contact from raw.customers union all select id, status from raw.orders",
    );
    assert_eq!(
        upstream_of(&columns, "contact"),
        [col("customers", "email"), col("orders", "status")]
    );
    let joined = traced("select email, amount from raw.orders join raw.customers on true");
    assert_eq!(upstream_of(&joined, "email"), [col("customers", "email")]);
    assert_eq!(upstream_of(&joined, "amount"), [col("orders", "amount")]);
}

#[test]
fn what_cannot_be_traced_is_reported_not_guessed() {
    let ambiguous = traced("select id from raw.orders join raw.customers on true");
    assert!(ambiguous[0].upstream.is_empty());
    assert_eq!(ambiguous[0].unresolved, ["id (ambiguous)"]);
    let unknown = traced("select x from somewhere_else");
    assert_eq!(unknown[0].unresolved, ["x"]);
    let star_of_unknown = traced("select * from raw.events");
    assert!(
        star_of_unknown[0].unresolved[0].contains("not known"),
        "{star_of_unknown:?}"
    );
    // A table whose columns are unknown still takes the columns named from it.
    let open = traced("select user_id from raw.events");
    assert_eq!(
        upstream_of(&open, "user_id"),
        [ColumnRef {
            node: "source.shop.raw.events".into(),
            column: "user_id".into()
        }]
    );
    let lambda = traced("select list_transform([1, 2], x -> x + amount) as l from raw.orders");
    assert_eq!(upstream_of(&lambda, "l"), [col("orders", "amount")]);
    assert!(lambda[0].unresolved.is_empty(), "{lambda:?}");
}

#[test]
fn ephemeral_models_are_their_own_step() {
    let columns = traced(
        "with __dbt__cte__eph as (select id, amount from raw.orders) \
         select amount as value from __dbt__cte__eph",
    );
    assert_eq!(
        upstream_of(&columns, "value"),
        [ColumnRef {
            node: "model.shop.eph".into(),
            column: "amount".into()
        }]
    );
}

#[test]
fn the_warehouse_names_expression_columns() {
    let own = vec!["count_star()".to_string(), "total".to_string()];
    let columns = trace(
        "select count(*), sum(amount) as total from raw.orders",
        &known(),
        Some(&own),
    )
    .unwrap();
    assert_eq!(columns[0].name, "count_star()");
    assert!(trace("select from where", &known(), None).is_err());
}
