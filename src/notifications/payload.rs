//! The bodies webhooks receive: the original's generic JSON and Slack's attachment format
//! (behaviour §12.6), so receivers built for the original keep working.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::{EventKind, Notice};

/// `{"event","schedule","sources","error","duration_seconds","timestamp","dashboard_url",
/// "rows_loaded","stale_hours","attempt_number","next_retry_at","metadata"}`.
pub fn generic_body(notice: &Notice, dashboard_url: &str, at: DateTime<Utc>) -> Value {
    json!({
        "event": notice.event.map(EventKind::as_str),
        "schedule": notice.schedule,
        "sources": notice.sources,
        "error": notice.error,
        "duration_seconds": notice.duration_seconds,
        "timestamp": at.to_rfc3339(),
        "dashboard_url": dashboard_url,
        "rows_loaded": notice.rows_loaded,
        "stale_hours": notice.stale_hours,
        "attempt_number": notice.attempt_number,
        "next_retry_at": notice.next_retry_at.map(|t| t.to_rfc3339()),
        "metadata": {"run_id": notice.run_id, "source": notice.source},
    })
}

pub fn slack_body(notice: &Notice, dashboard_url: &str) -> Value {
    let (header, color) = match notice.event {
        Some(EventKind::SyncCompleted) => ("Sync Completed", "#2eb886"),
        Some(EventKind::SyncFailed) => ("Sync Failed", "#e01e5a"),
        Some(EventKind::SyncStale) => ("Sync Stale", "#ecb22e"),
        Some(EventKind::SyncRetrying) | None => ("Sync Retrying", "#aaaaaa"),
    };
    let mut lines = vec![format!("*Schedule:* {}", notice.schedule)];
    if !notice.sources.is_empty() {
        lines.push(format!("*Sources:* {}", notice.sources.join(", ")));
    }
    match notice.event {
        Some(EventKind::SyncCompleted) => {
            if let Some(rows) = notice.rows_loaded {
                lines.push(format!("*Rows loaded:* {}", thousands(rows)));
            }
            if let Some(seconds) = notice.duration_seconds {
                lines.push(format!("*Duration:* {}", duration(seconds)));
            }
        }
        Some(EventKind::SyncFailed) => {
            lines.push(format!(
                "*Error:* {}",
                notice.error.as_deref().unwrap_or("")
            ));
        }
        Some(EventKind::SyncStale) => {
            if let Some(hours) = notice.stale_hours {
                lines.push(format!("*Hours since last sync:* {hours:.1}"));
            }
        }
        Some(EventKind::SyncRetrying) | None => {
            if let Some(attempt) = notice.attempt_number {
                lines.push(format!("*Attempt:* {attempt}"));
            }
            if let Some(at) = notice.next_retry_at {
                lines.push(format!("*Next retry:* {}", at.format("%H:%M:%S UTC")));
            }
            if let Some(error) = &notice.error {
                lines.push(format!("*Error:* {error}"));
            }
        }
    }
    json!({"attachments": [{
        "color": color,
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": header, "emoji": true}},
            {"type": "section", "text": {"type": "mrkdwn", "text": lines.join("\n")}},
            {"type": "section", "text": {"type": "mrkdwn", "text": format!("<{dashboard_url}|View Dashboard>")}},
        ],
    }]})
}

/// 1234567 → `1,234,567`.
fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// `45s`, `2m 30s`, `1h 1m`.
fn duration(seconds: f64) -> String {
    let total = seconds.round().max(0.0) as u64;
    match total {
        0..60 => format!("{total}s"),
        60..3600 => format!("{}m {}s", total / 60, total % 60),
        _ => format!("{}h {}m", total / 3600, (total % 3600) / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slack_messages_read_as_the_originals_do() {
        let notice = Notice {
            event: Some(EventKind::SyncCompleted),
            schedule: "nightly".into(),
            sources: vec!["orders".into(), "customers".into()],
            rows_loaded: Some(1234),
            duration_seconds: Some(150.0),
            ..Default::default()
        };
        let body = slack_body(&notice, "http://localhost:8800");
        let attachment = &body["attachments"][0];
        assert_eq!(attachment["color"], "#2eb886");
        assert_eq!(attachment["blocks"][0]["text"]["text"], "Sync Completed");
        assert_eq!(
            attachment["blocks"][1]["text"]["text"],
            "*Schedule:* nightly\n*Sources:* orders, customers\n*Rows loaded:* 1,234\n*Duration:* 2m 30s"
        );
        assert_eq!(
            attachment["blocks"][2]["text"]["text"],
            "<http://localhost:8800|View Dashboard>"
        );
        assert_eq!(duration(45.0), "45s");
        assert_eq!(duration(3660.0), "1h 1m");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }
}
