//! Timings of `fashion_nn`'s convolution and pooling for the SmallCnn layer shapes
//! (batch 64, 3×3 "same" convolutions 1→32 on 28×28, 32→64 on 14×14, 64→128 on 7×7,
//! each followed by a 2×2 max-pool).
//!
//! `cargo bench -p fashion-nn --bench kernels`; the throughput is in images per second.
//! Forward FLOPs per image of a layer: 2 · C_out · H · W · C_in · 9 (the backward pass
//! costs about twice that). `forward_backward` includes dfdx's `sum()` and the allocation
//! of the gradients, as in training. `conv_block_b64` times a whole SmallCnn block
//! (conv → batch norm → ReLU → pool) fused ([`ConvBlock`]) against the same four ops
//! composed. `conv2d_1d_same_b64` times SeedCnn's thin layers (3×1 and 1×3, 32→32 on
//! 28×28; 2 · 32 · 784 · 96 forward FLOPs per image), which run on the direct kernels
//! on CPUs with AVX-512F. `sgemm_smallcnn` times the GEMMs those convolutions make (one
//! thread; the throughput is in FLOP/s), ours ([`fashion_nn::gemm::sgemm`]) against
//! `matrixmultiply::sgemm` ([`fashion_nn::gemm::sgemm_matrixmultiply`]), which give the
//! same bits.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use dfdx::prelude::*;
use fashion_nn::{
    Activation, BlockNorm, ConvBlock, Padding, Shape4, activate, batch_norm_train, conv2d,
    keep_freed_memory, max_pool2d,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const BATCH: usize = 64;
/// (C_in, C_out, H = W) of SmallCnn's three convolutions.
const LAYERS: [(usize, usize, usize); 3] = [(1, 32, 28), (32, 64, 14), (64, 128, 7)];

fn random(dev: &Cpu, rng: &mut ChaCha8Rng, shape: Shape4) -> Tensor<Shape4, f32, Cpu> {
    let len = shape.0 * shape.1 * shape.2 * shape.3;
    let data = (0..len).map(|_| rng.gen_range(-1.0f32..1.0)).collect();
    dev.tensor_from_vec(data, shape)
}

type Group<'a> = criterion::BenchmarkGroup<'a, criterion::measurement::WallTime>;

/// `forward` and `forward_backward` of one "same" convolution.
fn bench_conv_layer(
    group: &mut Group<'_>,
    name: &str,
    x: &Tensor<Shape4, f32, Cpu>,
    w: &Tensor<Shape4, f32, Cpu>,
    b: &Tensor<(usize,), f32, Cpu>,
) {
    group.bench_function(BenchmarkId::new("forward", name), |bench| {
        bench.iter(|| conv2d(x.clone(), w.clone(), b.clone(), Padding::Same).unwrap())
    });
    group.bench_function(BenchmarkId::new("forward_backward", name), |bench| {
        bench.iter(|| {
            let y = conv2d(x.leaky_trace(), w.clone(), b.clone(), Padding::Same).unwrap();
            y.sum().backward()
        })
    });
}

/// SmallCnn's GEMMs as its convolutions make them, per call: the forward pass
/// (`weight · cols`), the weight gradient (`grad_out · colsᵀ`, added on; in the first
/// layer, whose 9 taps are fewer than a tile's columns, its transpose `cols · grad_outᵀ`)
/// and the input gradient (`weightᵀ · grad_out`); one image per call in the first layer
/// (which needs no input gradient), eight in the others.
/// (name, m, k, n, a transposed, b transposed, β)
const GEMMS: [(&str, usize, usize, usize, bool, bool, f32); 8] = [
    ("conv1_forward", 32, 9, 784, false, false, 1.0),
    ("conv1_weight_grad", 9, 784, 32, false, true, 1.0),
    ("conv2_forward", 64, 288, 1568, false, false, 0.0),
    ("conv2_weight_grad", 64, 1568, 288, false, true, 1.0),
    ("conv2_input_grad", 288, 64, 1568, true, false, 0.0),
    ("conv3_forward", 128, 576, 392, false, false, 0.0),
    ("conv3_weight_grad", 128, 392, 576, false, true, 1.0),
    ("conv3_input_grad", 576, 128, 392, true, false, 0.0),
];

fn bench_gemm(c: &mut Criterion) {
    use fashion_nn::gemm::{Mat, sgemm, sgemm_matrixmultiply};
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let mut group = c.benchmark_group("sgemm_smallcnn");
    let view = |data: &'static [f32], rows: usize, cols: usize, transposed: bool| {
        if transposed {
            Mat::row_major(data, cols, rows).t()
        } else {
            Mat::row_major(data, rows, cols)
        }
    };
    for (name, m, k, n, at, bt, beta) in GEMMS {
        let mut fill = |len: usize| -> &'static [f32] {
            Box::leak((0..len).map(|_| rng.gen_range(-1.0f32..1.0)).collect())
        };
        let (a, b) = (view(fill(m * k), m, k, at), view(fill(k * n), k, n, bt));
        let mut out = fill(m * n).to_vec();
        group.throughput(Throughput::Elements((2 * m * k * n) as u64));
        group.bench_function(BenchmarkId::new("ours", name), |bench| {
            bench.iter(|| sgemm(a, b, beta, &mut out))
        });
        group.bench_function(BenchmarkId::new("matrixmultiply", name), |bench| {
            bench.iter(|| sgemm_matrixmultiply(a, b, beta, &mut out))
        });
    }
    group.finish();
}

