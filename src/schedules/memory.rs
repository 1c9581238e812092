//! What the scheduler remembers between its rounds: each schedule's definition as it last
//! read it, when it fires next, its run that has not ended yet, and a retry planned after
//! a failure. All of it can be rebuilt from the runs in the metadata DB (a restart does),
//! so nothing here needs saving.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

pub struct Memory {
    /// This scheduler's name in the lease it holds.
    pub(crate) holder: String,
    pub(crate) planned: HashMap<String, Planned>,
}

impl Default for Memory {
    fn default() -> Self {
        let id = uuid::Uuid::new_v4().simple().to_string();
        Self {
            holder: format!("pid-{}-{}", std::process::id(), &id[..8]),
            planned: HashMap::new(),
        }
    }
}

impl Memory {
    /// This scheduler's name in the lease (`lease::holder` says whether it holds it).
    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// The schedules planned, by name, with their definitions (JSON) as last read.
    pub fn definitions(&self) -> impl Iterator<Item = (&str, &str)> {
        self.planned
            .iter()
            .map(|(name, planned)| (name.as_str(), planned.definition.as_str()))
    }
}

pub(crate) struct Planned {
    pub(crate) definition: String,
    pub(crate) next: Option<DateTime<Utc>>,
    /// The schedule's newest run while it has not ended.
    pub(crate) watching: Option<Watched>,
    pub(crate) retry: Option<Retry>,
}

#[derive(Clone)]
pub(crate) struct Watched {
    pub(crate) run_id: String,
    pub(crate) attempt: u32,
}

#[derive(Clone, Copy)]
pub(crate) struct Retry {
    pub(crate) due: DateTime<Utc>,
    pub(crate) attempt: u32,
}
