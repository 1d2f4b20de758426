//! 2-D convolution (cross-correlation, like PyTorch's `conv2d`): SGEMM on the column matrix
//! (read from the images as the GEMM packs it where the output is as large as the input,
//! else written out by im2col), or the [`direct`](super::direct) kernels for thin layers
//! with 1-D kernels.

use std::cell::RefCell;
use std::sync::OnceLock;

use dfdx::shapes::HasShape;
use dfdx::tensor::TensorFromVec;
use dfdx::tensor::{Cpu, Gradients, Merge, NoneTape, PutTape, SplitTape, Tape, Tensor};
use dfdx::tensor_ops::ReshapeTo;
use rayon::prelude::*;

use super::direct::Direct;
use super::gemm::{
    Mat, PackedLhs, Unfolding, sgemm, sgemm_packed, sgemm_packed_unfolded, sgemm_unfolded_t,
};
use super::ops::lane_sum;
use super::spares::{give_spare, take_spare};
use super::{Padding, Shape4, add_partials, images_per_task, simd, tensor_err, to_vec, with_data};
use crate::{Error, Result};

const OP: &str = "conv2d";

/// 2-D convolution of a batch of images, stride 1, differentiable.
///
/// - `x`: images `(N, C_in, H, W)`; its tape (if any) records the backward pass;
/// - `weight`: kernels `(C_out, C_in, KH, KW)`, any `KH, KW ≥ 1` (square or not);
/// - `bias`: `(C_out,)`, added to every output pixel of its channel;
/// - `padding`: [`Padding::Same`] (output `H × W`) or [`Padding::Valid`]
///   (output `(H − KH + 1) × (W − KW + 1)`).
///
/// Returns `(N, C_out, H_out, W_out)` with `x`'s tape, into which the tapes of `weight`
/// and `bias` are merged. As in PyTorch (and unlike the textbook convolution) the kernel
/// is not flipped: `out[n, o, i, j] = bias[o] + Σ_{c, u, v} weight[o, c, u, v] ·
/// x[n, c, i + u − top, j + v − left]`, with zeros outside the image.
///
/// Parameters usually carry no tape (`NoneTape`): pass `w.clone()` (cheap, the data is
/// shared) and read the gradient back with `grads.get(&w)`. The backward pass adds to the
/// gradients of `x`, `weight` and `bias`.
///
/// # Errors
/// [`Error::ShapeMismatch`] if `weight`'s `C_in` differs from `x`'s channels, `bias`
/// does not have `C_out` elements, a dimension of `weight` or the image is zero, or the
/// image is smaller than the kernel with [`Padding::Valid`]; [`Error::Tensor`] if dfdx
/// cannot allocate.
pub fn conv2d<T, TW, TB>(
    x: Tensor<Shape4, f32, Cpu, T>,
    weight: Tensor<Shape4, f32, Cpu, TW>,
    bias: Tensor<(usize,), f32, Cpu, TB>,
    padding: Padding,
) -> Result<Tensor<Shape4, f32, Cpu, T>>
where
    T: Tape<f32, Cpu> + Merge<TW> + Merge<TB>,
    TW: Tape<f32, Cpu>,
    TB: Tape<f32, Cpu>,
{
    conv2d_impl(x, weight, Some(bias), padding)
}

/// [`conv2d`] without a bias term (e.g. before a batch normalisation, which has its own
/// shift).
///
/// # Errors
/// As [`conv2d`].
pub fn conv2d_no_bias<T, TW>(
    x: Tensor<Shape4, f32, Cpu, T>,
    weight: Tensor<Shape4, f32, Cpu, TW>,
    padding: Padding,
) -> Result<Tensor<Shape4, f32, Cpu, T>>
where
    T: Tape<f32, Cpu> + Merge<TW>,
    TW: Tape<f32, Cpu>,
{
    conv2d_impl::<T, TW, NoneTape>(x, weight, None, padding)
}

