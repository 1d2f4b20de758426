//! Differentiable 2-D convolution and max-pooling on dfdx CPU tensors.
//!
//! dfdx 0.13's own `Conv2D` / `MaxPool2D` compile only with its `nightly` feature, which no
//! longer builds, so this module supplies them as custom ops on dfdx's tape:
//!
//! - [`conv2d`] / [`conv2d_no_bias`]: any KH×KW kernel, stride 1, [`Padding::Same`] or
//!   [`Padding::Valid`]; im2col + our SGEMM kernels (AVX-512 where the CPU has it, else
//!   AVX2; the same bits as `matrixmultiply`, which runs below AVX2), the batch spread
//!   over rayon's thread pool; in deep layers, whose weights outweigh an image's output,
//!   a few images share each GEMM. When output rows are as long as input rows (always
//!   with "same" padding) each im2col row is one shifted copy of the image plane, not one
//!   short copy per image row. One-dimensional kernels
//!   (3×1, 1×3, …) with "same" padding in layers whose output outweighs the weights
//!   (the seed model's thin 32-channel layers) run on direct AVX-512 kernels instead,
//!   with no im2col, where the CPU has AVX-512F;
//! - [`max_pool2d`]: 2×2 windows, stride 2, odd trailing rows/columns dropped.
//! - [`ConvBlock`]: conv → (batch norm) → (activation) → (max-pool) fused into one op
//!   (what the models use); the composed ops above (and [`batch_norm_train`],
//!   [`activate`]) are the reference it is tested against.
//!
//! All tensors are `f32` on [`Cpu`] with runtime shapes [`Shape4`] = `(N, C, H, W)`
//! (NCHW, like PyTorch). Const-shaped tensors convert with dfdx's
//! `realize::<Shape4>()`.
//!
//! # Tapes
//!
//! The ops follow dfdx's conventions: the tape travels with the input. With an
//! [`OwnedTape`](dfdx::tensor::OwnedTape) (`x.leaky_trace()`, `x.traced(grads)`) the op
//! records its backward pass; gradients for the weight and bias accumulate in the
//! [`Gradients`](dfdx::tensor::Gradients) entry keyed by *their* tensor ids, so
//! untaped parameters (`NoneTape`, as dfdx's own `Linear` keeps them) get gradients too,
//! exactly as with dfdx's matmul. With [`NoneTape`](dfdx::tensor::NoneTape) nothing is
//! recorded and nothing is kept for a backward pass.
//!
//! Non-contiguous inputs (permuted or broadcast views) are first made contiguous with
//! dfdx's own differentiable `try_contiguous`.
//!
//! # Memory
//!
//! A taped op keeps its input tensor (shared, not copied) and, for [`conv2d`], a copy of
//! the weights until the backward pass; pooling keeps one byte per output. dfdx lends no
//! view of a tensor's data, so each call copies its input once into a per-thread buffer
//! (again in the backward pass); that buffer and the per-thread im2col buffers are reused
//! across calls and keep the size of the largest layer seen.
//!
//! # Determinism
//!
//! The batch is cut into at most 16 work items whose boundaries depend only on the
//! batch size, and partial weight/bias gradients are summed in a fixed order, so results
//! are bit-identical whatever the number of rayon threads. They are also identical
//! across CPUs except for the 1-D convolutions above: the direct kernels sum in another
//! order than the GEMM, so a model with such layers (SeedCnn) gives slightly different
//! rounding on CPUs without AVX-512F.
//!
//! # Example
//!
//! ```
//! use dfdx::prelude::*;
//! use fashion_nn::{conv2d, max_pool2d, Padding};
//!
//! let dev = Cpu::default();
//! // One 1-channel 4×4 image of ones, one 3×3 kernel of ones, bias 0.5.
//! let x = dev.tensor_from_vec(vec![1.0f32; 16], (1, 1, 4, 4));
//! let w = dev.tensor_from_vec(vec![1.0f32; 9], (1, 1, 3, 3));
//! let b = dev.tensor_from_vec(vec![0.5f32], (1,));
//!
//! // "Same" padding: each output counts the ones its 3×3 window covers, plus the bias.
//! let y = conv2d(x.leaky_trace(), w.clone(), b.clone(), Padding::Same)?;
//! assert_eq!(y.shape(), &(1, 1, 4, 4));
//! assert_eq!(
//!     y.as_vec(),
//!     [4.5, 6.5, 6.5, 4.5, 6.5, 9.5, 9.5, 6.5, 6.5, 9.5, 9.5, 6.5, 4.5, 6.5, 6.5, 4.5]
//! );
//!
//! // 2×2 max-pooling: every window holds a 9.5 (the first maximum wins ties).
//! let p = max_pool2d(y)?;
//! assert_eq!(p.as_vec(), [9.5; 4]);
//!
//! // d(sum of pooled values)/d(bias) = 4 outputs; each pooled 9.5 is a window of 9 ones,
//! // so every kernel tap gets gradient 4.
//! let grads = p.sum().backward();
//! assert_eq!(grads.get(&b).as_vec(), [4.0]);
//! assert_eq!(grads.get(&w).as_vec(), [4.0; 9]);
//! # Ok::<(), fashion_nn::Error>(())
//! ```

