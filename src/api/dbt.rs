//! dbt endpoints: list models, run one model (with what depends on it), run a selection.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

use super::ApiTag;
use super::context::Caller;
use crate::auth::Principal;
use crate::catalog::{self, DbtModelList};
use crate::error::code;
use crate::events::{DbtRunStartedEvent, Event};
use crate::jobs::transform::TransformSpec;
use crate::jobs::{Requester, RunDeps, RunRequest};
use crate::state::AppState;
use crate::{Error, Result, jobs};

pub struct DbtApi;

#[derive(Object)]
pub struct ModelRunResponse {
    pub success: bool,
    pub message: String,
    pub model_name: String,
    pub started_at: DateTime<Utc>,
    /// Poll `GET /api/sync/status/{run_id}`.
    pub run_id: String,
}

#[derive(Object)]
pub struct DbtRunRequest {
    /// `build` (default), `run`, `seed`, `snapshot` or `test`.
    pub command: Option<String>,
    /// dbt selection syntax: `orders`, `+orders`, `orders+`, `tag:daily`, `source:shop+`, …
    #[oai(default)]
    pub select: Vec<String>,
    #[oai(default)]
    pub exclude: Vec<String>,
    #[oai(default)]
    pub full_refresh: bool,
    /// Values for `var()`.
    pub vars: Option<serde_json::Value>,
}

#[derive(Object)]
pub struct DbtRunResponse {
    pub run_id: String,
    pub status: String,
}

async fn submit(
    state: &AppState,
    principal: &Principal,
    spec: TransformSpec,
) -> Result<dango_entity::job_runs::Model> {
    jobs::start(
        RunDeps::of(state),
        RunRequest::Transform(spec),
        &Requester::principal(principal),
    )
    .await
}

#[OpenApi(tag = "ApiTag::Dbt")]
impl DbtApi {
    /// All dbt models with materialization, row count and last run status
    ///
    /// The `model` nodes of `dbt/target/manifest.json` (no seeds or snapshots), sorted by
    /// schema and name, with materialization, dependencies, estimated row counts from the
    /// warehouse, and the status and time of their last build. The list is empty when there
    /// is no manifest yet.
    #[oai(
        path = "/api/dbt/models",
        method = "get",
        operation_id = "list_dbt_models"
    )]
    async fn models(&self, state: Data<&Arc<AppState>>) -> Json<DbtModelList> {
        Json(catalog::dbt_models(catalog::CatalogDeps::of(&state)).await)
    }

    /// Run one model (and, with `cascade`, everything downstream of it)
    ///
    /// Queues a transform run of `dbt run --select <model>+`, or of only `<model>` with
    /// `cascade=false`; the command is `run`, so no tests or seeds are built. It is refused
    /// while another dbt run is queued or running, or when the project has no dbt project.
    /// Poll `GET /api/sync/status/{run_id}` for the outcome.
    #[oai(
        path = "/api/dbt/models/:model_name/run",
        method = "post",
        operation_id = "run_dbt_model"
    )]
    async fn run_model(
        &self,
        state: Data<&Arc<AppState>>,
        caller: Caller,
        /// Name of a dbt model in the manifest (letters, digits and underscores, at most 128;
        /// exact, case-sensitive); seeds, snapshots and unknown names get 404.
        model_name: Path<String>,
        /// Also run every model downstream (`<model>+`); default `true`, `false` runs only
        /// this model.
        #[oai(default = "yes")]
        cascade: Query<bool>,
    ) -> Result<Json<ModelRunResponse>> {
        let Caller(principal, _) = caller;
        if !crate::config::sources::is_valid_identifier(&model_name) {
            return Err(
                Error::bad_request(format!("Model name '{}' is invalid", *model_name))
                    .with_code(code::INVALID_NAME),
            );
        }
        // The manifest alone says which models exist (no row counts needed).
        let known = state
            .dbt_artifacts()
            .is_some_and(|a| catalog::has_model(&a, &model_name));
        if !known {
            return Err(Error::not_found(format!(
                "Model '{}' not found",
                *model_name
            )));
        }
        let select = if cascade.0 {
            format!("{}+", *model_name)
        } else {
            model_name.0.clone()
        };
        let run = submit(
            &state,
            &principal,
            TransformSpec {
                command: "run".into(),
                select: vec![select],
                ..Default::default()
            },
        )
        .await?;
        state.events.publish(
            Event::new(DbtRunStartedEvent {
                model: Some(model_name.to_string()),
                message: None,
            })
            .run(&run.id),
        );
        Ok(Json(ModelRunResponse {
            success: true,
            message: format!("dbt model '{}' run started", *model_name),
            model_name: model_name.0,
            started_at: run.created_at,
            run_id: run.id,
        }))
    }

    /// Build a selection of the dbt project (`dbt build --select …`)
    ///
    /// Queues a transform run with the given command (default `build`), selection,
    /// exclusion, `--full-refresh` and vars; an empty `select` builds everything. The
    /// selection syntax is checked only when the run executes, so a bad selector ends in a
    /// failed run. It is refused while another dbt run is active; poll
    /// `GET /api/sync/status/{run_id}` for the outcome.
    #[oai(path = "/api/dbt/run", method = "post", operation_id = "run_dbt")]
    async fn run(
        &self,
        state: Data<&Arc<AppState>>,
        caller: Caller,
        body: Json<DbtRunRequest>,
    ) -> Result<Json<DbtRunResponse>> {
        let Caller(principal, _) = caller;
        let body = body.0;
        let vars = match body.vars {
            None | Some(serde_json::Value::Null) => Default::default(),
            Some(serde_json::Value::Object(map)) => map,
            Some(_) => return Err(Error::bad_request("vars must be an object")),
        };
        let run = submit(
            &state,
            &principal,
            TransformSpec {
                command: body.command.unwrap_or_else(|| "build".into()),
                select: body.select,
                exclude: body.exclude,
                full_refresh: body.full_refresh,
                vars,
            },
        )
        .await?;
        Ok(Json(DbtRunResponse {
            run_id: run.id,
            status: "started".into(),
        }))
    }
}

fn yes() -> bool {
    true
}
