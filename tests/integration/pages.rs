//! The pages a signed-in user opens, unknown paths, and the security headers every
//! response carries.

use crate::common::{PASSWORD, TestApp, error_body, start_forwarding_proxy};
use dango::auth::Role;
use reqwest::header::{CONTENT_SECURITY_POLICY, CONTENT_TYPE};
use serde_json::json;

fn concrete(route: &str) -> String {
    route
        .replace(":token", "an-invite-token")
        .replace(":name", "orders")
}

#[tokio::test]
async fn a_signed_in_user_opens_every_page() {
    let app = TestApp::start().await;
    app.user("pages@example.com", Role::Admin).await;
    let browser = app.page_browser("pages@example.com").await;
    for page in dango::web::PAGES {
        let path = concrete(page.route);
        let response = app.get(&browser, &path).await;
        if path == "/login" {
            // Signed in already: the form has nothing to do.
            assert_eq!(response.status(), 302);
            assert_eq!(response.headers()["location"], "/");
            continue;
        }
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
    let app = TestApp::start().await;
    app.user("inline@example.com", Role::Admin).await;
    let browser = app.page_browser("inline@example.com").await;
    for page in dango::web::PAGES {
        let html = app
            .get(&browser, &concrete(page.route))
            .await
            .text()
            .await
            .unwrap();
        let mut rest = html.as_str();
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
            !html.contains(" style=\""),
            "{}: style attribute",
            page.route
        );
        assert!(
            !html.contains(" onclick="),
            "{}: inline handler",
            page.route
        );
    }
}

#[tokio::test]
async fn the_navigation_shows_only_what_the_role_may_open() {
    let app = TestApp::start().await;
    app.user("nav-viewer@example.com", Role::Viewer).await;
    app.user("nav-editor@example.com", Role::Editor).await;
    let viewer = app.page_browser("nav-viewer@example.com").await;
    let editor = app.page_browser("nav-editor@example.com").await;
    let viewer_home = app.get(&viewer, "/").await.text().await.unwrap();
    // (The template engine writes `/` in attributes as `&#x2f;`.)
    assert!(viewer_home.contains(">Catalog</a>"), "{viewer_home}");
    assert!(!viewer_home.contains(">Query</a>"), "viewers may not query");
    assert!(viewer_home.contains("nav-viewer@example.com"));
    let editor_home = app.get(&editor, "/").await.text().await.unwrap();
    assert!(editor_home.contains(">Query</a>"));
    let current = app.get(&editor, "/query").await.text().await.unwrap();
    assert!(
        current.contains("query\" aria-current=\"page\">Query</a>"),
        "{current}"
    );
}

#[tokio::test]
async fn a_page_the_role_may_not_open_answers_a_403_page_and_scripts_get_json() {
    let app = TestApp::start().await;
    app.user("no-query@example.com", Role::Viewer).await;
    let browser = app.page_browser("no-query@example.com").await;
    let page = app.get(&browser, "/query").await;
    assert_eq!(page.status(), 403);
    assert!(
        page.headers()[CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let body = page.text().await.unwrap();
    assert!(
        body.contains("You don&#x27;t have access") || body.contains("You don't have access"),
        "{body}"
    );
    assert!(body.contains("<nav"), "the 403 page keeps the navigation");
    let script = app.login("no-query@example.com").await;
    error_body(app.get(&script, "/query").await, 403).await;
}

#[tokio::test]
async fn signing_in_again_goes_home_and_a_signed_out_visit_comes_back_after_login() {
    let app = TestApp::start().await;
    app.user("again@example.com", Role::Editor).await;
    let browser = app.page_browser("again@example.com").await;
    let login = app.get(&browser, "/login").await;
    assert_eq!(login.status(), 302);
    assert_eq!(login.headers()["location"], "/");
    let anonymous = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let asked = anonymous
        .get(app.url("/query?sql=SELECT%201"))
        .header("Accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(asked.status(), 302);
    assert_eq!(
        asked.headers()["location"],
        "/login?next=%2Fquery%3Fsql%3DSELECT%25201"
    );
}

#[tokio::test]
async fn text_from_the_address_bar_is_escaped_in_pages() {
    let app = TestApp::start().await;
    app.user("xss-pages@example.com", Role::Admin).await;
    let browser = app.page_browser("xss-pages@example.com").await;
    let attack = "</textarea><script>alert(1)</script>";
    let query = app
        .get(
            &browser,
            &format!("/query?sql={}", urlencoding::encode(attack)),
        )
        .await
        .text()
        .await
        .unwrap();
    assert!(!query.contains("<script>alert(1)"), "{query}");
    assert!(
        query.contains("&lt;&#x2f;textarea&gt;&lt;script&gt;"),
        "{query}"
    );
    let catalog = app
        .get(
            &browser,
            "/catalog/%22%3E%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E",
        )
        .await
        .text()
        .await
        .unwrap();
    assert!(!catalog.contains("<img src=x"), "{catalog}");
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
        (&anonymous, "/login", "page"),
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

#[tokio::test]
async fn pages_and_their_files_are_compressed_for_browsers_that_ask() {
    let app = TestApp::start().await;
    app.user("gzip@example.com", Role::Editor).await;
    let browser = app.page_browser("gzip@example.com").await;
    for path in ["/query", "/static/style.css", "/static/query.js"] {
        let plain = app.get(&browser, path).await.bytes().await.unwrap().len();
        let response = browser
            .get(app.url(path))
            .header("Accept-Encoding", "gzip")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(response.headers()["content-encoding"], "gzip", "{path}");
        let wire = response.bytes().await.unwrap().len();
        assert!(
            wire * 2 < plain,
            "{path}: {wire} bytes on the wire of {plain}"
        );
    }
}
