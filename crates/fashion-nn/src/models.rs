//! The networks: [`SmallCnn`] (the default), [`SeedCnn`] (the original's Keras model)
//! and the original's ResNet-style network ([`ResNet`](super::ResNet), two variants),
//! and [`Model`], which holds any of them.

use dfdx::nn::modules::Linear;
use dfdx::nn::{
    BuildModule, ModuleVisitor, RecursiveWalker, TensorCollection, TensorVisitor, ViewTensorMut,
    ZeroGrads,
};
use dfdx::shapes::{Const, Dtype, HasShape};
use dfdx::tensor::{Cpu, Gradients, NoneTape, OwnedTape, Storage, Tape, Tensor, TensorFromVec};
use dfdx::tensor_ops::{Device, ReshapeTo};
use ndarray::Array2;
use rand::Rng;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::layers::{
    BatchNorm, BlockParams, Conv, dense, dropout, init_linear, linear_params, run_blocks,
    run_blocks_on_images,
};
use super::ops::{Activation, BatchStats, activate};
use super::resnet::{ResNetAsWritten, ResNetCorrected};
use super::{Shape4, tensor_err, to_vec};
use crate::{Error, ParamError, Result};
use fashion_data::{IMAGE_PIXELS, NUM_CLASSES};

/// Logits of a batch: `(N, 10)`.
pub type Logits<T = NoneTape> = Tensor<(usize, Const<NUM_CLASSES>), f32, Cpu, T>;
/// The tape used while training.
pub type Taped = OwnedTape<f32, Cpu>;

/// Which network to build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    /// [`SmallCnn`]: three 3×3 conv blocks, dense 128.
    #[default]
    Small,
    /// [`SeedCnn`]: the original project's Keras model (factorised kernels, SELU).
    Seed,
    /// [`ResNetAsWritten`]: the original project's ResNet-style network, with its
    /// shortcut as the original code wrote it (see [`ResNet`](super::ResNet)).
    #[serde(rename = "resnet")]
    ResNet,
    /// [`ResNetCorrected`]: the same network with the textbook residual.
    #[serde(rename = "resnet-corrected")]
    ResNetCorrected,
}

impl ModelKind {
    /// Every kind, in the order the CLI lists them.
    pub const ALL: [ModelKind; 4] = [
        ModelKind::Small,
        ModelKind::Seed,
        ModelKind::ResNet,
        ModelKind::ResNetCorrected,
    ];

    /// The name used on the command line and in configuration files.
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Small => "small",
            ModelKind::Seed => "seed",
            ModelKind::ResNet => "resnet",
            ModelKind::ResNetCorrected => "resnet-corrected",
        }
    }
}

impl std::str::FromStr for ModelKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "small" => Ok(ModelKind::Small),
            "seed" => Ok(ModelKind::Seed),
            "resnet" => Ok(ModelKind::ResNet),
            "resnet-corrected" => Ok(ModelKind::ResNetCorrected),
            other => Err(Error::invalid(
                "model",
                "`small`, `seed`, `resnet` or `resnet-corrected`",
                other,
            )),
        }
    }
}

impl std::fmt::Display for ModelKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What a network computes for a batch, as row-per-image matrices.
#[derive(Debug, Clone, PartialEq)]
pub struct Activations {
    /// The last convolutional feature map, flattened (`SmallCnn`: 128 × 3 × 3 = 1152;
    /// `SeedCnn`: 128 × 7 × 7 = 6272).
    pub map: Array2<f32>,
    /// The embedding of the last hidden dense layer (`SmallCnn`: 128; `SeedCnn`: 64).
    pub dense: Array2<f32>,
    /// The logits (10 per image).
    pub logits: Array2<f32>,
}

/// One row of a model summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerInfo {
    /// Layer description, e.g. `conv 3×3, 1→32`.
    pub layer: String,
    /// Output shape per image, e.g. `32×28×28`.
    pub output: String,
    /// Trainable parameters.
    pub params: usize,
}

pub(crate) fn info(
    layer: impl Into<String>,
    output: impl Into<String>,
    params: usize,
) -> LayerInfo {
    LayerInfo {
        layer: layer.into(),
        output: output.into(),
        params,
    }
}

fn conv_info<const CI: usize, const CO: usize, const KH: usize, const KW: usize>(
    hw: usize,
) -> LayerInfo {
    info(
        format!("conv {KH}×{KW}, {CI}→{CO}"),
        format!("{CO}×{hw}×{hw}"),
        Conv::<CI, CO, KH, KW>::PARAMS,
    )
}

/// Copies a `(N, C)` tensor into an ndarray matrix.
pub(crate) fn to_array<const C: usize>(
    t: &Tensor<(usize, Const<C>), f32, Cpu>,
) -> Result<Array2<f32>> {
    let n = t.shape().0;
    Array2::from_shape_vec((n, C), to_vec(t)).map_err(|e| Error::ShapeMismatch {
        op: "features",
        expected: format!("({n}, {C})"),
        found: e.to_string(),
    })
}

fn flatten<const F: usize, T: Tape<f32, Cpu>>(
    x: Tensor<Shape4, f32, Cpu, T>,
) -> Result<Tensor<(usize, Const<F>), f32, Cpu, T>> {
    let n = x.shape().0;
    x.try_reshape_like(&(n, Const::<F>))
        .map_err(tensor_err("flatten"))
}

// ---------------------------------------------------------------------------------------

/// The default network, ~0.25 M parameters:
///
/// conv 3×3 1→32 → [BatchNorm] → ReLU → max-pool 2×2 (14×14) →
/// conv 3×3 32→64 → [BatchNorm] → ReLU → max-pool (7×7) →
/// conv 3×3 64→128 → [BatchNorm] → ReLU → max-pool (3×3) → flatten (1152) →
/// dense 128 → ReLU → dropout → dense 10.
///
/// The 1152-d flattened map and the 128-d dense embedding are the two learned
/// representations the graph notebooks use.
#[derive(Debug, Clone)]
pub struct SmallCnn<E: Dtype = f32, D: Storage<E> = Cpu> {
    /// The three convolutions.
    pub convs: (
        Conv<1, 32, 3, 3, E, D>,
        Conv<32, 64, 3, 3, E, D>,
        Conv<64, 128, 3, 3, E, D>,
    ),
    /// Batch normalisation after each convolution (used when `batch_norm` is set).
    pub norms: (
        BatchNorm<32, E, D>,
        BatchNorm<64, E, D>,
        BatchNorm<128, E, D>,
    ),
    /// Dense 1152 → 128.
    pub fc1: Linear<1152, 128, E, D>,
    /// Dense 128 → 10.
    pub fc2: Linear<128, NUM_CLASSES, E, D>,
    /// Whether the convolutions are followed by batch normalisation.
    pub batch_norm: bool,
    /// Dropout probability after the dense 128 layer.
    pub dropout: f32,
    /// Inference averages the logits of each image and of its mirror image
    /// ([`ModelConfig::test_time_flip`]).
    pub test_time_flip: bool,
}

