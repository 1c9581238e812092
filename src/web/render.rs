//! The page templates, compiled into the binary and rendered with autoescape: every
//! value that came from a user, a file or the warehouse is escaped by minijinja, never
//! by hand.

use std::sync::OnceLock;

use minijinja::Environment;
use serde::Serialize;

use crate::auth::{AuthMethod, Permission, Principal};

/// (name, source) of every template.
const TEMPLATES: &[(&str, &str)] = &[
    ("layout.html", include_str!("templates/layout.html")),
    ("error.html", include_str!("templates/error.html")),
    ("home.html", include_str!("templates/home.html")),
    ("login.html", include_str!("templates/login.html")),
    ("setup.html", include_str!("templates/setup.html")),
    ("invite.html", include_str!("templates/invite.html")),
    ("dbt_docs.html", include_str!("templates/dbt_docs.html")),
    ("query.html", include_str!("templates/query.html")),
    ("catalog.html", include_str!("templates/catalog.html")),
    ("sources.html", include_str!("templates/sources.html")),
    ("models.html", include_str!("templates/models.html")),
    ("health.html", include_str!("templates/health.html")),
    ("logs.html", include_str!("templates/logs.html")),
    ("account.html", include_str!("templates/account.html")),
    ("users.html", include_str!("templates/users.html")),
    ("schedules.html", include_str!("templates/schedules.html")),
    ("scripts.html", include_str!("templates/scripts.html")),
    ("script_run.html", include_str!("templates/script_run.html")),
    ("secrets.html", include_str!("templates/secrets.html")),
    ("lineage.svg", include_str!("templates/lineage.svg")),
];

fn environment() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = configured();
        for (name, source) in TEMPLATES {
            if let Err(err) = env.add_template(name, source) {
                // A broken template is a build defect; the unit test below catches it.
                tracing::error!(template = name, %err, "page template does not compile");
            }
        }
        env
    })
}

fn configured() -> Environment<'static> {
    let mut env = Environment::new();
    // `.html` names autoescape as HTML (minijinja's default); say so, so it stays.
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env
}

/// Renders `template` with `context`; a failure is logged and answered as a short page.
pub fn render(template: &str, context: minijinja::Value) -> String {
    if let Some(dir) = super::dev_assets_dir() {
        return render_from_disk(&dir, template, context);
    }
    environment()
        .get_template(template)
        .and_then(|t| t.render(context))
        .unwrap_or_else(|err| {
            tracing::error!(template, %err, "page failed to render");
            "<!doctype html><title>Dango</title><main><h1>This page failed to render</h1>\
             <p>The error is in the server log.</p></main>"
                .to_string()
        })
}

/// Development: templates read from the source tree on every request, so a page can be
/// changed without rebuilding (see [`super::dev_assets_dir`]).
fn render_from_disk(dir: &std::path::Path, template: &str, context: minijinja::Value) -> String {
    let templates = dir.join("templates");
    let mut env = configured();
    env.set_loader(move |name| {
        // Template names are ours (`layout.html`, …): no path from a request reaches here.
        match std::fs::read_to_string(templates.join(name)) {
            Ok(source) => Ok(Some(source)),
            Err(_) => Ok(None),
        }
    });
    env.get_template(template)
        .and_then(|t| t.render(context))
        .unwrap_or_else(|err| {
            format!(
                "<!doctype html><title>Dango</title><pre>{}</pre>",
                minijinja::HtmlEscape(&format!("{err:#}"))
            )
        })
}

/// The signed-in user as the navigation shows them.
#[derive(Serialize)]
pub struct UserView {
    pub email: String,
    pub name: String,
    pub initial: String,
    pub role: &'static str,
    pub is_local: bool,
    pub is_admin: bool,
    /// May open the secrets page.
    pub manages_config: bool,
}

impl UserView {
    pub fn of(principal: &Principal) -> Self {
        let name = principal
            .display_name
            .clone()
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| principal.email.clone());
        let initial = name
            .chars()
            .find(|c| c.is_alphanumeric())
            .map(|c| c.to_uppercase().to_string())
            .unwrap_or_else(|| "?".into());
        Self {
            email: principal.email.clone(),
            name,
            initial,
            role: principal.role.as_str(),
            is_admin: principal.can(Permission::UsersView),
            manages_config: principal.can(Permission::ConfigManage),
            is_local: matches!(
                principal.method,
                AuthMethod::Disabled | AuthMethod::LocalCli
            ),
        }
    }
}

/// An entry of the navigation bar.
#[derive(Serialize)]
pub struct NavItem {
    pub key: &'static str,
    pub label: &'static str,
    pub href: &'static str,
}

/// The navigation, in order, and who sees each entry (none: everyone signed in).
const NAV: &[(&str, &str, &str, Option<Permission>)] = &[
    ("home", "Overview", "/", None),
    (
        "sources",
        "Sources",
        "/sources",
        Some(Permission::SourceView),
    ),
    ("models", "Models", "/models", Some(Permission::DbtView)),
    (
        "scripts",
        "Scripts",
        "/scripts",
        Some(Permission::SourceView),
    ),
    (
        "schedules",
        "Schedules",
        "/schedules",
        Some(Permission::SchedulerView),
    ),
    (
        "catalog",
        "Catalog",
        "/catalog",
        Some(Permission::GovernanceView),
    ),
    ("query", "Query", "/query", Some(Permission::QueryExecute)),
    (
        "dbt-docs",
        "dbt docs",
        "/dbt-docs/",
        Some(Permission::DbtView),
    ),
    ("health", "Health", "/health", Some(Permission::HealthView)),
    ("logs", "Logs", "/logs", Some(Permission::LogsView)),
];

/// The permissions of `principal`, space-separated: pages read them from
/// `<body data-perms>` to leave out controls the user may not use (the API refuses
/// them anyway).
pub fn permissions_of(principal: &Principal) -> String {
    Permission::ALL
        .iter()
        .filter(|p| principal.can(**p))
        .map(|p| p.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The entries `principal` may open.
pub fn nav_for(principal: &Principal) -> Vec<NavItem> {
    NAV.iter()
        .filter(|(_, _, _, needs)| needs.is_none_or(|p| principal.can(p)))
        .map(|&(key, label, href, _)| NavItem { key, label, href })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_compiles() {
        let env = environment();
        for (name, _) in TEMPLATES {
            assert!(env.get_template(name).is_ok(), "{name} does not compile");
        }
    }

    #[test]
    fn values_are_escaped() {
        let html = render(
            "error.html",
            minijinja::context! {
                title => "x", page => "error", wide => false, user => (), perms => "", nav => minijinja::value::Serde(Vec::<NavItem>::new()),
                heading => "<script>alert(1)</script>", message => "\" onmouseover=\"x", status => 404,
            },
        );
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(html.contains("&lt;script&gt;"));
        assert!(!html.contains("\" onmouseover"));
    }
}
