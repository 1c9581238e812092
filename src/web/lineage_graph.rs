//! The catalog's lineage graph, drawn on the server: the models, seeds, snapshots and
//! sources around one node, laid out in layers by layout-rs (left to right, edges routed
//! around the boxes) and written as SVG by a template, so every name is escaped by the
//! engine and the browser only pans, zooms and follows links.

use std::collections::{BTreeSet, HashMap, VecDeque};

use layout::core::base::Orientation;
use layout::core::format::{ClipHandle, RenderBackend};
use layout::core::geometry::Point;
use layout::core::style::StyleAttr;
use layout::std_shapes::shapes::{Arrow, Element, ShapeKind};
use layout::topo::layout::VisualGraph;
use serde::Serialize;

use crate::catalog::{Lineage, LineageNode};

/// The most levels the graph goes up or down from the focused node.
pub const MAX_DEPTH: usize = 10;
/// The most nodes drawn: past this the nearest ones are kept and the graph says so.
const MAX_NODES: usize = 150;
/// A box's width per character of its label (a generous average for the UI font).
const CHAR_PX: f64 = 8.4;
const BOX_HEIGHT: f64 = 44.0;
const MARGIN: f64 = 12.0;
/// The longest name a box shows in full.
const LABEL_CHARS: usize = 44;

#[derive(Serialize, Debug)]
pub struct Drawing {
    pub width: f64,
    pub height: f64,
    pub nodes: Vec<DrawnNode>,
    pub edges: Vec<DrawnEdge>,
    /// Nodes within the depth that were left out to keep the graph readable.
    pub left_out: usize,
}

#[derive(Serialize, Debug)]
pub struct DrawnNode {
    pub id: String,
    pub name: String,
    /// The name as the box shows it (long names end in …; the tooltip has all of it).
    pub label: String,
    /// `model`, `source`, `seed` or `snapshot`.
    pub kind: String,
    /// What the box says under the name: the schema, and the materialization of models.
    pub detail: String,
    /// The layer the catalog groups it in (`source`, `staging`, `intermediate`, `marts`,
    /// `seed`, `snapshot`), for its colour.
    pub layer: String,
    /// The name the catalog knows it by (a source table's own name).
    pub catalog_name: String,
    /// Where the catalog shows it.
    pub href: String,
    pub focus: bool,
    /// Steps from the focused node: negative upstream, positive downstream.
    pub distance: i64,
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
}

#[derive(Serialize, Debug)]
pub struct DrawnEdge {
    pub from: String,
    pub to: String,
    /// SVG path data.
    pub path: String,
}