impl<E, D> TensorCollection<E, D> for SmallCnn<E, D>
where
    E: Dtype + num_traits::Float + rand_distr::uniform::SampleUniform,
    D: Device<E>,
{
    type To<E2: Dtype, D2: Device<E2>> = SmallCnn<E2, D2>;

    fn iter_tensors<V: ModuleVisitor<Self, E, D>>(
        visitor: &mut V,
    ) -> std::result::Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        visitor.visit_fields(
            (
                Self::module("convs", |s| &s.convs, |s| &mut s.convs),
                Self::module("norms", |s| &s.norms, |s| &mut s.norms),
                Self::module("fc1", |s| &s.fc1, |s| &mut s.fc1),
                Self::module("fc2", |s| &s.fc2, |s| &mut s.fc2),
            ),
            |(convs, norms, fc1, fc2)| SmallCnn {
                convs,
                norms,
                fc1,
                fc2,
                batch_norm: true,
                dropout: 0.5,
                test_time_flip: false,
            },
        )
    }
}

/// Moves a batch norm's running averages with its block's batch statistics (if the
/// block normalised).
pub(crate) fn update_bn<const C: usize>(bn: &mut BatchNorm<C>, stats: &Option<BatchStats>) {
    if let Some(stats) = stats {
        bn.update_running(stats);
    }
}

impl SmallCnn {
    /// The three conv blocks (conv → (BN) → ReLU → pool), fused.
    fn blocks(&self, train: bool) -> [BlockParams; 3] {
        let bn = self.batch_norm;
        let relu = Activation::Relu;
        [
            self.convs
                .0
                .block_params(bn.then_some(&self.norms.0), train, relu, true),
            self.convs
                .1
                .block_params(bn.then_some(&self.norms.1), train, relu, true),
            self.convs
                .2
                .block_params(bn.then_some(&self.norms.2), train, relu, true),
        ]
    }
}

impl SmallCnn {
    fn init(&mut self, rng: &mut impl Rng) {
        self.convs.0.init(rng);
        self.convs.1.init(rng);
        self.convs.2.init(rng);
        init_linear(&mut self.fc1, rng);
        init_linear(&mut self.fc2, rng);
    }

    fn forward_train(
        &mut self,
        x: Tensor<Shape4, f32, Cpu, Taped>,
        rng: &mut impl Rng,
    ) -> Result<Logits<Taped>> {
        let (x, stats) = run_blocks_on_images(&self.blocks(true), x)?;
        update_bn(&mut self.norms.0, &stats[0]);
        update_bn(&mut self.norms.1, &stats[1]);
        update_bn(&mut self.norms.2, &stats[2]);
        let x = flatten::<1152, _>(x)?;
        let x = activate(dense(&self.fc1, x)?, Activation::Relu)?;
        let x = dropout(x, self.dropout, rng)?;
        dense(&self.fc2, x)
    }

    fn features(&self, x: Tensor<Shape4, f32, Cpu>) -> Result<Activations> {
        let (x, _) = run_blocks(&self.blocks(false), x)?;
        let map = flatten::<1152, _>(x)?;
        let hidden = activate(dense(&self.fc1, map.clone())?, Activation::Relu)?;
        let logits = dense(&self.fc2, hidden.clone())?;
        Ok(Activations {
            map: to_array(&map)?,
            dense: to_array(&hidden)?,
            logits: to_array(&logits)?,
        })
    }

    fn summary(&self) -> Vec<LayerInfo> {
        let mut rows = vec![info("input", "1×28×28", 0)];
        let bn = |c: usize, hw: usize| info("batch norm", format!("{c}×{hw}×{hw}"), 2 * c);
        rows.push(conv_info::<1, 32, 3, 3>(28));
        if self.batch_norm {
            rows.push(bn(32, 28));
        }
        rows.push(info("ReLU, max-pool 2×2", "32×14×14", 0));
        rows.push(conv_info::<32, 64, 3, 3>(14));
        if self.batch_norm {
            rows.push(bn(64, 14));
        }
        rows.push(info("ReLU, max-pool 2×2", "64×7×7", 0));
        rows.push(conv_info::<64, 128, 3, 3>(7));
        if self.batch_norm {
            rows.push(bn(128, 7));
        }
        rows.push(info("ReLU, max-pool 2×2", "128×3×3", 0));
        rows.push(info("flatten (feature map)", "1152", 0));
        rows.push(info(
            "dense, ReLU (embedding)",
            "128",
            linear_params(1152, 128),
        ));
        rows.push(info(format!("dropout {}", self.dropout), "128", 0));
        rows.push(info("dense (logits)", "10", linear_params(128, 10)));
        rows
    }
}

// ---------------------------------------------------------------------------------------

/// The original project's Keras model, He-normal initialised:
///
/// six convolutions alternating 3×1 / 1×3 with 32 filters (BatchNorm after the first),
/// SELU → max-pool (14×14) → two 3×3 convolutions with 64 filters (BatchNorm after the
/// first), SELU → max-pool (7×7) → 7×1 and 1×7 convolutions with 128 filters (BatchNorm
/// after the first), SELU → 1×1 convolution to 256, SELU, dropout 0.2 → 1×1 convolution
/// to 128, SELU → flatten (6272) → dense 64, ReLU → dropout → dense 64, ReLU →
/// BatchNorm → dense 10.
#[derive(Debug, Clone)]
#[allow(clippy::type_complexity)]
pub struct SeedCnn<E: Dtype = f32, D: Storage<E> = Cpu> {
    /// The six factorised 32-filter convolutions.
    pub block1: (
        Conv<1, 32, 3, 1, E, D>,
        Conv<32, 32, 1, 3, E, D>,
        Conv<32, 32, 3, 1, E, D>,
        Conv<32, 32, 1, 3, E, D>,
        Conv<32, 32, 3, 1, E, D>,
        Conv<32, 32, 1, 3, E, D>,
    ),
    /// The two 3×3 64-filter convolutions.
    pub block2: (Conv<32, 64, 3, 3, E, D>, Conv<64, 64, 3, 3, E, D>),
    /// 7×1, 1×7, 1×1 (→256) and 1×1 (→128) convolutions.
    pub block3: (
        Conv<64, 128, 7, 1, E, D>,
        Conv<128, 128, 1, 7, E, D>,
        Conv<128, 256, 1, 1, E, D>,
        Conv<256, 128, 1, 1, E, D>,
    ),
    /// Batch normalisations: after the first conv of each block, and before the output.
    pub norms: (
        BatchNorm<32, E, D>,
        BatchNorm<64, E, D>,
        BatchNorm<128, E, D>,
        BatchNorm<64, E, D>,
    ),
    /// Dense 6272 → 64, 64 → 64, 64 → 10.
    pub fc: (
        Linear<6272, 64, E, D>,
        Linear<64, 64, E, D>,
        Linear<64, NUM_CLASSES, E, D>,
    ),
    /// Dropout probability between the two dense 64 layers.
    pub dropout: f32,
    /// Inference averages the logits of each image and of its mirror image
    /// ([`ModelConfig::test_time_flip`]).
    pub test_time_flip: bool,
}

