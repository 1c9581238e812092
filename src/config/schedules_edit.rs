//! Changing `.dango/schedules.yml` from the API or the CLI without losing what a person
//! wrote in it: one schedule's list item is replaced, added or removed as text, and every
//! other line (comments, notifications, the other schedules) stays as it was. The
//! result is parsed back and compared with what the change means; if a layout defeats
//! the text edit (a flow-style list), the file is written whole from its model instead.
//! Written atomically, one change at a time.

use std::path::Path;
use std::sync::Mutex;

use super::schedules::{ScheduleDef, SchedulesFile};

/// One change to the schedules file.
#[derive(Clone, Debug)]
pub enum Edit {
    /// Replaces the schedule of this name, or adds it at the end.
    Upsert(Box<ScheduleDef>),
    Remove(String),
}

/// Serialises read-change-write cycles within the process.
static EDITING: Mutex<()> = Mutex::new(());

/// Applies `edit` to the file at `path` (a missing file is an empty one) and returns the
/// file as it now is. The current file must be valid, and so must the result; the error
/// says which schedule and key are wrong, and nothing is written then.
pub fn edit_file(path: &Path, edit: &Edit) -> Result<SchedulesFile, String> {
    let _one_at_a_time = EDITING.lock().unwrap_or_else(|e| e.into_inner());
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(err) => return Err(format!("cannot read {}: {err}", path.display())),
    };
    let current = SchedulesFile::parse(&text).map_err(|e| {
        format!(
            "{} does not validate; fix it before changing schedules: {e}",
            path.display()
        )
    })?;
    let expected = SchedulesFile::parse(&render_whole(&apply_to_model(current, edit))?)?;
    let edited = match apply(&text, edit) {
        Some(edited) if same(&SchedulesFile::parse(&edited), &expected) => edited,
        _ => {
            tracing::warn!(
                "{} is laid out in a way a line edit cannot follow; writing it whole (comments are lost)",
                path.display()
            );
            render_whole(&expected)?
        }
    };
    crate::util::write_atomic(path, edited.as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(expected)
}

fn apply_to_model(mut file: SchedulesFile, edit: &Edit) -> SchedulesFile {
    match edit {
        Edit::Upsert(schedule) => {
            match file.schedules.iter_mut().find(|s| s.name == schedule.name) {
                Some(existing) => *existing = (**schedule).clone(),
                None => file.schedules.push((**schedule).clone()),
            }
        }
        Edit::Remove(name) => file.schedules.retain(|s| &s.name != name),
    }
    file
}

fn same(parsed: &Result<SchedulesFile, String>, expected: &SchedulesFile) -> bool {
    match parsed {
        Ok(parsed) => serde_json::to_value(parsed).ok() == serde_json::to_value(expected).ok(),
        Err(_) => false,
    }
}

fn render_whole(file: &SchedulesFile) -> Result<String, String> {
    serde_norway::to_string(file).map_err(|e| e.to_string())
}

/// One schedule as a block-style list item, each line indented by `indent`.
fn render_item(schedule: &ScheduleDef, indent: usize) -> Option<String> {
    let text = serde_norway::to_string(&[schedule]).ok()?;
    let pad = " ".repeat(indent);
    Some(text.lines().map(|line| format!("{pad}{line}\n")).collect())
}

/// Where the `schedules:` list is in the file's lines.
struct List {
    /// The `schedules:` line.
    key: usize,
    /// Whether it reads `schedules: []`.
    empty_flow: bool,
    /// Each item's first and one-past-last line (trailing blank and comment lines
    /// excluded: they stay where they are).
    items: Vec<(usize, usize)>,
    indent: usize,
}

