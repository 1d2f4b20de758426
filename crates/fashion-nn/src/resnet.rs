//! [`ResNet`]: the original project's second network (`Resnet_sim.py`), a small
//! bottleneck ResNet, in two variants: the shortcut as the original code wrote it, and
//! the textbook residual.

use dfdx::nn::modules::Linear;
use dfdx::nn::{ModuleVisitor, TensorCollection};
use dfdx::shapes::{Const, Dtype, HasShape};
use dfdx::tensor::{Cpu, NoneTape, Storage, Tape, Tensor, WithEmptyTape};
use dfdx::tensor_ops::{Device, ReshapeTo};
use rand::Rng;

use super::layers::{
    BatchNorm, Conv, dense, init_linear, linear_params, run_blocks, run_blocks_on_images,
};
use super::models::{Activations, LayerInfo, Logits, Taped, info, to_array, update_bn};
use super::ops::{Activation, BatchStats, activate};
use super::resample::{global_avg_pool, keras_same_strided, residual_add, subsample2d};
use super::{Shape4, tensor_err};
use crate::Result;
use fashion_data::NUM_CLASSES;

/// The main path of a bottleneck block: 1×1 conv `CI → F1` + batch norm + ReLU → 3×3
/// conv `F1 → F2` + SELU → 3×3 conv `F2 → F3` (no activation before the addition).
#[derive(Debug, Clone)]
pub struct Bottleneck<
    const CI: usize,
    const F1: usize,
    const F2: usize,
    const F3: usize,
    E: Dtype = f32,
    D: Storage<E> = Cpu,
> {
    /// 1×1 convolution (strided in the first block of stages 2 and 3).
    pub conv1: Conv<CI, F1, 1, 1, E, D>,
    /// Batch norm after `conv1`.
    pub norm1: BatchNorm<F1, E, D>,
    /// 3×3 convolution, SELU.
    pub conv2: Conv<F1, F2, 3, 3, E, D>,
    /// 3×3 convolution.
    pub conv3: Conv<F2, F3, 3, 3, E, D>,
}

impl<const CI: usize, const F1: usize, const F2: usize, const F3: usize, E, D>
    TensorCollection<E, D> for Bottleneck<CI, F1, F2, F3, E, D>
where
    E: Dtype + num_traits::Float + rand_distr::uniform::SampleUniform,
    D: Device<E>,
{
    type To<E2: Dtype, D2: Device<E2>> = Bottleneck<CI, F1, F2, F3, E2, D2>;

    fn iter_tensors<V: ModuleVisitor<Self, E, D>>(
        visitor: &mut V,
    ) -> std::result::Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        visitor.visit_fields(
            (
                Self::module("conv1", |s| &s.conv1, |s| &mut s.conv1),
                Self::module("norm1", |s| &s.norm1, |s| &mut s.norm1),
                Self::module("conv2", |s| &s.conv2, |s| &mut s.conv2),
                Self::module("conv3", |s| &s.conv3, |s| &mut s.conv3),
            ),
            |(conv1, norm1, conv2, conv3)| Bottleneck {
                conv1,
                norm1,
                conv2,
                conv3,
            },
        )
    }
}

/// A projection shortcut: 1×1 conv `PI → CO` + batch norm.
#[derive(Debug, Clone)]
pub struct Projection<const PI: usize, const CO: usize, E: Dtype = f32, D: Storage<E> = Cpu> {
    /// The 1×1 convolution.
    pub conv: Conv<PI, CO, 1, 1, E, D>,
    /// Its batch norm.
    pub norm: BatchNorm<CO, E, D>,
}