/// Output height and width of [`conv2d`] for an `H × W` image and a `KH × KW` kernel, or
/// `None` if the combination is invalid (a zero size, or with [`Padding::Valid`] an image
/// smaller than the kernel).
///
/// ```
/// use fashion_nn::{conv2d_output_hw, Padding};
/// assert_eq!(conv2d_output_hw((28, 28), (3, 3), Padding::Same), Some((28, 28)));
/// assert_eq!(conv2d_output_hw((28, 28), (5, 3), Padding::Valid), Some((24, 26)));
/// assert_eq!(conv2d_output_hw((2, 2), (3, 3), Padding::Valid), None);
/// ```
pub fn conv2d_output_hw(
    (h, w): (usize, usize),
    (kh, kw): (usize, usize),
    padding: Padding,
) -> Option<(usize, usize)> {
    if h == 0 || w == 0 || kh == 0 || kw == 0 {
        return None;
    }
    match padding {
        Padding::Same => Some((h, w)),
        Padding::Valid if h >= kh && w >= kw => Some((h - kh + 1, w - kw + 1)),
        Padding::Valid => None,
    }
}

/// Everything about one convolution's sizes.
#[derive(Clone, Copy, Debug)]
pub(super) struct Geom {
    pub n: usize,
    pub c_in: usize,
    pub h: usize,
    pub w: usize,
    pub c_out: usize,
    pub kh: usize,
    pub kw: usize,
    pub pad_top: usize,
    pub pad_left: usize,
    pub h_out: usize,
    pub w_out: usize,
}

impl Geom {
    /// Checks the shapes and works out padding and output size.
    pub(super) fn new(
        xs: Shape4,
        ws: Shape4,
        bias_len: Option<usize>,
        padding: Padding,
    ) -> Result<Self> {
        let mismatch = |expected: String, found: String| Error::ShapeMismatch {
            op: OP,
            expected,
            found,
        };
        let (n, c_in, h, w) = xs;
        let (c_out, wc_in, kh, kw) = ws;
        if c_out == 0 || wc_in == 0 || kh == 0 || kw == 0 {
            return Err(mismatch(
                "weight (C_out, C_in, KH, KW) with every dimension ≥ 1".into(),
                format!("weight {ws:?}"),
            ));
        }
        if wc_in != c_in {
            return Err(mismatch(
                format!("weight (C_out, {c_in}, KH, KW) for an input with {c_in} channels"),
                format!("weight {ws:?} for input {xs:?}"),
            ));
        }
        if let Some(len) = bias_len
            && len != c_out
        {
            return Err(mismatch(
                format!("bias ({c_out},) for a weight with C_out = {c_out}"),
                format!("bias ({len},)"),
            ));
        }
        let Some((h_out, w_out)) = conv2d_output_hw((h, w), (kh, kw), padding) else {
            let expected = match padding {
                Padding::Same => "input (N, C, H, W) with H, W ≥ 1".to_string(),
                Padding::Valid => {
                    format!(
                        "input (N, C, H, W) with H ≥ {kh}, W ≥ {kw} (the kernel) for Padding::Valid"
                    )
                }
            };
            return Err(mismatch(expected, format!("input {xs:?}")));
        };
        let (pad_top, pad_left) = match padding {
            Padding::Same => ((kh - 1) / 2, (kw - 1) / 2),
            Padding::Valid => (0, 0),
        };
        Ok(Self {
            n,
            c_in,
            h,
            w,
            c_out,
            kh,
            kw,
            pad_top,
            pad_left,
            h_out,
            w_out,
        })
    }

    /// Rows of the column matrix: `C_in · KH · KW`.
    fn k(&self) -> usize {
        self.c_in * self.kh * self.kw
    }

    /// Output pixels per channel.
    fn p(&self) -> usize {
        self.h_out * self.w_out
    }

    /// Elements per input image.
    pub(super) fn in_len(&self) -> usize {
        self.c_in * self.h * self.w
    }

    /// Elements per output image.
    fn out_len(&self) -> usize {
        self.c_out * self.p()
    }

    /// How many images of a work item of `imgs` share one GEMM: their column matrices
    /// are placed side by side, so the GEMM packs the weights once per group and sees a
    /// wider matrix, at the cost of copying the output (gathering the output gradient)
    /// through a buffer. That pays off when the weights (`C_out·K`) outweigh an image's
    /// output (`C_out·P`): the deeper, smaller layers.
    fn group(&self, imgs: usize) -> usize {
        if self.k() >= self.p() {
            imgs.clamp(1, MAX_GROUP)
        } else {
            1
        }
    }

