//! OAuth login end to end against an OAuth/OIDC provider served by this test on loopback.

use std::collections::HashMap;

use crate::common::{TestApp, json};
use dango::auth::Role;
use dango::config::project::OAuthProviderConfig;
use poem::web::{Form, Json};
use poem::{
    EndpointExt, Request, Route, get, handler, listener::Acceptor, listener::Listener, post,
};
use serde_json::{Value, json};

#[handler]
fn token(Form(form): Form<HashMap<String, String>>) -> poem::Result<Json<Value>> {
    if form.get("client_secret").map(String::as_str) != Some("s3cret")
        || form.get("grant_type").map(String::as_str) != Some("authorization_code")
        || !form
            .get("redirect_uri")
            .is_some_and(|u| u.ends_with("/api/auth/oauth/acme/callback"))
    {
        return Err(poem::Error::from_status(
            poem::http::StatusCode::UNAUTHORIZED,
        ));
    }
    let token = match form.get("code").map(String::as_str) {
        Some("good-code") => "tok-verified",
        Some("unverified-code") => "tok-unverified",
        Some("stranger-code") => "tok-stranger",
        _ => {
            return Err(poem::Error::from_status(
                poem::http::StatusCode::BAD_REQUEST,
            ));
        }
    };
    Ok(Json(json!({"access_token": token, "token_type": "Bearer"})))
}

#[handler]
fn userinfo(req: &Request) -> poem::Result<Json<Value>> {
    let auth = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let info = match auth {
        "Bearer tok-verified" => {
            json!({"sub": "acme-42", "email": "SSO@example.com", "email_verified": true, "name": "Sso User"})
        }
        "Bearer tok-unverified" => {
            json!({"sub": "acme-43", "email": "sso@example.com", "email_verified": false})
        }
        "Bearer tok-stranger" => {
            json!({"sub": "acme-44", "email": "stranger@example.com", "email_verified": true})
        }
        _ => {
            return Err(poem::Error::from_status(
                poem::http::StatusCode::UNAUTHORIZED,
            ));
        }
    };
    Ok(Json(info))
}

async fn start_provider() -> String {
    let acceptor = poem::listener::TcpListener::bind("127.0.0.1:0")
        .into_acceptor()
        .await
        .unwrap();
    let addr = acceptor.local_addr()[0].as_socket_addr().copied().unwrap();
    let routes = Route::new()
        .at("/token", post(token))
        .at("/userinfo", get(userinfo))
        .map_to_response();
    tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(routes));
    format!("http://{addr}")
}

fn location(response: &reqwest::Response) -> String {
    response.headers()["location"].to_str().unwrap().to_string()
}

async fn begin(app: &TestApp, client: &reqwest::Client) -> String {
    let response = app.get(client, "/api/auth/oauth/acme/login").await;
    assert_eq!(response.status(), 302);
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        cookie.contains("dango_oauth_state=") && cookie.contains("HttpOnly"),
        "{cookie}"
    );
    let target = url::Url::parse(&location(&response)).unwrap();
    let query: HashMap<String, String> = target.query_pairs().into_owned().collect();
    assert_eq!(query["client_id"], "dango-client");
    assert_eq!(query["response_type"], "code");
    assert!(query["redirect_uri"].ends_with("/api/auth/oauth/acme/callback"));
    query["state"].clone()
}

async fn callback(app: &TestApp, client: &reqwest::Client, code: &str, state: &str) -> String {
    let response = client
        .get(app.url("/api/auth/oauth/acme/callback"))
        .query(&[("code", code), ("state", state)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 302);
    location(&response)
}

fn error_of(location: &str) -> String {
    let url = url::Url::parse(&format!("http://x{location}")).unwrap();
    url.query_pairs()
        .find(|(k, _)| k == "error")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

#[tokio::test]
async fn oauth_login_end_to_end() {
    let provider = start_provider().await;
    let app = TestApp::start_with(|c| {
        c.auth.oauth_providers.insert(
            "acme".into(),
            OAuthProviderConfig {
                client_id: "dango-client".into(),
                client_secret: "s3cret".into(),
                display_name: Some("Acme SSO".into()),
                authorize_url: Some(format!("{provider}/authorize")),
                token_url: Some(format!("{provider}/token")),
                userinfo_url: Some(format!("{provider}/userinfo")),
                ..Default::default()
            },
        );
    })
    .await;
    let user = app.user("sso@example.com", Role::Editor).await;

    let providers = json(
        app.anonymous()
            .get(app.url("/api/auth/oauth/providers"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(providers[0]["name"], "acme");
    assert_eq!(providers[0]["display_name"], "Acme SSO");

    // A verified email of an existing account logs in and links the account.
    let client = app.browser();
    let state = begin(&app, &client).await;
    assert_eq!(callback(&app, &client, "good-code", &state).await, "/");
    let me = json(app.get(&client, "/api/auth/me").await).await;
    assert_eq!(me["user"]["id"], user.id.as_str());
    assert_eq!(me["user"]["oauth_provider"], "acme");

    // State mismatch (CSRF): refused.
    let attacker = app.browser();
    begin(&app, &attacker).await;
    let to = callback(&app, &attacker, "good-code", "forged-state").await;
    assert_eq!(error_of(&to), "OAuth state mismatch (possible CSRF)");
    // No state cookie at all: refused.
    let to = callback(&app, &app.browser(), "good-code", &state).await;
    assert_eq!(error_of(&to), "OAuth state mismatch (possible CSRF)");
    // The state is single use: the cookie was cleared by the first callback.
    let to = callback(&app, &client, "good-code", &state).await;
    assert!(to.starts_with("/login?error="), "{to}");

    // Unverified email: refused.
    let c = app.browser();
    let s = begin(&app, &c).await;
    let to = callback(&app, &c, "unverified-code", &s).await;
    assert_eq!(
        error_of(&to),
        "Your email address is not verified with the provider"
    );
    error_code_unauthenticated(&app, &c).await;

    // No account for the email: refused, and no user is created.
    let c = app.browser();
    let s = begin(&app, &c).await;
    let to = callback(&app, &c, "stranger-code", &s).await;
    assert_eq!(
        error_of(&to),
        "No account found for this email. Contact your administrator."
    );
    let users = dango::auth::users::list(app.db()).await.unwrap();
    assert!(users.iter().all(|u| u.email != "stranger@example.com"));

    // Provider-side denial and unknown providers.
    let response = app
        .browser()
        .get(app.url("/api/auth/oauth/acme/callback?error=access_denied"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_of(&location(&response)),
        "Login was cancelled or denied by the provider"
    );
    let response = app
        .browser()
        .get(app.url("/api/auth/oauth/nope/login"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_of(&location(&response)),
        "OAuth provider 'nope' is not configured"
    );

    // Deactivated users cannot come in through OAuth either.
    dango::auth::users::deactivate(app.db(), "test", &user.id)
        .await
        .unwrap();
    let c = app.browser();
    let s = begin(&app, &c).await;
    let to = callback(&app, &c, "good-code", &s).await;
    assert_eq!(error_of(&to), "Your account has been deactivated");
}

async fn error_code_unauthenticated(app: &TestApp, client: &reqwest::Client) {
    let me = json(app.get(client, "/api/auth/me").await).await;
    assert_eq!(me["authenticated"], false);
}
