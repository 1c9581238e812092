//! Authentication: login, lockout, sessions, password change, API keys, invites,
//! CSRF, body limits, error shapes. Runs against SQLite, and against Postgres when
//! `DANGO_TEST_POSTGRES_URL` is set.

use std::time::{Duration, Instant};

use crate::common::{PASSWORD, TestApp, error_body, json};
use dango::auth::Role;
use serde_json::json;

/// A client written against the original reads the user's fields from `me` itself.
#[tokio::test]
async fn me_has_the_users_fields_at_the_top_level_like_the_original() {
    let app = TestApp::start().await;
    app.user("top@example.com", Role::Editor).await;
    let client = app.login("top@example.com").await;
    let me = app.me(&client).await;
    for field in [
        "id",
        "email",
        "display_name",
        "is_active",
        "totp_enabled",
        "oauth_provider",
        "locked_until",
        "last_login",
        "created_at",
        "updated_at",
    ] {
        assert!(me.get(field).is_some(), "{field} missing from {me}");
        assert_eq!(me[field], me["user"][field], "{field}");
    }
    assert_eq!(me["email"], "top@example.com");
    assert_eq!(me["role"], "editor");
    assert_eq!(me["is_active"], true);
    assert_eq!(me["totp_enabled"], false);
}

#[tokio::test]
async fn login_me_logout_round_trip() {
    let app = TestApp::start().await;
    app.user("Admin@Example.com", Role::Admin).await;
    let client = app.browser();

    let me = app.me(&client).await;
    assert_eq!(me["authenticated"], false);
    assert_eq!(me["auth_enabled"], true);

    let response = app
        .try_login(&client, "  admin@EXAMPLE.com ", PASSWORD)
        .await;
    let cookie = response
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .unwrap()
        .to_string();
    assert!(cookie.starts_with("dango_session="), "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    let body = json(response).await;
    assert_eq!(body["status"], "ok");
    assert_eq!(body["user"]["email"], "admin@example.com");
    assert_eq!(body["user"]["role"], "admin");
    assert_eq!(body["user"]["display_name"], "admin");
    assert_eq!(body["must_change_password"], false);
    assert_eq!(body["requires_2fa"], false);
    assert!(body["user"].get("password_hash").is_none());

    let me = app.me(&client).await;
    assert_eq!(me["authenticated"], true);
    assert_eq!(me["auth_method"], "session");
    assert!(
        me["permissions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p == "users.manage")
    );

    json(app.post(&client, "/api/auth/logout").await).await;
    let me = app.me(&client).await;
    assert_eq!(me["authenticated"], false);
    let after = app.get(&client, "/api/config").await;
    error_body(after, 401).await;
}

#[tokio::test]
async fn wrong_password_and_unknown_user_get_the_same_answer() {
    let app = TestApp::start().await;
    app.user("known@example.com", Role::Viewer).await;
    let client = app.anonymous();
    let wrong = app
        .try_login(&client, "known@example.com", "not-the-password")
        .await;
    let wrong = error_body(wrong, 400).await;
    let unknown = app
        .try_login(&client, "ghost@example.com", "not-the-password")
        .await;
    let unknown = error_body(unknown, 400).await;
    assert_eq!(wrong, unknown);
    assert_eq!(wrong["detail"], "Invalid email or password");
}

#[tokio::test]
async fn five_failures_lock_the_account_even_for_the_right_password() {
    let app = TestApp::start().await;
    let user = app.user("victim@example.com", Role::Editor).await;
    let client = app.anonymous();
    let attempt = |password: &'static str| app.try_login(&client, "victim@example.com", password);
    for _ in 0..4 {
        error_body(attempt("wrong-password").await, 400).await;
    }
    let locked = attempt("wrong-password").await;
    assert!(locked.headers().contains_key("retry-after"));
    let body = error_body(locked, 423).await;
    assert!(body["remaining_seconds"].as_u64().unwrap() > 800);
    // The right password is refused while locked.
    error_body(attempt(PASSWORD).await, 423).await;

    // Unknown emails lock the same way (no enumeration through the lockout).
    for _ in 0..4 {
        let r = app
            .try_login(&client, "nobody@example.com", "x-wrong-1")
            .await;
        error_body(r, 400).await;
    }
    let r = app
        .try_login(&client, "nobody@example.com", "x-wrong-1")
        .await;
    error_body(r, 423).await;

    // An admin unlocks; the right password works again.
    let admin = app.login_as(Role::Admin).await;
    let users = app.get_json(&admin, "/api/admin/users").await;
    let listed = users["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["id"] == user.id.as_str())
        .unwrap()
        .clone();
    assert!(listed["locked_until"].is_string());
    json(
        app.post(&admin, &format!("/api/admin/users/{}/unlock", user.id))
            .await,
    )
    .await;
    app.login("victim@example.com").await;

    let audit = app
        .get_json(&admin, "/api/audit?event=account_locked")
        .await;
    assert!(audit["total"].as_u64().unwrap() >= 2, "{audit}");
}

#[tokio::test]
async fn login_rate_limit_answers_429_with_retry_after() {
    let app = TestApp::start_with(|c| {
        c.auth.rate_limit.exempt_loopback = false;
        c.auth.rate_limit.login.requests = 3;
    })
    .await;
    let client = app.anonymous();
    for i in 0..3 {
        let r = app
            .try_login(&client, &format!("u{i}@example.com"), "whatever-1")
            .await;
        assert_eq!(r.status(), 400);
    }
    let limited = app.try_login(&client, "u9@example.com", "whatever-1").await;
    let retry: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=61).contains(&retry));
    let body = error_body(limited, 429).await;
    assert_eq!(body["code"], "DANGO-W002");
}

#[tokio::test]
async fn api_rate_limit_per_client() {
    let app = TestApp::start_with(|c| {
        c.auth.rate_limit.exempt_loopback = false;
        c.auth.rate_limit.api.requests = 5;
    })
    .await;
    let key = app.api_key(Role::Viewer, None).await;
    let client = app.anonymous();
    let mut statuses = vec![];
    for _ in 0..8 {
        statuses.push(
            client
                .get(app.url("/api/config"))
                .bearer_auth(&key)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16(),
        );
    }
    assert!(statuses.contains(&429), "{statuses:?}");
    // health checks are not rate limited
    assert_eq!(app.get(&client, "/api/status").await.status(), 200);
}

#[tokio::test]
async fn change_password_rotates_the_session_and_checks_strength() {
    let app = TestApp::start().await;
    app.user("jane@example.com", Role::Editor).await;
    let client = app.login("jane@example.com").await;
    let other_device = app.login("jane@example.com").await;

    let weak = app.change_password(&client, PASSWORD, "password1").await;
    let body = error_body(weak, 400).await;
    assert_eq!(body["detail"], "Password is too weak");
    assert!(body["issues"][0].as_str().unwrap().contains("common"));

    for (current, new, message) in [
        (
            "wrong-current-1",
            "Another-Strong-Pass-7",
            "Current password is incorrect",
        ),
        (
            PASSWORD,
            PASSWORD,
            "New password must be different from current password",
        ),
        (PASSWORD, "short", "Password is too weak"),
        (PASSWORD, "jane@example.com", "Password is too weak"),
    ] {
        let r = app.change_password(&client, current, new).await;
        assert_eq!(error_body(r, 400).await["detail"], message);
    }

    let ok = app
        .change_password(&client, PASSWORD, "Another-Strong-Pass-7")
        .await;
    assert!(
        ok.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .starts_with("dango_session=")
    );
    json(ok).await;
    // this client got a new session; the other device was logged out
    assert_eq!(app.get(&client, "/api/config").await.status(), 200);
    error_body(app.get(&other_device, "/api/config").await, 401).await;
}

#[tokio::test]
async fn must_change_password_is_enforced_by_the_server() {
    let app = TestApp::start().await;
    let admin = app.login_as(Role::Admin).await;
    let created = json(
        app.create_user(
            &admin,
            json!({"email": "temp@example.com", "role": "editor", "generate_password": true}),
        )
        .await,
    )
    .await;
    let temp = created["temp_password"].as_str().unwrap().to_string();
    assert_eq!(created["user"]["must_change_password"], true);
    assert!(created["invite_url"].is_null());

    let client = app.browser();
    let login = json(app.try_login(&client, "temp@example.com", &temp).await).await;
    assert_eq!(login["must_change_password"], true);
    // Everything but me / change-password / logout is refused.
    let body = error_body(app.get(&client, "/api/config").await, 403).await;
    assert_eq!(body["code"], "DANGO-S010");
    error_body(
        app.post_json(&client, "/api/auth/api-keys", json!({"name": "k"}))
            .await,
        403,
    )
    .await;
    app.me(&client).await;
    json(
        app.change_password(&client, &temp, "My-Own-Password-42")
            .await,
    )
    .await;
    assert_eq!(app.get(&client, "/api/config").await.status(), 200);
}

#[tokio::test]
async fn sessions_list_and_revoke() {
    let app = TestApp::start().await;
    app.user("multi@example.com", Role::Viewer).await;
    let a = app.login("multi@example.com").await;
    let b = app.login("multi@example.com").await;
    let sessions = app.get_json(&a, "/api/auth/sessions").await;
    let sessions = sessions.as_array().unwrap();
    assert_eq!(sessions.len(), 2);
    let current = sessions.iter().find(|s| s["is_current"] == true).unwrap();
    let other = sessions.iter().find(|s| s["is_current"] == false).unwrap();
    let session =
        |s: &serde_json::Value| format!("/api/auth/sessions/{}", s["id"].as_str().unwrap());
    let own = app.delete(&a, &session(current)).await;
    assert_eq!(
        error_body(own, 400).await["detail"],
        "Cannot revoke current session. Use logout."
    );
    json(app.delete(&a, &session(other)).await).await;
    error_body(app.get(&b, "/api/config").await, 401).await;
    // someone else's session id is not found
    let stranger = app.login_as(Role::Viewer).await;
    let r = app.delete(&stranger, &session(current)).await;
    error_body(r, 404).await;
}

#[tokio::test]
async fn api_keys_cap_expire_revoke_and_track_use() {
    let app = TestApp::start().await;
    let admin = app.login_as(Role::Admin).await;
    let created = app
        .create_api_key(&admin, json!({"name": "ci", "role": "viewer"}))
        .await;
    let key = created["key"].as_str().unwrap().to_string();
    assert!(key.starts_with("dango_ak_") && key.len() == 52, "{key}");
    assert_eq!(created["key_prefix"].as_str().unwrap(), &key[..12]);
    assert_eq!(created["role"], "viewer");

    let me = json(app.get_with_key(&key, "/api/auth/me").await).await;
    assert_eq!(me["role"], "viewer");
    assert_eq!(me["auth_method"], "api_key");
    assert_eq!(me["user"]["role"], "admin");
    // capped at viewer: admin endpoints refused
    error_body(app.get_with_key(&key, "/api/admin/users").await, 403).await;
    // and it cannot mint a stronger key
    let escalate = app
        .post_json_with_key(
            &key,
            "/api/auth/api-keys",
            json!({"name": "up", "role": "admin"}),
        )
        .await;
    error_body(escalate, 403).await;
    let child = json(
        app.post_json_with_key(&key, "/api/auth/api-keys", json!({"name": "child"}))
            .await,
    )
    .await;
    assert_eq!(child["role"], "viewer");

    let listed = app.get_json(&admin, "/api/auth/api-keys").await;
    let entry = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == created["id"])
        .unwrap();
    assert!(entry.get("key").is_none());
    assert!(entry["last_used_at"].is_string(), "{entry}");

    // an editor cannot create an admin-capped key
    let editor = app.login_as(Role::Editor).await;
    let r = app
        .post_json(
            &editor,
            "/api/auth/api-keys",
            json!({"name": "x", "role": "admin"}),
        )
        .await;
    error_body(r, 403).await;
    let r = app
        .post_json(
            &editor,
            "/api/auth/api-keys",
            json!({"name": "x", "expires_at": "2001-01-01T00:00:00Z"}),
        )
        .await;
    error_body(r, 400).await;

    // revoke: the key stops working at once; someone else's key id is 404
    let revoke = format!("/api/auth/api-keys/{}", created["id"].as_str().unwrap());
    let r = app.delete(&editor, &revoke).await;
    error_body(r, 404).await;
    json(app.delete(&admin, &revoke).await).await;
    let r = app.get_with_key(&key, "/api/config").await;
    assert_eq!(error_body(r, 401).await["code"], "DANGO-S005");
    let r = app.get_with_key("dango_ak_forged", "/api/config").await;
    error_body(r, 401).await;
}

