//! Schedules (`.dango/schedules.yml`): what each one runs and when it fires, which
//! sources no schedule covers, the label a source's schedules get, and whether a
//! scheduled source is stale (behaviour §3.11: older than twice its shortest interval).

pub mod cron;
mod memory;

pub use memory::Memory;
pub(crate) use memory::{Planned, Retry, Watched};

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};

use crate::Error;
use crate::config::ProjectPaths;
use crate::config::schedules::{ScheduleDef, SchedulesFile};
pub use crate::config::schedules_edit::Edit;
use crate::error::code;

/// Loads `schedules.yml`, turning problems into a 400 that names the file, the schedule
/// and the key.
pub fn load(paths: &ProjectPaths) -> crate::Result<SchedulesFile> {
    SchedulesFile::load(&paths.schedules_yml())
        .map_err(|e| Error::bad_request(e.to_string()).with_code(code::CONFIG_INVALID))
}

/// The schedule called `name` (404 otherwise).
pub fn get(paths: &ProjectPaths, name: &str) -> crate::Result<ScheduleDef> {
    find(&load(paths)?, name).cloned()
}

/// The schedule of `file` called `name` (404 otherwise).
pub fn find<'a>(file: &'a SchedulesFile, name: &str) -> crate::Result<&'a ScheduleDef> {
    file.get(name)
        .ok_or_else(|| Error::not_found(format!("Schedule '{name}' not found")))
}

/// Adds, replaces or removes one schedule in `schedules.yml` (the rest of the file, its
/// comments included, untouched); the sources a schedule names must be configured. 400
/// naming the schedule and key when the result would not be valid, and then nothing is
/// written.
pub fn change(paths: &ProjectPaths, edit: &Edit) -> crate::Result<SchedulesFile> {
    let invalid = |message: String| Error::bad_request(message).with_code(code::CONFIG_INVALID);
    if let Edit::Upsert(schedule) = edit
        && let sources = crate::sources::names(paths)?
        && let Some(unknown) = schedule.sources.iter().find(|s| !sources.contains(s))
    {
        return Err(invalid(format!(
            "Schedule '{}': sources: '{unknown}' is not configured in .dango/sources.yml",
            schedule.name
        )));
    }
    crate::config::schedules_edit::edit_file(&paths.schedules_yml(), edit).map_err(invalid)
}

/// When `schedule` fires next after `now`: none when it is disabled or never fires.
pub fn next_run(schedule: &ScheduleDef, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    upcoming(schedule, now, 1).into_iter().next()
}

/// The next `count` firings after `now` (none before `start_date`).
pub fn upcoming(schedule: &ScheduleDef, now: DateTime<Utc>, count: usize) -> Vec<DateTime<Utc>> {
    let Ok(cron) = schedule.cron() else {
        return vec![];
    };
    // A start date in the future: the first firing is the first at or after it.
    let after = match schedule.start_date {
        Some(start) if start > now => start - Duration::seconds(1),
        _ => now,
    };
    cron.upcoming(after, schedule.zone(), count)
}

/// The configured sources no schedule names, sorted.
pub fn unscheduled(file: &SchedulesFile, sources: &[String]) -> Vec<String> {
    let covered: BTreeSet<&str> = file
        .schedules
        .iter()
        .flat_map(|s| s.sources.iter().map(String::as_str))
        .collect();
    let mut names: Vec<String> = sources
        .iter()
        .filter(|s| !covered.contains(s.as_str()))
        .cloned()
        .collect();
    names.sort();
    names
}

/// The enabled schedules that sync `source`.
fn syncing<'a>(file: &'a SchedulesFile, source: &'a str) -> impl Iterator<Item = &'a ScheduleDef> {
    file.schedules
        .iter()
        .filter(move |s| s.enabled && s.sources.iter().any(|n| n == source))
}

/// The labels of the enabled schedules that sync `source`, joined; none when it has none.
pub fn display_for(file: &SchedulesFile, source: &str) -> Option<String> {
    let mut labels: Vec<String> = Vec::new();
    for schedule in syncing(file, source) {
        let label = cron::label(&schedule.cron);
        if !labels.contains(&label) {
            labels.push(label);
        }
    }
    (!labels.is_empty()).then(|| labels.join(", "))
}