mod error;
pub mod eval;
pub mod gemm;
pub mod train;

mod block;
mod conv;
mod direct;
mod layers;
mod models;
mod ops;
mod pool;
mod resample;
mod resnet;
mod spares;
#[cfg(test)]
mod tests;

pub use block::{
    BlockNorm, BlockOutput, ConvBlock, StackOptions, StackOutput, conv_stack, conv_stack_with,
};
pub use conv::{conv2d, conv2d_no_bias, conv2d_output_hw};
pub use layers::{BatchNorm, BlockParams, Conv, dropout};
pub use models::{
    Activations, LayerInfo, Logits, Model, ModelConfig, ModelKind, SeedCnn, SmallCnn, Taped,
};
pub use ops::{
    Activation, BatchStats, SELU_ALPHA, SELU_LAMBDA, activate, batch_norm_infer, batch_norm_train,
};
pub use pool::max_pool2d;
pub use resample::{global_avg_pool, keras_same_strided, residual_add, subsample2d};
pub use resnet::{Bottleneck, Projection, ResNet, ResNetAsWritten, ResNetCorrected};

pub use error::{Error, ParamError, Result};

use std::cell::RefCell;

use dfdx::shapes::{HasShape, Shape};
use dfdx::tensor::{Cpu, CpuError, Tensor};

/// Runtime 4-D shape `(N, C, H, W)` of the images and kernels these ops work on.
pub type Shape4 = (usize, usize, usize, usize);

/// How [`conv2d`] treats the image border (stride is always 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Padding {
    /// Zero-pad so that the output has the input's height and width: `KH − 1` rows and
    /// `KW − 1` columns in total, `(K − 1) / 2` before (top/left) and the rest after
    /// (bottom/right). For even kernel sizes the extra row/column therefore goes to the
    /// bottom/right, as in PyTorch's `padding="same"` and TensorFlow's `"SAME"`.
    Same,
    /// No padding: the output is `(H − KH + 1) × (W − KW + 1)`; the image must be at least
    /// as large as the kernel.
    Valid,
}

/// Maps dfdx's device error into the crate's error, naming the op.
fn tensor_err(op: &'static str) -> impl Fn(CpuError) -> crate::Error {
    move |source| crate::Error::Tensor { op, source }
}

/// Copies a contiguous tensor's elements (row-major) into a fresh `Vec`.
///
/// `copy_into` copies the raw storage, which is the row-major data for the contiguous
/// tensors the ops hand it (they call `try_contiguous` first); dfdx offers no borrowed
/// view of a tensor's data outside the crate.
fn to_vec<S: Shape, T>(t: &Tensor<S, f32, Cpu, T>) -> Vec<f32> {
    let mut v = vec![0.0; t.shape().num_elements()];
    t.copy_into(&mut v);
    v
}

