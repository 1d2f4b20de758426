//! A fused convolution block: conv → (batch norm) → (activation) → (2×2 max-pool), as one
//! differentiable op.
//!
//! The same block composed from [`conv2d`](super::conv2d),
//! [`batch_norm_train`](super::batch_norm_train), [`activate`](super::activate) and
//! [`max_pool2d`](super::max_pool2d) hands three intermediate tensors to dfdx, each copied
//! in and out of dfdx's storage, each with its own zero-filled gradient buffer and its
//! own passes over memory. Fused, the convolution output stays in a buffer this op owns
//! and normalisation, activation and pooling happen in one pass over it. Without batch
//! statistics (no normalisation, or fixed running statistics) that pass runs image by
//! image right after each image's GEMM, while its output is still in cache. The backward
//! pass forms each image's gradient with respect to the convolution output just before
//! that image's GEMMs; batch statistics (which need the whole batch) cost one extra pass
//! over the batch in each direction. On SmallCnn (batch 64) the element-wise work went from about
//! as long as the convolutions to a fraction of it. The composed ops remain the reference
//! the block is tested against, and the element-wise loops run with the CPU's widest
//! vectors (AVX-512 or AVX2, chosen at run time).
//!
//! [`conv_stack`] chains several blocks in one op, so the maps between them never become
//! dfdx tensors either; the models run their convolutions that way.

use dfdx::shapes::{HasShape, Shape};
use dfdx::tensor::{Cpu, CpuError, Gradients, PutTape, SplitTape, Tape, Tensor, TensorFromVec};
use dfdx::tensor_ops::ReshapeTo;
use rayon::prelude::*;

use super::conv::{self, Geom, Plan};
use super::ops::{Activation, BatchStats, channel_stats_given_sums, lane_sum, lane_sum_dot_dev};
use super::pool::{pool_row_fast, unpool_row_fast};
use super::spares::{give_spare, take_spare};
use super::{Padding, Shape4, add_partials, images_per_task, par_zeros, simd, tensor_err, to_vec};
use crate::{Error, Result};

const OP: &str = "conv_block";

/// Planes per rayon work item in the element-wise passes.
const MIN_PLANES: usize = 4;

/// What [`ConvBlock::forward`] returns: the block's output (carrying the input's tape)
/// and, in [`BlockNorm::Batch`] mode, the batch statistics of the convolution output.
pub type BlockOutput<T> = (Tensor<Shape4, f32, Cpu, T>, Option<BatchStats>);

/// What [`conv_stack`] returns: the last block's output (carrying the input's tape) and
/// each block's batch statistics (`Some` in [`BlockNorm::Batch`] mode).
pub type StackOutput<T> = (Tensor<Shape4, f32, Cpu, T>, Vec<Option<BatchStats>>);

/// The normalisation step of a [`ConvBlock`].
#[derive(Debug, Clone, Copy)]
pub enum BlockNorm<'a> {
    /// Training mode: each channel standardised with the batch's own mean and biased
    /// variance, then scaled and shifted by the learnable `scale` and `shift`, which
    /// receive gradients. [`ConvBlock::forward`] returns the batch statistics so the
    /// caller can update running averages.
    Batch {
        /// Per-channel scale γ, `(C_out,)`.
        scale: &'a Tensor<(usize,), f32, Cpu>,
        /// Per-channel shift β, `(C_out,)`.
        shift: &'a Tensor<(usize,), f32, Cpu>,
        /// Added to the variance before the square root.
        epsilon: f32,
    },
    /// Inference mode: `(x − mean)/√(var + ε)·scale + shift` with given (running)
    /// statistics. Gradients (if the input is taped) flow to the input only.
    Running {
        /// Per-channel scale γ.
        scale: &'a [f32],
        /// Per-channel shift β.
        shift: &'a [f32],
        /// Running mean.
        mean: &'a [f32],
        /// Running variance.
        var: &'a [f32],
        /// Added to the variance before the square root.
        epsilon: f32,
    },
}