impl<const PI: usize, const CO: usize, E, D> TensorCollection<E, D> for Projection<PI, CO, E, D>
where
    E: Dtype + num_traits::Float + rand_distr::uniform::SampleUniform,
    D: Device<E>,
{
    type To<E2: Dtype, D2: Device<E2>> = Projection<PI, CO, E2, D2>;

    fn iter_tensors<V: ModuleVisitor<Self, E, D>>(
        visitor: &mut V,
    ) -> std::result::Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        visitor.visit_fields(
            (
                Self::module("conv", |s| &s.conv, |s| &mut s.conv),
                Self::module("norm", |s| &s.norm, |s| &mut s.norm),
            ),
            |(conv, norm)| Projection { conv, norm },
        )
    }
}

/// The original project's ResNet-style network (`Resnet_sim.py`), He-normal
/// initialised:
///
/// conv 7×7 stride 2 (Keras "same" padding) 1→32 + batch norm + SELU (14×14) →
/// three stages of two bottleneck blocks with filters [32, 32, 64], [64, 64, 128] and
/// [128, 128, 256], the first block of stages 2 and 3 with stride 2 (on its first 1×1
/// convolution: 7×7, then 4×4) → global average pooling (256) → dense 10.
///
/// Each block computes `h` = 1×1 conv + BN + ReLU → 3×3 conv + SELU → 3×3 conv, then
/// `SELU(h + shortcut)`. The shortcut is the block's input where the channel counts
/// match (the second block of each stage). In the first block of each stage they do
/// not, and the shortcut is a 1×1 convolution + batch norm — and here the original
/// code applies it to the block's *output path* `h`, not to its input `x`: its
/// "residual" is `SELU(h + BN(conv(h)))`, so the block's input never reaches its output
/// directly. The const parameters `P1, P2, P3` are the projections' input channels and
/// choose the variant: [`ResNetAsWritten`] (`64, 128, 256`: projections of `h`, as the
/// original) or [`ResNetCorrected`] (`32, 64, 128`: projections of the input `x`, strided
/// like the main path — the textbook residual).
///
/// Representations for the graphs: the last block's output flattened (256 × 4 × 4 =
/// 4096) as the feature map, the 256 globally pooled values as the dense embedding.
/// The network has no dropout (neither has the original).
#[derive(Debug, Clone)]
pub struct ResNet<
    const P1: usize,
    const P2: usize,
    const P3: usize,
    E: Dtype = f32,
    D: Storage<E> = Cpu,
> {
    /// The 7×7 stem convolution and its batch norm.
    pub stem: (Conv<1, 32, 7, 7, E, D>, BatchNorm<32, E, D>),
    /// Stage 1 (14×14): a projection block and an identity block.
    pub stage1: (
        Bottleneck<32, 32, 32, 64, E, D>,
        Projection<P1, 64, E, D>,
        Bottleneck<64, 32, 32, 64, E, D>,
    ),
    /// Stage 2 (7×7).
    pub stage2: (
        Bottleneck<64, 64, 64, 128, E, D>,
        Projection<P2, 128, E, D>,
        Bottleneck<128, 64, 64, 128, E, D>,
    ),
    /// Stage 3 (4×4).
    pub stage3: (
        Bottleneck<128, 128, 128, 256, E, D>,
        Projection<P3, 256, E, D>,
        Bottleneck<256, 128, 128, 256, E, D>,
    ),
    /// Dense 256 → 10.
    pub fc: Linear<256, NUM_CLASSES, E, D>,
    /// Inference averages the logits of each image and of its mirror image
    /// ([`ModelConfig::test_time_flip`](crate::ModelConfig::test_time_flip)).
    pub test_time_flip: bool,
}

/// [`ResNet`] with the shortcut as the original code wrote it (projection of `h`).
pub type ResNetAsWritten = ResNet<64, 128, 256>;
/// [`ResNet`] with the textbook residual (projection of the block's input).
pub type ResNetCorrected = ResNet<32, 64, 128>;

impl<const P1: usize, const P2: usize, const P3: usize, E, D> TensorCollection<E, D>
    for ResNet<P1, P2, P3, E, D>
