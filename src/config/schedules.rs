//! `.dango/schedules.yml` (behaviour §12.1): the schedules and where notifications go.
//! Unknown keys are refused; every error names the schedule and the key.

use std::collections::HashSet;
use std::path::Path;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ConfigError;
use crate::schedules::cron::Cron;

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SchedulesFile {
    #[serde(default)]
    pub schedules: Vec<ScheduleDef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notifications: Option<Notifications>,
}

#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, poem_openapi::Enum,
)]
#[serde(rename_all = "snake_case")]
#[oai(rename_all = "snake_case")]
pub enum ScheduleKind {
    /// Sync the sources, then build everything downstream of them once.
    #[default]
    Sync,
    /// Sync the sources, build nothing.
    SyncOnly,
    /// Build the models `dbt_command` selects.
    Dbt,
    /// Run a program of `scripts/`.
    Script,
}

impl ScheduleKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ScheduleKind::Sync => "sync",
            ScheduleKind::SyncOnly => "sync_only",
            ScheduleKind::Dbt => "dbt",
            ScheduleKind::Script => "script",
        }
    }
}

/// One schedule, as the file holds it and as the API takes it.
#[derive(Clone, Debug, Deserialize, Serialize, poem_openapi::Object)]
#[serde(deny_unknown_fields)]
#[oai(deny_unknown_fields)]
pub struct ScheduleDef {
    /// Lowercase letters, digits and underscores, starting with a letter.
    pub name: String,
    #[serde(rename = "type", default)]
    #[oai(rename = "type", default)]
    pub kind: ScheduleKind,
    /// A 5-field cron expression or a preset; resolved when loaded.
    pub cron: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[oai(default)]
    pub sources: Vec<String>,
    #[serde(default = "enabled_by_default")]
    #[oai(default = "enabled_by_default")]
    pub enabled: bool,
    /// IANA time zone of the cron expression (default UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// Nothing fires before this instant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_date: Option<DateTime<Utc>>,
    /// A run missed by more than this many seconds is skipped (default: run however late).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub misfire_grace_time: Option<u64>,
    /// The run is stopped (and recorded `timeout`) after this long; fractions allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_minutes: Option<f64>,
    /// After a failed run, try again after each of these delays in turn (default 30 s,
    /// 2 min, 5 min; `[]`: never).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_delays_seconds: Option<Vec<u64>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[oai(default)]
    pub notify_on: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dbt_command: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script_path: Option<String>,
    /// Reserved by the original's format.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_on: Option<String>,
    /// Reserved by the original's format.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script_args: Option<serde_json::Value>,
}

fn enabled_by_default() -> bool {
    true
}

/// The default run time limit of a schedule, in minutes.
pub const DEFAULT_TIMEOUT_MINUTES: f64 = 60.0;

/// How long a failed scheduled run waits before each retry, by default.
pub const DEFAULT_RETRY_DELAYS_SECONDS: [u64; 3] = [30, 120, 300];

impl ScheduleDef {
    /// The parsed cron expression (loading checked it).
    pub fn cron(&self) -> Result<Cron, String> {
        Cron::parse(&self.cron)
    }

    /// The zone the cron expression is read in.
    pub fn zone(&self) -> chrono_tz::Tz {
        self.timezone
            .as_deref()
            .and_then(|z| z.parse().ok())
            .unwrap_or(chrono_tz::UTC)
    }

    pub fn timeout_minutes(&self) -> f64 {
        self.timeout_minutes.unwrap_or(DEFAULT_TIMEOUT_MINUTES)
    }

