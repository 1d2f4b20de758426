//! Layers built on the ops of this module, as dfdx [`TensorCollection`]s so dfdx can
//! allocate, zero, save and load their parameters (safetensors).

use dfdx::nn::Module;
use dfdx::nn::modules::Linear;
use dfdx::nn::{ModuleVisitor, TensorCollection, TensorOptions};
use dfdx::shapes::{Const, Dtype, HasShape, Rank1, Rank4, Shape};
use dfdx::tensor::{
    Cpu, Gradients, Merge, NoneTape, PutTape, SplitTape, Storage, Tape, Tensor, TensorFromVec,
};
use dfdx::tensor_ops::{Device, RealizeTo, ReshapeTo};
use rand::Rng;
use rand_distr::{Distribution, Normal};
use rayon::prelude::*;

#[cfg(doc)]
use super::block::conv_stack;
use super::block::{BlockNorm, ConvBlock, StackOptions, StackOutput, conv_stack_with};
use super::ops::{Activation, BatchStats, batch_norm_infer, batch_norm_train};
use super::{Padding, Shape4, conv2d, tensor_err, to_vec, with_data};
use crate::Result;

/// A 2-D convolution layer: `CO` filters of `CI × KH × KW`, stride 1, "same" padding,
/// with bias. Weights are `(CO, CI, KH, KW)`.
#[derive(Debug, Clone)]
pub struct Conv<
    const CI: usize,
    const CO: usize,
    const KH: usize,
    const KW: usize,
    E: Dtype = f32,
    D: Storage<E> = Cpu,
> {
    /// Filters, `(CO, CI, KH, KW)`.
    pub weight: Tensor<Rank4<CO, CI, KH, KW>, E, D>,
    /// One bias per filter.
    pub bias: Tensor<Rank1<CO>, E, D>,
}

impl<const CI: usize, const CO: usize, const KH: usize, const KW: usize, E: Dtype, D: Device<E>>
    TensorCollection<E, D> for Conv<CI, CO, KH, KW, E, D>
{
    type To<E2: Dtype, D2: Device<E2>> = Conv<CI, CO, KH, KW, E2, D2>;

    fn iter_tensors<V: ModuleVisitor<Self, E, D>>(
        visitor: &mut V,
    ) -> std::result::Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        visitor.visit_fields(
            (
                Self::tensor(
                    "weight",
                    |s| &s.weight,
                    |s| &mut s.weight,
                    TensorOptions::reset_to_zeros(),
                ),
                Self::tensor(
                    "bias",
                    |s| &s.bias,
                    |s| &mut s.bias,
                    TensorOptions::reset_to_zeros(),
                ),
            ),
            |(weight, bias)| Conv { weight, bias },
        )
    }
}

impl<const CI: usize, const CO: usize, const KH: usize, const KW: usize> Conv<CI, CO, KH, KW> {
    /// Number of trainable parameters.
    pub const PARAMS: usize = CO * CI * KH * KW + CO;

    /// He-normal weights (σ = √(2 / fan-in), fan-in = `CI·KH·KW`), zero bias.
    pub(crate) fn init(&mut self, rng: &mut impl Rng) {
        he_normal(&mut self.weight, CI * KH * KW, rng);
        self.bias.copy_from(&[0.0; CO]);
    }

    /// Applies the convolution ("same" padding); the tape travels with `x`.
    ///
    /// # Errors
    /// As [`conv2d`].
    pub fn forward<T>(&self, x: Tensor<Shape4, f32, Cpu, T>) -> Result<Tensor<Shape4, f32, Cpu, T>>
    where
        T: Tape<f32, Cpu> + Merge<NoneTape>,
    {
        let w = self.weight.clone().realize::<Shape4>();
        let b = self.bias.clone().realize::<(usize,)>();
        conv2d(x, w, b, Padding::Same)
    }

    /// The parameters of this convolution, optionally followed by `bn` (batch
    /// statistics when `train`, else the running ones), `act` (an [`Activation`] or
    /// `None`) and 2×2 max-pooling, for
    /// a fused [`ConvBlock`] (see [`BlockParams::block`] and [`conv_stack`]).
    pub fn block_params(
        &self,
        bn: Option<&BatchNorm<CO>>,
        train: bool,
        act: impl Into<Option<Activation>>,
        pool: bool,
    ) -> BlockParams {
        let vector = |t: &Tensor<Rank1<CO>, f32, Cpu>| t.clone().realize::<(usize,)>();
        BlockParams {
            weight: self.weight.clone().realize::<Shape4>(),
            bias: vector(&self.bias),
            norm: bn.map(|bn| {
                if train {
                    NormParams::Batch {
                        scale: vector(&bn.scale),
                        shift: vector(&bn.bias),
                    }
                } else {
                    NormParams::Running(
                        [&bn.scale, &bn.bias, &bn.running_mean, &bn.running_var].map(to_vec),
                    )
                }
            }),
            activation: act.into(),
            pool,
        }
    }
}