/// Dropout after the 1×1 convolution to 256 channels.
const SEED_CONV_DROPOUT: f32 = 0.2;

impl<E, D> TensorCollection<E, D> for SeedCnn<E, D>
where
    E: Dtype + num_traits::Float + rand_distr::uniform::SampleUniform,
    D: Device<E>,
{
    type To<E2: Dtype, D2: Device<E2>> = SeedCnn<E2, D2>;

    fn iter_tensors<V: ModuleVisitor<Self, E, D>>(
        visitor: &mut V,
    ) -> std::result::Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        visitor.visit_fields(
            (
                Self::module("block1", |s| &s.block1, |s| &mut s.block1),
                Self::module("block2", |s| &s.block2, |s| &mut s.block2),
                Self::module("block3", |s| &s.block3, |s| &mut s.block3),
                Self::module("norms", |s| &s.norms, |s| &mut s.norms),
                Self::module("fc", |s| &s.fc, |s| &mut s.fc),
            ),
            |(block1, block2, block3, norms, fc)| SeedCnn {
                block1,
                block2,
                block3,
                norms,
                fc,
                dropout: 0.5,
                test_time_flip: false,
            },
        )
    }
}

impl SeedCnn {
    /// The twelve conv blocks (conv → (BN) → SELU → (pool)), fused.
    fn blocks(&self, train: bool) -> Vec<BlockParams> {
        const S: Activation = Activation::Selu;
        let (b1, b2, b3, n) = (&self.block1, &self.block2, &self.block3, &self.norms);
        vec![
            b1.0.block_params(Some(&n.0), train, S, false),
            b1.1.block_params(None, train, S, false),
            b1.2.block_params(None, train, S, false),
            b1.3.block_params(None, train, S, false),
            b1.4.block_params(None, train, S, false),
            b1.5.block_params(None, train, S, true),
            b2.0.block_params(Some(&n.1), train, S, false),
            b2.1.block_params(None, train, S, true),
            b3.0.block_params(Some(&n.2), train, S, false),
            b3.1.block_params(None, train, S, false),
            b3.2.block_params(None, train, S, false),
            b3.3.block_params(None, train, S, false),
        ]
    }
}

impl SeedCnn {
    fn init(&mut self, rng: &mut impl Rng) {
        let b1 = &mut self.block1;
        b1.0.init(rng);
        b1.1.init(rng);
        b1.2.init(rng);
        b1.3.init(rng);
        b1.4.init(rng);
        b1.5.init(rng);
        self.block2.0.init(rng);
        self.block2.1.init(rng);
        let b3 = &mut self.block3;
        b3.0.init(rng);
        b3.1.init(rng);
        b3.2.init(rng);
        b3.3.init(rng);
        init_linear(&mut self.fc.0, rng);
        init_linear(&mut self.fc.1, rng);
        init_linear(&mut self.fc.2, rng);
    }

    fn forward_train(
        &mut self,
        x: Tensor<Shape4, f32, Cpu, Taped>,
        rng: &mut impl Rng,
    ) -> Result<Logits<Taped>> {
        let mut blocks = self.blocks(true);
        // Dropout sits between the last two convolutions.
        let last = blocks.pop().expect("twelve blocks");
        let (x, stats) = run_blocks_on_images(&blocks, x)?;
        update_bn(&mut self.norms.0, &stats[0]);
        update_bn(&mut self.norms.1, &stats[6]);
        update_bn(&mut self.norms.2, &stats[8]);
        let x = dropout(x, SEED_CONV_DROPOUT, rng)?;
        let (x, _) = run_blocks(&[last], x)?;
        let x = flatten::<6272, _>(x)?;
        let x = activate(dense(&self.fc.0, x)?, Activation::Relu)?;
        let x = dropout(x, self.dropout, rng)?;
        let x = activate(dense(&self.fc.1, x)?, Activation::Relu)?;
        let x = self.norms.3.forward_train_dense(x)?;
        dense(&self.fc.2, x)
    }

    fn features(&self, x: Tensor<Shape4, f32, Cpu>) -> Result<Activations> {
        let (x, _) = run_blocks(&self.blocks(false), x)?;
        let map = flatten::<6272, _>(x)?;
        let x = activate(dense(&self.fc.0, map.clone())?, Activation::Relu)?;
        let x = activate(dense(&self.fc.1, x)?, Activation::Relu)?;
        let hidden = self.norms.3.forward_dense(x)?;
        let logits = dense(&self.fc.2, hidden.clone())?;
        Ok(Activations {
            map: to_array(&map)?,
            dense: to_array(&hidden)?,
            logits: to_array(&logits)?,
        })
    }

    fn summary(&self) -> Vec<LayerInfo> {
        let mut rows = vec![info("input", "1×28×28", 0)];
        rows.push(conv_info::<1, 32, 3, 1>(28));
        rows.push(info("batch norm, SELU", "32×28×28", 64));
        rows.push(conv_info::<32, 32, 1, 3>(28));
        rows.push(conv_info::<32, 32, 3, 1>(28));
        rows.push(conv_info::<32, 32, 1, 3>(28));
        rows.push(conv_info::<32, 32, 3, 1>(28));
        rows.push(conv_info::<32, 32, 1, 3>(28));
        rows.push(info("SELU after each; max-pool 2×2", "32×14×14", 0));
        rows.push(conv_info::<32, 64, 3, 3>(14));
        rows.push(info("batch norm, SELU", "64×14×14", 128));
        rows.push(conv_info::<64, 64, 3, 3>(14));
        rows.push(info("SELU, max-pool 2×2", "64×7×7", 0));
        rows.push(conv_info::<64, 128, 7, 1>(7));
        rows.push(info("batch norm, SELU", "128×7×7", 256));
        rows.push(conv_info::<128, 128, 1, 7>(7));
        rows.push(conv_info::<128, 256, 1, 1>(7));
        rows.push(info("SELU, dropout 0.2", "256×7×7", 0));
        rows.push(conv_info::<256, 128, 1, 1>(7));
        rows.push(info("SELU, flatten (feature map)", "6272", 0));
        rows.push(info("dense, ReLU", "64", linear_params(6272, 64)));
        rows.push(info(format!("dropout {}", self.dropout), "64", 0));
        rows.push(info("dense, ReLU", "64", linear_params(64, 64)));
        rows.push(info("batch norm (embedding)", "64", 128));
        rows.push(info("dense (logits)", "10", linear_params(64, 10)));
        rows
    }
}

