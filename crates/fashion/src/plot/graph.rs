//! Drawings of similarity graphs ([`crate::graph`]): nodes coloured by class, sized by
//! betweenness (the original project's choice), degree or alike, misclassified images
//! ringed, or each node drawn as its image; one graph or a 2×2 panel, as PNG, SVG or an
//! explorable SVG (tooltips and thumbnails on hover).

use std::fmt::Write as _;

use base64::Engine;
use plotters::coord::Shift;
use plotters::element::BitMapElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

use super::{
    Chart, ExplorableSvg, Svg, bold, draw_text, font, plot_err, register_fonts, render_svg,
    title_height,
};
use crate::data::{CLASS_NAMES, IMAGE_PIXELS, IMAGE_SIDE, NUM_CLASSES};
use crate::error::{Error, Result};
use crate::features::ImageFeatures;
use crate::graph::{Centrality, Layout, NodeInfo, SimilarityGraph};

/// Node colour of each class (Tableau 10), indexed by label.
pub const CLASS_COLORS: [RGBColor; NUM_CLASSES] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

const MARGIN: u32 = 12;
const TITLE_FONT: f64 = 18.0;
const SUBTITLE_FONT: f64 = 13.0;
/// Label font of the smallest and of the largest node.
const LABEL_FONT: (f64, f64) = (8.0, 13.0);
const LEGEND_FONT: f64 = 13.0;
const LEGEND_WIDTH: u32 = 150;
const LEGEND_ROW: i32 = 20;
/// Up to this many nodes, labels are on by default and crowded nodes are pushed apart.
pub const LABELLED_NODES: usize = 300;
/// Up to this many nodes, overlapping nodes (and labels) are pushed apart.
const SPREAD_NODES: usize = 2000;
/// Side of the thumbnail an explorable SVG shows on hover, in pixels (3 × 28).
const HOVER_SIDE: i32 = 84;

/// What a node's size shows. The default is betweenness, as in the original project's
/// figures (its bridge images are the big ones).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NodeSize {
    /// Betweenness centrality (share of shortest paths through the node).
    #[default]
    Betweenness,
    /// Number of edges.
    Degree,
    /// All nodes alike.
    Uniform,
}

impl NodeSize {
    /// `"betweenness"`, `"degree"`, `"uniform"` (the CLI's `--size` values).
    pub fn name(self) -> &'static str {
        match self {
            NodeSize::Betweenness => "betweenness",
            NodeSize::Degree => "degree",
            NodeSize::Uniform => "uniform",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            NodeSize::Uniform => "",
            NodeSize::Degree => "size: degree",
            NodeSize::Betweenness => "size: betweenness",
        }
    }
}

impl std::str::FromStr for NodeSize {
    type Err = Error;

    /// Parses [`NodeSize::name`] (case-insensitive).
    fn from_str(s: &str) -> Result<NodeSize> {
        match s.to_ascii_lowercase().as_str() {
            "betweenness" => Ok(NodeSize::Betweenness),
            "degree" => Ok(NodeSize::Degree),
            "uniform" => Ok(NodeSize::Uniform),
            _ => Err(Error::invalid(
                "size",
                "betweenness, degree or uniform",
                format!("{s:?}"),
            )),
        }
    }
}

/// What an explorable SVG says about each node, and the image shown as its glyph and on
/// hover ([`GraphChart::with_features`]).
#[derive(Debug, Clone, PartialEq)]
struct NodeImages {
    /// Softmax probability of the predicted class.
    confidence: Vec<f32>,
    /// 28 × 28 grey pixels (raw values: white clothes on black), row-major.
    pixels: Vec<Vec<u8>>,
}

/// A similarity graph drawn at given positions: thin translucent edges, nodes coloured
/// by true class and sized by betweenness (or degree, or alike; [`NodeSize`]), each
/// labelled with its image id in a font growing with the node (by default up to
/// [`LABELLED_NODES`] nodes), misclassified images in a black ring, a legend of the
/// classes on the right. Default size 900 × 720.
///
/// With the images ([`with_features`](Self::with_features)) each node can be drawn as
/// its 28 × 28 image ([`glyphs`](Self::glyphs)), and
/// [`explorable_svg`](Self::explorable_svg) gives every node a tooltip (test index,
/// class, prediction, confidence, degree, betweenness) and shows its image on hover.
///
/// ```
/// use fashion::graph::{self, KnnParams, LayoutParams, NodeInfo};
/// use fashion::ndarray::Array2;
/// use fashion::plot::{render_svg, GraphChart, NodeSize};
///
/// # fn main() -> fashion::Result<()> {
/// let x = Array2::from_shape_fn((20, 3), |(i, j)| ((i % 4) * 10 + j * (i % 3)) as f32);
/// let nodes: Vec<NodeInfo> = (0..20).map(|i| NodeInfo::new(i, (i % 4) as u8)).collect();
/// let g = graph::knn(&x, &nodes, &KnnParams::default().k(2))?;
/// let layout = graph::fruchterman_reingold(&g, &LayoutParams::default())?;
/// let chart = GraphChart::new(&g, &layout)?.with_title("kNN");
/// assert_eq!(chart.node_size(), NodeSize::Betweenness);
/// let svg = render_svg(&chart)?;
/// // 20 id labels, the 10 class names of the legend and more.
/// assert!(svg.0.contains("Ankle boot") && svg.0.matches("<text").count() > 30);
/// // The explorable SVG has one tooltip per node.
/// let explorable = chart.size_by(NodeSize::Degree).explorable_svg()?;
/// assert_eq!(explorable.text().matches("<title>").count(), 20);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct GraphChart {
    title: Option<String>,
    subtitle: String,
    nodes: Vec<NodeInfo>,
    edges: Vec<(usize, usize)>,
    positions: Vec<(f64, f64)>,
    degree: Vec<f64>,
    betweenness: Vec<f64>,
    images: Option<NodeImages>,
    size_by: NodeSize,
    labels: bool,
    glyphs: bool,
    legend: bool,
    width: u32,
    height: u32,
}

/// Where and how large each node is drawn, computed once per drawing.
struct Placement {
    /// Pixel centres.
    centres: Vec<(i32, i32)>,
    /// Radii (half the side of a glyph).
    radii: Vec<i32>,
}

impl GraphChart {
    /// Copies the nodes, edges and positions of `g` drawn at `layout`, and measures its
    /// degrees and betweenness ([`Centrality::compute`]; use
    /// [`measured`](Self::measured) when they are at hand).
    ///
    /// # Errors
    /// A layout for a different number of nodes.
    pub fn new(g: &SimilarityGraph, layout: &Layout) -> Result<GraphChart> {
        GraphChart::measured(g, layout, &Centrality::compute(g))
    }