    /// For kernel column `dx`: the output columns `lo..hi` whose input column
    /// `ow + dx − pad_left` lies inside the image (empty if none does).
    fn valid_cols(&self, dx: usize) -> (usize, usize) {
        let lo = self.pad_left.saturating_sub(dx).min(self.w_out);
        let hi = (self.w + self.pad_left).saturating_sub(dx).min(self.w_out);
        (lo, hi.max(lo))
    }

    /// Input row read by output row `oh` and kernel row `dy`, if inside the image.
    fn in_row(&self, oh: usize, dy: usize) -> Option<usize> {
        (oh + dy)
            .checked_sub(self.pad_top)
            .filter(|&ih| ih < self.h)
    }

    /// Output rows `lo..hi` whose input row `oh + dy − pad_top` lies inside the image
    /// (empty if none does).
    fn valid_rows(&self, dy: usize) -> (usize, usize) {
        let lo = self.pad_top.saturating_sub(dy).min(self.h_out);
        let hi = (self.h + self.pad_top).saturating_sub(dy).min(self.h_out);
        (lo, hi.max(lo))
    }
}

/// Most images per GEMM (see [`Geom::group`]); bounds the scratch memory.
const MAX_GROUP: usize = 8;

/// For kernel tap `(dy, dx)` of an image whose output rows are as long as its input rows
/// (`W_out = W`, always so with [`Padding::Same`]): output pixel `q` (flat index) reads
/// input pixel `q + offset`, so the valid rows `oh0..oh1` form one contiguous run of
/// `len` elements starting at flat output index `start`, plus, in every one of those
/// rows, the columns outside `lo..hi` that wrapped into a neighbouring row. Returns
/// `(start, offset_start, len)` with `offset_start = start + offset`, or `None` when the
/// tap reads nothing inside the image.
fn flat_run(g: &Geom, dy: usize, dx: usize) -> Option<(usize, usize, usize)> {
    let (lo, hi) = g.valid_cols(dx);
    let (oh0, oh1) = g.valid_rows(dy);
    if lo >= hi || oh0 >= oh1 {
        return None;
    }
    let wo = g.w_out;
    let start = oh0 * wo + lo;
    let len = (oh1 - 1) * wo + hi - start;
    let src = (oh0 + dy - g.pad_top) * g.w + lo + dx - g.pad_left;
    Some((start, src, len))
}

/// Sets the columns outside `lo..hi` of rows `oh0..oh1` of one column-matrix row to 0:
/// column by column, one strided store per image row (with 3×3 kernels one column, on
/// one side, in two thirds of the rows; none in the others).
#[inline(always)]
fn zero_wrapped(row: &mut [f32], wo: usize, (oh0, oh1): (usize, usize), (lo, hi): (usize, usize)) {
    let rows = &mut row[oh0 * wo..oh1 * wo];
    for col in (0..lo).chain(hi..wo) {
        for v in rows[col..].iter_mut().step_by(wo) {
            *v = 0.0;
        }
    }
}

/// Sets `r[..lo]` and `r[hi..]` to 0. With 3×3 kernels each side is at most one
/// element: a plain store. `fill` on a one-element slice compiled to a call to memset
/// per image row, a sizeable part of a SmallCnn training step (docs/performance.md,
/// "Small fills").
#[inline(always)]
fn clear_outside(r: &mut [f32], lo: usize, hi: usize) {
    match lo {
        0 => {}
        1 => r[0] = 0.0,
        _ => r[..lo].fill(0.0),
    }
    match r.len() - hi {
        0 => {}
        1 => r[hi] = 0.0,
        _ => r[hi..].fill(0.0),
    }
}

