//! The ops a residual network needs besides convolutions: strided subsampling (which
//! turns a stride-1 convolution into a strided one with Keras's "same" padding), the
//! residual addition and global average pooling. Each is differentiable and checked
//! against finite differences in the tests.

use dfdx::shapes::{HasShape, Shape};
use dfdx::tensor::{Cpu, Gradients, Merge, PutTape, SplitTape, Tape, Tensor, TensorFromVec};
use rayon::prelude::*;

use super::{Shape4, tensor_err, to_vec, with_data};
use crate::{Error, Result};

/// Output size and offset of a strided convolution with Keras's (and TensorFlow's)
/// `padding="same"`, expressed through the stride-1 "same" convolution of this crate.
///
/// Keras pads a size-`h` axis for kernel `k` and stride `s` with
/// `p = max((⌈h/s⌉ − 1)·s + k − h, 0)` zeros, `⌊p/2⌋` before and the rest after, so
/// output `i` reads inputs `s·i − ⌊p/2⌋ …`. The stride-1 "same" convolution
/// ([`conv2d`](super::conv2d) with [`Padding::Same`](super::Padding::Same), `(k − 1)/2`
/// zeros before) reads the same inputs at its output `offset + s·i`, so the strided
/// convolution is the stride-1 one followed by [`subsample2d`]`(·, s, offset)`. Returns
/// `(⌈h/s⌉, offset)`, or `None` if `h`, `k` or `s` is 0 or `k` is even (this crate's
/// "same" padding is centred only for odd kernels).
///
/// ```
/// use fashion_nn::keras_same_strided;
/// // conv 7×7, stride 2 on 28×28: 14 outputs, Keras pads 2 before and 3 after.
/// assert_eq!(keras_same_strided(28, 7, 2), Some((14, 1)));
/// // 1×1, stride 2 on 7: outputs at 0, 2, 4, 6 (no padding at all).
/// assert_eq!(keras_same_strided(7, 1, 2), Some((4, 0)));
/// assert_eq!(keras_same_strided(7, 2, 2), None);
/// ```
pub fn keras_same_strided(h: usize, k: usize, s: usize) -> Option<(usize, usize)> {
    if h == 0 || k == 0 || s == 0 || k.is_multiple_of(2) {
        return None;
    }
    let out = h.div_ceil(s);
    let pad = ((out - 1) * s + k).saturating_sub(h);
    Some((out, (k - 1) / 2 - pad / 2))
}

