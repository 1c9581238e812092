//! sea-orm entities of the metadata database (see `dango-migration` for the schema).

pub mod activity_log;
pub mod api_keys;
pub mod audit_events;
pub mod job_runs;
pub mod leases;
pub mod login_attempts;
pub mod notification_deliveries;
pub mod query_history;
pub mod schema_drift_events;
pub mod sessions;
pub mod sync_history;
pub mod table_profiles;
pub mod users;