    /// As [`new`](Self::new), with the centralities computed before.
    ///
    /// # Errors
    /// A layout or centralities for a different number of nodes.
    pub fn measured(
        g: &SimilarityGraph,
        layout: &Layout,
        centrality: &Centrality,
    ) -> Result<GraphChart> {
        for (name, len) in [
            ("layout", layout.len()),
            ("centrality", centrality.degree.len()),
        ] {
            if len != g.node_count() {
                return Err(Error::invalid(
                    name,
                    format!("values for the graph's {} nodes", g.node_count()),
                    format!("{len} values"),
                ));
            }
        }
        Ok(GraphChart {
            title: None,
            subtitle: format!(
                "{} · {} nodes, {} edges",
                g.construction().describe(),
                g.node_count(),
                g.edge_count()
            ),
            nodes: g.nodes(),
            edges: g.edge_list().iter().map(|e| (e.0, e.1)).collect(),
            positions: layout.positions().to_vec(),
            degree: centrality.degree.iter().map(|&d| d as f64).collect(),
            betweenness: centrality.betweenness.clone(),
            images: None,
            size_by: NodeSize::default(),
            labels: g.node_count() <= LABELLED_NODES,
            glyphs: false,
            legend: true,
            width: 900,
            height: 720,
        })
    }

    /// Sets a title.
    pub fn with_title(mut self, title: impl Into<String>) -> GraphChart {
        self.title = Some(title.into());
        self
    }

    /// Sizes nodes by betweenness (default), degree or not at all.
    pub fn size_by(mut self, size: NodeSize) -> GraphChart {
        self.size_by = size;
        self
    }

    /// What the node size shows.
    pub fn node_size(&self) -> NodeSize {
        self.size_by
    }

    /// Shows or hides the image-id labels (default: shown up to [`LABELLED_NODES`]
    /// nodes).
    pub fn labels(mut self, on: bool) -> GraphChart {
        self.labels = on;
        self
    }

    /// Shows or hides the class legend.
    pub fn legend(mut self, on: bool) -> GraphChart {
        self.legend = on;
        self
    }

    /// Attaches each node's image and the model's confidence, from the features the
    /// graph was built on: for glyphs and for the explorable SVG.
    ///
    /// # Errors
    /// `features` whose images are not the graph's nodes, in order (test indices).
    pub fn with_features(mut self, features: &ImageFeatures) -> Result<GraphChart> {
        let ids: Vec<usize> = self.nodes.iter().map(|n| n.id).collect();
        if features.indices != ids {
            return Err(Error::invalid(
                "features",
                format!("the graph's {} images in node order", ids.len()),
                format!(
                    "{} images{}",
                    features.len(),
                    if features.len() == ids.len() {
                        " in another order or other images"
                    } else {
                        ""
                    }
                ),
            ));
        }
        let pixels = features
            .input
            .rows()
            .into_iter()
            .map(|row| {
                row.iter()
                    .map(|&v| (v * 255.0).round().clamp(0.0, 255.0) as u8)
                    .collect()
            })
            .collect();
        self.images = Some(NodeImages {
            confidence: features.confidence.clone(),
            pixels,
        });
        Ok(self)
    }

    /// Draws each node as its image (border in the class colour, framed in black when
    /// misclassified), sized as the nodes would be. Needs
    /// [`with_features`](Self::with_features) before drawing; best up to a few hundred
    /// nodes.
    pub fn glyphs(mut self, on: bool) -> GraphChart {
        self.glyphs = on;
        self
    }

    /// Sets the pixel size (at least 200 × 200).
    ///
    /// # Errors
    /// A width or height below 200.
    pub fn with_size(mut self, width: u32, height: u32) -> Result<GraphChart> {
        if width < 200 || height < 200 {
            return Err(Error::invalid(
                "size",
                "at least 200 × 200 pixels",
                format!("{width} × {height}"),
            ));
        }
        self.width = width;
        self.height = height;
        Ok(self)
    }

    /// Top of the drawing region (below the title and subtitle).
    fn top(&self) -> u32 {
        MARGIN + title_height(&self.title, TITLE_FONT) + (SUBTITLE_FONT * 1.6) as u32
    }

    /// The square drawing region: left, top and side in pixels.
    fn region(&self) -> (i32, i32, i32) {
        let legend = if self.legend { LEGEND_WIDTH } else { 0 };
        let w = self.width.saturating_sub(2 * MARGIN + legend) as i32;
        let h = self.height.saturating_sub(self.top() + MARGIN) as i32;
        let side = w.min(h).max(1);
        let left = MARGIN as i32 + (w - side) / 2;
        let top = self.top() as i32 + (h - side) / 2;
        (left, top, side)
    }

    /// Largest node radius, by region size (glyphs are larger: up to 48 px wide); above
    /// [`LABELLED_NODES`] nodes it shrinks with the square root of the node count, so that
    /// thousands of nodes do not cover each other entirely.
    fn max_radius(&self) -> f64 {
        let side = self.region().2 as f64;
        let crowd = (LABELLED_NODES as f64 / self.nodes.len().max(1) as f64)
            .sqrt()
            .min(1.0);
        if self.glyphs {
            ((side / 30.0).clamp(10.0, 24.0) * crowd).max(4.0)
        } else {
            ((side / 55.0).clamp(5.0, 11.0) * crowd).max(1.5)
        }
    }

    /// Smallest node radius.
    fn min_radius(&self) -> f64 {
        let floor = if self.nodes.len() > LABELLED_NODES {
            1.0
        } else if self.glyphs {
            7.0
        } else {
            3.0
        };
        let share = if self.glyphs { 0.5 } else { 0.45 };
        (self.max_radius() * share)
            .max(floor)
            .min(self.max_radius())
    }

    /// The layout's position of node `i` scaled into the drawing region.
    fn layout_pixel(&self, i: usize) -> (f64, f64) {
        let (left, top, side) = self.region();
        let (x, y) = self.positions[i];
        let inner = self.inner(side);
        (
            left as f64 + self.pad() as f64 + x * inner,
            top as f64 + self.pad() as f64 + y * inner,
        )
    }

    /// Room kept between the region's edge and the node centres.
    fn pad(&self) -> i32 {
        self.max_radius() as i32 + 3
    }

    /// Side of the square the centres lie in (room on the right for a label).
    fn inner(&self, side: i32) -> f64 {
        let right_pad = if self.labels {
            self.pad() + 30
        } else {
            self.pad()
        };
        (side - self.pad() - right_pad).max(1) as f64
    }

    /// Where node `i` sits between the smallest (0) and largest (1) size: the square
    /// root of its value over the largest value, so areas grow with the value.
    fn size_fractions(&self) -> Vec<f64> {
        let values = match self.size_by {
            NodeSize::Uniform => return vec![0.5; self.nodes.len()],
            NodeSize::Degree => &self.degree,
            NodeSize::Betweenness => &self.betweenness,
        };
        let top = values.iter().copied().fold(0.0, f64::max);
        values
            .iter()
            .map(|&v| if top > 0.0 { (v / top).sqrt() } else { 0.0 })
            .collect()
    }