/// conv → (batch norm) → (activation) → (2×2 max-pool), fused into one op.
///
/// Mathematically the same as applying [`conv2d`](super::conv2d) (or
/// [`conv2d_no_bias`](super::conv2d_no_bias)), then
/// [`batch_norm_train`](super::batch_norm_train) /
/// [`batch_norm_infer`](super::batch_norm_infer), [`activate`](super::activate) and
/// [`max_pool2d`](super::max_pool2d), with the same tie rule for pooling (the first
/// maximum in row-major window order wins); faster because the intermediate results never
/// become dfdx tensors.
///
/// The parameters carry no tape; their gradients accumulate under their own tensor ids,
/// as with [`conv2d`](super::conv2d).
///
/// ```
/// use dfdx::prelude::*;
/// use fashion_nn::{Activation, ConvBlock, Padding};
///
/// let dev = Cpu::default();
/// let x = dev.tensor_from_vec(vec![1.0f32; 16], (1, 1, 4, 4));
/// let w = dev.tensor_from_vec(vec![1.0f32; 9], (1, 1, 3, 3));
/// let b = dev.tensor_from_vec(vec![-5.0f32], (1,));
/// let block = ConvBlock {
///     weight: &w,
///     bias: Some(&b),
///     norm: None,
///     activation: Some(Activation::Relu),
///     pool: true,
///     padding: Padding::Same,
/// };
/// // Window sums 4, 6 or 9 minus 5, ReLU, then each 2×2 window's maximum.
/// let (y, stats) = block.forward(x.leaky_trace())?;
/// assert!(stats.is_none());
/// assert_eq!(y.as_vec(), [4.0; 4]);
/// let grads = y.sum().backward();
/// assert_eq!(grads.get(&b).as_vec(), [4.0]);
/// # Ok::<(), fashion_nn::Error>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct ConvBlock<'a> {
    /// Kernels `(C_out, C_in, KH, KW)`.
    pub weight: &'a Tensor<(usize, usize, usize, usize), f32, Cpu>,
    /// Optional per-filter bias `(C_out,)`.
    pub bias: Option<&'a Tensor<(usize,), f32, Cpu>>,
    /// Optional normalisation after the convolution.
    pub norm: Option<BlockNorm<'a>>,
    /// Optional activation after the normalisation.
    pub activation: Option<Activation>,
    /// Whether to finish with 2×2, stride-2 max-pooling (odd trailing rows/columns are
    /// dropped).
    pub pool: bool,
    /// Padding of the convolution.
    pub padding: Padding,
}

/// Per-channel affine map `v = a·z + b` that the normalisation applies to the
/// convolution output `z`.
struct Affine {
    a: Vec<f32>,
    b: Vec<f32>,
}

/// Runs `$body` with `$f` (the activation) and `$df` (its derivative, at the input)
/// bound to plain closures for `$act`, so each activation gets its own branch-free loop.
macro_rules! with_activation {
    ($act:expr, $f:ident, $df:ident, $body:block) => {
        match $act {
            None => {
                let $f = |v: f32| v;
                let $df = |_: f32| 1.0f32;
                $body
            }
            Some(Activation::Relu) => {
                let $f = |v: f32| Activation::Relu.f(v);
                let $df = |v: f32| Activation::Relu.df(v);
                $body
            }
            Some(Activation::Selu) => {
                let $f = |v: f32| Activation::Selu.f(v);
                let $df = |v: f32| Activation::Selu.df(v);
                $body
            }
        }
    };
}

/// A per-channel parameter vector.
type Vector = Tensor<(usize,), f32, Cpu>;

/// What one block's backward pass needs from its forward pass.
struct Pass {
    g: Geom,
    act: Option<Activation>,
    pool: bool,
    /// The convolution's weights, for both passes.
    plan: Plan,
    affine: Option<Affine>,
    /// Batch-norm mode: σ⁻¹ and the mean of each channel.
    batch: Option<(Vec<f32>, Vec<f32>)>,
    /// The convolution output.
    z: Vec<f32>,
    /// Winner of each pooling window (empty without pooling).
    argmax: Vec<u8>,
    /// The block's input.
    x_data: Vec<f32>,
    /// The parameters (shared, not copied): their ids key their gradients.
    weight: Tensor<Shape4, f32, Cpu>,
    bias: Option<Vector>,
    bn_params: Option<(Vector, Vector)>,
}

/// Gradients of one block's parameters: per-work-item partial sums for the weight and
/// bias (added in order), and the batch-norm scale and shift gradients.
struct ParamGrads {
    w: Vec<Vec<f32>>,
    b: Vec<Vec<f32>>,
    bn: Option<(Vec<f32>, Vec<f32>)>,
}

/// Calls `f(window, at)` for each pooling window of one plane, window by window in
/// row-major order, with `at` the position of its winner in the pre-pooling plane of
/// width `w`: `argmax` (one plane's) numbers the window's elements 0 top-left,
/// 1 top-right, 2 bottom-left, 3 bottom-right.
#[inline(always)]
fn for_each_winner(argmax: &[u8], w: usize, mut f: impl FnMut(usize, usize)) {
    let wo = w / 2;
    for (i, row) in argmax.chunks_exact(wo).enumerate() {
        let top = 2 * i * w;
        for (j, &a) in row.iter().enumerate() {
            f(
                i * wo + j,
                top + usize::from(a >> 1) * w + 2 * j + usize::from(a & 1),
            );
        }
    }
}

/// Adds `k·dv` of each pooling window onto its winner in the plane `gz` (of width `w`).
#[inline]
fn add_to_winners(gz: &mut [f32], dv: &[f32], argmax: &[u8], w: usize, k: f32) {
    for_each_winner(argmax, w, |q, at| gz[at] += k * dv[q]);
}

/// `v` cut into chunks of `len` for a parallel zip; `count` empty slices if `v` is empty
/// (no pooling, hence no argmax).
fn chunks_mut_or_empty<T: Send>(v: &mut [T], len: usize, count: usize) -> Vec<&mut [T]> {
    if v.is_empty() {
        (0..count).map(|_| <&mut [T]>::default()).collect()
    } else {
        v.chunks_mut(len).collect()
    }
}

/// As [`chunks_mut_or_empty`], for shared slices.
fn chunks_or_empty<T: Sync>(v: &[T], len: usize, count: usize) -> Vec<&[T]> {
    if v.is_empty() {
        vec![&[][..]; count]
    } else {
        v.chunks(len).collect()
    }
}

