//! The request guard, in front of every route: client address, rate limits, body size,
//! credentials (session cookie or API key), the route's access rule, the
//! must-change-password gate and CSRF. Everything it refuses is answered in the JSON
//! error shape (or, for a browser opening a page, a redirect to the login page).

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use poem::http::{Method, StatusCode, header};
use poem::{Body, Endpoint, IntoResponse, Middleware, Request, Response};
use serde_json::json;

use super::access::{self, Access};
use super::context::RequestContext;
use super::error::poem_error_to_response;
use super::headers;
use super::schema::Contract;
use crate::auth::audit::{self, AuditEvent};
use crate::auth::rate_limit::RateGroup;
use crate::auth::sessions::{COOKIE_NAME, SessionPolicy};
use crate::auth::{AuthMethod, Principal, api_keys, users as accounts};
use crate::client_address::{ClientAddress, trusted_proxies};
use crate::config::ProjectConfig;
use crate::error::{Error, ErrorKind, code};
use crate::state::AppState;

/// JSON bodies larger than this are refused with 413.
pub const JSON_BODY_LIMIT: usize = 1024 * 1024;
/// Uploads (multipart) may be up to 100 MB of file plus form overhead.
pub const UPLOAD_BODY_LIMIT: usize = 100 * 1024 * 1024 + 64 * 1024;

/// What a session that must change its password may still do.
pub(crate) const ALLOWED_BEFORE_PASSWORD_CHANGE: &[&str] = &[
    "/api/auth/change-password",
    "/api/auth/me",
    "/api/auth/logout",
];

/// With `auth.require_2fa`, what a signed-in account without a second factor may reach
/// before enrolling one (a forced password change comes first).
pub(crate) const ALLOWED_BEFORE_2FA_SETUP: &[&str] = &[
    "/api/auth/2fa/setup",
    "/api/auth/2fa/verify-setup",
    "/api/auth/change-password",
    "/api/auth/me",
    "/api/auth/logout",
];

/// Paths outside the API rate limit (health checks, docs, the live event socket).
const UNLIMITED_PREFIXES: &[&str] = &[
    "/api/status",
    "/api/watcher/status",
    "/api/health",
    "/api/docs",
    "/api/redoc",
];

pub struct Guard {
    pub state: Arc<AppState>,
    /// The published document, which request bodies must satisfy.
    pub contract: Arc<Contract>,
}

impl<E: Endpoint> Middleware<E> for Guard {
    type Output = GuardEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        GuardEndpoint {
            inner,
            state: self.state.clone(),
            contract: self.contract.clone(),
        }
    }
}

pub struct GuardEndpoint<E> {
    inner: E,
    state: Arc<AppState>,
    contract: Arc<Contract>,
}

impl<E: Endpoint> Endpoint for GuardEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        let config = self.state.config();
        let trusted = trusted_proxies(&config.auth.rate_limit.trusted_proxies);
        let client = ClientAddress::of(
            Self::peer_ip(&req),
            req.headers(),
            req.uri().scheme_str() == Some("https"),
            &trusted,
        );
        self.state.untrusted_forwarders.record(&client);
        let path = req.uri().path().to_string();
        let method = req.method().clone();
        let html_page = wants_html_page(&req, &path);
        let mut response = match self.check(req, &config, &client).await {
            Ok(req) => {
                let principal = req.data::<Principal>().cloned();
                let response = match self.inner.call(req).await {
                    Ok(output) => output.into_response(),
                    Err(err) => unrouted(err, &method, &path),
                };
                if html_page {
                    as_page(response, principal.as_ref())
                } else {
                    response
                }
            }
            Err(refusal) if html_page => as_page(*refusal, None),
            Err(refusal) => *refusal,
        };
        if changes_state(&method, &path) {
            // Whatever it changed (a revoked key, a deactivated user, a new role) holds
            // for every request that starts once this one has answered.
            self.state.credentials.invalidate();
        }
        headers::secure(&mut response, &path, client.https);
        Ok(response)
    }
}

