//! Pages and documentation routes: Swagger UI, ReDoc, the OpenAPI document, the
//! server-rendered pages (dashboard, login, first-login password change, invite
//! acceptance, dbt docs) and their static scripts and styles.

use std::sync::Arc;

use poem::endpoint::make_sync;
use poem::http::StatusCode;
use poem::middleware::Compression;
use poem::web::Html;
use poem::{EndpointExt, Response, Route, get, handler};
use poem_openapi::{OpenApi, OpenApiService};

use crate::Error;

mod lineage_graph;
pub mod pages;
pub mod render;

pub use pages::{PAGES, Page, error_page};

/// Scripts and styles under `/static/`: (file name, content type, contents). Pages load
/// their scripts from here, never inline, so the page CSP can refuse inline code.
const STATIC_FILES: &[(&str, &str, &str)] = &[
    (
        "style.css",
        "text/css; charset=utf-8",
        include_str!("assets/style.css"),
    ),
    (
        "dbt-docs.css",
        "text/css; charset=utf-8",
        include_str!("assets/dbt-docs.css"),
    ),
    ("app.js", JS, include_str!("assets/app.js")),
    ("query.js", JS, include_str!("assets/query.js")),
    ("chart.js", JS, include_str!("assets/chart.js")),
    ("grid.js", JS, include_str!("assets/grid.js")),
    ("catalog.js", JS, include_str!("assets/catalog.js")),
    ("lineage.js", JS, include_str!("assets/lineage.js")),
    (
        "sql-highlight.js",
        JS,
        include_str!("assets/sql-highlight.js"),
    ),
    ("home.js", JS, include_str!("assets/home.js")),
    ("sources.js", JS, include_str!("assets/sources.js")),
    (
        "source-status.js",
        JS,
        include_str!("assets/source-status.js"),
    ),
    ("models.js", JS, include_str!("assets/models.js")),
    ("schedules.js", JS, include_str!("assets/schedules.js")),
    ("scripts.js", JS, include_str!("assets/scripts.js")),
    ("script-run.js", JS, include_str!("assets/script-run.js")),
    ("secrets.js", JS, include_str!("assets/secrets.js")),
    ("health.js", JS, include_str!("assets/health.js")),
    ("logs.js", JS, include_str!("assets/logs.js")),
    ("account.js", JS, include_str!("assets/account.js")),
    ("users.js", JS, include_str!("assets/users.js")),
    ("login.js", JS, include_str!("assets/login.js")),
    ("setup.js", JS, include_str!("assets/setup.js")),
    ("invite.js", JS, include_str!("assets/invite.js")),
    ("dbt-docs.js", JS, include_str!("assets/dbt-docs.js")),
];

const JS: &str = "text/javascript; charset=utf-8";

/// Debug builds only: `DANGO_DEV_WEB_DIR=src/web` serves templates and assets from that
/// directory, read on every request, so pages change without a rebuild. Release builds
/// always serve the copies compiled in.
pub fn dev_assets_dir() -> Option<std::path::PathBuf> {
    if cfg!(debug_assertions) {
        std::env::var_os("DANGO_DEV_WEB_DIR").map(std::path::PathBuf::from)
    } else {
        None
    }
}

/// Adds documentation and page routes to `route`.
pub fn routes<T: OpenApi>(
    route: Route,
    service: &OpenApiService<T, ()>,
    spec: Arc<String>,
) -> Route {
    let raw_spec = service.spec();
    // poem-openapi inlines its own spec into the UI pages; serve ours (with access rules).
    let swagger = service.swagger_ui_html().replacen(&raw_spec, &spec, 1);
    let redoc = service.redoc_html().replacen(&raw_spec, &spec, 1);
    let spec_for_endpoint = spec.clone();
    let route = route
        .at(
            "/api/openapi.json",
            make_sync(move |_| {
                Response::builder()
                    .content_type("application/json")
                    .body(spec_for_endpoint.as_str().to_owned())
            }),
        )
        .at("/api/docs", make_sync(move |_| Html(swagger.clone())))
        .at("/api/redoc", make_sync(move |_| Html(redoc.clone())))
        // Pages and their files are compressed for browsers that ask (all do); API
        // answers are not (downloads stream, and scripts rarely ask).
        .at("/static/:file", get(static_file).with(Compression::new()))
        .at("/favicon.ico", get(favicon))
        .at("/manifest.json", get(manifest_json))
        .at("/catalog.json", get(catalog_json))
        .at(
            "/catalog/:name/lineage",
            get(lineage_svg).with(Compression::new()),
        );
    PAGES.iter().fold(route, |route, page| {
        route.at(
            page.route,
            get(pages::endpoint(page)).with(Compression::new()),
        )
    })
}