where
    E: Dtype + num_traits::Float + rand_distr::uniform::SampleUniform,
    D: Device<E>,
{
    type To<E2: Dtype, D2: Device<E2>> = ResNet<P1, P2, P3, E2, D2>;

    fn iter_tensors<V: ModuleVisitor<Self, E, D>>(
        visitor: &mut V,
    ) -> std::result::Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        visitor.visit_fields(
            (
                Self::module("stem", |s| &s.stem, |s| &mut s.stem),
                Self::module("stage1", |s| &s.stage1, |s| &mut s.stage1),
                Self::module("stage2", |s| &s.stage2, |s| &mut s.stage2),
                Self::module("stage3", |s| &s.stage3, |s| &mut s.stage3),
                Self::module("fc", |s| &s.fc, |s| &mut s.fc),
            ),
            |(stem, stage1, stage2, stage3, fc)| ResNet {
                stem,
                stage1,
                stage2,
                stage3,
                fc,
                test_time_flip: false,
            },
        )
    }
}

/// A batch of feature maps.
type Map<T> = Tensor<Shape4, f32, Cpu, T>;

impl<const CI: usize, const F1: usize, const F2: usize, const F3: usize>
    Bottleneck<CI, F1, F2, F3>
{
    fn init(&mut self, rng: &mut impl Rng) {
        self.conv1.init(rng);
        self.conv2.init(rng);
        self.conv3.init(rng);
    }

    /// The main path `h` of `x` (already subsampled if the block is strided), as one
    /// fused stack, with `norm1`'s batch statistics when training.
    fn path<T: Tape<f32, Cpu>>(&self, x: Map<T>, train: bool) -> Result<(Map<T>, Norm)> {
        let blocks = [
            self.conv1
                .block_params(Some(&self.norm1), train, Activation::Relu, false),
            self.conv2
                .block_params(None, train, Activation::Selu, false),
            self.conv3.block_params(None, train, None, false),
        ];
        let (h, stats) = run_blocks(&blocks, x)?;
        Ok((h, stats.into_iter().next().flatten()))
    }

    fn summary(&self, rows: &mut Vec<LayerInfo>, hw: usize, stride: bool) {
        let s = if stride { ", stride 2" } else { "" };
        rows.push(info(
            format!("conv 1×1{s}, {CI}→{F1}; batch norm, ReLU"),
            format!("{F1}×{hw}×{hw}"),
            Conv::<CI, F1, 1, 1>::PARAMS + BatchNorm::<F1>::PARAMS,
        ));
        rows.push(info(
            format!("conv 3×3, {F1}→{F2}; SELU"),
            format!("{F2}×{hw}×{hw}"),
            Conv::<F1, F2, 3, 3>::PARAMS,
        ));
        rows.push(info(
            format!("conv 3×3, {F2}→{F3}"),
            format!("{F3}×{hw}×{hw}"),
            Conv::<F2, F3, 3, 3>::PARAMS,
        ));
    }
}

impl<const PI: usize, const CO: usize> Projection<PI, CO> {
    /// The projection of `x`, with its batch statistics when training.
    fn apply<T: Tape<f32, Cpu>>(&self, x: Map<T>, train: bool) -> Result<(Map<T>, Norm)> {
        let block = [self.conv.block_params(Some(&self.norm), train, None, false)];
        let (y, stats) = run_blocks(&block, x)?;
        Ok((y, stats.into_iter().next().flatten()))
    }
}

/// The batch statistics of one batch norm in a training pass (`None` in inference).
type Norm = Option<BatchStats>;

/// The batch statistics of a stage's three batch norms (the first block's, the
/// projection's, the second block's), applied to their running statistics after a
/// training pass ([`ResNet::update_running`]), so a forward pass needs no `&mut`.
type StageStats = [Norm; 3];

/// A stage: one projection block and one identity block.
type Stage<const CI: usize, const F1: usize, const F2: usize, const F3: usize, const PI: usize> = (
    Bottleneck<CI, F1, F2, F3>,
    Projection<PI, F3>,
    Bottleneck<F3, F1, F2, F3>,
);