/// Unfolds one image `(C_in, H, W)` into its block of the column matrix: row
/// `(c, dy, dx)` (`C_in·KH·KW` rows of stride `ld`), columns `col0..col0 + H_out·W_out`;
/// column `(oh, ow)` holds `x[c, oh + dy − top, ow + dx − left]`, or 0 in the padding.
///
/// With `W_out = W` each row is one contiguous copy of the shifted plane (see
/// [`flat_run`]) with the wrapped-around border columns then cleared, rather than one
/// short copy per image row.
fn im2col(g: &Geom, x: &[f32], cols: &mut [f32], ld: usize, col0: usize) {
    let (p, wo) = (g.p(), g.w_out);
    let flat = g.w_out == g.w;
    let mut r = 0;
    for plane in x.chunks_exact(g.h * g.w) {
        for dy in 0..g.kh {
            for dx in 0..g.kw {
                let row = &mut cols[r * ld + col0..r * ld + col0 + p];
                r += 1;
                let (lo, hi) = g.valid_cols(dx);
                if flat {
                    match flat_run(g, dy, dx) {
                        Some((start, src, len)) => {
                            row[..start].fill(0.0);
                            row[start..start + len].copy_from_slice(&plane[src..src + len]);
                            row[start + len..].fill(0.0);
                            zero_wrapped(row, wo, g.valid_rows(dy), (lo, hi));
                        }
                        None => row.fill(0.0),
                    }
                    continue;
                }
                for (oh, dst) in row.chunks_exact_mut(wo).enumerate() {
                    match g.in_row(oh, dy) {
                        Some(ih) if lo < hi => {
                            let start = ih * g.w + lo + dx - g.pad_left;
                            clear_outside(dst, lo, hi);
                            dst[lo..hi].copy_from_slice(&plane[start..start + (hi - lo)]);
                        }
                        _ => dst.fill(0.0),
                    }
                }
            }
        }
    }
}

/// The adjoint of [`im2col`]: adds every entry of the image's block of the column
/// matrix onto the pixel it was copied from (padding entries are dropped), each pixel's
/// entries in the order of the kernel's taps. Clears the padding entries of `cols` on the
/// way (with `W_out = W`, so that each row is added as one contiguous run).
#[inline(always)]
fn col2im_add(g: &Geom, cols: &mut [f32], ld: usize, col0: usize, x: &mut [f32]) {
    let (p, wo) = (g.p(), g.w_out);
    let taps = g.kh * g.kw;
    if g.w_out == g.w {
        // Tap by tap, each over all channels: two runs in a row add onto different
        // planes. Run after run onto the same plane, each shifted by one pixel from the
        // last, made every vector load of the plane wait for the stores just before it.
        // The padding entries are cleared first, for the same reason.
        let row = |r: usize| r * ld + col0..r * ld + col0 + p;
        for t in 0..taps {
            let (dy, dx) = (t / g.kw, t % g.kw);
            if flat_run(g, dy, dx).is_some() {
                let cleared = (g.valid_rows(dy), g.valid_cols(dx));
                for r in (t..g.k()).step_by(taps) {
                    zero_wrapped(&mut cols[row(r)], wo, cleared.0, cleared.1);
                }
            }
        }
        for t in 0..taps {
            let Some((start, dst, len)) = flat_run(g, t / g.kw, t % g.kw) else {
                continue;
            };
            for (plane, r) in x.chunks_exact_mut(g.h * g.w).zip((t..).step_by(taps)) {
                let src = &cols[row(r)][start..start + len];
                for (d, s) in plane[dst..dst + len].iter_mut().zip(src) {
                    *d += s;
                }
            }
        }
        return;
    }
    let mut r = 0;
    for plane in x.chunks_exact_mut(g.h * g.w) {
        for dy in 0..g.kh {
            for dx in 0..g.kw {
                let row = &cols[r * ld + col0..r * ld + col0 + p];
                r += 1;
                let (lo, hi) = g.valid_cols(dx);
                if lo >= hi {
                    continue;
                }
                for (oh, src) in row.chunks_exact(wo).enumerate() {
                    if let Some(ih) = g.in_row(oh, dy) {
                        let start = ih * g.w + lo + dx - g.pad_left;
                        for (d, s) in plane[start..start + (hi - lo)].iter_mut().zip(&src[lo..hi]) {
                            *d += s;
                        }
                    }
                }
            }
        }
    }
}

thread_local! {
    /// Per-thread scratch (column matrix, its gradient or the GEMM output, the gathered
    /// output gradient). Reused across calls: it grows to the largest layer seen and
    /// stays allocated for the thread's lifetime.
    static SCRATCH: RefCell<[Vec<f32>; 3]> = const { RefCell::new([Vec::new(), Vec::new(), Vec::new()]) };
}

