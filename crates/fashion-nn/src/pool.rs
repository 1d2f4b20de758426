//! 2×2 max-pooling with stride 2.

use dfdx::shapes::HasShape;
use dfdx::tensor::{Cpu, Gradients, PutTape, SplitTape, Tape, Tensor, TensorFromVec};
use dfdx::tensor_ops::ReshapeTo;
use rayon::prelude::*;

use super::{Shape4, tensor_err, with_data};
use crate::{Error, Result};

const OP: &str = "max_pool2d";

/// 2×2 max-pooling with stride 2 over each channel of a batch of images, differentiable.
///
/// `x` is `(N, C, H, W)` with `H, W ≥ 2`; the output is `(N, C, H / 2, W / 2)`
/// (rounded down: with an odd height or width the last row or column is dropped and
/// gets zero gradient).
///
/// Backward: each output's gradient goes, whole, to the input element that was the
/// window's maximum. **Ties**: the first maximal element in row-major order (top-left,
/// top-right, bottom-left, bottom-right) wins. A NaN counts as larger than any number,
/// so NaNs propagate (the first NaN in the window wins).
///
/// # Errors
/// [`Error::ShapeMismatch`] if `H < 2` or `W < 2`; [`Error::Tensor`] if dfdx cannot
/// allocate.
pub fn max_pool2d<T: Tape<f32, Cpu>>(
    x: Tensor<Shape4, f32, Cpu, T>,
) -> Result<Tensor<Shape4, f32, Cpu, T>> {
    let shape = *x.shape();
    let (n, c, h, w) = shape;
    if h < 2 || w < 2 {
        return Err(Error::ShapeMismatch {
            op: OP,
            expected: "input (N, C, H, W) with H ≥ 2 and W ≥ 2".into(),
            found: format!("input {shape:?}"),
        });
    }
    let g = PoolGeom {
        h,
        w,
        h_out: h / 2,
        w_out: w / 2,
    };

    let x = x.try_contiguous().map_err(tensor_err(OP))?;
    let (x, mut tape) = x.split_tape();
    let out_len = n * c * g.h_out * g.w_out;
    let mut out = vec![0.0f32; out_len];
    let mut argmax = vec![0u8; out_len];
    with_data(&x, |x| forward(&g, x, &mut out, &mut argmax));
    let out = x
        .device()
        .try_tensor_from_vec(out, (n, c, g.h_out, g.w_out))
        .map_err(tensor_err(OP))?;

    if T::OWNS_TAPE {
        let x_ghost = x.ghost();
        let out_ghost = out.ghost();
        tape.add_backward_op(move |grads: &mut Gradients<f32, Cpu>| {
            // Moved out (no copy) so the input gradient can be borrowed; put back below.
            let grad_out = std::mem::take(&mut **grads.get_or_alloc_mut(&out_ghost)?);
            backward(&g, &argmax, &grad_out, grads.get_or_alloc_mut(&x_ghost)?);
            **grads.get_or_alloc_mut(&out_ghost)? = grad_out;
            Ok(())
        });
    }
    Ok(out.put_tape(tape))
}

/// Sizes of one channel plane.
#[derive(Clone, Copy, Debug)]
struct PoolGeom {
    h: usize,
    w: usize,
    h_out: usize,
    w_out: usize,
}

/// Planes per rayon work item (enough work to amortise scheduling).
const MIN_PLANES: usize = 8;

/// Fills `out` with window maxima and `argmax` with each winner's position in its
/// window: 0 top-left, 1 top-right, 2 bottom-left, 3 bottom-right.
fn forward(g: &PoolGeom, x: &[f32], out: &mut [f32], argmax: &mut [u8]) {
    let (w, wo) = (g.w, g.w_out);
    let plane_out = g.h_out * wo;
    out.par_chunks_mut(plane_out)
        .zip(argmax.par_chunks_mut(plane_out))
        .zip(x.par_chunks(g.h * g.w))
        .with_min_len(MIN_PLANES)
        .for_each(|((out, argmax), x)| {
            for ((out, argmax), rows) in out
                .chunks_exact_mut(wo)
                .zip(argmax.chunks_exact_mut(wo))
                .zip(x.chunks_exact(2 * w))
            {
                let (top, bottom) = rows.split_at(w);
                pool_row(&top[..2 * wo], &bottom[..2 * wo], out, argmax);
            }
        });
}

/// One output row from two input rows (each `2 · out.len()` long).
// `!(v <= current)` is deliberate: it is true for a NaN `v`, so NaN propagates.
#[allow(clippy::neg_cmp_op_on_partial_ord)]
#[inline]
pub(super) fn pool_row(top: &[f32], bottom: &[f32], out: &mut [f32], argmax: &mut [u8]) {
    for (((t, b), o), a) in top
        .chunks_exact(2)
        .zip(bottom.chunks_exact(2))
        .zip(out)
        .zip(argmax)
    {
        let (mut best, mut arg) = (t[0].to_bits(), 0u32);
        for (k, v) in [(1u32, t[1]), (2, b[0]), (3, b[1])] {
            // `v` wins if strictly greater (the first maximum keeps ties) or a NaN over a
            // number. Selected with bit masks: with `if`, LLVM emits branches, which
            // random data mispredicts (3× slower).
            let current = f32::from_bits(best);
            let wins = !(v <= current) & !current.is_nan();
            let mask = 0u32.wrapping_sub(u32::from(wins));
            best = (v.to_bits() & mask) | (best & !mask);
            arg = (k & mask) | (arg & !mask);
        }
        *o = f32::from_bits(best);
        *a = arg as u8;
    }
}

/// Adds each output gradient onto its window's recorded maximum.
fn backward(g: &PoolGeom, argmax: &[u8], grad_out: &[f32], grad_x: &mut [f32]) {
    let (w, wo) = (g.w, g.w_out);
    let plane_out = g.h_out * wo;
    grad_x
        .par_chunks_mut(g.h * g.w)
        .zip(argmax.par_chunks(plane_out))
        .zip(grad_out.par_chunks(plane_out))
        .with_min_len(MIN_PLANES)
        .for_each(|((grad_x, argmax), grad_out)| {
            for (o, (&a, &go)) in argmax.iter().zip(grad_out).enumerate() {
                let (i, j) = (o / wo, o % wo);
                let (di, dj) = (usize::from(a >> 1), usize::from(a & 1));
                grad_x[(2 * i + di) * w + 2 * j + dj] += go;
            }
        });
}
