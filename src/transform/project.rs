//! Reading a dbt project: `dbt_project.yml`, optional `profiles.yml`, and the files under
//! the model, seed, snapshot, test, macro and docs paths.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::TransformError;
use super::config::yaml_to_json;

#[derive(Clone, Debug)]
pub struct Target {
    pub name: String,
    pub schema: String,
    pub database: String,
    pub threads: usize,
    pub profile_name: String,
}

#[derive(Clone, Debug)]
pub struct DbtProject {
    pub root: PathBuf,
    pub name: String,
    pub version: String,
    pub profile: String,
    pub model_paths: Vec<String>,
    pub seed_paths: Vec<String>,
    pub snapshot_paths: Vec<String>,
    pub test_paths: Vec<String>,
    pub macro_paths: Vec<String>,
    pub analysis_paths: Vec<String>,
    pub docs_paths: Vec<String>,
    pub target_path: String,
    pub vars: Map<String, Value>,
    pub models: Value,
    pub seeds: Value,
    pub snapshots: Value,
    pub tests: Value,
    pub sources: Value,
    pub on_run_start: Vec<String>,
    pub on_run_end: Vec<String>,
    pub target: Target,
}

/// A file of the project, with its path relative to the project root.
#[derive(Clone, Debug)]
pub struct ProjectFile {
    /// e.g. `models/staging/stg_orders.sql`
    pub original_file_path: String,
    /// relative to the resource directory, e.g. `staging/stg_orders.sql`
    pub path: String,
    pub absolute: PathBuf,
    pub contents: String,
}

fn string_list(value: Option<&Value>, default: &[&str]) -> Vec<String> {
    match value {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        Some(Value::String(s)) => vec![s.clone()],
        _ => default.iter().map(|s| s.to_string()).collect(),
    }
}

fn hooks(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        _ => vec![],
    }
}

/// `target-path` of `dbt_project.yml` (dbt's default `target`).
fn target_path(yaml: &Value) -> String {
    yaml["target-path"].as_str().unwrap_or("target").to_string()
}

/// Where the dbt project at `root` keeps its artifacts (`manifest.json`,
/// `run_results.json`, `catalog.json`), for readers that need no more of the project.
pub fn artifacts_dir(root: &Path) -> PathBuf {
    let yaml = read_yaml(&root.join("dbt_project.yml")).unwrap_or(Value::Null);
    root.join(target_path(&yaml))
}

fn read_yaml(path: &Path) -> Result<Value, TransformError> {
    let text = std::fs::read_to_string(path).map_err(|e| TransformError::io(path, e))?;
    parse_yaml(&text, &path.display().to_string())
}

pub fn parse_yaml(text: &str, label: &str) -> Result<Value, TransformError> {
    if text.trim().is_empty() {
        return Ok(Value::Null);
    }
    let yaml: serde_norway::Value = serde_norway::from_str(text)
        .map_err(|e| TransformError::Parse(format!("{label}: invalid YAML: {e}")))?;
    Ok(yaml_to_json(&yaml))
}

impl DbtProject {
    /// Loads `dbt/dbt_project.yml`. `database` is the warehouse's catalog name.
    pub fn load(root: &Path, database: &str) -> Result<Self, TransformError> {
        let file = root.join("dbt_project.yml");
        if !file.is_file() {
            return Err(TransformError::Parse(format!(
                "no dbt project: {} is missing",
                file.display()
            )));
        }
        let yaml = read_yaml(&file)?;
        let name = yaml["name"]
            .as_str()
            .ok_or_else(|| TransformError::Parse("dbt_project.yml: `name` is required".into()))?
            .to_string();
        let profile = yaml["profile"].as_str().unwrap_or(&name).to_string();
        let target = load_target(root, &profile, database);
        Ok(Self {
            root: root.to_path_buf(),
            version: yaml["version"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| "1.0.0".into()),
            model_paths: string_list(
                yaml.get("model-paths").or(yaml.get("source-paths")),
                &["models"],
            ),
            seed_paths: string_list(
                yaml.get("seed-paths").or(yaml.get("data-paths")),
                &["seeds"],
            ),
            snapshot_paths: string_list(yaml.get("snapshot-paths"), &["snapshots"]),
            test_paths: string_list(yaml.get("test-paths"), &["tests"]),
            macro_paths: string_list(yaml.get("macro-paths"), &["macros"]),
            analysis_paths: string_list(yaml.get("analysis-paths"), &["analyses"]),
            docs_paths: string_list(yaml.get("docs-paths"), &[]),
            target_path: target_path(&yaml),
            vars: yaml["vars"].as_object().cloned().unwrap_or_default(),
            models: yaml.get("models").cloned().unwrap_or(Value::Null),
            seeds: yaml.get("seeds").cloned().unwrap_or(Value::Null),
            snapshots: yaml.get("snapshots").cloned().unwrap_or(Value::Null),
            tests: yaml
                .get("data_tests")
                .or(yaml.get("tests"))
                .cloned()
                .unwrap_or(Value::Null),
            sources: yaml.get("sources").cloned().unwrap_or(Value::Null),
            on_run_start: hooks(yaml.get("on-run-start")),
            on_run_end: hooks(yaml.get("on-run-end")),
            profile,
            name,
            target,
        })
    }

