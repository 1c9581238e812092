//! Changing schedules (the handlers are in `schedules.rs`, which routes every
//! `/api/schedules` path): add, replace and remove one (written into `.dango/schedules.yml`
//! with the rest of the file, comments included, untouched), and reload the file so
//! hand edits take effect at once.

use chrono::Utc;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object};

use super::schedules::ScheduleInfo;
use crate::Result;
use crate::auth::audit::{self, AuditEvent};
use crate::jobs::scheduler::{self, Reloaded};
use crate::schedules::{self, Edit};
use crate::state::AppState;

#[derive(ApiResponse)]
pub enum Created {
    /// The schedule is in the file and planned.
    #[oai(status = 201)]
    Created(Json<ScheduleChanged>),
}

#[derive(ApiResponse)]
pub enum Removed {
    /// The schedule is gone from the file; a run of it that is going continues.
    #[oai(status = 204)]
    Removed,
}

#[derive(Object)]
pub struct ScheduleChanged {
    pub schedule: ScheduleInfo,
    /// What the scheduler made of the file afterwards.
    pub reload: Reloaded,
}

/// Writes `edit`, audits it as `event` and has the scheduler take it in.
pub(super) async fn save(
    state: &AppState,
    principal: &crate::auth::Principal,
    edit: Edit,
    event: &'static str,
) -> Result<Reloaded> {
    schedules::change(&state.paths, &edit)?;
    let name = match &edit {
        Edit::Upsert(schedule) => schedule.name.clone(),
        Edit::Remove(name) => name.clone(),
    };
    audit::record(
        &state.db,
        AuditEvent::new(event)
            .actor(principal)
            .details(serde_json::json!({ "schedule": name })),
    )
    .await;
    scheduler::reload(state, Utc::now()).await
}

pub(super) async fn changed_view(
    state: &AppState,
    name: &str,
    reload: Reloaded,
) -> Result<ScheduleChanged> {
    let schedule = schedules::get(&state.paths, name)?;
    Ok(ScheduleChanged {
        schedule: ScheduleInfo::with_last_run(&schedule, Utc::now(), state).await?,
        reload,
    })
}