/// The graph around `focus` (a node's name or unique id): `upstream` levels of what it
/// reads and `downstream` levels of what reads it. `None` when no node has that name.
pub fn draw(lineage: &Lineage, focus: &str, upstream: usize, downstream: usize) -> Option<Drawing> {
    let by_id: HashMap<&str, &LineageNode> =
        lineage.nodes.iter().map(|n| (n.id.as_str(), n)).collect();
    let center = lineage
        .nodes
        .iter()
        .find(|n| n.id == focus)
        .or_else(|| lineage.nodes.iter().find(|n| n.name == focus))?;
    let mut parents: HashMap<&str, Vec<&str>> = HashMap::new();
    let mut children: HashMap<&str, Vec<&str>> = HashMap::new();
    for edge in &lineage.edges {
        if by_id.contains_key(edge.source.as_str()) && by_id.contains_key(edge.target.as_str()) {
            parents.entry(&edge.target).or_default().push(&edge.source);
            children.entry(&edge.source).or_default().push(&edge.target);
        }
    }
    let up = walk(&center.id, &parents, upstream.min(MAX_DEPTH));
    let down = walk(&center.id, &children, downstream.min(MAX_DEPTH));
    // Nearest first, so a cut keeps what is closest to the focus.
    let mut chosen: Vec<(&str, i64)> = vec![(center.id.as_str(), 0)];
    let mut rest: Vec<(&str, i64)> = up
        .iter()
        .map(|(id, d)| (*id, -(*d as i64)))
        .chain(down.iter().map(|(id, d)| (*id, *d as i64)))
        .filter(|(id, _)| *id != center.id)
        .collect();
    rest.sort_by_key(|(id, d)| (d.unsigned_abs(), *id));
    let left_out = rest.len().saturating_sub(MAX_NODES - 1);
    chosen.extend(rest.into_iter().take(MAX_NODES - 1));
    let distance: HashMap<&str, i64> = chosen.iter().copied().collect();

    let mut graph = VisualGraph::new(Orientation::LeftToRight);
    let mut handles = HashMap::new();
    for (id, _) in &chosen {
        let node = by_id[id];
        let label = box_label(node);
        let width =
            label.lines().map(|l| l.chars().count()).max().unwrap_or(1) as f64 * CHAR_PX + 28.0;
        let element = Element::create_with_properties(
            ShapeKind::new_box(&label),
            StyleAttr::simple(),
            // Boxes are laid out transposed in a left-to-right graph (as layout-rs's own
            // dot builder does).
            Orientation::TopToBottom,
            Point::new(width, BOX_HEIGHT),
            node.id.clone(),
        );
        handles.insert(*id, graph.add_node(element));
    }
    let mut edges = BTreeSet::new();
    for (id, _) in &chosen {
        for parent in parents.get(id).into_iter().flatten() {
            if distance.contains_key(parent) {
                edges.insert((*parent, *id));
            }
        }
    }
    for (from, to) in &edges {
        graph.add_edge(
            Arrow::simple_with_properties("", format!("{from}\u{1f}{to}")),
            handles[from],
            handles[to],
        );
    }
    let mut recorder = Recorder::default();
    // layout-rs asserts on inputs it cannot place; a graph it refuses is not worth a
    // crashed request.
    let laid_out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        graph.do_it(false, false, false, &mut recorder);
    }));
    if laid_out.is_err() {
        tracing::warn!(focus, "the lineage graph could not be laid out");
        return Some(Drawing {
            width: 0.0,
            height: 0.0,
            nodes: vec![],
            edges: vec![],
            left_out: chosen.len(),
        });
    }
    Some(recorder.into_drawing(&by_id, &distance, &center.id, left_out))
}

/// Breadth-first from `start` along `next`, up to `depth` steps: id → steps.
fn walk<'a>(
    start: &'a str,
    next: &HashMap<&'a str, Vec<&'a str>>,
    depth: usize,
) -> HashMap<&'a str, usize> {
    let mut seen = HashMap::from([(start, 0)]);
    let mut queue = VecDeque::from([(start, 0)]);
    while let Some((id, steps)) = queue.pop_front() {
        if steps == depth {
            continue;
        }
        for &n in next.get(id).into_iter().flatten() {
            if !seen.contains_key(n) {
                seen.insert(n, steps + 1);
                queue.push_back((n, steps + 1));
            }
        }
    }
    seen
}

fn box_label(node: &LineageNode) -> String {
    format!(
        "{}\n{}",
        shortened(&display_name(node), LABEL_CHARS),
        detail(node)
    )
}

fn shortened(text: &str, chars: usize) -> String {
    if text.chars().count() <= chars {
        return text.to_string();
    }
    let mut short: String = text.chars().take(chars - 1).collect();
    short.push('…');
    short
}

/// Sources are shown as `source.table`, as dbt's `source()` names them.
fn display_name(node: &LineageNode) -> String {
    match &node.source_name {
        Some(source) if node.kind == "source" => format!("{source}.{}", node.name),
        _ => node.name.clone(),
    }
}

fn detail(node: &LineageNode) -> String {
    match &node.materialization {
        Some(m) => format!("{} · {m}", node.schema),
        None => format!("{} · {}", node.schema, node.kind),
    }
}

fn layer(node: &LineageNode) -> String {
    match node.kind.as_str() {
        "model" => match node.schema.as_str() {
            s if s.contains("staging") => "staging".into(),
            s if s.contains("intermediate") => "intermediate".into(),
            _ => "marts".into(),
        },
        other => other.to_string(),
    }
}

/// Collects where layout-rs put the boxes and how it routed the edges; drawing is ours.
#[derive(Default)]
struct Recorder {
    boxes: Vec<(String, Point, Point)>,
    edges: Vec<(String, String)>,
}