    pub fn target_dir(&self) -> PathBuf {
        self.root.join(&self.target_path)
    }

    /// Files with one of `extensions` under each of `dirs`, sorted by path.
    pub fn files(
        &self,
        dirs: &[String],
        extensions: &[&str],
    ) -> Result<Vec<ProjectFile>, TransformError> {
        let mut files = Vec::new();
        for dir in dirs {
            let base = self.root.join(dir);
            if !base.is_dir() {
                continue;
            }
            let mut stack = vec![base.clone()];
            while let Some(current) = stack.pop() {
                let entries =
                    std::fs::read_dir(&current).map_err(|e| TransformError::io(&current, e))?;
                for entry in entries.flatten() {
                    let path = entry.path();
                    let name = entry.file_name().to_string_lossy().into_owned();
                    if name.starts_with('.') {
                        continue;
                    }
                    if path.is_dir() {
                        stack.push(path);
                        continue;
                    }
                    let ext = path
                        .extension()
                        .map(|e| e.to_string_lossy().to_ascii_lowercase())
                        .unwrap_or_default();
                    if !extensions.contains(&ext.as_str()) {
                        continue;
                    }
                    let contents =
                        std::fs::read_to_string(&path).map_err(|e| TransformError::io(&path, e))?;
                    let rel = |from: &Path| {
                        path.strip_prefix(from)
                            .map(|p| {
                                p.components()
                                    .map(|c| c.as_os_str().to_string_lossy())
                                    .collect::<Vec<_>>()
                                    .join("/")
                            })
                            .unwrap_or_else(|_| name.clone())
                    };
                    files.push(ProjectFile {
                        original_file_path: rel(&self.root),
                        path: rel(&base),
                        absolute: path.clone(),
                        contents,
                    });
                }
            }
        }
        files.sort_by(|a, b| a.original_file_path.cmp(&b.original_file_path));
        Ok(files)
    }

    /// Every YAML property file under model, seed, snapshot, test and macro paths.
    pub fn property_files(&self) -> Result<Vec<(ProjectFile, Value)>, TransformError> {
        let mut dirs = self.model_paths.clone();
        dirs.extend(self.seed_paths.clone());
        dirs.extend(self.snapshot_paths.clone());
        dirs.extend(self.test_paths.clone());
        dirs.extend(self.macro_paths.clone());
        let mut out = Vec::new();
        for file in self.files(&dirs, &["yml", "yaml"])? {
            let value = parse_yaml(&file.contents, &file.original_file_path)?;
            out.push((file, value));
        }
        Ok(out)
    }
}

fn load_target(root: &Path, profile: &str, database: &str) -> Target {
    let mut target = Target {
        name: "dev".into(),
        schema: "main".into(),
        database: database.to_string(),
        threads: 4,
        profile_name: profile.to_string(),
    };
    let Ok(profiles) = read_yaml(&root.join("profiles.yml")) else {
        return target;
    };
    let entry = &profiles[profile];
    if let Some(name) = entry["target"].as_str() {
        target.name = name.to_string();
    }
    let output = &entry["outputs"][target.name.as_str()];
    if let Some(schema) = output["schema"].as_str() {
        target.schema = schema.to_string();
    }
    if let Some(threads) = output["threads"].as_u64() {
        target.threads = threads.clamp(1, 64) as usize;
    }
    target
}

/// `{% docs name %}…{% enddocs %}` blocks of the markdown files.
pub fn doc_blocks(
    project: &DbtProject,
) -> Result<BTreeMap<String, (String, String)>, TransformError> {
    let mut dirs = project.model_paths.clone();
    dirs.extend(project.docs_paths.clone());
    let mut blocks = BTreeMap::new();
    for file in project.files(&dirs, &["md"])? {
        let mut rest = file.contents.as_str();
        while let Some(start) = rest.find("{% docs") {
            let after = &rest[start + 7..];
            let Some(close) = after.find("%}") else { break };
            let name = after[..close].trim().to_string();
            let body_start = &after[close + 2..];
            let Some(end) = body_start.find("{% enddocs %}") else {
                break;
            };
            blocks.insert(
                name,
                (
                    body_start[..end].trim().to_string(),
                    file.original_file_path.clone(),
                ),
            );
            rest = &body_start[end + 13..];
        }
    }
    Ok(blocks)
}
