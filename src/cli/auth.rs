//! `dango auth …`: user administration from the shell (works while the server runs:
//! the metadata database allows concurrent access).

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Subcommand;
use sea_orm::DatabaseConnection;
use serde_json::json;

use crate::auth::audit::{self, AuditEvent};
use crate::auth::users::{self as accounts, Credential, NewUser};
use crate::auth::{Role, sessions};
use crate::config::{ProjectConfig, ProjectPaths};
use crate::db;

#[derive(Subcommand)]
pub enum AuthCommand {
    /// Add a user (prints an invite link, or a temporary password with --password)
    AddUser {
        email: String,
        #[arg(long, default_value = "viewer")]
        role: String,
        /// Give a temporary password instead of an invite link
        #[arg(long)]
        password: bool,
        /// Base URL for the invite link
        #[arg(long, default_value = "http://localhost:8800")]
        base_url: String,
    },
    /// List users
    ListUsers,
    /// Give a user a new temporary password
    ResetPassword { email: String },
    /// Unlock an account locked after failed logins
    Unlock { email: String },
    /// Change a user's role (admin, editor, viewer)
    ChangeRole { email: String, role: String },
    /// Deactivate a user
    DeactivateUser { email: String },
    /// Reactivate a user
    ReactivateUser { email: String },
    /// Delete a user for good
    DeleteUser {
        email: String,
        /// Do not ask for confirmation
        #[arg(short, long)]
        yes: bool,
    },
    /// Emergency access: create (or reset) an admin with a temporary password
    Recover {
        #[arg(long, default_value = "recovery@localhost")]
        email: String,
    },
    /// Turn authentication on
    Enable,
    /// Turn authentication off (only allowed on loopback addresses)
    Disable,
}

async fn open_db(paths: &ProjectPaths) -> anyhow::Result<DatabaseConnection> {
    if !paths.is_project() {
        bail!(
            "no Dango project at {} (run `dango init`)",
            paths.root.display()
        );
    }
    db::connect(&db::database_url(&paths.metadata_db())).await
}

fn role(value: &str) -> anyhow::Result<Role> {
    Role::parse(value)
        .with_context(|| format!("invalid role '{value}': use admin, editor or viewer"))
}

fn err(e: crate::Error) -> anyhow::Error {
    anyhow::anyhow!("{}", e.message)
}

async fn record(
    db: &DatabaseConnection,
    event: &'static str,
    user: &dango_entity::users::Model,
    details: serde_json::Value,
) {
    let mut details = details;
    details["via"] = json!("cli");
    audit::record(
        db,
        AuditEvent::new(event)
            .user(&user.id, &user.email)
            .details(details),
    )
    .await;
}

/// The CLI is not a user: guards against acting on yourself never apply to it.
const CLI_ACTOR: &str = "cli";