// ---------------------------------------------------------------------------------------

/// Either network, chosen at run time.
#[derive(Debug, Clone)]
pub enum Model {
    /// The default [`SmallCnn`].
    Small(Box<SmallCnn>),
    /// The original project's [`SeedCnn`].
    Seed(Box<SeedCnn>),
    /// The original project's ResNet-style network, shortcut as written.
    ResNet(Box<ResNetAsWritten>),
    /// The ResNet-style network with the textbook residual.
    ResNetCorrected(Box<ResNetCorrected>),
}

/// How to build a [`Model`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    /// Which network.
    pub kind: ModelKind,
    /// `SmallCnn` only: batch normalisation after each convolution (`SeedCnn` always
    /// has its four).
    pub batch_norm: bool,
    /// Dropout probability of the dense layers, in `[0, 1)`.
    pub dropout: f32,
    /// Test-time flips: at inference the logits are the mean of the network's logits for
    /// the image and for its mirror image (flipped left to right),
    /// `½ (f(x) + f(flip x))`, for every prediction — validation, test, the graph
    /// notebooks' "misclassified". The feature map and the dense embedding stay the
    /// image's own. Costs a second forward pass; training is unchanged. Absent from
    /// older configuration files, where it reads as `false` (and left out of
    /// `config.json` when `false`, so their files stay as they were).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub test_time_flip: bool,
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig {
            kind: ModelKind::Small,
            batch_norm: true,
            dropout: 0.3,
            test_time_flip: false,
        }
    }
}

impl ModelConfig {
    /// Checks the dropout probability.
    ///
    /// # Errors
    /// [`ParamError`] naming `dropout` unless it lies in `[0, 1)`.
    pub fn check(&self) -> Result<(), ParamError> {
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(ParamError::new(
                "dropout",
                "a probability in [0, 1)",
                self.dropout,
            ));
        }
        Ok(())
    }
}

impl Model {
    /// Builds and initialises a network (He-normal weights from `seed`).
    ///
    /// ```
    /// use fashion_nn::{Model, ModelConfig};
    /// let model = Model::new(&ModelConfig::default(), 7)?;
    /// assert_eq!(model.num_params(), 241_994);
    /// # Ok::<(), fashion_nn::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`ModelConfig::check`]; [`Error::Tensor`] if memory runs out.
    pub fn new(config: &ModelConfig, seed: u64) -> Result<Model> {
        config.check()?;
        super::keep_freed_memory();
        let dev = Cpu::default();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        Ok(match config.kind {
            ModelKind::Small => {
                let mut m = SmallCnn::try_build(&dev).map_err(tensor_err("build"))?;
                m.batch_norm = config.batch_norm;
                m.dropout = config.dropout;
                m.test_time_flip = config.test_time_flip;
                m.init(&mut rng);
                Model::Small(Box::new(m))
            }
            ModelKind::Seed => {
                let mut m = SeedCnn::try_build(&dev).map_err(tensor_err("build"))?;
                m.dropout = config.dropout;
                m.test_time_flip = config.test_time_flip;
                m.init(&mut rng);
                Model::Seed(Box::new(m))
            }
            ModelKind::ResNet => {
                let mut m = ResNetAsWritten::try_build(&dev).map_err(tensor_err("build"))?;
                m.test_time_flip = config.test_time_flip;
                m.init(&mut rng);
                Model::ResNet(Box::new(m))
            }
            ModelKind::ResNetCorrected => {
                let mut m = ResNetCorrected::try_build(&dev).map_err(tensor_err("build"))?;
                m.test_time_flip = config.test_time_flip;
                m.init(&mut rng);
                Model::ResNetCorrected(Box::new(m))
            }
        })
    }

    /// Which network this is.
    pub fn kind(&self) -> ModelKind {
        match self {
            Model::Small(_) => ModelKind::Small,
            Model::Seed(_) => ModelKind::Seed,
            Model::ResNet(_) => ModelKind::ResNet,
            Model::ResNetCorrected(_) => ModelKind::ResNetCorrected,
        }
    }

    /// Length of the flattened feature map [`Activations::map`].
    pub fn map_dim(&self) -> usize {
        match self {
            Model::Small(_) => 1152,
            Model::Seed(_) => 6272,
            Model::ResNet(_) | Model::ResNetCorrected(_) => 4096,
        }
    }

    /// Length of the dense embedding [`Activations::dense`].
    pub fn dense_dim(&self) -> usize {
        match self {
            Model::Small(_) => 128,
            Model::Seed(_) => 64,
            Model::ResNet(_) | Model::ResNetCorrected(_) => 256,
        }
    }

    /// Layers, output shapes and trainable parameter counts.
    pub fn summary(&self) -> Vec<LayerInfo> {
        match self {
            Model::Small(m) => m.summary(),
            Model::Seed(m) => m.summary(),
            Model::ResNet(m) => m.summary(),
            Model::ResNetCorrected(m) => m.summary(),
        }
    }

    /// [`summary`](Self::summary) as a polars DataFrame (`layer`, `output`, `params`),
    /// with a total row.
    ///
    /// # Errors
    /// [`Error::Polars`] if the frame cannot be built.
    pub fn summary_frame(&self) -> Result<polars::prelude::DataFrame> {
        use polars::prelude::*;
        let rows = self.summary();
        let mut layer: Vec<String> = rows.iter().map(|r| r.layer.clone()).collect();
        let mut output: Vec<String> = rows.iter().map(|r| r.output.clone()).collect();
        let mut params: Vec<u64> = rows.iter().map(|r| r.params as u64).collect();
        layer.push("total".into());
        output.push(String::new());
        params.push(self.num_params() as u64);
        Ok(df!("layer" => layer, "output" => output, "params" => params)?)
    }

    /// Trainable parameters in total.
    pub fn num_params(&self) -> usize {
        self.summary().iter().map(|l| l.params).sum()
    }

