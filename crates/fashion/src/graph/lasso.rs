//! Lasso neighbourhood selection (Meinshausen & Bühlmann 2006).

use linfa::prelude::*;
use linfa_elasticnet::ElasticNet;
use ndarray::{Array1, Array2, ShapeBuilder};
use rayon::prelude::*;

use super::{check_input, gram_block, standardise_rows, Construction, NodeInfo, SimilarityGraph};
use crate::error::{Error, Result};

/// A coefficient counts as non-zero above this magnitude.
const NONZERO: f64 = 1e-10;

/// How the lasso penalty `α` is chosen (objective `1/(2d) ‖y − Xw‖² + α ‖w‖₁`, with
/// `d` the number of features, i.e. the number of "samples" of each regression).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Penalty {
    /// This `α` (finite, `> 0`).
    Fixed(f64),
    /// The `α` whose graph has mean degree closest to `m`, found by bisection on
    /// `log α` between `α_max / 1000` and `α_max` (the smallest penalty that removes
    /// every edge, the largest `|r|` between two rows), at most
    /// [`LassoParams::bisection_steps`] graphs; stops early on an exact hit.
    MeanDegree(f64),
    /// Meinshausen & Bühlmann's rule (2006, eq. 9) for standardised data:
    /// `α = Φ⁻¹(1 − level / (2 n²)) / √d`, with `n` images and `d` features. It bounds
    /// the probability of connecting two unconnected components by `level`; it is
    /// conservative (sparse graphs).
    MeinshausenBuhlmann {
        /// The error probability, in `(0, 1)`; 0.05 is usual.
        level: f64,
    },
}

/// How the two regressions of a pair make one undirected edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Symmetrise {
    /// An edge where each image selects the other (conservative).
    And,
    /// An edge where either image selects the other.
    Or,
}

/// Parameters of [`lasso`]. Default: Meinshausen–Bühlmann penalty at level 0.05, AND,
/// tolerance 1e-4, at most 1000 coordinate-descent sweeps, 12 bisection steps.
///
/// ```
/// use fashion::graph::{LassoParams, Penalty, Symmetrise};
/// let p = LassoParams::default().alpha(0.2).symmetrise(Symmetrise::Or);
/// assert_eq!(p.penalty, Penalty::Fixed(0.2));
/// assert!(p.check().is_ok());
/// assert!(LassoParams::default().alpha(-1.0).check().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LassoParams {
    /// How `α` is chosen.
    pub penalty: Penalty,
    /// AND or OR.
    pub symmetrise: Symmetrise,
    /// Coordinate-descent convergence tolerance (linfa's; relative coefficient change).
    pub tolerance: f64,
    /// Coordinate-descent sweeps per regression, at most.
    pub max_iterations: usize,
    /// Graphs tried at most by [`Penalty::MeanDegree`].
    pub bisection_steps: usize,
}

impl Default for LassoParams {
    fn default() -> Self {
        LassoParams {
            penalty: Penalty::MeinshausenBuhlmann { level: 0.05 },
            symmetrise: Symmetrise::And,
            tolerance: 1e-4,
            max_iterations: 1000,
            bisection_steps: 12,
        }
    }
}

impl LassoParams {
    /// A fixed penalty `α`.
    pub fn alpha(mut self, alpha: f64) -> Self {
        self.penalty = Penalty::Fixed(alpha);
        self
    }

    /// The penalty giving mean degree `m` (bisection).
    pub fn mean_degree(mut self, m: f64) -> Self {
        self.penalty = Penalty::MeanDegree(m);
        self
    }

    /// The Meinshausen–Bühlmann penalty at `level`.
    pub fn meinshausen_buhlmann(mut self, level: f64) -> Self {
        self.penalty = Penalty::MeinshausenBuhlmann { level };
        self
    }

    /// AND or OR symmetrisation.
    pub fn symmetrise(mut self, s: Symmetrise) -> Self {
        self.symmetrise = s;
        self
    }