    pub fn retry_delays_seconds(&self) -> Vec<u64> {
        self.retry_delays_seconds
            .clone()
            .unwrap_or_else(|| DEFAULT_RETRY_DELAYS_SECONDS.to_vec())
    }
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Notifications {
    #[serde(default)]
    pub webhooks: Vec<Webhook>,
    #[serde(default = "enabled_by_default")]
    pub on_failure: bool,
    #[serde(default = "enabled_by_default")]
    pub on_success: bool,
    #[serde(default = "enabled_by_default")]
    pub on_stale: bool,
    #[serde(default = "enabled_by_default")]
    pub on_governance: bool,
    #[serde(default = "enabled_by_default")]
    pub on_analysis: bool,
    #[serde(default = "default_stale_hours")]
    pub stale_threshold_hours: f64,
    /// How long to wait before each further attempt of a delivery that got a 5xx, timed
    /// out or could not connect (default 5 s, then 15 s: three attempts in all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_delays_seconds: Option<Vec<u64>>,
}

impl Notifications {
    pub fn retry_delays_seconds(&self) -> Vec<u64> {
        self.retry_delays_seconds
            .clone()
            .unwrap_or_else(|| vec![5, 15])
    }
}

fn default_stale_hours() -> f64 {
    24.0
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Webhook {
    pub name: String,
    pub url: String,
    /// `generic` (default) or `slack`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// The `.env` variable holding the secret generic payloads are signed with (default
    /// `DANGO_WEBHOOK_SECRET_<NAME>`, the name upper-cased).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_env: Option<String>,
}

impl Webhook {
    pub fn is_slack(&self) -> bool {
        self.format.as_deref() == Some("slack")
    }

    /// The `.env` variable its signing secret is read from.
    pub fn secret_variable(&self) -> String {
        self.secret_env.clone().unwrap_or_else(|| {
            format!(
                "DANGO_WEBHOOK_SECRET_{}",
                self.name.to_ascii_uppercase().replace(['-', ' '], "_")
            )
        })
    }
}

const NOTIFY_ON: &[&str] = &["failure", "success", "stale"];

fn is_schedule_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && name.len() <= 128
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

impl SchedulesFile {
    /// The file at `path`; a missing file has no schedules.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        if !path.exists() {
            return Ok(Self::default());
        }
        super::read_config(path, Self::parse)
    }

    /// Parses and checks `text`, resolving cron presets.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        let mut file: Self = serde_norway::from_str(text).map_err(|e| e.to_string())?;
        let mut seen = HashSet::new();
        for (index, schedule) in file.schedules.iter_mut().enumerate() {
            let label = format!("schedules[{index}] ('{}')", schedule.name);
            check_schedule(schedule).map_err(|e| format!("{label}: {e}"))?;
            if !seen.insert(schedule.name.clone()) {
                return Err(format!("{label}: name: another schedule has this name"));
            }
        }
        if let Some(notifications) = &file.notifications {
            for (index, hook) in notifications.webhooks.iter().enumerate() {
                let label = format!("notifications.webhooks[{index}] ('{}')", hook.name);
                if !(hook.url.starts_with("http://") || hook.url.starts_with("https://")) {
                    return Err(format!("{label}: url: must start with http:// or https://"));
                }
                if let Some(format) = hook.format.as_deref()
                    && !["generic", "slack"].contains(&format)
                {
                    return Err(format!(
                        "{label}: format: '{format}' is not one of: generic, slack"
                    ));
                }
            }
            if notifications.stale_threshold_hours.is_nan()
                || notifications.stale_threshold_hours <= 0.0
            {
                return Err(
                    "notifications.stale_threshold_hours: must be a positive number".into(),
                );
            }
        }
        Ok(file)
    }

    pub fn get(&self, name: &str) -> Option<&ScheduleDef> {
        self.schedules.iter().find(|s| s.name == name)
    }
}