    /// Training-mode forward pass (batch statistics, dropout drawn from `rng`) on a taped
    /// `(N, 1, 28, 28)` batch; returns the logits. The backward pass computes the
    /// gradients of the parameters only: the images are data, and their gradient is
    /// left out (it would cost a GEMM and a col2im of the first layer per image).
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] if `x` is not `(N, 1, 28, 28)`; [`Error::Tensor`] if
    /// memory runs out.
    pub fn forward_train(
        &mut self,
        x: Tensor<Shape4, f32, Cpu, Taped>,
        rng: &mut impl Rng,
    ) -> Result<Logits<Taped>> {
        check_input(x.shape())?;
        match self {
            Model::Small(m) => m.forward_train(x, rng),
            Model::Seed(m) => m.forward_train(x, rng),
            Model::ResNet(m) => m.forward_train(x),
            Model::ResNetCorrected(m) => m.forward_train(x),
        }
    }

    /// Whether inference averages the logits of each image and of its mirror image
    /// ([`ModelConfig::test_time_flip`]).
    pub fn test_time_flip(&self) -> bool {
        match self {
            Model::Small(m) => m.test_time_flip,
            Model::Seed(m) => m.test_time_flip,
            Model::ResNet(m) => m.test_time_flip,
            Model::ResNetCorrected(m) => m.test_time_flip,
        }
    }

    /// The same network with test-time flips switched on or off, e.g. to compare a
    /// run's predictions with and without them (its [`ModelConfig`] says which it was
    /// trained and evaluated with).
    pub fn with_test_time_flip(mut self, on: bool) -> Model {
        match &mut self {
            Model::Small(m) => m.test_time_flip = on,
            Model::Seed(m) => m.test_time_flip = on,
            Model::ResNet(m) => m.test_time_flip = on,
            Model::ResNetCorrected(m) => m.test_time_flip = on,
        }
        self
    }

    /// Inference-mode forward pass (running statistics, no dropout) on a
    /// `(N, 1, 28, 28)` batch: feature map, dense embedding and logits. With
    /// [`test_time_flip`](Self::test_time_flip) the logits are
    /// `½ (f(x) + f(flip x))`, the mean over the images and their mirror images; the
    /// feature map and the embedding are those of the images as given.
    ///
    /// ```
    /// use fashion_nn::{Model, ModelConfig};
    /// use ndarray::Array2;
    /// // Two images, the second the mirror image of the first.
    /// let mut x = Array2::from_shape_fn((2, 784), |(_, p)| (p % 28) as f32 / 27.0);
    /// for c in 0..784 {
    ///     x[[1, c]] = x[[0, c - c % 28 + 27 - c % 28]];
    /// }
    /// let config = ModelConfig { test_time_flip: true, ..ModelConfig::default() };
    /// let f = Model::new(&config, 7)?.features_of(&x, 2)?;
    /// assert_eq!(f.logits.row(0), f.logits.row(1)); // a mirror image changes nothing
    /// assert_ne!(f.dense.row(0), f.dense.row(1)); // the embedding is the image's own
    /// # Ok::<(), fashion_nn::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`forward_train`](Self::forward_train).
    pub fn features(&self, x: Tensor<Shape4, f32, Cpu>) -> Result<Activations> {
        // On a thread of rayon's pool: the forward pass's parallel loops start there.
        crate::on_pool(|| {
            check_input(x.shape())?;
            if !self.test_time_flip() {
                return self.features_as_given(x);
            }
            let mirrored = mirror(&x)?;
            let mut f = self.features_as_given(x)?;
            let m = self.features_as_given(mirrored)?;
            f.logits
                .zip_mut_with(&m.logits, |a, &b| *a = 0.5 * (*a + b));
            Ok(f)
        })
    }

    fn features_as_given(&self, x: Tensor<Shape4, f32, Cpu>) -> Result<Activations> {
        match self {
            Model::Small(m) => m.features(x),
            Model::Seed(m) => m.features(x),
            Model::ResNet(m) => m.features(x),
            Model::ResNetCorrected(m) => m.features(x),
        }
    }

    /// [`features`](Self::features) for images given as rows of 784 scaled pixels,
    /// `batch` images at a time.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] if `x` does not have 784 columns; as
    /// [`features`](Self::features).
    pub fn features_of(&self, x: &Array2<f32>, batch: usize) -> Result<Activations> {
        if x.ncols() != IMAGE_PIXELS {
            return Err(Error::ShapeMismatch {
                op: "features",
                expected: format!("rows of {IMAGE_PIXELS} pixels"),
                found: format!("{} columns", x.ncols()),
            });
        }
        if batch == 0 {
            return Err(Error::invalid("batch", "at least 1", 0));
        }
        let dev = self.device();
        let n = x.nrows();
        let mut map = Array2::zeros((n, self.map_dim()));
        let mut dense = Array2::zeros((n, self.dense_dim()));
        let mut logits = Array2::zeros((n, NUM_CLASSES));
        for start in (0..n).step_by(batch) {
            let end = (start + batch).min(n);
            let rows = x.slice(ndarray::s![start..end, ..]);
            let data: Vec<f32> = rows.iter().copied().collect();
            let t = dev
                .try_tensor_from_vec(data, (end - start, 1, 28, 28))
                .map_err(tensor_err("features"))?;
            let f = self.features(t)?;
            map.slice_mut(ndarray::s![start..end, ..]).assign(&f.map);
            dense
                .slice_mut(ndarray::s![start..end, ..])
                .assign(&f.dense);
            logits
                .slice_mut(ndarray::s![start..end, ..])
                .assign(&f.logits);
        }
        Ok(Activations { map, dense, logits })
    }

    /// The device the parameters live on.
    pub fn device(&self) -> Cpu {
        match self {
            Model::Small(m) => m.fc2.bias.device().clone(),
            Model::Seed(m) => m.fc.2.bias.device().clone(),
            Model::ResNet(m) => m.fc.bias.device().clone(),
            Model::ResNetCorrected(m) => m.fc.bias.device().clone(),
        }
    }

    /// Runs a dfdx tensor visitor over every parameter and buffer, mutably (used by the
    /// optimiser).
    pub(crate) fn walk_mut<V>(&mut self, visitor: &mut V) -> std::result::Result<(), V::Err>
    where
        V: TensorVisitor<f32, Cpu, Viewer = ViewTensorMut, E2 = f32, D2 = Cpu>,
    {
        match self {
            Model::Small(m) => {
                SmallCnn::iter_tensors(&mut RecursiveWalker {
                    m: &mut **m,
                    f: visitor,
                })?;
            }
            Model::Seed(m) => {
                SeedCnn::iter_tensors(&mut RecursiveWalker {
                    m: &mut **m,
                    f: visitor,
                })?;
            }
            Model::ResNet(m) => {
                ResNetAsWritten::iter_tensors(&mut RecursiveWalker {
                    m: &mut **m,
                    f: visitor,
                })?;
            }
            Model::ResNetCorrected(m) => {
                ResNetCorrected::iter_tensors(&mut RecursiveWalker {
                    m: &mut **m,
                    f: visitor,
                })?;
            }
        }
        Ok(())
    }

    /// Allocates zeroed gradients for every trainable tensor.
    ///
    /// # Errors
    /// [`Error::Tensor`] if memory runs out.
    pub fn alloc_grads(&self) -> Result<Gradients<f32, Cpu>> {
        match self {
            Model::Small(m) => m.try_alloc_grads(),
            Model::Seed(m) => m.try_alloc_grads(),
            Model::ResNet(m) => m.try_alloc_grads(),
            Model::ResNetCorrected(m) => m.try_alloc_grads(),
        }
        .map_err(tensor_err("alloc_grads"))
    }

    /// Sets the gradients of every trainable tensor back to zero.
    ///
    /// # Errors
    /// [`Error::Tensor`] if dfdx fails.
    pub fn zero_grads(&self, grads: &mut Gradients<f32, Cpu>) -> Result<()> {
        match self {
            Model::Small(m) => m.try_zero_grads(grads),
            Model::Seed(m) => m.try_zero_grads(grads),
            Model::ResNet(m) => m.try_zero_grads(grads),
            Model::ResNetCorrected(m) => m.try_zero_grads(grads),
        }
        .map_err(tensor_err("zero_grads"))
    }

    /// Writes the weights (and batch-norm running statistics) as safetensors.
    ///
    /// # Errors
    /// [`Error::Data`] (I/O) naming the file if writing fails.
    pub fn save_safetensors(&self, path: &std::path::Path) -> Result<()> {
        use dfdx::nn::SaveToSafetensors;
        let res = match self {
            Model::Small(m) => m.save_safetensors(path),
            Model::Seed(m) => m.save_safetensors(path),
            Model::ResNet(m) => m.save_safetensors(path),
            Model::ResNetCorrected(m) => m.save_safetensors(path),
        };
        res.map_err(|e| Error::Checkpoint {
            path: path.to_path_buf(),
            reason: format!("cannot write weights: {e}"),
        })
    }

    /// Loads weights written by [`save_safetensors`](Self::save_safetensors) into this
    /// network (which must be of the same kind).
    ///
    /// The file is checked first against what this network writes: every tensor by name,
    /// element type, shape and byte length (dfdx's own loader would panic on some
    /// mismatches), so no file, however damaged, can make loading panic.
    ///
    /// # Errors
    /// [`Error::Checkpoint`] naming the file if it is missing, corrupt, or holds
    /// tensors of other names, types or shapes.
    pub fn load_safetensors(&mut self, path: &std::path::Path) -> Result<()> {
        use dfdx::nn::LoadFromSafetensors;
        let refuse = |reason: String| Error::Checkpoint {
            path: path.to_path_buf(),
            reason,
        };
        if !path.is_file() {
            return Err(refuse("weights file not found".into()));
        }
        let bytes = std::fs::read(path).map_err(|e| refuse(format!("cannot read weights: {e}")))?;
        let file = safetensors::SafeTensors::deserialize(&bytes).map_err(|e| {
            refuse(format!(
                "cannot load {} weights: not a safetensors file ({e:?})",
                self.kind()
            ))
        })?;
        for t in self.weights_layout()? {
            let found = file.tensor(&t.name).map_err(|_| {
                refuse(format!(
                    "cannot load {} weights (another model's file, or corrupt): no tensor `{}`",
                    self.kind(),
                    t.name
                ))
            })?;
            if found.dtype() != t.dtype || found.shape() != t.shape || found.data().len() != t.bytes
            {
                return Err(refuse(format!(
                    "cannot load {} weights (another model's file, or corrupt): tensor `{}` is \
                     {:?} {:?} in {} bytes, expected {:?} {:?} in {} bytes",
                    self.kind(),
                    t.name,
                    found.dtype(),
                    found.shape(),
                    found.data().len(),
                    t.dtype,
                    t.shape,
                    t.bytes
                )));
            }
        }
        let res = match self {
            Model::Small(m) => m.load_safetensors(path),
            Model::Seed(m) => m.load_safetensors(path),
            Model::ResNet(m) => m.load_safetensors(path),
            Model::ResNetCorrected(m) => m.load_safetensors(path),
        };
        res.map_err(|e| Error::Checkpoint {
            path: path.to_path_buf(),
            reason: format!(
                "cannot load {} weights (corrupt, or another model's file): {e:?}",
                self.kind()
            ),
        })
    }
}