    /// Radius of every node (half the side for glyphs). `O(n)`.
    fn radii(&self) -> Vec<i32> {
        let (lo, hi) = (self.min_radius(), self.max_radius());
        self.size_fractions()
            .into_iter()
            .map(|t| (lo + (hi - lo) * t).round() as i32)
            .collect()
    }

    /// Radius of node `i` (computes all of them: use `radii` for many).
    #[cfg(test)]
    pub(crate) fn radius(&self, i: usize) -> i32 {
        self.radii()[i]
    }

    /// Label font size of a node of radius `r`: from 8 px for the smallest node to 13 px
    /// for the largest.
    fn label_font(&self, r: i32) -> f64 {
        let (lo, hi) = (self.min_radius(), self.max_radius());
        let t = if hi > lo {
            ((r as f64 - lo) / (hi - lo)).clamp(0.0, 1.0)
        } else {
            0.5
        };
        LABEL_FONT.0 + (LABEL_FONT.1 - LABEL_FONT.0) * t
    }

    /// Extra room around a node for its ring (circles) or border (glyphs).
    fn outline(&self, node: &NodeInfo) -> f64 {
        match (self.glyphs, node.misclassified()) {
            (true, true) => 5.0,
            (true, false) => 2.0,
            (false, true) => 2.0,
            (false, false) => 0.0,
        }
    }

    /// Box of node `i` of radius `r` drawn at `(x, y)` (with its label on the right when
    /// labels are shown): left, top, right, bottom.
    fn node_box(&self, i: usize, r: i32, (x, y): (f64, f64)) -> [f64; 4] {
        let r = r as f64 + self.outline(&self.nodes[i]);
        let size = self.label_font(r as i32);
        let label = if self.labels {
            let digits = self.nodes[i].id.to_string().len() as f64;
            3.0 + digits * size * 0.62
        } else {
            0.0
        };
        let half_h = r.max(size * 0.6);
        [x - r, y - half_h, x + r + label, y + half_h]
    }

    /// Pixel centres of all nodes: the layout scaled into the drawing region, then
    /// (up to 2 000 nodes) pushed apart where a node or its label would cover another
    /// node or label — force-directed layouts pack tight clusters into a few pixels.
    /// Each round moves every overlapping pair apart along the axis of least overlap;
    /// at most 200 rounds, centres kept inside the region. A round sweeps the boxes in
    /// order of their left edge and only compares boxes that can still overlap, so it
    /// costs `O(n log n)` plus the overlapping pairs. Deterministic.
    fn placement(&self) -> Placement {
        let n = self.nodes.len();
        let radii = self.radii();
        let mut p: Vec<(f64, f64)> = (0..n).map(|i| self.layout_pixel(i)).collect();
        if n <= SPREAD_NODES {
            let (left, top, side) = self.region();
            let lo_x = (left + self.pad()) as f64;
            let lo_y = (top + self.pad()) as f64;
            let inner = self.inner(side);
            let gap = 1.5;
            let clamp = |q: &mut (f64, f64)| {
                q.0 = q.0.clamp(lo_x, lo_x + inner);
                q.1 = q.1.clamp(lo_y, lo_y + inner);
            };
            for _ in 0..200 {
                let mut boxes: Vec<[f64; 4]> =
                    (0..n).map(|i| self.node_box(i, radii[i], p[i])).collect();
                // Sweep over boxes sorted by their left edge (widened by the largest
                // label, as boxes move during the round); each overlapping pair is
                // separated at once (Gauss–Seidel), which converges far faster than
                // summing all the pushes of a round.
                let mut order: Vec<usize> = (0..n).collect();
                order.sort_by(|&a, &b| boxes[a][0].total_cmp(&boxes[b][0]).then(a.cmp(&b)));
                let widest = boxes.iter().map(|b| b[2] - b[0]).fold(0.0, f64::max);
                let mut moved = false;
                for (k, &a) in order.iter().enumerate() {
                    let start = boxes[a][0];
                    for &b in &order[k + 1..] {
                        if boxes[b][0] > start + 2.0 * widest + gap {
                            break;
                        }
                        let (ba, bb) = (boxes[a], boxes[b]);
                        let ox = ba[2].min(bb[2]) - ba[0].max(bb[0]) + gap;
                        let oy = ba[3].min(bb[3]) - ba[1].max(bb[1]) + gap;
                        if ox <= 0.0 || oy <= 0.0 {
                            continue;
                        }
                        moved = true;
                        // Along the axis of least overlap: `a` moves half the way
                        // back (less at the region's edge), `b` the rest forward.
                        let (dx, dy) = (p[b].0 - p[a].0, p[b].1 - p[a].1);
                        let (d, o) = if ox < oy { (dx, ox) } else { (dy, oy) };
                        let s = if d > 0.0 || (d == 0.0 && a < b) {
                            1.0
                        } else {
                            -1.0
                        };
                        let x_axis = ox < oy;
                        let before = *coord(&mut p[a], x_axis);
                        *coord(&mut p[a], x_axis) -= s * o / 2.0;
                        clamp(&mut p[a]);
                        let gained = s * (before - *coord(&mut p[a], x_axis));
                        *coord(&mut p[b], x_axis) += s * (o - gained);
                        clamp(&mut p[b]);
                        boxes[a] = self.node_box(a, radii[a], p[a]);
                        boxes[b] = self.node_box(b, radii[b], p[b]);
                    }
                }
                if !moved {
                    break;
                }
            }
        }
        Placement {
            centres: p
                .into_iter()
                .map(|(x, y)| (x.round() as i32, y.round() as i32))
                .collect(),
            radii,
        }
    }

    /// Pixel centres of all nodes (see `placement`).
    #[cfg(test)]
    pub(crate) fn pixels(&self) -> Vec<(i32, i32)> {
        self.placement().centres
    }

    fn draw_legend<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<()> {
        let x = self.width as i32 - LEGEND_WIDTH as i32 - MARGIN as i32 + 10;
        legend(
            area,
            x,
            self.top() as i32 + 4,
            &self.nodes,
            self.size_by,
            self.glyphs,
        )
    }