thread_local! {
    /// Per-thread buffer for copies of op inputs, reused across calls so large inputs do
    /// not cost a fresh allocation (and its page faults) each time. It keeps the size of
    /// the largest input seen on the thread.
    static INPUT_COPY: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` on a row-major copy of a contiguous tensor's elements (see [`to_vec`]), held
/// in the calling thread's reusable buffer.
fn with_data<S: Shape, T, R>(t: &Tensor<S, f32, Cpu, T>, f: impl FnOnce(&[f32]) -> R) -> R {
    let n = t.shape().num_elements();
    INPUT_COPY.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => {
            if buf.len() < n {
                buf.resize(n, 0.0);
            }
            t.copy_into(&mut buf[..n]);
            f(&buf[..n])
        }
        // Re-entered on this thread (a rayon worker running a nested op): fresh copy.
        Err(_) => f(&to_vec(t)),
    })
}

/// Makes glibc keep freed memory for reuse instead of returning it to the system.
///
/// A training step allocates and frees the same large buffers (activations, gradients,
/// im2col matrices) every time. With glibc's defaults, blocks of a few hundred KiB are
/// served by `mmap` and unmapped on `free`, and the heap top is trimmed, so every step
/// pays page faults and TLB shootdowns for memory it just gave back: in `fashion bench
/// train` (SmallCnn, batch 64) more than half of the time went to the kernel. Raising the
/// mmap threshold to its maximum (32 MiB) and the trim threshold to 1 GiB keeps those
/// blocks in the heap; training throughput more than doubled and peak memory stays far
/// below the 2 GB budget.
///
/// Called once per process by [`Model::new`](crate::Model::new); call it yourself
/// when using the ops of this module without a [`Model`]. Idempotent; a no-op outside
/// glibc, and when the user set `MALLOC_MMAP_THRESHOLD_` or `MALLOC_TRIM_THRESHOLD_`
/// (their choice wins).
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            let user_set = ["MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_"]
                .iter()
                .any(|k| std::env::var_os(k).is_some());
            if !user_set {
                // SAFETY: mallopt only changes allocator parameters; it is thread-safe
                // in glibc and does not invalidate existing allocations.
                unsafe {
                    libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
                    libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
                }
            }
        });
    }
}

/// The environment variable that caps the vector instructions the kernels use: `avx2`
/// runs the code path of a CPU without AVX-512 (AMD Zen 3, for instance) on any CPU that
/// has AVX2, `baseline` the build's baseline (SSE2 on x86-64); unset, the widest the CPU
/// has. Read once per process. It caps this crate's own vectorised loops (element-wise
/// passes, col2im, the direct kernels), not the GEMMs: see [`gemm_level`]. To measure or
/// check the whole AVX2 path on an AVX-512 machine, use both (`FASHION_SIMD=avx2` and a
/// build without default features).
pub const SIMD_ENV: &str = "FASHION_SIMD";

/// A level of vector instructions, narrowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SimdLevel {
    /// The build's baseline (SSE2 on x86-64; anything on other architectures).
    Baseline,
    /// AVX2 (256-bit vectors).
    Avx2,
    /// AVX-512F (512-bit vectors; also enables the direct 1-D convolution kernels).
    Avx512,
}

impl SimdLevel {
    /// The name [`SIMD_ENV`] takes for this level.
    pub fn name(self) -> &'static str {
        match self {
            SimdLevel::Baseline => "baseline",
            SimdLevel::Avx2 => "avx2",
            SimdLevel::Avx512 => "avx512",
        }
    }
}

impl std::fmt::Display for SimdLevel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The widest vector instructions this CPU has.
fn cpu_simd_level() -> SimdLevel {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            return SimdLevel::Avx512;
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            return SimdLevel::Avx2;
        }
    }
    SimdLevel::Baseline
}

/// The vector instructions the kernels use in this process: the widest the CPU has,
/// capped by [`SIMD_ENV`] (`avx2` or `baseline`; `avx512` asks for no cap). A value it
/// does not know is reported once on stderr, naming the variable, and ignored.
pub fn simd_level() -> SimdLevel {
    static LEVEL: std::sync::OnceLock<SimdLevel> = std::sync::OnceLock::new();
    *LEVEL.get_or_init(|| {
        let cpu = cpu_simd_level();
        let asked = match std::env::var(SIMD_ENV) {
            Err(_) => return cpu,
            Ok(v) => v,
        };
        match [SimdLevel::Baseline, SimdLevel::Avx2, SimdLevel::Avx512]
            .into_iter()
            .find(|l| l.name() == asked.trim().to_ascii_lowercase())
        {
            Some(cap) => cap.min(cpu),
            None => {
                eprintln!(
                    "warning: {SIMD_ENV}={asked:?} ignored: expected avx512, avx2 or baseline; \
                     using {cpu}"
                );
                cpu
            }
        }
    })
}