/// A browser navigating to a page gets a page for a refusal or an error (403, 404,
/// 5xx), never the API's JSON.
fn as_page(response: Response, principal: Option<&Principal>) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let shown = status == StatusCode::FORBIDDEN
        || status == StatusCode::NOT_FOUND
        || status.is_server_error();
    if is_json && shown {
        crate::web::error_page(status, principal)
    } else {
        response
    }
}

/// An error no handler turned into a response: routing (404, 405 with `Allow`), parsing
/// (400, 415).
fn unrouted(err: poem::Error, method: &Method, path: &str) -> Response {
    let status = err.status();
    if status == StatusCode::METHOD_NOT_ALLOWED {
        tracing::debug!(%method, path, "method not allowed");
        return method_not_allowed(path);
    }
    poem_error_to_response(err)
}

/// 405 with the methods the path takes in `Allow`.
fn method_not_allowed(path: &str) -> Response {
    let mut response = Error::new(ErrorKind::MethodNotAllowed, "Method not allowed").to_response();
    if let Ok(value) = access::methods_for(path).join(", ").parse() {
        response.headers_mut().insert(header::ALLOW, value);
    }
    response
}

fn header_str<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

fn cookie_value(req: &Request, name: &str) -> Option<String> {
    req.headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

fn bearer_token(req: &Request) -> Option<String> {
    let value = header_str(req, "authorization")?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_string())
}

fn is_mutating(method: &Method) -> bool {
    !matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    )
}

/// Posts that only read: a query, and MCP's envelope (each tool call inside it is a
/// request of its own through this guard, which judges that call).
const READ_ONLY_POSTS: &[&str] = &["/api/query", "/mcp"];

/// Requests that may change who can do what. Every write is a request that is not a
/// read (but the read-only posts), and the OAuth callback, which signs a user in (and may
/// link an account).
fn changes_state(method: &Method, path: &str) -> bool {
    let read_only_post = *method == Method::POST && READ_ONLY_POSTS.contains(&path);
    (is_mutating(method) && !read_only_post)
        || (path.starts_with("/api/auth/oauth/") && path.ends_with("/callback"))
}

fn wants_html_page(req: &Request, path: &str) -> bool {
    !path.starts_with("/api/")
        && header_str(req, "x-requested-with").is_none()
        && header_str(req, "accept").is_some_and(|a| a.contains("text/html"))
}