/// Every `stride`-th row and column of each plane, starting at row `oh` and column `ow`
/// (`offset = (oh, ow)`): `out[n, c, i, j] = x[n, c, oh + stride·i, ow + stride·j]`,
/// output `⌈(H − oh)/stride⌉ × ⌈(W − ow)/stride⌉`. Differentiable: the backward pass adds
/// each output gradient onto the input pixel it was taken from (the others get none).
///
/// With the offsets from [`keras_same_strided`] (of the height and of the width) it makes
/// a stride-1 "same" convolution strided; before a 1×1 convolution (offsets 0) it *is*
/// the stride of that convolution.
///
/// ```
/// use dfdx::prelude::*;
/// use fashion_nn::subsample2d;
/// let dev = Cpu::default();
/// let x = dev.tensor_from_vec((0..16).map(|v| v as f32).collect(), (1, 1, 4, 4));
/// let y = subsample2d(x.leaky_trace(), 2, (1, 1))?;
/// assert_eq!(y.as_vec(), [5.0, 7.0, 13.0, 15.0]);
/// let g = y.sum().backward();
/// assert_eq!(g.get(&x).as_vec().iter().sum::<f32>(), 4.0);
/// # Ok::<(), fashion_nn::Error>(())
/// ```
///
/// # Errors
/// [`Error::ShapeMismatch`] if `stride` is 0 or an offset is not inside the image;
/// [`Error::Tensor`] if memory runs out.
pub fn subsample2d<T: Tape<f32, Cpu>>(
    x: Tensor<Shape4, f32, Cpu, T>,
    stride: usize,
    (oh, ow): (usize, usize),
) -> Result<Tensor<Shape4, f32, Cpu, T>> {
    const OP: &str = "subsample2d";
    let (n, c, h, w) = *x.shape();
    if stride == 0 || oh >= h || ow >= w {
        return Err(Error::ShapeMismatch {
            op: OP,
            expected: format!("stride ≥ 1 and offsets inside the {h}×{w} image"),
            found: format!(
                "stride {stride}, offsets ({oh}, {ow}) for input {:?}",
                x.shape()
            ),
        });
    }
    let (ho, wo) = ((h - oh).div_ceil(stride), (w - ow).div_ceil(stride));
    let (x, mut tape) = x.split_tape();
    let mut out = vec![0.0f32; n * c * ho * wo];
    with_data(&x, |xd| {
        out.par_chunks_mut(ho * wo)
            .zip(xd.par_chunks(h * w))
            .for_each(|(o, plane)| {
                for i in 0..ho {
                    let row = &plane[(oh + stride * i) * w..][..w];
                    for j in 0..wo {
                        o[i * wo + j] = row[ow + stride * j];
                    }
                }
            })
    });
    let out = x
        .device()
        .try_tensor_from_vec(out, (n, c, ho, wo))
        .map_err(tensor_err(OP))?;
    if T::OWNS_TAPE {
        let x_ghost = x.ghost();
        let out_ghost = out.ghost();
        tape.add_backward_op(move |grads: &mut Gradients<f32, Cpu>| {
            let grad_out = std::mem::take(&mut **grads.get_or_alloc_mut(&out_ghost)?);
            let grad_x = grads.get_or_alloc_mut(&x_ghost)?;
            grad_x
                .par_chunks_mut(h * w)
                .zip(grad_out.par_chunks(ho * wo))
                .for_each(|(gx, go)| {
                    for i in 0..ho {
                        let row = &mut gx[(oh + stride * i) * w..][..w];
                        for j in 0..wo {
                            row[ow + stride * j] += go[i * wo + j];
                        }
                    }
                });
            **grads.get_or_alloc_mut(&out_ghost)? = grad_out;
            Ok(())
        });
    }
    Ok(out.put_tape(tape))
}

/// Element-wise sum of two batches of the same shape, the residual connection
/// `h + shortcut`; the tapes of both are merged into the result and the backward pass
/// adds the output gradient onto both inputs.
///
/// Branching a taped tensor into a residual block: give one branch the tensor and the
/// other `x.with_empty_tape()` (same data and identity, empty tape); this op joins the
/// tapes again, and since every backward op *adds* to its input's gradient, both
/// branches' contributions reach `x`.
///
/// ```
/// use dfdx::prelude::*;
/// use fashion_nn::residual_add;
/// let dev = Cpu::default();
/// let x = dev.tensor_from_vec(vec![1.0f32, 2.0], (1, 2, 1, 1));
/// let y = residual_add(x.leaky_trace(), x.leaky_trace().with_empty_tape())?;
/// assert_eq!(y.as_vec(), [2.0, 4.0]);
/// assert_eq!(y.sum().backward().get(&x).as_vec(), [2.0, 2.0]);
/// # Ok::<(), fashion_nn::Error>(())
/// ```
///
/// # Errors
/// [`Error::ShapeMismatch`] if the shapes differ; [`Error::Tensor`] if memory runs out.
pub fn residual_add<T: Tape<f32, Cpu> + Merge<T>>(
    a: Tensor<Shape4, f32, Cpu, T>,
    b: Tensor<Shape4, f32, Cpu, T>,
) -> Result<Tensor<Shape4, f32, Cpu, T>> {
    const OP: &str = "residual_add";
    if a.shape() != b.shape() {
        return Err(Error::ShapeMismatch {
            op: OP,
            expected: format!("two tensors of shape {:?}", a.shape()),
            found: format!("{:?} and {:?}", a.shape(), b.shape()),
        });
    }
    let shape = *a.shape();
    let (a, ta) = a.split_tape();
    let (b, tb) = b.split_tape();
    let mut tape = ta.merge(tb);
    let mut out = to_vec(&a);
    with_data(&b, |bd| {
        out.par_chunks_mut(CHUNK)
            .zip(bd.par_chunks(CHUNK))
            .for_each(|(o, b)| o.iter_mut().zip(b).for_each(|(o, b)| *o += b))
    });
    let out = a
        .device()
        .try_tensor_from_vec(out, shape)
        .map_err(tensor_err(OP))?;
    if T::OWNS_TAPE {
        let (a_ghost, b_ghost, out_ghost) = (a.ghost(), b.ghost(), out.ghost());
        tape.add_backward_op(move |grads: &mut Gradients<f32, Cpu>| {
            let grad_out = std::mem::take(&mut **grads.get_or_alloc_mut(&out_ghost)?);
            for ghost in [&a_ghost, &b_ghost] {
                grads
                    .get_or_alloc_mut(ghost)?
                    .par_chunks_mut(CHUNK)
                    .zip(grad_out.par_chunks(CHUNK))
                    .for_each(|(g, go)| g.iter_mut().zip(go).for_each(|(g, go)| *g += go));
            }
            **grads.get_or_alloc_mut(&out_ghost)? = grad_out;
            Ok(())
        });
    }
    Ok(out.put_tape(tape))
}