pub async fn run(root: PathBuf, command: AuthCommand) -> anyhow::Result<()> {
    let paths = ProjectPaths::new(&root);
    if let AuthCommand::Enable | AuthCommand::Disable = command {
        let enabled = matches!(command, AuthCommand::Enable);
        let mut config = ProjectConfig::load(&paths.project_yml())?;
        config.auth.enabled = enabled;
        config.save(&paths.project_yml())?;
        println!(
            "Authentication {} (a running server picks this up within seconds).",
            if enabled { "enabled" } else { "disabled" }
        );
        return Ok(());
    }
    let db = open_db(&paths).await?;
    let changes_access = !matches!(
        command,
        AuthCommand::ListUsers | AuthCommand::AddUser { .. }
    );
    match command {
        AuthCommand::AddUser {
            email,
            role: r,
            password,
            base_url,
        } => {
            let created = accounts::create(
                &db,
                NewUser {
                    email: &email,
                    role: role(&r)?,
                    display_name: None,
                    credential: if password {
                        Credential::Temporary
                    } else {
                        Credential::Invite
                    },
                },
            )
            .await
            .map_err(err)?;
            record(
                &db,
                "user_created",
                &created.user,
                json!({"role": created.user.role}),
            )
            .await;
            println!("Created {} ({})", created.user.email, created.user.role);
            if let Some(temp) = created.temp_password {
                println!("Temporary password (shown once): {temp}");
            }
            if let Some(token) = created.invite_token {
                println!(
                    "Invite link (valid 72 h): {}/invite/{token}",
                    base_url.trim_end_matches('/')
                );
            }
        }
        AuthCommand::ListUsers => {
            let users = accounts::list(&db).await.map_err(err)?;
            println!(
                "{:<36}  {:<32}  {:<7}  {:<8}  {:<3}  last login",
                "id", "email", "role", "status", "2fa"
            );
            for user in users {
                let status = if !user.is_active {
                    "inactive"
                } else if user.locked_until.is_some_and(|t| t > chrono::Utc::now()) {
                    "locked"
                } else if user.password_hash.is_none() {
                    "invited"
                } else {
                    "active"
                };
                println!(
                    "{:<36}  {:<32}  {:<7}  {:<8}  {:<3}  {}",
                    user.id,
                    user.email,
                    user.role,
                    status,
                    if user.totp_enabled { "on" } else { "off" },
                    user.last_login
                        .map(|t| t.to_rfc3339())
                        .unwrap_or_else(|| "never".into())
                );
            }
        }
        AuthCommand::ResetPassword { email } => {
            let user = accounts::get_by_email(&db, &email).await.map_err(err)?;
            let (user, temp) = accounts::reset_password(&db, &user.id).await.map_err(err)?;
            record(&db, "password_reset", &user, json!({})).await;
            println!(
                "New temporary password for {} (shown once): {temp}",
                user.email
            );
        }
        AuthCommand::Unlock { email } => {
            let user = accounts::get_by_email(&db, &email).await.map_err(err)?;
            let user = accounts::unlock(&db, &user.id).await.map_err(err)?;
            record(&db, "account_unlocked", &user, json!({})).await;
            println!("Unlocked {}", user.email);
        }
        AuthCommand::ChangeRole { email, role: r } => {
            let user = accounts::get_by_email(&db, &email).await.map_err(err)?;
            let (old, user) = accounts::change_role(&db, &user.id, role(&r)?)
                .await
                .map_err(err)?;
            record(
                &db,
                "role_changed",
                &user,
                json!({"old_role": old.as_str(), "new_role": user.role}),
            )
            .await;
            println!("{} is now {}", user.email, user.role);
        }
        AuthCommand::DeactivateUser { email } => {
            let user = accounts::get_by_email(&db, &email).await.map_err(err)?;
            let user = accounts::deactivate(&db, CLI_ACTOR, &user.id)
                .await
                .map_err(err)?;
            record(&db, "user_deactivated", &user, json!({})).await;
            println!("Deactivated {}", user.email);
        }
        AuthCommand::ReactivateUser { email } => {
            let user = accounts::get_by_email(&db, &email).await.map_err(err)?;
            let user = accounts::reactivate(&db, &user.id).await.map_err(err)?;
            record(&db, "user_reactivated", &user, json!({})).await;
            println!("Reactivated {}", user.email);
        }
        AuthCommand::DeleteUser { email, yes } => {
            let user = accounts::get_by_email(&db, &email).await.map_err(err)?;
            if !yes {
                eprint!(
                    "Delete {} for good? Type the email to confirm: ",
                    user.email
                );
                let mut answer = String::new();
                std::io::stdin().read_line(&mut answer)?;
                if crate::auth::normalize_email(&answer) != user.email {
                    bail!("not confirmed; nothing deleted");
                }
            }
            let user = accounts::delete(&db, CLI_ACTOR, &user.id, None)
                .await
                .map_err(err)?;
            record(&db, "user_deleted", &user, json!({})).await;
            println!("Deleted {}", user.email);
        }
        AuthCommand::Recover { email } => {
            let (user, temp) = match accounts::find_by_email(&db, &email).await.map_err(err)? {
                Some(existing) => accounts::reset_password(&db, &existing.id)
                    .await
                    .map_err(err)?,
                None => {
                    let created = accounts::create(
                        &db,
                        NewUser {
                            email: &email,
                            role: Role::Admin,
                            display_name: Some("Recovery admin"),
                            credential: Credential::Temporary,
                        },
                    )
                    .await
                    .map_err(err)?;
                    let temp = created.temp_password.unwrap_or_default();
                    (created.user, temp)
                }
            };
            // Recovery always yields an active admin, whatever the account was before.
            if user.role != Role::Admin.as_str() {
                accounts::change_role(&db, &user.id, Role::Admin)
                    .await
                    .map_err(err)?;
            }
            let user = accounts::reactivate(&db, &user.id).await.map_err(err)?;
            accounts::unlock(&db, &user.id).await.map_err(err)?;
            sessions::delete_all_for_user(&db, &user.id)
                .await
                .map_err(err)?;
            record(&db, "user_created", &user, json!({"method": "recover"})).await;
            println!("Recovery admin: {}", user.email);
            println!("Temporary password (shown once): {temp}");
        }
        AuthCommand::Enable | AuthCommand::Disable => {}
    }
    if changes_access && crate::cli_token::read(&paths).is_some() {
        // A running server trusts credentials it checked a moment ago for this long:
        // once this command returns, the change holds there too.
        tokio::time::sleep(crate::auth::credentials::CredentialCache::MAX_AGE).await;
    }
    Ok(())
}
