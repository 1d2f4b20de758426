//! Do the representations cluster by class without being told the labels? k-means and a
//! Gaussian mixture on each representation, scored against the true classes with the
//! adjusted Rand index and purity; and the principal-component projection the mixture
//! needs.

use std::time::Instant;

use linfa_linalg::eigh::Eigh;
use linfa_linalg::qr::QRInto;
use ndarray::{Array2, Axis, s};
use polars::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

use super::{adjusted_rand_index, check_finite, gaussian_mixture, kmeans, purity};
use crate::error::{Error, ParamError, Result};
use crate::features::{ImageFeatures, Representation};

/// Extra directions drawn beyond the requested ones in [`pca`] (improves accuracy).
const OVERSAMPLE: usize = 10;
/// Subspace (power) iterations in [`pca`].
const POWER_ITERATIONS: usize = 4;

/// The first `dims` principal-component scores of the rows of `x` (`n × dims`, columns
/// in decreasing order of variance): randomized subspace iteration (Halko, Martinsson &
/// Tropp 2011) with 10 extra directions and 4 power iterations, seeded, in f64. On data
/// whose spectrum decays, as images' does, it agrees with an exact eigendecomposition
/// to many digits at a fraction of the cost (1000 × 1152 → 32 in well under a second).
/// Each column's sign is fixed so that its largest-magnitude entry is positive.
///
/// When `dims` is not below `min(n, d)`, returns the centred data's exact scores for
/// all `min(n, d)` components instead.
///
/// Errors: `dims == 0`, an empty matrix, a NaN or infinite value, or a numerical failure
/// ([`Error::Params`] naming `x`).
///
/// ```
/// use fashion::analysis::pca;
/// use fashion::ndarray::array;
/// // Points on a line y = 2x: one component carries all the variance.
/// let x = array![[0.0f32, 0.0], [1.0, 2.0], [2.0, 4.0], [3.0, 6.0]];
/// let p = pca(&x, 1, 0)?;
/// assert_eq!(p.dim(), (4, 1));
/// assert!((p[[3, 0]] - p[[0, 0]]).abs() > 6.7); // distance √45 ≈ 6.71 along the line
/// # Ok::<(), fashion::Error>(())
/// ```
pub fn pca(x: &Array2<f32>, dims: usize, seed: u64) -> Result<Array2<f32>> {
    let (n, d) = x.dim();
    if n == 0 || d == 0 {
        return Err(Error::invalid(
            "x",
            "at least one row and one column",
            format!("{n} × {d}"),
        ));
    }
    if dims == 0 {
        return Err(Error::invalid("dims", "at least 1 component", 0));
    }
    check_finite(x)?;
    let mut xc = x.mapv(f64::from);
    let mean = xc.mean_axis(Axis(0)).expect("n > 0");
    xc -= &mean;
    let failed = |e: linfa_linalg::LinalgError| {
        Error::invalid("x", "a matrix PCA can decompose", e.to_string())
    };

    let small = n.min(d);
    let scores = if dims + OVERSAMPLE >= small {
        // Exact: eigenvectors of the smaller of the Gram and covariance matrices.
        let (vals, vecs) = if n <= d {
            xc.dot(&xc.t()).eigh().map_err(failed)?
        } else {
            xc.t().dot(&xc).eigh().map_err(failed)?
        };
        let order = descending(vals.as_slice().expect("owned"));
        let mut out = Array2::zeros((n, small));
        for (k, &j) in order.iter().enumerate() {
            let col = if n <= d {
                // Gram eigenvector u with eigenvalue λ: scores = u √λ.
                vecs.column(j).mapv(|u| u * vals[j].max(0.0).sqrt())
            } else {
                xc.dot(&vecs.column(j))
            };
            out.column_mut(k).assign(&col);
        }
        out
    } else {
        let l = dims + OVERSAMPLE;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let omega = Array2::from_shape_fn((d, l), |_| StandardNormal.sample(&mut rng));
        let orth = |m: Array2<f64>| -> Result<Array2<f64>> {
            Ok(m.qr_into().map_err(failed)?.generate_q())
        };
        let mut q = orth(xc.dot(&omega))?; // n × l
        for _ in 0..POWER_ITERATIONS {
            let z = orth(xc.t().dot(&q))?; // d × l
            q = orth(xc.dot(&z))?;
        }
        // B = Qᵀ Xc (l × d); B Bᵀ = U S² Uᵀ; scores ≈ Q U S.
        let b = q.t().dot(&xc);
        let (vals, u) = b.dot(&b.t()).eigh().map_err(failed)?;
        let order = descending(vals.as_slice().expect("owned"));
        let qu = q.dot(&u);
        let mut out = Array2::zeros((n, dims));
        for (k, &j) in order.iter().take(dims).enumerate() {
            out.column_mut(k)
                .assign(&qu.column(j).mapv(|v| v * vals[j].max(0.0).sqrt()));
        }
        out
    };
    let mut scores = scores.slice_move(s![.., ..dims.min(small)]);
    for mut col in scores.columns_mut() {
        let big = col
            .iter()
            .copied()
            .fold(0.0f64, |a, v| if v.abs() > a.abs() { v } else { a });
        if big < 0.0 {
            col.mapv_inplace(|v| -v);
        }
    }
    Ok(scores.mapv(|v| v as f32))
}