/// The normalisation parameters held by [`BlockParams`].
#[derive(Debug, Clone)]
enum NormParams {
    /// Learnable scale and shift, batch statistics.
    Batch { scale: Vector, shift: Vector },
    /// Scale, shift, running mean and running variance.
    Running([Vec<f32>; 4]),
}

/// A per-channel parameter vector.
type Vector = Tensor<(usize,), f32, Cpu>;

/// The parameters of one fused block, with runtime shapes, owned (the tensors share
/// the layer's data): what [`Conv::block_params`] returns and [`BlockParams::block`]
/// lends to a [`ConvBlock`].
#[derive(Debug, Clone)]
pub struct BlockParams {
    weight: Tensor<Shape4, f32, Cpu>,
    bias: Vector,
    norm: Option<NormParams>,
    activation: Option<Activation>,
    pool: bool,
}

impl BlockParams {
    /// The fused block ("same" padding) over these parameters.
    pub fn block(&self) -> ConvBlock<'_> {
        ConvBlock {
            weight: &self.weight,
            bias: Some(&self.bias),
            norm: self.norm.as_ref().map(|n| match n {
                NormParams::Batch { scale, shift } => BlockNorm::Batch {
                    scale,
                    shift,
                    epsilon: BN_EPSILON,
                },
                NormParams::Running([scale, shift, mean, var]) => BlockNorm::Running {
                    scale,
                    shift,
                    mean,
                    var,
                    epsilon: BN_EPSILON,
                },
            }),
            activation: self.activation,
            pool: self.pool,
            padding: Padding::Same,
        }
    }
}

/// Runs the blocks of `params` as one [`conv_stack`]; the tape travels with `x`.
/// Returns the output and each block's batch statistics.
///
/// # Errors
/// As [`conv_stack`].
pub(crate) fn run_blocks<T: Tape<f32, Cpu>>(
    params: &[BlockParams],
    x: Tensor<Shape4, f32, Cpu, T>,
) -> Result<StackOutput<T>> {
    run_blocks_with(params, x, StackOptions::default())
}

/// [`run_blocks`] on a network's input images: their gradient is not computed
/// ([`StackOptions::input_grad`]).
///
/// # Errors
/// As [`conv_stack`].
pub(crate) fn run_blocks_on_images<T: Tape<f32, Cpu>>(
    params: &[BlockParams],
    x: Tensor<Shape4, f32, Cpu, T>,
) -> Result<StackOutput<T>> {
    run_blocks_with(params, x, StackOptions::default().input_grad(false))
}

fn run_blocks_with<T: Tape<f32, Cpu>>(
    params: &[BlockParams],
    x: Tensor<Shape4, f32, Cpu, T>,
    options: StackOptions,
) -> Result<StackOutput<T>> {
    let blocks: Vec<ConvBlock<'_>> = params.iter().map(BlockParams::block).collect();
    conv_stack_with(&blocks, x, options)
}

/// Batch normalisation over the channels of `(N, C, H, W)` (or of `(N, C)` dense
/// activations): learnable scale and shift, running mean and variance (momentum 0.1,
/// unbiased variance, ε = 10⁻⁵, as in PyTorch) used at inference.
#[derive(Debug, Clone)]
pub struct BatchNorm<const C: usize, E: Dtype = f32, D: Storage<E> = Cpu> {
    /// Learnable per-channel scale γ (starts at 1).
    pub scale: Tensor<Rank1<C>, E, D>,
    /// Learnable per-channel shift β (starts at 0).
    pub bias: Tensor<Rank1<C>, E, D>,
    /// Running mean (not trained by gradients).
    pub running_mean: Tensor<Rank1<C>, E, D>,
    /// Running (unbiased) variance (not trained by gradients).
    pub running_var: Tensor<Rank1<C>, E, D>,
}

/// Weight of the newest batch in the running statistics.
const BN_MOMENTUM: f32 = 0.1;
/// Added to the variance before the square root.
const BN_EPSILON: f32 = 1e-5;

impl<const C: usize, E: Dtype, D: Device<E>> TensorCollection<E, D> for BatchNorm<C, E, D> {
    type To<E2: Dtype, D2: Device<E2>> = BatchNorm<C, E2, D2>;

