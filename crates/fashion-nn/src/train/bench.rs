//! Throughput of training and inference steps ([`bench()`], `fashion bench`).

use super::*;

/// Throughput measured by [`bench()`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BenchResult {
    /// Images processed.
    pub images: usize,
    /// Seconds for the timed steps.
    pub seconds: f64,
    /// Images per second.
    pub images_per_sec: f64,
}

/// What [`bench()`] measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BenchMode {
    /// Training steps: forward, backward, AdamW update.
    Train,
    /// Inference: forward pass in inference mode.
    Infer,
}

/// Times `steps` training or inference steps of a freshly initialised network on
/// batches of `batch` random images (after `warmup` untimed steps), as the PyTorch
/// peer script `bench/pytorch_peer.py` does.
///
/// # Errors
/// [`Error::Params`] for `batch` or `steps` of 0 or an invalid model
/// configuration; tensor errors.
pub fn bench(
    model: &ModelConfig,
    mode: BenchMode,
    batch: usize,
    steps: usize,
    warmup: usize,
    seed: u64,
) -> Result<BenchResult> {
    if batch == 0 {
        return Err(Error::invalid("batch", "at least 1", 0));
    }
    if steps == 0 {
        return Err(Error::invalid("steps", "at least 1", 0));
    }
    let mut net = Model::new(model, seed)?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let x = Array2::from_shape_fn((batch, IMAGE_SIDE * IMAGE_SIDE), |_| rng.r#gen::<f32>());
    let y: Vec<u8> = (0..batch).map(|i| (i % NUM_CLASSES) as u8).collect();
    let mut stepper = Stepper::new(&net, Adam::default())?;
    let no_decay = TrainConfig {
        weight_decay: 0.0,
        ..TrainConfig::default()
    };
    let mut started = Instant::now();
    for s in 0..warmup + steps {
        if s == warmup {
            started = Instant::now();
        }
        match mode {
            BenchMode::Train => {
                stepper.step(&mut net, x.clone(), &y, 1e-4, &no_decay, &mut rng)?;
            }
            BenchMode::Infer => {
                net.features_of(&x, batch)?;
            }
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    Ok(BenchResult {
        images: batch * steps,
        seconds,
        images_per_sec: (batch * steps) as f64 / seconds,
    })
}
