//! Cron expressions as the original reads them (croniter: 5 fields, Sunday is 0 or 7,
//! day-of-month and day-of-week OR-ed when both are restricted) plus its presets, and
//! when they fire in a time zone. Firing follows the wall clock of the zone, the way
//! Vixie cron does across DST: a time the clocks skip fires at the first instant after
//! the change (once), and a time the clocks repeat fires only the first time.

use chrono::{
    DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Timelike, Utc,
};
use chrono_tz::Tz;

/// The presets `schedules.yml` accepts for `cron`, and what they stand for.
pub const PRESETS: &[(&str, &str)] = &[
    ("every_15m", "*/15 * * * *"),
    ("every_hour", "0 * * * *"),
    ("every_6h", "0 */6 * * *"),
    ("daily", "0 6 * * *"),
    ("weekly", "0 6 * * 1"),
];

/// How far ahead a search looks before it gives up (`0 0 30 2 *` never fires).
const SEARCH_YEARS: i32 = 8;

/// A parsed 5-field expression: each field a bit set of the values it allows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cron {
    /// The expression with presets resolved, as written to `cron` in the API.
    pub text: String,
    minutes: u64,
    hours: u32,
    days: u32,
    months: u16,
    weekdays: u8,
    /// Both day fields are restricted: a day matches when either does (croniter).
    days_or_weekdays: bool,
}