/// Indices of `values` in decreasing order.
fn descending(values: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[b].total_cmp(&values[a]));
    order
}

/// A clustering method of [`ClusteringStudy`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClusterMethod {
    /// [`kmeans`] on the full representation.
    KMeans,
    /// [`gaussian_mixture`] on the first principal components ([`pca`]).
    GaussianMixture,
}

impl ClusterMethod {
    /// Both, in chart order.
    pub const ALL: [ClusterMethod; 2] = [ClusterMethod::KMeans, ClusterMethod::GaussianMixture];

    /// `"k-means"` or `"Gaussian mixture"`.
    pub fn name(self) -> &'static str {
        match self {
            ClusterMethod::KMeans => "k-means",
            ClusterMethod::GaussianMixture => "Gaussian mixture",
        }
    }
}

/// Parameters of a [`ClusteringStudy`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClusteringParams {
    /// Clusters (default 10, the number of classes).
    pub k: usize,
    /// Seed of k-means, the mixture and the PCA (default 0).
    pub seed: u64,
    /// Principal components the Gaussian mixture is fitted on (default 32). A full
    /// covariance in 784 dimensions would need far more than the ~100 images per class
    /// the study uses; 32 components keep most of the variance and make the fit stable.
    pub mixture_dims: usize,
}

impl Default for ClusteringParams {
    fn default() -> Self {
        ClusteringParams {
            k: 10,
            seed: 0,
            mixture_dims: 32,
        }
    }
}

impl ClusteringParams {
    /// Checks the parameters: `k` and `mixture_dims` at least 1.
    pub fn check(&self) -> Result<(), ParamError> {
        if self.k == 0 {
            return Err(ParamError::new("k", "at least 1 cluster", 0));
        }
        if self.mixture_dims == 0 {
            return Err(ParamError::new("mixture_dims", "at least 1 component", 0));
        }
        Ok(())
    }
}

/// One method on one representation.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusteringResult {
    /// The representation.
    pub representation: Representation,
    /// The method.
    pub method: ClusterMethod,
    /// Columns the method saw (the representation's width, or the PCA dimensions).
    pub columns: usize,
    /// Adjusted Rand index against the true classes (1 = the classes exactly, ≈ 0 =
    /// chance).
    pub ari: f64,
    /// Purity against the true classes (share of images in their cluster's majority
    /// class).
    pub purity: f64,
    /// Seconds, including the PCA for the mixture.
    pub seconds: f64,
}

/// k-means and Gaussian-mixture clustering of each representation, compared with the
/// true classes.
#[derive(Debug, Clone)]
pub struct ClusteringStudy {
    /// Images clustered.
    pub images: usize,
    /// The parameters used.
    pub params: ClusteringParams,
    /// For each representation, k-means then the mixture.
    pub results: Vec<ClusteringResult>,
}

