//! Fused element-wise activations and batch normalisation as custom dfdx ops.
//!
//! dfdx 0.13 runs element-wise work on one thread and composes batch normalisation from
//! about ten separate tensor passes; on a 2-core machine those passes cost as much as
//! the convolutions. These ops do the same mathematics in one or two passes, spread over
//! rayon's pool, with their backward passes registered on the tape.

use dfdx::shapes::{HasShape, Shape};
use dfdx::tensor::{
    Cpu, Gradients, Merge, NoneTape, PutTape, SplitTape, Tape, Tensor, TensorFromVec,
};
use dfdx::tensor_ops::ReshapeTo;
use rayon::prelude::*;

use super::{Shape4, add_partials, simd, tensor_err, to_vec, with_data};
use crate::{Error, Result};

/// Elements per rayon work item for element-wise passes.
const CHUNK: usize = 1 << 14;

/// SELU's scale λ (Klambauer et al., 2017).
pub const SELU_LAMBDA: f32 = 1.050_701;
/// SELU's α (Klambauer et al., 2017).
pub const SELU_ALPHA: f32 = 1.673_263_2;

/// A pointwise activation function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Activation {
    /// `max(x, 0)`; its derivative at 0 is taken as 0.
    Relu,
    /// `λ·x` for `x > 0`, else `λ·α·(eˣ − 1)` (self-normalising units).
    Selu,
}

impl Activation {
    #[inline]
    pub(super) fn f(self, x: f32) -> f32 {
        match self {
            Activation::Relu => x.max(0.0),
            Activation::Selu => {
                // Both sides computed, then selected: the loop vectorises.
                let e = exp_nonpositive(if x > 0.0 { 0.0 } else { x });
                if x > 0.0 {
                    SELU_LAMBDA * x
                } else {
                    SELU_LAMBDA * SELU_ALPHA * (e - 1.0)
                }
            }
        }
    }

    /// The derivative at the input `x`.
    #[inline]
    pub(super) fn df(self, x: f32) -> f32 {
        match self {
            Activation::Relu => {
                if x > 0.0 {
                    1.0
                } else {
                    0.0
                }
            }
            Activation::Selu => {
                let e = exp_nonpositive(if x > 0.0 { 0.0 } else { x });
                if x > 0.0 {
                    SELU_LAMBDA
                } else {
                    SELU_LAMBDA * SELU_ALPHA * e
                }
            }
        }
    }

    /// The derivative, written in terms of the output `y = f(x)` (so the backward pass
    /// needs only the output): ReLU′ = 1 if y > 0, else 0; SELU′ = λ for y > 0, else y + λα.
    #[inline]
    fn df_from_output(self, y: f32) -> f32 {
        match self {
            Activation::Relu => {
                if y > 0.0 {
                    1.0
                } else {
                    0.0
                }
            }
            Activation::Selu => {
                if y > 0.0 {
                    SELU_LAMBDA
                } else {
                    y + SELU_LAMBDA * SELU_ALPHA
                }
            }
        }
    }
}

/// `eˣ` for `x ≤ 0`, within 2 ulp of the exact value (tested), written without calls or
/// branches so that loops over it vectorise: libm's `expf` is a scalar call, and SELU
/// spent more time in it than in its convolutions' GEMMs.
///
/// Cephes' method: `x = n·ln 2 + r` with `|r| ≤ ln 2 / 2`, a degree-6 polynomial for
/// `eʳ`, and `2ⁿ` built from its exponent bits. Inputs below −87 (where `eˣ` is
/// subnormal) give `e⁻⁸⁷ ≈ 1.6·10⁻³⁸`; NaN stays NaN.
#[inline]
pub(super) fn exp_nonpositive(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // Adding 1.5·2²³ rounds to an integer in the low mantissa bits.
    const ROUND: f32 = 12_582_912.0;
    let nan = x.is_nan();
    let x = x.max(-87.0);
    let t = x * LOG2E + ROUND;
    let n = t - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = 1.987_569_1e-4;
    let p = p * r + 1.398_199_9e-3;
    let p = p * r + 8.333_452e-3;
    let p = p * r + 4.166_579_6e-2;
    let p = p * r + 1.666_666_5e-1;
    let p = p * r + 0.5;
    let er = p * r * r + r + 1.0;
    // n ∈ [−126, 0]: the low bits of t hold n + 2²² (two's complement).
    let n_int = (t.to_bits() as i32) - 0x4B40_0000;
    let y = er * f32::from_bits(((n_int + 127) as u32) << 23);
    if nan { f32::NAN } else { y }
}