/// Per-channel coefficients of the batch-norm backward pass:
/// `dz = k·(dv − mdv − (z − mean)·mdvx)`.
#[derive(Clone, Copy)]
struct BnCoef {
    k: f32,
    mean: f32,
    mdv: f32,
    mdvx: f32,
}

/// What the batch-norm backward pass computes over the whole batch.
struct BnBackward {
    /// dv per pooling window (with pooling) or per element.
    dv: Vec<f32>,
    coef: Vec<BnCoef>,
    /// Gradients of the scale and shift.
    grads: (Vec<f32>, Vec<f32>),
}

/// The gradient `gz` with respect to the convolution output `z` of whole images under
/// batch normalisation, from `dv` (per pooling window, numbered in `argmax`, or per
/// element if `argmax` is empty) and the channels' coefficients. `z`, `dv` and `argmax`
/// are image by image; `gz` is written in full, in the layout of the convolution's
/// backward GEMMs (see [`gemm_planes`]).
fn grad_bn(coef: &[BnCoef], g: Geom, z: &[f32], dv: &[f32], argmax: &[u8], gz: &mut [f32]) {
    let hw = g.h_out * g.w_out;
    let plane = (g.h_out / 2) * (g.w_out / 2);
    simd(
        #[inline(always)]
        || {
            for (gz, p, ch) in gemm_planes(gz, g.c_out, hw) {
                let BnCoef { k, mean, mdv, mdvx } = coef[ch];
                let z = &z[p * hw..(p + 1) * hw];
                if argmax.is_empty() {
                    let dv = &dv[p * hw..(p + 1) * hw];
                    for ((gz, &zv), &d) in gz.iter_mut().zip(z).zip(dv) {
                        *gz = k * (d - mdv - (zv - mean) * mdvx);
                    }
                    continue;
                }
                for (gz, &zv) in gz.iter_mut().zip(z) {
                    *gz = -k * (mdv + (zv - mean) * mdvx);
                }
                let r = p * plane..(p + 1) * plane;
                add_to_winners(gz, &dv[r.clone()], &argmax[r], g.w_out, k);
            }
        },
    );
}

/// The planes of an output-gradient buffer laid out as the convolution's backward
/// GEMMs read it, `C_out × (imgs·P)`: plane `q` is channel `q / imgs` of image
/// `q % imgs` (for one image, the image's own layout). Yields each plane with its index
/// `p = image·C_out + channel` in the image-by-image layout and its channel.
#[inline(always)]
fn gemm_planes(
    gz: &mut [f32],
    c: usize,
    hw: usize,
) -> impl Iterator<Item = (&mut [f32], usize, usize)> {
    let imgs = gz.len() / (c * hw);
    gz.chunks_exact_mut(hw).enumerate().map(move |(q, gz)| {
        let (ch, i) = (q / imgs, q % imgs);
        (gz, i * c + ch, ch)
    })
}

/// `map` of the pooling windows' top rows of the plane `z` (width `w`), written one
/// after the other into `top`, and of their bottom rows into `bottom`: `2·⌊w/2⌋` elements
/// per row of windows (an odd last column or row belongs to no window).
#[inline(always)]
fn window_rows(z: &[f32], w: usize, top: &mut [f32], bottom: &mut [f32], map: impl Fn(f32) -> f32) {
    let wo = w / 2;
    for ((pair, t), u) in z
        .chunks_exact(2 * w)
        .zip(top.chunks_exact_mut(2 * wo))
        .zip(bottom.chunks_exact_mut(2 * wo))
    {
        for (d, &s) in t.iter_mut().zip(&pair[..2 * wo]) {
            *d = map(s);
        }
        for (d, &s) in u.iter_mut().zip(&pair[w..w + 2 * wo]) {
            *d = map(s);
        }
    }
}

/// Normalises (`a·z + b` per channel), activates and, if `argmax` is not empty, pools
/// consecutive planes of the convolution output `z`, the first being plane `first` of
/// the batch (its channel is the plane index modulo `C_out`), into `out`.
fn finish_planes(
    affine: &Option<Affine>,
    act: Option<Activation>,
    g: Geom,
    first: usize,
    z: &[f32],
    out: &mut [f32],
    argmax: &mut [u8],
) {
    let hw = g.h_out * g.w_out;
    let c = g.c_out;
    simd(
        #[inline(always)]
        || {
            if argmax.is_empty() {
                for (p, (o, z)) in out.chunks_exact_mut(hw).zip(z.chunks_exact(hw)).enumerate() {
                    let (a, b) = ab(affine, (first + p) % c);
                    with_activation!(act, f, _df, {
                        for (o, &s) in o.iter_mut().zip(z) {
                            *o = f(a * s + b);
                        }
                    });
                }
                return;
            }
            let (w, wo) = (g.w_out, g.w_out / 2);
            let plane = (g.h_out / 2) * wo;
            // The windows' top rows of a whole plane, activated, one after the other, and
            // their bottom rows: one long row of windows for pool_row_fast (padded to
            // whole groups of eight windows).
            let len = 16 * plane.div_ceil(8);
            let mut rows = vec![0.0f32; 2 * len];
            let (top, bottom) = rows.split_at_mut(len);
            for (p, ((o, am), z)) in out
                .chunks_exact_mut(plane)
                .zip(argmax.chunks_exact_mut(plane))
                .zip(z.chunks_exact(hw))
                .enumerate()
            {
                let (a, b) = ab(affine, (first + p) % c);
                with_activation!(act, f, _df, {
                    window_rows(z, w, top, bottom, |s| f(a * s + b));
                });
                pool_row_fast(top, bottom, o, am);
            }
        },
    );
}