impl ClusteringStudy {
    /// Clusters each of `representations` of `features` (all four: pass
    /// [`Representation::ALL`]) with both methods.
    ///
    /// Errors: bad parameters, `k` above the number of images, or a clustering failure
    /// ([`Error::Clustering`]).
    pub fn run(
        features: &ImageFeatures,
        representations: &[Representation],
        params: &ClusteringParams,
    ) -> Result<ClusteringStudy> {
        params.check()?;
        let mut results = Vec::new();
        for &r in representations {
            let x = features.matrix(r);
            for method in ClusterMethod::ALL {
                let t = Instant::now();
                let (clusters, columns) = match method {
                    ClusterMethod::KMeans => (kmeans(x, params.k, params.seed)?, x.ncols()),
                    ClusterMethod::GaussianMixture => {
                        let p = pca(x, params.mixture_dims, params.seed)?;
                        let c = p.ncols();
                        (gaussian_mixture(&p, params.k, params.seed)?, c)
                    }
                };
                results.push(ClusteringResult {
                    representation: r,
                    method,
                    columns,
                    ari: adjusted_rand_index(&clusters, &features.labels)?,
                    purity: purity(&clusters, &features.labels)?,
                    seconds: t.elapsed().as_secs_f64(),
                });
            }
        }
        Ok(ClusteringStudy {
            images: features.len(),
            params: *params,
            results,
        })
    }

    /// One row per representation and method: `representation`, `method`, `columns`,
    /// `ari`, `purity`, `seconds`.
    pub fn table(&self) -> Result<DataFrame> {
        let r = &self.results;
        Ok(df!(
            "representation" => r.iter().map(|x| x.representation.label()).collect::<Vec<_>>(),
            "method" => r.iter().map(|x| x.method.name()).collect::<Vec<_>>(),
            "columns" => r.iter().map(|x| x.columns as u64).collect::<Vec<_>>(),
            "ari" => r.iter().map(|x| x.ari).collect::<Vec<_>>(),
            "purity" => r.iter().map(|x| x.purity).collect::<Vec<_>>(),
            "seconds" => r.iter().map(|x| x.seconds).collect::<Vec<_>>(),
        )?)
    }

    /// The result of `method` on `representation`, if run.
    pub fn get(
        &self,
        representation: Representation,
        method: ClusterMethod,
    ) -> Option<&ClusteringResult> {
        self.results
            .iter()
            .find(|x| x.representation == representation && x.method == method)
    }

    /// The representation and method with the highest adjusted Rand index, and every
    /// representation's k-means ARI: the data of the sentence the report writes (its
    /// `Display`, in [`crate::report`]).
    pub fn statement(&self) -> ClusteringSummary {
        ClusteringSummary {
            best: self
                .results
                .iter()
                .max_by(|a, b| a.ari.total_cmp(&b.ari))
                .cloned(),
            kmeans_ari: self
                .results
                .iter()
                .filter(|x| x.method == ClusterMethod::KMeans)
                .map(|x| (x.representation, x.ari))
                .collect(),
        }
    }
}

/// What a [`ClusteringStudy`] found ([`ClusteringStudy::statement`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ClusteringSummary {
    /// The clustering with the highest adjusted Rand index (`None`: nothing was run).
    pub best: Option<ClusteringResult>,
    /// Every representation's k-means adjusted Rand index, in study order.
    pub kmeans_ari: Vec<(Representation, f64)>,
}

#[cfg(test)]
mod tests {
    use linfa_linalg::eigh::Eigh;
    use rand::Rng;

    use super::*;