/// Applies `act` element-wise, differentiably, in parallel.
///
/// ```
/// use dfdx::prelude::*;
/// use fashion_nn::{activate, Activation};
///
/// let dev = Cpu::default();
/// let x = dev.tensor([-1.0f32, 0.0, 2.0]);
/// let y = activate(x.leaky_trace(), Activation::Relu)?;
/// assert_eq!(y.array(), [0.0, 0.0, 2.0]);
/// let g = y.sum().backward();
/// assert_eq!(g.get(&x).array(), [0.0, 0.0, 1.0]);
/// # Ok::<(), fashion_nn::Error>(())
/// ```
///
/// # Errors
/// [`Error::Tensor`] if dfdx cannot allocate.
pub fn activate<S: Shape, T: Tape<f32, Cpu>>(
    x: Tensor<S, f32, Cpu, T>,
    act: Activation,
) -> Result<Tensor<S, f32, Cpu, T>> {
    const OP: &str = "activate";
    let x = x.try_contiguous().map_err(tensor_err(OP))?;
    let (x, mut tape) = x.split_tape();
    let shape = *x.shape();
    let mut out = vec![0.0f32; shape.num_elements()];
    with_data(&x, |xd| {
        out.par_chunks_mut(CHUNK)
            .zip(xd.par_chunks(CHUNK))
            .for_each(|(o, x)| {
                for (o, &v) in o.iter_mut().zip(x) {
                    *o = act.f(v);
                }
            })
    });
    let out = x
        .device()
        .try_tensor_from_vec(out, shape)
        .map_err(tensor_err(OP))?;
    if T::OWNS_TAPE {
        let x_ghost = x.ghost();
        let out_ghost = out.ghost();
        let y = out.clone();
        tape.add_backward_op(move |grads: &mut Gradients<f32, Cpu>| {
            let grad_out = std::mem::take(&mut **grads.get_or_alloc_mut(&out_ghost)?);
            let grad_x = grads.get_or_alloc_mut(&x_ghost)?;
            with_data(&y, |y| {
                grad_x
                    .par_chunks_mut(CHUNK)
                    .zip(y.par_chunks(CHUNK))
                    .zip(grad_out.par_chunks(CHUNK))
                    .for_each(|((gx, y), go)| {
                        for ((gx, &y), &go) in gx.iter_mut().zip(y).zip(go) {
                            *gx += act.df_from_output(y) * go;
                        }
                    })
            });
            **grads.get_or_alloc_mut(&out_ghost)? = grad_out;
            Ok(())
        });
    }
    Ok(out.put_tape(tape))
}

/// Per-channel statistics of one batch-normalisation training step.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchStats {
    /// Mean of each channel over the batch and all positions.
    pub mean: Vec<f32>,
    /// Biased variance (divided by the count) of each channel.
    pub var: Vec<f32>,
    /// Values per channel (`N·H·W`).
    pub count: usize,
}

/// Checks the `(N, C, H, W)` input against `C`-long parameter vectors.
fn bn_check(xs: Shape4, lens: &[usize]) -> Result<()> {
    let (n, c, h, w) = xs;
    if n == 0 || c == 0 || h == 0 || w == 0 || lens.iter().any(|&l| l != c) {
        return Err(Error::ShapeMismatch {
            op: "batch_norm",
            expected: format!(
                "input (N ≥ 1, C, H ≥ 1, W ≥ 1) and per-channel vectors of length C = {c}"
            ),
            found: format!("input {xs:?}, vectors of length {lens:?}"),
        });
    }
    Ok(())
}

