//! `.dango/sources.yml` (behaviour §1.4): the configured sources. Unknown keys are
//! refused, every error names the source and the key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{ConfigError, write_atomic};

pub const SUPPORTED_VERSION: &str = "1.0";

/// Source types the original knows; those with a loader here are listed in [`SourceKind`].
pub const KNOWN_TYPES: &[&str] = &[
    "csv",
    "local_files",
    "rest_api",
    "dlt_native",
    "filesystem",
    "facebook_ads",
    "google_ads",
    "google_analytics",
    "google_sheets",
    "matomo",
    "mux",
    "airtable",
    "hubspot",
    "salesforce",
    "pipedrive",
    "freshdesk",
    "zendesk",
    "asana",
    "jira",
    "workable",
    "shopify",
    "stripe",
    "notion",
    "inbox",
    "mongodb",
    "postgres",
    "sql_database",
    "kafka",
    "kinesis",
    "github",
    "slack",
    "chess",
    "scrapy",
    "strapi",
    "personio",
];

/// Types whose settings live in a block named after the type (others use `generic_config`).
const DEDICATED_BLOCKS: &[&str] = &[
    "csv",
    "local_files",
    "rest_api",
    "dlt_native",
    "facebook_ads",
    "google_analytics",
    "google_sheets",
    "hubspot",
    "salesforce",
    "stripe",
    "github",
    "slack",
];

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourcesFile {
    pub version: String,
    #[serde(default)]
    pub sources: Vec<SourceConfig>,
}

impl Default for SourcesFile {
    fn default() -> Self {
        Self {
            version: SUPPORTED_VERSION.into(),
            sources: vec![],
        }
    }
}

fn yes() -> bool {
    true
}