    /// `n × d` data with a decaying spectrum: rank-`r` signal plus small noise.
    fn low_rank(n: usize, d: usize, r: usize, seed: u64) -> Array2<f32> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let a = Array2::from_shape_fn((n, r), |(_, j)| {
            rng.gen_range(-1.0f32..1.0) * (r - j) as f32
        });
        let b = Array2::from_shape_fn((r, d), |_| rng.gen_range(-1.0f32..1.0));
        a.dot(&b) + Array2::from_shape_fn((n, d), |_| rng.gen_range(-0.01f32..0.01))
    }

    /// Variances of the columns.
    fn variances(x: &Array2<f32>) -> Vec<f64> {
        x.columns()
            .into_iter()
            .map(|c| {
                let m = c.iter().map(|&v| f64::from(v)).sum::<f64>() / c.len() as f64;
                c.iter().map(|&v| (f64::from(v) - m).powi(2)).sum::<f64>()
            })
            .collect()
    }

    #[test]
    fn randomized_pca_matches_the_exact_eigenvalues() {
        let x = low_rank(200, 60, 8, 1);
        let p = pca(&x, 5, 3).unwrap();
        assert_eq!(p.dim(), (200, 5));
        // Exact: eigenvalues of the centred covariance (sum of squares).
        let xc = {
            let x = x.mapv(f64::from);
            let m = x.mean_axis(Axis(0)).unwrap();
            x - &m
        };
        let (vals, _) = xc.t().dot(&xc).eigh().unwrap();
        let mut vals = vals.to_vec();
        vals.sort_by(|a, b| b.total_cmp(a));
        for (got, want) in variances(&p).iter().zip(&vals) {
            assert!((got - want).abs() / want < 1e-4, "{got} vs {want}");
        }
        // Decreasing variance; scores uncorrelated.
        let v = variances(&p);
        assert!(v.windows(2).all(|w| w[0] >= w[1]));
        let c01: f64 = p
            .column(0)
            .iter()
            .zip(p.column(1))
            .map(|(&a, &b)| f64::from(a) * f64::from(b))
            .sum();
        assert!(c01.abs() / (v[0] * v[1]).sqrt() < 1e-4);
        // Seeded: same seed, same scores.
        assert_eq!(p, pca(&x, 5, 3).unwrap());
    }

    #[test]
    fn exact_path_when_few_rows_or_columns() {
        let x = low_rank(12, 30, 3, 2);
        let p = pca(&x, 20, 0).unwrap(); // more than min(n, d) = 12
        assert_eq!(p.dim(), (12, 12));
        let q = pca(&x.t().to_owned(), 5, 0).unwrap(); // 30 × 12, exact (5 + 10 ≥ 12)
        assert_eq!(q.dim(), (30, 5));
        let v = variances(&p);
        assert!(v[3] < 1e-3 * v[0], "rank 3: {v:?}");
    }

    #[test]
    fn pca_rejects_bad_input() {
        let x = low_rank(10, 4, 2, 3);
        assert!(pca(&x, 0, 0).unwrap_err().to_string().contains("dims"));
        let mut y = x.clone();
        y[[2, 1]] = f32::NAN;
        assert!(pca(&y, 2, 0).unwrap_err().to_string().contains("row 2"));
        assert!(pca(&Array2::zeros((0, 3)), 2, 0).is_err());
    }

    #[test]
    fn separated_classes_are_recovered() {
        // 4 well separated classes in 40-d, 25 images each.
        let n = 100;
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let labels: Vec<u8> = (0..n).map(|i| (i % 4) as u8).collect();
        let x = Array2::from_shape_fn((n, 40), |(i, j)| {
            let c = i % 4;
            (if j % 4 == c { 5.0 } else { 0.0 }) + rng.gen_range(-0.5f32..0.5)
        });
        let f = ImageFeatures {
            indices: (0..n).collect(),
            labels,
            predicted: vec![0; n],
            confidence: vec![1.0; n],
            input: x.clone(),
            scaled: x.clone(),
            map: x.clone(),
            dense: x,
        };
        let params = ClusteringParams {
            k: 4,
            seed: 1,
            mixture_dims: 6,
        };
        let s = ClusteringStudy::run(&f, &[Representation::Dense], &params).unwrap();
        assert_eq!(s.results.len(), 2);
        for r in &s.results {
            assert!(r.ari > 0.99 && r.purity > 0.99, "{r:?}");
        }
        assert_eq!(
            s.get(Representation::Dense, ClusterMethod::GaussianMixture)
                .unwrap()
                .columns,
            6
        );
        assert_eq!(s.table().unwrap().shape(), (2, 6));
        assert!(s.statement().to_string().contains("dense embedding"));
        let svg = crate::plot::render_svg(&s.chart().unwrap()).unwrap().0;
        assert!(svg.contains("purity") && svg.contains("k-means"));
        let bad = ClusteringParams { k: 0, ..params };
        assert!(ClusteringStudy::run(&f, &[Representation::Dense], &bad).is_err());
    }
}
