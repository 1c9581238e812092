//! The live event bus: one broadcast channel feeding the WebSocket `/ws`.
//! Each message carries `type` and, for clients of the original, `event` with the same value.

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::broadcast;

#[derive(Clone, Debug, Serialize)]
pub struct Event {
    #[serde(rename = "type")]
    pub kind: String,
    pub event: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// 0.0 – 1.0 within the current phase.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress: Option<f64>,
    pub timestamp: DateTime<Utc>,
}

impl Event {
    pub fn new(kind: &str) -> Self {
        Self {
            kind: kind.to_string(),
            event: kind.to_string(),
            source: None,
            model: None,
            rows: None,
            error: None,
            file: None,
            message: None,
            run_id: None,
            phase: None,
            progress: None,
            timestamp: Utc::now(),
        }
    }
    pub fn source(mut self, source: &str) -> Self {
        self.source = Some(source.to_string());
        self
    }
    pub fn model(mut self, model: &str) -> Self {
        self.model = Some(model.to_string());
        self
    }
    pub fn rows(mut self, rows: u64) -> Self {
        self.rows = Some(rows);
        self
    }
    pub fn error(mut self, error: &str) -> Self {
        self.error = Some(error.to_string());
        self
    }
    pub fn file(mut self, file: &str) -> Self {
        self.file = Some(file.to_string());
        self
    }
    pub fn message(mut self, message: impl Into<String>) -> Self {
        self.message = Some(message.into());
        self
    }
    pub fn run(mut self, run_id: &str) -> Self {
        self.run_id = Some(run_id.to_string());
        self
    }
    pub fn phase(mut self, phase: &str) -> Self {
        self.phase = Some(phase.to_string());
        self
    }
    pub fn progress(mut self, progress: f64) -> Self {
        self.progress = Some(progress.clamp(0.0, 1.0));
        self
    }
}

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
    fn type_and_event_carry_the_same_name() {
        let json = serde_json::to_value(Event::new("sync_completed").source("s").rows(3)).unwrap();
        assert_eq!(json["type"], "sync_completed");
        assert_eq!(json["event"], "sync_completed");
        assert_eq!(json["rows"], 3);
        assert!(json.get("error").is_none());
    }
}