fn bench_conv(c: &mut Criterion) {
    let dev = Cpu::seed_from_u64(0);
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let mut group = c.benchmark_group("conv2d_3x3_same_b64");
    group.throughput(Throughput::Elements(BATCH as u64));
    for (c_in, c_out, hw) in LAYERS {
        let x = random(&dev, &mut rng, (BATCH, c_in, hw, hw));
        let w = random(&dev, &mut rng, (c_out, c_in, 3, 3));
        let b = dev.tensor_from_vec(vec![0.1f32; c_out], (c_out,));
        let name = format!("{c_in}to{c_out}_{hw}x{hw}");
        bench_conv_layer(&mut group, &name, &x, &w, &b);
    }
    group.finish();
}

fn bench_conv_1d(c: &mut Criterion) {
    keep_freed_memory();
    let dev = Cpu::seed_from_u64(0);
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let mut group = c.benchmark_group("conv2d_1d_same_b64");
    group.throughput(Throughput::Elements(BATCH as u64));
    let x = random(&dev, &mut rng, (BATCH, 32, 28, 28));
    let b = dev.tensor_from_vec(vec![0.1f32; 32], (32,));
    for (kh, kw) in [(3, 1), (1, 3)] {
        let w = random(&dev, &mut rng, (32, 32, kh, kw));
        let name = format!("32to32_{kh}x{kw}_28x28");
        bench_conv_layer(&mut group, &name, &x, &w, &b);
    }
    group.finish();
}

fn bench_pool(c: &mut Criterion) {
    let dev = Cpu::seed_from_u64(0);
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let mut group = c.benchmark_group("max_pool2d_b64");
    group.throughput(Throughput::Elements(BATCH as u64));
    for (_, ch, hw) in LAYERS {
        let x = random(&dev, &mut rng, (BATCH, ch, hw, hw));
        let name = format!("{ch}x{hw}x{hw}");
        group.bench_function(BenchmarkId::new("forward", &name), |bench| {
            bench.iter(|| max_pool2d(x.clone()).unwrap())
        });
        group.bench_function(BenchmarkId::new("forward_backward", &name), |bench| {
            bench.iter(|| max_pool2d(x.leaky_trace()).unwrap().sum().backward())
        });
    }
    group.finish();
}

fn bench_block(c: &mut Criterion) {
    keep_freed_memory();
    let dev = Cpu::seed_from_u64(0);
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let mut group = c.benchmark_group("conv_block_b64");
    group.throughput(Throughput::Elements(BATCH as u64));
    for (c_in, c_out, hw) in LAYERS {
        let x = random(&dev, &mut rng, (BATCH, c_in, hw, hw));
        let w = random(&dev, &mut rng, (c_out, c_in, 3, 3));
        let b = dev.tensor_from_vec(vec![0.1f32; c_out], (c_out,));
        let scale = dev.tensor_from_vec(vec![1.0f32; c_out], (c_out,));
        let shift = dev.tensor_from_vec(vec![0.0f32; c_out], (c_out,));
        let block = ConvBlock {
            weight: &w,
            bias: Some(&b),
            norm: Some(BlockNorm::Batch {
                scale: &scale,
                shift: &shift,
                epsilon: 1e-5,
            }),
            activation: Some(Activation::Relu),
            pool: true,
            padding: Padding::Same,
        };
        let name = format!("{c_in}to{c_out}_{hw}x{hw}");
        group.bench_function(BenchmarkId::new("fused_forward_backward", &name), |bench| {
            bench.iter(|| block.forward(x.leaky_trace()).unwrap().0.sum().backward())
        });
        group.bench_function(
            BenchmarkId::new("composed_forward_backward", &name),
            |bench| {
                bench.iter(|| {
                    let y = conv2d(x.leaky_trace(), w.clone(), b.clone(), Padding::Same).unwrap();
                    let (y, _) = batch_norm_train(y, scale.clone(), shift.clone(), 1e-5).unwrap();
                    let y = max_pool2d(activate(y, Activation::Relu).unwrap()).unwrap();
                    y.sum().backward()
                })
            },
        );
    }
    group.finish();
}

criterion_group!(
    benches,
    bench_conv,
    bench_conv_1d,
    bench_pool,
    bench_block,
    bench_gemm
);
criterion_main!(benches);