/// Per-channel mean and biased variance (two passes; each plane summed in f32 with
/// 16 lanes, planes accumulated in f64), channels in parallel.
pub(super) fn channel_stats(x: &[f32], shape: Shape4) -> (Vec<f32>, Vec<f32>) {
    let hw = shape.2 * shape.3;
    let sums = x
        .par_chunks(hw)
        .with_min_len(16)
        .map(|plane| {
            simd(
                #[inline(always)]
                || lane_sum(plane),
            )
        })
        .collect::<Vec<f32>>();
    channel_stats_given_sums(x, shape, &sums)
}

/// [`channel_stats`] with the first pass done: `plane_sums[i · C + ch]` is
/// [`lane_sum`] of plane `ch` of image `i` (taken, say, while the plane was in cache).
pub(super) fn channel_stats_given_sums(
    x: &[f32],
    (n, c, h, w): Shape4,
    plane_sums: &[f32],
) -> (Vec<f32>, Vec<f32>) {
    let hw = h * w;
    let count = (n * hw) as f64;
    debug_assert_eq!(plane_sums.len(), n * c);
    (0..c)
        .into_par_iter()
        .map(|ch| {
            simd(
                #[inline(always)]
                || {
                    let sums = (0..n).map(|i| f64::from(plane_sums[i * c + ch]));
                    let mean = sums.sum::<f64>() / count;
                    let m = mean as f32;
                    // From −0, as `Sum` for f64 starts.
                    let mut var = -0.0f64;
                    for i in 0..n {
                        let p = &x[(i * c + ch) * hw..(i * c + ch + 1) * hw];
                        var += f64::from(lane_sum_sq_dev(p, m));
                    }
                    let var = var / count;
                    (m, var as f32)
                },
            )
        })
        .unzip()
}

/// For one channel's planes of the output gradient `dy` and the input `x`:
/// `(Σ dy, Σ dy·(x − mean))`, each plane in f32 with 16 lanes, planes in f64.
pub(super) fn channel_grad_sums<'a>(
    planes: impl Iterator<Item = (&'a [f32], &'a [f32])>,
    mean: f32,
) -> (f64, f64) {
    let (mut s, mut sx) = (0.0f64, 0.0f64);
    for (dy, x) in planes {
        let (a, b) = lane_sum_dot_dev(dy, x, mean);
        s += f64::from(a);
        sx += f64::from(b);
    }
    (s, sx)
}

const LANES: usize = 16;

/// Σ v with 16 independent accumulators, so it vectorises (a plain `iter().sum()` of
/// f32 is one serial dependency chain).
#[inline]
pub(super) fn lane_sum(v: &[f32]) -> f32 {
    let mut acc = [0.0f32; LANES];
    let chunks = v.chunks_exact(LANES);
    let rest: f32 = chunks.remainder().iter().sum();
    for chunk in chunks {
        for (a, &x) in acc.iter_mut().zip(chunk) {
            *a += x;
        }
    }
    acc.iter().sum::<f32>() + rest
}

/// Σ (v − mean)², vectorised like [`lane_sum`].
#[inline]
fn lane_sum_sq_dev(v: &[f32], mean: f32) -> f32 {
    let mut acc = [0.0f32; LANES];
    let chunks = v.chunks_exact(LANES);
    let rest: f32 = chunks
        .remainder()
        .iter()
        .map(|&x| (x - mean) * (x - mean))
        .sum();
    for chunk in chunks {
        for (a, &x) in acc.iter_mut().zip(chunk) {
            *a += (x - mean) * (x - mean);
        }
    }
    acc.iter().sum::<f32>() + rest
}