/// The gradient `gz` with respect to the convolution output `z` of whole images, from
/// the block's output gradient `go`, when the normalisation is a fixed map `a·z + b`
/// (or none): through the pooling (to each window's winner, as numbered in `argmax`; no
/// pooling if it is empty) and the activation. `z`, `go` and `argmax` are image by
/// image; `gz` is written in full, in the layout of [`gemm_planes`].
fn grad_fixed(
    affine: &Option<Affine>,
    act: Option<Activation>,
    g: Geom,
    z: &[f32],
    go: &[f32],
    argmax: &[u8],
    gz: &mut [f32],
) {
    let hw = g.h_out * g.w_out;
    let plane = (g.h_out / 2) * (g.w_out / 2);
    // With pooling: the activation's derivative at the windows' top rows of a plane
    // (one after the other) and at their bottom rows, then the gradients spread over
    // each, padded to whole groups of eight windows (see unpool_row_fast).
    let len = if argmax.is_empty() {
        0
    } else {
        16 * plane.div_ceil(8)
    };
    let mut scratch = vec![0.0f32; 4 * len];
    let (d, grads) = scratch.split_at_mut(2 * len);
    let ((dtop, dbottom), (gtop, gbottom)) = (d.split_at_mut(len), grads.split_at_mut(len));
    let (w, wo) = (g.w_out, g.w_out / 2);
    simd(
        #[inline(always)]
        || {
            for (gz, p, ch) in gemm_planes(gz, g.c_out, hw) {
                let (a, b) = ab(affine, ch);
                let z = &z[p * hw..(p + 1) * hw];
                if argmax.is_empty() {
                    let go = &go[p * hw..(p + 1) * hw];
                    // Scaled by a last (a no-op when a = 1).
                    with_activation!(act, _f, df, {
                        for ((gz, &zv), &gy) in gz.iter_mut().zip(z).zip(go) {
                            *gz = gy * df(a * zv + b) * a;
                        }
                    });
                    continue;
                }
                // The rest of the batch's gradients and winners from this plane on:
                // unpool_row_fast may read past the plane's own (and ignore them).
                let (go, am) = (&go[p * plane..], &argmax[p * plane..]);
                with_activation!(act, _f, df, {
                    window_rows(z, w, dtop, dbottom, |s| df(a * s + b));
                });
                unpool_row_fast(plane, go, am, dtop, a, 0, gtop);
                unpool_row_fast(plane, go, am, dbottom, a, 2, gbottom);
                let rows = gz.chunks_exact_mut(2 * w);
                let pairs = rows.len();
                for ((rows, t), u) in rows
                    .zip(gtop.chunks_exact(2 * wo))
                    .zip(gbottom.chunks_exact(2 * wo))
                {
                    rows[..2 * wo].copy_from_slice(t);
                    rows[2 * wo..w].fill(0.0);
                    rows[w..w + 2 * wo].copy_from_slice(u);
                    rows[w + 2 * wo..].fill(0.0);
                }
                // An odd last row belongs to no window.
                gz[pairs * 2 * w..].fill(0.0);
            }
        },
    );
}

#[inline]
fn ab(af: &Option<Affine>, ch: usize) -> (f32, f32) {
    af.as_ref().map_or((1.0, 0.0), |af| (af.a[ch], af.b[ch]))
}