impl<E> GuardEndpoint<E> {
    fn peer_ip(req: &Request) -> IpAddr {
        req.remote_addr()
            .as_socket_addr()
            .map(|addr| addr.ip())
            .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))
    }

    async fn check(
        &self,
        mut req: Request,
        config: &ProjectConfig,
        client: &ClientAddress,
    ) -> Result<Request, Box<Response>> {
        let path = req.uri().path().to_string();
        let method = req.method().clone();
        let ip = client.ip;

        self.rate_limit(config, &method, &path, client)?;
        let Some(access) = access::lookup(method.as_str(), &path).or_else(|| {
            // A path the server has, asked with a method it does not serve there: say
            // which methods it takes (the document is public), whoever is asking.
            access::methods_for(&path)
                .is_empty()
                .then_some(Access::Authenticated)
        }) else {
            return Err(method_not_allowed(&path).into());
        };

        let session_cookie = cookie_value(&req, COOKIE_NAME);
        let (principal, via_cookie) = if config.auth.enabled {
            self.authenticate(&req, config, session_cookie.as_deref(), access, client)
                .await?
        } else if client.is_local() {
            (Some(Principal::local_admin()), false)
        } else if access.checked_by_handler() {
            (None, false)
        } else {
            // Without authentication every caller is an admin: only this machine may call,
            // never a client a reverse proxy forwards.
            return Err(Error::forbidden(
                "Authentication is disabled, so this server answers only local clients; \
                 requests through a proxy are refused. Turn it on with `dango auth enable`.",
            )
            .with_code(code::LOCAL_CLIENTS_ONLY)
            .into());
        };

        if let Access::Authenticated | Access::Permission(_) = access {
            let Some(principal) = &principal else {
                if wants_html_page(&req, &path) {
                    let asked = req
                        .uri()
                        .path_and_query()
                        .map_or(path.as_str(), |p| p.as_str());
                    let next = urlencoding::encode(asked).into_owned();
                    return Err(redirect(&format!("/login?next={next}")).into());
                }
                return Err(Error::unauthenticated("Authentication required").into());
            };
            if principal.must_change_password
                && !ALLOWED_BEFORE_PASSWORD_CHANGE.contains(&path.as_str())
            {
                if wants_html_page(&req, &path) {
                    return Err(redirect("/setup").into());
                }
                return Err(
                    Error::forbidden("You must change your password before continuing")
                        .with_code(code::PASSWORD_CHANGE_REQUIRED)
                        .into(),
                );
            }
            if config.auth.require_2fa
                && principal.lacks_second_factor()
                && !ALLOWED_BEFORE_2FA_SETUP.contains(&path.as_str())
            {
                if wants_html_page(&req, &path) {
                    return Err(redirect("/setup").into());
                }
                return Err(Error::forbidden(
                    "This platform requires two-factor authentication: set it up before continuing",
                )
                .with_code(code::TWO_FACTOR_SETUP_REQUIRED)
                .into());
            }
            if let Access::Permission(permission) = access
                && !principal.can(permission)
            {
                let page = wants_html_page(&req, &path)
                    .then(|| crate::web::error_page(StatusCode::FORBIDDEN, Some(principal)));
                audit::record(
                    &self.state.db,
                    AuditEvent::new("permission_denied")
                        .actor(principal)
                        .ip(ip)
                        .details(json!({"permission": permission.as_str(), "method": method.as_str(), "path": path})),
                )
                .await;
                return Err(page
                    .unwrap_or_else(|| {
                        Error::forbidden(format!("Permission denied: {permission}")).to_response()
                    })
                    .into());
            }
        }

        if via_cookie && is_mutating(&method) && !csrf_ok(&req) {
            return Err(Error::forbidden("CSRF validation failed")
                .with_code(code::CSRF_FAILED)
                .into());
        }

        // Only after the caller is known to be allowed: a refusal must not depend on the body.
        if takes_body(&method) {
            enforce_body_limit(&mut req, &path).await?;
            self.check_json_body(&mut req, &method, &path).await?;
        }

        let secure = client.https;
        let host = header_str(&req, "host").unwrap_or("localhost").to_string();
        let context = RequestContext {
            principal,
            client_ip: ip,
            user_agent: header_str(&req, "user-agent").map(str::to_string),
            secure,
            session_cookie,
            origin: format!("{}://{host}", if secure { "https" } else { "http" }),
        };
        if let Some(principal) = &context.principal {
            // Pages read who is signed in without knowing the API's context type.
            req.set_data(principal.clone());
        }
        req.set_data(context);
        Ok(req)
    }

    /// A JSON body must be what the document declares for the operation: the right types
    /// (no number where a string is declared), values of closed sets, required fields.
    async fn check_json_body(
        &self,
        req: &mut Request,
        method: &Method,
        path: &str,
    ) -> Result<(), Box<Response>> {
        let is_json = header_str(req, "content-type")
            .and_then(|v| v.split(';').next())
            .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"));
        let Some(schema) = self
            .contract
            .operation(method.as_str(), path)
            .and_then(|(_, operation)| self.contract.json_request_schema(operation))
        else {
            return Ok(());
        };
        if !is_json {
            return Ok(()); // poem-openapi answers 415
        }
        let bytes = req
            .take_body()
            .into_bytes_limit(JSON_BODY_LIMIT)
            .await
            .map_err(|_| {
                Error::too_large(format!(
                    "Request body too large (limit {JSON_BODY_LIMIT} bytes)"
                ))
            })?;
        let invalid = |detail: String| Box::<Response>::from(Error::bad_request(detail));
        let value: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|err| invalid(format!("The request body is not valid JSON: {err}")))?;
        let problems = self.contract.check(schema, &value, "body");
        if !problems.is_empty() {
            return Err(invalid(format!(
                "Invalid request body: {}",
                problems.join("; ")
            )));
        }
        req.set_body(Body::from(bytes));
        Ok(())
    }

    fn rate_limit(
        &self,
        config: &ProjectConfig,
        method: &Method,
        path: &str,
        client: &ClientAddress,
    ) -> Result<(), Box<Response>> {
        let limits = &config.auth.rate_limit;
        let ip = client.ip;
        // Only a direct local client is exempt: behind a proxy on this host every
        // client's TCP peer is loopback too.
        if !limits.enabled
            || *method == Method::OPTIONS
            || (limits.exempt_loopback && client.is_local())
        {
            return Ok(());
        }
        let (group, window) = match rate_group(path) {
            Some(RateGroup::Login) => (RateGroup::Login, limits.login),
            Some(RateGroup::Api) => (RateGroup::Api, limits.api),
            None => return Ok(()),
        };
        self.state
            .rate_limiter
            .hit(group, ip, window)
            .map_err(|retry_after| {
                tracing::warn!(%ip, path, "rate limit hit");
                crate::Error::new(
                    crate::ErrorKind::TooManyRequests,
                    "Too many requests. Please try again later.",
                )
                .with_retry_after(retry_after)
                .to_response()
                .into()
            })
    }

    /// The caller, and whether the session cookie (rather than an API key) proved it.
    async fn authenticate(
        &self,
        req: &Request,
        config: &ProjectConfig,
        session_cookie: Option<&str>,
        access: Access,
        client: &ClientAddress,
    ) -> Result<(Option<Principal>, bool), Box<Response>> {
        let db = &self.state.db;
        let internal = |err: crate::Error| err.to_response();
        if let Some(token) = session_cookie
            && let Some((session, user)) = self
                .state
                .credentials
                .session(db, token, SessionPolicy::from_config(&config.auth))
                .await
                .map_err(internal)?
        {
            let principal = Principal {
                role: accounts::role_of(&user),
                user_id: user.id.clone(),
                email: user.email.clone(),
                display_name: user.display_name.clone(),
                method: AuthMethod::Session {
                    session_id: session.id,
                },
                must_change_password: user.must_change_password,
                account: Some(Arc::new(user)),
            };
            return Ok((Some(principal), true));
        }
        if let Some(token) = bearer_token(req)
            && token.starts_with(crate::cli_token::TOKEN_PREFIX)
        {
            let expected = self
                .state
                .cli_token_hash
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .clone();
            if client.is_local()
                && expected.is_some_and(|hash| crate::cli_token::matches(&token, &hash))
            {
                return Ok((Some(Principal::local_cli()), false));
            }
            if access.checked_by_handler() {
                return Ok((None, false));
            }
            return Err(Error::unauthenticated("Invalid CLI token")
                .with_code(code::INVALID_TOKEN)
                .into());
        }
        if let Some(token) = bearer_token(req)
            && token.starts_with(crate::auth::run_keys::RUN_KEY_PREFIX)
        {
            if let Some(principal) = self.state.run_keys.principal(&token) {
                return Ok((Some(principal), false));
            }
            if access.checked_by_handler() {
                return Ok((None, false));
            }
            return Err(Error::unauthenticated(
                "Invalid run key: it works only while its script runs",
            )
            .with_code(code::INVALID_TOKEN)
            .into());
        }
        if let Some(token) = bearer_token(req) {
            match self
                .state
                .credentials
                .api_key(db, &token)
                .await
                .map_err(internal)?
            {
                Some((key, user)) => {
                    let principal = Principal {
                        role: api_keys::effective_role(&key, accounts::role_of(&user)),
                        user_id: user.id.clone(),
                        email: user.email.clone(),
                        display_name: user.display_name.clone(),
                        method: AuthMethod::ApiKey { key_id: key.id },
                        must_change_password: user.must_change_password,
                        account: Some(Arc::new(user)),
                    };
                    return Ok((Some(principal), false));
                }
                None if !access.checked_by_handler() => {
                    return Err(
                        Error::unauthenticated("Invalid, expired or revoked API key")
                            .with_code(code::INVALID_TOKEN)
                            .into(),
                    );
                }
                None => {}
            }
        }
        Ok((None, false))
    }
}

