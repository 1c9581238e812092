//! What a run produced: the command, each node's result and the report of the whole
//! run. The runner fills them; hooks, the artifacts writer and the status file read them.

use chrono::{DateTime, Utc};

use super::nodes::ResourceType;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    Build,
    Run,
    Seed,
    Snapshot,
    Test,
}

impl Command {
    pub(super) fn runs(self, kind: ResourceType) -> bool {
        match self {
            Command::Build => kind != ResourceType::Analysis,
            Command::Run => kind == ResourceType::Model,
            Command::Seed => kind == ResourceType::Seed,
            Command::Snapshot => kind == ResourceType::Snapshot,
            Command::Test => kind == ResourceType::Test,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Command::Build => "build",
            Command::Run => "run",
            Command::Seed => "seed",
            Command::Snapshot => "snapshot",
            Command::Test => "test",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Success,
    Error,
    Skipped,
    Pass,
    Fail,
    Warn,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Success => "success",
            Status::Error => "error",
            Status::Skipped => "skipped",
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::Warn => "warn",
        }
    }

    /// Whether this outcome stops the nodes downstream.
    pub(super) fn blocks(self) -> bool {
        matches!(self, Status::Error | Status::Fail | Status::Skipped)
    }
}

#[derive(Clone, Debug)]
pub struct NodeResult {
    pub unique_id: String,
    pub status: Status,
    pub message: Option<String>,
    pub failures: Option<u64>,
    pub rows_affected: Option<i64>,
    pub started_at: DateTime<Utc>,
    pub completed_at: DateTime<Utc>,
    pub execution_time: f64,
    pub compiled_code: Option<String>,
    pub relation_name: Option<String>,
    pub thread_id: String,
}

#[derive(Clone, Debug)]
pub struct RunReport {
    pub invocation_id: String,
    pub command: Command,
    pub generated_at: DateTime<Utc>,
    pub elapsed_time: f64,
    pub results: Vec<NodeResult>,
    pub args: serde_json::Value,
}

impl RunReport {
    pub fn has_errors(&self) -> bool {
        self.results
            .iter()
            .any(|r| matches!(r.status, Status::Error | Status::Fail))
    }

    pub fn count(&self, status: Status) -> usize {
        self.results.iter().filter(|r| r.status == status).count()
    }
}
