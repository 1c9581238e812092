//! The project's `.env` file (behaviour §8.1): `KEY=VALUE` per line; blank lines,
//! `#` comments and lines without `=` skipped; split on the first `=`; key and value
//! trimmed; a value wrapped in matching quotes has them removed (no escapes); later keys
//! win. Secrets (webhook signing keys, source credentials) are read from it.

use std::collections::HashMap;
use std::path::Path;

/// The variables of `text`.
pub fn parse(text: &str) -> HashMap<String, String> {
    let mut vars = HashMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let key = key.trim();
        let key = key.strip_prefix("export ").map_or(key, str::trim);
        if key.is_empty() {
            continue;
        }
        vars.insert(key.to_string(), unquote(value.trim()).to_string());
    }
    vars
}

fn unquote(value: &str) -> &str {
    for quote in ['"', '\''] {
        if value.len() >= 2 && value.starts_with(quote) && value.ends_with(quote) {
            return &value[1..value.len() - 1];
        }
    }
    value
}

/// The key a line of the file sets, as [`parse`] reads it.
fn key_of(line: &str) -> Option<&str> {
    let line = line.trim();
    if line.starts_with('#') {
        return None;
    }
    let (key, _) = line.split_once('=')?;
    let key = key.trim();
    let key = key.strip_prefix("export ").map_or(key, str::trim);
    (!key.is_empty()).then_some(key)
}

/// The keys `text` sets, in the order of their first line.
pub fn keys(text: &str) -> Vec<String> {
    let mut keys: Vec<String> = Vec::new();
    for key in text.lines().filter_map(key_of) {
        if !keys.iter().any(|k| k == key) {
            keys.push(key.to_string());
        }
    }
    keys
}

/// Whether `key` is a variable name a shell would take: a letter or `_`, then letters,
/// digits and `_` (at most 128).
pub fn is_valid_key(key: &str) -> bool {
    let mut chars = key.chars();
    key.len() <= 128
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `value` as the right side of `KEY=`, so that [`parse`] reads back exactly `value`
/// (quoted when it has space at an end or is itself wrapped in quotes); none for a value
/// the format cannot hold (a line break or a NUL).
pub fn written_value(value: &str) -> Option<String> {
    if value.contains(['\n', '\r', '\0']) {
        return None;
    }
    let candidates = [
        value.to_string(),
        format!("\"{value}\""),
        format!("'{value}'"),
    ];
    candidates
        .into_iter()
        .find(|written| parse(&format!("K={written}")).get("K").map(String::as_str) == Some(value))
}

/// `text` with `key` set to `value`: its first line replaced (later duplicates dropped),
/// or a line appended; every other line, comments and blank lines included, kept as it
/// was. None when the value cannot be written (see [`written_value`]).
pub fn with_value(text: &str, key: &str, value: &str) -> Option<String> {
    let line = format!("{key}={}", written_value(value)?);
    let mut out = Vec::new();
    let mut placed = false;
    for existing in text.lines() {
        if key_of(existing) == Some(key) {
            if !placed {
                out.push(line.clone());
                placed = true;
            }
        } else {
            out.push(existing.to_string());
        }
    }
    if !placed {
        out.push(line);
    }
    Some(out.join("\n") + "\n")
}

/// `text` without the lines that set `key`; none when no line does.
pub fn without(text: &str, key: &str) -> Option<String> {
    let kept: Vec<&str> = text.lines().filter(|l| key_of(l) != Some(key)).collect();
    if kept.len() == text.lines().count() {
        return None;
    }
    Some(if kept.is_empty() {
        String::new()
    } else {
        kept.join("\n") + "\n"
    })
}

/// The variables of the file at `path`; none when it does not exist or cannot be read.
pub fn load(path: &Path) -> HashMap<String, String> {
    std::fs::read_to_string(path)
        .map(|text| parse(&text))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_keys_as_the_original_does() {
        let vars = parse(
            "# comment\n\nA=1\nB = two words \nC=\"quoted # not a comment\"\nD='x'\nE=a=b\nno equals\n=empty\nexport F=f\nA=again\nG=\"\n",
        );
        assert_eq!(vars["A"], "again");
        assert_eq!(vars["B"], "two words");
        assert_eq!(vars["C"], "quoted # not a comment");
        assert_eq!(vars["D"], "x");
        assert_eq!(vars["E"], "a=b");
        assert_eq!(vars["F"], "f");
        assert_eq!(vars["G"], "\"", "one quote is not a pair");
        assert_eq!(vars.len(), 7);
    }

    #[test]
    fn setting_a_key_keeps_comments_order_and_reads_back_exactly() {
        let text = "# Stripe\nSTRIPE_API_KEY=old\n\n# other\nA=1\nSTRIPE_API_KEY=dup\n";
        let set = with_value(text, "STRIPE_API_KEY", "sk_new").unwrap();
        assert_eq!(set, "# Stripe\nSTRIPE_API_KEY=sk_new\n\n# other\nA=1\n");
        let added = with_value(&set, "NEW", " padded ").unwrap();
        assert!(added.ends_with("A=1\nNEW=\" padded \"\n"), "{added}");
        for value in [
            "plain",
            " padded ",
            "\"quoted\"",
            "'single'",
            "a=b#c",
            "",
            "it's \"both\"",
        ] {
            let text = with_value("", "K", value).unwrap();
            assert_eq!(parse(&text)["K"], value, "{value:?} as {text:?}");
        }
        assert!(with_value("", "K", "two\nlines").is_none());
        assert!(with_value("", "K", "nul\0").is_none());
        let edges = with_value("", "K", "\" both ' ").unwrap();
        assert_eq!(parse(&edges)["K"], "\" both ' ");
    }

    #[test]
    fn removing_a_key_drops_every_line_of_it_and_nothing_else() {
        let text = "# keep\nA=1\nexport B=2\nA=3\n";
        assert_eq!(without(text, "A").unwrap(), "# keep\nexport B=2\n");
        assert_eq!(without(text, "B").unwrap(), "# keep\nA=1\nA=3\n");
        assert!(without(text, "C").is_none());
        assert_eq!(without("A=1\n", "A").unwrap(), "");
    }

    #[test]
    fn keys_are_shell_variable_names() {
        for good in ["A", "_x", "STRIPE_API_KEY", "a1"] {
            assert!(is_valid_key(good), "{good}");
        }
        for bad in ["", "1A", "A-B", "A B", "A=B", "Ä"] {
            assert!(!is_valid_key(bad), "{bad}");
        }
    }
}
