//! Shell-style file patterns (`*.csv`, `sales_??.json`, `[ab]*`, `**/x.csv`), matched
//! against paths relative to a source directory. `*` and `?` do not cross `/`; `**/`
//! matches any number of directories.

pub fn matches(pattern: &str, path: &str) -> bool {
    match_bytes(pattern.as_bytes(), path.as_bytes())
}

/// Whether the pattern can match files below the top directory.
pub fn is_recursive(pattern: &str) -> bool {
    pattern.contains('/')
}

fn match_bytes(pattern: &[u8], text: &[u8]) -> bool {
    if let Some(rest) = pattern.strip_prefix(b"**/") {
        // zero or more directories
        if match_bytes(rest, text) {
            return true;
        }
        return text
            .iter()
            .enumerate()
            .filter(|(_, b)| **b == b'/')
            .any(|(i, _)| match_bytes(rest, &text[i + 1..]));
    }
    match (pattern.first(), text.first()) {
        (None, None) => true,
        (None, Some(_)) => false,
        (Some(b'*'), _) => {
            let rest = &pattern[1..];
            let mut i = 0;
            loop {
                if match_bytes(rest, &text[i..]) {
                    return true;
                }
                if i == text.len() || text[i] == b'/' {
                    return false;
                }
                i += 1;
            }
        }
        (Some(_), None) => false,
        (Some(b'?'), Some(c)) => *c != b'/' && match_bytes(&pattern[1..], &text[1..]),
        (Some(b'['), Some(c)) => match pattern.iter().position(|b| *b == b']') {
            Some(end) if end > 1 => {
                let class = &pattern[1..end];
                let (negate, class) = match class.first() {
                    Some(b'!') | Some(b'^') => (true, &class[1..]),
                    _ => (false, class),
                };
                let mut found = false;
                let mut i = 0;
                while i < class.len() {
                    if i + 2 < class.len() && class[i + 1] == b'-' {
                        found |= class[i] <= *c && *c <= class[i + 2];
                        i += 3;
                    } else {
                        found |= class[i] == *c;
                        i += 1;
                    }
                }
                found != negate && match_bytes(&pattern[end + 1..], &text[1..])
            }
            _ => *c == b'[' && match_bytes(&pattern[1..], &text[1..]),
        },
        (Some(p), Some(c)) => p == c && match_bytes(&pattern[1..], &text[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn patterns() {
        assert!(matches("*", "a.csv"));
        assert!(matches("*.csv", "sales.csv"));
        assert!(!matches("*.csv", "sales.json"));
        assert!(!matches("*.csv", "sub/sales.csv"));
        assert!(matches("sales_??.csv", "sales_01.csv"));
        assert!(!matches("sales_??.csv", "sales_1.csv"));
        assert!(matches("[ab]*.csv", "b1.csv"));
        assert!(!matches("[!ab]*.csv", "b1.csv"));
        assert!(matches("[0-9]*", "7x"));
        assert!(matches("**/*.csv", "x.csv"));
        assert!(matches("**/*.csv", "a/b/x.csv"));
        assert!(matches("sub/*.csv", "sub/x.csv"));
    }
}