/// Runs `f` with three scratch slices of the given lengths (contents unspecified).
fn with_scratch<R>(lens: [usize; 3], f: impl FnOnce([&mut [f32]; 3]) -> R) -> R {
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut bufs) => {
            let [a, b, c] = &mut *bufs;
            for (buf, &len) in [&mut *a, &mut *b, &mut *c].into_iter().zip(&lens) {
                if buf.len() < len {
                    buf.resize(len, 0.0);
                }
            }
            f([&mut a[..lens[0]], &mut b[..lens[1]], &mut c[..lens[2]]])
        }
        // Re-entered on this thread (not expected): use fresh buffers.
        Err(_) => {
            let [mut a, mut b, mut c] = lens.map(|len| vec![0.0; len]);
            f([&mut a, &mut b, &mut c])
        }
    })
}

/// A convolution's weights as both of its passes use them, made once per op: the
/// [`direct`](super::direct) kernels' plan where they run the layer, else the weights
/// packed for the GEMMs (`W` for the forward pass, `Wᵀ` for the input gradient, each at
/// its first use), so that the work items do not each pack them again.
pub(super) struct Plan {
    /// `W`, `C_out × K`, row-major.
    w: Vec<f32>,
    /// `(C_out, K)`.
    dims: (usize, usize),
    direct: Option<Direct>,
    /// How the GEMMs read the column matrix from the images, where they can (output as
    /// large as the input, and our kernels): then im2col does not run.
    unfold: Option<Unfolding>,
    weight: OnceLock<PackedLhs>,
    weight_t: OnceLock<PackedLhs>,
}

impl Plan {
    /// The plan for weights `w` of a convolution of geometry `g`: the direct kernels
    /// where [`Direct::new`] takes the layer.
    pub(super) fn new(g: &Geom, w: Vec<f32>) -> Self {
        let direct = Direct::new(g, &w);
        Self::with(g, w, direct)
    }

    /// The plan of the GEMMs, whatever the layer (for the tests that compare them with the
    /// direct kernels).
    #[cfg(test)]
    pub(super) fn gemm(g: &Geom, w: Vec<f32>) -> Self {
        Self::with(g, w, None)
    }

    /// The plan with the direct kernels' plan `direct`, or, without them, the GEMMs'
    /// unfolding where the layer has one.
    fn with(g: &Geom, w: Vec<f32>, direct: Option<Direct>) -> Self {
        debug_assert_eq!(w.len(), g.c_out * g.k());
        let same_size = g.h_out == g.h && g.w_out == g.w;
        let unfold = (direct.is_none() && same_size)
            .then(|| Unfolding::new(g.c_in, (g.h, g.w), (g.kh, g.kw), (g.pad_top, g.pad_left)))
            .flatten();
        Self {
            w,
            dims: (g.c_out, g.k()),
            direct,
            unfold,
            weight: OnceLock::new(),
            weight_t: OnceLock::new(),
        }
    }

    /// `W` as a matrix.
    fn w(&self) -> Mat<'_> {
        Mat::row_major(&self.w, self.dims.0, self.dims.1)
    }

    /// `W` packed.
    fn weight(&self) -> &PackedLhs {
        self.weight.get_or_init(|| PackedLhs::new(self.w()))
    }

    /// `Wᵀ` packed.
    fn weight_t(&self) -> &PackedLhs {
        self.weight_t.get_or_init(|| PackedLhs::new(self.w().t()))
    }
}

/// Forward pass on plain slices: `out` (N, C_out, H_out, W_out) is overwritten. The
/// batch is cut into work items of [`images_per_task`] images, run in parallel.
pub(super) fn forward(g: &Geom, x: &[f32], plan: &Plan, b: Option<&[f32]>, out: &mut [f32]) {
    let ipt = images_per_task(g.n);
    out.par_chunks_mut(ipt * g.out_len())
        .zip(x.par_chunks(ipt * g.in_len()))
        .for_each(|(out, x)| forward_images(g, ipt, x, plan, b, out, &mut |_, _| {}));
}

