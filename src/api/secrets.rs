//! Secrets: the variables of the project's `.env`, by name only. Values are written,
//! never read back.

use std::sync::Arc;

use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

use super::ApiTag;
use super::context::Caller;
use crate::Result;
use crate::auth::audit::{self, AuditEvent};
use crate::state::AppState;

pub struct SecretsApi;

#[derive(Object)]
pub struct EnvVar {
    pub key: String,
    /// Always `***`: values are never returned.
    pub masked_value: String,
    /// `env` (the project's `.env`).
    pub source: String,
    /// What reads it: `source:<name>` (a source's `*_env` setting), `webhook:<name>` (the
    /// secret a webhook's payloads are signed with).
    pub used_by: Vec<String>,
}

#[derive(Object)]
pub struct SecretsList {
    /// In the order of the file.
    pub env_vars: Vec<EnvVar>,
}

#[derive(Object)]
pub struct SetSecret {
    /// A variable name: a letter or `_`, then letters, digits and `_`.
    #[oai(validator(max_length = 128, pattern = r"^[A-Za-z_][A-Za-z0-9_]*$"))]
    pub key: String,
    /// One line (no line break or NUL), at most 64 KiB.
    #[oai(validator(max_length = 65536, pattern = r"^[^\r\n\x00]*$"))]
    pub value: String,
}

#[derive(Object)]
pub struct SecretChanged {
    pub message: String,
    pub key: String,
    /// `created`, `updated` or `deleted`.
    pub action: String,
}

#[OpenApi(tag = "ApiTag::Secrets")]
impl SecretsApi {
    /// The variables of `.env`
    ///
    /// Names only (`masked_value` is always `***`), with what reads each.
    #[oai(path = "/api/secrets", method = "get", operation_id = "list_secrets")]
    async fn list(&self, state: Data<&Arc<AppState>>) -> Result<Json<SecretsList>> {
        let secrets = crate::secrets::list(&state.paths)?;
        Ok(Json(SecretsList {
            env_vars: secrets
                .into_iter()
                .map(|s| EnvVar {
                    key: s.key,
                    masked_value: "***".into(),
                    source: "env".into(),
                    used_by: s.used_by,
                })
                .collect(),
        }))
    }

    /// Add or change a variable of `.env`
    ///
    /// Written at once (atomically, mode 0600, the file's comments kept); a sync or a
    /// webhook reads it the next time it runs. Audited with the key only. 400 for a key
    /// that is not a variable name, or a value with a line break.
    #[oai(path = "/api/secrets", method = "post", operation_id = "set_secret")]
    async fn set(
        &self,
        state: Data<&Arc<AppState>>,
        caller: Caller,
        body: Json<SetSecret>,
    ) -> Result<Json<SecretChanged>> {
        let Caller(principal, _) = caller;
        let key = body.0.key.trim().to_string();
        let change = crate::secrets::set(&state.paths, &key, &body.0.value)?;
        audit::record(
            &state.db,
            AuditEvent::new("secret_set")
                .actor(&principal)
                .details(serde_json::json!({"key": key, "action": change.as_str()})),
        )
        .await;
        Ok(Json(SecretChanged {
            message: format!("Environment variable {}.", change.as_str()),
            key,
            action: change.as_str().into(),
        }))
    }

    /// Remove a variable from `.env`
    #[oai(
        path = "/api/secrets/:key",
        method = "delete",
        operation_id = "delete_secret"
    )]
    async fn delete(
        &self,
        state: Data<&Arc<AppState>>,
        caller: Caller,
        #[oai(validator(max_length = 128))] key: Path<String>,
    ) -> Result<Json<SecretChanged>> {
        let Caller(principal, _) = caller;
        crate::secrets::remove(&state.paths, &key)?;
        audit::record(
            &state.db,
            AuditEvent::new("secret_deleted")
                .actor(&principal)
                .details(serde_json::json!({"key": key.0})),
        )
        .await;
        Ok(Json(SecretChanged {
            message: format!("Deleted '{}'.", key.0),
            key: key.0,
            action: "deleted".into(),
        }))
    }
}