    /// Draws node `i` as its image scaled to `2r × 2r` (nearest neighbour) with its
    /// border.
    fn draw_glyph<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        i: usize,
        (x, y): (i32, i32),
        r: i32,
    ) -> Result<()> {
        let images = self.images.as_ref().ok_or_else(|| {
            Error::invalid(
                "glyphs",
                "the nodes' images (GraphChart::with_features) before drawing glyphs",
                "a chart without images",
            )
        })?;
        let side = (2 * r).max(1) as u32;
        let src = &images.pixels[i];
        let mut rgb = vec![0u8; (side * side * 3) as usize];
        for (py, line) in rgb.chunks_exact_mut(side as usize * 3).enumerate() {
            let sy = py * IMAGE_SIDE / side as usize;
            for (px, out) in line.chunks_exact_mut(3).enumerate() {
                out.fill(src[sy * IMAGE_SIDE + px * IMAGE_SIDE / side as usize]);
            }
        }
        let (x0, y0) = (x - r, y - r);
        let bitmap = BitMapElement::with_owned_buffer((x0, y0), (side, side), rgb)
            .ok_or_else(|| Error::Plot("glyph buffer has the wrong size".into()))?;
        area.draw(&bitmap).map_err(plot_err)?;
        let node = &self.nodes[i];
        let color = CLASS_COLORS[node.class as usize % NUM_CLASSES];
        // Nested one-pixel frames: plotters' SVG backend ignores the stroke width of
        // rectangles.
        let frame = |d: i32, color: RGBColor| {
            Rectangle::new(
                [
                    (x0 - d, y0 - d),
                    (x0 + side as i32 - 1 + d, y0 + side as i32 - 1 + d),
                ],
                color.stroke_width(1),
            )
        };
        for d in 1..=2 {
            area.draw(&frame(d, color)).map_err(plot_err)?;
        }
        if node.misclassified() {
            for d in 3..=5 {
                area.draw(&frame(d, BLACK)).map_err(plot_err)?;
            }
        }
        Ok(())
    }

    /// The tooltip of node `i`: test index, class, prediction and confidence (when
    /// known), degree, betweenness.
    fn tooltip(&self, i: usize) -> String {
        let node = &self.nodes[i];
        let mut t = format!("test image {} · {}", node.id, node.class_name());
        if let Some(p) = node.predicted {
            let name = CLASS_NAMES.get(p as usize).copied().unwrap_or("unknown");
            let verdict = if node.misclassified() {
                "wrong"
            } else {
                "right"
            };
            let _ = write!(t, " · predicted {name} ({verdict}");
            if let Some(images) = &self.images {
                let _ = write!(t, ", p = {:.3}", images.confidence[i]);
            }
            t.push(')');
        }
        let _ = write!(
            t,
            " · degree {} · betweenness {:.4}",
            self.degree[i], self.betweenness[i]
        );
        t
    }

    /// SVG elements, shifted by `(dx, dy)`, that give each node a tooltip and (with
    /// images) show its image on hover: one `<g class="fm-node">` per node holding a
    /// `<title>`, an invisible target over the node and the hidden thumbnail.
    fn hover_layer(&self, dx: i32, dy: i32, out: &mut String) -> Result<()> {
        let placement = self.placement();
        for (i, (&(x, y), &r)) in placement.centres.iter().zip(&placement.radii).enumerate() {
            let (x, y) = (x + dx, y + dy);
            let _ = write!(
                out,
                "<g class=\"fm-node\"><title>{}</title>",
                xml_escape(&self.tooltip(i))
            );
            let hit = r + self.outline(&self.nodes[i]) as i32;
            if self.glyphs {
                let _ = write!(
                    out,
                    "<rect x=\"{}\" y=\"{}\" width=\"{2}\" height=\"{2}\" fill=\"transparent\"/>",
                    x - hit,
                    y - hit,
                    2 * hit
                );
            } else {
                let _ = write!(
                    out,
                    "<circle cx=\"{x}\" cy=\"{y}\" r=\"{}\" fill=\"transparent\"/>",
                    hit.max(4)
                );
            }
            if let Some(images) = &self.images {
                // Up and to the right of the node, kept inside the chart.
                let (w, h) = (self.width as i32, self.height as i32);
                let tx = (x + hit + 4).min(dx + w - HOVER_SIDE - 4).max(dx + 2);
                let ty = (y - hit - HOVER_SIDE - 4)
                    .max(dy + 2)
                    .min(dy + h - HOVER_SIDE - 4);
                let RGBColor(red, green, blue) =
                    CLASS_COLORS[self.nodes[i].class as usize % NUM_CLASSES];
                let (fx, fy, framed) = (tx - 2, ty - 2, HOVER_SIDE + 4);
                let png = png_base64(&images.pixels[i])?;
                let _ = write!(
                    out,
                    "<g class=\"fm-thumb\"><rect x=\"{fx}\" y=\"{fy}\" width=\"{framed}\" \
                     height=\"{framed}\" fill=\"black\" stroke=\"rgb({red},{green},{blue})\" \
                     stroke-width=\"3\"/><image x=\"{tx}\" y=\"{ty}\" width=\"{HOVER_SIDE}\" \
                     height=\"{HOVER_SIDE}\" style=\"image-rendering:pixelated\" \
                     href=\"data:image/png;base64,{png}\"/></g>"
                );
            }
            out.push_str("</g>");
        }
        Ok(())
    }

    /// The chart as an SVG document a browser can explore without JavaScript or network:
    /// hovering a node shows its tooltip (test index, class, prediction and confidence,
    /// degree, betweenness) and, with [`with_features`](Self::with_features), its image.
    /// Displays inline in a notebook (`image/svg+xml`).
    ///
    /// # Errors
    /// As [`render_svg`]; glyphs without images.
    pub fn explorable_svg(&self) -> Result<ExplorableSvg> {
        let svg = render_svg(self)?;
        let mut layer = String::new();
        self.hover_layer(0, 0, &mut layer)?;
        Ok(with_hover_layer(svg, &layer))
    }
}

/// Inserts the hover style and `layer` at the end of an SVG document.
fn with_hover_layer(svg: Svg, layer: &str) -> ExplorableSvg {
    const STYLE: &str = "<style>.fm-thumb{visibility:hidden;pointer-events:none}\
                         .fm-node:hover .fm-thumb{visibility:visible}\
                         .fm-node:hover>circle,.fm-node:hover>rect{stroke:black;stroke-width:1.5}</style>";
    let mut text = svg.0;
    let at = text.rfind("</svg>").unwrap_or(text.len());
    text.insert_str(at, &format!("{STYLE}<g class=\"fm-hover\">{layer}</g>\n"));
    ExplorableSvg(Svg(text))
}

