//! GraphML and CSV export.

use std::fmt::Write as _;
use std::path::Path;

use std::borrow::Cow;

use super::{Centrality, Layout, NodeInfo, SimilarityGraph};
use crate::error::{Error, Result};
use fashion_data::io::write_atomic;

/// `s` with XML's special characters escaped (for text and attribute values).
fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// `s` as a CSV field: quoted (with doubled quotes) when it holds a comma, quote or
/// line break.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// A graph with the per-node numbers written next to it: its [`Centrality`] (always:
/// degree, betweenness, component), and where given the layout's positions and the
/// model's confidence in each prediction. Every file it writes has the same rows, in the
/// graph's row order, with the same numbers (printed in Rust's shortest round-trip
/// form, so a reader parses back exactly the `f64`s we computed).
///
/// Betweenness is [`Centrality::betweenness`]: unweighted shortest paths, normalised as
/// networkx's `betweenness_centrality` does by default (divided by `(n − 1)(n − 2)`
/// over ordered pairs, so every value is in `[0, 1]` and a star's centre has 1).
///
/// ```
/// use fashion_graph::{self as graph, GraphExport, KnnParams, LayoutParams, NodeInfo};
/// use ndarray::array;
///
/// # fn main() -> fashion_graph::Result<()> {
/// let x = array![[0.0f32, 0.0], [1.0, 0.0], [2.0, 0.0]];
/// let nodes: Vec<NodeInfo> = (0..3).map(|i| NodeInfo::new(10 + i, 0).with_prediction(0)).collect();
/// let g = graph::knn(&x, &nodes, &KnnParams::default().k(1))?;
/// let layout = graph::fruchterman_reingold(&g, &LayoutParams::default())?;
/// let confidence = [0.5, 0.75, 1.0];
/// let export = GraphExport::new(&g).with_layout(&layout)?.with_confidence(&confidence)?;
/// let csv = export.node_csv();
/// let middle: Vec<&str> = csv.lines().nth(2).unwrap().split(',').collect();
/// // node, id, class, class_name, predicted, correct, confidence, degree, betweenness, component
/// assert_eq!(middle[..10], ["1", "11", "0", "T-shirt/top", "0", "true", "0.75", "2", "1", "0"]);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct GraphExport<'a> {
    graph: &'a SimilarityGraph,
    centrality: Cow<'a, Centrality>,
    positions: Option<&'a [(f64, f64)]>,
    confidence: Option<&'a [f32]>,
}

/// The node attributes of GraphML, in column order: name, GraphML type.
const NODE_KEYS: [(&str, &str); 11] = [
    ("id", "long"),
    ("class", "int"),
    ("class_name", "string"),
    ("predicted", "int"),
    ("correct", "boolean"),
    ("confidence", "double"),
    ("degree", "int"),
    ("betweenness", "double"),
    ("component", "int"),
    ("x", "double"),
    ("y", "double"),
];

impl<'a> GraphExport<'a> {
    /// The graph with its centralities, computed here ([`Centrality::compute`]).
    pub fn new(g: &'a SimilarityGraph) -> GraphExport<'a> {
        GraphExport {
            graph: g,
            centrality: Cow::Owned(Centrality::compute(g)),
            positions: None,
            confidence: None,
        }
    }

    /// The graph with centralities computed before (saves computing them again).
    ///
    /// # Errors
    /// [`Error::Params`](crate::Error::Params) naming `centrality` when it was computed
    /// for another number of nodes.
    pub fn measured(g: &'a SimilarityGraph, centrality: &'a Centrality) -> Result<GraphExport<'a>> {
        check_len("centrality", g.node_count(), centrality.degree.len())?;
        Ok(GraphExport {
            graph: g,
            centrality: Cow::Borrowed(centrality),
            positions: None,
            confidence: None,
        })
    }

