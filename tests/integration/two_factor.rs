//! TOTP second factor: enrollment, login step, replay refusal, recovery codes,
//! attempt cap, disable and regenerate.

use crate::common::{PASSWORD, TestApp, error_body, json};
use dango::auth::Role;
use dango::auth::totp::{code_at, now_unix};
use serde_json::{Value, json};

async fn enroll(app: &TestApp, client: &reqwest::Client) -> (String, Vec<String>) {
    let wrong = app
        .post_json(
            client,
            "/api/auth/2fa/setup",
            json!({"password": "wrong-password-1"}),
        )
        .await;
    assert_eq!(error_body(wrong, 400).await["detail"], "Invalid password");
    let setup = json(
        app.post_json(client, "/api/auth/2fa/setup", json!({"password": PASSWORD}))
            .await,
    )
    .await;
    let secret = setup["secret"].as_str().unwrap().to_string();
    assert_eq!(secret.len(), 32);
    assert!(
        setup["provisioning_uri"]
            .as_str()
            .unwrap()
            .starts_with("otpauth://totp/Dango:")
    );
    // the QR code of that URI, drawn by the server for an <img>
    assert!(
        setup["qr_code"]
            .as_str()
            .unwrap()
            .starts_with("data:image/svg+xml;base64,")
    );
    let codes: Vec<String> = setup["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    assert_eq!(codes.len(), 10);
    let bad = app
        .post_json(
            client,
            "/api/auth/2fa/verify-setup",
            json!({"code": "000000"}),
        )
        .await;
    assert_eq!(
        error_body(bad, 400).await["detail"],
        "Invalid verification code"
    );
    json(
        app.post_json(
            client,
            "/api/auth/2fa/verify-setup",
            json!({"code": code_at(&secret, now_unix()).unwrap()}),
        )
        .await,
    )
    .await;
    (secret, codes)
}

async fn password_step(app: &TestApp, email: &str) -> reqwest::Client {
    let client = app.browser();
    let body = json(app.try_login(&client, email, PASSWORD).await).await;
    assert_eq!(body["status"], "2fa_required");
    assert_eq!(body["requires_2fa"], true);
    assert!(body["user"].is_null());
    client
}

async fn verify(app: &TestApp, client: &reqwest::Client, code: &str) -> reqwest::Response {
    app.post_json(client, "/api/auth/2fa/verify", json!({"code": code}))
        .await
}

#[tokio::test]
async fn totp_login_refuses_replays_and_partial_sessions_grant_nothing() {
    let app = TestApp::start().await;
    app.user("two@example.com", Role::Editor).await;
    let client = app.login("two@example.com").await;
    let (secret, _) = enroll(&app, &client).await;
    let me = app.me(&client).await;
    assert_eq!(me["user"]["totp_enabled"], true);

    let partial = password_step(&app, "two@example.com").await;
    // a partial session is not a login
    error_body(app.get(&partial, "/api/config").await, 401).await;
    let me = app.me(&partial).await;
    assert_eq!(me["authenticated"], false);

    // The setup code consumed the current step: the same code is a replay.
    let now = now_unix();
    let replay = verify(&app, &partial, &code_at(&secret, now).unwrap()).await;
    assert_eq!(
        error_body(replay, 400).await["detail"],
        "Invalid verification code"
    );
    // the next step's code (within the ±1 window) works once
    let next_code = code_at(&secret, now + 30).unwrap();
    let ok: Value = json(verify(&app, &partial, &next_code).await).await;
    assert_eq!(ok["status"], "ok");
    assert_eq!(ok["user"]["email"], "two@example.com");
    assert_eq!(app.get(&partial, "/api/config").await.status(), 200);

    // a second login cannot reuse that code
    let again = password_step(&app, "two@example.com").await;
    error_body(verify(&app, &again, &next_code).await, 400).await;
    // no partial cookie at all → 401
    error_body(verify(&app, &app.browser(), "123456").await, 401).await;
}

#[tokio::test]
async fn recovery_codes_are_single_use_and_five_wrong_codes_end_the_attempt() {
    let app = TestApp::start().await;
    app.user("recovery-user@example.com", Role::Viewer).await;
    let client = app.login("recovery-user@example.com").await;
    let (secret, codes) = enroll(&app, &client).await;

    let partial = password_step(&app, "recovery-user@example.com").await;
    let lower = codes[0].to_lowercase();
    json(verify(&app, &partial, &lower).await).await;

    let partial = password_step(&app, "recovery-user@example.com").await;
    error_body(verify(&app, &partial, &codes[0]).await, 400).await;
    json(verify(&app, &partial, &codes[1].replace('-', "")).await).await;

    let partial = password_step(&app, "recovery-user@example.com").await;
    for _ in 0..4 {
        error_body(verify(&app, &partial, "999999").await, 400).await;
    }
    let last = verify(&app, &partial, "999999").await;
    assert_eq!(
        error_body(last, 401).await["detail"],
        "Too many failed attempts. Please log in again."
    );
    // the partial session is gone even with a right code
    let right = code_at(&secret, now_unix() + 30).unwrap();
    error_body(verify(&app, &partial, &right).await, 401).await;

    let admin = app.login_as(Role::Admin).await;
    let audit = app
        .get_json(&admin, "/api/audit?event=recovery_code_used")
        .await;
    assert_eq!(audit["total"], 2);
}

#[tokio::test]
async fn setup_guards_disable_and_regenerate() {
    let app = TestApp::start().await;
    app.user("guard@example.com", Role::Admin).await;
    let client = app.login("guard@example.com").await;
    let no_setup = app
        .post_json(
            &client,
            "/api/auth/2fa/verify-setup",
            json!({"code": "123456"}),
        )
        .await;
    assert!(
        error_body(no_setup, 400).await["detail"]
            .as_str()
            .unwrap()
            .contains("No pending 2FA setup")
    );
    let (secret, old_codes) = enroll(&app, &client).await;
    let twice = app
        .post_json(
            &client,
            "/api/auth/2fa/setup",
            json!({"password": PASSWORD}),
        )
        .await;
    assert!(
        error_body(twice, 400).await["detail"]
            .as_str()
            .unwrap()
            .contains("already enabled")
    );

    let now = now_unix();
    let regenerated = json(
        app.post_json(
            &client,
            "/api/auth/2fa/regenerate-recovery",
            json!({"password": PASSWORD, "code": code_at(&secret, now + 30).unwrap()}),
        )
        .await,
    )
    .await;
    let new_codes = regenerated["recovery_codes"].as_array().unwrap();
    assert_eq!(new_codes.len(), 10);
    // old codes no longer work, new ones do
    let partial = password_step(&app, "guard@example.com").await;
    error_body(verify(&app, &partial, &old_codes[0]).await, 400).await;
    json(verify(&app, &partial, new_codes[0].as_str().unwrap()).await).await;

    let bad = app
        .post_json(
            &client,
            "/api/auth/2fa/disable",
            json!({"password": "nope-nope-1"}),
        )
        .await;
    error_body(bad, 400).await;
    json(
        app.post_json(
            &client,
            "/api/auth/2fa/disable",
            json!({"password": PASSWORD}),
        )
        .await,
    )
    .await;
    app.login("guard@example.com").await;
}

/// With `auth.require_2fa`, a signed-in account without a second factor reaches only its
/// enrolment (and who it is, signing out); pages send it to /setup, and it cannot mint
/// an API key to get around it. Once enrolled, all is open. A key made before 2FA was
/// required is a credential of its own and keeps working.
#[tokio::test]
async fn required_2fa_holds_an_unenrolled_session_at_enrolment() {
    let app = TestApp::start_with(|config| config.auth.require_2fa = true).await;
    let email = "later@example.com";
    let user = app.user(email, Role::Editor).await;
    let new_key = dango::auth::api_keys::NewKey {
        name: "made earlier",
        expires_at: None,
        role_cap: None,
    };
    let (key, _) = dango::auth::api_keys::create(app.db(), &user, Role::Editor, new_key)
        .await
        .unwrap();
    let client = app.login(email).await;
    let minted = app
        .post_json(&client, "/api/auth/api-keys", json!({"name": "way around"}))
        .await;
    assert_eq!(error_body(minted, 403).await["code"], "DANGO-S015");

    let refused = app.get(&client, "/api/sources").await;
    let body = error_body(refused, 403).await;
    assert_eq!(body["code"], "DANGO-S015", "{body}");
    assert_eq!(app.get(&client, "/api/auth/me").await.status(), 200);
    let page = app.page_browser(email).await;
    let answer = page.get(app.url("/sources")).send().await.unwrap();
    assert_eq!(answer.status(), 302);
    assert_eq!(answer.headers()["location"], "/setup");
    assert_eq!(app.status_with_key(&key, "/api/sources").await, 200);

    enroll(&app, &client).await;
    assert_eq!(app.get(&client, "/api/sources").await.status(), 200);
}