/// A cookie-authenticated change must show it comes from our own pages: a custom header
/// (which cross-site forms cannot send) or an `Origin` equal to our host.
fn csrf_ok(req: &Request) -> bool {
    if header_str(req, "x-requested-with").is_some()
        || header_str(req, "x-csrf-protection").is_some()
    {
        return true;
    }
    match (header_str(req, "origin"), header_str(req, "host")) {
        (Some(origin), Some(host)) => url::Url::parse(origin).ok().is_some_and(|u| {
            let origin_host = match u.port() {
                Some(port) => format!("{}:{port}", u.host_str().unwrap_or_default()),
                None => u.host_str().unwrap_or_default().to_string(),
            };
            origin_host == host
        }),
        _ => false,
    }
}

fn redirect(location: &str) -> Response {
    Response::builder()
        .status(StatusCode::FOUND)
        .header(header::LOCATION, location)
        .finish()
}

/// Which rate limit a path counts against, if any.
pub(crate) fn rate_group(path: &str) -> Option<RateGroup> {
    if path == "/api/auth/login" {
        Some(RateGroup::Login)
    } else if path.starts_with("/api/") && !UNLIMITED_PREFIXES.iter().any(|p| path.starts_with(p)) {
        Some(RateGroup::Api)
    } else {
        None
    }
}

