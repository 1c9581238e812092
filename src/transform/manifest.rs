//! Building the in-memory manifest: every node and source of the project, with its final
//! configuration, relation and dependencies (dbt's "parse" step).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use md5::{Digest, Md5};
use serde_json::{Map, Value, json};

use super::TransformError;
use super::config::{NodeConfig, as_string_list, from_project_tree};
use super::jinja::{self, Captured, Mode, Resolver, Scope, Target3, Templates};
use super::nodes::{ColumnInfo, Node, RefCall, ResourceType, SourceTable, TestMetadata};
use super::project::{DbtProject, ProjectFile};

pub const BUILTIN_MACROS: &str = include_str!("builtin_macros.sql");

/// Config keys of a generic test definition (everything else is an argument).
const TEST_CONFIG_KEYS: &[&str] = &[
    "severity",
    "tags",
    "enabled",
    "where",
    "limit",
    "warn_if",
    "error_if",
    "fail_calc",
    "store_failures",
    "store_failures_as",
    "meta",
    "database",
    "schema",
    "alias",
];

pub struct Manifest {
    pub project: DbtProject,
    pub templates: Templates,
    pub nodes: BTreeMap<String, Node>,
    pub sources: BTreeMap<String, SourceTable>,
    pub docs: BTreeMap<String, (String, String)>,
    pub vars: Map<String, Value>,
    /// Nodes switched off with `enabled: false`.
    pub disabled: Vec<String>,
    /// Nodes that cannot compile (a Jinja error, a ref to nothing): they fail alone,
    /// everything else still runs.
    pub broken: BTreeMap<String, TransformError>,
}

fn md5_hex(text: &str) -> String {
    hex::encode(Md5::digest(text.as_bytes()))
}

fn sha256_hex(text: &str) -> String {
    crate::util::sha256_hex(text)
}

