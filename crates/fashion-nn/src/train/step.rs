//! One optimisation step (forward, loss, backward, AdamW update) and what feeds it:
//! the epoch's generator, the train/validation split, batches as tensors.

use super::*;

/// The generator of epoch `epoch` of a run seeded with `seed`.
pub(super) fn epoch_rng(seed: u64, epoch: usize) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(epoch as u64 + 1);
    rng
}

/// The training and validation sets of a run: the validation split of
/// [`TrainConfig::valid_fraction`], each cut to its subset if the configuration names one.
pub(super) fn split(config: &TrainConfig, data: &FashionMnist) -> Result<(Dataset, Dataset)> {
    let tv = stratified_split(
        &data.train,
        &SplitConfig {
            valid_fraction: config.valid_fraction,
            seed: config.seed,
        },
    )?;
    Ok((
        first_of_each_class(tv.train, config.train_subset)?,
        first_of_each_class(tv.valid, config.valid_subset)?,
    ))
}

/// `set` cut to `k` images, if `k` is smaller than it: the first `k/10` (rounded up)
/// images of each class, in the set's order, then the first `k` of those.
fn first_of_each_class(set: Dataset, k: Option<usize>) -> Result<Dataset> {
    match k {
        Some(k) if k < set.len() => {
            let per_class = k.div_ceil(NUM_CLASSES);
            let mut idx: Vec<usize> = (0..NUM_CLASSES)
                .flat_map(|c| set.indices_of_class(c).into_iter().take(per_class))
                .collect();
            idx.sort_unstable();
            idx.truncate(k);
            Ok(set.select(&idx)?)
        }
        _ => Ok(set),
    }
}

pub(super) fn batch_tensor(dev: &Cpu, x: Array2<f32>) -> Result<Tensor<crate::Shape4, f32, Cpu>> {
    let n = x.nrows();
    dev.try_tensor_from_vec(
        x.into_raw_vec_and_offset().0,
        (n, 1, IMAGE_SIDE, IMAGE_SIDE),
    )
    .map_err(|source| Error::Tensor {
        op: "batch",
        source,
    })
}

/// Targets of a batch: `(1 − smoothing)·one-hot + smoothing/10` per row.
pub(super) fn one_hot(
    dev: &Cpu,
    y: &[u8],
    smoothing: f64,
) -> Result<Tensor<(usize, Const<NUM_CLASSES>), f32, Cpu>> {
    let off = (smoothing / NUM_CLASSES as f64) as f32;
    let on = (1.0 - smoothing + smoothing / NUM_CLASSES as f64) as f32;
    let mut v = vec![off; y.len() * NUM_CLASSES];
    for (i, &c) in y.iter().enumerate() {
        v[i * NUM_CLASSES + c as usize] = on;
    }
    dev.try_tensor_from_vec(v, (y.len(), Const))
        .map_err(|source| Error::Tensor {
            op: "targets",
            source,
        })
}

/// One optimisation step at a time: forward, loss, backward, AdamW update.
pub(super) struct Stepper {
    pub(super) adam: Adam,
    pub(super) grads: Option<Gradients<f32, Cpu>>,
    pub(super) dev: Cpu,
}

impl Stepper {
    pub(super) fn new(model: &Model, adam: Adam) -> Result<Stepper> {
        Ok(Stepper {
            adam,
            grads: Some(model.alloc_grads()?),
            dev: model.device(),
        })
    }

    /// Trains on one batch (`x`: rows of 784 pixels) at learning rate `lr`, with the
    /// weight decay and label smoothing of `config`; returns the batch's mean loss and
    /// how many images the network classified correctly before the update.
    ///
    /// # Errors
    /// [`Error::NonFiniteLoss`] (epoch and batch 0: the caller fills them in) before any
    /// weight changes; tensor errors.
    pub(super) fn step(
        &mut self,
        model: &mut Model,
        x: Array2<f32>,
        y: &[u8],
        lr: f64,
        config: &TrainConfig,
        rng: &mut (impl Rng + Send),
    ) -> Result<(f32, usize)> {
        // On a thread of rayon's pool: the step's parallel loops start there.
        crate::on_pool(|| {
            let grads = match self.grads.take() {
                Some(g) => g,
                None => model.alloc_grads()?,
            };
            let input = batch_tensor(&self.dev, x)?.traced(grads);
            let logits = model.forward_train(input, rng)?;
            let values = logits.with_empty_tape().as_vec();
            let mut correct = 0;
            for (row, &label) in values.chunks_exact(NUM_CLASSES).zip(y) {
                let argmax = (0..NUM_CLASSES)
                    .max_by(|&a, &b| row[a].total_cmp(&row[b]).then(b.cmp(&a)))
                    .expect("10 classes");
                correct += usize::from(argmax == label as usize);
            }
            let targets = one_hot(&self.dev, y, config.label_smoothing)?;
            let loss = cross_entropy_with_logits_loss(logits, targets);
            let value = loss.array();
            if !value.is_finite() {
                return Err(Error::NonFiniteLoss {
                    epoch: 0,
                    batch: 0,
                    loss: value,
                });
            }
            let mut grads = loss.backward();
            self.adam
                .update(model, &mut grads, lr as f32, config.weight_decay as f32)?;
            model.zero_grads(&mut grads)?;
            self.grads = Some(grads);
            Ok((value, correct))
        })
    }
}

/// Reads every parameter and buffer of a model in order, handing `f` whether the
/// optimiser updates it and its values.
struct ReadEach<F>(F);

impl<F: FnMut(bool, Vec<f32>)> TensorVisitor<f32, Cpu> for ReadEach<F> {
    type Viewer = ViewTensorMut;
    type Err = CpuError;
    type E2 = f32;
    type D2 = Cpu;

    fn visit<S: Shape>(
        &mut self,
        opts: TensorOptions<S, f32, Cpu>,
        p: &mut Tensor<S, f32, Cpu>,
    ) -> std::result::Result<Option<Tensor<S, f32, Cpu>>, CpuError> {
        (self.0)(opts.do_gradient_update, p.as_vec());
        Ok(None)
    }
}

/// Runs `f` on every parameter and buffer of `model` (see [`ReadEach`]).
fn read_each(model: &mut Model, op: &'static str, f: impl FnMut(bool, Vec<f32>)) -> Result<()> {
    model
        .walk_mut(&mut ReadEach(f))
        .map_err(|source| Error::Tensor { op, source })
}

/// The first parameter or buffer value of `model` that is NaN or infinite, with where
/// it is (`parameter tensor 3 of 12`, in the order of the safetensors file).
pub(super) fn non_finite_weight(model: &mut Model) -> Result<Option<(String, f32)>> {
    let (mut tensors, mut found) = (0, None);
    read_each(model, "finite check", |_, values| {
        if found.is_none() {
            found = values
                .iter()
                .find(|v| !v.is_finite())
                .map(|&v| (tensors, v));
        }
        tensors += 1;
    })?;
    Ok(found.map(|(i, v)| (format!("parameter tensor {} of {tensors}", i + 1), v)))
}

/// The number of elements of each trainable tensor of `model`, in the order the
/// optimiser keeps its moments.
pub(super) fn trainable_lengths(model: &mut Model) -> Result<Vec<usize>> {
    let mut lengths = Vec::new();
    read_each(model, "trainable lengths", |trained, values| {
        if trained {
            lengths.push(values.len());
        }
    })?;
    Ok(lengths)
}
