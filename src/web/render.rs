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
];

fn environment() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        // `.html` names autoescape as HTML (minijinja's default); say so, so it stays.
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        for (name, source) in TEMPLATES {
            if let Err(err) = env.add_template(name, source) {
                // A broken template is a build defect; the unit test below catches it.
                tracing::error!(template = name, %err, "page template does not compile");
            }
        }
        env
    })
}

/// Renders `template` with `context`; a failure is logged and answered as a short page.
pub fn render(template: &str, context: minijinja::Value) -> String {
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

/// The signed-in user as the navigation shows them.
#[derive(Serialize)]
pub struct UserView {
    pub email: String,
    pub name: String,
    pub initial: String,
    pub role: &'static str,
    pub is_local: bool,
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
];

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
                title => "x", page => "error", wide => false, user => (), nav => minijinja::value::Serde(Vec::<NavItem>::new()),
                heading => "<script>alert(1)</script>", message => "\" onmouseover=\"x", status => 404,
            },
        );
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(html.contains("&lt;script&gt;"));
        assert!(!html.contains("\" onmouseover"));
    }
}