/// `(Σ dy, Σ dy·(x − mean))`, vectorised like [`lane_sum`].
#[inline]
pub(super) fn lane_sum_dot_dev(dy: &[f32], x: &[f32], mean: f32) -> (f32, f32) {
    let (mut s, mut sx) = ([0.0f32; LANES], [0.0f32; LANES]);
    let (dc, xc) = (dy.chunks_exact(LANES), x.chunks_exact(LANES));
    let (mut rs, mut rsx) = (0.0f32, 0.0f32);
    for (&d, &v) in dc.remainder().iter().zip(xc.remainder()) {
        rs += d;
        rsx += d * (v - mean);
    }
    for (d, v) in dc.zip(xc) {
        for (((s, sx), &d), &v) in s.iter_mut().zip(sx.iter_mut()).zip(d).zip(v) {
            *s += d;
            *sx += d * (v - mean);
        }
    }
    (s.iter().sum::<f32>() + rs, sx.iter().sum::<f32>() + rsx)
}

/// `out[i, c, ·] = a[c]·x[i, c, ·] + b[c]`, images in parallel.
fn affine_per_channel(x: &[f32], (_, c, h, w): Shape4, a: &[f32], b: &[f32], out: &mut [f32]) {
    let hw = h * w;
    out.par_chunks_mut(c * hw)
        .zip(x.par_chunks(c * hw))
        .for_each(|(o, x)| {
            for (ch, (o, x)) in o.chunks_exact_mut(hw).zip(x.chunks_exact(hw)).enumerate() {
                let (a, b) = (a[ch], b[ch]);
                for (o, &x) in o.iter_mut().zip(x) {
                    *o = a * x + b;
                }
            }
        });
}

/// Batch normalisation in training mode over `(N, C, H, W)`: each channel is
/// standardised with the batch's own mean and (biased) variance, then scaled by `scale`
/// and shifted by `bias`. Differentiable in `x`, `scale` and `bias`; returns the batch
/// statistics so the caller can update running averages.
///
/// For a dense layer's `(N, C)` output, pass it as `(N, C, 1, 1)`.
///
/// # Errors
/// [`Error::ShapeMismatch`] if a dimension is zero or `scale`/`bias` do not have `C`
/// elements; [`Error::Tensor`] if dfdx cannot allocate.
pub fn batch_norm_train<T, TS, TB>(
    x: Tensor<Shape4, f32, Cpu, T>,
    scale: Tensor<(usize,), f32, Cpu, TS>,
    bias: Tensor<(usize,), f32, Cpu, TB>,
    epsilon: f32,
) -> Result<(Tensor<Shape4, f32, Cpu, T>, BatchStats)>
where
    T: Tape<f32, Cpu> + Merge<TS> + Merge<TB>,
    TS: Tape<f32, Cpu>,
    TB: Tape<f32, Cpu>,
{
    const OP: &str = "batch_norm";
    let xs = *x.shape();
    bn_check(xs, &[scale.shape().0, bias.shape().0])?;
    let (n, c, h, w) = xs;
    let x = x.try_contiguous().map_err(tensor_err(OP))?;
    let (x, x_tape) = x.split_tape();
    let (scale, s_tape) = scale.split_tape();
    let (bias, b_tape) = bias.split_tape();
    let mut tape = x_tape.merge(s_tape).merge(b_tape);
    let gamma = to_vec(&scale);
    let beta = to_vec(&bias);

    let mut out = vec![0.0f32; n * c * h * w];
    let (mean, var) = with_data(&x, |xd| {
        let (mean, var) = channel_stats(xd, xs);
        let inv_std: Vec<f32> = var.iter().map(|v| 1.0 / (v + epsilon).sqrt()).collect();
        let a: Vec<f32> = gamma.iter().zip(&inv_std).map(|(g, s)| g * s).collect();
        let b: Vec<f32> = (0..c).map(|ch| beta[ch] - mean[ch] * a[ch]).collect();
        affine_per_channel(xd, xs, &a, &b, &mut out);
        (mean, var)
    });
    let out = x
        .device()
        .try_tensor_from_vec(out, xs)
        .map_err(tensor_err(OP))?;

    if T::OWNS_TAPE {
        let (s_ghost, b_ghost, out_ghost) = (scale.ghost(), bias.ghost(), out.ghost());
        let (mean, var) = (mean.clone(), var.clone());
        tape.add_backward_op(move |grads: &mut Gradients<f32, Cpu>| {
            let grad_out = std::mem::take(&mut **grads.get_or_alloc_mut(&out_ghost)?);
            let hw = h * w;
            let m = (n * hw) as f64;
            let inv_std: Vec<f32> = var.iter().map(|v| 1.0 / (v + epsilon).sqrt()).collect();
            let (sum_dy, sum_dy_xhat) = with_data(&x, |xd| {
                // Per channel: Σ dy and Σ dy·x̂.
                let (sum_dy, sum_dy_xhat): (Vec<f64>, Vec<f64>) = (0..c)
                    .into_par_iter()
                    .map(|ch| {
                        let planes = (0..n).map(|i| {
                            let r = (i * c + ch) * hw..(i * c + ch + 1) * hw;
                            (&grad_out[r.clone()], &xd[r])
                        });
                        let (s, sx) = channel_grad_sums(planes, mean[ch]);
                        (s, sx * f64::from(inv_std[ch]))
                    })
                    .unzip();
                // dx = γ·σ⁻¹·(dy − Σdy/M − x̂·Σdy·x̂/M)
                let grad_x = grads.get_or_alloc_mut(&x)?;
                grad_x
                    .par_chunks_mut(c * hw)
                    .zip(xd.par_chunks(c * hw))
                    .zip(grad_out.par_chunks(c * hw))
                    .for_each(|((gx, xd), go)| {
                        for ch in 0..c {
                            let k = gamma[ch] * inv_std[ch];
                            let mdy = (sum_dy[ch] / m) as f32;
                            let mdyx = (sum_dy_xhat[ch] / m) as f32;
                            let r = ch * hw..(ch + 1) * hw;
                            for ((gx, &v), &dy) in
                                gx[r.clone()].iter_mut().zip(&xd[r.clone()]).zip(&go[r])
                            {
                                let xhat = (v - mean[ch]) * inv_std[ch];
                                *gx += k * (dy - mdy - xhat * mdyx);
                            }
                        }
                    });
                Ok::<_, dfdx::tensor::CpuError>((sum_dy, sum_dy_xhat))
            })?;
            let to_f32 = |v: Vec<f64>| v.into_iter().map(|s| s as f32).collect::<Vec<_>>();
            add_partials(grads.get_or_alloc_mut(&s_ghost)?, &[to_f32(sum_dy_xhat)]);
            add_partials(grads.get_or_alloc_mut(&b_ghost)?, &[to_f32(sum_dy)]);
            **grads.get_or_alloc_mut(&out_ghost)? = grad_out;
            Ok(())
        });
    }
    Ok((
        out.put_tape(tape),
        BatchStats {
            mean,
            var,
            count: n * h * w,
        },
    ))
}

