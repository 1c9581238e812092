//! Rendering dbt's Jinja with minijinja. The dbt context (`ref`, `source`, `config`,
//! `var`, `env_var`, `target`, `this`, `is_incremental`, `adapter`, `run_query`, …) is
//! carried by the render itself: the node being rendered sits in the template's root
//! context (`__dango_node`, next to `this`, `model`, `target`, `config`, `adapter` and
//! `execute`), and the functions find it through minijinja's `State`. A macro call runs in
//! its caller's state over the same root context, so project macros (all in one
//! `__macros__` template, imported on the first line of every node's template) see the
//! node exactly as the node's own code does.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use minijinja::value::{Kwargs, Object, ObjectRepr, Rest, Value as JValue};
use minijinja::{Environment, Error as JError, ErrorKind, State, UndefinedBehavior};
use serde_json::{Map, Value};

use super::nodes::{RefCall, quote, relation};
use super::project::Target;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Discovering configuration and dependencies: `ref` returns placeholders.
    Parse,
    /// Producing the SQL that runs.
    Compile,
}

/// Where a `ref` or `source` points.
#[derive(Clone, Debug)]
pub struct Target3 {
    pub unique_id: String,
    pub database: String,
    pub schema: String,
    pub identifier: String,
    pub ephemeral: bool,
}

/// Everything names resolve against, shared by all renders of one invocation.
#[derive(Default)]
pub struct Resolver {
    pub project_name: String,
    /// model/seed/snapshot name → target (`None` package = any package)
    pub nodes: HashMap<String, Target3>,
    pub sources: HashMap<(String, String), Target3>,
    pub vars: Map<String, Value>,
    pub docs: BTreeMap<String, String>,
}

#[derive(Default, Debug)]
pub struct Captured {
    pub config: Map<String, Value>,
    pub refs: Vec<RefCall>,
    pub sources: Vec<(String, String)>,
    /// Ephemeral models referenced (their CTEs must be injected), in order of use.
    pub ephemerals: Vec<String>,
}

/// The node being rendered.
pub struct Scope {
    pub mode: Mode,
    pub resolver: Arc<Resolver>,
    pub target: Target,
    pub unique_id: String,
    pub name: String,
    pub resource_type: String,
    pub this: Option<Target3>,
    pub is_incremental: bool,
    /// The node's effective configuration (compile mode), for `config.get`.
    pub config: Map<String, Value>,
    /// A warehouse connection for `run_query` and `adapter` lookups (compile mode),
    /// behind a lock because minijinja values are shared between threads.
    pub connection: Option<Mutex<duckdb::Connection>>,
}

/// What a render leaves behind: what the node's code captured and the connection it
/// was lent.
pub struct Rendered {
    pub captured: Captured,
    pub connection: Option<duckdb::Connection>,
}

/// The key under which the node sits in a render's root context.
const NODE_KEY: &str = "__dango_node";

/// The node as the render's context carries it: its fixed facts, plus what rendering
/// records (behind a lock, since minijinja values are shared between threads).
struct NodeContext {
    scope: Scope,
    captured: Mutex<Captured>,
}

#[derive(Clone)]
struct NodeRef(Arc<NodeContext>);

impl fmt::Debug for NodeRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<node {}>", self.0.scope.unique_id)
    }
}

impl Object for NodeRef {}

fn locked<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl NodeRef {
    fn new(scope: Scope) -> Self {
        NodeRef(Arc::new(NodeContext {
            scope,
            captured: Mutex::new(Captured::default()),
        }))
    }

    fn scope(&self) -> &Scope {
        &self.0.scope
    }

    fn captured(&self) -> MutexGuard<'_, Captured> {
        locked(&self.0.captured)
    }

    /// The render's root context: the node and the names dbt gives every node.
    fn context(&self) -> JValue {
        let dynamic = |kind| JValue::from_object(Dynamic(kind, self.clone()));
        minijinja::context! {
            __dango_node => JValue::from_object(self.clone()),
            this => dynamic("this"),
            target => dynamic("target"),
            model => dynamic("model"),
            execute => dynamic("execute"),
            config => JValue::from_object(ConfigObject(self.clone())),
            adapter => JValue::from_object(Adapter(self.clone())),
        }
    }

    /// What the render left; the context is the only owner once the render is over.
    fn into_rendered(self) -> Rendered {
        match Arc::try_unwrap(self.0) {
            Ok(context) => Rendered {
                captured: context
                    .captured
                    .into_inner()
                    .unwrap_or_else(|e| e.into_inner()),
                connection: context
                    .scope
                    .connection
                    .map(|c| c.into_inner().unwrap_or_else(|e| e.into_inner())),
            },
            // A value of the render outlived it (none of ours does): keep what it captured,
            // and let the connection go with the last reference.
            Err(shared) => Rendered {
                captured: std::mem::take(&mut *locked(&shared.captured)),
                connection: None,
            },
        }
    }
}