/// The forward pass of one work item (the images in `x`, at most `ipt`), on the calling
/// thread. After each GEMM (one image, or a group of images sharing it), `finish` gets
/// the index within the item of the first image it covered and their finished output,
/// still in cache.
pub(super) fn forward_images(
    g: &Geom,
    ipt: usize,
    x: &[f32],
    plan: &Plan,
    b: Option<&[f32]>,
    out: &mut [f32],
    finish: &mut dyn FnMut(usize, &[f32]),
) {
    if let Some(d) = &plan.direct {
        for (i, (out, x)) in out
            .chunks_exact_mut(g.out_len())
            .zip(x.chunks_exact(g.in_len()))
            .enumerate()
        {
            d.forward(x, b, out);
            finish(i, out);
        }
        return;
    }
    let (k, p) = (g.k(), g.p());
    let group = g.group(ipt);
    let weight = plan.weight();
    // The output's channels set to the bias, for the GEMM to add onto (β = 1).
    let bias_first = |out: &mut [f32]| match b {
        Some(b) => {
            for (row, &bias) in out.chunks_exact_mut(p).zip(b.iter().cycle()) {
                row.fill(bias);
            }
            1.0
        }
        None => 0.0,
    };
    if let Some(u) = &plan.unfold {
        // From the images straight into the output, image by image.
        for (j, (out, x)) in out
            .chunks_mut(group * g.out_len())
            .zip(x.chunks(group * g.in_len()))
            .enumerate()
        {
            if x.len() == g.in_len() {
                let beta = bias_first(out);
                sgemm_packed_unfolded(weight, u, x, beta, (out, true));
            } else {
                // The bias added after the sums, as on the im2col path below.
                sgemm_packed_unfolded(weight, u, x, 0.0, (out, true));
                if let Some(b) = b {
                    for (row, &bias) in out.chunks_exact_mut(p).zip(b.iter().cycle()) {
                        row.iter_mut().for_each(|v| *v += bias);
                    }
                }
            }
            finish(j * group, out);
        }
        return;
    }
    let tmp_len = if group > 1 { g.c_out * group * p } else { 0 };
    with_scratch([k * group * p, tmp_len, 0], |[cols, tmp, _]| {
        for (j, (out, x)) in out
            .chunks_mut(group * g.out_len())
            .zip(x.chunks(group * g.in_len()))
            .enumerate()
        {
            let imgs = x.len() / g.in_len();
            let ld = imgs * p;
            for (i, x) in x.chunks_exact(g.in_len()).enumerate() {
                im2col(g, x, cols, ld, i * p);
            }
            let cols = Mat::row_major(&cols[..k * ld], k, ld);
            if imgs == 1 {
                // Straight into the output, on top of the bias.
                let beta = bias_first(out);
                sgemm_packed(weight, cols, beta, out);
            } else {
                let tmp = &mut tmp[..g.c_out * ld];
                sgemm_packed(weight, cols, 0.0, tmp);
                for (i, out) in out.chunks_exact_mut(g.out_len()).enumerate() {
                    for (co, row) in out.chunks_exact_mut(p).enumerate() {
                        let bias = b.map_or(0.0, |b| b[co]);
                        let src = &tmp[co * ld + i * p..co * ld + (i + 1) * p];
                        for (o, &s) in row.iter_mut().zip(src) {
                            *o = s + bias;
                        }
                    }
                }
            }
            finish(j * group, out);
        }
    });
}

/// Backward pass on plain slices: adds the input gradient onto `grad_x` and returns the
/// weight and bias gradients as per-work-item partial sums (to be added in order).
pub(super) fn backward(
    g: &Geom,
    x: &[f32],
    plan: &Plan,
    grad_out: &[f32],
    grad_x: &mut [f32],
) -> Vec<(Vec<f32>, Vec<f32>)> {
    let ipt = images_per_task(g.n);
    grad_x
        .par_chunks_mut(ipt * g.in_len())
        .zip(x.par_chunks(ipt * g.in_len()))
        .zip(grad_out.par_chunks(ipt * g.out_len()))
        .map(|((grad_x, x), grad_out)| {
            let grad_out = GradOut::Given(grad_out);
            backward_images(g, ipt, x, plan, grad_out, Some(grad_x), false)
        })
        .collect()
}