/// After how many hours without a sync a scheduled source is stale: twice the shortest
/// interval of its enabled schedules (the smallest gap among five consecutive firings;
/// 24 h when that cannot be worked out). None for a source no enabled schedule syncs.
pub fn stale_after_hours(file: &SchedulesFile, source: &str, now: DateTime<Utc>) -> Option<f64> {
    syncing(file, source)
        .map(|schedule| interval_seconds(schedule, now).map_or(24.0, |s| s / 3600.0))
        .reduce(f64::min)
        .map(|hours| hours * 2.0)
}

/// The schedule's interval: the smallest gap among five consecutive firings after `now`
/// (none when it fires fewer than twice).
fn interval_seconds(schedule: &ScheduleDef, now: DateTime<Utc>) -> Option<f64> {
    let gap = upcoming(schedule, now, 5)
        .windows(2)
        .map(|w| (w[1] - w[0]).num_seconds() as f64)
        .fold(f64::INFINITY, f64::min);
    gap.is_finite().then_some(gap)
}

/// Warns about sync schedules whose sources take 80 % of the interval or more to sync
/// (`typical_seconds`: each source's average successful sync over the last days): the
/// next firing would often find the previous run still going and be skipped.
pub fn slow_for_interval(
    file: &SchedulesFile,
    typical_seconds: &std::collections::HashMap<String, f64>,
    now: DateTime<Utc>,
) -> std::collections::HashMap<String, Vec<String>> {
    let mut found: std::collections::HashMap<String, Vec<String>> = Default::default();
    for schedule in file.schedules.iter().filter(|s| s.enabled) {
        let Some(interval) = interval_seconds(schedule, now) else {
            continue;
        };
        for source in &schedule.sources {
            let Some(typical) = typical_seconds.get(source) else {
                continue;
            };
            if *typical >= 0.8 * interval {
                found.entry(schedule.name.clone()).or_default().push(format!(
                    "syncs of '{source}' take {} on average (last 7 days), {:.0} % of the {} between firings: a firing will often find the previous run still going and be skipped",
                    seconds_text(*typical),
                    typical / interval * 100.0,
                    seconds_text(interval)
                ));
            }
        }
    }
    found
}

fn seconds_text(seconds: f64) -> String {
    if seconds < 90.0 {
        format!("{seconds:.0} s")
    } else if seconds < 5400.0 {
        format!("{:.0} min", seconds / 60.0)
    } else {
        format!("{:.1} h", seconds / 3600.0)
    }
}

/// What to tell about each schedule that is valid but probably not what was meant
/// (behaviour §12.1): sources that are not configured (its runs would fail), and enabled
/// sync schedules of a shared source that fire within a minute of each other (one of
/// the two runs would be refused as a conflict).
pub fn warnings(
    file: &SchedulesFile,
    sources: &[String],
    now: DateTime<Utc>,
) -> std::collections::HashMap<String, Vec<String>> {
    let mut found: std::collections::HashMap<String, Vec<String>> = Default::default();
    for (schedule, source) in unconfigured(file, sources) {
        found.entry(schedule.to_string()).or_default().push(format!(
            "sources: '{source}' is not configured in .dango/sources.yml, so its runs will fail"
        ));
    }
    for (schedule, mut close) in overlapping(file, now) {
        found.entry(schedule).or_default().append(&mut close);
    }
    found
}

/// Each (schedule, source) pair where the schedule names a source `sources` lacks.
pub fn unconfigured<'a>(file: &'a SchedulesFile, sources: &[String]) -> Vec<(&'a str, &'a str)> {
    file.schedules
        .iter()
        .flat_map(|s| {
            s.sources
                .iter()
                .map(move |source| (s.name.as_str(), source.as_str()))
        })
        .filter(|(_, source)| !sources.iter().any(|known| known == source))
        .collect()
}