    /// Adds the layout's positions (columns `x`, `y`, in the layout's unit square, `y`
    /// pointing down as drawn).
    ///
    /// # Errors
    /// `layout` with another number of nodes.
    pub fn with_layout(mut self, layout: &'a Layout) -> Result<GraphExport<'a>> {
        check_len("layout", self.graph.node_count(), layout.len())?;
        self.positions = Some(layout.positions());
        Ok(self)
    }

    /// Adds the model's confidence in each prediction (softmax probability of the
    /// predicted class; column `confidence`).
    ///
    /// # Errors
    /// Another number of values than nodes, or a value outside `[0, 1]` (NaN included).
    pub fn with_confidence(mut self, confidence: &'a [f32]) -> Result<GraphExport<'a>> {
        check_len("confidence", self.graph.node_count(), confidence.len())?;
        if let Some((i, p)) = confidence
            .iter()
            .enumerate()
            .find(|(_, p)| !(0.0..=1.0).contains(*p))
        {
            return Err(Error::invalid(
                "confidence",
                "probabilities in [0, 1]",
                format!("{p} at node {i}"),
            ));
        }
        self.confidence = Some(confidence);
        Ok(self)
    }

    /// The centralities written.
    pub fn centrality(&self) -> &Centrality {
        &self.centrality
    }

    /// Node `i`'s values in [`NODE_KEYS`] order, as written (empty where unknown).
    fn node_values(&self, i: usize, node: &NodeInfo) -> [String; 11] {
        let c = &self.centrality;
        let pos = self.positions.map(|p| p[i]);
        [
            node.id.to_string(),
            node.class.to_string(),
            node.class_name().to_string(),
            node.predicted.map(|p| p.to_string()).unwrap_or_default(),
            node.correct().map(|c| c.to_string()).unwrap_or_default(),
            self.confidence
                .map(|p| p[i].to_string())
                .unwrap_or_default(),
            c.degree[i].to_string(),
            c.betweenness[i].to_string(),
            c.component[i].to_string(),
            pos.map(|p| p.0.to_string()).unwrap_or_default(),
            pos.map(|p| p.1.to_string()).unwrap_or_default(),
        ]
    }

    /// The graph as a GraphML document (undirected). Nodes are `n0, n1, …` in row order
    /// with the attributes `id` (image index), `class`, `class_name`, `predicted`,
    /// `correct`, `confidence`, `degree`, `betweenness`, `component`, `x`, `y` (each
    /// left out of a node where unknown, e.g. without a prediction or a layout); edges
    /// carry `weight` (see
    /// [`Construction::weight_meaning`](super::Construction::weight_meaning)); the
    /// graph carries `construction`, a description of how it was built, and
    /// `betweenness_method` (exact, or estimated from how many pivots). Opens in
    /// Gephi, Cytoscape, networkx (`read_graphml`), igraph and yEd.
    pub fn graphml(&self) -> String {
        let g = self.graph;
        let mut s = String::new();
        s.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        s.push_str(
            "<graphml xmlns=\"http://graphml.graphdrawing.org/xmlns\" \
             xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" \
             xsi:schemaLocation=\"http://graphml.graphdrawing.org/xmlns \
             http://graphml.graphdrawing.org/xmlns/1.0/graphml.xsd\">\n",
        );
        let keys = [
            ("construction", "graph", "string"),
            ("betweenness_method", "graph", "string"),
        ]
        .into_iter()
        .chain(NODE_KEYS.iter().map(|&(k, t)| (k, "node", t)))
        .chain(std::iter::once(("weight", "edge", "double")));
        for (id, on, ty) in keys {
            let _ = writeln!(
                s,
                "  <key id=\"{id}\" for=\"{on}\" attr.name=\"{id}\" attr.type=\"{ty}\"/>"
            );
        }
        s.push_str("  <graph id=\"G\" edgedefault=\"undirected\">\n");
        let _ = writeln!(
            s,
            "    <data key=\"construction\">{}</data>",
            xml_escape(&g.construction().describe())
        );
        let _ = writeln!(
            s,
            "    <data key=\"betweenness_method\">{}</data>",
            xml_escape(&self.centrality.betweenness_method())
        );
        for (i, node) in g.nodes().iter().enumerate() {
            let _ = write!(s, "    <node id=\"n{i}\">");
            for ((key, _), value) in NODE_KEYS.iter().zip(self.node_values(i, node)) {
                if !value.is_empty() {
                    let _ = write!(s, "<data key=\"{key}\">{}</data>", xml_escape(&value));
                }
            }
            s.push_str("</node>\n");
        }
        for (e, (i, j, w)) in g.edge_list().into_iter().enumerate() {
            let _ = writeln!(
                s,
                "    <edge id=\"e{e}\" source=\"n{i}\" target=\"n{j}\"><data key=\"weight\">{w}</data></edge>"
            );
        }
        s.push_str("  </graph>\n</graphml>\n");
        s
    }

    /// The nodes as CSV, one row each in row order: `node` (row position), then the
    /// GraphML attributes of [`graphml`](Self::graphml) in the same order, empty where
    /// unknown.
    pub fn node_csv(&self) -> String {
        let mut s = String::from("node");
        for (key, _) in NODE_KEYS {
            s.push(',');
            s.push_str(key);
        }
        s.push('\n');
        for (i, node) in self.graph.nodes().iter().enumerate() {
            let _ = write!(s, "{i}");
            for value in self.node_values(i, node) {
                s.push(',');
                s.push_str(&csv_field(&value));
            }
            s.push('\n');
        }
        s
    }

    /// The edges as CSV, sorted by row positions: `source`, `target` (row positions,
    /// `source < target`), `source_id`, `target_id` (image indices), `weight`.
    pub fn edge_csv(&self) -> String {
        let nodes = self.graph.nodes();
        let mut s = String::from("source,target,source_id,target_id,weight\n");
        for (i, j, w) in self.graph.edge_list() {
            let _ = writeln!(s, "{i},{j},{},{},{w}", nodes[i].id, nodes[j].id);
        }
        s
    }

    /// Writes [`graphml`](Self::graphml) to `path` (temporary file in the same
    /// directory, then renamed: never seen half-written).
    ///
    /// # Errors
    /// [`Error::Data`](crate::Error::Data) ([`Io`](fashion_data::Error::Io)) naming the path.
    pub fn write_graphml(&self, path: impl AsRef<Path>) -> Result<()> {
        Ok(write_atomic(path.as_ref(), self.graphml().as_bytes())?)
    }

    /// Writes [`node_csv`](Self::node_csv), atomically as [`write_graphml`](Self::write_graphml).
    ///
    /// # Errors
    /// As [`write_graphml`](Self::write_graphml).
    pub fn write_node_csv(&self, path: impl AsRef<Path>) -> Result<()> {
        Ok(write_atomic(path.as_ref(), self.node_csv().as_bytes())?)
    }

    /// Writes [`edge_csv`](Self::edge_csv), atomically as [`write_graphml`](Self::write_graphml).
    ///
    /// # Errors
    /// As [`write_graphml`](Self::write_graphml).
    pub fn write_edge_csv(&self, path: impl AsRef<Path>) -> Result<()> {
        Ok(write_atomic(path.as_ref(), self.edge_csv().as_bytes())?)
    }
}

/// `found` values for `expected` nodes, or an error naming `name`.
fn check_len(name: &'static str, expected: usize, found: usize) -> Result<()> {
    if expected == found {
        Ok(())
    } else {
        Err(Error::invalid(
            name,
            format!("one value per node ({expected})"),
            found,
        ))
    }
}

/// [`GraphExport::graphml`] of `g` with its centralities (no layout, no confidence).
pub fn graphml_string(g: &SimilarityGraph) -> String {
    GraphExport::new(g).graphml()
}

/// Writes [`graphml_string`] to `path` (see [`GraphExport::write_graphml`]).
///
/// # Errors
/// [`Error::Data`](crate::Error::Data) ([`Io`](fashion_data::Error::Io)) naming the path.
pub fn write_graphml(g: &SimilarityGraph, path: impl AsRef<Path>) -> Result<()> {
    GraphExport::new(g).write_graphml(path)
}

/// Writes the nodes as CSV with their centralities (see [`GraphExport::node_csv`]).
///
/// # Errors
/// As [`write_graphml`].
pub fn write_node_csv(g: &SimilarityGraph, path: impl AsRef<Path>) -> Result<()> {
    GraphExport::new(g).write_node_csv(path)
}

/// Writes the edges as CSV (see [`GraphExport::edge_csv`]).
///
/// # Errors
/// As [`write_graphml`].
pub fn write_edge_csv(g: &SimilarityGraph, path: impl AsRef<Path>) -> Result<()> {
    GraphExport::new(g).write_edge_csv(path)
}

#[cfg(test)]
mod tests {
    use super::super::testdata::*;
    use super::super::{Construction, KnnParams, NodeInfo, knn};
    use super::*;
    use crate::error::Error;

    /// A minimal XML well-formedness check: every tag is closed in order, attribute
    /// values are quoted, text holds no raw `<` or unknown entity. Returns the element
    /// names in document order.
    fn check_xml(doc: &str) -> Vec<String> {
        let body = doc
            .strip_prefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n")
            .expect("XML declaration");
        let mut stack: Vec<String> = Vec::new();
        let mut names = Vec::new();
        let mut rest = body;
        while let Some(open) = rest.find('<') {
            check_text(&rest[..open]);
            let close = rest[open..].find('>').expect("unclosed tag") + open;
            let tag = &rest[open + 1..close];
            if let Some(name) = tag.strip_prefix('/') {
                assert_eq!(stack.pop().as_deref(), Some(name), "mismatched </{name}>");
            } else {
                let self_closing = tag.ends_with('/');
                let tag = tag.trim_end_matches('/');
                let name = tag
                    .split_whitespace()
                    .next()
                    .expect("empty tag")
                    .to_string();
                // Attributes: name="value" pairs, values without raw < or ".
                let attrs = tag[name.len()..].trim();
                let mut a = attrs;
                while !a.is_empty() {
                    let eq = a.find("=\"").expect("attribute without =\"");
                    let end = a[eq + 2..].find('"').expect("unterminated value") + eq + 2;
                    check_text(&a[eq + 2..end]);
                    a = a[end + 1..].trim_start();
                }
                names.push(name.clone());
                if !self_closing {
                    stack.push(name);
                }
            }
            rest = &rest[close + 1..];
        }
        assert!(rest.trim().is_empty());
        assert!(stack.is_empty(), "unclosed: {stack:?}");
        names
    }

    fn check_text(t: &str) {
        assert!(!t.contains('>'), "raw > in {t:?}");
        let mut parts = t.split('&');
        parts.next();
        for p in parts {
            let entity = &p[..p.find(';').expect("bare &")];
            assert!(
                ["amp", "lt", "gt", "quot", "apos"].contains(&entity),
                "unknown entity &{entity};"
            );
        }
    }

    #[test]
    fn graphml_is_well_formed_and_round_trips_counts() {
        let (x, nodes) = clusters(30, 5, 0.5, 3);
        let g = knn(&x, &nodes, &KnnParams::default().k(3)).unwrap();
        let doc = graphml_string(&g);
        let names = check_xml(&doc);
        assert_eq!(names.iter().filter(|n| *n == "node").count(), 30);
        assert_eq!(
            names.iter().filter(|n| *n == "edge").count(),
            g.edge_count()
        );
        assert_eq!(names.iter().filter(|n| *n == "key").count(), 14);
        // Escaped class name, ids and predictions present.
        assert!(doc.contains("<data key=\"class_name\">T-shirt/top</data>"));
        assert!(doc.contains("<data key=\"id\">1003</data>"));
        assert!(doc.contains("<data key=\"correct\">false</data>"));
        // Every edge's endpoints are declared nodes, weights parse back.
        for line in doc.lines().filter(|l| l.contains("<edge ")) {
            let attr = |name: &str| {
                let start = line.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
                line[start..start + line[start..].find('"').unwrap()].to_string()
            };
            let s: usize = attr("source")[1..].parse().unwrap();
            let t: usize = attr("target")[1..].parse().unwrap();
            assert!(s < t && t < 30);
            let w: f64 = line
                .split("<data key=\"weight\">")
                .nth(1)
                .unwrap()
                .split('<')
                .next()
                .unwrap()
                .parse()
                .unwrap();
            assert!(w > 0.0);
        }
    }

    #[test]
    fn special_characters_are_escaped() {
        assert_eq!(
            xml_escape("a<b & \"c\" 'd'>"),
            "a&lt;b &amp; &quot;c&quot; &apos;d&apos;&gt;"
        );
        check_xml(&format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<a b=\"{}\">{}</a>",
            xml_escape("\"<&>'"),
            xml_escape("<&>")
        ));
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("Ankle boot"), "Ankle boot");
    }

