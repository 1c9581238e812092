//! The first sync of a fresh deployment: started once with the deploy token `dango
//! deploy-token` printed (or by an admin), followed, and skipped or cancelled by an admin;
//! and the deployments journal.

use std::sync::Arc;

use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

use super::ApiTag;
use super::context::{Caller, Ctx};
use crate::auth::Role;
use crate::auth::audit::{self, AuditEvent};
use crate::jobs::initial_sync::{self, Started};
use crate::runs::initial_sync::Progress;
use crate::state::AppState;
use crate::{Error, Result};

pub struct InitialSyncApi;

pub struct DeploymentsApi;

#[derive(Object)]
pub struct DeploymentHistory {
    /// Newest first.
    pub deployments: Vec<crate::project::deployments::Deployment>,
    /// Records in the journal in all.
    pub total: u64,
}

#[OpenApi(tag = "ApiTag::Health")]
impl DeploymentsApi {
    /// Deployments
    ///
    /// What `dango start` recorded each time the version or the project's configuration
    /// had changed since the previous start, newest first.
    #[oai(
        path = "/api/deployments/history",
        method = "get",
        operation_id = "deployment_history"
    )]
    async fn history(
        &self,
        state: Data<&Arc<AppState>>,
        caller: Caller,
        /// At most this many (1–100, default 20).
        #[oai(
            default = "twenty",
            validator(minimum(value = "1"), maximum(value = "100"))
        )]
        limit: poem_openapi::param::Query<usize>,
    ) -> Json<DeploymentHistory> {
        let Caller(principal, _) = caller;
        audit::record(
            &state.db,
            AuditEvent::new("deployment_history_viewed").actor(&principal),
        )
        .await;
        let mut deployments = crate::project::deployments::history(&state.paths);
        let total = deployments.len() as u64;
        deployments.truncate(limit.0);
        Json(DeploymentHistory { deployments, total })
    }
}

fn twenty() -> usize {
    20
}

#[derive(Object)]
pub struct Requested {
    /// `ok`.
    pub status: String,
    pub message: String,
}

#[OpenApi(tag = "ApiTag::Sync")]
impl InitialSyncApi {
    /// Start the first sync
    ///
    /// Syncs every enabled source in turn, then builds the models once. Takes the one-time
    /// deploy token (`Authorization: Bearer dango_deploy_…`, used up by this call) or an
    /// admin. 401 otherwise; 409 while it is going.
    #[oai(
        path = "/api/initial-sync/start",
        method = "post",
        operation_id = "start_initial_sync"
    )]
    async fn start(
        &self,
        state: Data<&Arc<AppState>>,
        request: &poem::Request,
        Ctx(ctx): Ctx,
    ) -> Result<Json<Started>> {
        let admin = ctx.principal.as_ref().filter(|p| p.role == Role::Admin);
        let token = request
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .filter(|t| t.starts_with("dango_deploy_"));
        let by = match (admin, token) {
            (Some(admin), _) => admin.email.clone(),
            (None, Some(token)) if initial_sync::use_deploy_token(&state.paths, token) => {
                "deploy token".to_string()
            }
            _ if ctx.principal.is_some() => {
                return Err(Error::forbidden(
                    "Starting the first sync takes an admin (or the deploy token)",
                ));
            }
            _ => {
                return Err(Error::unauthenticated(
                    "Starting the first sync takes the deploy token or an admin",
                ));
            }
        };
        if state.initial_sync.get(&state.paths).is_going() {
            return Err(Error::conflict("The first sync is already in progress"));
        }
        let started = initial_sync::start(&state).await?;
        audit::record(
            &state.db,
            AuditEvent::new("initial_sync_started")
                .details(serde_json::json!({"by": by, "status": started.status})),
        )
        .await;
        Ok(Json(started))
    }

    /// How the first sync is going
    #[oai(
        path = "/api/initial-sync/status",
        method = "get",
        operation_id = "initial_sync_status"
    )]
    async fn status(&self, state: Data<&Arc<AppState>>) -> Json<Progress> {
        Json(state.initial_sync.get(&state.paths))
    }

    /// Skip the source being synced
    ///
    /// Its run is stopped (its load rolled back) and the next source starts. 409 when no
    /// first sync is syncing.
    #[oai(
        path = "/api/initial-sync/skip-source",
        method = "post",
        operation_id = "skip_initial_sync_source"
    )]
    async fn skip(&self, state: Data<&Arc<AppState>>, caller: Caller) -> Result<Json<Requested>> {
        let Caller(principal, _) = caller;
        let message = initial_sync::skip_current(&state, &principal).await?;
        Ok(Json(Requested {
            status: "ok".into(),
            message,
        }))
    }

    /// Cancel the first sync
    ///
    /// The run going is stopped and nothing after it starts. 409 when none is going.
    #[oai(
        path = "/api/initial-sync/cancel",
        method = "post",
        operation_id = "cancel_initial_sync"
    )]
    async fn cancel(&self, state: Data<&Arc<AppState>>, caller: Caller) -> Result<Json<Requested>> {
        let Caller(principal, _) = caller;
        let message = initial_sync::cancel(&state, &principal).await?;
        Ok(Json(Requested {
            status: "ok".into(),
            message,
        }))
    }
}