/// Enabled sync schedules of a shared source that fire within a minute of each other in
/// their next ten firings, each with a warning naming the other.
pub fn overlapping(
    file: &SchedulesFile,
    now: DateTime<Utc>,
) -> std::collections::HashMap<String, Vec<String>> {
    let mut found: std::collections::HashMap<String, Vec<String>> = Default::default();
    let syncing: Vec<&ScheduleDef> = file
        .schedules
        .iter()
        .filter(|s| s.enabled && !s.sources.is_empty())
        .collect();
    for (i, a) in syncing.iter().enumerate() {
        for b in &syncing[i + 1..] {
            let Some(shared) = a.sources.iter().find(|s| b.sources.contains(s)) else {
                continue;
            };
            let (times_a, times_b) = (upcoming(a, now, 10), upcoming(b, now, 10));
            let close = times_a.iter().any(|ta| {
                times_b
                    .iter()
                    .any(|tb| (*ta - *tb).num_seconds().abs() < 60)
            });
            if close {
                for (this, other) in [(a, b), (b, a)] {
                    found.entry(this.name.clone()).or_default().push(format!(
                        "fires within a minute of '{}', which also syncs '{shared}': one of the two runs will be refused while the other runs",
                        other.name
                    ));
                }
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> SchedulesFile {
        SchedulesFile::parse(text).expect("valid")
    }

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .expect("RFC 3339")
            .with_timezone(&Utc)
    }

    const TWO: &str = "schedules:
- {name: hourly, cron: every_hour, sources: [orders, stripe]}
- {name: nightly, cron: daily, sources: [orders]}
- {name: off, cron: every_15m, sources: [stripe], enabled: false}
- {name: later, cron: daily, sources: [crm], start_date: '2030-01-01T00:00:00Z'}
";

    #[test]
    fn a_sync_that_takes_most_of_the_interval_is_flagged() {
        let f = file(
            "schedules:\n- {name: quick, cron: every_15m, sources: [orders, crm]}\n- {name: nightly, cron: daily, sources: [orders]}\n",
        );
        let typical: std::collections::HashMap<String, f64> = [
            ("orders".to_string(), 13.0 * 60.0),
            ("crm".to_string(), 60.0),
        ]
        .into();
        let found = slow_for_interval(&f, &typical, utc("2026-06-01T10:00:00Z"));
        assert_eq!(found.len(), 1, "{found:?}");
        let [warning] = found["quick"].as_slice() else {
            panic!("{found:?}")
        };
        assert!(warning.contains("'orders' take 13 min"), "{warning}");
        assert!(warning.contains("87 % of the 15 min"), "{warning}");
    }

    #[test]
    fn labels_and_unscheduled_sources() {
        let f = file(TWO);
        assert_eq!(
            display_for(&f, "orders").as_deref(),
            Some("Every hour, Daily at 6 AM")
        );
        assert_eq!(
            display_for(&f, "stripe").as_deref(),
            Some("Every hour"),
            "disabled schedules do not count"
        );
        assert_eq!(display_for(&f, "files"), None);
        let all = ["orders", "files", "stripe", "archive"].map(String::from);
        assert_eq!(unscheduled(&f, &all), ["archive", "files"]);
    }

    #[test]
    fn stale_thresholds_follow_the_shortest_interval() {
        let f = file(TWO);
        let now = utc("2026-05-01T10:10:00Z");
        assert_eq!(stale_after_hours(&f, "orders", now), Some(2.0));
        assert_eq!(stale_after_hours(&f, "crm", now), Some(48.0));
        assert_eq!(stale_after_hours(&f, "files", now), None);
    }

    #[test]
    fn warnings_name_unknown_sources_and_overlapping_schedules() {
        let f = file(TWO);
        let sources = ["orders", "stripe"].map(String::from);
        // (as in the original, the next 10 firings of each are compared)
        let found = warnings(&f, &sources, utc("2026-05-01T05:10:00Z"));
        assert!(
            found["later"][0].contains("'crm' is not configured"),
            "{found:?}"
        );
        // hourly and daily both sync orders, and 06:00 is a firing of both
        assert!(
            found["hourly"].iter().any(|w| w.contains("'nightly'")),
            "{found:?}"
        );
        assert!(
            found["nightly"].iter().any(|w| w.contains("'hourly'")),
            "{found:?}"
        );
        assert!(
            !found.contains_key("off"),
            "disabled schedules do not overlap"
        );
    }

    #[test]
    fn a_start_date_holds_the_first_firing_back() {
        let f = file(TWO);
        let later = f.get("later").unwrap();
        assert_eq!(
            next_run(later, utc("2026-05-01T10:10:00Z")),
            Some(utc("2030-01-01T06:00:00Z"))
        );
        let hourly = f.get("hourly").unwrap();
        assert_eq!(
            next_run(hourly, utc("2026-05-01T10:10:00Z")),
            Some(utc("2026-05-01T11:00:00Z"))
        );
    }
}