fn columns_of(value: &Value) -> BTreeMap<String, ColumnInfo> {
    let mut columns = BTreeMap::new();
    for column in value.as_array().into_iter().flatten() {
        let Some(name) = column["name"].as_str() else {
            continue;
        };
        columns.insert(
            name.to_string(),
            ColumnInfo {
                name: name.to_string(),
                description: column["description"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                data_type: column["data_type"].as_str().map(str::to_string),
                meta: column.get("meta").cloned().unwrap_or(json!({})),
                tags: column.get("tags").map(as_string_list).unwrap_or_default(),
            },
        );
    }
    columns
}

/// A test written in a property file, before it becomes a node.
#[derive(Clone, Debug)]
struct TestSpec {
    test_name: String,
    namespace: Option<String>,
    args: Map<String, Value>,
    config: Map<String, Value>,
    column: Option<String>,
    /// The tested node: (unique id, name, relation expression in Jinja)
    target_id: String,
    target_name: String,
    target_expr: String,
    file: String,
}

/// A generic test as written in YAML: (name, macro namespace, arguments, config).
type TestDefinition = (
    String,
    Option<String>,
    Map<String, Value>,
    Map<String, Value>,
);

/// A generic test to build: (YAML definition, column, (tested kind, tested name), file).
type TestDeclaration = (Value, Option<String>, (ResourceType, String), String);

/// The tests declared on a YAML entry (`data_tests`, or the older `tests`) and on its
/// columns, for the node or source table `target`.
fn declared_tests(
    entry: &Value,
    target: (ResourceType, String),
    file: &str,
    out: &mut Vec<TestDeclaration>,
) {
    let tests_of = |value: &Value| {
        value
            .get("data_tests")
            .or(value.get("tests"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    for test in tests_of(entry) {
        out.push((test, None, target.clone(), file.to_string()));
    }
    for column in entry["columns"].as_array().into_iter().flatten() {
        let Some(column_name) = column["name"].as_str() else {
            continue;
        };
        for test in tests_of(column) {
            out.push((
                test,
                Some(column_name.to_string()),
                target.clone(),
                file.to_string(),
            ));
        }
    }
}

fn parse_test(definition: &Value) -> Option<TestDefinition> {
    let (name, body) = match definition {
        Value::String(name) => (name.clone(), Map::new()),
        Value::Object(map) if map.len() == 1 => {
            let (name, body) = map.iter().next()?;
            (name.clone(), body.as_object().cloned().unwrap_or_default())
        }
        Value::Object(map) => {
            // `{test_name: x, ...}` long form
            let name = map.get("test_name").and_then(Value::as_str)?.to_string();
            let mut body = map.clone();
            body.remove("test_name");
            (name, body)
        }
        _ => return None,
    };
    let (namespace, name) = match name.split_once('.') {
        Some((ns, n)) => (Some(ns.to_string()), n.to_string()),
        None => (None, name),
    };
    let mut args = Map::new();
    let mut config = Map::new();
    for (key, value) in body {
        match key.as_str() {
            "config" => {
                if let Some(map) = value.as_object() {
                    config.extend(map.clone());
                }
            }
            "arguments" => {
                if let Some(map) = value.as_object() {
                    args.extend(map.clone());
                }
            }
            "name" | "description" => {}
            k if TEST_CONFIG_KEYS.contains(&k) => {
                config.insert(key, value);
            }
            _ => {
                args.insert(key, value);
            }
        }
    }
    Some((name, namespace, args, config))
}

/// dbt's generic test name: `<test>_<target>_<args…>`, hashed when 64+ characters.
pub fn generic_test_name(
    test_name: &str,
    target_name: &str,
    args: &Map<String, Value>,
) -> (String, String) {
    let mut flat: Vec<String> = Vec::new();
    let mut keys: Vec<&String> = args.keys().filter(|k| k.as_str() != "model").collect();
    keys.sort();
    for key in keys {
        let value = &args[key];
        let parts: Vec<Value> = match value {
            Value::Object(map) => map.values().cloned().collect(),
            Value::Array(items) => items.clone(),
            other => vec![other.clone()],
        };
        for part in parts {
            flat.push(match part {
                Value::String(s) => s,
                Value::Bool(b) => {
                    if b {
                        "True".into()
                    } else {
                        "False".into()
                    }
                }
                Value::Null => "None".into(),
                other => other.to_string(),
            });
        }
    }
    let clean: Vec<String> = flat
        .iter()
        .map(|arg| {
            let mut out = String::new();
            let mut in_run = false;
            for c in arg.chars() {
                if c.is_ascii_alphanumeric() || c == '_' {
                    out.push(c);
                    in_run = false;
                } else if !in_run {
                    out.push('_');
                    in_run = true;
                }
            }
            out
        })
        .collect();
    let unique = clean.join("__");
    let identifier = format!("{test_name}_{target_name}");
    let full = format!("{identifier}_{unique}");
    let short = if full.len() >= 64 {
        let prefix: String = identifier.chars().take(30).collect();
        format!("{prefix}_{}", md5_hex(&full))
    } else {
        full.clone()
    };
    (short, full)
}

/// The 1-based line where `needle` first appears in `code`.
pub fn line_of(code: &str, needle: &str) -> Option<usize> {
    code.lines()
        .position(|line| line.contains(needle))
        .map(|i| i + 1)
}

/// `repr()` of dbt's hashable form of test metadata: dict keys sorted, leaves `str()`ed.
pub fn python_hashable_repr(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys
                .into_iter()
                .map(|k| {
                    format!(
                        "{}: {}",
                        jinja::python_repr_str(k),
                        python_hashable_repr(&map[k])
                    )
                })
                .collect();
            format!("{{{}}}", parts.join(", "))
        }
        Value::Array(items) => format!(
            "[{}]",
            items
                .iter()
                .map(python_hashable_repr)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Value::String(s) => jinja::python_repr_str(s),
        Value::Null => jinja::python_repr_str("None"),
        Value::Bool(b) => jinja::python_repr_str(if *b { "True" } else { "False" }),
        Value::Number(n) => jinja::python_repr_str(&n.to_string()),
    }
}

/// Renders a value as a Jinja literal; `ref(...)` / `source(...)` strings stay expressions.
fn jinja_literal(value: &Value) -> String {
    match value {
        Value::String(s) => {
            let trimmed = s.trim();
            let is_call = (trimmed.starts_with("ref(") || trimmed.starts_with("source("))
                && trimmed.ends_with(')');
            if is_call {
                trimmed.to_string()
            } else if let Some(inner) = trimmed
                .strip_prefix("{{")
                .and_then(|t| t.strip_suffix("}}"))
            {
                inner.trim().to_string()
            } else {
                serde_json::to_string(s).unwrap_or_default()
            }
        }
        Value::Null => "none".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Array(items) => format!(
            "[{}]",
            items
                .iter()
                .map(jinja_literal)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Value::Object(map) => format!(
            "{{{}}}",
            map.iter()
                .map(|(k, v)| format!(
                    "{}: {}",
                    serde_json::to_string(k).unwrap_or_default(),
                    jinja_literal(v)
                ))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Splits a file into `{% snapshot name %}…{% endsnapshot %}` blocks: (name, body, line of body).
fn snapshot_blocks(source: &str) -> Vec<(String, String, usize)> {
    let mut blocks = Vec::new();
    let mut offset = 0;
    while let Some(start) = source[offset..].find("{%") {
        let start = offset + start;
        let Some(close) = source[start..].find("%}") else {
            break;
        };
        let tag = source[start + 2..start + close].trim_matches(['-', '+', ' ', '\n', '\t']);
        offset = start + close + 2;
        if let Some(name) = tag.strip_prefix("snapshot ") {
            let body_start = offset;
            let Some(end) = source[body_start..].find("endsnapshot") else {
                break;
            };
            // back up to the `{%` of the end tag
            let end_tag = source[..body_start + end]
                .rfind("{%")
                .unwrap_or(body_start + end);
            let body = source[body_start..end_tag].to_string();
            let line = source[..body_start].matches('\n').count();
            blocks.push((name.trim().to_string(), body, line));
            offset = body_start + end;
        }
    }
    blocks
}

impl Manifest {
    /// Reads and parses the project. `database` is the warehouse's catalog name;
    /// `cli_vars` override the project's `vars`.
    pub fn load(
        root: &std::path::Path,
        database: &str,
        cli_vars: &Map<String, Value>,
    ) -> Result<Manifest, TransformError> {
        let project = DbtProject::load(root, database)?;
        let mut macro_sources = Vec::new();
        for file in project.files(&project.macro_paths, &["sql"])? {
            macro_sources.push((file.original_file_path.clone(), file.contents.clone()));
        }
        // Generic test definitions may also live in tests/generic.
        for file in project.files(&project.test_paths, &["sql"])? {
            if file.path.starts_with("generic/") {
                macro_sources.push((file.original_file_path.clone(), file.contents.clone()));
            }
        }
        let templates = jinja::environment(BUILTIN_MACROS, &macro_sources).map_err(|message| {
            TransformError::Compilation {
                node: "macros".into(),
                file: "macros".into(),
                line: None,
                message,
            }
        })?;
        let docs = super::project::doc_blocks(&project)?;
        let mut vars = project.vars.clone();
        // project vars may be scoped by package name
        if let Some(scoped) = vars.get(&project.name).and_then(Value::as_object).cloned() {
            vars.extend(scoped);
        }
        vars.extend(cli_vars.clone());
        let mut manifest = Manifest {
            project,
            templates,
            nodes: BTreeMap::new(),
            sources: BTreeMap::new(),
            docs,
            vars,
            disabled: Vec::new(),
            broken: BTreeMap::new(),
        };
        manifest.discover()?;
        Ok(manifest)
    }

    fn discover(&mut self) -> Result<(), TransformError> {
        let project_name = self.project.name.clone();
        let properties = self.project.property_files()?;
        // name → patch (description, columns, config, tests)
        let mut patches: HashMap<(ResourceType, String), (Value, String)> = HashMap::new();
        let mut test_specs: Vec<TestDeclaration> = Vec::new();

        for (file, yaml) in &properties {
            for (key, kind) in [
                ("models", ResourceType::Model),
                ("seeds", ResourceType::Seed),
                ("snapshots", ResourceType::Snapshot),
                ("analyses", ResourceType::Analysis),
            ] {
                for entry in yaml[key].as_array().into_iter().flatten() {
                    let Some(name) = entry["name"].as_str() else {
                        continue;
                    };
                    patches.insert(
                        (kind, name.to_string()),
                        (entry.clone(), file.original_file_path.clone()),
                    );
                    declared_tests(
                        entry,
                        (kind, name.to_string()),
                        &file.original_file_path,
                        &mut test_specs,
                    );
                }
            }
            for source in yaml["sources"].as_array().into_iter().flatten() {
                self.add_source(source, file, &project_name, &mut test_specs);
            }
        }

        // Models
        let model_files = self.project.files(&self.project.model_paths, &["sql"])?;
        for file in model_files {
            self.add_node(
                ResourceType::Model,
                &file,
                &file.contents,
                0,
                None,
                &patches,
            )?;
        }
        // Analyses are compiled only; keep them out of builds.
        // Seeds
        for file in self.project.files(&self.project.seed_paths, &["csv"])? {
            self.add_node(ResourceType::Seed, &file, "", 0, None, &patches)?;
        }
        // Snapshots
        for file in self.project.files(&self.project.snapshot_paths, &["sql"])? {
            for (name, body, line) in snapshot_blocks(&file.contents) {
                self.add_node(
                    ResourceType::Snapshot,
                    &file,
                    &body,
                    line,
                    Some(name),
                    &patches,
                )?;
            }
        }
        // Singular tests
        for file in self.project.files(&self.project.test_paths, &["sql"])? {
            if file.path.starts_with("generic/") {
                continue;
            }
            self.add_node(ResourceType::Test, &file, &file.contents, 0, None, &patches)?;
        }

        self.parse_nodes()?;
        self.add_generic_tests(test_specs)?;
        self.parse_tests()?;
        self.resolve_dependencies()?;
        Ok(())
    }

    fn add_source(
        &mut self,
        source: &Value,
        file: &ProjectFile,
        project_name: &str,
        test_specs: &mut Vec<TestDeclaration>,
    ) {
        let Some(source_name) = source["name"].as_str() else {
            return;
        };
        let schema = source["schema"].as_str().unwrap_or(source_name).to_string();
        let database = source["database"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| self.project.target.database.clone());
        for table in source["tables"].as_array().into_iter().flatten() {
            let Some(name) = table["name"].as_str() else {
                continue;
            };
            let unique_id = format!("source.{project_name}.{source_name}.{name}");
            let identifier = table["identifier"].as_str().unwrap_or(name).to_string();
            declared_tests(
                table,
                (ResourceType::Analysis, unique_id.clone()),
                &file.original_file_path,
                test_specs,
            );
            self.sources.insert(
                unique_id.clone(),
                SourceTable {
                    unique_id,
                    source_name: source_name.to_string(),
                    name: name.to_string(),
                    identifier,
                    database: database.clone(),
                    schema: schema.clone(),
                    description: table["description"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    source_description: source["description"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    columns: columns_of(&table["columns"]),
                    loaded_at_field: table["loaded_at_field"]
                        .as_str()
                        .or(source["loaded_at_field"].as_str())
                        .map(str::to_string),
                    original_file_path: file.original_file_path.clone(),
                    path: file.original_file_path.clone(),
                    fqn: {
                        let mut fqn = vec![project_name.to_string()];
                        fqn.extend(
                            file.path
                                .split('/')
                                .rev()
                                .skip(1)
                                .collect::<Vec<_>>()
                                .into_iter()
                                .rev()
                                .map(str::to_string),
                        );
                        fqn.push(source_name.to_string());
                        fqn.push(name.to_string());
                        fqn
                    },
                    meta: table.get("meta").cloned().unwrap_or(json!({})),
                    tags: table.get("tags").map(as_string_list).unwrap_or_default(),
                    package_name: project_name.to_string(),
                },
            );
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn add_node(
        &mut self,
        kind: ResourceType,
        file: &ProjectFile,
        code: &str,
        line_offset: usize,
        block_name: Option<String>,
        patches: &HashMap<(ResourceType, String), (Value, String)>,
    ) -> Result<(), TransformError> {
        let project_name = self.project.name.clone();
        let stem = file
            .path
            .rsplit('/')
            .next()
            .unwrap_or(&file.path)
            .rsplit_once('.')
            .map(|(s, _)| s.to_string())
            .unwrap_or_else(|| file.path.clone());
        let name = block_name.unwrap_or(stem);
        let unique_id = format!("{}.{project_name}.{name}", kind.as_str());
        if let Some(existing) = self.nodes.get(&unique_id) {
            return Err(TransformError::Parse(format!(
                "dbt found two {}s with the name \"{name}\": {} and {}",
                kind.as_str(),
                existing.original_file_path,
                file.original_file_path
            )));
        }
        let mut fqn = vec![project_name.clone()];
        let dirs: Vec<&str> = file.path.split('/').collect();
        fqn.extend(
            dirs[..dirs.len().saturating_sub(1)]
                .iter()
                .map(|s| s.to_string()),
        );
        fqn.push(name.clone());
        let tree = match kind {
            ResourceType::Model | ResourceType::Analysis => &self.project.models,
            ResourceType::Seed => &self.project.seeds,
            ResourceType::Snapshot => &self.project.snapshots,
            ResourceType::Test => &self.project.tests,
        };
        let mut config = NodeConfig::default();
        config.apply(&from_project_tree(tree, &fqn));
        let patch = patches.get(&(kind, name.clone()));
        let (description, columns, patch_path) = match patch {
            Some((entry, path)) => {
                if let Some(patch_config) = entry["config"].as_object() {
                    config.apply(patch_config);
                }
                (
                    entry["description"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    columns_of(&entry["columns"]),
                    Some(path.clone()),
                )
            }
            None => (String::new(), BTreeMap::new(), None),
        };
        let code = code.trim();
        let checksum = match kind {
            ResourceType::Seed => sha256_hex(
                std::fs::read_to_string(&file.absolute)
                    .unwrap_or_default()
                    .trim(),
            ),
            _ => sha256_hex(code),
        };
        self.nodes.insert(
            unique_id.clone(),
            Node {
                unique_id,
                resource_type: kind,
                name: name.clone(),
                package_name: project_name,
                path: file.path.clone(),
                original_file_path: file.original_file_path.clone(),
                fqn,
                raw_code: code.to_string(),
                language: "sql".into(),
                config,
                refs: vec![],
                sources: vec![],
                depends_on: vec![],
                macros: vec![],
                description,
                columns,
                patch_path,
                database: self.project.target.database.clone(),
                schema: self.project.target.schema.clone(),
                alias: name,
                checksum,
                test_metadata: None,
                column_name: None,
                attached_node: None,
                snapshot_body: (kind == ResourceType::Snapshot).then(|| code.to_string()),
                line_offset,
            },
        );
        Ok(())
    }

    /// A resolver for parse mode: every name exists, relations are placeholders.
    fn parse_resolver(&self) -> Arc<Resolver> {
        let mut resolver = Resolver {
            project_name: self.project.name.clone(),
            vars: self.vars.clone(),
            docs: self
                .docs
                .iter()
                .map(|(k, (v, _))| (k.clone(), v.clone()))
                .collect(),
            ..Default::default()
        };
        for node in self
            .nodes
            .values()
            .filter(|n| n.resource_type != ResourceType::Test)
        {
            resolver
                .nodes
                .insert(node.name.clone(), self.target_of(node));
        }
        for source in self.sources.values() {
            resolver.sources.insert(
                (source.source_name.clone(), source.name.clone()),
                Target3 {
                    unique_id: source.unique_id.clone(),
                    database: source.database.clone(),
                    schema: source.schema.clone(),
                    identifier: source.identifier.clone(),
                    ephemeral: false,
                },
            );
        }
        Arc::new(resolver)
    }

    pub fn target_of(&self, node: &Node) -> Target3 {
        Target3 {
            unique_id: node.unique_id.clone(),
            database: node.database.clone(),
            schema: node.schema.clone(),
            identifier: node.alias.clone(),
            ephemeral: node.is_ephemeral(),
        }
    }

    /// The resolver for compiling: final relations of every node and source.
    pub fn resolver(&self) -> Arc<Resolver> {
        self.parse_resolver()
    }

    pub fn scope(&self, node: &Node, mode: Mode, resolver: Arc<Resolver>) -> Scope {
        Scope {
            mode,
            resolver,
            target: self.project.target.clone(),
            unique_id: node.unique_id.clone(),
            name: node.name.clone(),
            resource_type: node.resource_type.as_str().into(),
            this: Some(self.target_of(node)),
            is_incremental: false,
            config: node.config.values.clone(),
            connection: None,
        }
    }

    /// Renders every model, snapshot and singular test once to learn its `config()`
    /// and dependencies; then settles enablement, schema and alias.
    fn parse_nodes(&mut self) -> Result<(), TransformError> {
        let resolver = self.parse_resolver();
        let ids: Vec<String> = self.nodes.keys().cloned().collect();
        for id in ids {
            let node = &self.nodes[&id];
            if node.resource_type == ResourceType::Seed {
                continue;
            }
            let line_offset = node.line_offset;
            let captured = self.parse_render(&id, &resolver, line_offset);
            let node = self
                .nodes
                .get_mut(&id)
                .ok_or_else(|| TransformError::Parse(format!("node {id} vanished")))?;
            node.config.apply(&captured.config);
            node.refs = captured.refs;
            node.sources = captured.sources;
        }
        self.settle_nodes()
    }

    /// Drops disabled nodes and computes schema and alias with the project's macros.
    fn settle_nodes(&mut self) -> Result<(), TransformError> {
        let disabled: Vec<String> = self
            .nodes
            .values()
            .filter(|n| !n.config.enabled())
            .map(|n| n.unique_id.clone())
            .collect();
        for id in &disabled {
            self.nodes.remove(id);
        }
        self.disabled.extend(disabled);
        let resolver = self.parse_resolver();
        let ids: Vec<String> = self.nodes.keys().cloned().collect();
        for id in ids {
            let node = &self.nodes[&id];
            let verbatim_schema = match node.resource_type {
                ResourceType::Snapshot => node.config.str("target_schema"),
                _ => None,
            };
            let (custom_schema, custom_alias) =
                (node.config.str("schema"), node.config.str("alias"));
            let snippet = |custom: &Option<String>, macro_name: &str| {
                let argument = match custom {
                    Some(value) => serde_json::to_string(value).unwrap_or_default(),
                    None => "none".into(),
                };
                format!("{{{{ {macro_name}({argument}, model) }}}}")
            };
            let schema_source = snippet(&custom_schema, "generate_schema_name");
            let alias_source = snippet(&custom_alias, "generate_alias_name");
            let mut results = Vec::new();
            for source in [schema_source, alias_source] {
                let scope = self.scope(node, Mode::Parse, resolver.clone());
                let (result, _) = self.templates.render_snippet(&source, scope);
                results.push(result.map(|s| s.trim().to_string()).map_err(|message| {
                    TransformError::Compilation {
                        node: id.clone(),
                        file: node.original_file_path.clone(),
                        line: None,
                        message: format!("naming the relation: {message}"),
                    }
                })?);
            }
            let database = node
                .config
                .str("target_database")
                .or(node.config.str("database"));
            let node = self
                .nodes
                .get_mut(&id)
                .ok_or_else(|| TransformError::Parse(format!("node {id} vanished")))?;
            node.schema = verbatim_schema.unwrap_or_else(|| results[0].clone());
            node.alias = results[1].clone();
            if let Some(database) = database {
                node.database = database;
            }
        }
        Ok(())
    }

    fn add_generic_tests(&mut self, specs: Vec<TestDeclaration>) -> Result<(), TransformError> {
        let project_name = self.project.name.clone();
        for (definition, column, (kind, target), file) in specs {
            let Some((test_name, namespace, mut args, config)) = parse_test(&definition) else {
                return Err(TransformError::Parse(format!(
                    "{file}: cannot read test definition {definition}"
                )));
            };
            // the tested node and how the test refers to it
            let (target_id, target_name, target_expr) = if kind == ResourceType::Analysis {
                let Some(source) = self.sources.get(&target) else {
                    continue;
                };
                (
                    source.unique_id.clone(),
                    format!("{}_{}", source.source_name, source.name),
                    format!("source('{}', '{}')", source.source_name, source.name),
                )
            } else {
                let id = format!("{}.{project_name}.{target}", kind.as_str());
                if !self.nodes.contains_key(&id) {
                    continue; // disabled or unknown: dbt skips its tests too
                }
                (id, target.clone(), format!("ref('{target}')"))
            };
            if let Some(column) = &column {
                args.insert("column_name".into(), Value::String(column.clone()));
            }
            let spec = TestSpec {
                test_name,
                namespace,
                args,
                config,
                column,
                target_id,
                target_name,
                target_expr,
                file,
            };
            self.add_test_node(spec)?;
        }
        Ok(())
    }

    fn add_test_node(&mut self, spec: TestSpec) -> Result<(), TransformError> {
        let project_name = self.project.name.clone();
        let macro_name = format!("test_{}", spec.test_name);
        if !self.templates.macro_names.contains(&macro_name) {
            return Err(TransformError::Compilation {
                node: format!("test {}", spec.test_name),
                file: spec.file.clone(),
                line: None,
                message: format!(
                    "'{}' is not a generic test this project knows (no macro test_{})",
                    spec.test_name, spec.test_name
                ),
            });
        }
        let test_type = match (&spec.namespace, spec.target_id.starts_with("source.")) {
            (Some(ns), true) => format!("source_{ns}_{}", spec.test_name),
            (Some(ns), false) => format!("{ns}_{}", spec.test_name),
            (None, true) => format!("source_{}", spec.test_name),
            (None, false) => spec.test_name.clone(),
        };
        let (_file_name, name) = generic_test_name(&test_type, &spec.target_name, &spec.args);
        let mut kwargs = spec.args.clone();
        kwargs.insert(
            "model".into(),
            Value::String(format!(
                "{{{{ get_where_subquery({}) }}}}",
                spec.target_expr
            )),
        );
        let metadata =
            json!({"name": spec.test_name, "kwargs": kwargs, "namespace": spec.namespace});
        let hash = md5_hex(&format!("{name}{}", python_hashable_repr(&metadata)));
        let unique_id = format!("test.{project_name}.{name}.{}", &hash[hash.len() - 10..]);
        let mut call_args: Vec<String> =
            vec!["model=get_where_subquery(".to_string() + &spec.target_expr + ")"];
        let mut kwarg_keys: Vec<&String> = spec.args.keys().collect();
        kwarg_keys.sort();
        for key in kwarg_keys {
            call_args.push(format!("{key}={}", jinja_literal(&spec.args[key])));
        }
        let raw_code = format!("{{{{ {macro_name}({}) }}}}", call_args.join(", "));
        let mut fqn = vec![project_name.clone()];
        fqn.extend(
            spec.file
                .split('/')
                .skip(1)
                .collect::<Vec<_>>()
                .split_last()
                .map(|(_, dirs)| dirs.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .unwrap_or_default(),
        );
        fqn.push(name.clone());
        let mut config = NodeConfig::default();
        config.apply(&from_project_tree(&self.project.tests, &fqn));
        config.apply(&spec.config);
        if !config.enabled() {
            return Ok(());
        }
        self.nodes.insert(
            unique_id.clone(),
            Node {
                unique_id,
                resource_type: ResourceType::Test,
                name: name.clone(),
                package_name: project_name,
                path: format!("{name}.sql"),
                original_file_path: spec.file.clone(),
                fqn,
                raw_code,
                language: "sql".into(),
                config,
                refs: vec![],
                sources: vec![],
                depends_on: vec![],
                macros: vec![format!("macro.dbt.{macro_name}")],
                description: String::new(),
                columns: BTreeMap::new(),
                patch_path: None,
                database: self.project.target.database.clone(),
                schema: format!("{}_dbt_test__audit", self.project.target.schema),
                alias: name,
                checksum: String::new(),
                test_metadata: Some(TestMetadata {
                    name: spec.test_name,
                    namespace: spec.namespace,
                    kwargs,
                }),
                column_name: spec.column,
                attached_node: Some(spec.target_id),
                snapshot_body: None,
                line_offset: 0,
            },
        );
        Ok(())
    }

    /// Renders node `id` in parse mode and returns what it captured (config, refs,
    /// sources); a render error marks the node broken.
    fn parse_render(&mut self, id: &str, resolver: &Arc<Resolver>, line_offset: usize) -> Captured {
        let node = &self.nodes[id];
        let label = format!("{} {}", node.resource_type.as_str(), node.name);
        let scope = self.scope(node, Mode::Parse, resolver.clone());
        let (result, rendered) =
            self.templates
                .render(&node.original_file_path, &node.raw_code, line_offset, scope);
        if let Err(err) = result {
            self.broken.insert(
                id.to_string(),
                TransformError::Compilation {
                    node: label,
                    file: err.file,
                    line: err.line,
                    message: err.message,
                },
            );
        }
        rendered.captured
    }

    /// Generic tests only reference nodes through their kwargs; render them to find out.
    fn parse_tests(&mut self) -> Result<(), TransformError> {
        let resolver = self.parse_resolver();
        let ids: Vec<String> = self
            .nodes
            .values()
            .filter(|n| n.resource_type == ResourceType::Test && n.test_metadata.is_some())
            .map(|n| n.unique_id.clone())
            .collect();
        for id in ids {
            let captured = self.parse_render(&id, &resolver, 0);
            if let Some(node) = self.nodes.get_mut(&id) {
                node.refs = captured.refs;
                node.sources = captured.sources;
            }
        }
        Ok(())
    }

    /// Turns refs and sources into `depends_on` unique ids.
    fn resolve_dependencies(&mut self) -> Result<(), TransformError> {
        let by_name: HashMap<String, String> = self
            .nodes
            .values()
            .filter(|n| n.resource_type != ResourceType::Test)
            .map(|n| (n.name.clone(), n.unique_id.clone()))
            .collect();
        let sources: HashMap<(String, String), String> = self
            .sources
            .values()
            .map(|s| ((s.source_name.clone(), s.name.clone()), s.unique_id.clone()))
            .collect();
        let broken = &mut self.broken;
        for node in self.nodes.values_mut() {
            let mut depends: Vec<String> = Vec::new();
            for RefCall { name, .. } in &node.refs {
                match by_name.get(name) {
                    Some(id) if !depends.contains(id) => depends.push(id.clone()),
                    Some(_) => {}
                    None => {
                        let line = line_of(&node.raw_code, &format!("ref('{name}'"))
                            .or_else(|| line_of(&node.raw_code, &format!("ref(\"{name}\"")))
                            .map(|l| l + node.line_offset);
                        broken.entry(node.unique_id.clone()).or_insert_with(|| TransformError::Compilation {
                            node: format!("{} {}", node.resource_type.as_str(), node.name),
                            file: node.original_file_path.clone(),
                            line,
                            message: format!("depends on a node named '{name}' which was not found (or is disabled)"),
                        });
                    }
                }
            }
            for key in &node.sources {
                if let Some(id) = sources.get(key)
                    && !depends.contains(id)
                {
                    depends.push(id.clone());
                }
            }
            depends.sort();
            node.depends_on = depends;
        }
        Ok(())
    }

    pub fn node_by_name(&self, name: &str) -> Option<&Node> {
        self.nodes
            .values()
            .find(|n| n.name == name && n.resource_type != ResourceType::Test)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_names_follow_dbt() {
        let args = |v: Value| v.as_object().unwrap().clone();
        assert_eq!(
            generic_test_name("not_null", "orders", &args(json!({"column_name": "id"}))).0,
            "not_null_orders_id"
        );
        assert_eq!(
            generic_test_name(
                "accepted_values",
                "orders",
                &args(json!({"column_name": "status", "values": ["a", "b"]}))
            )
            .0,
            "accepted_values_orders_status__a__b"
        );
        assert_eq!(
            generic_test_name(
                "relationships",
                "orders",
                &args(
                    json!({"column_name": "customer_id", "to": "ref('customers')", "field": "id"})
                )
            )
            .0,
            "relationships_orders_customer_id__id__ref_customers_"
        );
        let long = generic_test_name(
            "accepted_values",
            "orders",
            &args(
                json!({"column_name": "status", "values": ["placed", "shipped", "completed", "return_pending", "returned"]}),
            ),
        );
        assert!(
            long.0.starts_with("accepted_values_orders_")
                && long.0.len() == "accepted_values_orders".len() + 33,
            "{}",
            long.0
        );
    }

    #[test]
    fn test_ids_hash_like_dbt() {
        // from a real dbt-core 1.11 manifest (tests/conformance/reference-artifacts)
        let cases = [
            (
                "unique_stg_orders_order_id",
                json!({"name": "unique", "kwargs": {"column_name": "order_id", "model": "{{ get_where_subquery(ref('stg_orders')) }}"}, "namespace": null}),
                "e3b841c71a",
            ),
            (
                "accepted_values_stg_orders_status__placed__shipped__returned",
                json!({"name": "accepted_values", "kwargs": {"column_name": "status", "values": ["placed", "shipped", "returned"], "model": "{{ get_where_subquery(ref('stg_orders')) }}"}, "namespace": null}),
                "b52273e597",
            ),
            (
                "relationships_customer_totals_country_code__code__ref_countries_",
                json!({"name": "relationships", "kwargs": {"column_name": "country_code", "to": "ref('countries')", "field": "code", "model": "{{ get_where_subquery(ref('customer_totals')) }}"}, "namespace": null}),
                "966221bf79",
            ),
        ];
        for (name, metadata, expected) in cases {
            let hash = md5_hex(&format!("{name}{}", python_hashable_repr(&metadata)));
            assert_eq!(&hash[hash.len() - 10..], expected, "{name}");
        }
    }

    #[test]
    fn snapshot_blocks_are_found() {
        let blocks = snapshot_blocks(
            "-- x\n{% snapshot orders_snap %}\n{{ config(strategy='check') }}\nselect 1\n{% endsnapshot %}\n",
        );
        assert_eq!(blocks.len(), 1);
        assert_eq!(blocks[0].0, "orders_snap");
        assert!(blocks[0].1.contains("select 1"));
        assert_eq!(blocks[0].2, 1);
    }

    #[test]
    fn literals() {
        assert_eq!(
            jinja_literal(&json!("ref('customers')")),
            "ref('customers')"
        );
        assert_eq!(
            jinja_literal(&json!(["a", 1, null, true])),
            "[\"a\", 1, none, true]"
        );
    }
}