/// A 28 × 28 grey image as base64 PNG.
fn png_base64(pixels: &[u8]) -> Result<String> {
    use image::ImageEncoder;
    if pixels.len() != IMAGE_PIXELS {
        return Err(Error::invalid(
            "pixels",
            format!("{IMAGE_PIXELS} values"),
            pixels.len(),
        ));
    }
    let mut bytes = Vec::new();
    image::codecs::png::PngEncoder::new(&mut bytes)
        .write_image(
            pixels,
            IMAGE_SIDE as u32,
            IMAGE_SIDE as u32,
            image::ColorType::L8,
        )
        .map_err(|e| Error::Plot(format!("PNG encoding failed: {e}")))?;
    Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// `s` with XML's special characters escaped.
fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The x (`true`) or y coordinate of a point.
fn coord(q: &mut (f64, f64), x: bool) -> &mut f64 {
    if x { &mut q.0 } else { &mut q.1 }
}

/// Draws the class legend with its top-left corner at `(x, y)`: "Class", ten swatches
/// and names, a ringed swatch (a black frame for glyphs) if any node is misclassified, and
/// the size note.
fn legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    x: i32,
    y: i32,
    nodes: &[NodeInfo],
    size_by: NodeSize,
    glyphs: bool,
) -> Result<()> {
    let style = font(LEGEND_FONT);
    draw_text(
        area,
        "Class",
        (x, y),
        &bold(LEGEND_FONT),
        HPos::Left,
        VPos::Top,
    )?;
    let mut cy = y + LEGEND_ROW + 8;
    for (class, name) in CLASS_NAMES.iter().enumerate() {
        area.draw(&Circle::new((x + 6, cy), 6, CLASS_COLORS[class].filled()))
            .map_err(plot_err)?;
        draw_text(area, name, (x + 18, cy), &style, HPos::Left, VPos::Center)?;
        cy += LEGEND_ROW;
    }
    cy += 6;
    if nodes.iter().any(NodeInfo::misclassified) {
        if glyphs {
            for d in 0..3 {
                area.draw(&Rectangle::new(
                    [(x + d, cy - 6 + d), (x + 12 - d, cy + 6 - d)],
                    BLACK.stroke_width(1),
                ))
                .map_err(plot_err)?;
            }
        } else {
            area.draw(&Circle::new(
                (x + 6, cy),
                6,
                RGBColor(200, 200, 200).filled(),
            ))
            .map_err(plot_err)?;
            area.draw(&Circle::new((x + 6, cy), 8, BLACK.stroke_width(2)))
                .map_err(plot_err)?;
        }
        draw_text(
            area,
            "misclassified",
            (x + 18, cy),
            &style,
            HPos::Left,
            VPos::Center,
        )?;
        cy += LEGEND_ROW;
    }
    if size_by != NodeSize::Uniform {
        draw_text(
            area,
            size_by.describe(),
            (x, cy),
            &font(12.0),
            HPos::Left,
            VPos::Center,
        )?;
    }
    Ok(())
}

impl Chart for GraphChart {
    fn size(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<()> {
        register_fonts()?;
        area.fill(&WHITE).map_err(plot_err)?;
        let centre = (self.width as i32 - if self.legend { LEGEND_WIDTH as i32 } else { 0 }) / 2;
        let mut y = MARGIN as i32;
        if let Some(title) = &self.title {
            draw_text(
                area,
                title,
                (centre, y),
                &bold(TITLE_FONT),
                HPos::Center,
                VPos::Top,
            )?;
            y += title_height(&self.title, TITLE_FONT) as i32;
        }
        draw_text(
            area,
            &self.subtitle,
            (centre, y),
            &font(SUBTITLE_FONT),
            HPos::Center,
            VPos::Top,
        )?;

        let edge_style = ShapeStyle {
            color: RGBColor(60, 60, 60).mix(if self.edges.len() > 2000 { 0.08 } else { 0.22 }),
            filled: false,
            stroke_width: 1,
        };
        let Placement { centres, radii } = self.placement();
        for &(i, j) in &self.edges {
            let path = PathElement::new(vec![centres[i], centres[j]], edge_style);
            area.draw(&path).map_err(plot_err)?;
        }
        // Larger nodes first, so small ones stay visible on top.
        let mut order: Vec<usize> = (0..self.nodes.len()).collect();
        order.sort_by_key(|&i| (std::cmp::Reverse(radii[i]), i));
        for &i in &order {
            let (p, r) = (centres[i], radii[i]);
            if self.glyphs {
                self.draw_glyph(area, i, p, r)?;
                continue;
            }
            let node = &self.nodes[i];
            let color = CLASS_COLORS[node.class as usize % NUM_CLASSES];
            area.draw(&Circle::new(p, r, color.filled()))
                .map_err(plot_err)?;
            // A white outline separates touching nodes; tiny nodes would be all outline.
            if r >= 3 {
                area.draw(&Circle::new(p, r, WHITE.stroke_width(1)))
                    .map_err(plot_err)?;
            }
            if node.misclassified() {
                // Thinner rings on tiny nodes, which would otherwise be all ring.
                let (gap, width) = if r >= 3 { (2, 2) } else { (1, 1) };
                area.draw(&Circle::new(p, r + gap, BLACK.stroke_width(width)))
                    .map_err(plot_err)?;
            }
        }
        if self.labels {
            for (i, node) in self.nodes.iter().enumerate() {
                let (x, y) = centres[i];
                let dx = radii[i] + self.outline(node) as i32 + 2;
                draw_text(
                    area,
                    &node.id.to_string(),
                    (x + dx, y),
                    &font(self.label_font(radii[i])),
                    HPos::Left,
                    VPos::Center,
                )?;
            }
        }
        if self.legend {
            self.draw_legend(area)?;
        }
        Ok(())
    }
}

/// Four graphs in a 2×2 grid (e.g. one per representation), each with its own title
/// and subtitle, one shared class legend on the right. Default size 1400 × 1240.
///
/// ```
/// use fashion::graph::{self, KnnParams, LayoutParams, NodeInfo};
/// use fashion::ndarray::Array2;
/// use fashion::plot::{render_svg, GraphPanel};
///
/// # fn main() -> fashion::Result<()> {
/// let x = Array2::from_shape_fn((12, 3), |(i, j)| ((i % 3) * 10 + j * (i % 4)) as f32);
/// let nodes: Vec<NodeInfo> = (0..12).map(|i| NodeInfo::new(i, (i % 3) as u8)).collect();
/// let g = graph::knn(&x, &nodes, &KnnParams::default().k(2))?;
/// let l = graph::fruchterman_reingold(&g, &LayoutParams::default())?;
/// let panel = GraphPanel::new([
///     ("pixels", &g, &l),
///     ("scaled", &g, &l),
///     ("conv", &g, &l),
///     ("dense", &g, &l),
/// ])?;
/// assert!(render_svg(&panel)?.0.contains("dense"));
/// assert_eq!(panel.explorable_svg()?.text().matches("<title>").count(), 4 * 12);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct GraphPanel {
    title: Option<String>,
    charts: Vec<GraphChart>,
    width: u32,
    height: u32,
}

impl GraphPanel {
    /// Four (title, graph, layout) triples, drawn left to right, top to bottom
    /// (centralities computed here; see [`from_charts`](Self::from_charts)).
    ///
    /// # Errors
    /// A layout for a different number of nodes than its graph.
    pub fn new(panels: [(&str, &SimilarityGraph, &Layout); 4]) -> Result<GraphPanel> {
        let mut charts = Vec::with_capacity(4);
        for (title, g, layout) in panels {
            charts.push(GraphChart::new(g, layout)?.with_title(title));
        }
        let [a, b, c, d]: [GraphChart; 4] = charts.try_into().expect("four charts");
        Ok(GraphPanel::from_charts([a, b, c, d]))
    }

