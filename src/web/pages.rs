//! The page table and the handler that renders each page: the layout (navigation for
//! what the signed-in user may open, the live-updates indicator) around the page's own
//! template. Who may open a page is the request guard's rule (`api/access.rs`), like
//! any route; a refusal on a browser navigation becomes an HTML page ([`error_page`]).

use minijinja::value::Serde;
use minijinja::{Value, context};
use poem::http::StatusCode;
use poem::{Endpoint, IntoResponse, Request, Response};

use super::render::{self, NavItem, UserView};
use crate::auth::Principal;

/// A page the server renders. Every page has a `<main>` landmark; the integration suite
/// opens each of them as a signed-in user.
pub struct Page {
    pub route: &'static str,
    pub template: &'static str,
    pub title: &'static str,
    /// The navigation entry it highlights.
    pub key: &'static str,
    /// Full width (tables, editors) rather than the reading width.
    pub wide: bool,
    /// Opened before signing in (`/login`, `/setup`, `/invite/…`): no navigation.
    pub public: bool,
}

const fn page(route: &'static str, template: &'static str, title: &'static str) -> Page {
    Page {
        route,
        template,
        title,
        key: "",
        wide: false,
        public: false,
    }
}

pub const PAGES: &[Page] = &[
    Page {
        key: "home",
        ..page("/", "home.html", "Overview")
    },
    Page {
        public: true,
        ..page("/login", "login.html", "Sign in")
    },
    Page {
        public: true,
        ..page("/setup", "setup.html", "Set your password")
    },
    Page {
        public: true,
        ..page("/invite/:token", "invite.html", "Accept invitation")
    },
    Page {
        key: "catalog",
        wide: true,
        ..page("/catalog", "catalog.html", "Catalog")
    },
    Page {
        key: "catalog",
        wide: true,
        ..page("/catalog/:name", "catalog.html", "Catalog")
    },
    Page {
        key: "query",
        wide: true,
        ..page("/query", "query.html", "Query")
    },
    Page {
        key: "sources",
        wide: true,
        ..page("/sources", "sources.html", "Sources")
    },
    Page {
        key: "models",
        wide: true,
        ..page("/models", "models.html", "Models")
    },
    Page {
        key: "schedules",
        wide: true,
        ..page("/schedules", "schedules.html", "Schedules")
    },
    Page {
        key: "scripts",
        wide: true,
        ..page("/scripts", "scripts.html", "Scripts")
    },
    Page {
        key: "scripts",
        wide: true,
        ..page(
            "/scripts/:name/logs/:run_id",
            "script_run.html",
            "Script run",
        )
    },
    Page {
        key: "health",
        ..page("/health", "health.html", "Health")
    },
    Page {
        key: "logs",
        wide: true,
        ..page("/logs", "logs.html", "Activity log")
    },
    Page {
        key: "account",
        ..page("/settings/account", "account.html", "Account settings")
    },
    Page {
        key: "users",
        wide: true,
        ..page("/settings/users", "users.html", "Users")
    },
    Page {
        key: "secrets",
        ..page("/settings/secrets", "secrets.html", "Secrets")
    },
    Page {
        key: "dbt-docs",
        wide: true,
        ..page("/dbt-docs", "dbt_docs.html", "dbt docs")
    },
    Page {
        key: "dbt-docs",
        wide: true,
        ..page("/dbt-docs/", "dbt_docs.html", "dbt docs")
    },
];

/// The endpoint that renders `page` for whoever the guard let through.
pub fn endpoint(page: &'static Page) -> impl Endpoint<Output = Response> {
    poem::endpoint::make_sync(move |req: Request| render_page(page, &req))
}

fn render_page(page: &Page, req: &Request) -> Response {
    let principal = req.data::<Principal>();
    if page.route == "/login" && principal.is_some_and(|p| !p.must_change_password) {
        // Already signed in: the sign-in form has nothing to do.
        return Response::builder()
            .status(StatusCode::FOUND)
            .header("Location", "/")
            .finish();
    }
    let shown = principal.filter(|_| !page.public);
    let html = render::render(
        page.template,
        context! {
            ..layout(page.title, page.key, page.wide, shown),
            ..own_context(page, req),
        },
    );
    page_response(StatusCode::OK, html)
}

/// The catalog's layers, as its tabs show them.
const CATALOG_TABS: &[(&str, &str)] = &[
    ("all", "All"),
    ("sources", "Sources"),
    ("staging", "Staging"),
    ("intermediate", "Intermediate"),
    ("marts", "Marts"),
    ("seeds", "Seeds"),
];

/// What a page's own template needs beyond the layout.
fn own_context(page: &Page, req: &Request) -> Value {
    match page.template {
        "query.html" => context! { initial_sql => query_param(req, "sql").unwrap_or_default() },
        "setup.html" => {
            // What this account must still do before it may use the platform.
            let principal = req.data::<Principal>();
            let require_2fa = req
                .data::<std::sync::Arc<crate::state::AppState>>()
                .is_some_and(|state| state.config().auth.require_2fa);
            let needs_password = principal.is_some_and(|p| p.must_change_password);
            let needs_2fa = require_2fa && principal.is_some_and(Principal::lacks_second_factor);
            context! { signed_in => principal.is_some(), needs_password, needs_2fa }
        }
        "catalog.html" => {
            let tabs: Vec<Value> = CATALOG_TABS
                .iter()
                .map(|&(kind, label)| context! { kind, label })
                .collect();
            let selected = req
                .path_params::<String>()
                .map(|name| percent_decoded(&name))
                .unwrap_or_default();
            context! { tabs, selected }
        }
        "script_run.html" => {
            // Decoded by the router: a name with `/` arrives as one percent-encoded segment.
            let (script_name, run_id) = req.path_params::<(String, String)>().unwrap_or_default();
            context! { script_name, run_id }
        }
        _ => context! {},
    }
}

fn percent_decoded(text: &str) -> String {
    urlencoding::decode(text).map_or_else(|_| text.to_string(), |t| t.into_owned())
}

/// What the layout needs: the title, the highlighted entry and the signed-in user.
fn layout(title: &str, key: &str, wide: bool, principal: Option<&Principal>) -> Value {
    let (user, nav, perms) = match principal {
        Some(p) => (
            Value::from(Serde(UserView::of(p))),
            render::nav_for(p),
            render::permissions_of(p),
        ),
        None => (Value::from(()), Vec::<NavItem>::new(), String::new()),
    };
    context! { title, page => key, wide, user, nav => Serde(nav), perms }
}

fn query_param(req: &Request, name: &str) -> Option<String> {
    let query = req.uri().query()?;
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn page_response(status: StatusCode, html: String) -> Response {
    (status, poem::web::Html(html)).into_response()
}

/// The HTML a browser gets instead of a JSON refusal when it navigates to a page:
/// 403, 404 and server errors, with the navigation of the signed-in user when known.
pub fn error_page(status: StatusCode, principal: Option<&Principal>) -> Response {
    let (heading, message) = match status.as_u16() {
        403 => (
            "You don't have access to this page",
            "Your role does not include this part of Dango. Ask an admin if you need it.",
        ),
        404 => ("Page not found", "There is no page at this address."),
        _ => (
            "Something went wrong",
            "The server could not show this page. The error is in the server log; try again in a moment.",
        ),
    };
    let html = render::render(
        "error.html",
        context! {
            ..layout(heading, "error", false, principal),
            ..context! { heading, message, status => status.as_u16() },
        },
    );
    page_response(status, html)
}