/// One schedule's own rules; the cron expression is resolved in place.
fn check_schedule(schedule: &mut ScheduleDef) -> Result<(), String> {
    if !is_schedule_name(&schedule.name) {
        return Err(
            "name: use lowercase letters, digits and underscores, starting with a letter".into(),
        );
    }
    schedule.cron = Cron::parse(&schedule.cron)
        .map_err(|e| format!("cron: {e}"))?
        .text;
    if let Some(zone) = &schedule.timezone
        && zone.parse::<chrono_tz::Tz>().is_err()
    {
        return Err(format!(
            "timezone: '{zone}' is not an IANA time zone (such as Europe/Berlin or America/New_York)"
        ));
    }
    if let Some(minutes) = schedule.timeout_minutes
        && !(minutes.is_finite() && minutes > 0.0 && minutes <= 7.0 * 24.0 * 60.0)
    {
        return Err("timeout_minutes: must be more than 0 and at most a week (10080)".into());
    }
    if let Some(delays) = &schedule.retry_delays_seconds {
        if delays.len() > 10 {
            return Err("retry_delays_seconds: at most 10 retries".into());
        }
        if delays.iter().any(|d| *d > 86_400) {
            return Err("retry_delays_seconds: each delay is at most a day (86400)".into());
        }
    }
    if let Some(other) = schedule
        .notify_on
        .iter()
        .find(|n| !NOTIFY_ON.contains(&n.as_str()))
    {
        return Err(format!(
            "notify_on: '{other}' is not one of: {}",
            NOTIFY_ON.join(", ")
        ));
    }
    let kind = schedule.kind.as_str();
    match schedule.kind {
        ScheduleKind::Sync | ScheduleKind::SyncOnly if schedule.sources.is_empty() => {
            return Err(format!(
                "sources: a {kind} schedule names at least one source"
            ));
        }
        ScheduleKind::Script if !schedule.sources.is_empty() => {
            return Err("sources: a script schedule takes no sources".into());
        }
        ScheduleKind::Dbt
            if schedule
                .dbt_command
                .as_deref()
                .is_none_or(|c| c.trim().is_empty()) =>
        {
            return Err(
                "dbt_command: a dbt schedule says what to build (a dbt selector such as tag:daily)"
                    .into(),
            );
        }
        ScheduleKind::Script
            if schedule
                .script_path
                .as_deref()
                .is_none_or(|p| p.trim().is_empty()) =>
        {
            return Err("script_path: a script schedule names its program under scripts/".into());
        }
        _ => {}
    }
    if matches!(schedule.kind, ScheduleKind::SyncOnly | ScheduleKind::Script)
        && schedule.dbt_command.is_some()
    {
        return Err(format!("dbt_command: a {kind} schedule builds no models"));
    }
    for source in &mut schedule.sources {
        *source = source.to_lowercase();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_originals_format_loads() {
        let file = SchedulesFile::parse(
            r#"
schedules:
- name: nightly_sync
  type: sync
  cron: daily
  sources: [Stripe, orders_csv]
  timezone: Europe/London
  start_date: 2025-01-01T00:00:00Z
  misfire_grace_time: 300
  timeout_minutes: 60
  notify_on: [failure]
- name: models
  type: dbt
  cron: "0 */6 * * *"
  dbt_command: "tag:daily"
  enabled: false
notifications:
  webhooks:
  - {name: ops, url: "https://hooks.slack.com/services/x", format: slack}
  stale_threshold_hours: 12
"#,
        )
        .expect("valid");
        let nightly = file.get("nightly_sync").unwrap();
        assert_eq!(nightly.cron, "0 6 * * *", "the preset is resolved");
        assert_eq!(nightly.sources, ["stripe", "orders_csv"]);
        assert_eq!(nightly.zone(), chrono_tz::Europe::London);
        assert!(nightly.enabled);
        let models = file.get("models").unwrap();
        assert_eq!(models.kind, ScheduleKind::Dbt);
        assert!(!models.enabled);
        assert_eq!(models.timeout_minutes(), DEFAULT_TIMEOUT_MINUTES);
        let hooks = file.notifications.unwrap();
        assert_eq!(hooks.stale_threshold_hours, 12.0);
        assert!(hooks.on_failure);
    }

    #[test]
    fn errors_name_the_schedule_and_the_key() {
        let cases = [
            ("- {name: a, cron: daily}", "schedules[0] ('a'): sources:"),
            ("- {name: A, cron: daily, sources: [x]}", "('A'): name:"),
            (
                "- {name: a, cron: '61 * * * *', sources: [x]}",
                "('a'): cron: minute: 61",
            ),
            (
                "- {name: a, cron: daily, sources: [x], timezone: Mars/Base}",
                "('a'): timezone: 'Mars/Base'",
            ),
            (
                "- {name: a, cron: daily, sources: [x], timeout_minutes: 0}",
                "('a'): timeout_minutes:",
            ),
            (
                "- {name: a, cron: daily, sources: [x], notify_on: [always]}",
                "('a'): notify_on: 'always'",
            ),
            ("- {name: a, type: dbt, cron: daily}", "('a'): dbt_command:"),
            (
                "- {name: a, type: script, cron: daily}",
                "('a'): script_path:",
            ),
            (
                "- {name: a, type: script, cron: daily, script_path: x.py, sources: [x]}",
                "('a'): sources:",
            ),
            (
                "- {name: a, type: sync_only, cron: daily, sources: [x], dbt_command: x}",
                "('a'): dbt_command:",
            ),
            (
                "- {name: a, cron: daily, sources: [x]}\n- {name: a, cron: daily, sources: [y]}",
                "schedules[1] ('a'): name:",
            ),
            (
                "- {name: a, cron: daily, sources: [x], colour: red}",
                "colour",
            ),
        ];
        for (schedules, expected) in cases {
            let err = SchedulesFile::parse(&format!("schedules:\n{schedules}\n")).unwrap_err();
            assert!(err.contains(expected), "{schedules}: {err}");
        }
        let err = SchedulesFile::parse("notifications:\n  webhooks: [{name: x, url: 'ftp://x'}]\n")
            .unwrap_err();
        assert!(
            err.contains("notifications.webhooks[0] ('x'): url:"),
            "{err}"
        );
    }

    #[test]
    fn an_empty_file_has_no_schedules() {
        assert!(SchedulesFile::parse("").unwrap().schedules.is_empty());
        assert!(
            SchedulesFile::parse("schedules: []\n")
                .unwrap()
                .schedules
                .is_empty()
        );
    }
}
