//! Admin user management and its guards.

use crate::common::{PASSWORD, TestApp, error_body, json};
use dango::auth::Role;
use serde_json::json;

#[tokio::test]
async fn last_admin_and_self_action_guards() {
    let app = TestApp::start().await;
    let me = app.user("only-admin@example.com", Role::Admin).await;
    let admin = app.login("only-admin@example.com").await;
    let url = |path: &str| app.url(&format!("/api/admin/users/{}{path}", me.id));

    let demote = admin
        .put(url("/role"))
        .json(&json!({"role": "editor"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_body(demote, 409).await["detail"],
        "Cannot demote the only active admin"
    );
    let deactivate = admin.post(url("/deactivate")).send().await.unwrap();
    assert_eq!(
        error_body(deactivate, 409).await["detail"],
        "Cannot deactivate your own account"
    );
    let delete = admin
        .delete(url(""))
        .query(&[("confirm_email", "only-admin@example.com")])
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_body(delete, 409).await["detail"],
        "Cannot delete your own account"
    );

    // With a second admin, the first can be demoted by the second, but the second is then the last.
    let second = app.user("second@example.com", Role::Admin).await;
    let other = app.login("second@example.com").await;
    let updated = json(
        other
            .put(url("/role"))
            .json(&json!({"role": "editor"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(updated["role"], "editor");
    let second_url = app.url(&format!("/api/admin/users/{}/role", second.id));
    let r = other
        .put(second_url)
        .json(&json!({"role": "viewer"}))
        .send()
        .await
        .unwrap();
    error_body(r, 409).await;
    // the demoted user lost admin rights immediately
    error_body(
        admin.get(app.url("/api/admin/users")).send().await.unwrap(),
        403,
    )
    .await;
    let bad_role = other
        .put(url("/role"))
        .json(&json!({"role": "god"}))
        .send()
        .await
        .unwrap();
    error_body(bad_role, 400).await;
    let unknown = other
        .put(app.url("/api/admin/users/00000000-0000-0000-0000-000000000000/role"))
        .json(&json!({"role": "viewer"}))
        .send()
        .await
        .unwrap();
    error_body(unknown, 404).await;
}

#[tokio::test]
async fn deactivate_reactivate_reset_revoke_delete() {
    let app = TestApp::start().await;
    let admin = app.login_as(Role::Admin).await;
    let target = app.user("worker@example.com", Role::Editor).await;
    let worker = app.login("worker@example.com").await;
    let key = {
        let created = json(
            worker
                .post(app.url("/api/auth/api-keys"))
                .json(&json!({"name": "w"}))
                .send()
                .await
                .unwrap(),
        )
        .await;
        created["key"].as_str().unwrap().to_string()
    };
    let url = |path: &str| app.url(&format!("/api/admin/users/{}{path}", target.id));

    json(admin.post(url("/deactivate")).send().await.unwrap()).await;
    error_body(
        worker.get(app.url("/api/config")).send().await.unwrap(),
        401,
    )
    .await;
    error_body(
        app.anonymous()
            .get(app.url("/api/config"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap(),
        401,
    )
    .await;
    let login = app
        .anonymous()
        .post(app.url("/api/auth/login"))
        .json(&json!({"email": "worker@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    error_body(login, 400).await;
    let reactivated = json(admin.post(url("/reactivate")).send().await.unwrap()).await;
    assert_eq!(reactivated["is_active"], true);
    assert_eq!(
        app.anonymous()
            .get(app.url("/api/config"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    let worker = app.login("worker@example.com").await;
    let revoked = json(admin.post(url("/revoke-sessions")).send().await.unwrap()).await;
    assert_eq!(revoked["revoked_count"], 1);
    error_body(
        worker.get(app.url("/api/config")).send().await.unwrap(),
        401,
    )
    .await;

    let reset = json(admin.post(url("/reset-password")).send().await.unwrap()).await;
    let temp = reset["temp_password"].as_str().unwrap();
    assert_eq!(reset["user"]["must_change_password"], true);
    let r = app
        .anonymous()
        .post(app.url("/api/auth/login"))
        .json(&json!({"email": "worker@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    error_body(r, 400).await;
    let r = app
        .anonymous()
        .post(app.url("/api/auth/login"))
        .json(&json!({"email": "worker@example.com", "password": temp}))
        .send()
        .await
        .unwrap();
    assert_eq!(json(r).await["must_change_password"], true);

    let mismatch = admin
        .delete(url(""))
        .query(&[("confirm_email", "someone@else.com")])
        .send()
        .await
        .unwrap();
    error_body(mismatch, 400).await;
    let missing = admin.delete(url("")).send().await.unwrap();
    error_body(missing, 400).await;
    json(
        admin
            .delete(url(""))
            .query(&[("confirm_email", "Worker@Example.com")])
            .send()
            .await
            .unwrap(),
    )
    .await;
    error_body(admin.post(url("/reactivate")).send().await.unwrap(), 404).await;
    error_body(
        app.anonymous()
            .get(app.url("/api/config"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap(),
        401,
    )
    .await;

    let list = json(admin.get(app.url("/api/admin/users")).send().await.unwrap()).await;
    assert_eq!(list["total"], 1);
    let audit = json(admin.get(app.url("/api/audit")).send().await.unwrap()).await;
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
        let r = admin
            .post(app.url("/api/admin/users"))
            .json(&body)
            .send()
            .await
            .unwrap();
        error_body(r, 400).await;
    }
    let created = admin
        .post(app.url("/api/admin/users"))
        .json(&json!({"email": "ok@example.com", "role": "editor"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
}
