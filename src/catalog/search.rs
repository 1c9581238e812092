//! `GET /api/catalog/search?q=`: one box that finds sources, source tables, models, seeds,
//! snapshots and columns by name, tag or description. Ranked as people expect: an exact
//! name first, then names that start with the query, then names that contain it, then
//! tags, columns and descriptions; a short query with a typo (`cusomers`) still finds
//! `customers`. Each node appears once, with its best match.

use poem_openapi::{Enum, Object};

use super::{CatalogDeps, model_type, nodes, sources};
use crate::Error;
use crate::config::sources::SourcesFile;
use crate::transform::artifact_model::Node;

/// Results returned at most.
pub const MAX_RESULTS: usize = 50;

#[derive(Debug, Object)]
pub struct SearchResults {
    pub query: String,
    /// Best first; at most 50.
    pub results: Vec<SearchHit>,
    /// Matches found before the cut to 50.
    pub total: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum HitKind {
    /// A source configured in `.dango/sources.yml`.
    Source,
    /// A table of a dbt source.
    SourceTable,
    Model,
    Seed,
    Snapshot,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Enum)]
#[oai(rename_all = "snake_case")]
pub enum MatchType {
    Name,
    Tag,
    Column,
    Description,
}

#[derive(Debug, Object)]
pub struct SearchHit {
    /// The manifest id (`model.shop.orders`), or `source:<name>` for a configured source.
    pub unique_id: String,
    pub name: String,
    pub kind: HitKind,
    /// For models: `staging`, `intermediate` or `marts`.
    pub layer: Option<String>,
    pub description: String,
    pub match_type: MatchType,
    /// The column that matched, when `match_type` is `column`.
    pub matched_column: Option<String>,
    /// Whether the match needed typo tolerance.
    pub fuzzy: bool,
    /// Higher is better; comparable within one answer.
    pub score: u32,
    /// Where the web UI shows it.
    pub link: String,
    /// Where the API describes it.
    pub api: String,
}

/// How well `text` matches the lowercase `query`: exact, prefix, substring, or (short
/// queries) within one or two typos of `text` or of one of its `_`-separated words.
fn text_score(text: &str, query: &str) -> Option<(u32, bool)> {
    // Names are nearly always lowercase already: lowercase only when needed.
    let text: std::borrow::Cow<'_, str> = if text.chars().any(char::is_uppercase) {
        text.to_lowercase().into()
    } else {
        text.into()
    };
    if text == query {
        Some((100, false))
    } else if text.starts_with(query) {
        Some((80, false))
    } else if text.contains(query) {
        Some((60, false))
    } else {
        let allowed = typos_allowed(query);
        let close = |word: &str| within_distance(word, query, allowed);
        (allowed > 0 && (close(&text) || text.split(['_', ' ', '.']).any(close)))
            .then_some((40, true))
    }
}

/// Whether `text` contains the lowercase `needle`, ignoring case, without allocating for
/// ASCII text.
fn contains_ignoring_case(text: &str, needle: &str) -> bool {
    if text.is_ascii() && needle.is_ascii() {
        let needle = needle.as_bytes();
        needle.is_empty()
            || text
                .as_bytes()
                .windows(needle.len())
                .any(|window| window.eq_ignore_ascii_case(needle))
    } else {
        text.to_lowercase().contains(needle)
    }
}

/// Typo tolerance by query length: none for very short queries (everything would match),
/// one typo up to eight characters, two beyond.
fn typos_allowed(query: &str) -> usize {
    match query.chars().count() {
        0..=3 => 0,
        4..=8 => 1,
        _ => 2,
    }
}

/// Whether `a` and `b` are within `max` edits (insert, delete, substitute, swap of two
/// neighbours), computed in a band so long strings cost little.
fn within_distance(a: &str, b: &str, max: usize) -> bool {
    if a.is_ascii() && b.is_ascii() {
        return within(a.as_bytes(), b.as_bytes(), max);
    }
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    within(&a, &b, max)
}

/// [`within_distance`] over any symbols. A typo is taken to spare the first letter (as
/// spell checkers assume): that keeps the search from comparing every column in full.
fn within<T: PartialEq>(a: &[T], b: &[T], max: usize) -> bool {
    if a.len().abs_diff(b.len()) > max || a.first() != b.first() {
        return false;
    }
    let width = b.len() + 1;
    let mut stack = [0usize; 3 * 65];
    let mut heap = Vec::new();
    let rows: &mut [usize] = if 3 * width <= stack.len() {
        &mut stack[..3 * width]
    } else {
        heap.resize(3 * width, 0);
        &mut heap
    };
    for (j, cell) in rows[..width].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        let (cur, prev, prev2) = (
            (i % 3) * width,
            ((i + 2) % 3) * width,
            ((i + 1) % 3) * width,
        );
        rows[cur] = i;
        let mut best = i;
        for j in 1..width {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut value = (rows[prev + j] + 1)
                .min(rows[cur + j - 1] + 1)
                .min(rows[prev + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                value = value.min(rows[prev2 + j - 2] + 1);
            }
            rows[cur + j] = value;
            best = best.min(value);
        }
        if best > max {
            return false;
        }
    }
    rows[(a.len() % 3) * width + b.len()] <= max
}

