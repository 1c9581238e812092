//! Behind a reverse proxy on the same host, the usual way to serve Dango over HTTPS:
//! forwarded requests are rate limited even though they come from loopback, each real
//! client separately once the proxy is trusted, and the server says when a proxy it
//! does not trust forwards requests.

use crate::common::{TestApp, error_body, json, start_forwarding_proxy};
use dango::auth::Role;
use serde_json::json;

async fn failed_login(client: &reqwest::Client, base: &str, forwarded_for: Option<&str>) -> u16 {
    let mut request = client
        .post(format!("{base}/api/auth/login"))
        .json(&json!({"email": "nobody@example.com", "password": "not-the-password"}));
    if let Some(address) = forwarded_for {
        request = request.header("X-Forwarded-For", address);
    }
    request.send().await.unwrap().status().as_u16()
}

async fn platform_health(app: &TestApp) -> serde_json::Value {
    let admin = app.login_as(Role::Admin).await;
    json(app.get(&admin, "/api/health/platform").await).await
}

#[tokio::test]
async fn logins_through_an_untrusted_proxy_on_loopback_are_rate_limited() {
    let app = TestApp::start().await;
    let proxy = start_forwarding_proxy(app.url("")).await;
    let client = app.anonymous();
    let mut statuses = Vec::new();
    for _ in 0..14 {
        statuses.push(failed_login(&client, &proxy, None).await);
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        4,
        "10 logins a minute, then 429: {statuses:?}"
    );
    // Local scripts and the CLI, talking to the server directly, are still exempt.
    for _ in 0..12 {
        assert_ne!(failed_login(&client, &app.url(""), None).await, 429);
    }
    // The operator is told which proxy to trust.
    let health = platform_health(&app).await;
    let warnings = health["warnings"].as_array().unwrap();
    assert!(
        warnings.iter().any(|w| {
            let w = w.as_str().unwrap();
            w.contains("forwarded by 127.0.0.1") && w.contains("trusted_proxies")
        }),
        "{health}"
    );
}

#[tokio::test]
async fn a_trusted_proxy_limits_each_client_behind_it() {
    let app = TestApp::start_with(|config| {
        config.auth.rate_limit.trusted_proxies = vec!["127.0.0.1".into()];
    })
    .await;
    let proxy = start_forwarding_proxy(app.url("")).await;
    let client = app.anonymous();
    for _ in 0..10 {
        assert_ne!(
            failed_login(&client, &proxy, Some("203.0.113.7")).await,
            429
        );
    }
    let limited = client
        .post(format!("{proxy}/api/auth/login"))
        .header("X-Forwarded-For", "203.0.113.7")
        .json(&json!({"email": "nobody@example.com", "password": "not-the-password"}))
        .send()
        .await
        .unwrap();
    assert!(limited.headers().contains_key("retry-after"));
    error_body(limited, 429).await;
    // another client behind the same proxy has its own budget
    assert_ne!(
        failed_login(&client, &proxy, Some("203.0.113.8")).await,
        429
    );

    let health = platform_health(&app).await;
    assert!(
        !health["warnings"]
            .to_string()
            .contains("not a trusted proxy"),
        "{health}"
    );
}

#[tokio::test]
async fn without_authentication_only_direct_local_clients_are_served() {
    let app = TestApp::start_with(|config| config.auth.enabled = false).await;
    let proxy = start_forwarding_proxy(app.url("")).await;
    let client = app.anonymous();
    let direct = app.get(&client, "/api/config").await;
    assert_eq!(direct.status(), 200);
    let forwarded = client
        .get(format!("{proxy}/api/config"))
        .send()
        .await
        .unwrap();
    assert_eq!(error_body(forwarded, 403).await["code"], "DANGO-S014");
}