/// One projection block and one identity block: `SELU(h + shortcut)` each.
fn stage<
    const CI: usize,
    const F1: usize,
    const F2: usize,
    const F3: usize,
    const PI: usize,
    T: Tape<f32, Cpu>,
>(
    (first, proj, second): &Stage<CI, F1, F2, F3, PI>,
    x: Map<T>,
    stride: usize,
    train: bool,
) -> Result<(Map<T>, StageStats)> {
    // A strided 1×1 convolution is the 1×1 convolution of the subsampled input.
    let x = if stride > 1 {
        subsample2d(x, stride, (0, 0))?
    } else {
        x
    };
    let (y, first_stats, proj_stats) = if PI == CI && PI != F3 {
        // The textbook residual: the projection of the block's (strided) input.
        let (shortcut, proj_stats) = proj.apply(x.with_empty_tape(), train)?;
        let (h, first_stats) = first.path(x, train)?;
        (residual_add(h, shortcut)?, first_stats, proj_stats)
    } else {
        // As the original code: the projection of the block's own output path.
        let (h, first_stats) = first.path(x, train)?;
        let (shortcut, proj_stats) = proj.apply(h.with_empty_tape(), train)?;
        (residual_add(h, shortcut)?, first_stats, proj_stats)
    };
    let x = activate(y, Activation::Selu)?;
    let (h, second_stats) = second.path(x.with_empty_tape(), train)?;
    let y = activate(residual_add(h, x)?, Activation::Selu)?;
    Ok((y, [first_stats, proj_stats, second_stats]))
}

/// Moves a stage's running statistics by the batch statistics of a training pass.
fn update_stage<
    const CI: usize,
    const F1: usize,
    const F2: usize,
    const F3: usize,
    const PI: usize,
>(
    (first, proj, second): &mut Stage<CI, F1, F2, F3, PI>,
    [a, p, b]: &StageStats,
) {
    update_bn(&mut first.norm1, a);
    update_bn(&mut proj.norm, p);
    update_bn(&mut second.norm1, b);
}

/// The summary rows of a stage: its projection block (strided or not) and its identity
/// block; `what` says what the projection shortcut takes.
fn stage_summary<
    const CI: usize,
    const F1: usize,
    const F2: usize,
    const F3: usize,
    const PI: usize,
>(
    (first, _, second): &Stage<CI, F1, F2, F3, PI>,
    rows: &mut Vec<LayerInfo>,
    hw: usize,
    strided: bool,
    what: &str,
) {
    first.summary(rows, hw, strided);
    rows.push(info(
        format!("shortcut: conv 1×1 {what}, {PI}→{F3}; batch norm; add, SELU"),
        format!("{F3}×{hw}×{hw}"),
        Conv::<PI, F3, 1, 1>::PARAMS + BatchNorm::<F3>::PARAMS,
    ));
    second.summary(rows, hw, false);
    rows.push(info(
        "shortcut: identity; add, SELU",
        format!("{F3}×{hw}×{hw}"),
        0,
    ));
}

impl<const P1: usize, const P2: usize, const P3: usize> ResNet<P1, P2, P3> {
    /// Whether this is the textbook residual ([`ResNetCorrected`]).
    pub const CORRECTED: bool = P1 == 32;

    pub(crate) fn init(&mut self, rng: &mut impl Rng) {
        self.stem.0.init(rng);
        let (a, p, b) = &mut self.stage1;
        a.init(rng);
        p.conv.init(rng);
        b.init(rng);
        let (a, p, b) = &mut self.stage2;
        a.init(rng);
        p.conv.init(rng);
        b.init(rng);
        let (a, p, b) = &mut self.stage3;
        a.init(rng);
        p.conv.init(rng);
        b.init(rng);
        init_linear(&mut self.fc, rng);
    }