/// Serves a file of `dbt/target` (404 in the JSON error shape when it is not there yet).
fn artifact(state: &crate::state::AppState, name: &str) -> Response {
    match std::fs::read(state.dbt_target_dir().join(name)) {
        Ok(bytes) => Response::builder()
            .content_type("application/json")
            .body(bytes),
        Err(_) => Error::not_found(format!(
            "{name} does not exist yet: sync a source or run dbt first"
        ))
        .to_response(),
    }
}

#[handler]
fn manifest_json(state: poem::web::Data<&Arc<crate::state::AppState>>) -> Response {
    artifact(&state, "manifest.json")
}

#[handler]
fn catalog_json(state: poem::web::Data<&Arc<crate::state::AppState>>) -> Response {
    artifact(&state, "catalog.json")
}

/// How far a lineage graph reaches from its node (`?upstream=&downstream=`).
#[derive(serde::Deserialize)]
struct Reach {
    #[serde(default = "two")]
    upstream: usize,
    #[serde(default = "two")]
    downstream: usize,
}

fn two() -> usize {
    2
}

/// The lineage graph around a model or source as SVG, for the catalog page to show.
#[handler]
fn lineage_svg(
    state: poem::web::Data<&Arc<crate::state::AppState>>,
    name: poem::web::Path<String>,
    reach: poem::Result<poem::web::Query<Reach>>,
) -> Response {
    let Ok(poem::web::Query(reach)) = reach else {
        return Error::bad_request(format!(
            "upstream and downstream are whole numbers of levels (0–{})",
            lineage_graph::MAX_DEPTH
        ))
        .to_response();
    };
    let Some(artifacts) = state.dbt_artifacts() else {
        return Error::not_found("There is no lineage yet: sync a source or run dbt first")
            .to_response();
    };
    let lineage = crate::catalog::lineage(&artifacts);
    match lineage_graph::draw(&lineage, &name, reach.upstream, reach.downstream) {
        Some(drawing) => Response::builder()
            .content_type("image/svg+xml; charset=utf-8")
            .header("Cache-Control", "no-store")
            .body(render::render(
                "lineage.svg",
                minijinja::context! { focus => name.as_str(), ..minijinja::Value::from(minijinja::value::Serde(&drawing)) },
            )),
        None => Error::not_found(format!("No model or source named '{}'", name.as_str()))
            .to_response(),
    }
}

#[handler]
fn static_file(file: poem::web::Path<String>) -> Response {
    if let Some(dir) = dev_assets_dir() {
        return dev_static_file(&dir, &file);
    }
    match STATIC_FILES
        .iter()
        .find(|(name, _, _)| *name == file.as_str())
    {
        Some((_, content_type, body)) => Response::builder()
            .content_type(*content_type)
            .header("Cache-Control", "public, max-age=3600")
            .body(*body),
        None => Error::not_found(format!("No static file {}", file.as_str())).to_response(),
    }
}

/// Development: any `.js` or `.css` file of the assets directory, read now.
fn dev_static_file(dir: &std::path::Path, name: &str) -> Response {
    let content_type = if name.ends_with(".js") {
        JS
    } else {
        "text/css; charset=utf-8"
    };
    let plain = !name.contains(['/', '\\']) && !name.starts_with('.');
    match std::fs::read(dir.join("assets").join(name)) {
        Ok(body) if plain && (name.ends_with(".js") || name.ends_with(".css")) => {
            Response::builder()
                .content_type(content_type)
                .header("Cache-Control", "no-store")
                .body(body)
        }
        _ => Error::not_found(format!("No static file {name}")).to_response(),
    }
}

#[handler]
fn favicon() -> Response {
    Response::builder().status(StatusCode::NO_CONTENT).finish()
}