impl Recorder {
    fn into_drawing(
        self,
        by_id: &HashMap<&str, &LineageNode>,
        distance: &HashMap<&str, i64>,
        focus: &str,
        left_out: usize,
    ) -> Drawing {
        // Shift everything so the drawing starts at the margin.
        let min_x = self
            .boxes
            .iter()
            .map(|b| b.1.x)
            .fold(f64::INFINITY, f64::min);
        let min_y = self
            .boxes
            .iter()
            .map(|b| b.1.y)
            .fold(f64::INFINITY, f64::min);
        let (dx, dy) = if min_x.is_finite() && min_y.is_finite() {
            (MARGIN - min_x, MARGIN - min_y)
        } else {
            (0.0, 0.0)
        };
        let mut width: f64 = 0.0;
        let mut height: f64 = 0.0;
        let mut nodes = Vec::new();
        for (id, at, size) in self.boxes {
            let Some(node) = by_id.get(id.as_str()) else {
                continue;
            };
            let (x, y) = (at.x + dx, at.y + dy);
            width = width.max(x + size.x + MARGIN);
            height = height.max(y + size.y + MARGIN);
            nodes.push(DrawnNode {
                label: shortened(&display_name(node), LABEL_CHARS),
                name: display_name(node),
                kind: node.kind.clone(),
                detail: detail(node),
                layer: layer(node),
                href: format!("/catalog/{}", urlencoding::encode(&node.name)),
                catalog_name: node.name.clone(),
                focus: id == focus,
                distance: distance.get(id.as_str()).copied().unwrap_or_default(),
                x: round(x),
                y: round(y),
                width: round(size.x),
                height: round(size.y),
                id,
            });
        }
        let edges = self
            .edges
            .into_iter()
            .filter_map(|(key, path)| {
                let (from, to) = key.split_once('\u{1f}')?;
                Some(DrawnEdge {
                    from: from.to_string(),
                    to: to.to_string(),
                    path: shifted(&path, dx, dy),
                })
            })
            .collect();
        Drawing {
            width: round(width),
            height: round(height),
            nodes,
            edges,
            left_out,
        }
    }
}

