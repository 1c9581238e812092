//! Metadata-database migrations. The same migrations run on SQLite (default) and Postgres.

pub use sea_orm_migration::prelude::*;

mod m20261127_000001_auth;
mod m20261127_000002_runs;
mod m20261203_000003_profiles;
mod m20261203_000004_query_history;
mod m20261204_000005_run_schedule;
mod m20261205_000006_leases;
mod m20261205_000007_notification_deliveries;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261127_000001_auth::Migration),
            Box::new(m20261127_000002_runs::Migration),
            Box::new(m20261203_000003_profiles::Migration),
            Box::new(m20261203_000004_query_history::Migration),
            Box::new(m20261204_000005_run_schedule::Migration),
            Box::new(m20261205_000006_leases::Migration),
            Box::new(m20261205_000007_notification_deliveries::Migration),
        ]
    }
}
