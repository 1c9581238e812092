//! The live event bus: one broadcast channel feeding the WebSocket `/ws`.
//!
//! Every message is an [`Event`]: what happened ([`EventBody`], one variant per kind,
//! each with exactly its fields), the run it belongs to, and when. On the wire the kind
//! is the `type` key and, for clients of the original, `event` with the same value.
//! The OpenAPI document publishes the catalogue as the `PlatformEvent` schema.

use chrono::{DateTime, Utc};
use poem_openapi::{Object, Union};
use serde::Serialize;
use tokio::sync::broadcast;

/// Declares the event kinds once: the variant, its payload and its wire name (the
/// serde tag, the OpenAPI mapping, `EventBody::name` and `EventBody::NAMES`).
macro_rules! event_kinds {
    ($( $(#[$doc:meta])* $variant:ident($payload:ident) = $name:literal, )+) => {
        /// What happened; `type` names it.
        #[derive(Clone, Debug, Serialize, Union)]
        #[serde(tag = "type")]
        #[oai(discriminator_name = "type", one_of, rename = "PlatformEvent")]
        pub enum EventBody {
            $(
                $(#[$doc])*
                #[serde(rename = $name)]
                #[oai(mapping = $name)]
                $variant($payload),
            )+
        }

        impl EventBody {
            pub const NAMES: &'static [&'static str] = &[$($name),+];

            pub fn name(&self) -> &'static str {
                match self {
                    $(Self::$variant(_) => $name,)+
                }
            }
        }

        $(
            impl From<$payload> for EventBody {
                fn from(payload: $payload) -> Self {
                    Self::$variant(payload)
                }
            }
        )+
    };
}

event_kinds! {
    /// The socket is open (the first message a client gets).
    Connected(ConnectedEvent) = "connected",
    /// This client fell behind and missed some events.
    EventsDropped(EventsDroppedEvent) = "events_dropped",
    /// A source's sync began.
    SyncStarted(SyncStartedEvent) = "sync_started",
    /// How far a source's sync is within its current phase.
    SyncProgress(SyncProgressEvent) = "sync_progress",
    /// A source's sync finished and its data is in the warehouse.
    SyncCompleted(SyncCompletedEvent) = "sync_completed",
    /// A source's sync failed; its previous data is unchanged.
    SyncFailed(SyncFailedEvent) = "sync_failed",
    /// A source's freshness changed (after a sync).
    FreshnessUpdate(FreshnessUpdateEvent) = "freshness_update",
    /// A source's columns changed since its previous sync.
    SchemaDrift(SchemaDriftEvent) = "schema_drift",
    /// A file was uploaded to a file source.
    CsvUploaded(CsvUploadedEvent) = "csv_uploaded",
    /// A file was deleted from a file source, and its rows with it.
    CsvDeleted(CsvDeletedEvent) = "csv_deleted",
    /// A dbt run, or one model of it, began.
    DbtRunStarted(DbtRunStartedEvent) = "dbt_run_started",
    /// A model (seed, snapshot) was built.
    DbtRunCompleted(DbtRunCompletedEvent) = "dbt_run_completed",
    /// A model was skipped (an upstream node failed).
    DbtRunSkipped(DbtRunSkippedEvent) = "dbt_run_skipped",
    /// A model, or a hook, failed.
    DbtRunFailed(DbtRunFailedEvent) = "dbt_run_failed",
    /// A data test failed or could not run.
    DbtTestFailed(DbtTestFailedEvent) = "dbt_test_failed",
    /// A script of `scripts/` started.
    ScriptStarted(ScriptStartedEvent) = "script_started",
    /// A script ended: `status` says how (`success`, `failed`, `timeout`, `cancelled`).
    ScriptFinished(ScriptFinishedEvent) = "script_finished",
}

#[derive(Clone, Debug, Serialize, Object)]
pub struct ConnectedEvent {
    pub message: String,
}

#[derive(Clone, Debug, Serialize, Object)]
pub struct EventsDroppedEvent {
    pub message: String,
}

#[derive(Clone, Debug, Serialize, Object)]
pub struct SyncStartedEvent {
    pub source: String,
}

#[derive(Clone, Debug, Serialize, Object)]
pub struct SyncProgressEvent {
    pub source: String,
    /// The phase the progress is within (`load`).
    pub phase: String,
    /// 0.0 – 1.0 within the phase.
    #[oai(validator(minimum(value = "0"), maximum(value = "1")))]
    pub progress: f64,
    /// The file being loaded, if the phase works through files.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[oai(skip_serializing_if_is_none)]
    pub file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[oai(skip_serializing_if_is_none)]
    pub message: Option<String>,
}

#[derive(Clone, Debug, Serialize, Object)]
pub struct SyncCompletedEvent {
    pub source: String,
    /// Rows this sync loaded.
    pub rows: u64,
    pub message: String,
}

#[derive(Clone, Debug, Serialize, Object)]
pub struct SyncFailedEvent {
    pub source: String,
    pub error: String,
}

#[derive(Clone, Debug, Serialize, Object)]
pub struct FreshnessUpdateEvent {
    pub source: String,
}

#[derive(Clone, Debug, Serialize, Object)]
pub struct SchemaDriftEvent {
    pub source: String,
    pub message: String,
}

#[derive(Clone, Debug, Serialize, Object)]
pub struct CsvUploadedEvent {
    pub source: String,
    /// The file's name in the source's directory.
    pub file: String,
    pub message: String,
}

#[derive(Clone, Debug, Serialize, Object)]
pub struct CsvDeletedEvent {
    pub source: String,
    /// The file's path relative to the source's directory.
    pub file: String,
    /// Rows removed from the warehouse with it.
    pub rows: u64,
}

#[derive(Clone, Debug, Serialize, Object)]
pub struct DbtRunStartedEvent {
    /// The model starting, when the event is about one model.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[oai(skip_serializing_if_is_none)]
    pub model: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[oai(skip_serializing_if_is_none)]
    pub message: Option<String>,
}

#[derive(Clone, Debug, Serialize, Object)]
pub struct DbtRunCompletedEvent {
    pub model: String,
}

#[derive(Clone, Debug, Serialize, Object)]
pub struct DbtRunSkippedEvent {
    pub model: String,
    pub message: String,
}

#[derive(Clone, Debug, Serialize, Object)]
pub struct DbtRunFailedEvent {
    pub model: String,
    pub error: String,
}

#[derive(Clone, Debug, Serialize, Object)]
pub struct DbtTestFailedEvent {
    pub model: String,
    pub error: String,
}

#[derive(Clone, Debug, Serialize, Object)]
pub struct ScriptStartedEvent {
    /// The script's path under `scripts/`.
    pub script: String,
}

#[derive(Clone, Debug, Serialize, Object)]
pub struct ScriptFinishedEvent {
    pub script: String,
    /// `success`, `failed`, `timeout` or `cancelled`.
    pub status: String,
    /// The program's exit code; none when it was killed or never started.
    pub exit_code: Option<i32>,
    pub duration_seconds: f64,
    pub message: String,
}

/// One message on `/ws`; on the wire also `event`, the kind again (see [`Wire`]).
#[derive(Clone, Debug)]
pub struct Event {
    pub body: EventBody,
    /// The run the event belongs to, if any.
    pub run_id: Option<String>,
    pub timestamp: DateTime<Utc>,
}

/// How an [`Event`] is written: `event` is derived from the body, so it cannot disagree
/// with `type`.
#[derive(Serialize)]
struct Wire<'a> {
    #[serde(flatten)]
    body: &'a EventBody,
    /// The kind again, for clients of the original (which read `event`).
    event: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    run_id: &'a Option<String>,
    timestamp: &'a DateTime<Utc>,
}

