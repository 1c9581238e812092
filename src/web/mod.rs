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
