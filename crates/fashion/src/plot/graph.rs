//! Drawings of similarity graphs ([`crate::graph`]): nodes coloured by class, sized by
//! degree or betweenness, misclassified images ringed; one graph or a 2×2 panel.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

use super::{bold, draw_text, font, plot_err, register_fonts, title_height, Chart};
use crate::data::{CLASS_NAMES, NUM_CLASSES};
use crate::error::{Error, Result};
use crate::graph::{betweenness, degrees, Layout, NodeInfo, SimilarityGraph};

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
const LABEL_FONT: f64 = 9.0;
const LEGEND_FONT: f64 = 13.0;
const LEGEND_WIDTH: u32 = 150;
const LEGEND_ROW: i32 = 20;

/// What a node's size shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeSize {
    /// All nodes alike.
    Constant,
    /// Number of edges.
    Degree,
    /// Betweenness centrality.
    Betweenness,
}

impl NodeSize {
    fn describe(self) -> &'static str {
        match self {
            NodeSize::Constant => "",
            NodeSize::Degree => "size: degree",
            NodeSize::Betweenness => "size: betweenness",
        }
    }
}

/// A similarity graph drawn at given positions: thin translucent edges, nodes coloured
/// by true class and sized by degree (or betweenness), each labelled with its image id
/// (by default up to 300 nodes), misclassified images in a black ring, a legend of the
/// classes on the right. Default size 900 × 720.
///
/// ```
/// use fashion::graph::{self, KnnParams, LayoutParams, NodeInfo};
/// use fashion::ndarray::Array2;
/// use fashion::plot::{render_svg, GraphChart};
///
/// # fn main() -> fashion::Result<()> {
/// let x = Array2::from_shape_fn((20, 3), |(i, j)| ((i % 4) * 10 + j * (i % 3)) as f32);
/// let nodes: Vec<NodeInfo> = (0..20).map(|i| NodeInfo::new(i, (i % 4) as u8)).collect();
/// let g = graph::knn(&x, &nodes, &KnnParams::default().k(2))?;
/// let layout = graph::fruchterman_reingold(&g, &LayoutParams::default())?;
/// let svg = render_svg(&GraphChart::new(&g, &layout)?.with_title("kNN"))?;
/// // 20 id labels, the 10 class names of the legend and more.
/// assert!(svg.0.contains("Ankle boot") && svg.0.matches("<text").count() > 30);
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
    betweenness: Option<Vec<f64>>,
    size_by: NodeSize,
    labels: bool,
    legend: bool,
    width: u32,
    height: u32,
}