/// The best match of `query` in one node, if any.
fn best_match(node: &Node, query: &str) -> Option<(u32, bool, MatchType, Option<String>)> {
    if let Some((score, fuzzy)) = text_score(&node.name, query) {
        return Some((score + 300, fuzzy, MatchType::Name, None));
    }
    let tag = node
        .tags
        .iter()
        .filter_map(|tag| text_score(tag, query))
        .max_by_key(|(score, _)| *score);
    if let Some((score, fuzzy)) = tag.filter(|(score, _)| *score >= 80) {
        return Some((score + 200, fuzzy, MatchType::Tag, None));
    }
    let column = node
        .columns
        .keys()
        .filter_map(|column| text_score(column, query).map(|(s, f)| (s, f, column)))
        .max_by_key(|(score, _, _)| *score);
    if let Some((score, fuzzy, column)) = column {
        return Some((score + 100, fuzzy, MatchType::Column, Some(column.clone())));
    }
    let described = contains_ignoring_case(&node.description, query)
        || node
            .columns
            .values()
            .any(|c| contains_ignoring_case(&c.description, query));
    described.then_some((60, false, MatchType::Description, None))
}

/// Searches the catalog for `q` (2–100 characters after trimming).
pub fn search(deps: &CatalogDeps<'_>, q: &str) -> crate::Result<SearchResults> {
    let trimmed = q.trim();
    let length = trimmed.chars().count();
    if length < 2 {
        return Err(Error::bad_request("Query must be at least 2 characters."));
    }
    if length > 100 {
        return Err(Error::bad_request("Query must be at most 100 characters."));
    }
    let query = trimmed.to_lowercase();
    let mut hits = Vec::new();
    if let Ok(file) = SourcesFile::load(&deps.paths.sources_yml()) {
        for source in &file.sources {
            if let Some((score, fuzzy)) = text_score(&source.name, &query) {
                hits.push(SearchHit {
                    unique_id: format!("source:{}", source.name),
                    name: source.name.clone(),
                    kind: HitKind::Source,
                    layer: None,
                    description: String::new(),
                    match_type: MatchType::Name,
                    matched_column: None,
                    fuzzy,
                    // A source outranks a model of the same name: it is where the data starts.
                    score: score + 301,
                    link: format!("/sources/{}", source.name),
                    api: format!("/api/sources/{}", source.name),
                });
            }
        }
    }
    if let Some(artifacts) = deps.artifacts.as_deref() {
        let catalogued = nodes(artifacts)
            .filter(|(_, n)| matches!(n.resource_type.as_str(), "model" | "seed" | "snapshot"))
            .chain(sources(artifacts));
        for (id, node) in catalogued {
            let Some((score, fuzzy, match_type, matched_column)) = best_match(node, &query) else {
                continue;
            };
            let kind = match node.resource_type.as_str() {
                "seed" => HitKind::Seed,
                "snapshot" => HitKind::Snapshot,
                "source" => HitKind::SourceTable,
                _ => HitKind::Model,
            };
            hits.push(SearchHit {
                unique_id: id.clone(),
                name: node.name.clone(),
                kind,
                layer: (kind == HitKind::Model)
                    .then(|| model_type(&node.schema, &node.name).to_string()),
                description: node.description.clone(),
                match_type,
                matched_column,
                fuzzy,
                score,
                link: format!("/catalog/{}", node.name),
                api: format!("/api/catalog/models/{}", node.name),
            });
        }
    }
    let total = hits.len() as u64;
    hits.sort_by(|a, b| {
        b.score
            .cmp(&a.score)
            .then_with(|| a.name.len().cmp(&b.name.len()))
            .then_with(|| a.name.cmp(&b.name))
    });
    hits.truncate(MAX_RESULTS);
    Ok(SearchResults {
        query: trimmed.to_string(),
        results: hits,
        total,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_counts_typos() {
        assert!(within_distance("customers", "cusomers", 1));
        assert!(
            within_distance("customers", "custoemrs", 1),
            "a swap is one typo"
        );
        assert!(within_distance("orders", "ordres", 1));
        assert!(!within_distance("orders", "payments", 2));
        assert!(within_distance("revenue", "revnue", 1));
        assert!(!within_distance("revenue", "rvnue", 1));
        assert!(within_distance("", "", 0));
        assert!(!within_distance("abcdef", "abxyef", 1), "two substitutions");
        assert!(within_distance("abcdef", "abxyef", 2));
        assert!(within_distance("grüße", "grüse", 1));
        assert!(
            !within_distance("orders", "borders", 1),
            "the first letter is kept"
        );
    }

    #[test]
    fn case_is_ignored_without_lowercasing_ascii() {
        assert!(contains_ignoring_case("Revenue by Country", "by country"));
        assert!(contains_ignoring_case("Grüße aus Köln", "köln"));
        assert!(!contains_ignoring_case("orders", "customers"));
        assert_eq!(text_score("Orders", "orders"), Some((100, false)));
    }

    #[test]
    fn exact_beats_prefix_beats_substring_beats_typo() {
        let scores: Vec<_> = ["orders", "orders_daily", "stg_orders", "ordres"]
            .iter()
            .map(|name| text_score(name, "orders").unwrap())
            .collect();
        assert_eq!(scores, [(100, false), (80, false), (60, false), (40, true)]);
        assert_eq!(
            text_score("fct_revenue", "revnue"),
            Some((40, true)),
            "a word of the name"
        );
        assert_eq!(text_score("abc", "abd"), None, "no typos on three letters");
    }
}