    #[test]
    fn files_are_written_atomically_with_all_rows() {
        let dir = tempfile::tempdir().unwrap();
        let nodes = vec![
            NodeInfo::new(5, 0).with_prediction(6),
            NodeInfo::new(9, 9),
            NodeInfo::new(2, 3).with_prediction(3),
        ];
        let g = SimilarityGraph::from_edges(
            &nodes,
            &[(0, 2, 0.25), (1, 2, 2.5)],
            Construction::Knn {
                params: KnnParams::default().k(1),
            },
        )
        .unwrap();
        let (gm, nc, ec) = (
            dir.path().join("g.graphml"),
            dir.path().join("n.csv"),
            dir.path().join("e.csv"),
        );
        write_graphml(&g, &gm).unwrap();
        write_node_csv(&g, &nc).unwrap();
        write_edge_csv(&g, &ec).unwrap();
        assert_eq!(std::fs::read_to_string(&gm).unwrap(), graphml_string(&g));
        // Node 1 has no edge: its own component, betweenness 0.
        assert_eq!(
            std::fs::read_to_string(&nc).unwrap(),
            "node,id,class,class_name,predicted,correct,confidence,degree,betweenness,component,x,y\n\
             0,5,0,T-shirt/top,6,false,,1,0,0,,\n\
             1,9,9,Ankle boot,,,,1,0,0,,\n\
             2,2,3,Dress,3,true,,2,1,0,,\n"
        );
        assert_eq!(
            std::fs::read_to_string(&ec).unwrap(),
            "source,target,source_id,target_id,weight\n0,2,5,2,0.25\n1,2,9,2,2.5\n"
        );
        let mut names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["e.csv", "g.graphml", "n.csv"]);
        let err = write_graphml(&g, dir.path().join("missing").join("g.graphml")).unwrap_err();
        assert!(
            matches!(err, Error::Data(fashion_data::Error::Io { .. }))
                && err.to_string().contains("missing"),
            "{err}"
        );
    }

    /// Node attributes read back with quick-xml (a conforming XML parser): one map per
    /// node, key → text, entities resolved.
    fn parse_graphml_nodes(doc: &str) -> Vec<std::collections::BTreeMap<String, String>> {
        use quick_xml::events::Event;
        let mut reader = quick_xml::Reader::from_str(doc);
        let mut nodes = Vec::new();
        let mut key: Option<String> = None;
        let mut text = String::new();
        loop {
            match reader.read_event().expect("GraphML parses") {
                Event::Start(e) if e.name().as_ref() == b"node" => {
                    nodes.push(std::collections::BTreeMap::new());
                }
                Event::Start(e) if e.name().as_ref() == b"data" => {
                    let k = e
                        .attributes()
                        .map(|a| a.expect("attribute parses"))
                        .find(|a| a.key.as_ref() == b"key")
                        .expect("data has a key");
                    key = Some(String::from_utf8(k.value.to_vec()).unwrap());
                    text.clear();
                }
                Event::Text(t) if key.is_some() => {
                    text.push_str(&quick_xml::escape::unescape(&t.decode().unwrap()).unwrap());
                }
                Event::GeneralRef(r) if key.is_some() => {
                    let name = r.decode().unwrap();
                    let raw = format!("&{name};");
                    text.push_str(&quick_xml::escape::unescape(&raw).unwrap());
                }
                Event::End(e) if e.name().as_ref() == b"data" => {
                    let k = key.take().unwrap();
                    if let Some(node) = nodes
                        .last_mut()
                        .filter(|_| k != "construction" && k != "weight")
                    {
                        node.insert(k, std::mem::take(&mut text));
                    }
                }
                Event::Eof => break,
                _ => {}
            }
        }
        nodes
    }

    #[test]
    fn graphml_attributes_read_back_by_a_parser_equal_the_node_csv() {
        use super::super::{LayoutParams, fruchterman_reingold};
        let (x, nodes) = clusters(40, 4, 0.8, 7);
        let g = knn(&x, &nodes, &KnnParams::default().k(2)).unwrap();
        let layout = fruchterman_reingold(&g, &LayoutParams::default()).unwrap();
        let confidence: Vec<f32> = (0..40).map(|i| 0.3 + 0.01 * i as f32).collect();
        let export = GraphExport::new(&g)
            .with_layout(&layout)
            .unwrap()
            .with_confidence(&confidence)
            .unwrap();
        let parsed = parse_graphml_nodes(&export.graphml());
        let csv = export.node_csv();
        let mut lines = csv.lines();
        let header: Vec<&str> = lines.next().unwrap().split(',').collect();
        assert_eq!(header.len(), 12);
        let c = export.centrality();
        assert!(
            c.betweenness.iter().any(|&b| b > 0.0),
            "a graph with bridges"
        );
        assert_eq!(parsed.len(), 40);
        for (i, (line, attrs)) in lines.zip(&parsed).enumerate() {
            let row: Vec<&str> = line.split(',').collect();
            assert_eq!(row[0], i.to_string());
            // Every GraphML attribute equals the CSV field of the same name.
            assert_eq!(attrs.len(), 11, "node {i}: {attrs:?}");
            for (name, value) in header[1..].iter().zip(&row[1..]) {
                assert_eq!(
                    attrs.get(*name).map(String::as_str),
                    Some(*value),
                    "node {i} {name}"
                );
            }
            // And the numbers parse back to exactly what was computed.
            assert_eq!(attrs["degree"].parse::<usize>().unwrap(), c.degree[i]);
            assert_eq!(
                attrs["betweenness"].parse::<f64>().unwrap(),
                c.betweenness[i]
            );
            assert_eq!(attrs["component"].parse::<usize>().unwrap(), c.component[i]);
            assert_eq!(attrs["x"].parse::<f64>().unwrap(), layout.positions()[i].0);
            assert_eq!(attrs["y"].parse::<f64>().unwrap(), layout.positions()[i].1);
            assert_eq!(attrs["confidence"].parse::<f32>().unwrap(), confidence[i]);
            assert_eq!(attrs["id"].parse::<usize>().unwrap(), g.node(i).unwrap().id);
            assert_eq!(attrs["class_name"], g.node(i).unwrap().class_name());
            let correct = g.node(i).unwrap().correct().unwrap();
            assert_eq!(attrs["correct"], correct.to_string());
        }
    }

    #[test]
    fn export_annotations_of_the_wrong_length_or_range_are_refused() {
        let (x, nodes) = clusters(10, 3, 0.5, 1);
        let g = knn(&x, &nodes, &KnnParams::default().k(2)).unwrap();
        let short = [0.5f32; 9];
        let err = GraphExport::new(&g).with_confidence(&short).unwrap_err();
        assert!(
            err.to_string().contains("confidence") && err.to_string().contains('9'),
            "{err}"
        );
        let bad = [f32::NAN; 10];
        let err = GraphExport::new(&g).with_confidence(&bad).unwrap_err();
        assert!(err.to_string().contains("[0, 1]"), "{err}");
        let small = knn(
            &x.slice(ndarray::s![..5, ..]).to_owned(),
            &nodes[..5],
            &KnnParams::default().k(2),
        )
        .unwrap();
        let other = Centrality::compute(&small);
        let err = GraphExport::measured(&g, &other).unwrap_err();
        assert!(err.to_string().contains("centrality"), "{err}");
    }
}