/// The edited text, or `None` when the layout is not one this edit understands.
fn apply(text: &str, edit: &Edit) -> Option<String> {
    let mut lines: Vec<String> = text.split_inclusive('\n').map(str::to_string).collect();
    if let Some(last) = lines.last_mut()
        && !last.ends_with('\n')
    {
        last.push('\n');
    }
    let Some(list) = find_list(&lines) else {
        // No list yet: a removal changes nothing; an addition starts the list at the end.
        return match edit {
            Edit::Remove(_) => Some(text.to_string()),
            Edit::Upsert(schedule) => {
                let mut out = lines.concat();
                out.push_str("schedules:\n");
                out.push_str(&render_item(schedule, 0)?);
                Some(out)
            }
        };
    };
    let name_of = |(start, end): (usize, usize)| item_name(&lines[start..end], list.indent);
    let found = list.items.iter().copied().find(|item| match edit {
        Edit::Upsert(schedule) => name_of(*item).as_deref() == Some(schedule.name.as_str()),
        Edit::Remove(name) => name_of(*item).as_deref() == Some(name.as_str()),
    });
    match (edit, found) {
        (Edit::Upsert(schedule), Some((start, end))) => {
            let item = render_item(schedule, list.indent)?;
            lines.splice(start..end, [item]);
        }
        (Edit::Upsert(schedule), None) => {
            let item = render_item(schedule, list.indent)?;
            let at = list.items.last().map_or(list.key + 1, |(_, end)| *end);
            if list.empty_flow {
                lines[list.key] = "schedules:\n".into();
            }
            lines.insert(at, item);
        }
        (Edit::Remove(_), Some((start, end))) => {
            lines.drain(start..end);
            if list.items.len() == 1 {
                lines[list.key] = "schedules: []\n".into();
            }
        }
        (Edit::Remove(_), None) => {}
    }
    Some(lines.concat())
}

fn find_list(lines: &[String]) -> Option<List> {
    let key = lines.iter().position(|line| {
        line.strip_prefix("schedules:")
            .is_some_and(|rest| rest.trim().is_empty() || rest.trim_start().starts_with('#'))
            || is_empty_flow(line)
    })?;
    let empty_flow = is_empty_flow(&lines[key]);
    let mut items: Vec<(usize, usize)> = Vec::new();
    let mut indent = None;
    let mut last_content = key;
    let mut index = key + 1;
    while !empty_flow && index < lines.len() {
        let line = &lines[index];
        let trimmed = line.trim_start();
        let here = line.len() - trimmed.len();
        if trimmed.trim().is_empty() || trimmed.starts_with('#') {
            index += 1;
            continue;
        }
        let is_dash = trimmed.starts_with("- ") || trimmed.trim_end() == "-";
        if here == 0 && !is_dash {
            break; // the next top-level key
        }
        if is_dash && indent.is_none_or(|i| i == here) {
            indent = Some(here);
            if let Some(open) = items.last_mut() {
                open.1 = last_content + 1;
            }
            items.push((index, index + 1));
        }
        last_content = index;
        index += 1;
    }
    if let Some(open) = items.last_mut() {
        open.1 = last_content + 1;
    }
    if !empty_flow && items.is_empty() && lines[key].trim() != "schedules:" {
        return None;
    }
    Some(List {
        key,
        empty_flow,
        items,
        indent: indent.unwrap_or(0),
    })
}

fn is_empty_flow(line: &str) -> bool {
    line.strip_prefix("schedules:").is_some_and(|rest| {
        let rest = rest.split('#').next().unwrap_or("").trim();
        rest == "[]"
    })
}

