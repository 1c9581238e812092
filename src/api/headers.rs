//! Browser security headers, set on every response the server sends (pages, API
//! answers, refusals): no MIME sniffing, no framing, no referrer leaks across origins,
//! a Content Security Policy that lets our pages run only our own scripts, and HSTS
//! when the request came over HTTPS.

use poem::Response;
use poem::http::header::{self, HeaderName, HeaderValue};

/// Pages: our own scripts, styles and API only (inline scripts and `on…=` handlers refused).
const PAGE_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; \
     base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The Swagger UI and ReDoc pages inline their bundles and the spec.
const DOCS_POLICY: &str = "default-src 'self'; script-src 'self' 'unsafe-inline'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; \
     worker-src 'self' blob:; object-src 'none'; base-uri 'none'; form-action 'self'; \
     frame-ancestors 'none'";

/// JSON, CSS, scripts: nothing to run or embed.
const RESOURCE_POLICY: &str = "default-src 'none'; frame-ancestors 'none'";

const HSTS: &str = "max-age=31536000; includeSubDomains";

/// Adds the security headers to `response`, without overriding one a handler chose.
pub fn secure(response: &mut Response, path: &str, https: bool) {
    let is_html = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    let policy = match (is_html, is_docs(path)) {
        (true, true) => DOCS_POLICY,
        (true, false) => PAGE_POLICY,
        (false, _) => RESOURCE_POLICY,
    };
    let headers = response.headers_mut();
    let mut set = |name: HeaderName, value: &'static str| {
        headers
            .entry(name)
            .or_insert(HeaderValue::from_static(value));
    };
    set(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(header::X_FRAME_OPTIONS, "DENY");
    set(header::REFERRER_POLICY, "same-origin");
    set(header::CONTENT_SECURITY_POLICY, policy);
    set(
        HeaderName::from_static("cross-origin-opener-policy"),
        "same-origin",
    );
    if https {
        set(header::STRICT_TRANSPORT_SECURITY, HSTS);
    }
    if path.starts_with("/api/") && !is_docs(path) {
        // Answers carry account data: never kept by a browser or a shared cache.
        set(header::CACHE_CONTROL, "no-store");
    }
}

fn is_docs(path: &str) -> bool {
    path.starts_with("/api/docs") || path.starts_with("/api/redoc")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(content_type: &str) -> Response {
        Response::builder().content_type(content_type).finish()
    }

    #[test]
    fn pages_get_the_strict_policy_and_docs_the_inline_one() {
        let mut page = response("text/html; charset=utf-8");
        secure(&mut page, "/login", false);
        let csp = page.headers()[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap();
        assert!(csp.contains("script-src 'self';") && csp.contains("frame-ancestors 'none'"));
        assert_eq!(page.headers()[header::X_FRAME_OPTIONS], "DENY");
        assert!(
            page.headers()
                .get(header::STRICT_TRANSPORT_SECURITY)
                .is_none()
        );

        let mut docs = response("text/html");
        secure(&mut docs, "/api/docs", true);
        let csp = docs.headers()[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap();
        assert!(csp.contains("'unsafe-inline'"));
        assert!(
            docs.headers()
                .contains_key(header::STRICT_TRANSPORT_SECURITY)
        );

        let mut json = response("application/json");
        secure(&mut json, "/api/auth/me", false);
        assert_eq!(
            json.headers()[header::CONTENT_SECURITY_POLICY],
            RESOURCE_POLICY
        );
        assert_eq!(json.headers()[header::CACHE_CONTROL], "no-store");
        assert_eq!(json.headers()[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    }

    #[test]
    fn a_handlers_own_cache_policy_is_kept() {
        let mut css = Response::builder()
            .content_type("text/css")
            .header(header::CACHE_CONTROL, "public, max-age=3600")
            .finish();
        secure(&mut css, "/static/style.css", false);
        assert_eq!(css.headers()[header::CACHE_CONTROL], "public, max-age=3600");
    }
}