fn round(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

/// `path` (absolute commands and coordinate pairs) moved by (dx, dy).
fn shifted(path: &str, dx: f64, dy: f64) -> String {
    let mut out = Vec::new();
    let mut coordinate = 0;
    for token in path.split([' ', ',']).filter(|t| !t.is_empty()) {
        match token.parse::<f64>() {
            Ok(v) => {
                let moved = if coordinate % 2 == 0 { v + dx } else { v + dy };
                coordinate += 1;
                out.push(format!("{}", round(moved)));
            }
            Err(_) => {
                coordinate = 0;
                out.push(token.to_string());
            }
        }
    }
    out.join(" ")
}

impl RenderBackend for Recorder {
    fn draw_rect(
        &mut self,
        xy: Point,
        size: Point,
        _look: &StyleAttr,
        properties: Option<String>,
        _clip: Option<ClipHandle>,
    ) {
        // A box can be drawn more than once (layout-rs redraws a node whose edges it
        // reversed to break a cycle): the last drawing is where it stands.
        if let Some(id) = properties {
            self.boxes.retain(|(seen, _, _)| *seen != id);
            self.boxes.push((id, xy, size));
        }
    }

    fn draw_line(&mut self, _: Point, _: Point, _: &StyleAttr, _: Option<String>) {}

    fn draw_circle(&mut self, _: Point, _: Point, _: &StyleAttr, _: Option<String>) {}

    fn draw_text(&mut self, _: Point, _: &str, _: &StyleAttr) {}

    fn draw_arrow(
        &mut self,
        path: &[(Point, Point)],
        _dashed: bool,
        _head: (bool, bool),
        _look: &StyleAttr,
        properties: Option<String>,
        _text: &str,
    ) {
        let (Some(key), [first, second, rest @ ..]) = (properties, path) else {
            return;
        };
        // The first pair is the exit vector, the rest are entry vectors (as layout-rs's
        // SVG writer reads them).
        let mut d = format!(
            "M {} {} C {} {}, {} {}, {} {}",
            first.0.x,
            first.0.y,
            first.1.x,
            first.1.y,
            second.0.x,
            second.0.y,
            second.1.x,
            second.1.y
        );
        for point in rest {
            d.push_str(&format!(
                " S {} {}, {} {}",
                point.0.x, point.0.y, point.1.x, point.1.y
            ));
        }
        self.edges.push((key, d));
    }

    fn create_clip(&mut self, _: Point, _: Point, _: usize) -> ClipHandle {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::LineageEdge;

    fn node(id: &str, kind: &str, schema: &str) -> LineageNode {
        LineageNode {
            id: id.into(),
            name: id.rsplit('.').next().unwrap_or(id).into(),
            kind: kind.into(),
            schema: schema.into(),
            materialization: (kind == "model").then(|| "table".to_string()),
            description: String::new(),
            depends_on: vec![],
            depended_on_by: vec![],
            test_count: 0,
            test_names: vec![],
            has_description: false,
            columns_documented: 0,
            columns_total: 0,
            source_name: (kind == "source").then(|| "shop".to_string()),
        }
    }

    fn edge(source: &str, target: &str) -> LineageEdge {
        LineageEdge {
            source: source.into(),
            target: target.into(),
        }
    }

    /// source.orders → stg_orders → orders_daily → report, and an unrelated model.
    fn chain() -> Lineage {
        Lineage {
            nodes: vec![
                node("source.p.shop.orders", "source", "raw_shop"),
                node("model.p.stg_orders", "model", "staging"),
                node("model.p.orders_daily", "model", "marts"),
                node("model.p.report", "model", "marts"),
                node("model.p.unrelated", "model", "marts"),
            ],
            edges: vec![
                edge("source.p.shop.orders", "model.p.stg_orders"),
                edge("model.p.stg_orders", "model.p.orders_daily"),
                edge("model.p.orders_daily", "model.p.report"),
            ],
        }
    }

    #[test]
    fn the_depth_bounds_what_is_drawn_and_layers_run_left_to_right() {
        let drawing = draw(&chain(), "stg_orders", 1, 1).expect("known node");
        let names: BTreeSet<&str> = drawing.nodes.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(
            names,
            BTreeSet::from(["shop.orders", "stg_orders", "orders_daily"])
        );
        assert_eq!(drawing.edges.len(), 2);
        let x = |name: &str| {
            drawing
                .nodes
                .iter()
                .find(|n| n.name == name)
                .map(|n| n.x)
                .unwrap()
        };
        assert!(x("shop.orders") < x("stg_orders") && x("stg_orders") < x("orders_daily"));
        let focus: Vec<&DrawnNode> = drawing.nodes.iter().filter(|n| n.focus).collect();
        assert_eq!(focus.len(), 1);
        assert_eq!(focus[0].distance, 0);
        assert_eq!(focus[0].layer, "staging");
        for n in &drawing.nodes {
            assert!(
                n.x >= 0.0 && n.x + n.width <= drawing.width,
                "{n:?} in {}",
                drawing.width
            );
            assert!(
                n.y >= 0.0 && n.y + n.height <= drawing.height,
                "{n:?} in {}",
                drawing.height
            );
        }
        assert!(drawing.edges.iter().all(|e| e.path.starts_with("M ")));
    }

    #[test]
    fn everything_downstream_of_a_source() {
        let drawing = draw(&chain(), "source.p.shop.orders", 0, MAX_DEPTH).expect("known node");
        assert_eq!(drawing.nodes.len(), 4);
        let report = drawing.nodes.iter().find(|n| n.name == "report").unwrap();
        assert_eq!(report.distance, 3);
        assert_eq!(report.href, "/catalog/report");
    }

    #[test]
    fn an_unknown_node_and_a_lone_node() {
        assert!(draw(&chain(), "nope", 2, 2).is_none());
        let drawing = draw(&chain(), "unrelated", 2, 2).expect("known node");
        assert_eq!(drawing.nodes.len(), 1);
        assert!(drawing.edges.is_empty());
    }

    #[test]
    fn a_cycle_is_drawn_not_looped_over() {
        let mut lineage = chain();
        lineage
            .edges
            .push(edge("model.p.report", "model.p.stg_orders"));
        let drawing = draw(&lineage, "stg_orders", MAX_DEPTH, MAX_DEPTH).expect("known node");
        assert_eq!(drawing.nodes.len(), 4);
    }

    #[test]
    fn a_wide_graph_keeps_the_nearest_nodes() {
        let mut lineage = chain();
        for i in 0..200 {
            let id = format!("model.p.child_{i:03}");
            lineage.nodes.push(node(&id, "model", "marts"));
            lineage.edges.push(edge("model.p.report", &id));
        }
        let drawing = draw(&lineage, "orders_daily", 2, 2).expect("known node");
        assert_eq!(drawing.nodes.len(), MAX_NODES);
        assert_eq!(drawing.left_out, 3 + 200 - (MAX_NODES - 1));
        assert!(
            drawing.nodes.iter().any(|n| n.name == "report"),
            "the nearest are kept"
        );
    }
}