/// The node being rendered, as `state` sees it.
fn node(state: &State) -> Result<NodeRef, JError> {
    state
        .lookup(NODE_KEY)
        .and_then(|value| value.downcast_object_ref::<NodeRef>().cloned())
        .ok_or_else(|| {
            JError::new(
                ErrorKind::InvalidOperation,
                "dbt context used outside of a node",
            )
        })
}

fn to_json(value: &JValue) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

fn from_json(value: &Value) -> JValue {
    JValue::from(minijinja::value::Serde(value))
}

/// A relation (`ref`, `source`, `this`): renders as `"db"."schema"."identifier"`.
#[derive(Debug, Clone)]
pub struct Relation {
    pub database: String,
    pub schema: String,
    pub identifier: String,
    /// Ephemeral models render as their CTE name.
    pub cte: Option<String>,
}

impl Relation {
    fn from_target(target: &Target3) -> Self {
        Relation {
            database: target.database.clone(),
            schema: target.schema.clone(),
            identifier: target.identifier.clone(),
            cte: target
                .ephemeral
                .then(|| format!("__dbt__cte__{}", target.identifier)),
        }
    }
}

impl fmt::Display for Relation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.cte {
            Some(cte) => f.write_str(cte),
            None => f.write_str(&relation(&self.database, &self.schema, &self.identifier)),
        }
    }
}