    /// Four charts (their legends are replaced by one shared legend), drawn left to
    /// right, top to bottom.
    pub fn from_charts(charts: [GraphChart; 4]) -> GraphPanel {
        let mut panel = GraphPanel {
            title: None,
            charts: charts.into_iter().map(|c| c.legend(false)).collect(),
            width: 1400,
            height: 1240,
        };
        panel.resize_cells();
        panel
    }

    /// Sets an overall title.
    pub fn with_title(mut self, title: impl Into<String>) -> GraphPanel {
        self.title = Some(title.into());
        self.resize_cells();
        self
    }

    /// Sizes the nodes of all four by betweenness (default), degree or not at all.
    pub fn size_by(mut self, size: NodeSize) -> GraphPanel {
        self.charts = self.charts.into_iter().map(|c| c.size_by(size)).collect();
        self
    }

    /// Shows or hides the image-id labels in all four.
    pub fn labels(mut self, on: bool) -> GraphPanel {
        self.charts = self.charts.into_iter().map(|c| c.labels(on)).collect();
        self
    }

    /// Draws the nodes of all four as their images (see [`GraphChart::glyphs`]).
    pub fn glyphs(mut self, on: bool) -> GraphPanel {
        self.charts = self.charts.into_iter().map(|c| c.glyphs(on)).collect();
        self
    }

    /// Attaches the images and confidences to all four (see
    /// [`GraphChart::with_features`]).
    ///
    /// # Errors
    /// As [`GraphChart::with_features`].
    pub fn with_features(mut self, features: &ImageFeatures) -> Result<GraphPanel> {
        self.charts = self
            .charts
            .into_iter()
            .map(|c| c.with_features(features))
            .collect::<Result<_>>()?;
        Ok(self)
    }

    fn top(&self) -> u32 {
        MARGIN + title_height(&self.title, TITLE_FONT + 2.0)
    }

    /// Cell size: the area left of the legend, below the title, halved both ways.
    fn cell(&self) -> (u32, u32) {
        let w = (self.width - LEGEND_WIDTH - MARGIN) / 2;
        let h = (self.height - self.top()) / 2;
        (w, h)
    }

    /// Top-left corner of cell `k`.
    fn cell_origin(&self, k: usize) -> (u32, u32) {
        let (w, h) = self.cell();
        let (col, row) = ((k % 2) as u32, (k / 2) as u32);
        (col * w, self.top() + row * h)
    }

    fn resize_cells(&mut self) {
        let (w, h) = self.cell();
        for c in &mut self.charts {
            c.width = w;
            c.height = h;
        }
    }

    /// The panel as an explorable SVG (see [`GraphChart::explorable_svg`]): a tooltip
    /// and, with images, a thumbnail on hover for every node of the four graphs.
    ///
    /// # Errors
    /// As [`GraphChart::explorable_svg`].
    pub fn explorable_svg(&self) -> Result<ExplorableSvg> {
        let svg = render_svg(self)?;
        let mut layer = String::new();
        for (k, chart) in self.charts.iter().enumerate() {
            let (x, y) = self.cell_origin(k);
            chart.hover_layer(x as i32, y as i32, &mut layer)?;
        }
        Ok(with_hover_layer(svg, &layer))
    }
}