impl ConvBlock<'_> {
    /// Checks the block against an input shape; returns the convolution geometry and
    /// the output shape.
    fn geometry(&self, xs: Shape4) -> Result<(Geom, Shape4)> {
        let g = Geom::new(
            xs,
            *self.weight.shape(),
            self.bias.map(|b| b.shape().0),
            self.padding,
        )?;
        let c = g.c_out;
        let mismatch = |expected: String, found: String| Error::ShapeMismatch {
            op: OP,
            expected,
            found,
        };
        let lens: Vec<usize> = match self.norm {
            None => vec![],
            Some(BlockNorm::Batch { scale, shift, .. }) => vec![scale.shape().0, shift.shape().0],
            Some(BlockNorm::Running {
                scale,
                shift,
                mean,
                var,
                ..
            }) => vec![scale.len(), shift.len(), mean.len(), var.len()],
        };
        if lens.iter().any(|&l| l != c) {
            return Err(mismatch(
                format!("normalisation vectors of length C_out = {c}"),
                format!("lengths {lens:?}"),
            ));
        }
        if self.pool && (g.h_out < 2 || g.w_out < 2) {
            return Err(mismatch(
                "a convolution output of at least 2×2 to pool".into(),
                format!("{}×{}", g.h_out, g.w_out),
            ));
        }
        let out_shape = if self.pool {
            (g.n, c, g.h_out / 2, g.w_out / 2)
        } else {
            (g.n, c, g.h_out, g.w_out)
        };
        Ok((g, out_shape))
    }

    /// The forward pass on slices: returns the output, the batch statistics (batch-norm
    /// mode) and what the backward pass needs (its `x_data` left empty for the caller).
    fn run(&self, g: Geom, x_data: &[f32]) -> (Vec<f32>, Option<BatchStats>, Pass) {
        let c = g.c_out;
        let (hw, plane) = (g.h_out * g.w_out, (g.h_out / 2) * (g.w_out / 2));
        let out_len = g.n * c * if self.pool { plane } else { hw };
        let b_data = self.bias.map(to_vec);
        let plan = Plan::new(&g, to_vec(self.weight));
        let act = self.activation;
        // The convolution output, kept for the backward pass. Both are written in full
        // below (by the convolution and by `finish_planes`), so spare buffers with stale
        // contents do.
        let mut z = take_spare(g.n * c * hw);
        let mut out = take_spare(out_len);
        // Which element of each window won (kept for the backward pass).
        let mut argmax = par_zeros::<u8>(if self.pool { out_len } else { 0 });

        let (affine, stats, inv_std) = match self.norm {
            // Batch statistics need the whole convolution output first: convolve, then
            // normalise, activate and pool in one pass over groups of planes.
            Some(BlockNorm::Batch {
                scale,
                shift,
                epsilon,
            }) => {
                // Each image's plane sums (the means' pass) while its output is in cache.
                let mut plane_sums = vec![0.0f32; g.n * c];
                let ipt = images_per_task(g.n);
                z.par_chunks_mut(ipt * c * hw)
                    .zip(x_data.par_chunks(ipt * g.in_len()))
                    .zip(plane_sums.par_chunks_mut(ipt * c))
                    .for_each(|((z, x), sums)| {
                        let mut finish = |i: usize, z: &[f32]| {
                            let planes = z.chunks_exact(hw);
                            simd(
                                #[inline(always)]
                                || {
                                    for (s, plane) in sums[i * c..].iter_mut().zip(planes) {
                                        *s = lane_sum(plane);
                                    }
                                },
                            )
                        };
                        let b = b_data.as_deref();
                        conv::forward_images(&g, ipt, x, &plan, b, z, &mut finish);
                    });
                let shape = (g.n, c, g.h_out, g.w_out);
                let (mean, var) = channel_stats_given_sums(&z, shape, &plane_sums);
                let inv_std: Vec<f32> = var.iter().map(|v| 1.0 / (v + epsilon).sqrt()).collect();
                let (gamma, beta) = (to_vec(scale), to_vec(shift));
                let a: Vec<f32> = gamma.iter().zip(&inv_std).map(|(g, s)| g * s).collect();
                let b = (0..c).map(|ch| beta[ch] - mean[ch] * a[ch]).collect();
                let stats = BatchStats {
                    mean,
                    var,
                    count: g.n * hw,
                };
                let affine = Some(Affine { a, b });
                let per = MIN_PLANES * (out_len / (g.n * c));
                let ams =
                    chunks_mut_or_empty(&mut argmax, MIN_PLANES * plane, out_len.div_ceil(per));
                out.par_chunks_mut(per)
                    .zip(z.par_chunks(MIN_PLANES * hw))
                    .zip(ams)
                    .enumerate()
                    .for_each(|(i, ((o, z), am))| {
                        finish_planes(&affine, act, g, i * MIN_PLANES, z, o, am);
                    });
                (affine, Some(stats), Some(inv_std))
            }
            // A fixed map (or none): each work item convolves its images and finishes
            // them at once, while their convolution output is still in cache.
            norm => {
                let affine = match norm {
                    Some(BlockNorm::Running {
                        scale,
                        shift,
                        mean,
                        var,
                        epsilon,
                    }) => {
                        let a: Vec<f32> = (0..c)
                            .map(|ch| scale[ch] / (var[ch] + epsilon).sqrt())
                            .collect();
                        let b = (0..c).map(|ch| shift[ch] - mean[ch] * a[ch]).collect();
                        Some(Affine { a, b })
                    }
                    _ => None,
                };
                let ipt = images_per_task(g.n);
                let per = ipt * (out_len / g.n);
                let ams = chunks_mut_or_empty(&mut argmax, per, out_len.div_ceil(per));
                z.par_chunks_mut(ipt * c * hw)
                    .zip(x_data.par_chunks(ipt * g.in_len()))
                    .zip(out.par_chunks_mut(per).zip(ams))
                    .for_each(|((z, x), (o, am))| {
                        // Each image (group of images) as soon as its GEMM is done.
                        let per_img = out_len / g.n;
                        let mut finish = |i: usize, z: &[f32]| {
                            let imgs = z.len() / (c * hw);
                            let r = i * per_img..(i + imgs) * per_img;
                            let am = if am.is_empty() {
                                &mut [][..]
                            } else {
                                &mut am[r.clone()]
                            };
                            finish_planes(&affine, act, g, 0, z, &mut o[r], am);
                        };
                        conv::forward_images(&g, ipt, x, &plan, b_data.as_deref(), z, &mut finish);
                    });
                (affine, None, None)
            }
        };
        let batch = match (&stats, inv_std) {
            (Some(st), Some(inv_std)) => Some((inv_std, st.mean.clone())),
            _ => None,
        };
        let pass = Pass {
            g,
            act,
            pool: self.pool,
            plan,
            affine,
            batch,
            z,
            argmax,
            x_data: Vec::new(),
            weight: self.weight.clone(),
            bias: self.bias.cloned(),
            bn_params: match self.norm {
                Some(BlockNorm::Batch { scale, shift, .. }) => Some((scale.clone(), shift.clone())),
                _ => None,
            },
        };
        (out, stats, pass)
    }

    /// Runs the block on `x` `(N, C_in, H, W)`. The tape travels with `x`. Returns the
    /// output and, for [`BlockNorm::Batch`], the batch statistics of the convolution
    /// output (for the running averages).
    ///
    /// # Errors
    /// As [`conv2d`](super::conv2d) for the convolution's shapes;
    /// [`Error::ShapeMismatch`] if a normalisation vector does not have `C_out` elements
    /// or pooling gets an output smaller than 2×2; [`Error::Tensor`] if dfdx cannot
    /// allocate.
    pub fn forward<T: Tape<f32, Cpu>>(
        &self,
        x: Tensor<Shape4, f32, Cpu, T>,
    ) -> Result<BlockOutput<T>> {
        let (y, mut stats) = conv_stack(std::slice::from_ref(self), x)?;
        Ok((y, stats.pop().flatten()))
    }
}