impl GraphChart {
    /// Copies the nodes, edges and positions of `g` drawn at `layout`.
    ///
    /// Errors: a layout for a different number of nodes.
    pub fn new(g: &SimilarityGraph, layout: &Layout) -> Result<GraphChart> {
        if layout.len() != g.node_count() {
            return Err(Error::invalid(
                "layout",
                format!("positions for the graph's {} nodes", g.node_count()),
                format!("{} positions", layout.len()),
            ));
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
            degree: degrees(g).into_iter().map(|d| d as f64).collect(),
            betweenness: None,
            size_by: NodeSize::Degree,
            labels: g.node_count() <= 300,
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

    /// Sizes nodes by degree (default), betweenness (computed here, from the graph) or
    /// not at all.
    pub fn size_by(mut self, g: &SimilarityGraph, size: NodeSize) -> GraphChart {
        if size == NodeSize::Betweenness && self.betweenness.is_none() {
            self.betweenness = Some(betweenness(g));
        }
        self.size_by = size;
        self
    }

    /// Shows or hides the image-id labels.
    pub fn labels(mut self, on: bool) -> GraphChart {
        self.labels = on;
        self
    }

    /// Shows or hides the class legend.
    pub fn legend(mut self, on: bool) -> GraphChart {
        self.legend = on;
        self
    }

    /// Sets the pixel size (at least 200 × 200).
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

    /// Largest node radius, by region size.
    fn max_radius(&self) -> f64 {
        (self.region().2 as f64 / 55.0).clamp(5.0, 11.0)
    }

    /// Pixel centre of node `i` (see [`pixels`](Self::pixels); computes all of them:
    /// call `pixels` once when many are needed).
    #[cfg(test)]
    pub(crate) fn node_pixel(&self, i: usize) -> (i32, i32) {
        self.pixels()[i]
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
        self.max_radius() as i32 + 2
    }

    /// Side of the square the centres lie in (room on the right for a label).
    fn inner(&self, side: i32) -> f64 {
        let right_pad = if self.labels {
            self.pad() + 24
        } else {
            self.pad()
        };
        (side - self.pad() - right_pad).max(1) as f64
    }

    /// Box of node `i` drawn at `(x, y)` (with its label on the right when labels are
    /// shown): left, top, right, bottom.
    fn node_box(&self, i: usize, (x, y): (f64, f64)) -> [f64; 4] {
        let r = self.radius(i) as f64
            + if self.nodes[i].misclassified() {
                2.0
            } else {
                0.0
            };
        let label = if self.labels {
            let digits = self.nodes[i].id.to_string().len() as f64;
            2.0 + digits * LABEL_FONT * 0.62
        } else {
            0.0
        };
        let half_h = r.max(LABEL_FONT * 0.6);
        [x - r, y - half_h, x + r + label, y + half_h]
    }

    /// Pixel centres of all nodes: the layout scaled into the drawing region, then
    /// (up to 2 000 nodes) pushed apart where a node or its label would cover another
    /// node or label — force-directed layouts pack tight clusters into a few pixels.
    /// Each round moves every overlapping pair apart along the axis of least overlap;
    /// at most 200 rounds, centres kept inside the region. Deterministic.
    pub(crate) fn pixels(&self) -> Vec<(i32, i32)> {
        let n = self.nodes.len();
        let mut p: Vec<(f64, f64)> = (0..n).map(|i| self.layout_pixel(i)).collect();
        if n <= 2000 {
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
                let mut boxes: Vec<[f64; 4]> = (0..n).map(|i| self.node_box(i, p[i])).collect();
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
                        boxes[a] = self.node_box(a, p[a]);
                        boxes[b] = self.node_box(b, p[b]);
                    }
                }
                if !moved {
                    break;
                }
            }
        }
        p.into_iter()
            .map(|(x, y)| (x.round() as i32, y.round() as i32))
            .collect()
    }

    /// Radius of node `i`.
    pub(crate) fn radius(&self, i: usize) -> i32 {
        let r_max = self.max_radius();
        let r_min = (r_max * 0.45).max(3.0);
        let values = match self.size_by {
            NodeSize::Constant => return ((r_min + r_max) / 2.0).round() as i32,
            NodeSize::Degree => &self.degree,
            NodeSize::Betweenness => self.betweenness.as_ref().unwrap_or(&self.degree),
        };
        let top = values.iter().copied().fold(0.0, f64::max);
        let t = if top > 0.0 {
            (values[i] / top).sqrt()
        } else {
            0.0
        };
        (r_min + (r_max - r_min) * t).round() as i32
    }

    fn draw_legend<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<()> {
        let x = self.width as i32 - LEGEND_WIDTH as i32 - MARGIN as i32 + 10;
        legend(area, x, self.top() as i32 + 4, &self.nodes, self.size_by)
    }
}

/// The x (`true`) or y coordinate of a point.
fn coord(q: &mut (f64, f64), x: bool) -> &mut f64 {
    if x {
        &mut q.0
    } else {
        &mut q.1
    }
}