    /// Coordinate-descent tolerance.
    pub fn tolerance(mut self, tolerance: f64) -> Self {
        self.tolerance = tolerance;
        self
    }

    /// Coordinate-descent sweeps, at most.
    pub fn max_iterations(mut self, n: usize) -> Self {
        self.max_iterations = n;
        self
    }

    /// Bisection steps, at most.
    pub fn bisection_steps(mut self, n: usize) -> Self {
        self.bisection_steps = n;
        self
    }

    /// Checks the parameters, one error per bad one: [`Error::InvalidPenalty`],
    /// [`Error::InvalidMeanDegree`] (`n − 1` bound checked when building),
    /// [`Error::InvalidLevel`], [`Error::InvalidTolerance`], [`Error::InvalidIterations`].
    pub fn check(&self) -> Result<()> {
        match self.penalty {
            Penalty::Fixed(a) if !(a > 0.0 && a.is_finite()) => {
                return Err(Error::InvalidPenalty { found: a })
            }
            Penalty::MeanDegree(m) if !(m > 0.0 && m.is_finite()) => {
                return Err(Error::InvalidMeanDegree {
                    found: m,
                    nodes: None,
                })
            }
            Penalty::MeinshausenBuhlmann { level } if !(level > 0.0 && level < 1.0) => {
                return Err(Error::InvalidLevel { found: level })
            }
            _ => {}
        }
        if !(self.tolerance > 0.0 && self.tolerance.is_finite()) {
            return Err(Error::InvalidTolerance {
                found: self.tolerance,
            });
        }
        for (name, found) in [
            ("max_iterations", self.max_iterations),
            ("bisection_steps", self.bisection_steps),
        ] {
            if found == 0 {
                return Err(Error::InvalidIterations { name, found });
            }
        }
        Ok(())
    }
}

/// What a [`lasso`] run decided.
#[derive(Debug, Clone, PartialEq)]
pub struct LassoReport {
    /// The penalty used.
    pub alpha: f64,
    /// Non-zero coefficients over all regressions (directed selections `i → j`).
    pub selections: usize,
    /// Edges under AND symmetrisation.
    pub and_edges: usize,
    /// Edges under OR symmetrisation.
    pub or_edges: usize,
    /// Regressions that stopped at `max_iterations` without converging.
    pub unconverged: usize,
    /// Complete sets of `n` regressions run (1, or the bisection's graphs).
    pub rounds: usize,
}