#[tokio::test]
async fn api_key_is_refused_from_the_moment_it_expires() {
    let app = TestApp::start().await;
    let editor = app.login_as(Role::Editor).await;
    let expires_at = chrono::Utc::now() + chrono::Duration::milliseconds(1500);
    let created = app
        .create_api_key(
            &editor,
            json!({"name": "short-lived", "expires_at": expires_at}),
        )
        .await;
    let key = created["key"].as_str().unwrap().to_string();
    let status = || app.status_with_key(&key, "/api/config");
    // Used (and so remembered by the server) until just before it expires...
    while chrono::Utc::now() < expires_at - chrono::Duration::milliseconds(100) {
        assert_eq!(status().await, 200);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // ...and refused right after, without waiting for anything to be forgotten.
    tokio::time::sleep(
        (expires_at - chrono::Utc::now())
            .to_std()
            .unwrap_or_default(),
    )
    .await;
    assert_eq!(status().await, 401);
}

/// `dango auth` in another process writes the database directly; the server, which
/// remembers credentials it checked for a moment, must not honour the old state for
/// longer than that moment.
#[tokio::test]
async fn a_user_deactivated_by_another_process_is_refused_within_a_second() {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
    let app = TestApp::start().await;
    let key = app.api_key(Role::Editor, None).await;
    let status = || app.status_with_key(&key, "/api/config");
    assert_eq!(status().await, 200);
    dango_entity::users::Entity::update_many()
        .col_expr(dango_entity::users::Column::IsActive, Expr::value(false))
        .filter(dango_entity::users::Column::Role.eq("editor"))
        .exec(app.db())
        .await
        .unwrap();
    let changed = Instant::now();
    let limit = dango::auth::credentials::CredentialCache::MAX_AGE;
    while status().await != 401 {
        assert!(changed.elapsed() < limit, "still accepted after {limit:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn invites_set_a_password_once_and_expire() {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
    let app = TestApp::start().await;
    let admin = app.login_as(Role::Admin).await;
    let created = json(
        app.create_user(
            &admin,
            json!({"email": "new@example.com", "role": "viewer", "display_name": "Newbie"}),
        )
        .await,
    )
    .await;
    assert_eq!(created["user"]["has_pending_invite"], true);
    let url = created["invite_url"].as_str().unwrap().to_string();
    let token = url.rsplit('/').next().unwrap().to_string();
    assert!(url.starts_with(&app.url("/invite/")));

    // duplicate email → 409
    let dup = app
        .create_user(
            &admin,
            json!({"email": "NEW@example.com", "role": "viewer"}),
        )
        .await;
    error_body(dup, 409).await;
    let bad_role = app
        .create_user(&admin, json!({"email": "x@example.com", "role": "owner"}))
        .await;
    error_body(bad_role, 400).await;

    // the invitee cannot log in before accepting
    let anon = app.anonymous();
    let r = app.try_login(&anon, "new@example.com", PASSWORD).await;
    error_body(r, 400).await;
    // weak password refused, token still valid
    let weak = app.accept_invite(&anon, &token, "12345678").await;
    error_body(weak, 400).await;
    let accepted = json(app.accept_invite(&anon, &token, PASSWORD).await).await;
    assert_eq!(accepted["email"], "new@example.com");
    app.login("new@example.com").await;
    // single use
    let again = app.accept_invite(&anon, &token, PASSWORD).await;
    assert_eq!(
        error_body(again, 400).await["detail"],
        "This invite link is invalid or has expired"
    );
    // reinvite of someone with a password → 400
    let id = created["user"]["id"].as_str().unwrap();
    let r = app
        .post(&admin, &format!("/api/admin/users/{id}/reinvite"))
        .await;
    error_body(r, 400).await;

    // an expired invite is refused
    let other = json(
        app.create_user(
            &admin,
            json!({"email": "late@example.com", "role": "viewer"}),
        )
        .await,
    )
    .await;
    let late_token = other["invite_url"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();
    dango_entity::users::Entity::update_many()
        .col_expr(
            dango_entity::users::Column::InviteExpiresAt,
            Expr::value(Some(chrono::Utc::now() - chrono::Duration::hours(1))),
        )
        .filter(dango_entity::users::Column::Email.eq("late@example.com"))
        .exec(app.db())
        .await
        .unwrap();
    let expired = app.accept_invite(&anon, &late_token, PASSWORD).await;
    error_body(expired, 400).await;
    // reinvite issues a new working link
    let late_id = other["user"]["id"].as_str().unwrap();
    let re = json(
        app.post(&admin, &format!("/api/admin/users/{late_id}/reinvite"))
            .await,
    )
    .await;
    let new_token = re["invite_url"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();
    json(app.accept_invite(&anon, &new_token, PASSWORD).await).await;
}

#[tokio::test]
async fn cookie_mutations_need_the_csrf_header_but_api_keys_do_not() {
    let app = TestApp::start().await;
    app.user("csrf@example.com", Role::Admin).await;
    // log in with a cookie-only client (no X-Requested-With)
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    json(app.try_login(&client, "csrf@example.com", PASSWORD).await).await;
    // reads are fine
    assert_eq!(app.get(&client, "/api/auth/sessions").await.status(), 200);
    let forged = app
        .post_json(&client, "/api/auth/api-keys", json!({"name": "x"}))
        .await;
    assert_eq!(
        error_body(forged, 403).await["detail"],
        "CSRF validation failed"
    );
    let cross_origin = client
        .post(app.url("/api/auth/api-keys"))
        .header("Origin", "http://evil.example")
        .json(&json!({"name": "x"}))
        .send()
        .await
        .unwrap();
    error_body(cross_origin, 403).await;
    let same_origin = client
        .post(app.url("/api/auth/api-keys"))
        .header("Origin", format!("http://{}", app.server.addr))
        .json(&json!({"name": "x"}))
        .send()
        .await
        .unwrap();
    let key = json(same_origin).await["key"].as_str().unwrap().to_string();
    let with_key = app
        .post_json_with_key(&key, "/api/auth/api-keys", json!({"name": "y"}))
        .await;
    json(with_key).await;
}

#[tokio::test]
async fn malformed_and_oversized_bodies_get_json_errors() {
    let app = TestApp::start().await;
    let client = app.anonymous();
    let malformed = client
        .post(app.url("/api/auth/login"))
        .header("Content-Type", "application/json")
        .body("{\"email\": ")
        .send()
        .await
        .unwrap();
    error_body(malformed, 400).await;
    let missing_field = app
        .post_json(&client, "/api/auth/login", json!({"email": "a@b.c"}))
        .await;
    error_body(missing_field, 400).await;
    let wrong_type = client
        .post(app.url("/api/auth/login"))
        .header("Content-Type", "text/plain")
        .body("hello")
        .send()
        .await
        .unwrap();
    let status = wrong_type.status().as_u16();
    assert!(status == 400 || status == 415, "{status}");
    error_body(wrong_type, status).await;
    let huge = "x".repeat(2 * 1024 * 1024);
    let oversized = app.try_login(&client, "a@b.c", &huge).await;
    error_body(oversized, 413).await;
    // chunked body without Content-Length
    let stream =
        futures::stream::iter((0..40).map(|_| Ok::<_, std::io::Error>(vec![b' '; 64 * 1024])));
    let chunked = client
        .post(app.url("/api/auth/login"))
        .header("Content-Type", "application/json")
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    error_body(chunked, 413).await;
    let too_long_password = app.try_login(&client, "a@b.c", &"y".repeat(1025)).await;
    error_body(too_long_password, 400).await;
    let not_found = app.get(&client, "/api/nothing-here").await;
    error_body(not_found, 401).await;
    let key = app.api_key(Role::Viewer, None).await;
    let not_found = app.get_with_key(&key, "/api/nothing-here").await;
    error_body(not_found, 404).await;
}

#[tokio::test]
async fn browser_page_without_session_redirects_to_login() {
    let app = TestApp::start().await;
    let response = app
        .anonymous()
        .get(app.url("/"))
        .header("Accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 302);
    assert_eq!(response.headers()["location"], "/login?next=%2F");
    let login_page = app.get(&app.anonymous(), "/login").await;
    assert_eq!(login_page.status(), 200);
    assert!(login_page.text().await.unwrap().contains("Sign in"));
}

#[tokio::test]
async fn auth_disabled_acts_as_local_admin() {
    let app = TestApp::start_with(|c| c.auth.enabled = false).await;
    let client = app.anonymous();
    let me = app.me(&client).await;
    assert_eq!(me["auth_enabled"], false);
    assert_eq!(me["role"], "admin");
    app.get_json(&client, "/api/admin/users").await;
}

#[tokio::test]
async fn audit_log_records_and_filters() {
    let app = TestApp::start().await;
    let admin_user = app.user("boss@example.com", Role::Admin).await;
    let admin = app.login("boss@example.com").await;
    let viewer = app.login_as(Role::Viewer).await;
    error_body(app.get(&viewer, "/api/admin/users").await, 403).await;
    error_body(app.get(&viewer, "/api/audit").await, 403).await;

    let denied = app
        .get_json(&admin, "/api/audit?event=permission_denied")
        .await;
    assert_eq!(denied["total"], 2);
    assert_eq!(denied["events"][0]["details"]["permission"], "audit.view");
    let mine = app
        .get_json(
            &admin,
            &format!("/api/audit?user={}&limit=1", admin_user.id),
        )
        .await;
    assert_eq!(mine["events"].as_array().unwrap().len(), 1);
    assert!(mine["total"].as_u64().unwrap() >= 1);
    assert_eq!(mine["events"][0]["event"], "login_success");
    let by_email = app
        .get_json(&admin, "/api/audit?user=BOSS@example.com")
        .await;
    assert_eq!(by_email["total"], mine["total"]);
    let future = app
        .get_json(&admin, "/api/audit?since=2999-01-01T00:00:00Z")
        .await;
    assert_eq!(future["total"], 0);
    error_body(app.get(&admin, "/api/audit?limit=0").await, 400).await;
    error_body(app.get(&admin, "/api/audit?since=yesterday").await, 400).await;
}