impl Drop for Pass {
    /// Hands the pass's large buffers on to the next passes.
    fn drop(&mut self) {
        give_spare(std::mem::take(&mut self.z));
        give_spare(std::mem::take(&mut self.x_data));
    }
}

impl Pass {
    /// The backward pass on slices: adds the input gradient onto `grad_x` (or, with
    /// `overwrite`, writes it there, whatever `grad_x` held; with `None`, does not
    /// compute it) and returns the parameters' gradients.
    fn backward(
        &self,
        grad_out: &[f32],
        grad_x: Option<&mut [f32]>,
        overwrite: bool,
    ) -> ParamGrads {
        let Pass {
            g, pool, argmax, ..
        } = self;
        let (g, pool) = (*g, *pool);
        let (c, hw) = (g.c_out, g.h_out * g.w_out);
        // Output elements per image.
        let per_img = grad_out.len() / g.n;
        // Batch normalisation needs sums over the whole batch first.
        let bn = self
            .batch
            .as_ref()
            .map(|(inv_std, mean)| self.bn_sums(grad_out, inv_std, mean));
        // Each work item forms its images' gradient with respect to z, the convolution
        // output, image group by image group just before their GEMMs (in cache), and
        // runs the convolution's backward pass.
        let ipt = images_per_task(g.n);
        let tasks = g.n.div_ceil(ipt);
        let ams = chunks_or_empty(argmax, ipt * per_img, tasks);
        let dvs = match &bn {
            Some(bn) => chunks_or_empty(&bn.dv, ipt * if pool { per_img } else { c * hw }, tasks),
            None => vec![&[][..]; tasks],
        };
        let gxs: Vec<Option<&mut [f32]>> = match grad_x {
            Some(gx) => gx.chunks_mut(ipt * g.in_len()).map(Some).collect(),
            None => (0..tasks).map(|_| None).collect(),
        };
        let (w, b) = gxs
            .into_par_iter()
            .zip(self.x_data.par_chunks(ipt * g.in_len()))
            .zip(
                self.z
                    .par_chunks(ipt * c * hw)
                    .zip(grad_out.par_chunks(ipt * per_img)),
            )
            .zip(ams.into_par_iter().zip(dvs))
            .map(|(((gx, x), (z, go)), (am, dv))| {
                let mut prepare = |i: usize, gz: &mut [f32]| {
                    let imgs = gz.len() / (c * hw);
                    let zr = i * c * hw..(i + imgs) * c * hw;
                    let r = i * per_img..(i + imgs) * per_img;
                    let am = if pool { &am[r.clone()] } else { &[][..] };
                    match &bn {
                        None => grad_fixed(&self.affine, self.act, g, &z[zr], &go[r], am, gz),
                        Some(bn) => {
                            let dv = if pool { &dv[r] } else { &dv[zr.clone()] };
                            grad_bn(&bn.coef, g, &z[zr], dv, am, gz);
                        }
                    }
                };
                let lazy = conv::GradOut::Lazy(&mut prepare);
                conv::backward_images(&g, ipt, x, &self.plan, lazy, gx, overwrite)
            })
            .collect::<Vec<_>>()
            .into_iter()
            .unzip();
        ParamGrads {
            w,
            b,
            bn: bn.map(|bn| {
                give_spare(bn.dv);
                bn.grads
            }),
        }
    }