    fn iter_tensors<V: ModuleVisitor<Self, E, D>>(
        visitor: &mut V,
    ) -> std::result::Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        visitor.visit_fields(
            (
                Self::tensor(
                    "scale",
                    |s| &s.scale,
                    |s| &mut s.scale,
                    TensorOptions::reset_to_ones(),
                ),
                Self::tensor(
                    "bias",
                    |s| &s.bias,
                    |s| &mut s.bias,
                    TensorOptions::reset_to_zeros(),
                ),
                Self::tensor(
                    "running_mean",
                    |s| &s.running_mean,
                    |s| &mut s.running_mean,
                    TensorOptions::detached(|t| t.try_fill_with_zeros()),
                ),
                Self::tensor(
                    "running_var",
                    |s| &s.running_var,
                    |s| &mut s.running_var,
                    TensorOptions::detached(|t| t.try_fill_with_ones()),
                ),
            ),
            |(scale, bias, running_mean, running_var)| BatchNorm {
                scale,
                bias,
                running_mean,
                running_var,
            },
        )
    }
}

impl<const C: usize> BatchNorm<C> {
    /// Number of trainable parameters (scale and shift).
    pub const PARAMS: usize = 2 * C;

    /// Training mode: normalises with the batch's statistics and updates the running
    /// averages.
    ///
    /// # Errors
    /// As [`batch_norm_train`].
    pub fn forward_train<T>(
        &mut self,
        x: Tensor<Shape4, f32, Cpu, T>,
    ) -> Result<Tensor<Shape4, f32, Cpu, T>>
    where
        T: Tape<f32, Cpu> + Merge<NoneTape>,
    {
        let scale = self.scale.clone().realize::<(usize,)>();
        let bias = self.bias.clone().realize::<(usize,)>();
        let (y, stats) = batch_norm_train(x, scale, bias, BN_EPSILON)?;
        self.update_running(&stats);
        Ok(y)
    }

    /// Moves the running averages towards one batch's statistics (momentum
    /// `BN_MOMENTUM`, the variance made unbiased).
    pub(crate) fn update_running(&mut self, stats: &BatchStats) {
        let unbias = stats.count as f32 / (stats.count.max(2) - 1) as f32;
        let mut rm = to_vec(&self.running_mean);
        let mut rv = to_vec(&self.running_var);
        for c in 0..C {
            rm[c] = (1.0 - BN_MOMENTUM) * rm[c] + BN_MOMENTUM * stats.mean[c];
            rv[c] = (1.0 - BN_MOMENTUM) * rv[c] + BN_MOMENTUM * stats.var[c] * unbias;
        }
        self.running_mean.copy_from(&rm);
        self.running_var.copy_from(&rv);
    }

    /// Inference mode: normalises with the running statistics.
    ///
    /// # Errors
    /// As [`batch_norm_infer`].
    pub fn forward(&self, x: Tensor<Shape4, f32, Cpu>) -> Result<Tensor<Shape4, f32, Cpu>> {
        batch_norm_infer(
            x,
            &to_vec(&self.scale),
            &to_vec(&self.bias),
            &to_vec(&self.running_mean),
            &to_vec(&self.running_var),
            BN_EPSILON,
        )
    }

    /// [`forward_train`](Self::forward_train) for a dense `(N, C)` activation.
    ///
    /// # Errors
    /// As [`batch_norm_train`].
    pub fn forward_train_dense<T>(
        &mut self,
        x: Tensor<(usize, Const<C>), f32, Cpu, T>,
    ) -> Result<Tensor<(usize, Const<C>), f32, Cpu, T>>
    where
        T: Tape<f32, Cpu> + Merge<NoneTape>,
    {
        let n = x.shape().0;
        let x4 = x
            .try_reshape_like(&(n, C, 1, 1))
            .map_err(tensor_err("batch_norm"))?;
        self.forward_train(x4)?
            .try_reshape_like(&(n, Const::<C>))
            .map_err(tensor_err("batch_norm"))
    }

    /// [`forward`](Self::forward) for a dense `(N, C)` activation.
    ///
    /// # Errors
    /// As [`batch_norm_infer`].
    pub fn forward_dense(
        &self,
        x: Tensor<(usize, Const<C>), f32, Cpu>,
    ) -> Result<Tensor<(usize, Const<C>), f32, Cpu>> {
        let n = x.shape().0;
        let x4 = x
            .try_reshape_like(&(n, C, 1, 1))
            .map_err(tensor_err("batch_norm"))?;
        self.forward(x4)?
            .try_reshape_like(&(n, Const::<C>))
            .map_err(tensor_err("batch_norm"))
    }
}

/// Fills a tensor with He-normal values: N(0, 2 / `fan_in`).
fn he_normal<S: Shape>(t: &mut Tensor<S, f32, Cpu>, fan_in: usize, rng: &mut impl Rng) {
    let std = (2.0 / fan_in as f64).sqrt();
    let normal = Normal::new(0.0, std).expect("std is finite and positive");
    let v: Vec<f32> = (0..t.shape().num_elements())
        .map(|_| normal.sample(rng) as f32)
        .collect();
    t.copy_from(&v);
}