/// The output gradient of a work item for [`backward_images`].
pub(super) enum GradOut<'a> {
    /// Already computed.
    Given(&'a [f32]),
    /// Computed just before use, image group by image group: the function gets the
    /// index within the item of the group's first image and a buffer for the group's
    /// output gradient, which it overwrites in full (its old contents are arbitrary),
    /// laid out as the GEMMs read it: `C_out × (imgs·P)`, channel by channel, each
    /// channel holding its plane of every image of the group in turn (for one image,
    /// the image's own layout).
    Lazy(&'a mut dyn FnMut(usize, &mut [f32])),
}

/// The backward pass of one work item (the images in `x`, at most `ipt`), on the
/// calling thread: adds the input gradient onto `grad_x` (with `overwrite`, writes it
/// there: `grad_x`'s old contents are never read) and returns the item's partial weight
/// and bias gradients. With `grad_x` `None` (the input is data: nothing upstream wants
/// its gradient) the input gradient is not computed at all: no GEMM for it and no
/// col2im.
pub(super) fn backward_images(
    g: &Geom,
    ipt: usize,
    x: &[f32],
    plan: &Plan,
    mut grad_out: GradOut<'_>,
    mut grad_x: Option<&mut [f32]>,
    overwrite: bool,
) -> (Vec<f32>, Vec<f32>) {
    let (k, p) = (g.k(), g.p());
    let direct = plan.direct.as_ref();
    // The direct kernels work image by image (their layers never group images).
    let group = if direct.is_some() { 1 } else { g.group(ipt) };
    // The first GEMM writes it over (β = 0); the direct kernels add to it.
    let mut grad_w = take_spare(g.c_out * k);
    if direct.is_some() {
        grad_w.fill(0.0);
    }
    let mut first = true;
    // Fewer kernel taps than a tile has columns (SmallCnn's first layer: K = 9 for 32
    // channels): the GEMMs make ∂Wᵀ = cols · ∂Yᵀ instead, whose tiles are full, and it
    // is transposed at the end. Each element is the same chain of the same products, so
    // the bits are the same.
    let transposed = direct.is_none() && k < 16 && g.c_out > k;
    let mut grad_w_t = vec![0.0f32; if transposed { k * g.c_out } else { 0 }];
    let mut grad_b = vec![0.0f32; g.c_out];
    // The column matrix, written out where the GEMMs cannot read it from the images
    // (and for the transposed weight gradient, whose left operand it is).
    let unfold = plan.unfold.as_ref().filter(|_| !transposed);
    let matrix_len = if direct.is_some() { 0 } else { k * group * p };
    let cols_len = if unfold.is_some() { 0 } else { matrix_len };
    let grad_cols_len = if grad_x.is_some() { matrix_len } else { 0 };
    let gather_len = match grad_out {
        GradOut::Given(_) if group == 1 => 0,
        _ => g.c_out * group * p,
    };
    with_scratch(
        [cols_len, grad_cols_len, gather_len],
        |[cols, grad_cols, gathered]| {
            for (j, x) in x.chunks(group * g.in_len()).enumerate() {
                let imgs = x.len() / g.in_len();
                let grad_x = grad_x
                    .as_deref_mut()
                    .map(|gx| &mut gx[j * group * g.in_len()..][..x.len()]);
                let span = j * group * g.out_len()..(j * group + imgs) * g.out_len();
                let ld = imgs * p;
                // The output gradient as one C_out × (imgs·P) matrix.
                let grad_out: &[f32] = match &mut grad_out {
                    GradOut::Given(all) if imgs == 1 => &all[span],
                    GradOut::Given(all) => {
                        for (i, go) in all[span].chunks_exact(g.out_len()).enumerate() {
                            for (co, row) in go.chunks_exact(p).enumerate() {
                                gathered[co * ld + i * p..co * ld + (i + 1) * p]
                                    .copy_from_slice(row);
                            }
                        }
                        &gathered[..g.c_out * ld]
                    }
                    GradOut::Lazy(prepare) => {
                        let buf = &mut gathered[..g.c_out * ld];
                        prepare(j * group, buf);
                        buf
                    }
                };
                // Image by image within each channel, as the images come.
                simd(
                    #[inline(always)]
                    || {
                        for (gb, row) in grad_b.iter_mut().zip(grad_out.chunks_exact(ld)) {
                            for plane in row.chunks_exact(p) {
                                *gb += lane_sum(plane);
                            }
                        }
                    },
                );
                if let Some(d) = direct {
                    // One image: the matrix is the image's own layout.
                    d.backward(x, grad_out, grad_x, &mut grad_w, overwrite);
                    continue;
                }
                let gout = Mat::row_major(grad_out, g.c_out, ld);
                let beta = if first { 0.0 } else { 1.0 };
                first = false;
                if let Some(u) = unfold {
                    sgemm_unfolded_t(gout, u, x, beta, &mut grad_w);
                } else {
                    for (i, x) in x.chunks_exact(g.in_len()).enumerate() {
                        im2col(g, x, cols, ld, i * p);
                    }
                    let cols = Mat::row_major(&cols[..k * ld], k, ld);
                    if transposed {
                        sgemm(cols, gout.t(), beta, &mut grad_w_t);
                    } else {
                        sgemm(gout, cols.t(), beta, &mut grad_w);
                    }
                }
                let Some(grad_x) = grad_x else {
                    continue;
                };
                if overwrite {
                    // Cleared just before its col2im adds, while in cache.
                    grad_x.fill(0.0);
                }
                let grad_cols = &mut grad_cols[..k * ld];
                sgemm_packed(plan.weight_t(), gout, 0.0, grad_cols);
                simd(
                    #[inline(always)]
                    || {
                        for (i, grad_x) in grad_x.chunks_exact_mut(g.in_len()).enumerate() {
                            col2im_add(g, grad_cols, ld, i * p, grad_x);
                        }
                    },
                );
            }
        },
    );
    if transposed {
        for (j, row) in grad_w_t.chunks_exact(g.c_out).enumerate() {
            for (co, &v) in row.iter().enumerate() {
                grad_w[co * k + j] = v;
            }
        }
    }
    (grad_w, grad_b)
}

fn conv2d_impl<T, TW, TB>(
    x: Tensor<Shape4, f32, Cpu, T>,
    weight: Tensor<Shape4, f32, Cpu, TW>,
    bias: Option<Tensor<(usize,), f32, Cpu, TB>>,
    padding: Padding,
) -> Result<Tensor<Shape4, f32, Cpu, T>>
where
    T: Tape<f32, Cpu> + Merge<TW> + Merge<TB>,
    TW: Tape<f32, Cpu>,
    TB: Tape<f32, Cpu>,
{
    let g = Geom::new(
        *x.shape(),
        *weight.shape(),
        bias.as_ref().map(|b| b.shape().0),
        padding,
    )?;
    // Contiguous first, on the taped tensors, so a copy made here stays differentiable.
    let x = x.try_contiguous().map_err(tensor_err(OP))?;
    let weight = weight.try_contiguous().map_err(tensor_err(OP))?;
    let bias = bias
        .map(|b| b.try_contiguous())
        .transpose()
        .map_err(tensor_err(OP))?;

    let (x, x_tape) = x.split_tape();
    let (weight, w_tape) = weight.split_tape();
    let mut tape = x_tape.merge(w_tape);
    let bias = match bias {
        Some(b) => {
            let (b, b_tape) = b.split_tape();
            tape = tape.merge(b_tape);
            Some(b)
        }
        None => None,
    };

    let b_data = bias.as_ref().map(to_vec);
    let mut out = vec![0.0f32; g.n * g.out_len()];
    let plan = Plan::new(&g, to_vec(&weight));
    with_data(&x, |x| forward(&g, x, &plan, b_data.as_deref(), &mut out));
    let out = x
        .device()
        .try_tensor_from_vec(out, (g.n, g.c_out, g.h_out, g.w_out))
        .map_err(tensor_err(OP))?;

    if T::OWNS_TAPE {
        let w_ghost = weight.ghost();
        let b_ghost = bias.as_ref().map(|b| b.ghost());
        let out_ghost = out.ghost();
        tape.add_backward_op(move |grads: &mut Gradients<f32, Cpu>| {
            // Move the output gradient out of the map (no copy) so the input gradient can
            // be borrowed mutably at the same time; it is put back below.
            let grad_out = std::mem::take(&mut **grads.get_or_alloc_mut(&out_ghost)?);
            let partials = {
                let grad_x = grads.get_or_alloc_mut(&x)?;
                with_data(&x, |x| backward(&g, x, &plan, &grad_out, grad_x))
            };
            let (grad_w, grad_b): (Vec<_>, Vec<_>) = partials.into_iter().unzip();
            add_partials(grads.get_or_alloc_mut(&w_ghost)?, &grad_w);
            grad_w.into_iter().for_each(give_spare);
            if let Some(b_ghost) = &b_ghost {
                add_partials(grads.get_or_alloc_mut(b_ghost)?, &grad_b);
            }
            **grads.get_or_alloc_mut(&out_ghost)? = grad_out;
            Ok(())
        });
    }
    Ok(out.put_tape(tape))
}