/// Batch normalisation in inference mode: `(x − mean)/√(var + ε)·scale + bias` per
/// channel of `(N, C, H, W)`, with given (running) statistics. Not differentiable.
///
/// # Errors
/// [`Error::ShapeMismatch`] if a dimension is zero or a vector does not have `C`
/// elements; [`Error::Tensor`] if dfdx cannot allocate.
pub fn batch_norm_infer(
    x: Tensor<Shape4, f32, Cpu, NoneTape>,
    scale: &[f32],
    bias: &[f32],
    mean: &[f32],
    var: &[f32],
    epsilon: f32,
) -> Result<Tensor<Shape4, f32, Cpu, NoneTape>> {
    const OP: &str = "batch_norm";
    let xs = *x.shape();
    bn_check(xs, &[scale.len(), bias.len(), mean.len(), var.len()])?;
    let x = x.try_contiguous().map_err(tensor_err(OP))?;
    let a: Vec<f32> = (0..xs.1)
        .map(|c| scale[c] / (var[c] + epsilon).sqrt())
        .collect();
    let b: Vec<f32> = (0..xs.1).map(|c| bias[c] - mean[c] * a[c]).collect();
    let mut out = vec![0.0f32; xs.0 * xs.1 * xs.2 * xs.3];
    with_data(&x, |xd| affine_per_channel(xd, xs, &a, &b, &mut out));
    x.device()
        .try_tensor_from_vec(out, xs)
        .map_err(tensor_err(OP))
}