/// One tensor of a weights file: what [`Model::load_safetensors`] requires of it.
#[derive(Debug, Clone)]
struct TensorLayout {
    name: String,
    dtype: safetensors::Dtype,
    shape: Vec<usize>,
    bytes: usize,
}

impl Model {
    /// The tensors this kind of network writes, read back from a file it wrote (once per
    /// kind and process).
    fn weights_layout(&self) -> Result<Vec<TensorLayout>> {
        static LAYOUTS: std::sync::Mutex<Vec<(ModelKind, Vec<TensorLayout>)>> =
            std::sync::Mutex::new(Vec::new());
        let kind = self.kind();
        let mut cache = LAYOUTS.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, layout)) = cache.iter().find(|(k, _)| *k == kind) {
            return Ok(layout.clone());
        }
        let scratch = tempfile::NamedTempFile::new()
            .map_err(|e| fashion_data::Error::io(std::env::temp_dir(), e))?;
        self.save_safetensors(scratch.path())?;
        let bytes = std::fs::read(scratch.path())
            .map_err(|e| fashion_data::Error::io(scratch.path(), e))?;
        let file =
            safetensors::SafeTensors::deserialize(&bytes).map_err(|e| Error::Checkpoint {
                path: scratch.path().to_path_buf(),
                reason: format!("cannot read back the weights just written: {e:?}"),
            })?;
        let mut layout: Vec<TensorLayout> = file
            .tensors()
            .into_iter()
            .map(|(name, t)| TensorLayout {
                name,
                dtype: t.dtype(),
                shape: t.shape().to_vec(),
                bytes: t.data().len(),
            })
            .collect();
        layout.sort_by(|a, b| a.name.cmp(&b.name));
        cache.push((kind, layout.clone()));
        Ok(layout)
    }
}

/// The images of an `(N, C, H, W)` batch flipped left to right.
fn mirror(x: &Tensor<Shape4, f32, Cpu>) -> Result<Tensor<Shape4, f32, Cpu>> {
    let mut v = x.as_vec();
    for row in v.chunks_exact_mut(x.shape().3) {
        row.reverse();
    }
    x.device()
        .try_tensor_from_vec(v, *x.shape())
        .map_err(tensor_err("mirror"))
}