/// Elements per rayon work item of the element-wise loops.
const CHUNK: usize = 1 << 14;

/// Global average pooling: the mean of each channel's plane, `(N, C, H, W)` →
/// `(N, C)`. The backward pass spreads each output gradient evenly, `1/(H·W)` to every
/// pixel of its plane.
///
/// ```
/// use dfdx::prelude::*;
/// use fashion_nn::global_avg_pool;
/// let dev = Cpu::default();
/// let x = dev.tensor_from_vec(vec![1.0f32, 2.0, 3.0, 6.0], (1, 1, 2, 2));
/// let y = global_avg_pool(x.leaky_trace())?;
/// assert_eq!(y.as_vec(), [3.0]);
/// assert_eq!(y.sum().backward().get(&x).as_vec(), [0.25; 4]);
/// # Ok::<(), fashion_nn::Error>(())
/// ```
///
/// # Errors
/// [`Error::ShapeMismatch`] if a plane is empty; [`Error::Tensor`] if memory runs out.
pub fn global_avg_pool<T: Tape<f32, Cpu>>(
    x: Tensor<Shape4, f32, Cpu, T>,
) -> Result<Tensor<(usize, usize), f32, Cpu, T>> {
    const OP: &str = "global_avg_pool";
    let (n, c, h, w) = *x.shape();
    let hw = h * w;
    if hw == 0 {
        return Err(Error::ShapeMismatch {
            op: OP,
            expected: "(N, C, H, W) with H, W ≥ 1".into(),
            found: format!("{:?}", x.shape()),
        });
    }
    let (x, mut tape) = x.split_tape();
    let out: Vec<f32> = with_data(&x, |xd| {
        xd.par_chunks(hw)
            .map(|p| (p.iter().map(|&v| f64::from(v)).sum::<f64>() / hw as f64) as f32)
            .collect()
    });
    let out = x
        .device()
        .try_tensor_from_vec(out, (n, c))
        .map_err(tensor_err(OP))?;
    if T::OWNS_TAPE {
        let (x_ghost, out_ghost) = (x.ghost(), out.ghost());
        let k = 1.0 / hw as f32;
        tape.add_backward_op(move |grads: &mut Gradients<f32, Cpu>| {
            let grad_out = std::mem::take(&mut **grads.get_or_alloc_mut(&out_ghost)?);
            grads
                .get_or_alloc_mut(&x_ghost)?
                .par_chunks_mut(hw)
                .zip(grad_out.par_iter())
                .for_each(|(gx, &go)| gx.iter_mut().for_each(|g| *g += go * k));
            **grads.get_or_alloc_mut(&out_ghost)? = grad_out;
            Ok(())
        });
    }
    debug_assert_eq!(out.shape().num_elements(), n * c);
    Ok(out.put_tape(tape))
}