impl Chart for GraphPanel {
    fn size(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<()> {
        register_fonts()?;
        area.fill(&WHITE).map_err(plot_err)?;
        if let Some(title) = &self.title {
            let pos = (((self.width - LEGEND_WIDTH) / 2) as i32, MARGIN as i32);
            draw_text(
                area,
                title,
                pos,
                &bold(TITLE_FONT + 2.0),
                HPos::Center,
                VPos::Top,
            )?;
        }
        let (w, h) = self.cell();
        for (k, chart) in self.charts.iter().enumerate() {
            let cell = area.clone().shrink(self.cell_origin(k), (w, h));
            chart.draw(&cell)?;
        }
        // Thin separators between the cells.
        let grey = BLACK.mix(0.15);
        let (x_mid, y_mid) = (w as i32, (self.top() + h) as i32);
        let bottom = (self.top() + 2 * h) as i32;
        area.draw(&PathElement::new(
            vec![(x_mid, self.top() as i32), (x_mid, bottom)],
            grey,
        ))
        .map_err(plot_err)?;
        area.draw(&PathElement::new(
            vec![(MARGIN as i32, y_mid), (2 * w as i32, y_mid)],
            grey,
        ))
        .map_err(plot_err)?;
        let nodes: Vec<NodeInfo> = self
            .charts
            .iter()
            .flat_map(|c| c.nodes.iter().copied())
            .collect();
        let x = (2 * w + 10) as i32;
        legend(
            area,
            x,
            self.top() as i32 + 40,
            &nodes,
            self.charts[0].size_by,
            self.charts[0].glyphs,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::super::testdata::{rgb_at, svg_texts};
    use super::super::{render_png, render_rgb, render_svg};
    use super::*;
    use crate::graph::{
        Construction, KnnParams, LayoutParams, betweenness, degrees, fruchterman_reingold, knn,
    };
    use base64::Engine;

    /// 100 points in 10 noisy clusters (class = cluster), every 7th misclassified.
    fn example() -> (SimilarityGraph, Layout) {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let centres: Vec<f32> = (0..10 * 16).map(|_| rng.gen_range(-1.0..1.0)).collect();
        let x = ndarray::Array2::from_shape_fn((100, 16), |(i, j)| {
            centres[(i % 10) * 16 + j] + 0.5 * rng.gen_range(-1.0f32..1.0)
        });
        let nodes: Vec<NodeInfo> = (0..100)
            .map(|i| {
                let c = (i % 10) as u8;
                NodeInfo::new(2000 + i, c).with_prediction(if i % 7 == 3 {
                    (c + 1) % 10
                } else {
                    c
                })
            })
            .collect();
        let g = knn(&x, &nodes, &KnnParams::default().k(3)).unwrap();
        let l = fruchterman_reingold(&g, &LayoutParams::default().seed(1)).unwrap();
        (g, l)
    }

    #[test]
    fn svg_has_title_legend_and_labels() {
        let (g, l) = example();
        let chart = GraphChart::new(&g, &l).unwrap().with_title("kNN graph");
        let svg = render_svg(&chart).unwrap().0;
        let texts = svg_texts(&svg);
        assert_eq!(texts[0], "kNN graph");
        assert!(texts[1].starts_with("kNN, k = 3"), "{}", texts[1]);
        assert!(texts[1].contains("100 nodes"));
        for name in CLASS_NAMES {
            assert!(texts.contains(&name.to_string()), "{name} missing");
        }
        for id in [2000, 2042, 2099] {
            assert!(texts.contains(&id.to_string()), "label {id} missing");
        }
        assert!(texts.contains(&"misclassified".to_string()));
        // Nodes (with white outlines), rings of the misclassified, legend swatches.
        let misclassified = g.nodes().iter().filter(|n| n.misclassified()).count();
        assert_eq!(misclassified, 14);
        assert_eq!(
            svg.matches("<circle").count(),
            2 * 100 + misclassified + 10 + 2
        );
        let unlabelled = render_svg(&chart.clone().labels(false)).unwrap().0;
        assert!(!svg_texts(&unlabelled).contains(&"2042".to_string()));
    }

    #[test]
    fn nodes_have_class_colours_and_rings() {
        let (g, l) = example();
        // Without labels, which may cross other nodes.
        let chart = GraphChart::new(&g, &l).unwrap().labels(false);
        let rgb = render_rgb(&chart).unwrap();
        let (w, _) = chart.size();
        // Check nodes whose centre no other node covers.
        let mut checked = 0;
        let pixels = chart.pixels();
        for i in 0..100 {
            let (x, y) = pixels[i];
            let covered = (0..100).any(|j| {
                let (a, b) = pixels[j];
                j != i && (a - x).pow(2) + (b - y).pow(2) <= (chart.radius(j) + 4).pow(2)
            });
            if covered {
                continue;
            }
            let c = CLASS_COLORS[g.node(i).unwrap().class as usize];
            assert_eq!(
                rgb_at(&rgb, w, x as u32, y as u32),
                [c.0, c.1, c.2],
                "node {i}"
            );
            if g.node(i).unwrap().misclassified() {
                let r = chart.radius(i) + 2;
                let ring = (-1..=1).any(|d| {
                    let p = rgb_at(&rgb, w, x as u32, (y - r + d) as u32);
                    p.iter().all(|&v| v < 60)
                });
                assert!(ring, "node {i} has no ring");
            }
            checked += 1;
        }
        assert!(checked > 30, "only {checked} uncovered nodes");
        // Degree sizing: the highest-degree node is the largest.
        let chart = chart.size_by(NodeSize::Degree);
        let deg = degrees(&g);
        let top = (0..100)
            .max_by_key(|&i| (deg[i], std::cmp::Reverse(i)))
            .unwrap();
        let low = (0..100).min_by_key(|&i| (deg[i], i)).unwrap();
        assert!(chart.radius(top) > chart.radius(low));
        let b = chart.clone().size_by(NodeSize::Betweenness);
        let bc = betweenness(&g);
        let top_b = (0..100).max_by(|&i, &j| bc[i].total_cmp(&bc[j])).unwrap();
        assert_eq!(b.radius(top_b), (b.max_radius()).round() as i32);
    }

    /// Pairs of node boxes (node plus label) overlapping by more than rounding.
    fn overlaps(boxes: &[[f64; 4]]) -> usize {
        let mut count = 0;
        for (a, p) in boxes.iter().enumerate() {
            for q in &boxes[a + 1..] {
                let ox = p[2].min(q[2]) - p[0].max(q[0]);
                let oy = p[3].min(q[3]) - p[1].max(q[1]);
                count += usize::from(ox > 1.0 && oy > 1.0);
            }
        }
        count
    }

    #[test]
    fn crowded_nodes_and_labels_are_pushed_apart() {
        let (g, _) = example();
        // Ten tight clusters of ten, as force-directed layouts draw cliques.
        let positions = (0..100)
            .map(|i| {
                let (c, k) = ((i % 10) as f64, (i / 10) as f64);
                (0.1 * c + 0.003 * k, 0.5 + 0.4 * (c * 1.3).sin() + 0.002 * k)
            })
            .collect();
        let l = Layout::from_positions(positions).unwrap();
        for chart in [
            GraphChart::new(&g, &l).unwrap(),
            GraphChart::new(&g, &l).unwrap().labels(false),
            GraphChart::new(&g, &l)
                .unwrap()
                .with_size(500, 450)
                .unwrap(),
        ] {
            let radii = chart.radii();
            let before: Vec<_> = (0..100)
                .map(|i| chart.node_box(i, radii[i], chart.layout_pixel(i)))
                .collect();
            let pixels = chart.pixels();
            let after: Vec<_> = (0..100)
                .map(|i| chart.node_box(i, radii[i], (pixels[i].0 as f64, pixels[i].1 as f64)))
                .collect();
            assert!(overlaps(&before) > 5, "the example should be crowded");
            if chart.size() == (500, 450) {
                assert!(overlaps(&after) * 3 < overlaps(&before));
            } else {
                assert_eq!(overlaps(&after), 0, "{:?}", chart.size());
            }
            let (left, top, side) = chart.region();
            for &(x, y) in &pixels {
                assert!(x >= left && x <= left + side && y >= top && y <= top + side);
            }
        }
    }

    #[test]
    fn panel_draws_four_titled_cells() {
        let (g, l) = example();
        let panel = GraphPanel::new([
            ("pixels", &g, &l),
            ("scaled", &g, &l),
            ("conv", &g, &l),
            ("dense", &g, &l),
        ])
        .unwrap()
        .with_title("Four representations")
        .labels(false);
        let svg = render_svg(&panel).unwrap().0;
        let texts = svg_texts(&svg);
        assert_eq!(texts[0], "Four representations");
        for t in ["pixels", "scaled", "conv", "dense", "Ankle boot"] {
            assert!(texts.contains(&t.to_string()), "{t} missing");
        }
        assert_eq!(
            texts.iter().filter(|t| t.as_str() == "Bag").count(),
            1,
            "one legend"
        );
        let png = render_png(&panel).unwrap();
        assert_eq!(png.dimensions(), Some((1400, 1240)));
    }

    #[test]
    fn mismatched_layout_and_bad_size_are_errors() {
        let (g, _) = example();
        let small = SimilarityGraph::from_edges(
            &g.nodes()[..3],
            &[],
            Construction::Knn {
                params: KnnParams::default(),
            },
        )
        .unwrap();
        let l = fruchterman_reingold(&small, &LayoutParams::default()).unwrap();
        let err = GraphChart::new(&g, &l).unwrap_err();
        assert!(
            matches!(err, Error::Params(crate::ParamError { name: "layout", .. })),
            "{err}"
        );
        let ok = GraphChart::new(&small, &l).unwrap();
        assert!(ok.clone().with_size(100, 500).is_err());
        assert_eq!(ok.with_size(400, 300).unwrap().size(), (400, 300));
    }

    /// Features whose images are the example's nodes: image `i` is bright in its
    /// top-left `i % 28` pixels, confidence `0.5 + i / 1000`.
    fn example_features(g: &SimilarityGraph) -> ImageFeatures {
        let nodes = g.nodes();
        let n = nodes.len();
        let input =
            ndarray::Array2::from_shape_fn(
                (n, IMAGE_PIXELS),
                |(i, j)| {
                    if j < i % 28 { 1.0 } else { 0.0 }
                },
            );
        ImageFeatures {
            indices: nodes.iter().map(|v| v.id).collect(),
            labels: nodes.iter().map(|v| v.class).collect(),
            predicted: nodes.iter().map(|v| v.predicted.unwrap()).collect(),
            confidence: (0..n).map(|i| 0.5 + i as f32 / 1000.0).collect(),
            scaled: input.clone(),
            input,
            map: ndarray::Array2::zeros((n, 2)),
            dense: ndarray::Array2::zeros((n, 2)),
        }
    }

    #[test]
    fn node_size_parses_and_defaults_to_betweenness() {
        assert_eq!(NodeSize::default(), NodeSize::Betweenness);
        for size in [NodeSize::Betweenness, NodeSize::Degree, NodeSize::Uniform] {
            assert_eq!(size.name().parse::<NodeSize>().unwrap(), size);
        }
        assert_eq!("Degree".parse::<NodeSize>().unwrap(), NodeSize::Degree);
        let err = "closeness".parse::<NodeSize>().unwrap_err().to_string();
        assert!(err.contains("size") && err.contains("closeness"), "{err}");
        let (g, l) = example();
        let uniform = GraphChart::new(&g, &l).unwrap().size_by(NodeSize::Uniform);
        let r = uniform.radii();
        assert!(r.iter().all(|&x| x == r[0]));
    }

    #[test]
    fn labels_grow_with_their_node() {
        let (g, l) = example();
        let chart = GraphChart::new(&g, &l).unwrap();
        let radii = chart.radii();
        let big = (0..100).max_by_key(|&i| (radii[i], i)).unwrap();
        let small = (0..100).min_by_key(|&i| (radii[i], i)).unwrap();
        assert!(radii[big] > radii[small]);
        // From 8 px to 13 px (up to the rounding of the radii).
        assert!((chart.label_font(radii[big]) - LABEL_FONT.1).abs() < 0.2);
        assert!((chart.label_font(radii[small]) - LABEL_FONT.0).abs() < 0.2);
        // In the SVG: the big node's label is written in a larger font.
        let svg = render_svg(&chart).unwrap().0;
        let size_of = |id: usize| {
            let text = format!(">\n{id}\n</text>");
            let end = svg.find(&text).unwrap();
            let start = svg[..end].rfind("<text").unwrap();
            let tag = &svg[start..end];
            let at = tag.find("font-size=\"").unwrap() + 11;
            tag[at..at + tag[at..].find('"').unwrap()]
                .trim_end_matches("px")
                .parse::<f64>()
                .unwrap()
        };
        assert!(size_of(2000 + big) > size_of(2000 + small));
    }

    #[test]
    fn explorable_svg_has_a_tooltip_and_a_hidden_thumbnail_per_node() {
        let (g, l) = example();
        let plain = GraphChart::new(&g, &l).unwrap();
        // Without images: tooltips only.
        let svg = plain.explorable_svg().unwrap().text().to_string();
        assert_eq!(svg.matches("<g class=\"fm-node\">").count(), 100);
        assert_eq!(svg.matches("<title>").count(), 100);
        assert!(!svg.contains("fm-thumb\">"));
        let features = example_features(&g);
        let chart = plain.with_features(&features).unwrap();
        let svg = chart.explorable_svg().unwrap().text().to_string();
        assert!(svg.ends_with("</svg>\n") || svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<g class=\"fm-thumb\">").count(), 100);
        assert!(svg.contains(".fm-node:hover .fm-thumb{visibility:visible}"));
        assert!(!svg.contains("<script"));
        // Node 3 (id 2003) is misclassified as class 4 with p = 0.503.
        let bc = betweenness(&g);
        let deg = degrees(&g);
        let expected = format!(
            "<title>test image 2003 · Dress · predicted Coat (wrong, p = 0.503) · degree {} · betweenness {:.4}</title>",
            deg[3], bc[3]
        );
        assert!(svg.contains(&expected), "{expected}");
        // Each thumbnail is the node's own image: a PNG that decodes to 28 × 28 with
        // `i % 28` bright pixels.
        let start = svg.find("data:image/png;base64,").unwrap() + 22;
        let b64 = &svg[start..start + svg[start..].find('"').unwrap()];
        let png = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        let img = image::load_from_memory(&png).unwrap().to_luma8();
        assert_eq!(img.dimensions(), (28, 28));
        assert_eq!(img.pixels().filter(|p| p.0[0] == 255).count(), 0);
        // The panel: four charts, their hover layers shifted into the cells.
        let panel = GraphPanel::new([("a", &g, &l), ("b", &g, &l), ("c", &g, &l), ("d", &g, &l)])
            .unwrap()
            .with_features(&features)
            .unwrap();
        let svg = panel.explorable_svg().unwrap().text().to_string();
        assert_eq!(svg.matches("<title>").count(), 400);
        let (w, _) = panel.cell();
        let cx = |k: usize| {
            let nodes: Vec<&str> = svg.split("<g class=\"fm-node\">").skip(1).collect();
            let c = nodes[k].find("cx=\"").unwrap() + 4;
            nodes[k][c..c + nodes[k][c..].find('"').unwrap()]
                .parse::<i32>()
                .unwrap()
        };
        assert_eq!(
            cx(100),
            cx(0) + w as i32,
            "the second cell's node 0 sits one cell right"
        );
    }

    #[test]
    fn glyphs_draw_each_node_as_its_image_and_need_the_images() {
        let (g, l) = example();
        let chart = GraphChart::new(&g, &l).unwrap().glyphs(true);
        let err = render_svg(&chart).unwrap_err().to_string();
        assert!(
            err.contains("glyphs") && err.contains("with_features"),
            "{err}"
        );
        let features = example_features(&g);
        let chart = chart.with_features(&features).unwrap();
        let svg = render_svg(&chart).unwrap().0;
        assert_eq!(svg.matches("<image").count(), 100);
        // Glyphs are larger than circles and black-framed when misclassified.
        let circles = GraphChart::new(&g, &l).unwrap();
        assert!(chart.max_radius() > circles.max_radius());
        let rgb = render_rgb(&chart.clone().labels(false)).unwrap();
        let p = chart.clone().labels(false).placement();
        let (w, _) = chart.size();
        let wrong = (0..100)
            .find(|&i| g.node(i).unwrap().misclassified())
            .unwrap();
        let (x, y) = p.centres[wrong];
        let frame = rgb_at(&rgb, w, x as u32, (y - p.radii[wrong] - 4) as u32);
        assert_eq!(frame, [0, 0, 0], "black frame above node {wrong}");
        // Images that are not the graph's nodes are refused.
        let mut other = features.clone();
        other.indices.swap(0, 1);
        let err = GraphChart::new(&g, &l)
            .unwrap()
            .with_features(&other)
            .unwrap_err();
        assert!(err.to_string().contains("features"), "{err}");
    }
}