fn check_input(s: &Shape4) -> Result<()> {
    if s.1 != 1 || s.2 != 28 || s.3 != 28 || s.0 == 0 {
        return Err(Error::ShapeMismatch {
            op: "model input",
            expected: "(N ≥ 1, 1, 28, 28)".into(),
            found: format!("{s:?}"),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use dfdx::nn::NumParams;
    use dfdx::tensor::Trace;
    use dfdx::tensor_ops::{Backward, SumTo};

    fn batch(n: usize, seed: u64) -> Array2<f32> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        Array2::from_shape_fn((n, IMAGE_PIXELS), |_| rng.r#gen::<f32>())
    }

    #[test]
    fn feature_sizes_and_parameter_counts() {
        for (kind, map, dense) in [
            (ModelKind::Small, 1152, 128),
            (ModelKind::Seed, 6272, 64),
            (ModelKind::ResNet, 4096, 256),
            (ModelKind::ResNetCorrected, 4096, 256),
        ] {
            let config = ModelConfig {
                kind,
                ..ModelConfig::default()
            };
            let model = Model::new(&config, 1).unwrap();
            let f = model.features_of(&batch(3, 2), 2).unwrap();
            assert_eq!(f.map.dim(), (3, map), "{kind}");
            assert_eq!(f.dense.dim(), (3, dense), "{kind}");
            assert_eq!(f.logits.dim(), (3, NUM_CLASSES), "{kind}");
            // The summary's hand-written counts agree with dfdx's own count.
            let dfdx_count = match &model {
                Model::Small(m) => m.num_trainable_params(),
                Model::Seed(m) => m.num_trainable_params(),
                Model::ResNet(m) => m.num_trainable_params(),
                Model::ResNetCorrected(m) => m.num_trainable_params(),
            };
            assert_eq!(model.kind(), kind);
            assert_eq!(kind.name().parse::<ModelKind>().unwrap(), kind);
            assert_eq!(model.num_params(), dfdx_count, "{kind}");
        }
        let no_bn = ModelConfig {
            batch_norm: false,
            ..ModelConfig::default()
        };
        let m = Model::new(&no_bn, 1).unwrap();
        let with_bn = Model::new(&ModelConfig::default(), 1).unwrap();
        assert_eq!(m.num_params() + 2 * (32 + 64 + 128), with_bn.num_params());
        // The two ResNet variants differ only in the projections' input channels:
        // h (64, 128, 256 channels) as written, x (32, 64, 128) corrected.
        let params = |kind| {
            let config = ModelConfig {
                kind,
                ..ModelConfig::default()
            };
            Model::new(&config, 1).unwrap().num_params()
        };
        assert_eq!(
            params(ModelKind::ResNet) - params(ModelKind::ResNetCorrected),
            (64 - 32) * 64 + (128 - 64) * 128 + (256 - 128) * 256
        );
        // The same counts as PyTorch gives for bench/pytorch_peer.py's `resnet()`.
        assert_eq!(params(ModelKind::ResNet), 1_320_010);
        assert_eq!(params(ModelKind::ResNetCorrected), 1_277_002);
    }

    /// The shortcut of the first block of each stage: as the original wrote it, the
    /// projection of the block's own output path `h`, so with `h = 0` the block's output
    /// no longer depends on its input; the corrected residual still carries the input.
    #[test]
    fn the_resnet_shortcut_as_written_bypasses_the_block_input() {
        let x = batch(2, 5);
        let mut y = x.clone();
        y.mapv_inplace(|v| 1.0 - v);
        let outputs = |kind| {
            let config = ModelConfig {
                kind,
                ..ModelConfig::default()
            };
            let mut model = Model::new(&config, 3).unwrap();
            // Zero the last convolution of stage 1's first block: h = 0 there.
            let conv3 = match &mut model {
                Model::ResNet(m) => &mut m.stage1.0.conv3,
                Model::ResNetCorrected(m) => &mut m.stage1.0.conv3,
                _ => unreachable!(),
            };
            conv3.weight.copy_from(&vec![0.0; 64 * 32 * 9]);
            conv3.bias.copy_from(&[0.0; 64]);
            let fx = model.features_of(&x, 2).unwrap();
            let fy = model.features_of(&y, 2).unwrap();
            (fx.logits, fy.logits)
        };
        let (a, b) = outputs(ModelKind::ResNet);
        assert_eq!(a, b, "as written: nothing of the input passes the block");
        let (a, b) = outputs(ModelKind::ResNetCorrected);
        assert_ne!(a, b, "corrected: the input passes through the shortcut");
    }

    #[test]
    fn features_do_not_depend_on_batching_and_weights_round_trip() {
        let model = Model::new(&ModelConfig::default(), 3).unwrap();
        let x = batch(5, 4);
        let all = model.features_of(&x, 5).unwrap();
        let pieces = model.features_of(&x, 2).unwrap();
        let close = |a: &Array2<f32>, b: &Array2<f32>| {
            a.iter()
                .zip(b)
                .all(|(a, b)| (a - b).abs() <= 1e-5 * (1.0 + a.abs()))
        };
        assert!(close(&all.logits, &pieces.logits));
        assert!(close(&all.map, &pieces.map));

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.safetensors");
        model.save_safetensors(&path).unwrap();
        let mut other = Model::new(&ModelConfig::default(), 4).unwrap();
        assert_ne!(other.features_of(&x, 5).unwrap(), all);
        other.load_safetensors(&path).unwrap();
        assert_eq!(other.features_of(&x, 5).unwrap(), all);
    }

    /// Test-time flips: the logits are `½ (f(x) + f(flip x))` of the same weights
    /// without them, bit for bit; the map and the embedding are the images' own; the
    /// flag comes from the configuration and `with_test_time_flip` switches it.
    #[test]
    fn test_time_flip_averages_the_logits_of_each_image_and_its_mirror_image() {
        let (n, side) = (4, fashion_data::IMAGE_SIDE);
        let x = batch(n, 9);
        let mirrored = Array2::from_shape_fn((n, IMAGE_PIXELS), |(i, p)| {
            x[[i, p - p % side + side - 1 - p % side]]
        });
        for kind in [ModelKind::Small, ModelKind::Seed] {
            let config = ModelConfig {
                kind,
                test_time_flip: true,
                ..ModelConfig::default()
            };
            let flip = Model::new(&config, 5).unwrap();
            let plain = flip.clone().with_test_time_flip(false);
            assert!(flip.test_time_flip() && !plain.test_time_flip());
            let (a, b) = (
                plain.features_of(&x, n).unwrap(),
                plain.features_of(&mirrored, n).unwrap(),
            );
            let f = flip.features_of(&x, n).unwrap();
            let mut mean = a.logits.clone();
            mean.zip_mut_with(&b.logits, |l, &r| *l = 0.5 * (*l + r));
            assert_eq!(f.logits, mean, "{kind}");
            assert_ne!(f.logits, a.logits, "{kind}");
            assert_eq!((&f.map, &f.dense), (&a.map, &a.dense), "{kind}");
        }
        for kind in [ModelKind::ResNet, ModelKind::ResNetCorrected] {
            let config = ModelConfig {
                kind,
                test_time_flip: true,
                ..ModelConfig::default()
            };
            assert!(Model::new(&config, 5).unwrap().test_time_flip(), "{kind}");
            assert!(
                !Model::new(
                    &ModelConfig {
                        kind,
                        ..ModelConfig::default()
                    },
                    5
                )
                .unwrap()
                .test_time_flip()
            );
        }
    }

    /// `Σ logits ⊙ R` of a training-mode pass (batch statistics) and its gradients.
    fn train_loss(model: &mut Model, x: &Array2<f32>, r: &[f32]) -> (f32, Gradients<f32, Cpu>) {
        let dev = model.device();
        let n = x.nrows();
        let t = dev.tensor_from_vec(x.iter().copied().collect(), (n, 1, 28, 28));
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let logits = model.forward_train(t.leaky_trace(), &mut rng).unwrap();
        let rt = dev.tensor_from_vec(r.to_vec(), (n, Const::<NUM_CLASSES>));
        let loss = (logits * rt).sum::<(), _>();
        let value = loss.as_vec()[0];
        (value, loss.backward())
    }

    /// Backpropagation through the whole ResNet (stem, strided blocks, both kinds of
    /// shortcut, pooling) agrees with central differences of the loss, for parameters
    /// at every depth. In f32 through 20 layers the differences carry curvature and
    /// rounding: measured relative errors 2·10⁻⁵ to 1.5·10⁻² at ε = 10⁻³ (a wrongly
    /// wired branch gives errors of order 1); the ops themselves are checked tightly
    /// against f64 references in `tests.rs`.
    #[test]
    fn resnet_gradients_match_finite_differences() {
        use dfdx::shapes::Shape;
        fn check<S: Shape>(
            model: &mut Model,
            x: &Array2<f32>,
            r: &[f32],
            name: &str,
            param: impl Fn(&mut Model) -> &mut Tensor<S, f32, Cpu>,
        ) -> f64 {
            let (_, grads) = train_loss(model, x, r);
            let analytic = grads.get(&*param(model)).as_vec();
            let original = param(model).as_vec();
            let eps = 1e-3f32;
            // The coordinates with the largest gradients (tiny ones drown in f32 noise).
            let mut order: Vec<usize> = (0..analytic.len()).collect();
            order.sort_by(|&a, &b| analytic[b].abs().total_cmp(&analytic[a].abs()));
            let (mut num, mut den) = (0.0f64, 0.0f64);
            for &i in order.iter().take(4) {
                let mut v = original.clone();
                v[i] = original[i] + eps;
                param(model).copy_from(&v);
                let plus = train_loss(model, x, r).0;
                v[i] = original[i] - eps;
                param(model).copy_from(&v);
                let minus = train_loss(model, x, r).0;
                param(model).copy_from(&original);
                let numeric = f64::from(plus - minus) / (2.0 * f64::from(eps));
                num += (numeric - f64::from(analytic[i])).powi(2);
                den += f64::from(analytic[i]).powi(2);
            }
            let e = (num / den).sqrt();
            assert!(e < 0.03, "{name}: relative error {e:e}");
            e
        }
        macro_rules! param {
            ($($field:tt)+) => {
                |m: &mut Model| match m {
                    Model::ResNet(m) => &mut m.$($field)+,
                    Model::ResNetCorrected(m) => &mut m.$($field)+,
                    _ => unreachable!(),
                }
            };
        }
        for kind in [ModelKind::ResNet, ModelKind::ResNetCorrected] {
            let config = ModelConfig {
                kind,
                ..ModelConfig::default()
            };
            let mut model = Model::new(&config, 6).unwrap();
            let x = batch(4, 7);
            let mut rng = ChaCha8Rng::seed_from_u64(8);
            let r: Vec<f32> = (0..4 * NUM_CLASSES)
                .map(|_| rng.gen_range(-1.0..1.0))
                .collect();
            let m = &mut model;
            let errors = [
                check(m, &x, &r, "stem conv", param!(stem.0.weight)),
                check(m, &x, &r, "stem batch norm", param!(stem.1.scale)),
                check(
                    m,
                    &x,
                    &r,
                    "stage 1 projection norm",
                    param!(stage1.1.norm.scale),
                ),
                check(
                    m,
                    &x,
                    &r,
                    "stage 1 identity block",
                    param!(stage1.2.conv2.weight),
                ),
                check(
                    m,
                    &x,
                    &r,
                    "stage 2 strided 1×1",
                    param!(stage2.0.conv1.weight),
                ),
                check(m, &x, &r, "stage 3 last conv", param!(stage3.2.conv3.bias)),
                check(m, &x, &r, "dense", param!(fc.weight)),
            ];
            println!("{kind}: relative errors {errors:?}");
        }
    }

    #[test]
    fn seeds_determine_initialisation() {
        let x = batch(2, 0);
        let a = Model::new(&ModelConfig::default(), 8)
            .unwrap()
            .features_of(&x, 2)
            .unwrap();
        let b = Model::new(&ModelConfig::default(), 8)
            .unwrap()
            .features_of(&x, 2)
            .unwrap();
        let c = Model::new(&ModelConfig::default(), 9)
            .unwrap()
            .features_of(&x, 2)
            .unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn bad_inputs_are_errors() {
        let model = Model::new(&ModelConfig::default(), 1).unwrap();
        assert!(model.features_of(&Array2::zeros((2, 100)), 2).is_err());
        assert!(model.features_of(&batch(2, 0), 0).is_err());
        let dev = model.device();
        let t = dev.tensor_from_vec(vec![0.0; 2 * 3 * 28 * 28], (2, 3, 28, 28));
        assert!(matches!(
            model.features(t),
            Err(Error::ShapeMismatch { .. })
        ));
        let bad = ModelConfig {
            dropout: -0.1,
            ..ModelConfig::default()
        };
        assert!(Model::new(&bad, 1).is_err());
        assert_eq!("seed".parse::<ModelKind>().unwrap(), ModelKind::Seed);
        assert!("big".parse::<ModelKind>().is_err());
    }
}