/// `Φ⁻¹(p)`, the standard normal quantile, for `p` in `(0, 1)` (Acklam's rational
/// approximation, relative error below 1.2e-9); NaN outside.
///
/// ```
/// let z = fashion::graph::inverse_normal_cdf(0.975);
/// assert!((z - 1.959964).abs() < 1e-6);
/// ```
pub fn inverse_normal_cdf(p: f64) -> f64 {
    if !(p > 0.0 && p < 1.0) {
        return f64::NAN;
    }
    const A: [f64; 6] = [
        -3.969683028665376e1,
        2.209460984245205e2,
        -2.759285104469687e2,
        1.38357751867269e2,
        -3.066479806614716e1,
        2.506628277459239,
    ];
    const B: [f64; 5] = [
        -5.447609879822406e1,
        1.615858368580409e2,
        -1.556989798598866e2,
        6.680131188771972e1,
        -1.328068155288572e1,
    ];
    const C: [f64; 6] = [
        -7.784894002430293e-3,
        -3.223964580411365e-1,
        -2.400758277161838,
        -2.549732539343734,
        4.374664141464968,
        2.938163982698783,
    ];
    const D: [f64; 4] = [
        7.784695709041462e-3,
        3.224671290700398e-1,
        2.445134137142996,
        3.754408661907416,
    ];
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    const LOW: f64 = 0.02425;
    if p < LOW {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - LOW {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

/// One round: every image regressed on all others at penalty `alpha`.
struct Round {
    alpha: f64,
    /// `sel[i]`: the images `j` with a non-zero coefficient in `i`'s regression, with
    /// `|coefficient|`.
    sel: Vec<Vec<(usize, f64)>>,
    unconverged: usize,
}

impl Round {
    /// Undirected edges `(i, j, weight)` under `s`; weight = larger `|coefficient|`.
    fn edges(&self, s: Symmetrise) -> Vec<(usize, usize, f64)> {
        let mut directed = std::collections::HashMap::new();
        for (i, list) in self.sel.iter().enumerate() {
            for &(j, c) in list {
                directed.insert((i, j), c);
            }
        }
        let mut out = Vec::new();
        for (&(i, j), &c) in &directed {
            let back = directed.get(&(j, i)).copied();
            let keep = match (s, back) {
                (Symmetrise::And, Some(_)) => i < j,
                (Symmetrise::And, None) => false,
                (Symmetrise::Or, Some(_)) => i < j,
                (Symmetrise::Or, None) => true,
            };
            if keep {
                out.push((i.min(j), i.max(j), c.max(back.unwrap_or(0.0))));
            }
        }
        out.sort_by_key(|a| (a.0, a.1));
        out
    }
}

/// Runs the `n` regressions at `alpha`, rayon over images.
fn round(z: &Array2<f64>, alpha: f64, params: &LassoParams) -> Result<Round> {
    let (n, d) = z.dim();
    let max_iter = params.max_iterations.min(u32::MAX as usize) as u32;
    let model = ElasticNet::<f64>::lasso()
        .penalty(alpha)
        .with_intercept(true)
        .tolerance(params.tolerance)
        .max_iterations(max_iter);
    let fits: Vec<(Vec<(usize, f64)>, bool)> = (0..n)
        .into_par_iter()
        .map(|i| {
            // Predictors: the other images' vectors as columns (column-major, so
            // coordinate descent reads contiguous columns); the target: image i's.
            let mut data = Vec::with_capacity(d * (n - 1));
            for (j, row) in z.rows().into_iter().enumerate() {
                if j != i {
                    data.extend(row.iter().copied());
                }
            }
            let records = Array2::from_shape_vec((d, n - 1).f(), data)
                .map_err(|e| Error::invalid("x", "a matrix", e))?;
            let target: Array1<f64> = z.row(i).to_owned();
            let fit = model
                .fit(&Dataset::new(records, target))
                .map_err(|e| Error::invalid("alpha", "a valid lasso penalty", e))?;
            let sel = fit
                .hyperplane()
                .iter()
                .enumerate()
                .filter(|(_, c)| c.abs() > NONZERO)
                .map(|(c, w)| (if c < i { c } else { c + 1 }, w.abs()))
                .collect();
            Ok((sel, fit.n_steps() as usize >= params.max_iterations))
        })
        .collect::<Result<_>>()?;
    let unconverged = fits.iter().filter(|f| f.1).count();
    Ok(Round {
        alpha,
        sel: fits.into_iter().map(|f| f.0).collect(),
        unconverged,
    })
}

/// The lasso neighbourhood-selection graph of the rows of `x` (Meinshausen & Bühlmann
/// 2006): each image's vector, standardised (mean 0, variance 1 over its `d` features),
/// is regressed on all other images' standardised vectors with an L1 penalty
/// (linfa-elasticnet, intercept on; `d` samples, `n − 1` predictors); `i` selects `j`
/// where `j`'s coefficient is non-zero (`|c| > 1e-10`). Selections become edges by
/// [`Symmetrise`]; the edge weight is the larger `|coefficient|` of the pair. The
/// penalty is chosen as [`Penalty`] says; the [`LassoReport`] (in
/// [`Construction::Lasso`]) gives it with the AND and OR edge counts.
///
/// Cost: `n` regressions per round (rayon over images); ~1–2 s for 100 images, much
/// more for [`Penalty::MeanDegree`] (up to `bisection_steps` rounds).
///
/// Errors: the parameters' ([`LassoParams::check`]), a mean degree above `n − 1`,
/// fewer than 2 rows, a node count different from the row count, NaN or infinite
/// values, a constant row ([`Error::ConstantRow`]).
pub fn lasso(x: &Array2<f32>, nodes: &[NodeInfo], params: &LassoParams) -> Result<SimilarityGraph> {
    params.check()?;
    check_input(x, nodes)?;
    let (n, d) = x.dim();
    if let Penalty::MeanDegree(m) = params.penalty {
        if m > (n - 1) as f64 {
            return Err(Error::InvalidMeanDegree {
                found: m,
                nodes: Some(n),
            });
        }
    }
    let z = standardise_rows(x, nodes, d as f64)?;
    let (chosen, rounds) = match params.penalty {
        Penalty::Fixed(alpha) => (round(&z, alpha, params)?, 1),
        Penalty::MeinshausenBuhlmann { level } => {
            let alpha =
                inverse_normal_cdf(1.0 - level / (2.0 * (n * n) as f64)) / (d as f64).sqrt();
            (round(&z, alpha, params)?, 1)
        }
        Penalty::MeanDegree(m) => bisect(&z, m, params)?,
    };
    let and_edges = chosen.edges(Symmetrise::And).len();
    let or_edges = chosen.edges(Symmetrise::Or).len();
    let report = LassoReport {
        alpha: chosen.alpha,
        selections: chosen.sel.iter().map(Vec::len).sum(),
        and_edges,
        or_edges,
        unconverged: chosen.unconverged,
        rounds,
    };
    let edges = chosen.edges(params.symmetrise);
    SimilarityGraph::from_edges(
        nodes,
        &edges,
        Construction::Lasso {
            params: *params,
            report,
        },
    )
}

/// Bisection on `log α` for mean degree `m`; returns the closest round and the number
/// of rounds run.
fn bisect(z: &Array2<f64>, m: f64, params: &LassoParams) -> Result<(Round, usize)> {
    let n = z.nrows();
    let d = z.ncols() as f64;
    let target = (m * n as f64 / 2.0).round() as usize;
    // α_max: the largest |x_jᵀ y| / d over pairs, i.e. the largest |r|.
    let g = gram_block(z.view(), z.view());
    let mut alpha_max: f64 = 0.0;
    for ((i, j), v) in g.indexed_iter() {
        if i != j {
            alpha_max = alpha_max.max(v.abs() / d);
        }
    }
    let (mut lo, mut hi) = (alpha_max * 1e-3, alpha_max);
    let mut best: Option<(usize, Round)> = None;
    let mut rounds = 0;
    let mut alpha = lo;
    for step in 0..params.bisection_steps {
        let r = round(z, alpha, params)?;
        rounds += 1;
        let e = r.edges(params.symmetrise).len();
        let miss = e.abs_diff(target);
        if best.as_ref().is_none_or(|(b, _)| miss < *b) {
            best = Some((miss, r));
        }
        if miss == 0 || (step == 0 && e < target) {
            // Exact, or even the smallest penalty gives too few edges.
            break;
        }
        if e > target {
            lo = alpha;
        } else {
            hi = alpha;
        }
        alpha = (lo * hi).sqrt();
    }
    match best {
        Some((_, r)) => Ok((r, rounds)),
        None => Err(Error::InvalidIterations {
            name: "bisection_steps",
            found: 0,
        }),
    }
}

#[cfg(test)]
mod tests {
    use ndarray::array;

    use super::super::testdata::*;
    use super::*;

    #[test]
    fn normal_quantiles() {
        for (p, z) in [
            (0.5, 0.0),
            (0.975, 1.959963984540054),
            (0.025, -1.959963984540054),
            (0.999, 3.090232306167813),
            (1e-10, -6.361340902404056),
        ] {
            let got = inverse_normal_cdf(p);
            assert!(
                (got - z).abs() < 1e-8 * z.abs().max(1.0),
                "Φ⁻¹({p}) = {got}, not {z}"
            );
        }
        assert!(inverse_normal_cdf(0.0).is_nan() && inverse_normal_cdf(1.0).is_nan());
    }

    /// Rows 0..3 are combinations of two hidden signals, rows 4..7 of two others: the
    /// lasso links rows within a group only.
    fn two_groups() -> (Array2<f32>, Vec<NodeInfo>) {
        let d = 40;
        let sig = |k: usize, t: usize| {
            ((t * (k + 2) * 7 % 41) as f32 / 41.0 - 0.5) + (t as f32 * 0.37 * (k + 1) as f32).sin()
        };
        let x = Array2::from_shape_fn((8, d), |(i, t)| {
            let g = 2 * (i / 4);
            let w = (i % 4) as f32 * 0.3 + 0.2;
            w * sig(g, t)
                + (1.0 - w) * sig(g + 1, t)
                + 0.05 * ((i * 31 + t * 17) % 13) as f32 / 13.0
        });
        (x, plain_nodes(8))
    }

    #[test]
    fn lasso_links_within_groups() {
        let (x, nodes) = two_groups();
        let g = lasso(&x, &nodes, &LassoParams::default().alpha(0.05)).unwrap();
        assert!(g.edge_count() >= 4, "{:?}", g.edge_list());
        for (i, j, w) in g.edge_list() {
            assert_eq!(i / 4, j / 4, "edge ({i},{j}) joins the groups");
            assert!(w > 1e-10);
        }
        let Construction::Lasso { report, .. } = g.construction() else {
            panic!()
        };
        assert_eq!(report.and_edges, g.edge_count());
        assert!(report.or_edges >= report.and_edges);
        assert!(report.selections >= 2 * report.and_edges);
        assert!(report.selections <= report.and_edges + report.or_edges);
        assert_eq!(report.unconverged, 0);
    }

    #[test]
    fn coefficients_match_a_direct_fit() {
        // Node 2's regression, fitted by hand through linfa, gives exactly the
        // selections the OR graph shows for node 2 (where no other node selects 2).
        let (x, nodes) = two_groups();
        let alpha = 0.1;
        let z = standardise_rows(&x, &nodes, x.ncols() as f64).unwrap();
        let r = round(&z, alpha, &LassoParams::default()).unwrap();
        let others: Vec<usize> = (0..8).filter(|&j| j != 2).collect();
        let records = Array2::from_shape_fn((x.ncols(), 7), |(t, c)| z[[others[c], t]]);
        let fit = ElasticNet::<f64>::lasso()
            .penalty(alpha)
            .with_intercept(true)
            .fit(&Dataset::new(records, z.row(2).to_owned()))
            .unwrap();
        let direct: Vec<usize> = fit
            .hyperplane()
            .iter()
            .enumerate()
            .filter(|(_, c)| c.abs() > NONZERO)
            .map(|(c, _)| others[c])
            .collect();
        let ours: Vec<usize> = r.sel[2].iter().map(|s| s.0).collect();
        assert_eq!(ours, direct);
        assert!(!ours.is_empty());
    }

    #[test]
    fn and_is_a_subset_of_or_and_penalty_thins_the_graph() {
        let (x, nodes) = clusters(40, 30, 0.6, 9);
        let and = lasso(&x, &nodes, &LassoParams::default().alpha(0.05)).unwrap();
        let or = lasso(
            &x,
            &nodes,
            &LassoParams::default()
                .alpha(0.05)
                .symmetrise(Symmetrise::Or),
        )
        .unwrap();
        let or_set: std::collections::HashSet<_> =
            or.edge_list().iter().map(|e| (e.0, e.1)).collect();
        assert!(and.edge_list().iter().all(|e| or_set.contains(&(e.0, e.1))));
        assert!(or.edge_count() > and.edge_count());
        let sparse = lasso(&x, &nodes, &LassoParams::default().alpha(0.3)).unwrap();
        assert!(sparse.edge_count() < and.edge_count());
    }

    #[test]
    fn mean_degree_rule_gets_close() {
        let (x, nodes) = clusters(40, 30, 0.6, 4);
        let g = lasso(&x, &nodes, &LassoParams::default().mean_degree(3.0)).unwrap();
        assert!(
            (g.mean_degree() - 3.0).abs() <= 0.5,
            "mean degree {}",
            g.mean_degree()
        );
        let Construction::Lasso { report, .. } = g.construction() else {
            panic!()
        };
        assert!(report.rounds >= 2 && report.rounds <= 12, "{report:?}");
        // The reported α reproduces the graph.
        let again = lasso(&x, &nodes, &LassoParams::default().alpha(report.alpha)).unwrap();
        assert_eq!(again.edge_list(), g.edge_list());
    }

    #[test]
    fn meinshausen_buhlmann_penalty_follows_the_formula() {
        let (x, nodes) = clusters(30, 50, 0.3, 8);
        let g = lasso(&x, &nodes, &LassoParams::default()).unwrap();
        let Construction::Lasso { report, .. } = g.construction() else {
            panic!()
        };
        // Φ⁻¹(1 − 0.05 / 1800) = 4.030934 (Python's statistics.NormalDist), over √50.
        assert!(
            (report.alpha - 4.030_934 / 50f64.sqrt()).abs() < 1e-6,
            "{report:?}"
        );
    }

    #[test]
    fn degenerate_input_is_an_error() {
        let nodes = plain_nodes(3);
        let x = array![[1.0f32, 2.0, 4.0], [3.0, 3.0, 3.0], [4.0, 2.0, 1.0]];
        let err = lasso(&x, &nodes, &LassoParams::default()).unwrap_err();
        assert!(matches!(err, Error::ConstantRow { row: 1, id: 1 }), "{err}");
        let mut nan = x.clone();
        nan[[1, 1]] = f32::NAN;
        let err = lasso(&nan, &nodes, &LassoParams::default()).unwrap_err();
        assert!(
            matches!(err, Error::NonFiniteFeature { row: 1, .. }),
            "{err}"
        );
        let good = array![[1.0f32, 2.0, 4.0], [3.0, 1.0, 3.0], [4.0, 2.0, 1.0]];
        type Check = fn(&Error) -> bool;
        let cases: [(LassoParams, Check); 8] = [
            (LassoParams::default().alpha(0.0), |e| {
                matches!(e, Error::InvalidPenalty { .. })
            }),
            (LassoParams::default().alpha(f64::NAN), |e| {
                matches!(e, Error::InvalidPenalty { .. })
            }),
            (LassoParams::default().mean_degree(-1.0), |e| {
                matches!(e, Error::InvalidMeanDegree { .. })
            }),
            (LassoParams::default().mean_degree(2.5), |e| {
                matches!(e, Error::InvalidMeanDegree { nodes: Some(3), .. })
            }),
            (LassoParams::default().meinshausen_buhlmann(1.0), |e| {
                matches!(e, Error::InvalidLevel { .. })
            }),
            (LassoParams::default().tolerance(0.0), |e| {
                matches!(e, Error::InvalidTolerance { .. })
            }),
            (LassoParams::default().max_iterations(0), |e| {
                matches!(
                    e,
                    Error::InvalidIterations {
                        name: "max_iterations",
                        ..
                    }
                )
            }),
            (LassoParams::default().bisection_steps(0), |e| {
                matches!(
                    e,
                    Error::InvalidIterations {
                        name: "bisection_steps",
                        ..
                    }
                )
            }),
        ];
        for (p, ok) in cases {
            let err = lasso(&good, &nodes, &p).unwrap_err();
            assert!(ok(&err), "{p:?}: {err}");
        }
        assert!(matches!(
            lasso(
                &good.slice(ndarray::s![..1, ..]).to_owned(),
                &nodes[..1],
                &LassoParams::default()
            ),
            Err(Error::TooFewNodes { .. })
        ));
    }
}