/// He-normal weights and zero bias for a dense layer.
pub(crate) fn init_linear<const I: usize, const O: usize>(
    l: &mut Linear<I, O, f32, Cpu>,
    rng: &mut impl Rng,
) {
    he_normal(&mut l.weight, I, rng);
    l.bias.copy_from(&[0.0; O]);
}

/// Trainable parameters of a dense layer.
pub(crate) const fn linear_params(i: usize, o: usize) -> usize {
    i * o + o
}

/// Applies a dense layer to `(N, I)` activations.
pub(crate) fn dense<const I: usize, const O: usize, T>(
    l: &Linear<I, O, f32, Cpu>,
    x: Tensor<(usize, Const<I>), f32, Cpu, T>,
) -> Result<Tensor<(usize, Const<O>), f32, Cpu, T>>
where
    T: Tape<f32, Cpu> + Merge<NoneTape>,
{
    l.try_forward(x).map_err(tensor_err("dense"))
}

/// Elements per rayon work item in [`dropout`].
const DROPOUT_CHUNK: usize = 1 << 14;

/// Inverted dropout: zeroes each element with probability `p` and scales the rest by
/// `1/(1 − p)`, drawing from `rng` (so training runs are reproducible and resumable).
/// `p = 0` returns `x` unchanged.
///
/// The mask takes one `u32` per element, in order, from one [`Rng::fill`] call; element
/// `i` is dropped when its draw, read as a float in `[0, 1)` the way `rng.gen::<f32>()`
/// reads it, is below `p`. For the block generators used here (ChaCha) that is the same
/// mask as one `gen::<f32>()` per element, drawn much faster. Applying the mask, and its
/// backward pass, run on rayon's pool.
///
/// # Errors
/// [`Error::Params`](crate::Error::Params) unless `0 ≤ p < 1`;
/// [`Error::Tensor`](crate::Error::Tensor) if dfdx cannot allocate.
pub fn dropout<S: Shape, T: Tape<f32, Cpu>>(
    x: Tensor<S, f32, Cpu, T>,
    p: f32,
    rng: &mut impl Rng,
) -> Result<Tensor<S, f32, Cpu, T>> {
    if !(0.0..1.0).contains(&p) {
        return Err(crate::Error::invalid(
            "dropout",
            "a probability in [0, 1)",
            p,
        ));
    }
    if p == 0.0 {
        return Ok(x);
    }
    const OP: &str = "dropout";
    let keep = 1.0 / (1.0 - p);
    // One 32-bit draw per element, in order, in one call (so the stream of `rng` does
    // not depend on the thread count); element i is dropped if its draw, as a float in
    // [0, 1) from its top 24 bits (how `rand` turns a u32 into an f32), is below p —
    // compared exactly in integers: u / 2²⁴ < p ⟺ u < ⌈p·2²⁴⌉.
    let mut draws = vec![0u32; x.shape().num_elements()];
    rng.fill(&mut draws[..]);
    let threshold = (f64::from(p) * f64::from(1u32 << 24)).ceil() as u32;
    let mask: Vec<f32> = draws
        .par_iter()
        .map(|&u| if (u >> 8) < threshold { 0.0 } else { keep })
        .collect();
    let x = x.try_contiguous().map_err(tensor_err(OP))?;
    let (x, mut tape) = x.split_tape();
    let shape = *x.shape();
    // Collected straight into the output (no zero-filled buffer first).
    let out: Vec<f32> = with_data(&x, |xd| {
        xd.par_iter()
            .zip(&mask)
            .with_min_len(DROPOUT_CHUNK)
            .map(|(&x, &m)| x * m)
            .collect()
    });
    let out = x
        .device()
        .try_tensor_from_vec(out, shape)
        .map_err(tensor_err(OP))?;
    if T::OWNS_TAPE {
        let x_ghost = x.ghost();
        let out_ghost = out.ghost();
        tape.add_backward_op(move |grads: &mut Gradients<f32, Cpu>| {
            let grad_out = std::mem::take(&mut **grads.get_or_alloc_mut(&out_ghost)?);
            grads
                .get_or_alloc_mut(&x_ghost)?
                .par_chunks_mut(DROPOUT_CHUNK)
                .zip(
                    grad_out
                        .par_chunks(DROPOUT_CHUNK)
                        .zip(mask.par_chunks(DROPOUT_CHUNK)),
                )
                .for_each(|(gx, (go, m))| {
                    for ((gx, &go), &m) in gx.iter_mut().zip(go).zip(m) {
                        *gx += go * m;
                    }
                });
            **grads.get_or_alloc_mut(&out_ghost)? = grad_out;
            Ok(())
        });
    }
    Ok(out.put_tape(tape))
}