const MONTHS: &[&str] = &[
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const WEEKDAYS: &[&str] = &["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

impl Cron {
    /// Parses `text` (or a preset name); the error says which field is wrong and why.
    pub fn parse(text: &str) -> Result<Cron, String> {
        let trimmed = text.trim();
        let resolved = PRESETS
            .iter()
            .find(|(name, _)| *name == trimmed)
            .map_or(trimmed, |(_, cron)| *cron);
        let fields: Vec<&str> = resolved.split_whitespace().collect();
        if fields.len() != 5 {
            return Err(format!(
                "'{trimmed}' is not a cron expression: it needs 5 fields (minute hour day-of-month month day-of-week) or one of the presets {}",
                PRESETS
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        let minutes = field(fields[0], "minute", 0, 59, &[])?;
        let hours = field(fields[1], "hour", 0, 23, &[])?;
        let days = field(fields[2], "day of month", 1, 31, &[])?;
        let months = field(fields[3], "month", 1, 12, MONTHS)?;
        // 7 is Sunday too.
        let mut weekdays = field(fields[4], "day of week", 0, 7, WEEKDAYS)?;
        if weekdays & (1 << 7) != 0 {
            weekdays = (weekdays | 1) & 0x7f;
        }
        Ok(Cron {
            text: fields.join(" "),
            minutes,
            hours: hours as u32,
            days: days as u32,
            months: months as u16,
            weekdays: weekdays as u8,
            days_or_weekdays: !fields[2].starts_with('*') && !fields[4].starts_with('*'),
        })
    }

    fn day_matches(&self, date: NaiveDate) -> bool {
        if self.months & (1 << date.month()) == 0 {
            return false;
        }
        let day = self.days & (1 << date.day()) != 0;
        let weekday = self.weekdays & (1 << date.weekday().num_days_from_sunday()) != 0;
        if self.days_or_weekdays {
            day || weekday
        } else {
            day && weekday
        }
    }

    /// The first wall-clock minute at or after `from` that matches.
    fn next_wall_time(&self, from: NaiveDateTime) -> Option<NaiveDateTime> {
        let mut date = from.date();
        let mut earliest = from.time();
        let last = date.with_year(date.year() + SEARCH_YEARS)?;
        while date <= last {
            if self.day_matches(date) {
                for hour in earliest.hour()..24 {
                    if self.hours & (1 << hour) == 0 {
                        continue;
                    }
                    let first_minute = if hour == earliest.hour() {
                        earliest.minute()
                    } else {
                        0
                    };
                    if let Some(minute) = (first_minute..60).find(|m| self.minutes & (1 << m) != 0)
                    {
                        return date.and_hms_opt(hour, minute, 0);
                    }
                }
            }
            date = date.succ_opt()?;
            earliest = NaiveTime::MIN;
        }
        None
    }

    /// The first firing strictly after `after`, in `zone`.
    pub fn next_after(&self, after: DateTime<Utc>, zone: Tz) -> Option<DateTime<Utc>> {
        let wall = after.with_timezone(&zone).naive_local();
        // The next whole minute of the wall clock after `after`.
        let mut from = wall.with_second(0)?.with_nanosecond(0)? + Duration::minutes(1);
        loop {
            let candidate = self.next_wall_time(from)?;
            if let Some(instant) = instant_of(candidate, zone)
                && instant > after
            {
                return Some(instant);
            }
            // A wall time already passed (the second run through a repeated hour).
            from = candidate + Duration::minutes(1);
        }
    }

    /// The next `count` firings after `after`.
    pub fn upcoming(&self, after: DateTime<Utc>, zone: Tz, count: usize) -> Vec<DateTime<Utc>> {
        let mut times = Vec::with_capacity(count);
        let mut at = after;
        while times.len() < count {
            match self.next_after(at, zone) {
                Some(next) => {
                    times.push(next);
                    at = next;
                }
                None => break,
            }
        }
        times
    }
}

/// When the wall clock of `zone` shows `wall`: the first time if it shows it twice, the
/// first instant after the change if the clocks skip it.
fn instant_of(wall: NaiveDateTime, zone: Tz) -> Option<DateTime<Utc>> {
    match zone.from_local_datetime(&wall) {
        chrono::LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
        chrono::LocalResult::Ambiguous(first, _) => Some(first.with_timezone(&Utc)),
        // In a gap: the clocks jumped over it, and the first wall time after it is the
        // instant they changed.
        chrono::LocalResult::None => (1..=24 * 60).find_map(|minutes| {
            match zone.from_local_datetime(&(wall + Duration::minutes(minutes))) {
                chrono::LocalResult::Single(t) | chrono::LocalResult::Ambiguous(t, _) => {
                    Some(t.with_timezone(&Utc))
                }
                chrono::LocalResult::None => None,
            }
        }),
    }
}

/// One field as a bit set; `names` are accepted for months (from 1) and weekdays (from 0).
fn field(text: &str, what: &str, min: u32, max: u32, names: &[&str]) -> Result<u64, String> {
    let mut bits = 0u64;
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((range, step)) => {
                let step: u32 = step.parse().ok().filter(|s| *s > 0).ok_or_else(|| {
                    format!("{what}: '{part}' has a step that is not a positive number")
                })?;
                (range, step)
            }
            None => (part, 1),
        };
        let (low, high) = if range == "*" {
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            (
                value(a, what, min, max, names)?,
                value(b, what, min, max, names)?,
            )
        } else {
            let v = value(range, what, min, max, names)?;
            // `5/15` means from 5 to the end, every 15.
            (v, if part.contains('/') { max } else { v })
        };
        if low > high {
            return Err(format!("{what}: '{part}' runs backwards"));
        }
        for v in (low..=high).step_by(step as usize) {
            bits |= 1 << v;
        }
    }
    Ok(bits)
}

fn value(text: &str, what: &str, min: u32, max: u32, names: &[&str]) -> Result<u32, String> {
    let lower = text.to_ascii_lowercase();
    if let Some(index) = names.iter().position(|n| *n == lower) {
        // Months count from 1, weekdays from 0.
        return Ok(index as u32 + if what == "month" { 1 } else { 0 });
    }
    match text.parse::<u32>() {
        Ok(v) if (min..=max).contains(&v) => Ok(v),
        Ok(v) => Err(format!("{what}: {v} is outside {min}–{max}")),
        Err(_) => Err(format!(
            "{what}: '{text}' is not a number{}",
            if names.is_empty() { "" } else { " or a name" }
        )),
    }
}

/// The label the original shows for a cron expression (behaviour §12.7), or the
/// expression itself.
pub fn label(cron: &str) -> String {
    let exact = match cron {
        "0 */1 * * *" | "0 * * * *" => Some("Every hour"),
        "30 * * * *" => Some("Every hour (:30)"),
        "*/15 * * * *" => Some("Every 15 minutes"),
        "0 0 * * *" => Some("Daily at midnight"),
        "0 6 * * *" => Some("Daily at 6 AM"),
        "0 9 * * *" => Some("Daily at 9 AM"),
        "0 12 * * *" => Some("Daily at noon"),
        "0 18 * * *" => Some("Daily at 6 PM"),
        "0 6 * * 1-5" => Some("Weekdays at 6 AM"),
        "0 0 * * 1-5" => Some("Weekdays at midnight"),
        "0 0 * * 0" => Some("Weekly (Sunday)"),
        "0 0 * * 1" => Some("Weekly (Monday)"),
        "0 6 * * 1" => Some("Weekly (Monday at 6 AM)"),
        _ => None,
    };
    if let Some(label) = exact {
        return label.to_string();
    }
    let fields: Vec<&str> = cron.split(' ').collect();
    let number = |s: &str| s.parse::<u32>().ok();
    match fields.as_slice() {
        [minute, hour, "*", "*", "*"] if number(minute).is_some() && number(hour).is_some() => {
            format!(
                "Daily at {}:{:02}",
                hour,
                number(minute).unwrap_or_default()
            )
        }
        ["0", hours, "*", "*", "*"] if hours.strip_prefix("*/").and_then(number).is_some() => {
            format!("Every {} hours", &hours[2..])
        }
        [minutes, "*", "*", "*", "*"] if minutes.strip_prefix("*/").and_then(number).is_some() => {
            format!("Every {} minutes", &minutes[2..])
        }
        _ => cron.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .expect("RFC 3339")
            .with_timezone(&Utc)
    }

    fn zone(name: &str) -> Tz {
        name.parse().expect("IANA zone")
    }

    #[test]
    fn presets_resolve_and_bad_fields_say_which() {
        assert_eq!(Cron::parse("daily").unwrap().text, "0 6 * * *");
        assert_eq!(Cron::parse(" */5  *  * * * ").unwrap().text, "*/5 * * * *");
        let err = Cron::parse("0 25 * * *").unwrap_err();
        assert!(err.contains("hour: 25 is outside 0–23"), "{err}");
        assert!(Cron::parse("0 6 * *").unwrap_err().contains("5 fields"));
        assert!(Cron::parse("*/0 * * * *").unwrap_err().contains("step"));
        assert!(
            Cron::parse("0 6 * * fun")
                .unwrap_err()
                .contains("day of week")
        );
        assert!(
            Cron::parse("0 6 * * 5-1")
                .unwrap_err()
                .contains("backwards")
        );
    }

    #[test]
    fn next_firings_in_utc() {
        let every_15 = Cron::parse("every_15m").unwrap();
        let times = every_15.upcoming(utc("2026-03-01T10:07:30Z"), chrono_tz::UTC, 3);
        assert_eq!(
            times,
            [
                utc("2026-03-01T10:15:00Z"),
                utc("2026-03-01T10:30:00Z"),
                utc("2026-03-01T10:45:00Z")
            ]
        );
        // strictly after: a firing time itself is not the next one
        assert_eq!(
            every_15.next_after(utc("2026-03-01T10:15:00Z"), chrono_tz::UTC),
            Some(utc("2026-03-01T10:30:00Z"))
        );
        // names, Sunday as 7, ranges with steps
        let cron = Cron::parse("30 8-18/5 * jan-mar SUN").unwrap();
        let times = cron.upcoming(utc("2026-01-01T00:00:00Z"), chrono_tz::UTC, 4);
        assert_eq!(times[0], utc("2026-01-04T08:30:00Z"));
        assert_eq!(times[1], utc("2026-01-04T13:30:00Z"));
        assert_eq!(times[2], utc("2026-01-04T18:30:00Z"));
        assert_eq!(times[3], utc("2026-01-11T08:30:00Z"));
        assert_eq!(
            Cron::parse("0 0 * * 7").unwrap(),
            Cron {
                text: "0 0 * * 7".into(),
                ..Cron::parse("0 0 * * 0").unwrap()
            }
        );
    }

    #[test]
    fn day_of_month_or_day_of_week_when_both_are_set() {
        // the 13th, or any Friday (croniter and Vixie cron)
        let cron = Cron::parse("0 0 13 * 5").unwrap();
        let times = cron.upcoming(utc("2026-02-01T00:00:00Z"), chrono_tz::UTC, 3);
        assert_eq!(
            times,
            [
                utc("2026-02-06T00:00:00Z"),
                utc("2026-02-13T00:00:00Z"),
                utc("2026-02-20T00:00:00Z")
            ]
        );
    }

    #[test]
    fn a_time_that_never_comes_is_none() {
        assert_eq!(
            Cron::parse("0 0 30 2 *")
                .unwrap()
                .next_after(utc("2026-01-01T00:00:00Z"), chrono_tz::UTC),
            None
        );
        // 29 February comes every four years
        assert_eq!(
            Cron::parse("0 0 29 2 *")
                .unwrap()
                .next_after(utc("2026-01-01T00:00:00Z"), chrono_tz::UTC),
            Some(utc("2028-02-29T00:00:00Z"))
        );
    }

    #[test]
    fn a_zone_shifts_the_instant() {
        let daily = Cron::parse("daily").unwrap();
        let next = daily.next_after(utc("2026-07-01T00:00:00Z"), zone("Europe/London"));
        assert_eq!(next, Some(utc("2026-07-01T05:00:00Z")), "06:00 BST");
        let next = daily.next_after(utc("2026-01-01T00:00:00Z"), zone("America/New_York"));
        assert_eq!(next, Some(utc("2026-01-01T11:00:00Z")), "06:00 EST");
    }

    #[test]
    fn a_skipped_time_fires_once_right_after_the_clocks_jump() {
        // Europe/Berlin, 29 March 2026: 02:00 CET becomes 03:00 CEST (01:00 UTC)
        let cron = Cron::parse("30 2 * * *").unwrap();
        let berlin = zone("Europe/Berlin");
        let times = cron.upcoming(utc("2026-03-28T12:00:00Z"), berlin, 3);
        assert_eq!(
            times,
            [
                utc("2026-03-29T01:00:00Z"), // the change itself: 03:00 CEST
                utc("2026-03-30T00:30:00Z"), // 02:30 CEST
                utc("2026-03-31T00:30:00Z"),
            ]
        );
    }

    #[test]
    fn a_repeated_time_fires_only_the_first_time() {
        // Europe/Berlin, 25 October 2026: 03:00 CEST becomes 02:00 CET (01:00 UTC)
        let cron = Cron::parse("30 2 * * *").unwrap();
        let berlin = zone("Europe/Berlin");
        let times = cron.upcoming(utc("2026-10-24T12:00:00Z"), berlin, 2);
        assert_eq!(
            times,
            [utc("2026-10-25T00:30:00Z"), utc("2026-10-26T01:30:00Z")],
            "02:30 CEST, then the next day's 02:30 CET"
        );
        // an hourly schedule does not fire twice for the repeated hour either
        let hourly = Cron::parse("0 * * * *").unwrap();
        let times = hourly.upcoming(utc("2026-10-24T23:30:00Z"), berlin, 4);
        assert_eq!(
            times,
            [
                utc("2026-10-25T00:00:00Z"), // 02:00 CEST
                utc("2026-10-25T02:00:00Z"), // 03:00 CET (02:00 CET was seen already)
                utc("2026-10-25T03:00:00Z"),
                utc("2026-10-25T04:00:00Z"),
            ]
        );
    }

    #[test]
    fn labels() {
        assert_eq!(label("0 6 * * *"), "Daily at 6 AM");
        assert_eq!(label("0 * * * *"), "Every hour");
        assert_eq!(label("15 7 * * *"), "Daily at 7:15");
        assert_eq!(label("0 */3 * * *"), "Every 3 hours");
        assert_eq!(label("*/10 * * * *"), "Every 10 minutes");
        assert_eq!(label("0 6 1 * *"), "0 6 1 * *");
    }
}