impl Serialize for Event {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        Wire {
            body: &self.body,
            event: self.body.name(),
            run_id: &self.run_id,
            timestamp: &self.timestamp,
        }
        .serialize(serializer)
    }
}

/// The fields every event carries besides its own, published with each kind.
#[derive(Object)]
#[oai(rename = "PlatformEventEnvelope")]
pub struct Envelope {
    /// The kind again (the same value as `type`), for clients of the original.
    pub event: String,
    /// The run the event belongs to, if any.
    #[oai(skip_serializing_if_is_none)]
    pub run_id: Option<String>,
    pub timestamp: DateTime<Utc>,
}

impl Event {
    pub fn new(body: impl Into<EventBody>) -> Self {
        Self {
            body: body.into(),
            run_id: None,
            timestamp: Utc::now(),
        }
    }

    pub fn run(mut self, run_id: &str) -> Self {
        self.run_id = Some(run_id.to_string());
        self
    }
}

/// Cheap to clone: every clone publishes to the same subscribers.
#[derive(Clone)]
pub struct EventBus {
    sender: broadcast::Sender<Event>,
}

impl Default for EventBus {
    fn default() -> Self {
        let (sender, _) = broadcast::channel(1024);
        Self { sender }
    }
}

impl EventBus {
    /// Sends to every subscriber; nobody listening is fine.
    pub fn publish(&self, event: Event) {
        let _ = self.sender.send(event);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.sender.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_and_event_carry_the_same_name_and_only_the_kinds_fields() {
        let event = Event::new(SyncCompletedEvent {
            source: "s".into(),
            rows: 3,
            message: "3 rows in the table".into(),
        })
        .run("r1");
        let json = serde_json::to_value(event).unwrap();
        assert_eq!(json["type"], "sync_completed");
        assert_eq!(json["event"], "sync_completed");
        assert_eq!(json["rows"], 3);
        assert_eq!(json["run_id"], "r1");
        let mut keys: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "event",
                "message",
                "rows",
                "run_id",
                "source",
                "timestamp",
                "type"
            ]
        );
    }

    #[test]
    fn optional_fields_are_left_out_when_absent() {
        let json = serde_json::to_value(Event::new(DbtRunStartedEvent {
            model: None,
            message: Some("dbt build".into()),
        }))
        .unwrap();
        assert_eq!(json["type"], "dbt_run_started");
        assert!(
            json.get("model").is_none() && json.get("run_id").is_none(),
            "{json}"
        );
    }
}
