//! Admin user management and its guards.

use crate::common::{PASSWORD, TestApp, error_body, json};
use dango::auth::Role;
use serde_json::json;

#[tokio::test]
async fn last_admin_and_self_action_guards() {
    let app = TestApp::start().await;
    let me = app.user("only-admin@example.com", Role::Admin).await;
    let admin = app.login("only-admin@example.com").await;
    let path = |action: &str| format!("/api/admin/users/{}{action}", me.id);

    let demote = app
        .put_json(&admin, &path("/role"), json!({"role": "editor"}))
        .await;
    assert_eq!(
        error_body(demote, 409).await["detail"],
        "Cannot demote the only active admin"
    );
    let deactivate = app.post(&admin, &path("/deactivate")).await;
    assert_eq!(
        error_body(deactivate, 409).await["detail"],
        "Cannot deactivate your own account"
    );
    let delete = app
        .delete_user(&admin, &me.id, "only-admin@example.com")
        .await;
    assert_eq!(
        error_body(delete, 409).await["detail"],
        "Cannot delete your own account"
    );

    // With a second admin, the first can be demoted by the second, but the second is then the last.
    let second = app.user("second@example.com", Role::Admin).await;
    let other = app.login("second@example.com").await;
    let updated = json(
        app.put_json(&other, &path("/role"), json!({"role": "editor"}))
            .await,
    )
    .await;
    assert_eq!(updated["role"], "editor");
    let second_role = format!("/api/admin/users/{}/role", second.id);
    let r = app
        .put_json(&other, &second_role, json!({"role": "viewer"}))
        .await;
    error_body(r, 409).await;
    // the demoted user lost admin rights immediately
    error_body(app.get(&admin, "/api/admin/users").await, 403).await;
    let bad_role = app
        .put_json(&other, &path("/role"), json!({"role": "god"}))
        .await;
    error_body(bad_role, 400).await;
    let unknown = app
        .put_json(
            &other,
            "/api/admin/users/00000000-0000-0000-0000-000000000000/role",
            json!({"role": "viewer"}),
        )
        .await;
    error_body(unknown, 404).await;
}

#[tokio::test]
async fn deactivate_reactivate_reset_revoke_delete() {
    let app = TestApp::start().await;
    let admin = app.login_as(Role::Admin).await;
    let target = app.user("worker@example.com", Role::Editor).await;
    let worker = app.login("worker@example.com").await;
    let key = {
        let created = app.create_api_key(&worker, json!({"name": "w"})).await;
        created["key"].as_str().unwrap().to_string()
    };
    let path = |action: &str| format!("/api/admin/users/{}{action}", target.id);

    json(app.post(&admin, &path("/deactivate")).await).await;
    error_body(app.get(&worker, "/api/config").await, 401).await;
    error_body(app.get_with_key(&key, "/api/config").await, 401).await;
    let login = app
        .try_login(&app.anonymous(), "worker@example.com", PASSWORD)
        .await;
    error_body(login, 400).await;
    let reactivated = json(app.post(&admin, &path("/reactivate")).await).await;
    assert_eq!(reactivated["is_active"], true);
    assert_eq!(app.get_with_key(&key, "/api/config").await.status(), 200);

    let worker = app.login("worker@example.com").await;
    let revoked = json(app.post(&admin, &path("/revoke-sessions")).await).await;
    assert_eq!(revoked["revoked_count"], 1);
    error_body(app.get(&worker, "/api/config").await, 401).await;

    let reset = json(app.post(&admin, &path("/reset-password")).await).await;
    let temp = reset["temp_password"].as_str().unwrap();
    assert_eq!(reset["user"]["must_change_password"], true);
    let r = app
        .try_login(&app.anonymous(), "worker@example.com", PASSWORD)
        .await;
    error_body(r, 400).await;
    let r = app
        .try_login(&app.anonymous(), "worker@example.com", temp)
        .await;
    assert_eq!(json(r).await["must_change_password"], true);

    let mismatch = app
        .delete_user(&admin, &target.id, "someone@else.com")
        .await;
    error_body(mismatch, 400).await;
    let missing = app.delete(&admin, &path("")).await;
    error_body(missing, 400).await;
    json(
        app.delete_user(&admin, &target.id, "Worker@Example.com")
            .await,
    )
    .await;
    error_body(app.post(&admin, &path("/reactivate")).await, 404).await;
    error_body(app.get_with_key(&key, "/api/config").await, 401).await;

    let list = app.get_json(&admin, "/api/admin/users").await;
    assert_eq!(list["total"], 1);
    let audit = app.get_json(&admin, "/api/audit").await;
    let events: Vec<&str> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    for expected in [
        "user_deactivated",
        "user_reactivated",
        "password_reset",
        "user_deleted",
        "session_expired",
    ] {
        assert!(
            events.contains(&expected),
            "{expected} missing from {events:?}"
        );
    }
}

#[tokio::test]
async fn creating_users_validates_input() {
    let app = TestApp::start().await;
    let admin = app.login_as(Role::Admin).await;
    for body in [
        json!({"email": "not-an-email", "role": "viewer"}),
        json!({"email": "a@b.c", "role": "superuser"}),
        json!({"email": "a@b.c", "role": "viewer", "display_name": "x".repeat(201)}),
    ] {
        let r = app.create_user(&admin, body).await;
        error_body(r, 400).await;
    }
    let created = app
        .create_user(&admin, json!({"email": "ok@example.com", "role": "editor"}))
        .await;
    assert_eq!(created.status(), 201);
}
