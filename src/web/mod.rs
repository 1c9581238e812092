//! Pages and documentation routes: Swagger UI, ReDoc, the OpenAPI document, and the
//! server-rendered pages (login, first-login password change, invite acceptance).

use std::sync::Arc;

use poem::endpoint::make_sync;
use poem::http::StatusCode;
use poem::web::Html;
use poem::{Response, Route, get, handler};
use poem_openapi::OpenApiService;

use crate::api::Api;

const LOGIN_PAGE: &str = include_str!("assets/login.html");
const SETUP_PAGE: &str = include_str!("assets/setup.html");
const INVITE_PAGE: &str = include_str!("assets/invite.html");
const HOME_PAGE: &str = include_str!("assets/home.html");
const DBT_DOCS_PAGE: &str = include_str!("assets/dbt_docs.html");
const STYLE: &str = include_str!("assets/style.css");
const SCRIPT: &str = include_str!("assets/app.js");

/// Adds documentation and page routes to `route`.
pub fn routes(route: Route, service: &OpenApiService<Api, ()>, spec: Arc<String>) -> Route {
    let raw_spec = service.spec();
    // poem-openapi inlines its own spec into the UI pages; serve ours (with access rules).
    let swagger = service.swagger_ui_html().replacen(&raw_spec, &spec, 1);
    let redoc = service.redoc_html().replacen(&raw_spec, &spec, 1);
    let spec_for_endpoint = spec.clone();
    route
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
        .at("/", get(page_home))
        .at("/login", get(page_login))
        .at("/setup", get(page_setup))
        .at("/invite/:token", get(page_invite))
        .at("/static/style.css", get(style))
        .at("/static/app.js", get(script))
        .at("/favicon.ico", get(favicon))
        .at("/dbt-docs", get(page_dbt_docs))
        .at("/dbt-docs/", get(page_dbt_docs))
        .at("/manifest.json", get(manifest_json))
        .at("/catalog.json", get(catalog_json))
}

#[handler]
fn page_home() -> Html<&'static str> {
    Html(HOME_PAGE)
}

#[handler]
fn page_login() -> Html<&'static str> {
    Html(LOGIN_PAGE)
}

#[handler]
fn page_setup() -> Html<&'static str> {
    Html(SETUP_PAGE)
}

#[handler]
fn page_invite() -> Html<&'static str> {
    Html(INVITE_PAGE)
}

#[handler]
fn page_dbt_docs() -> Html<&'static str> {
    Html(DBT_DOCS_PAGE)
}

/// Serves a file of `dbt/target` (404 in the JSON error shape when it is not there yet).
fn artifact(state: &crate::app::AppState, name: &str) -> Response {
    match std::fs::read(state.paths.dbt_dir().join("target").join(name)) {
        Ok(bytes) => Response::builder()
            .content_type("application/json")
            .body(bytes),
        Err(_) => crate::api::error::error_response(
            StatusCode::NOT_FOUND,
            "DANGO-G404",
            &format!("{name} does not exist yet: sync a source or run dbt first"),
            None,
        ),
    }
}

#[handler]
fn manifest_json(state: poem::web::Data<&Arc<crate::app::AppState>>) -> Response {
    artifact(&state, "manifest.json")
}

#[handler]
fn catalog_json(state: poem::web::Data<&Arc<crate::app::AppState>>) -> Response {
    artifact(&state, "catalog.json")
}

#[handler]
fn style() -> Response {
    Response::builder()
        .content_type("text/css; charset=utf-8")
        .header("Cache-Control", "public, max-age=3600")
        .body(STYLE)
}

#[handler]
fn script() -> Response {
    Response::builder()
        .content_type("text/javascript; charset=utf-8")
        .header("Cache-Control", "public, max-age=3600")
        .body(SCRIPT)
}

#[handler]
fn favicon() -> Response {
    Response::builder().status(StatusCode::NO_CONTENT).finish()
}
