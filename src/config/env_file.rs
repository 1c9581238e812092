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
}