/// Unknown keys land in `blocks` and are refused by [`SourcesFile::parse`]
/// (serde cannot combine `deny_unknown_fields` with `flatten`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SourceConfig {
    pub name: String,
    #[serde(rename = "type")]
    pub source_type: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lookback_days: Option<u32>,
    /// Allow a replace to leave a table that had rows with none.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_empty_replace: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csv: Option<FileSourceConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_files: Option<FileSourceConfig>,
    /// Settings of the other types, by block name (`rest_api`, `stripe`, `generic_config`, …).
    #[serde(flatten)]
    pub blocks: BTreeMap<String, serde_json::Value>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSourceConfig {
    pub directory: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_pattern: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

impl SourceConfig {
    /// The settings block of a file source (`csv` or `local_files`).
    pub fn file_settings(&self) -> Option<&FileSourceConfig> {
        match self.source_type.as_str() {
            "csv" => self.csv.as_ref(),
            "local_files" => self.local_files.as_ref(),
            _ => None,
        }
    }

    pub fn is_file_source(&self) -> bool {
        matches!(self.source_type.as_str(), "csv" | "local_files")
    }

    /// The glob of a file source: its `file_pattern`, else `*.csv` (csv) or `*` (local_files).
    pub fn file_pattern(&self) -> String {
        self.file_settings()
            .and_then(|f| f.file_pattern.clone())
            .unwrap_or_else(|| {
                if self.source_type == "csv" {
                    "*.csv"
                } else {
                    "*"
                }
                .into()
            })
    }

    /// Absolute directory of a file source.
    pub fn file_directory(&self, project_root: &Path) -> Option<PathBuf> {
        let dir = &self.file_settings()?.directory;
        let path = Path::new(dir);
        Some(if path.is_absolute() {
            path.to_path_buf()
        } else {
            project_root.join(path)
        })
    }

    /// The block holding this type's settings.
    pub fn settings(&self) -> Option<&serde_json::Value> {
        let key = if DEDICATED_BLOCKS.contains(&self.source_type.as_str()) {
            self.source_type.as_str()
        } else {
            "generic_config"
        };
        self.blocks.get(key)
    }

    /// The DuckDB schema its raw tables live in.
    pub fn raw_schema(&self) -> String {
        format!("raw_{}", self.name)
    }
}

/// The identifier rule: 1–128 of `[A-Za-z0-9_]`.
pub fn is_valid_identifier(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

impl SourcesFile {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        if !path.exists() {
            return Ok(Self::default());
        }
        super::read_config(path, Self::parse)
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        let mut file: Self = serde_norway::from_str(text).map_err(|e| e.to_string())?;
        if file.version != SUPPORTED_VERSION {
            return Err(format!(
                "version: \"{}\" is not supported (expected \"{SUPPORTED_VERSION}\")",
                file.version
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for (index, source) in file.sources.iter_mut().enumerate() {
            let label = format!("sources[{index}] ('{}')", source.name);
            if !is_valid_identifier(&source.name) {
                return Err(format!(
                    "{label}: name: use only letters, numbers and underscores (1-128 characters)"
                ));
            }
            source.name = source.name.to_lowercase();
            if !seen.insert(source.name.clone()) {
                return Err(format!("{label}: name: duplicate source name"));
            }
            if !KNOWN_TYPES.contains(&source.source_type.as_str()) {
                return Err(format!(
                    "{label}: type: unknown source type '{}'",
                    source.source_type
                ));
            }
            let allowed_block = if DEDICATED_BLOCKS.contains(&source.source_type.as_str()) {
                source.source_type.as_str()
            } else {
                "generic_config"
            };
            for key in source.blocks.keys() {
                if key != allowed_block {
                    return Err(format!(
                        "{label}: unknown key '{key}' (a '{}' source takes its settings under '{allowed_block}')",
                        source.source_type
                    ));
                }
            }
            if source.is_file_source() && source.file_settings().is_none() {
                return Err(format!(
                    "{label}: {0}: required block missing (e.g. `{0}: {{directory: data/uploads}}`)",
                    source.source_type
                ));
            }
            let other_file_block = match source.source_type.as_str() {
                "csv" => source.local_files.is_some(),
                "local_files" => source.csv.is_some(),
                _ => source.csv.is_some() || source.local_files.is_some(),
            };
            if other_file_block {
                return Err(format!(
                    "{label}: a '{}' source cannot have a csv/local_files block of another type",
                    source.source_type
                ));
            }
        }
        Ok(file)
    }

    pub fn save(&self, path: &Path) -> Result<(), ConfigError> {
        let text = serde_norway::to_string(self).unwrap_or_default();
        write_atomic(path, text.as_bytes()).map_err(|source| ConfigError::Io {
            path: path.display().to_string(),
            source,
        })
    }

    pub fn get(&self, name: &str) -> Option<&SourceConfig> {
        let name = name.to_lowercase();
        self.sources.iter().find(|s| s.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"
version: "1.0"
sources:
  - name: Sales_Data
    type: local_files
    local_files: {directory: data/uploads, file_pattern: "*"}
  - name: app_db
    type: postgres
    generic_config: {credentials_env: POSTGRES_CREDENTIALS, schema: public}
  - name: my_api
    type: rest_api
    enabled: false
    rest_api: {base_url: "https://api.example.com", endpoints: [customers]}
"#;

    #[test]
    fn parses_the_documented_example() {
        let file = SourcesFile::parse(EXAMPLE).unwrap();
        assert_eq!(file.sources.len(), 3);
        let sales = file.get("sales_data").unwrap();
        assert_eq!(sales.file_pattern(), "*");
        assert_eq!(sales.raw_schema(), "raw_sales_data");
        assert!(file.get("app_db").unwrap().settings().is_some());
        assert!(!file.get("my_api").unwrap().enabled);
    }

    #[test]
    fn errors_name_the_source_and_key() {
        let bad_version = SourcesFile::parse("version: \"2.0\"\nsources: []").unwrap_err();
        assert!(bad_version.contains("version"), "{bad_version}");
        let bad_name = SourcesFile::parse(
            "version: \"1.0\"\nsources:\n  - {name: my-src, type: csv, csv: {directory: d}}",
        )
        .unwrap_err();
        assert!(
            bad_name.contains("my-src") && bad_name.contains("name"),
            "{bad_name}"
        );
        let bad_key = SourcesFile::parse(
            "version: \"1.0\"\nsources:\n  - {name: s, type: csv, csv: {directory: d}, colour: red}",
        )
        .unwrap_err();
        assert!(
            bad_key.contains("'s'") && bad_key.contains("colour"),
            "{bad_key}"
        );
        let missing =
            SourcesFile::parse("version: \"1.0\"\nsources:\n  - {name: s, type: csv}").unwrap_err();
        assert!(
            missing.contains("csv") && missing.contains("required"),
            "{missing}"
        );
        let unknown_type =
            SourcesFile::parse("version: \"1.0\"\nsources:\n  - {name: s, type: oracle}")
                .unwrap_err();
        assert!(unknown_type.contains("oracle"), "{unknown_type}");
        let nested = SourcesFile::parse(
            "version: \"1.0\"\nsources:\n  - {name: s, type: csv, csv: {directory: d, pattern: x}}",
        )
        .unwrap_err();
        assert!(nested.contains("pattern"), "{nested}");
    }

    #[test]
    fn file_pattern_defaults() {
        let file = SourcesFile::parse(
            "version: \"1.0\"\nsources:\n  - {name: a, type: csv, csv: {directory: d}}\n  - {name: b, type: local_files, local_files: {directory: /abs}}",
        )
        .unwrap();
        assert_eq!(file.get("a").unwrap().file_pattern(), "*.csv");
        assert_eq!(file.get("b").unwrap().file_pattern(), "*");
        assert_eq!(
            file.get("b")
                .unwrap()
                .file_directory(Path::new("/root"))
                .unwrap(),
            PathBuf::from("/abs")
        );
    }
}