    /// The batch-norm part of the backward pass that needs the whole batch: through the
    /// pooling and the activation to dv, the gradient of the normalised values
    /// v = a·z + b, with the per-channel sums Σ dv and Σ dv·x̂ (x̂ = (z − mean)·σ⁻¹),
    /// which give the scale and shift gradients and the coefficients of
    /// dz = a·(dv − Σdv/M − x̂·Σdv·x̂/M).
    fn bn_sums(&self, grad_out: &[f32], inv_std: &[f32], mean: &[f32]) -> BnBackward {
        let Pass {
            g,
            act,
            pool,
            affine,
            z,
            argmax,
            ..
        } = self;
        let (g, act, pool) = (*g, *act, *pool);
        let c = g.c_out;
        let (hw, plane) = (g.h_out * g.w_out, (g.h_out / 2) * (g.w_out / 2));
        // Both written in full below (every plane; every window of a pooled plane).
        let mut gz = take_spare(if pool { 0 } else { z.len() });
        // 1. Through the pooling (to each window's winner) and the activation: the
        //    gradient dv of the normalised values v = a·z + b, with per-plane sums
        //    Σ dv and Σ dv·(z − mean). With pooling dv is kept per window
        //    (`dv_win`), elsewhere it is zero; without pooling it goes into `gz`.
        let mut dv_win = take_spare(if pool { grad_out.len() } else { 0 });
        let plane_sums: Vec<(f32, f32)> = if pool {
            let w = g.w_out;
            dv_win
                .par_chunks_mut(plane)
                .zip(z.par_chunks(hw))
                .zip(argmax.par_chunks(plane).zip(grad_out.par_chunks(plane)))
                .enumerate()
                .with_min_len(MIN_PLANES)
                .map(|(p, ((dv, z), (am, go)))| {
                    simd(
                        #[inline(always)]
                        || {
                            let ch = p % c;
                            let (a, b) = ab(affine, ch);
                            let mu = mean[ch];
                            let (mut s, mut sx) = (0.0f32, 0.0f32);
                            with_activation!(act, _f, df, {
                                for_each_winner(am, w, |q, at| {
                                    let zv = z[at];
                                    let d = go[q] * df(a * zv + b);
                                    dv[q] = d;
                                    s += d;
                                    sx += d * (zv - mu);
                                });
                            });
                            (s, sx)
                        },
                    )
                })
                .collect()
        } else {
            gz.par_chunks_mut(hw)
                .zip(z.par_chunks(hw))
                .zip(grad_out.par_chunks(hw))
                .enumerate()
                .with_min_len(MIN_PLANES)
                .map(|(p, ((gz, z), go))| {
                    simd(
                        #[inline(always)]
                        || {
                            let ch = p % c;
                            let (a, b) = ab(affine, ch);
                            with_activation!(act, _f, df, {
                                for ((gz, &zv), &gy) in gz.iter_mut().zip(z).zip(go) {
                                    *gz = gy * df(a * zv + b);
                                }
                            });
                            lane_sum_dot_dev(gz, z, mean[ch])
                        },
                    )
                })
                .collect()
        };
        // Per channel, planes added in image order (deterministic), in f64.
        let mut sum_dv = vec![0.0f64; c];
        let mut sum_dv_xhat = vec![0.0f64; c];
        for (p, &(s, sx)) in plane_sums.iter().enumerate() {
            sum_dv[p % c] += f64::from(s);
            sum_dv_xhat[p % c] += f64::from(sx);
        }
        for ch in 0..c {
            sum_dv_xhat[ch] *= f64::from(inv_std[ch]);
        }
        let m = (g.n * hw) as f64;
        let coef = (0..c)
            .map(|ch| BnCoef {
                k: ab(affine, ch).0,
                mean: mean[ch],
                mdv: (sum_dv[ch] / m) as f32,
                mdvx: (sum_dv_xhat[ch] / m) as f32 * inv_std[ch],
            })
            .collect();
        let to_f32 = |v: Vec<f64>| v.into_iter().map(|s| s as f32).collect();
        BnBackward {
            dv: if pool { dv_win } else { gz },
            coef,
            grads: (to_f32(sum_dv_xhat), to_f32(sum_dv)),
        }
    }

    /// Adds the parameters' gradients into dfdx's gradients.
    fn accumulate(
        &self,
        pg: ParamGrads,
        grads: &mut Gradients<f32, Cpu>,
    ) -> std::result::Result<(), CpuError> {
        add_partials(grads.get_or_alloc_mut(&self.weight)?, &pg.w);
        pg.w.into_iter().for_each(give_spare);
        if let Some(bias) = &self.bias {
            add_partials(grads.get_or_alloc_mut(bias)?, &pg.b);
        }
        if let (Some((scale, shift)), Some((gs, gt))) = (&self.bn_params, pg.bn) {
            add_partials(grads.get_or_alloc_mut(scale)?, &[gs]);
            add_partials(grads.get_or_alloc_mut(shift)?, &[gt]);
        }
        Ok(())
    }
}

