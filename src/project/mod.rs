//! Creating a project in the Dango layout (`dango init`, and `dango start` in an empty
//! directory).

pub mod demo;
pub mod deployments;

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use crate::auth::users::{self as accounts, DEFAULT_ADMIN_EMAIL};
use crate::config::project::ProjectInfo;
use crate::config::sources::SourcesFile;
use crate::config::{ProjectConfig, ProjectPaths, write_atomic};
use crate::db;

pub const ADMIN_EMAIL_ENV: &str = "DANGO_ADMIN_EMAIL";
pub const ADMIN_PASSWORD_ENV: &str = "DANGO_ADMIN_PASSWORD";

const GITIGNORE: &str = "# Dango
.dango/state/
.dango/logs/
.dango/*.db
.dango/*.db-shm
.dango/*.db-wal
.dango/dbt_model_status.json
data/
*.duckdb
*.duckdb.wal
dbt/target/
dbt/dbt_packages/
dbt/logs/
.env
.env.local
secrets/
*.key
";

const CUSTOM_SCHEMA_MACRO: &str = "{% macro generate_schema_name(custom_schema_name, node) -%}
    {#- A custom schema is used verbatim (`staging`, not `main_staging`). -#}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
";

/// The first admin, when init created one: email and the temporary password to show once
/// (`None` when `DANGO_ADMIN_PASSWORD` was used).
pub struct CreatedAdmin {
    pub email: String,
    pub temp_password: Option<String>,
}

pub struct InitReport {
    pub root: PathBuf,
    pub admin: Option<CreatedAdmin>,
}

/// `My-shop_data` → `My Shop Data`.
pub fn display_name_from_dir(root: &Path) -> String {
    let base = root
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "Dango Project".into());
    base.split(['-', '_', ' '])
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut chars = w.chars();
            chars
                .next()
                .map(|c| c.to_uppercase().chain(chars).collect::<String>())
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// dbt's project name: lower-case, spaces and hyphens as underscores, identifier chars only.
pub fn dbt_project_name(display_name: &str) -> String {
    let name: String = display_name
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let name = name.trim_matches('_').to_string();
    match name.chars().next() {
        None => "dango_project".into(),
        Some(c) if c.is_ascii_digit() => format!("p_{name}"),
        Some(_) => name,
    }
}

fn write_if_absent(path: &Path, contents: &str) -> anyhow::Result<()> {
    if !path.exists() {
        write_atomic(path, contents.as_bytes())
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

fn dbt_project_yml(name: &str) -> String {
    format!(
        "name: {name}
version: '1.0.0'
config-version: 2
profile: {name}

model-paths: [models]
analysis-paths: [analyses]
test-paths: [tests]
seed-paths: [seeds]
macro-paths: [macros]
snapshot-paths: [snapshots]
target-path: target
clean-targets: [target, dbt_packages]

models:
  {name}:
    staging:
      +materialized: table
      +schema: staging
    intermediate:
      +materialized: table
      +schema: intermediate
    marts:
      +materialized: table
      +schema: marts

seeds:
  {name}:
    +schema: seeds
"
    )
}

fn profiles_yml(name: &str) -> String {
    format!(
        "# Used only when transform.engine is `dbt` (a real dbt-duckdb run).
{name}:
  target: dev
  outputs:
    dev:
      type: duckdb
      path: ../data/warehouse.duckdb
      schema: main
      threads: 4
"
    )
}

/// Creates the project layout and the first admin. Refuses an existing project unless `force`.
pub async fn init(root: &Path, name: Option<&str>, force: bool) -> anyhow::Result<InitReport> {
    let root = create_layout(root, name, force)?;
    let paths = ProjectPaths::new(&root);
    // The warehouse file with its layer schemas.
    drop(crate::warehouse::Warehouse::open(&paths)?);
    let database = db::connect(&db::database_url(&paths.metadata_db())).await?;
    let admin = ensure_first_admin(&database).await?;
    database.close().await.ok();
    Ok(InitReport { root, admin })
}

/// The directories and files of a project (no database, no users); returns the
/// canonical root. Refuses an existing project unless `force`.
pub fn create_layout(root: &Path, name: Option<&str>, force: bool) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(root).with_context(|| format!("creating {}", root.display()))?;
    let root = root.canonicalize()?;
    let paths = ProjectPaths::new(&root);
    if paths.is_project() && !force {
        bail!(
            "{} is already a Dango project (.dango/project.yml exists); use --force to re-initialise",
            root.display()
        );
    }
    for dir in [
        paths.dango_dir(),
        paths.state_dir(),
        paths.uploads_dir(),
        paths.dbt_dir().join("models/staging"),
        paths.dbt_dir().join("models/intermediate"),
        paths.dbt_dir().join("models/marts"),
        paths.dbt_dir().join("seeds"),
        paths.dbt_dir().join("macros"),
        paths.dbt_dir().join("tests"),
        paths.dbt_dir().join("snapshots"),
        paths.dbt_dir().join("analyses"),
        root.join("notebooks"),
    ] {
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    }

    let display = name
        .map(str::to_string)
        .unwrap_or_else(|| display_name_from_dir(&root));
    if !paths.project_yml().exists() || force {
        let mut config = if paths.project_yml().exists() {
            ProjectConfig::load(&paths.project_yml()).unwrap_or_default()
        } else {
            ProjectConfig::default()
        };
        if !paths.project_yml().exists() || name.is_some() {
            config.project = ProjectInfo {
                name: display.clone(),
                dango_version: Some(crate::VERSION.into()),
                created: Some(chrono::Utc::now().to_rfc3339()),
                ..ProjectInfo::default()
            };
        }
        config.save(&paths.project_yml())?;
    }
    if !paths.sources_yml().exists() {
        SourcesFile::default().save(&paths.sources_yml())?;
    }
    write_if_absent(&paths.schedules_yml(), "schedules: []\n")?;
    let dbt_name = dbt_project_name(&display);
    write_if_absent(
        &paths.dbt_dir().join("dbt_project.yml"),
        &dbt_project_yml(&dbt_name),
    )?;
    write_if_absent(
        &paths.dbt_dir().join("profiles.yml"),
        &profiles_yml(&dbt_name),
    )?;
    write_if_absent(
        &paths.dbt_dir().join("macros/get_custom_schema.sql"),
        CUSTOM_SCHEMA_MACRO,
    )?;
    merge_gitignore(&root.join(".gitignore"))?;
    Ok(root)
}

/// Creates the first admin from `DANGO_ADMIN_EMAIL` / `DANGO_ADMIN_PASSWORD` when there is none.
pub async fn ensure_first_admin(
    database: &sea_orm::DatabaseConnection,
) -> anyhow::Result<Option<CreatedAdmin>> {
    let email = std::env::var(ADMIN_EMAIL_ENV)
        .ok()
        .filter(|e| !e.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_ADMIN_EMAIL.to_string());
    let password = std::env::var(ADMIN_PASSWORD_ENV)
        .ok()
        .filter(|p| !p.is_empty());
    let created = accounts::ensure_admin(database, &email, password.as_deref())
        .await
        .map_err(|e| anyhow::anyhow!("creating the first admin: {e}"))?;
    Ok(created.map(|(user, temp_password)| CreatedAdmin {
        email: user.email,
        temp_password,
    }))
}

fn merge_gitignore(path: &Path) -> anyhow::Result<()> {
    let existing = std::fs::read_to_string(path).unwrap_or_default();
    if existing.lines().any(|l| l.trim() == "# Dango") {
        return Ok(());
    }
    let mut merged = existing;
    if !merged.is_empty() && !merged.ends_with('\n') {
        merged.push('\n');
    }
    merged.push_str(GITIGNORE);
    write_atomic(path, merged.as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(
            display_name_from_dir(Path::new("/x/my-shop_data")),
            "My Shop Data"
        );
        assert_eq!(dbt_project_name("My Shop-Data"), "my_shop_data");
        assert_eq!(dbt_project_name("2024 report"), "p_2024_report");
        assert_eq!(dbt_project_name("!!!"), "dango_project");
    }
}