    /// The stem's strided convolution, before its batch norm: `(N, 32, 14, 14)`.
    fn stem_conv<T: Tape<f32, Cpu>>(&self, x: Map<T>, train: bool) -> Result<Map<T>> {
        // conv 7×7 stride 2, "same" as Keras: the stride-1 convolution, subsampled.
        let (_, offset) = keras_same_strided(28, 7, 2).expect("valid stem geometry");
        let stem = [self.stem.0.block_params(None, train, None, false)];
        let (x, _) = run_blocks_on_images(&stem, x)?;
        subsample2d(x, 2, (offset, offset))
    }

    /// The three stages after the stem: the last block's output, `(N, 256, 4, 4)`, and
    /// the batch statistics of each stage when training.
    fn stages<T: Tape<f32, Cpu>>(
        &self,
        x: Map<T>,
        train: bool,
    ) -> Result<(Map<T>, [StageStats; 3])> {
        let (x, s1) = stage(&self.stage1, x, 1, train)?;
        let (x, s2) = stage(&self.stage2, x, 2, train)?;
        let (x, s3) = stage(&self.stage3, x, 2, train)?;
        Ok((x, [s1, s2, s3]))
    }

    /// Moves the stages' running statistics by a training pass's batch statistics.
    fn update_running(&mut self, [s1, s2, s3]: &[StageStats; 3]) {
        update_stage(&mut self.stage1, s1);
        update_stage(&mut self.stage2, s2);
        update_stage(&mut self.stage3, s3);
    }

    pub(crate) fn forward_train(&mut self, x: Map<Taped>) -> Result<Logits<Taped>> {
        let x = self.stem_conv(x, true)?;
        let x = activate(self.stem.1.forward_train(x)?, Activation::Selu)?;
        let (map, stats) = self.stages(x, true)?;
        self.update_running(&stats);
        dense(&self.fc, pooled(map)?)
    }

    pub(crate) fn features(&self, x: Map<NoneTape>) -> Result<Activations> {
        let x = self.stem_conv(x, false)?;
        let x = activate(self.stem.1.forward(x)?, Activation::Selu)?;
        let (map, _) = self.stages(x, false)?;
        let n = map.shape().0;
        let flat: Tensor<(usize, Const<4096>), f32, Cpu> = map
            .clone()
            .try_reshape_like(&(n, Const::<4096>))
            .map_err(tensor_err("flatten"))?;
        let pooled = pooled(map)?;
        let logits = dense(&self.fc, pooled.clone())?;
        Ok(Activations {
            map: to_array(&flat)?,
            dense: to_array(&pooled)?,
            logits: to_array(&logits)?,
        })
    }

    pub(crate) fn summary(&self) -> Vec<LayerInfo> {
        let mut rows = vec![info("input", "1×28×28", 0)];
        rows.push(info(
            "conv 7×7, stride 2 (Keras same), 1→32; batch norm, SELU",
            "32×14×14",
            Conv::<1, 32, 7, 7>::PARAMS + BatchNorm::<32>::PARAMS,
        ));
        let what = if Self::CORRECTED {
            "of the block's input"
        } else {
            "of the block's output path h (as the original)"
        };
        stage_summary(&self.stage1, &mut rows, 14, false, what);
        stage_summary(&self.stage2, &mut rows, 7, true, what);
        stage_summary(&self.stage3, &mut rows, 4, true, what);
        rows.push(info("flatten (feature map)", "4096", 0));
        rows.push(info("global average pooling (embedding)", "256", 0));
        rows.push(info("dense (logits)", "10", linear_params(256, 10)));
        rows
    }
}

/// Global average pooling to `(N, 256)`.
fn pooled<T: Tape<f32, Cpu>>(map: Map<T>) -> Result<Tensor<(usize, Const<256>), f32, Cpu, T>> {
    let n = map.shape().0;
    global_avg_pool(map)?
        .try_reshape_like(&(n, Const::<256>))
        .map_err(tensor_err("global_avg_pool"))
}
