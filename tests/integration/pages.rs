//! The pages a signed-in user opens, unknown paths, and the security headers every
//! response carries.

use crate::common::{PASSWORD, TestApp, error_body, start_forwarding_proxy};
use dango::auth::Role;
use reqwest::header::{CONTENT_SECURITY_POLICY, CONTENT_TYPE};
use serde_json::json;

fn concrete(route: &str) -> String {
    route.replace(":token", "an-invite-token")
}

#[tokio::test]
async fn a_signed_in_user_opens_every_page() {
    let app = TestApp::start().await;
    app.user("pages@example.com", Role::Viewer).await;
    let browser = app.page_browser("pages@example.com").await;
    for page in dango::web::PAGES {
        let path = concrete(page.route);
        let response = app.get(&browser, &path).await;
        assert_eq!(response.status(), 200, "GET {path}");
        let content_type = response.headers()[CONTENT_TYPE]
            .to_str()
            .unwrap()
            .to_string();
        assert!(
            content_type.starts_with("text/html"),
            "{path}: {content_type}"
        );
        let body = response.text().await.unwrap();
        assert!(body.contains("<main"), "{path} has a <main> landmark");
    }
}

#[tokio::test]
async fn the_dashboard_opens_after_the_forced_password_change() {
    let app = TestApp::start().await;
    let created = dango::auth::users::create(
        app.db(),
        dango::auth::users::NewUser {
            email: "fresh@example.com",
            role: Role::Admin,
            display_name: None,
            credential: dango::auth::users::Credential::Temporary,
        },
    )
    .await
    .unwrap();
    let temporary = created.temp_password.unwrap();
    let browser = app.page_browser_with("fresh@example.com", &temporary).await;
    let before = app.get(&browser, "/").await;
    assert_eq!(before.status(), 302);
    assert_eq!(before.headers()["location"], "/setup");
    let changed = browser
        .post(app.url("/api/auth/change-password"))
        .header("X-Requested-With", "test")
        .json(&json!({"current_password": temporary, "new_password": "A-Brand-New-Secret-4"}))
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), 200);
    let after = app.get(&browser, "/").await;
    assert_eq!(after.status(), 200);
    assert!(after.text().await.unwrap().contains("<main"));
}

#[tokio::test]
async fn unknown_api_paths_answer_json_and_unknown_pages_a_page() {
    let app = TestApp::start().await;
    app.user("lost@example.com", Role::Viewer).await;
    let browser = app.page_browser("lost@example.com").await;
    // even a browser asking for HTML gets the API's JSON error
    let api = app.get(&browser, "/api/no-such-thing").await;
    assert!(
        api.headers()[CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    assert_eq!(error_body(api, 404).await["code"], "DANGO-G404");
    let page = app.get(&browser, "/no-such-page").await;
    assert_eq!(page.status(), 404);
    assert!(page.text().await.unwrap().contains("Page not found"));
    // a script gets JSON for an unknown page path too
    let script = app.login("lost@example.com").await;
    error_body(app.get(&script, "/no-such-page").await, 404).await;
    // a known path with the wrong method says which methods it has
    let wrong = script
        .put(app.url("/api/auth/api-keys"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.headers()["allow"], "GET, POST");
    error_body(wrong, 405).await;
}

#[tokio::test]
async fn pages_load_no_inline_scripts() {
    // The page CSP allows only our own script files: an inline script would not run.
    for page in dango::web::PAGES {
        let mut rest = page.html;
        while let Some(start) = rest.find("<script") {
            let tag = &rest[start..rest[start..].find('>').map_or(rest.len(), |e| start + e)];
            assert!(
                tag.contains("src=\"/static/"),
                "{}: inline {tag}",
                page.route
            );
            rest = &rest[start + 7..];
        }
        assert!(
            !page.html.contains(" style=\""),
            "{}: style attribute",
            page.route
        );
        assert!(
            !page.html.contains(" onclick="),
            "{}: inline handler",
            page.route
        );
    }
}

#[tokio::test]
async fn every_response_carries_the_browser_security_headers() {
    let app = TestApp::start().await;
    app.user("headers@example.com", Role::Admin).await;
    let browser = app.page_browser("headers@example.com").await;
    let script = app.login("headers@example.com").await;
    let anonymous = app.anonymous();
    let cases = [
        (&browser, "/", "page"),
        (&browser, "/login", "page"),
        (&browser, "/static/app.js", "resource"),
        (&script, "/api/auth/me", "resource"),
        (&anonymous, "/api/sources", "resource"), // a 401 refusal
        (&script, "/api/no-such-thing", "resource"), // a routing 404
        (&browser, "/api/docs", "docs"),
    ];
    for (client, path, kind) in cases {
        let response = app.get(client, path).await;
        let headers = response.headers();
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["x-frame-options"], "DENY", "{path}");
        assert_eq!(headers["referrer-policy"], "same-origin", "{path}");
        let csp = headers[CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        match kind {
            "page" => assert!(
                csp.contains("script-src 'self';") && !csp.contains("unsafe-inline"),
                "{path}: {csp}"
            ),
            "docs" => assert!(csp.contains("script-src 'self' 'unsafe-inline'"), "{csp}"),
            _ => assert!(csp.starts_with("default-src 'none'"), "{path}: {csp}"),
        }
        assert!(
            headers.get("strict-transport-security").is_none(),
            "{path}: no HSTS over plain HTTP"
        );
    }
    let me = app.get(&script, "/api/auth/me").await;
    assert_eq!(me.headers()["cache-control"], "no-store");
}

#[tokio::test]
async fn https_through_a_trusted_proxy_gets_hsts_and_a_secure_cookie() {
    let app = TestApp::start_with(|config| {
        config.auth.rate_limit.trusted_proxies = vec!["127.0.0.1".into()];
    })
    .await;
    app.user("tls@example.com", Role::Viewer).await;
    let proxy = start_forwarding_proxy(app.url("")).await;
    let login = app
        .anonymous()
        .post(format!("{proxy}/api/auth/login"))
        .json(&json!({"email": "tls@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    assert!(
        login.headers()["strict-transport-security"]
            .to_str()
            .unwrap()
            .starts_with("max-age=")
    );
    let cookie = login.headers()["set-cookie"].to_str().unwrap();
    assert!(cookie.contains("Secure"), "{cookie}");
}