impl Object for Relation {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn get_value(self: &Arc<Self>, key: &JValue) -> Option<JValue> {
        Some(match key.as_str()? {
            "database" => JValue::from(self.database.clone()),
            "schema" => JValue::from(self.schema.clone()),
            "identifier" | "name" | "table" => JValue::from(self.identifier.clone()),
            "type" => JValue::from("table"),
            "is_table" => JValue::from(true),
            "is_view" => JValue::from(false),
            _ => return None,
        })
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &mut State,
        method: &str,
        args: &[JValue],
    ) -> Result<JValue, JError> {
        match method {
            "render" => Ok(JValue::from(self.to_string())),
            "include" => Ok(JValue::from_object((**self).clone())),
            "quote" => Ok(JValue::from_object((**self).clone())),
            "incorporate" => {
                let _ = args;
                Ok(JValue::from_object((**self).clone()))
            }
            _ => Err(JError::from(ErrorKind::UnknownMethod)),
        }
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

fn placeholder(name: &str) -> JValue {
    JValue::from_object(Relation {
        database: "__dbt_parse__".into(),
        schema: "__dbt_parse__".into(),
        identifier: name.into(),
        cte: None,
    })
}

fn ref_fn(state: &State, args: Rest<JValue>, kwargs: Kwargs) -> Result<JValue, JError> {
    let node = node(state)?;
    let scope = node.scope();
    let strings: Vec<String> = args
        .iter()
        .filter_map(|a| a.as_str().map(str::to_string))
        .collect();
    let _ = kwargs.args().count(); // version / v are accepted and ignored
    let call = match strings.as_slice() {
        [name] => RefCall {
            package: None,
            name: name.clone(),
        },
        [package, name] => RefCall {
            package: Some(package.clone()),
            name: name.clone(),
        },
        _ => {
            return Err(JError::new(
                ErrorKind::InvalidOperation,
                "ref() takes a model name, or a package and a model name",
            ));
        }
    };
    let Some(target) = scope.resolver.nodes.get(&call.name).cloned() else {
        return Err(JError::new(
            ErrorKind::InvalidOperation,
            format!(
                "{} '{}' depends on a node named '{}' which was not found",
                scope.resource_type, scope.name, call.name
            ),
        ));
    };
    if let Some(package) = &call.package
        && package != &scope.resolver.project_name
    {
        return Err(JError::new(
            ErrorKind::InvalidOperation,
            format!(
                "ref('{package}', '{}'): package '{package}' is not this project",
                call.name
            ),
        ));
    }
    let mut captured = node.captured();
    if !captured.refs.contains(&call) {
        captured.refs.push(call.clone());
    }
    if scope.mode == Mode::Parse {
        return Ok(placeholder(&call.name));
    }
    if target.ephemeral && !captured.ephemerals.contains(&target.unique_id) {
        captured.ephemerals.push(target.unique_id.clone());
    }
    Ok(JValue::from_object(Relation::from_target(&target)))
}

fn source_fn(state: &State, source_name: String, table_name: String) -> Result<JValue, JError> {
    let node = node(state)?;
    let scope = node.scope();
    let key = (source_name.clone(), table_name.clone());
    let Some(target) = scope.resolver.sources.get(&key).cloned() else {
        return Err(JError::new(
            ErrorKind::InvalidOperation,
            format!(
                "{} '{}' depends on a source named '{source_name}.{table_name}' which was not found",
                scope.resource_type, scope.name
            ),
        ));
    };
    let mut captured = node.captured();
    if !captured.sources.contains(&key) {
        captured.sources.push(key);
    }
    Ok(JValue::from_object(Relation::from_target(&target)))
}

/// `config(...)` records configuration; `config.get(key, default)` reads it.
#[derive(Debug)]
struct ConfigObject(NodeRef);

impl Object for ConfigObject {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn call(self: &Arc<Self>, _state: &mut State, args: &[JValue]) -> Result<JValue, JError> {
        let mut captured = self.0.captured();
        for arg in args {
            if let Value::Object(map) = to_json(arg) {
                captured.config.extend(map);
            }
        }
        Ok(JValue::from(""))
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &mut State,
        method: &str,
        args: &[JValue],
    ) -> Result<JValue, JError> {
        let key = args
            .first()
            .and_then(|a| a.as_str())
            .unwrap_or_default()
            .to_string();
        let recorded = self.0.captured().config.get(&key).cloned();
        let found = recorded.or_else(|| self.0.scope().config.get(&key).cloned());
        match method {
            "get" => Ok(found
                .map(|v| from_json(&v))
                .unwrap_or_else(|| args.get(1).cloned().unwrap_or(JValue::from(())))),
            "require" => found.map(|v| from_json(&v)).ok_or_else(|| {
                JError::new(
                    ErrorKind::InvalidOperation,
                    format!("missing config: {key}"),
                )
            }),
            "set" => Ok(JValue::from("")),
            _ => Err(JError::from(ErrorKind::UnknownMethod)),
        }
    }
}

fn var_fn(state: &State, name: String, default: Option<JValue>) -> Result<JValue, JError> {
    let node = node(state)?;
    let scope = node.scope();
    match scope.resolver.vars.get(&name) {
        Some(value) => Ok(from_json(value)),
        None => match default {
            Some(default) => Ok(default),
            // dbt only fails a missing var when the node executes
            None if scope.mode == Mode::Parse => Ok(JValue::from(())),
            None => Err(JError::new(
                ErrorKind::InvalidOperation,
                format!(
                    "Required var '{name}' not found in config:\nVars supplied to {} = {{}}",
                    scope.name
                ),
            )),
        },
    }
}

/// Python's `repr` of a string: single quotes unless it contains `'` and no `"`.
pub fn python_repr_str(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

fn python_float(f: f64) -> String {
    if f.is_finite() && f == f.trunc() && f.abs() < 1e16 {
        format!("{f:.1}")
    } else {
        f.to_string()
    }
}

/// How Python's `str()` renders a value (dbt's Jinja prints values that way):
/// `None`, `True`, `['a', 1]`, `{'k': 'v'}`, `1.0`.
pub fn python_str(value: &JValue, nested: bool) -> String {
    use minijinja::value::ValueKind;
    match value.kind() {
        ValueKind::Undefined => String::new(),
        ValueKind::None => "None".into(),
        ValueKind::Bool => {
            if value.is_true() {
                "True".into()
            } else {
                "False".into()
            }
        }
        ValueKind::Number => match serde_json::to_value(value) {
            Ok(Value::Number(n)) if n.is_f64() => n
                .as_f64()
                .map(python_float)
                .unwrap_or_else(|| n.to_string()),
            Ok(Value::Number(n)) => n.to_string(),
            _ => value.to_string(),
        },
        ValueKind::String if nested => python_repr_str(value.as_str().unwrap_or_default()),
        ValueKind::Seq | ValueKind::Iterable => {
            let items: Vec<String> = value
                .try_iter()
                .map(|it| it.map(|v| python_str(&v, true)).collect())
                .unwrap_or_default();
            format!("[{}]", items.join(", "))
        }
        ValueKind::Map
            if value
                .as_object()
                .is_none_or(|o| o.repr() == ObjectRepr::Map) =>
        {
            let mut parts = Vec::new();
            if let Ok(keys) = value.try_iter() {
                for key in keys {
                    let item = value.get_item(&key).unwrap_or_default();
                    parts.push(format!(
                        "{}: {}",
                        python_str(&key, true),
                        python_str(&item, true)
                    ));
                }
            }
            format!("{{{}}}", parts.join(", "))
        }
        _ => value.to_string(),
    }
}

fn env_var_fn(name: String, default: Option<JValue>) -> Result<JValue, JError> {
    match std::env::var(&name) {
        Ok(value) => Ok(JValue::from(value)),
        Err(_) => default.ok_or_else(|| {
            JError::new(
                ErrorKind::InvalidOperation,
                format!("Env var required but not provided: '{name}'"),
            )
        }),
    }
}

fn is_incremental_fn(state: &State) -> Result<bool, JError> {
    Ok(node(state)?.scope().is_incremental)
}

fn log_fn(message: JValue, _info: Option<bool>) -> Result<String, JError> {
    tracing::info!(target: "dango::dbt", "{message}");
    Ok(String::new())
}

fn doc_fn(state: &State, name: String) -> Result<String, JError> {
    node(state)?
        .scope()
        .resolver
        .docs
        .get(&name)
        .cloned()
        .ok_or_else(|| {
            JError::new(
                ErrorKind::InvalidOperation,
                format!("Documentation for '{name}' not found"),
            )
        })
}

fn fromjson_fn(text: String, default: Option<JValue>) -> Result<JValue, JError> {
    match serde_json::from_str::<Value>(&text) {
        Ok(value) => Ok(from_json(&value)),
        Err(e) => default
            .ok_or_else(|| JError::new(ErrorKind::InvalidOperation, format!("fromjson: {e}"))),
    }
}

fn tojson_fn(value: JValue) -> Result<String, JError> {
    Ok(to_json(&value).to_string())
}

/// Column names and rows of a query result.
type QueryRows = (Vec<String>, Vec<Vec<Value>>);

/// Runs a query on the warehouse (compile mode); `None` while parsing.
fn query_rows(node: &NodeRef, sql: &str) -> Result<Option<QueryRows>, JError> {
    if node.scope().mode == Mode::Parse {
        return Ok(None);
    }
    let Some(connection) = &node.scope().connection else {
        return Ok(None);
    };
    let conn = locked(connection);
    let fail = |e: duckdb::Error| {
        JError::new(
            ErrorKind::InvalidOperation,
            format!("run_query failed: {e}"),
        )
    };
    let mut stmt = conn.prepare(sql).map_err(fail)?;
    let mut rows = stmt.query([]).map_err(fail)?;
    let mut out = Vec::new();
    let mut names = Vec::new();
    while let Some(row) = rows.next().map_err(fail)? {
        if names.is_empty() {
            names = row.as_ref().column_names();
        }
        let mut values = Vec::new();
        for i in 0..names.len() {
            let value: duckdb::types::Value = row.get(i).map_err(fail)?;
            values.push(super::values::to_json(value));
        }
        out.push(values);
    }
    if names.is_empty() {
        names = stmt.column_names();
    }
    Ok(Some((names, out)))
}

/// What `run_query` returns: `.rows`, `.columns[i].values()`, `.column_names`.
#[derive(Debug)]
struct QueryResult {
    names: Vec<String>,
    rows: Vec<Vec<Value>>,
}

impl Object for QueryResult {
    fn get_value(self: &Arc<Self>, key: &JValue) -> Option<JValue> {
        match key.as_str()? {
            "rows" => Some(from_json(&Value::from(
                self.rows
                    .iter()
                    .map(|r| Value::from(r.clone()))
                    .collect::<Vec<_>>(),
            ))),
            "column_names" => Some(JValue::from(self.names.clone())),
            "columns" => Some(JValue::from(
                (0..self.names.len())
                    .map(|i| {
                        JValue::from_object(QueryColumn {
                            name: self.names[i].clone(),
                            values: self
                                .rows
                                .iter()
                                .map(|r| r.get(i).cloned().unwrap_or(Value::Null))
                                .collect(),
                        })
                    })
                    .collect::<Vec<_>>(),
            )),
            _ => None,
        }
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &mut State,
        method: &str,
        _args: &[JValue],
    ) -> Result<JValue, JError> {
        match method {
            "print_table" => Ok(JValue::from("")),
            _ => Err(JError::from(ErrorKind::UnknownMethod)),
        }
    }
}

#[derive(Debug)]
struct QueryColumn {
    name: String,
    values: Vec<Value>,
}

impl Object for QueryColumn {
    fn get_value(self: &Arc<Self>, key: &JValue) -> Option<JValue> {
        match key.as_str()? {
            "name" => Some(JValue::from(self.name.clone())),
            _ => None,
        }
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &mut State,
        method: &str,
        _args: &[JValue],
    ) -> Result<JValue, JError> {
        match method {
            "values" => Ok(from_json(&Value::from(self.values.clone()))),
            _ => Err(JError::from(ErrorKind::UnknownMethod)),
        }
    }
}

fn run_query_fn(state: &State, sql: String) -> Result<JValue, JError> {
    Ok(match query_rows(&node(state)?, &sql)? {
        Some((names, rows)) => JValue::from_object(QueryResult { names, rows }),
        None => JValue::from(()),
    })
}

/// `adapter.quote`, `adapter.get_relation`, `adapter.get_columns_in_relation`.
#[derive(Debug)]
struct Adapter(NodeRef);

#[derive(Debug)]
struct Column {
    name: String,
    data_type: String,
}

impl Object for Column {
    fn get_value(self: &Arc<Self>, key: &JValue) -> Option<JValue> {
        match key.as_str()? {
            "name" | "column" => Some(JValue::from(self.name.clone())),
            "data_type" | "dtype" => Some(JValue::from(self.data_type.clone())),
            "quoted" => Some(JValue::from(quote(&self.name))),
            _ => None,
        }
    }
}

impl Object for Adapter {
    fn call_method(
        self: &Arc<Self>,
        state: &mut State,
        method: &str,
        args: &[JValue],
    ) -> Result<JValue, JError> {
        let arg = |i: usize| args.get(i).map(|a| a.to_string()).unwrap_or_default();
        match method {
            "quote" => Ok(JValue::from(quote(&arg(0)))),
            // dbt's search order for the duckdb adapter: duckdb__x, then default__x.
            "dispatch" => {
                let name = arg(0);
                for candidate in [format!("duckdb__{name}"), format!("default__{name}")] {
                    if let Some(found) = state.lookup(&candidate)
                        && !found.is_undefined()
                    {
                        return Ok(found);
                    }
                }
                Err(JError::new(
                    ErrorKind::InvalidOperation,
                    format!(
                        "No macro named 'duckdb__{name}' or 'default__{name}' to dispatch '{name}' to"
                    ),
                ))
            }
            "get_relation" => {
                let (database, schema, identifier) = (arg(0), arg(1), arg(2));
                let sql = format!(
                    "SELECT count(*) FROM information_schema.tables WHERE table_schema = '{}' AND table_name = '{}'",
                    schema.replace('\'', "''"),
                    identifier.replace('\'', "''")
                );
                Ok(match query_rows(&self.0, &sql)? {
                    Some((_, rows))
                        if rows
                            .first()
                            .and_then(|r| r.first())
                            .and_then(Value::as_i64)
                            .unwrap_or(0)
                            > 0 =>
                    {
                        JValue::from_object(Relation {
                            database,
                            schema,
                            identifier,
                            cte: None,
                        })
                    }
                    _ => JValue::from(()),
                })
            }
            "get_columns_in_relation" => {
                let Some(relation) = args.first() else {
                    return Ok(JValue::from(Vec::<JValue>::new()));
                };
                let schema = relation
                    .get_attr("schema")
                    .map(|v| v.to_string())
                    .unwrap_or_default();
                let table = relation
                    .get_attr("identifier")
                    .map(|v| v.to_string())
                    .unwrap_or_default();
                let sql = format!(
                    "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = '{}' AND table_name = '{}' ORDER BY ordinal_position",
                    schema.replace('\'', "''"),
                    table.replace('\'', "''")
                );
                Ok(JValue::from(
                    query_rows(&self.0, &sql)?
                        .map(|(_, rows)| rows)
                        .unwrap_or_default()
                        .into_iter()
                        .map(|r| {
                            JValue::from_object(Column {
                                name: r
                                    .first()
                                    .and_then(Value::as_str)
                                    .unwrap_or_default()
                                    .to_string(),
                                data_type: r
                                    .get(1)
                                    .and_then(Value::as_str)
                                    .unwrap_or_default()
                                    .to_string(),
                            })
                        })
                        .collect::<Vec<_>>(),
                ))
            }
            "type" => Ok(JValue::from("duckdb")),
            _ => Err(JError::new(
                ErrorKind::UnknownMethod,
                format!("adapter.{method} is not supported"),
            )),
        }
    }
}

/// `exceptions.raise_compiler_error(msg)` and `exceptions.warn(msg)`.
#[derive(Debug)]
struct Exceptions;

impl Object for Exceptions {
    fn call_method(
        self: &Arc<Self>,
        _state: &mut State,
        method: &str,
        args: &[JValue],
    ) -> Result<JValue, JError> {
        let message = args.first().map(|a| a.to_string()).unwrap_or_default();
        match method {
            "raise_compiler_error" | "raise_not_implemented" => {
                Err(JError::new(ErrorKind::InvalidOperation, message))
            }
            "warn" => {
                tracing::warn!(target: "dango::dbt", "{message}");
                Ok(JValue::from(""))
            }
            _ => Err(JError::from(ErrorKind::UnknownMethod)),
        }
    }
}

/// Values that depend on the node being rendered: `this`, `execute`, `model`, `target`.
#[derive(Debug)]
struct Dynamic(&'static str, NodeRef);

impl Object for Dynamic {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn get_value(self: &Arc<Self>, key: &JValue) -> Option<JValue> {
        let scope = self.1.scope();
        let key = key.as_str()?;
        match self.0 {
            "this" => scope.this.as_ref().and_then(|t| {
                JValue::from_object(Relation::from_target(t))
                    .get_attr(key)
                    .ok()
            }),
            "target" => Some(match key {
                "name" => JValue::from(scope.target.name.clone()),
                "schema" => JValue::from(scope.target.schema.clone()),
                "database" => JValue::from(scope.target.database.clone()),
                "type" => JValue::from("duckdb"),
                "threads" => JValue::from(scope.target.threads),
                "profile_name" => JValue::from(scope.target.profile_name.clone()),
                _ => return None,
            }),
            "model" => Some(match key {
                "name" => JValue::from(scope.name.clone()),
                "unique_id" => JValue::from(scope.unique_id.clone()),
                "resource_type" => JValue::from(scope.resource_type.clone()),
                "config" => from_json(&Value::Object(scope.config.clone())),
                "schema" => JValue::from(
                    scope
                        .this
                        .as_ref()
                        .map(|t| t.schema.clone())
                        .unwrap_or_default(),
                ),
                "alias" => JValue::from(
                    scope
                        .this
                        .as_ref()
                        .map(|t| t.identifier.clone())
                        .unwrap_or_default(),
                ),
                _ => return None,
            }),
            _ => None,
        }
    }

    fn is_true(self: &Arc<Self>) -> bool {
        match self.0 {
            "execute" => self.1.scope().mode == Mode::Compile,
            _ => true,
        }
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scope = self.1.scope();
        match self.0 {
            "this" => match &scope.this {
                Some(t) => fmt::Display::fmt(&Relation::from_target(t), f),
                None => Ok(()),
            },
            "execute" => write!(
                f,
                "{}",
                if scope.mode == Mode::Compile {
                    "True"
                } else {
                    "False"
                }
            ),
            "target" => f.write_str(&scope.target.name),
            _ => Ok(()),
        }
    }
}

/// Names of the macros defined in a macro file (`{% macro name(` and `{% test name(`).
pub fn macro_names(source: &str) -> Vec<String> {
    let mut names = Vec::new();
    for keyword in ["macro", "test"] {
        let mut rest = source;
        while let Some(pos) = rest.find("{%") {
            rest = &rest[pos + 2..];
            let trimmed = rest.trim_start_matches(['-', '+']).trim_start();
            if let Some(after) = trimmed.strip_prefix(keyword)
                && after.starts_with(char::is_whitespace)
            {
                let name: String = after
                    .trim_start()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    names.push(if keyword == "test" {
                        format!("test_{name}")
                    } else {
                        name
                    });
                }
            }
        }
    }
    names
}

/// dbt's `{% test name(...) %}` blocks are macros named `test_name` here.
pub fn test_blocks_as_macros(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    let mut rest = source;
    while let Some(pos) = rest.find("{%") {
        out.push_str(&rest[..pos]);
        let tag_end = rest[pos..]
            .find("%}")
            .map(|e| pos + e + 2)
            .unwrap_or(rest.len());
        let tag = &rest[pos..tag_end];
        let inner = tag.trim_start_matches("{%").trim_end_matches("%}");
        let (lead, body) =
            inner.split_at(inner.len() - inner.trim_start_matches(['-', '+', ' ']).len());
        let (body, trail) = body.split_at(body.trim_end_matches(['-', '+', ' ']).len());
        if let Some(after) = body.strip_prefix("test ") {
            out.push_str(&format!(
                "{{%{lead}macro test_{}{trail}%}}",
                after.trim_start()
            ));
        } else if body == "endtest" {
            out.push_str(&format!("{{%{lead}endmacro{trail}%}}"));
        } else {
            out.push_str(tag);
        }
        rest = &rest[tag_end..];
    }
    out.push_str(rest);
    out
}

/// One file's place in the combined `__macros__` template, to map error lines back.
#[derive(Clone, Debug)]
pub struct MacroFile {
    pub path: String,
    pub first_line: usize,
    pub lines: usize,
}

pub struct Templates {
    pub env: Environment<'static>,
    pub macro_files: Vec<MacroFile>,
    pub macro_names: Vec<String>,
    /// `{% from "__macros__" import … %}` (no newline: line numbers stay as in the file)
    pub import_prefix: String,
    /// Macros that `return()` a value: their calls are rewritten (see `returns`).
    pub returning: std::collections::HashSet<String>,
}

pub const MACROS_TEMPLATE: &str = "__macros__";

/// The dbt-core version whose behaviour the engine follows (in artifacts and `dbt_version`).
pub const DBT_VERSION: &str = "1.11.16";

/// Builds the environment: built-in macros (generic tests, default schema naming) first,
/// then the project's macro files, which may override them.
pub fn environment(
    builtin: &str,
    project_macros: &[(String, String)],
) -> Result<Templates, String> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Lenient);
    env.set_recursion_limit(200);
    env.add_function("ref", ref_fn);
    env.add_function("source", source_fn);
    env.add_function("var", var_fn);
    env.add_function("env_var", env_var_fn);
    env.add_function("is_incremental", is_incremental_fn);
    env.add_function("log", log_fn);
    env.add_function("doc", doc_fn);
    env.add_function("fromjson", fromjson_fn);
    env.add_function("tojson", tojson_fn);
    env.add_function("run_query", run_query_fn);
    env.add_function("return", super::returns::return_fn);
    env.add_function("__dango_returned", super::returns::returned_fn);
    env.add_function("zip", |a: JValue, b: JValue| -> Result<JValue, JError> {
        let a: Vec<JValue> = a.try_iter()?.collect();
        let b: Vec<JValue> = b.try_iter()?.collect();
        Ok(JValue::from(
            a.into_iter()
                .zip(b)
                .map(|(x, y)| JValue::from(vec![x, y]))
                .collect::<Vec<_>>(),
        ))
    });
    env.add_global("exceptions", JValue::from_object(Exceptions));
    env.add_global(
        "flags",
        from_json(&serde_json::json!({"FULL_REFRESH": false, "WHICH": "build"})),
    );
    env.add_global("dbt_version", JValue::from(DBT_VERSION));
    env.add_global(
        "invocation_id",
        JValue::from(uuid::Uuid::new_v4().to_string()),
    );
    env.add_global(
        "run_started_at",
        JValue::from(
            chrono::Utc::now()
                .format("%Y-%m-%d %H:%M:%S%.6f+00:00")
                .to_string(),
        ),
    );
    env.add_function("local_md5", |s: String| -> String {
        hex::encode(<md5::Md5 as md5::Digest>::digest(s.as_bytes()))
    });
    env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
    env.set_formatter(|out, _state, value| {
        let text = match value.as_str() {
            Some(s) => s.to_string(),
            None => python_str(value, false),
        };
        out.write_str(&text)
            .map_err(|_| JError::new(ErrorKind::WriteFailure, "write failed"))
    });

    let returning = super::returns::returning_macros(
        std::iter::once(builtin).chain(project_macros.iter().map(|(_, source)| source.as_str())),
    );
    let mut combined = super::returns::rewrite(builtin, &returning);
    if !combined.ends_with('\n') {
        combined.push('\n');
    }
    let mut macro_files = Vec::new();
    let mut names = macro_names(builtin);
    for (path, source) in project_macros {
        let converted = super::returns::rewrite(&test_blocks_as_macros(source), &returning);
        let first_line = combined.lines().count() + 1;
        let lines = converted.lines().count().max(1);
        combined.push_str(&converted);
        if !combined.ends_with('\n') {
            combined.push('\n');
        }
        macro_files.push(MacroFile {
            path: path.clone(),
            first_line,
            lines,
        });
        for name in macro_names(source) {
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }
    env.add_template_owned(MACROS_TEMPLATE.to_string(), combined)
        .map_err(|e| macro_error(&e, &macro_files))?;
    let import_prefix = if names.is_empty() {
        String::new()
    } else {
        format!(
            "{{%- from \"{MACROS_TEMPLATE}\" import {} -%}}",
            names.join(", ")
        )
    };
    Ok(Templates {
        env,
        macro_files,
        macro_names: names,
        import_prefix,
        returning,
    })
}

fn macro_error(err: &JError, files: &[MacroFile]) -> String {
    let line = err.line().unwrap_or(0);
    let detail = err
        .detail()
        .map(str::to_string)
        .unwrap_or_else(|| err.kind().to_string());
    match files
        .iter()
        .find(|f| line >= f.first_line && line < f.first_line + f.lines)
    {
        Some(file) => format!(
            "{} line {}: {detail}",
            file.path,
            line - file.first_line + 1
        ),
        None => format!("built-in macros line {line}: {detail}"),
    }
}

/// A render failure: file and line when known.
#[derive(Debug, Clone)]
pub struct RenderError {
    pub file: String,
    pub line: Option<usize>,
    pub message: String,
}

impl Templates {
    /// Renders `source` (the node's code) under `scope`; `file` names it in errors.
    pub fn render(
        &self,
        file: &str,
        source: &str,
        line_offset: usize,
        scope: Scope,
    ) -> (Result<String, RenderError>, Rendered) {
        let (result, rendered) = self.render_named(file, source, scope);
        let result = result.map_err(|err| self.describe(file, line_offset, &err));
        (result, rendered)
    }

    /// Renders a short snippet (schema naming, descriptions, hooks) under `scope`.
    pub fn render_snippet(&self, source: &str, scope: Scope) -> (Result<String, String>, Rendered) {
        let (result, rendered) = self.render_named("<snippet>", source, scope);
        let result = result.map_err(|e| {
            e.detail()
                .map(str::to_string)
                .unwrap_or_else(|| e.to_string())
        });
        (result, rendered)
    }

    /// Both renders: the project's macros imported, `return()` calls rewritten, and
    /// values returned at the top level written out.
    fn render_named(
        &self,
        name: &str,
        source: &str,
        scope: Scope,
    ) -> (Result<String, JError>, Rendered) {
        let template_source = format!(
            "{}{}",
            self.import_prefix,
            super::returns::rewrite(source, &self.returning)
        );
        let node = NodeRef::new(scope);
        let result = self
            .env
            .template_from_named_str(name, &template_source)
            .and_then(|template| template.render_captured(node.context()))
            .map(|captured| {
                let returned = super::returns::kept(captured.state());
                super::returns::finish(captured.output(), returned, |v| python_str(v, false))
            });
        (result, node.into_rendered())
    }

    fn describe(&self, file: &str, line_offset: usize, err: &JError) -> RenderError {
        // The innermost error in a chain carries the real cause.
        let mut deepest: &dyn std::error::Error = err;
        let mut inner_detail = None;
        while let Some(source) = deepest.source() {
            if let Some(jinja) = source.downcast_ref::<JError>() {
                inner_detail = jinja.detail().map(str::to_string).or(inner_detail);
            }
            deepest = source;
        }
        let detail = err
            .detail()
            .map(str::to_string)
            .or(inner_detail)
            .unwrap_or_else(|| err.kind().to_string());
        if err.name() == Some(MACROS_TEMPLATE) {
            return RenderError {
                file: file.to_string(),
                line: None,
                message: format!(
                    "in macro ({}): {detail}",
                    macro_error(err, &self.macro_files)
                ),
            };
        }
        RenderError {
            file: file.to_string(),
            line: err.line().map(|l| l + line_offset),
            message: detail,
        }
    }
}

#[cfg(test)]
mod context_tests {
    use super::*;

    fn scope(schema: &str, is_incremental: bool) -> Scope {
        Scope {
            mode: Mode::Parse,
            resolver: Arc::new(Resolver::default()),
            target: Target {
                name: "dev".into(),
                schema: schema.into(),
                database: "db".into(),
                threads: 1,
                profile_name: "p".into(),
            },
            unique_id: "model.shop.orders".into(),
            name: "orders".into(),
            resource_type: "model".into(),
            this: None,
            is_incremental,
            config: Map::new(),
            connection: None,
        }
    }

    /// The context travels with the render, not the thread: a project macro sees the
    /// node it is called for, and two renders never see each other's node.
    #[test]
    fn macros_see_the_node_they_are_called_for() {
        let macros = "{% macro where_am_i() -%}\n{{ target.schema }}/{{ model.name }}/{{ is_incremental() }}{{ config(materialized='view') }}\n{%- endmacro %}";
        let templates = environment(macros, &[]).unwrap();
        let (first, rendered) =
            templates.render_snippet("{{ target.schema }}|{{ where_am_i() }}", scope("a", true));
        assert_eq!(first.unwrap(), "a|a/orders/True");
        assert_eq!(rendered.captured.config["materialized"], "view");
        let (second, _) = templates.render_snippet("{{ where_am_i() }}", scope("b", false));
        assert_eq!(second.unwrap(), "b/orders/False");
    }
}