/// Several [`ConvBlock`]s in a row as one differentiable op: each block's output feeds
/// the next without becoming a dfdx tensor, so the chain copies the input out of dfdx
/// once (instead of once per block) and dfdx allocates no gradient buffers in between.
/// The result is the same as calling [`ConvBlock::forward`] block by block, bit for bit.
///
/// Returns the last block's output (with `x`'s tape) and each block's batch statistics
/// (`Some` for [`BlockNorm::Batch`]).
///
/// # Errors
/// As [`ConvBlock::forward`], for the first block whose input does not fit (checked
/// before any work); [`Error::Params`] for an empty list of blocks.
pub fn conv_stack<T: Tape<f32, Cpu>>(
    blocks: &[ConvBlock<'_>],
    x: Tensor<Shape4, f32, Cpu, T>,
) -> Result<StackOutput<T>> {
    conv_stack_with(blocks, x, StackOptions::default())
}

/// How [`conv_stack_with`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StackOptions {
    /// Whether the backward pass computes the gradient with respect to the stack's
    /// input (default `true`). A network's first stack reads the images themselves,
    /// whose gradient no optimiser wants: `false` skips it (for a first layer with one
    /// input channel, a GEMM of 9 rows and the col2im that adds it up), and leaves
    /// the input's gradient unallocated. Parameter gradients are the same either way,
    /// bit for bit.
    pub input_grad: bool,
}

impl Default for StackOptions {
    fn default() -> Self {
        StackOptions { input_grad: true }
    }
}

impl StackOptions {
    /// Sets [`StackOptions::input_grad`].
    pub fn input_grad(self, input_grad: bool) -> Self {
        StackOptions { input_grad }
    }
}

/// [`conv_stack`] with [`StackOptions`].
///
/// ```
/// use dfdx::prelude::*;
/// use fashion_nn::{conv_stack_with, ConvBlock, Padding, StackOptions};
///
/// let dev = Cpu::default();
/// let w: Tensor<(usize, usize, usize, usize), f32, Cpu> =
///     dev.tensor_from_vec(vec![1.0; 9], (1, 1, 3, 3));
/// let block = ConvBlock {
///     weight: &w,
///     bias: None,
///     norm: None,
///     activation: None,
///     pool: false,
///     padding: Padding::Valid,
/// };
/// let x: Tensor<(usize, usize, usize, usize), f32, Cpu> =
///     dev.tensor_from_vec((0..9).map(|v| v as f32).collect(), (1, 1, 3, 3));
/// let data_only = StackOptions::default().input_grad(false);
/// let (y, _) = conv_stack_with(&[block], x.leaky_trace(), data_only)?;
/// assert_eq!(y.as_vec(), vec![36.0]);
/// let grads = y.sum().backward();
/// // The weight's gradient is the input, whichever the options.
/// assert_eq!(grads.get(&w).as_vec(), (0..9).map(|v| v as f32).collect::<Vec<_>>());
/// # Ok::<(), fashion_nn::Error>(())
/// ```
///
/// # Errors
/// As [`conv_stack`].
pub fn conv_stack_with<T: Tape<f32, Cpu>>(
    blocks: &[ConvBlock<'_>],
    x: Tensor<Shape4, f32, Cpu, T>,
    options: StackOptions,
) -> Result<StackOutput<T>> {
    if blocks.is_empty() {
        return Err(Error::invalid("blocks", "at least one ConvBlock", "none"));
    }
    let mut geoms = Vec::with_capacity(blocks.len());
    let mut shape = *x.shape();
    for block in blocks {
        let (g, out_shape) = block.geometry(shape)?;
        geoms.push(g);
        shape = out_shape;
    }
    let x = x.try_contiguous().map_err(tensor_err(OP))?;
    let (x, mut tape) = x.split_tape();
    let mut input = take_spare(x.shape().num_elements());
    x.copy_into(&mut input);
    let mut passes = Vec::new();
    let mut stats = Vec::with_capacity(blocks.len());
    for (block, &g) in blocks.iter().zip(&geoms) {
        let (out, st, mut pass) = block.run(g, &input);
        stats.push(st);
        if T::OWNS_TAPE {
            // The input moves into the pass (no copy); without a tape it is dropped.
            pass.x_data = std::mem::replace(&mut input, out);
            passes.push(pass);
        } else {
            give_spare(std::mem::replace(&mut input, out));
        }
    }
    let out = x
        .device()
        .try_tensor_from_vec(input, shape)
        .map_err(tensor_err(OP))?;

    if T::OWNS_TAPE {
        let x_ghost = x.ghost();
        let out_ghost = out.ghost();
        tape.add_backward_op(move |grads: &mut Gradients<f32, Cpu>| {
            let grad_out = std::mem::take(&mut **grads.get_or_alloc_mut(&out_ghost)?);
            // Gradient with respect to the output of the block being processed.
            let mut upstream: Vec<f32> = Vec::new();
            for (i, pass) in passes.iter().enumerate().rev() {
                let gout: &[f32] = if i + 1 == passes.len() {
                    &grad_out
                } else {
                    &upstream
                };
                if i > 0 {
                    // Written in full by the backward pass: a spare buffer does.
                    let mut gx = take_spare(pass.x_data.len());
                    let pg = pass.backward(gout, Some(&mut gx), true);
                    pass.accumulate(pg, grads)?;
                    give_spare(std::mem::replace(&mut upstream, gx));
                } else {
                    let gx = match options.input_grad {
                        true => Some(&mut grads.get_or_alloc_mut(&x_ghost)?[..]),
                        false => None,
                    };
                    let pg = pass.backward(gout, gx, false);
                    pass.accumulate(pg, grads)?;
                }
            }
            give_spare(upstream);
            **grads.get_or_alloc_mut(&out_ghost)? = grad_out;
            Ok(())
        });
    }
    Ok((out.put_tape(tape), stats))
}
