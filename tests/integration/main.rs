//! The integration suite: one test binary (one link of DuckDB) whose modules each
//! boot the real server on 127.0.0.1:0 with a temporary project, or run the `dango`
//! binary, and drive it as a client would. `cargo test --test integration <module>::`
//! runs one module.

mod column_lineage;
mod common;
mod contract;
mod contract_tour;

mod auth;
mod authz;
mod browser;
mod cli;
mod conformance;
mod dbt_api;
mod dbt_engine;
mod fault;
mod initial_sync;
mod mcp;
mod notifications;
mod oauth;
mod openapi;
mod pages;
mod process;
mod profiles;
mod project_paths;
mod proxy;
mod query;
mod query_page;
mod requests;
mod schedule_changes;
mod schedule_runs;
mod schedules;
mod scripts;
mod search;
mod secrets;
mod sync;
mod transform;
mod two_factor;
mod users;
mod watcher;
