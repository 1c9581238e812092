//! Dango: a self-hosted data platform in one binary.

pub mod activity;
pub mod api;
pub mod app;
pub mod auth;
pub mod catalog;
pub mod cli;
pub mod cli_token;
pub mod client_address;
pub mod config;
pub mod db;
pub mod error;
pub mod events;
pub mod file_sources;
pub mod health;
pub mod ingest;
pub mod jobs;
pub mod lease;
pub mod notifications;
pub mod profiling;
pub mod project;
pub mod query;
pub mod runs;
pub mod schedules;
pub mod scripts;
pub mod secrets;
pub mod sources;
pub mod state;
pub mod transform;
pub mod util;
pub mod warehouse;
pub mod watcher;
pub mod web;

pub use app::{App, RunningApp};

pub const VERSION: &str = env!("CARGO_PKG_VERSION");
pub use error::{Error, ErrorKind, Result};