/// The `name` of the list item on `lines`.
fn item_name(lines: &[String], indent: usize) -> Option<String> {
    let text: String = lines
        .iter()
        .map(|line| {
            line.get(indent.min(line.len() - line.trim_start().len())..)
                .unwrap_or("")
        })
        .collect();
    let items: Vec<serde_norway::Value> = serde_norway::from_str(&text).ok()?;
    items.first()?.get("name")?.as_str().map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMMENTED: &str = "# Our schedules. Ask Ann before changing the nightly one.
schedules:
  # every night, after the shop closes
  - name: nightly
    cron: '0 2 * * *'   # 02:00 Berlin
    timezone: Europe/Berlin
    sources: [orders]

  - {name: hourly, cron: every_hour, sources: [orders]}
# where failures go
notifications:
  webhooks: []
";

    fn schedule(name: &str, cron: &str) -> ScheduleDef {
        SchedulesFile::parse(&format!(
            "schedules:\n- {{name: {name}, cron: '{cron}', sources: [orders]}}\n"
        ))
        .unwrap()
        .schedules
        .remove(0)
    }

    fn edited(text: &str, edit: Edit) -> String {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("schedules.yml");
        std::fs::write(&path, text).unwrap();
        edit_file(&path, &edit).unwrap();
        std::fs::read_to_string(&path).unwrap()
    }

    #[test]
    fn replacing_a_schedule_keeps_every_other_line() {
        let out = edited(
            COMMENTED,
            Edit::Upsert(Box::new(schedule("hourly", "30 * * * *"))),
        );
        assert!(out.starts_with("# Our schedules. Ask Ann"), "{out}");
        assert!(
            out.contains("    cron: '0 2 * * *'   # 02:00 Berlin\n"),
            "{out}"
        );
        assert!(out.contains("# where failures go\nnotifications:"), "{out}");
        assert!(!out.contains("every_hour"), "{out}");
        let file = SchedulesFile::parse(&out).unwrap();
        assert_eq!(file.get("hourly").unwrap().cron, "30 * * * *");
        assert_eq!(file.get("nightly").unwrap().cron, "0 2 * * *");
        assert_eq!(file.schedules.len(), 2);
    }

    #[test]
    fn adding_goes_after_the_last_schedule_and_removing_takes_only_its_lines() {
        let out = edited(
            COMMENTED,
            Edit::Upsert(Box::new(schedule("weekly", "0 6 * * 1"))),
        );
        let file = SchedulesFile::parse(&out).unwrap();
        let names: Vec<&str> = file.schedules.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["nightly", "hourly", "weekly"]);
        assert!(
            out.contains("  # every night, after the shop closes\n"),
            "{out}"
        );

        let out = edited(&out, Edit::Remove("nightly".into()));
        assert!(out.contains("# Our schedules."), "{out}");
        assert!(!out.contains("Europe/Berlin"), "{out}");
        let file = SchedulesFile::parse(&out).unwrap();
        assert!(file.get("nightly").is_none());
        assert_eq!(file.schedules.len(), 2);
        assert!(file.notifications.is_some());
    }

    #[test]
    fn the_last_removal_leaves_an_empty_list_and_a_new_file_starts_one() {
        let one = "schedules:\n- name: only\n  cron: daily\n  sources: [orders]\n";
        let out = edited(one, Edit::Remove("only".into()));
        assert_eq!(out, "schedules: []\n");
        let out = edited(&out, Edit::Upsert(Box::new(schedule("again", "0 6 * * *"))));
        assert_eq!(SchedulesFile::parse(&out).unwrap().schedules.len(), 1);
        let out = edited("", Edit::Upsert(Box::new(schedule("first", "0 6 * * *"))));
        assert_eq!(
            SchedulesFile::parse(&out).unwrap().schedules[0].name,
            "first"
        );
    }

    #[test]
    fn a_flow_style_file_is_written_whole_and_an_invalid_result_writes_nothing() {
        let flow = "schedules: [{name: a, cron: daily, sources: [orders]}]\n";
        let out = edited(flow, Edit::Upsert(Box::new(schedule("b", "0 6 * * *"))));
        assert_eq!(SchedulesFile::parse(&out).unwrap().schedules.len(), 2);

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("schedules.yml");
        std::fs::write(&path, COMMENTED).unwrap();
        let mut bad = schedule("bad", "0 6 * * *");
        bad.cron = "61 * * * *".into();
        let error = edit_file(&path, &Edit::Upsert(Box::new(bad))).unwrap_err();
        assert!(error.contains("'bad'") && error.contains("cron"), "{error}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), COMMENTED);
    }
}
