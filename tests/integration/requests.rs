//! Request plumbing for [`TestApp`], so tests read as what the user does.

use serde_json::Value;

use crate::common::{TestApp, json};

/// Sends `request`; a request that cannot be sent fails the test, naming it.
async fn send(request: reqwest::RequestBuilder) -> reqwest::Response {
    let described = request
        .try_clone()
        .and_then(|r| r.build().ok())
        .map(|r| format!("{} {}", r.method(), r.url().path()))
        .unwrap_or_default();
    request
        .send()
        .await
        .unwrap_or_else(|e| panic!("{described}: {e}"))
}

impl TestApp {
    /// `client` opens `GET path`.
    pub async fn get(&self, client: &reqwest::Client, path: &str) -> reqwest::Response {
        send(client.get(self.url(path))).await
    }

    /// `client` reads `GET path`, which must succeed, and gets its JSON body.
    pub async fn get_json(&self, client: &reqwest::Client, path: &str) -> Value {
        json(self.get(client, path).await).await
    }

    /// `client` sends `POST path` without a body.
    pub async fn post(&self, client: &reqwest::Client, path: &str) -> reqwest::Response {
        send(client.post(self.url(path))).await
    }

    /// `client` sends `POST path` with the JSON `body`.
    pub async fn post_json(
        &self,
        client: &reqwest::Client,
        path: &str,
        body: Value,
    ) -> reqwest::Response {
        send(client.post(self.url(path)).json(&body)).await
    }

    /// `client` sends `PUT path` with the JSON `body`.
    pub async fn put_json(
        &self,
        client: &reqwest::Client,
        path: &str,
        body: Value,
    ) -> reqwest::Response {
        send(client.put(self.url(path)).json(&body)).await
    }

    /// `client` sends `DELETE path`.
    pub async fn delete(&self, client: &reqwest::Client, path: &str) -> reqwest::Response {
        send(client.delete(self.url(path))).await
    }

    /// A script holding the API key `key` opens `GET path` (no cookies).
    pub async fn get_with_key(&self, key: &str, path: &str) -> reqwest::Response {
        send(self.anonymous().get(self.url(path)).bearer_auth(key)).await
    }

    /// A script holding the API key `key` sends `POST path` with the JSON `body`.
    pub async fn post_json_with_key(
        &self,
        key: &str,
        path: &str,
        body: Value,
    ) -> reqwest::Response {
        send(
            self.anonymous()
                .post(self.url(path))
                .bearer_auth(key)
                .json(&body),
        )
        .await
    }

    /// `client` asks who it is (`GET /api/auth/me`), which must succeed.
    pub async fn me(&self, client: &reqwest::Client) -> Value {
        self.get_json(client, "/api/auth/me").await
    }

    /// `client` tries to sign in as `email` with `password`; the answer is not checked.
    pub async fn try_login(
        &self,
        client: &reqwest::Client,
        email: &str,
        password: &str,
    ) -> reqwest::Response {
        self.post_json(
            client,
            "/api/auth/login",
            serde_json::json!({"email": email, "password": password}),
        )
        .await
    }

    /// `client` changes its password from `current` to `new`.
    pub async fn change_password(
        &self,
        client: &reqwest::Client,
        current: &str,
        new: &str,
    ) -> reqwest::Response {
        self.post_json(
            client,
            "/api/auth/change-password",
            serde_json::json!({"current_password": current, "new_password": new}),
        )
        .await
    }

    /// An admin `client` creates a user from `body` (`email`, `role`, ...).
    pub async fn create_user(&self, client: &reqwest::Client, body: Value) -> reqwest::Response {
        self.post_json(client, "/api/admin/users", body).await
    }

    /// An admin `client` deletes the user `user_id`, confirming with `confirm_email`.
    pub async fn delete_user(
        &self,
        client: &reqwest::Client,
        user_id: &str,
        confirm_email: &str,
    ) -> reqwest::Response {
        let path = format!("/api/admin/users/{user_id}");
        send(
            client
                .delete(self.url(&path))
                .query(&[("confirm_email", confirm_email)]),
        )
        .await
    }

    /// `client` accepts the invite `token`, choosing `password`.
    pub async fn accept_invite(
        &self,
        client: &reqwest::Client,
        token: &str,
        password: &str,
    ) -> reqwest::Response {
        self.post_json(
            client,
            "/api/auth/accept-invite",
            serde_json::json!({"token": token, "password": password}),
        )
        .await
    }
}