/// Draws the class legend with its top-left corner at `(x, y)`: "Class", ten swatches
/// and names, a ringed swatch if any node is misclassified, and the size note.
fn legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    x: i32,
    y: i32,
    nodes: &[NodeInfo],
    size_by: NodeSize,
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
        area.draw(&Circle::new(
            (x + 6, cy),
            6,
            RGBColor(200, 200, 200).filled(),
        ))
        .map_err(plot_err)?;
        area.draw(&Circle::new((x + 6, cy), 8, BLACK.stroke_width(2)))
            .map_err(plot_err)?;
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
    if size_by != NodeSize::Constant {
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
        let pixels = self.pixels();
        for &(i, j) in &self.edges {
            let path = PathElement::new(vec![pixels[i], pixels[j]], edge_style);
            area.draw(&path).map_err(plot_err)?;
        }
        // Larger nodes first, so small ones stay visible on top.
        let mut order: Vec<usize> = (0..self.nodes.len()).collect();
        order.sort_by_key(|&i| (std::cmp::Reverse(self.radius(i)), i));
        for &i in &order {
            let (p, r) = (pixels[i], self.radius(i));
            let node = &self.nodes[i];
            let color = CLASS_COLORS[node.class as usize % NUM_CLASSES];
            area.draw(&Circle::new(p, r, color.filled()))
                .map_err(plot_err)?;
            area.draw(&Circle::new(p, r, WHITE.stroke_width(1)))
                .map_err(plot_err)?;
            if node.misclassified() {
                area.draw(&Circle::new(p, r + 2, BLACK.stroke_width(2)))
                    .map_err(plot_err)?;
            }
        }
        if self.labels {
            let style = font(LABEL_FONT);
            for (i, node) in self.nodes.iter().enumerate() {
                let (x, y) = pixels[i];
                let dx = self.radius(i) + if node.misclassified() { 4 } else { 2 };
                draw_text(
                    area,
                    &node.id.to_string(),
                    (x + dx, y),
                    &style,
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
    /// Four (title, graph, layout) triples, drawn left to right, top to bottom.
    ///
    /// Errors: a layout for a different number of nodes than its graph.
    pub fn new(panels: [(&str, &SimilarityGraph, &Layout); 4]) -> Result<GraphPanel> {
        let mut charts = Vec::with_capacity(4);
        for (title, g, layout) in panels {
            charts.push(GraphChart::new(g, layout)?.with_title(title).legend(false));
        }
        let mut panel = GraphPanel {
            title: None,
            charts,
            width: 1400,
            height: 1240,
        };
        panel.resize_cells();
        Ok(panel)
    }

    /// Sets an overall title.
    pub fn with_title(mut self, title: impl Into<String>) -> GraphPanel {
        self.title = Some(title.into());
        self.resize_cells();
        self
    }

    /// Sizes the nodes of all four by degree, betweenness or not at all; `graphs` are
    /// the four graphs again, in the same order (betweenness is computed from them).
    pub fn size_by(mut self, graphs: [&SimilarityGraph; 4], size: NodeSize) -> GraphPanel {
        self.charts = self
            .charts
            .into_iter()
            .zip(graphs)
            .map(|(c, g)| c.size_by(g, size))
            .collect();
        self
    }

    /// Shows or hides the image-id labels in all four.
    pub fn labels(mut self, on: bool) -> GraphPanel {
        self.charts = self.charts.into_iter().map(|c| c.labels(on)).collect();
        self
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

    fn resize_cells(&mut self) {
        let (w, h) = self.cell();
        for c in &mut self.charts {
            c.width = w;
            c.height = h;
        }
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
            let (col, row) = ((k % 2) as u32, (k / 2) as u32);
            let cell = area.clone().shrink((col * w, self.top() + row * h), (w, h));
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
        )
    }
}

#[cfg(test)]
mod tests {
    use super::super::testdata::{rgb_at, svg_texts};
    use super::super::{render_png, render_rgb, render_svg};
    use super::*;
    use crate::graph::{fruchterman_reingold, knn, Construction, KnnParams, LayoutParams};

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
        assert_eq!(pixels[7], chart.node_pixel(7));
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
        let deg = degrees(&g);
        let top = (0..100)
            .max_by_key(|&i| (deg[i], std::cmp::Reverse(i)))
            .unwrap();
        let low = (0..100).min_by_key(|&i| (deg[i], i)).unwrap();
        assert!(chart.radius(top) > chart.radius(low));
        let b = chart.clone().size_by(&g, NodeSize::Betweenness);
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
            let before: Vec<_> = (0..100)
                .map(|i| chart.node_box(i, chart.layout_pixel(i)))
                .collect();
            let pixels = chart.pixels();
            let after: Vec<_> = (0..100)
                .map(|i| chart.node_box(i, (pixels[i].0 as f64, pixels[i].1 as f64)))
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
}
