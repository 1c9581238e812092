//! The `dango` command line.

mod auth;
mod mcp;
mod run;
mod schedule;
mod server;
mod start;
mod sync;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "dango",
    version,
    about = "A self-hosted data platform in one binary"
)]
pub struct Cli {
    /// Project directory (default: the nearest parent with .dango/project.yml, else the current directory)
    #[arg(long, global = true, env = "DANGO_PROJECT_ROOT")]
    pub project: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Create a project in the Dango layout
    Init {
        /// Directory to create the project in
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// Project name (default: from the directory name)
        #[arg(long)]
        name: Option<String>,
        /// Re-initialise an existing project (keeps data and users)
        #[arg(long)]
        force: bool,
    },
    /// Start the platform (web UI, API, jobs); creates a project first if there is none
    Start {
        /// Address to listen on (default: platform.host, 127.0.0.1)
        #[arg(long)]
        host: Option<String>,
        /// Port (default: platform.port, 8800)
        #[arg(long)]
        port: Option<u16>,
        /// In a folder without a project, create the demo project (sample data, models)
        #[arg(long)]
        demo: bool,
    },
    /// Create (if needed) and start the demo project in DIR (default ./dango-demo)
    Demo {
        #[arg(default_value = "dango-demo")]
        dir: PathBuf,
        #[arg(long)]
        host: Option<String>,
        #[arg(long)]
        port: Option<u16>,
    },
    /// Sync one source, or every enabled source (through the server when it runs)
    Sync {
        /// Source name (default: all enabled sources)
        source: Option<String>,
        /// Reload everything instead of only what changed
        #[arg(long)]
        full_refresh: bool,
        /// Start date (YYYY-MM-DD), for sources with date ranges
        #[arg(long)]
        since: Option<String>,
        /// End date (YYYY-MM-DD)
        #[arg(long)]
        until: Option<String>,
        /// Allow a sync to leave a table that has rows empty
        #[arg(long, hide = true)]
        allow_empty_replace: bool,
    },
    /// Build the dbt project in dbt/ (or a selection), like `dbt build`
    Run {
        /// Models to build: `orders`, `+orders`, `orders+`, `tag:daily`, `source:shop+`
        #[arg(short, long, num_args = 1..)]
        select: Vec<String>,
        #[arg(long, num_args = 1..)]
        exclude: Vec<String>,
        #[arg(long)]
        full_refresh: bool,
        /// Variables for var(), as YAML or JSON: '{key: value}'
        #[arg(long)]
        vars: Option<String>,
        /// build (default), run, seed, snapshot or test
        #[arg(long, default_value = "build")]
        command: String,
    },
    /// List, add, remove, trigger and validate schedules (.dango/schedules.yml)
    Schedule {
        #[command(subcommand)]
        command: schedule::ScheduleCommand,
    },
    /// Manage users and authentication
    Auth {
        #[command(subcommand)]
        command: auth::AuthCommand,
    },
    /// Print a new one-time token that may start the first sync (POST /api/initial-sync/start)
    DeployToken,
    /// Print the OpenAPI document
    Openapi,
    /// Serve the MCP server on stdio for local agent tools (as the local CLI)
    Mcp,
}

fn project_root(explicit: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    if let Some(dir) = explicit {
        return Ok(dir);
    }
    let cwd = std::env::current_dir()?;
    Ok(crate::config::find_project_root(&cwd).unwrap_or(cwd))
}

pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("DANGO_LOG").unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("info,sqlx=warn,sea_orm=warn,poem=warn")
    });
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(std::io::stderr)
        .try_init();
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Init { dir, name, force } => {
            let dir = match cli.project {
                Some(project) if dir == std::path::Path::new(".") => project,
                _ => dir,
            };
            let report = crate::project::init(&dir, name.as_deref(), force).await?;
            println!("Created Dango project in {}", report.root.display());
            print_admin(report.admin.as_ref());
            println!(
                "Start it with: dango start --project {}",
                report.root.display()
            );
            Ok(())
        }
        Command::Start { host, port, demo } => {
            start::start(project_root(cli.project)?, host, port, demo).await
        }
        Command::Demo { dir, host, port } => {
            start::start(cli.project.unwrap_or(dir), host, port, true).await
        }
        Command::Sync {
            source,
            full_refresh,
            since,
            until,
            allow_empty_replace,
        } => {
            sync::run(
                project_root(cli.project)?,
                sync::SyncArgs {
                    source,
                    full_refresh,
                    since,
                    until,
                    allow_empty_replace,
                },
            )
            .await
        }
        Command::Run {
            select,
            exclude,
            full_refresh,
            vars,
            command,
        } => {
            run::run(
                project_root(cli.project)?,
                run::RunArgs {
                    command,
                    select,
                    exclude,
                    full_refresh,
                    vars,
                },
            )
            .await
        }
        Command::Auth { command } => auth::run(project_root(cli.project)?, command).await,
        Command::Schedule { command } => schedule::run(project_root(cli.project)?, command).await,
        Command::Mcp => mcp::run(project_root(cli.project)?).await,
        Command::DeployToken => {
            let paths = crate::config::ProjectPaths::new(&project_root(cli.project)?);
            let token = crate::jobs::initial_sync::new_deploy_token(&paths)?;
            println!("{token}");
            eprintln!(
                "One-time token (shown once; a new one replaces it): start the first sync with\n  curl -X POST -H 'Authorization: Bearer {token}' http://HOST/api/initial-sync/start"
            );
            Ok(())
        }
        Command::Openapi => {
            print!("{}", crate::api::spec_json(&crate::api::service()));
            Ok(())
        }
    }
}

pub(crate) fn print_admin(admin: Option<&crate::project::CreatedAdmin>) {
    let Some(admin) = admin else { return };
    match &admin.temp_password {
        Some(password) => {
            println!();
            println!("  Admin account created");
            println!("    email:              {}", admin.email);
            println!("    temporary password: {password}");
            println!("  It is shown only now; you will choose your own at first login.");
            println!();
        }
        None => println!(
            "Admin account created: {} (password from DANGO_ADMIN_PASSWORD)",
            admin.email
        ),
    }
}