/// Methods whose body the server reads (and limits); other bodies are never read.
pub(crate) fn takes_body(method: &Method) -> bool {
    matches!(*method, Method::POST | Method::PUT | Method::PATCH)
}

pub(crate) fn is_upload_path(path: &str) -> bool {
    path.starts_with("/api/sources/") && path.ends_with("/upload-csv")
}

/// 413 for bodies over the route's limit, by `Content-Length` or, for chunked JSON
/// bodies, by reading at most the limit. Uploads are limited again while streamed.
async fn enforce_body_limit(req: &mut Request, path: &str) -> Result<(), Box<Response>> {
    let limit = if is_upload_path(path) {
        UPLOAD_BODY_LIMIT
    } else {
        JSON_BODY_LIMIT
    };
    let too_large = || Error::too_large(format!("Request body too large (limit {limit} bytes)"));
    let declared = header_str(req, "content-length").and_then(|v| v.parse::<usize>().ok());
    match declared {
        Some(length) if length > limit => Err(too_large().into()),
        Some(_) => Ok(()),
        // Uploads are streamed to disk, so their size must be known up front.
        None if is_upload_path(path) => Err(Error::new(
            ErrorKind::LengthRequired,
            "Uploads need a Content-Length header",
        )
        .into()),
        None if header_str(req, "transfer-encoding").is_none() => Ok(()),
        None => {
            let bytes = req
                .take_body()
                .into_bytes_limit(limit)
                .await
                .map_err(|_| too_large())?;
            req.set_body(Body::from(bytes));
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_keep_the_credential_cache_and_writes_drop_it() {
        assert!(!changes_state(&Method::POST, "/api/query"));
        assert!(!changes_state(&Method::POST, "/mcp"));
        assert!(!changes_state(&Method::GET, "/api/auth/me"));
        assert!(changes_state(&Method::POST, "/api/auth/api-keys"));
        assert!(changes_state(&Method::DELETE, "/api/query/history"));
        assert!(changes_state(&Method::PUT, "/api/query"));
        assert!(changes_state(
            &Method::GET,
            "/api/auth/oauth/github/callback"
        ));
    }
}