/// The vector instructions of the convolutions' GEMM kernels in this process: our
/// AVX-512 kernels where the CPU has AVX-512F (with AVX2 and FMA) and the crate was built
/// with its `avx512` feature (default), else our AVX2 kernels where the CPU has AVX2 and
/// FMA, else the baseline (matrixmultiply's AVX or portable kernels). All give the same
/// bits. [`SIMD_ENV`] does not change it. To run the GEMMs of an AVX2-only CPU on an
/// AVX-512 one, build without default features
/// (`cargo build --release -p fashion-cli --no-default-features`).
pub fn gemm_level() -> SimdLevel {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::is_x86_feature_detected as has;
        if has!("avx2") && has!("fma") {
            if cfg!(feature = "avx512") && has!("avx512f") {
                return SimdLevel::Avx512;
            }
            return SimdLevel::Avx2;
        }
    }
    SimdLevel::Baseline
}

/// Runs `f` compiled for the vector unit [`simd_level`] chose (AVX-512, AVX2, or the
/// build's baseline, SSE2 on x86-64).
///
/// The crate is built for the baseline CPU, so its element-wise loops would otherwise
/// use 4-wide vectors only. `f` is inlined into a copy of this function compiled with
/// the wider instructions, chosen once at run time (the check is a cached flag). The
/// results are the same bit for bit on every path: Rust never fuses a multiply and an
/// add on its own, and the loops reduce in a fixed lane order, so only the vector width
/// changes. Wrap the body of a hot loop (inside any rayon closure), not a call that
/// leaves the crate.
#[inline(always)]
fn simd<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        match simd_level() {
            // SAFETY: simd_level() never exceeds what the CPU has (cpu_simd_level()).
            SimdLevel::Avx512 => return unsafe { simd_avx512(f) },
            // SAFETY: as above: the CPU has AVX2.
            SimdLevel::Avx2 => return unsafe { simd_avx2(f) },
            SimdLevel::Baseline => {}
        }
    }
    f()
}

/// [`simd`]'s AVX-512 copy.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn simd_avx512<R>(f: impl FnOnce() -> R) -> R {
    f()
}

/// [`simd`]'s AVX2 copy.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn simd_avx2<R>(f: impl FnOnce() -> R) -> R {
    f()
}

/// A vector of `n` zeros (default values), written by rayon's pool: a serial `vec![0; n]`
/// of a few MiB held up both cores while one thread cleared it.
fn par_zeros<T: Copy + Default + Send + Sync>(n: usize) -> Vec<T> {
    use rayon::prelude::*;
    use std::mem::MaybeUninit;
    let mut v = Vec::with_capacity(n);
    // Whole blocks (a memset each), not element by element as `par_extend` would write.
    v.spare_capacity_mut()[..n]
        .par_chunks_mut(1 << 16)
        .for_each(|c| c.fill(MaybeUninit::new(T::default())));
    // SAFETY: the first `n` elements were initialised just above.
    unsafe { v.set_len(n) };
    v
}

/// Largest number of work items a batch is cut into (see "Determinism" above).
const MAX_TASKS: usize = 16;

/// Images per work item: depends on the batch size only, never on the thread count.
fn images_per_task(n: usize) -> usize {
    n.div_ceil(MAX_TASKS).max(1)
}

/// Runs `f` on a thread of rayon's pool (on this thread if it is one). A training step
/// runs many parallel loops (each layer's passes, forward and backward); started from a
/// thread outside the pool (the program's main thread, a notebook kernel's), each is
/// handed to the pool and the caller sleeps until it is done, so the pool's threads wait
/// at every hand-over. Started on a thread of the pool, the loops begin there at once.
/// The results do not change: how the work is cut never depends on the threads.
pub(crate) fn on_pool<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    if rayon::current_thread_index().is_some() {
        f()
    } else {
        // Called from outside the pool, `join` runs both halves on a thread of it.
        rayon::join(f, || ()).0
    }
}

/// Sums equally long partial results in their given order, in parallel over elements,
/// and adds them onto `dst`.
fn add_partials(dst: &mut [f32], partials: &[Vec<f32>]) {
    use rayon::prelude::*;
    const BLOCK: usize = 4096;
    dst.par_chunks_mut(BLOCK).enumerate().for_each(|(i, d)| {
        let start = i * BLOCK;
        let mut acc = [0.0f32; BLOCK];
        let acc = &mut acc[..d.len()];
        simd(
            #[inline(always)]
            || {
                for part in partials {
                    for (a, &p) in acc.iter_mut().zip(&part[start..start + d.len()]) {
                        *a += p;
                    }
                }
                for (d, &a) in d.iter_mut().zip(&*acc) {
                    *d += a;
                }
            },
        );
    });
}
