//! GraphML and CSV export.

use std::fmt::Write as _;
use std::path::Path;

use super::SimilarityGraph;
use crate::error::Result;
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

/// The graph as a GraphML document (undirected). Nodes are `n0, n1, …` in row order
/// with the attributes `id` (image index), `class`, `class_name`, and where the image
/// has a prediction `predicted` and `correct`; edges carry `weight` (see
/// [`Construction::weight_meaning`](super::Construction::weight_meaning)); the graph
/// carries `construction`, a description of how it was built. Opens in Gephi,
/// Cytoscape, networkx (`read_graphml`) and yEd.
pub fn graphml_string(g: &SimilarityGraph) -> String {
    let mut s = String::new();
    s.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    s.push_str(
        "<graphml xmlns=\"http://graphml.graphdrawing.org/xmlns\" \
         xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" \
         xsi:schemaLocation=\"http://graphml.graphdrawing.org/xmlns \
         http://graphml.graphdrawing.org/xmlns/1.0/graphml.xsd\">\n",
    );
    for (id, on, ty) in [
        ("construction", "graph", "string"),
        ("id", "node", "long"),
        ("class", "node", "int"),
        ("class_name", "node", "string"),
        ("predicted", "node", "int"),
        ("correct", "node", "boolean"),
        ("weight", "edge", "double"),
    ] {
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
    for (i, node) in g.nodes().iter().enumerate() {
        let _ = write!(
            s,
            "    <node id=\"n{i}\"><data key=\"id\">{}</data><data key=\"class\">{}</data>\
             <data key=\"class_name\">{}</data>",
            node.id,
            node.class,
            xml_escape(node.class_name())
        );
        if let (Some(p), Some(c)) = (node.predicted, node.correct()) {
            let _ = write!(
                s,
                "<data key=\"predicted\">{p}</data><data key=\"correct\">{c}</data>"
            );
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

/// Writes [`graphml_string`] to `path` (temporary file in the same directory, then
/// renamed: never seen half-written).
///
/// Errors: [`Error::Data`](crate::Error::Data) ([`Io`](fashion_data::Error::Io)) naming the path.
pub fn write_graphml(g: &SimilarityGraph, path: impl AsRef<Path>) -> Result<()> {
    Ok(write_atomic(path.as_ref(), graphml_string(g).as_bytes())?)
}

/// Writes the nodes as CSV, one row each in row order: `node` (row position), `id`,
/// `class`, `class_name`, `predicted`, `correct` (the last two empty without a
/// prediction). Written atomically, as [`write_graphml`].
pub fn write_node_csv(g: &SimilarityGraph, path: impl AsRef<Path>) -> Result<()> {
    let mut s = String::from("node,id,class,class_name,predicted,correct\n");
    for (i, node) in g.nodes().iter().enumerate() {
        let _ = writeln!(
            s,
            "{i},{},{},{},{},{}",
            node.id,
            node.class,
            csv_field(node.class_name()),
            node.predicted.map(|p| p.to_string()).unwrap_or_default(),
            node.correct().map(|c| c.to_string()).unwrap_or_default(),
        );
    }
    Ok(write_atomic(path.as_ref(), s.as_bytes())?)
}

/// Writes the edges as CSV, sorted by row positions: `source`, `target` (row
/// positions, `source < target`), `source_id`, `target_id` (image indices), `weight`.
/// Written atomically, as [`write_graphml`].
pub fn write_edge_csv(g: &SimilarityGraph, path: impl AsRef<Path>) -> Result<()> {
    let nodes = g.nodes();
    let mut s = String::from("source,target,source_id,target_id,weight\n");
    for (i, j, w) in g.edge_list() {
        let _ = writeln!(s, "{i},{j},{},{},{w}", nodes[i].id, nodes[j].id);
    }
    Ok(write_atomic(path.as_ref(), s.as_bytes())?)
}

#[cfg(test)]
mod tests {
    use super::super::testdata::*;
    use super::super::{knn, Construction, KnnParams, NodeInfo};
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
        assert_eq!(names.iter().filter(|n| *n == "key").count(), 7);
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
        assert_eq!(
            std::fs::read_to_string(&nc).unwrap(),
            "node,id,class,class_name,predicted,correct\n0,5,0,T-shirt/top,6,false\n\
             1,9,9,Ankle boot,,\n2,2,3,Dress,3,true\n"
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
}
