//! Checks of [`conv2d`] and [`max_pool2d`] against naive f64 references and finite
//! differences, and of their integration with dfdx's tape.

use dfdx::nn::{DeviceBuildExt, Module};
use dfdx::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{
    Padding, Shape4, conv2d, conv2d_no_bias, global_avg_pool, keras_same_strided, max_pool2d,
    residual_add, subsample2d,
};
use crate::Error;

const KERNELS: [(usize, usize); 9] = [
    (3, 3),
    (3, 1),
    (1, 3),
    (7, 1),
    (1, 7),
    (1, 1),
    (2, 2),
    (4, 4),
    (2, 3),
];
const IMAGES: [(usize, usize); 4] = [(5, 7), (9, 8), (2, 3), (1, 1)];
const PADDINGS: [Padding; 2] = [Padding::Same, Padding::Valid];

fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

fn random_vec(rng: &mut ChaCha8Rng, len: usize) -> Vec<f32> {
    (0..len).map(|_| rng.gen_range(-1.0f32..1.0)).collect()
}

fn numel(s: Shape4) -> usize {
    s.0 * s.1 * s.2 * s.3
}

/// Every (kernel, image, padding) combination that is valid, with random channel counts.
fn configs() -> Vec<(Shape4, Shape4, Padding)> {
    let mut out = Vec::new();
    let mut r = rng(99);
    for &(kh, kw) in &KERNELS {
        for &(h, w) in &IMAGES {
            for &padding in &PADDINGS {
                if padding == Padding::Valid && (h < kh || w < kw) {
                    continue;
                }
                let n = r.gen_range(2..=3);
                let c_in = r.gen_range(2..=3);
                let c_out = r.gen_range(2..=4);
                out.push(((n, c_in, h, w), (c_out, c_in, kh, kw), padding));
            }
        }
    }
    out
}

/// Direct 7-loop convolution in f64; the padding rule is written out independently.
fn naive_conv(
    xs: Shape4,
    x: &[f64],
    ws: Shape4,
    w: &[f64],
    b: Option<&[f64]>,
    padding: Padding,
) -> (Shape4, Vec<f64>) {
    let (n, c_in, h, wd) = xs;
    let (c_out, _, kh, kw) = ws;
    let (ho, wo, top, left) = match padding {
        Padding::Same => (h, wd, (kh - 1) / 2, (kw - 1) / 2),
        Padding::Valid => (h - kh + 1, wd - kw + 1, 0, 0),
    };
    let mut out = vec![0.0; n * c_out * ho * wo];
    for i in 0..n {
        for o in 0..c_out {
            for y in 0..ho {
                for xx in 0..wo {
                    let mut acc = b.map_or(0.0, |b| b[o]);
                    for c in 0..c_in {
                        for u in 0..kh {
                            for v in 0..kw {
                                let iy = y as isize + u as isize - top as isize;
                                let ix = xx as isize + v as isize - left as isize;
                                if iy < 0 || ix < 0 || iy >= h as isize || ix >= wd as isize {
                                    continue;
                                }
                                let (iy, ix) = (iy as usize, ix as usize);
                                acc += w[((o * c_in + c) * kh + u) * kw + v]
                                    * x[((i * c_in + c) * h + iy) * wd + ix];
                            }
                        }
                    }
                    out[((i * c_out + o) * ho + y) * wo + xx] = acc;
                }
            }
        }
    }
    ((n, c_out, ho, wo), out)
}

fn to_f64(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| f64::from(x)).collect()
}

/// Max |a − b| divided by max(|b|) (at least `floor`).
fn rel_err(a: &[f32], b: &[f64], floor: f64) -> f64 {
    assert_eq!(a.len(), b.len());
    let scale = b.iter().fold(floor, |m, v| m.max(v.abs()));
    let diff = a
        .iter()
        .zip(b)
        .fold(0.0f64, |m, (&a, &b)| m.max((f64::from(a) - b).abs()));
    diff / scale
}

fn dev() -> Cpu {
    Cpu::seed_from_u64(0)
}

fn t4(dev: &Cpu, data: Vec<f32>, s: Shape4) -> Tensor<Shape4, f32, Cpu> {
    dev.tensor_from_vec(data, s)
}

fn t1(dev: &Cpu, data: Vec<f32>) -> Tensor<(usize,), f32, Cpu> {
    let n = data.len();
    dev.tensor_from_vec(data, (n,))
}

#[test]
fn conv2d_forward_matches_naive_convolution() {
    let dev = dev();
    let mut r = rng(1);
    let mut worst = 0.0f64;
    let cfgs = configs();
    assert!(cfgs.len() > 50, "{} configurations", cfgs.len());
    for (xs, ws, padding) in cfgs {
        let x = random_vec(&mut r, numel(xs));
        let w = random_vec(&mut r, numel(ws));
        let b = random_vec(&mut r, ws.0);
        let (os, expected) =
            naive_conv(xs, &to_f64(&x), ws, &to_f64(&w), Some(&to_f64(&b)), padding);
        let y = conv2d(t4(&dev, x, xs), t4(&dev, w, ws), t1(&dev, b), padding).unwrap();
        assert_eq!(*y.shape(), os, "{xs:?} {ws:?} {padding:?}");
        let err = rel_err(&y.as_vec(), &expected, 1.0);
        assert!(
            err < 1e-6,
            "{xs:?} {ws:?} {padding:?}: relative error {err:e}"
        );
        worst = worst.max(err);
    }
    println!("conv2d forward: worst relative error {worst:e}");
}

#[test]
fn conv2d_no_bias_matches_naive_convolution() {
    let dev = dev();
    let mut r = rng(2);
    for (xs, ws, padding) in configs().into_iter().step_by(5) {
        let x = random_vec(&mut r, numel(xs));
        let w = random_vec(&mut r, numel(ws));
        let (_, expected) = naive_conv(xs, &to_f64(&x), ws, &to_f64(&w), None, padding);
        let y = conv2d_no_bias(t4(&dev, x, xs), t4(&dev, w, ws), padding).unwrap();
        let err = rel_err(&y.as_vec(), &expected, 1.0);
        assert!(
            err < 1e-6,
            "{xs:?} {ws:?} {padding:?}: relative error {err:e}"
        );
    }
}

#[test]
fn same_padding_puts_the_extra_row_and_column_bottom_right() {
    // A 2×2 kernel with a single 1 at the top-left tap: with top/left padding 0, output
    // (i, j) reads x[i, j], i.e. the output equals the input.
    let dev = dev();
    let x: Vec<f32> = (1..=12).map(|v| v as f32).collect();
    let y = conv2d(
        t4(&dev, x.clone(), (1, 1, 3, 4)),
        t4(&dev, vec![1.0, 0.0, 0.0, 0.0], (1, 1, 2, 2)),
        t1(&dev, vec![0.0]),
        Padding::Same,
    )
    .unwrap();
    assert_eq!(y.as_vec(), x);
    // The bottom-right tap reads x[i + 1, j + 1]: zero past the last row and column.
    let y = conv2d(
        t4(&dev, x, (1, 1, 3, 4)),
        t4(&dev, vec![0.0, 0.0, 0.0, 1.0], (1, 1, 2, 2)),
        t1(&dev, vec![0.0]),
        Padding::Same,
    )
    .unwrap();
    assert_eq!(
        y.as_vec(),
        [6., 7., 8., 0., 10., 11., 12., 0., 0., 0., 0., 0.]
    );
}

/// The loss `Σ out ⊙ R` through dfdx's own `mul` and `sum`, backpropagated; returns the
/// gradients of x, w and b.
fn conv_grads(
    dev: &Cpu,
    (xs, x): (Shape4, &[f32]),
    (ws, w): (Shape4, &[f32]),
    b: Option<&[f32]>,
    rw: &[f32],
    padding: Padding,
) -> (Vec<f32>, Vec<f32>, Option<Vec<f32>>) {
    let x = t4(dev, x.to_vec(), xs);
    let w = t4(dev, w.to_vec(), ws);
    let b = b.map(|b| t1(dev, b.to_vec()));
    let y = match &b {
        Some(b) => conv2d(x.leaky_trace(), w.clone(), b.clone(), padding).unwrap(),
        None => conv2d_no_bias(x.leaky_trace(), w.clone(), padding).unwrap(),
    };
    let r = dev.tensor_from_vec(rw.to_vec(), *y.shape());
    let grads = (y * r).sum().backward();
    (
        grads.get(&x).as_vec(),
        grads.get(&w).as_vec(),
        b.map(|b| grads.get(&b).as_vec()),
    )
}

/// Central finite differences of `f` at `v` for the coordinates `which`.
fn fd(v: &[f64], which: &[usize], eps: f64, f: impl Fn(&[f64]) -> f64) -> Vec<f64> {
    let mut p = v.to_vec();
    which
        .iter()
        .map(|&i| {
            p[i] = v[i] + eps;
            let plus = f(&p);
            p[i] = v[i] - eps;
            let minus = f(&p);
            p[i] = v[i];
            (plus - minus) / (2.0 * eps)
        })
        .collect()
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(a, b)| a * b).sum()
}

/// Checks conv2d's backward pass against central differences of the f64 reference loss
/// `Σ naive_conv(x, w, b) ⊙ R` (linear in each argument, so the differences are exact up
/// to f64 rounding). `x_coords`: which input coordinates to check (all if `None`).
/// Returns the worst relative errors (x, w, b).
fn check_conv_grads(
    r: &mut ChaCha8Rng,
    xs: Shape4,
    ws: Shape4,
    padding: Padding,
    with_bias: bool,
    x_coords: Option<usize>,
) -> [f64; 3] {
    let dev = dev();
    let x = random_vec(r, numel(xs));
    let w = random_vec(r, numel(ws));
    let b = with_bias.then(|| random_vec(r, ws.0));
    let b64 = b.as_deref().map(to_f64);
    let (os, expected) = naive_conv(xs, &to_f64(&x), ws, &to_f64(&w), b64.as_deref(), padding);
    let rw = random_vec(r, numel(os));

    // The forward pass too (this covers large batches, whose images share GEMMs).
    let (xt, wt) = (t4(&dev, x.clone(), xs), t4(&dev, w.clone(), ws));
    let y = match &b {
        Some(b) => conv2d(xt, wt, t1(&dev, b.clone()), padding),
        None => conv2d_no_bias(xt, wt, padding),
    };
    let e = rel_err(&y.unwrap().as_vec(), &expected, 1.0);
    assert!(
        e < 1e-6,
        "{xs:?} {ws:?} {padding:?}: forward relative error {e:e}"
    );
    let (gx, gw, gb) = conv_grads(&dev, (xs, &x), (ws, &w), b.as_deref(), &rw, padding);

    let (x64, w64, r64) = (to_f64(&x), to_f64(&w), to_f64(&rw));
    let loss = |x: &[f64], w: &[f64], b: Option<&[f64]>| {
        dot(&naive_conv(xs, x, ws, w, b, padding).1, &r64)
    };
    let eps = 1e-3;
    let ctx = format!("{xs:?} {ws:?} {padding:?} bias={with_bias}");

    let xi: Vec<usize> = match x_coords {
        None => (0..x.len()).collect(),
        Some(k) => (0..k).map(|_| r.gen_range(0..x.len())).collect(),
    };
    let fd_x = fd(&x64, &xi, eps, |x| loss(x, &w64, b64.as_deref()));
    let gx_sel: Vec<f32> = xi.iter().map(|&i| gx[i]).collect();
    let ex = rel_err(&gx_sel, &fd_x, 1e-3);

    let wi: Vec<usize> = (0..w.len()).collect();
    let fd_w = fd(&w64, &wi, eps, |w| loss(&x64, w, b64.as_deref()));
    let ew = rel_err(&gw, &fd_w, 1e-3);

    let eb = match (&b64, &gb) {
        (Some(b64), Some(gb)) => {
            let bi: Vec<usize> = (0..b64.len()).collect();
            let fd_b = fd(b64, &bi, eps, |b| loss(&x64, &w64, Some(b)));
            rel_err(gb, &fd_b, 1e-3)
        }
        _ => 0.0,
    };
    for (name, e) in [("input", ex), ("weight", ew), ("bias", eb)] {
        assert!(e < 1e-5, "{ctx}: {name} gradient relative error {e:e}");
    }
    [ex, ew, eb]
}

#[test]
fn conv2d_gradients_match_finite_differences() {
    let mut r = rng(3);
    let mut worst = [0.0f64; 3];
    for (xs, ws, padding) in configs() {
        let e = check_conv_grads(&mut r, xs, ws, padding, true, None);
        for (w, e) in worst.iter_mut().zip(e) {
            *w = w.max(e);
        }
    }
    println!(
        "conv2d gradients: worst relative error input/weight/bias {:e} {:e} {:e}",
        worst[0], worst[1], worst[2]
    );
}

#[test]
fn conv2d_gradients_with_many_images_and_no_bias() {
    // More than 16 images: several images per work item, with a shorter last item. Where
    // C_in·KH·KW ≥ H_out·W_out the images of a work item share GEMMs in groups of up to
    // 8 (150 images: items of 10 = groups of 8 + 2).
    let mut r = rng(4);
    let cases = [
        ((35, 3, 6, 5), (4, 3, 3, 3), Padding::Same), // ungrouped: K 27 < P 30
        ((35, 3, 6, 5), (4, 3, 2, 3), Padding::Valid), // groups of 3, last item 2
        ((35, 4, 4, 3), (3, 4, 3, 3), Padding::Same), // groups of 3, last item 2
        ((150, 2, 3, 3), (2, 2, 3, 3), Padding::Same), // groups of 8 and 2
    ];
    for (xs, ws, padding) in cases {
        check_conv_grads(&mut r, xs, ws, padding, true, Some(60));
        check_conv_grads(&mut r, xs, ws, padding, false, Some(60));
    }
}

#[test]
fn conv2d_accumulates_gradients_of_reused_tensors() {
    // The same input and weight used twice: their gradients are the sum of both uses.
    let dev = dev();
    let mut r = rng(5);
    let (xs, ws) = ((2, 2, 5, 5), (3, 2, 3, 3));
    let x = t4(&dev, random_vec(&mut r, numel(xs)), xs);
    let w = t4(&dev, random_vec(&mut r, numel(ws)), ws);
    let b = t1(&dev, random_vec(&mut r, 3));
    let single = {
        let y = conv2d(x.leaky_trace(), w.clone(), b.clone(), Padding::Same).unwrap();
        y.sum().backward()
    };
    let y1 = conv2d(x.leaky_trace(), w.clone(), b.clone(), Padding::Same).unwrap();
    // (The tape travels with the input: an untaped x here would record nothing.)
    let y2 = conv2d(x.leaky_trace(), w.clone(), b.clone(), Padding::Same).unwrap();
    let grads = (y1 + y2).sum().backward();
    for (g2, g1) in grads.get(&w).as_vec().iter().zip(single.get(&w).as_vec()) {
        assert!(
            (g2 - 2.0 * g1).abs() <= 1e-5 * g1.abs().max(1.0),
            "{g2} vs 2 × {g1}"
        );
    }
    for (g2, g1) in grads.get(&x).as_vec().iter().zip(single.get(&x).as_vec()) {
        assert!(
            (g2 - 2.0 * g1).abs() <= 1e-5 * g1.abs().max(1.0),
            "{g2} vs 2 × {g1}"
        );
    }
}

#[test]
fn conv2d_without_tape_matches_taped_forward() {
    let dev = dev();
    let mut r = rng(6);
    let (xs, ws) = ((3, 2, 7, 6), (4, 2, 3, 3));
    let x = t4(&dev, random_vec(&mut r, numel(xs)), xs);
    let w = t4(&dev, random_vec(&mut r, numel(ws)), ws);
    let b = t1(&dev, random_vec(&mut r, 4));
    let plain: Tensor<Shape4, f32, Cpu, NoneTape> =
        conv2d(x.clone(), w.clone(), b.clone(), Padding::Same).unwrap();
    let taped = conv2d(x.leaky_trace(), w, b, Padding::Same).unwrap();
    assert_eq!(plain.as_vec(), taped.as_vec());
}

#[test]
fn conv2d_taped_weight_and_bias_get_gradients() {
    // Tapes may also arrive with the parameters; they are merged into the input's tape.
    let dev = dev();
    let mut r = rng(7);
    let (xs, ws) = ((2, 1, 4, 4), (2, 1, 3, 3));
    let x = t4(&dev, random_vec(&mut r, numel(xs)), xs);
    let w = t4(&dev, random_vec(&mut r, numel(ws)), ws);
    let b = t1(&dev, random_vec(&mut r, 2));
    let reference = conv2d(x.leaky_trace(), w.clone(), b.clone(), Padding::Same)
        .unwrap()
        .sum()
        .backward();
    let grads = conv2d(
        x.leaky_trace(),
        w.leaky_trace(),
        b.leaky_trace(),
        Padding::Same,
    )
    .unwrap()
    .sum()
    .backward();
    assert_eq!(grads.get(&w).as_vec(), reference.get(&w).as_vec());
    assert_eq!(grads.get(&b).as_vec(), reference.get(&b).as_vec());
    // d(Σ out)/d(bias) = N · H · W = 2 · 4 · 4 per channel.
    assert_eq!(grads.get(&b).as_vec(), [32.0, 32.0]);
}

#[test]
fn conv2d_accepts_non_contiguous_input() {
    // An NHWC tensor permuted to NCHW: same values and (permuted) gradients as the
    // contiguous NCHW tensor.
    let dev = dev();
    let mut r = rng(8);
    let (n, c, h, w) = (2, 3, 4, 5);
    let nchw = random_vec(&mut r, n * c * h * w);
    let mut nhwc = vec![0.0; nchw.len()];
    for i in 0..n {
        for ch in 0..c {
            for y in 0..h {
                for xx in 0..w {
                    nhwc[((i * h + y) * w + xx) * c + ch] = nchw[((i * c + ch) * h + y) * w + xx];
                }
            }
        }
    }
    let ws = (2, c, 3, 3);
    let wt = t4(&dev, random_vec(&mut r, numel(ws)), ws);
    let b = t1(&dev, vec![0.1, -0.2]);
    let x_nchw = t4(&dev, nchw, (n, c, h, w));
    let x_nhwc = t4(&dev, nhwc, (n, h, w, c));

    let y1 = conv2d(x_nchw.leaky_trace(), wt.clone(), b.clone(), Padding::Same).unwrap();
    let permuted = x_nhwc.leaky_trace().permute::<Shape4, Axes4<0, 3, 1, 2>>();
    let y2 = conv2d(permuted, wt.clone(), b.clone(), Padding::Same).unwrap();
    assert_eq!(y1.as_vec(), y2.as_vec());
    let g1 = y1.square().sum().backward();
    let g2 = y2.square().sum().backward();
    let (g1x, g2x) = (g1.get(&x_nchw).as_vec(), g2.get(&x_nhwc).as_vec());
    for i in 0..n {
        for ch in 0..c {
            for y in 0..h {
                for xx in 0..w {
                    assert_eq!(
                        g2x[((i * h + y) * w + xx) * c + ch],
                        g1x[((i * c + ch) * h + y) * w + xx]
                    );
                }
            }
        }
    }
    assert_eq!(g1.get(&wt).as_vec(), g2.get(&wt).as_vec());
}

#[test]
fn conv2d_is_bit_identical_across_thread_counts() {
    let mut r = rng(9);
    // Ungrouped and grouped GEMMs (see conv2d_gradients_with_many_images_and_no_bias).
    for (xs, ws) in [((40, 3, 9, 9), (8, 3, 3, 3)), ((40, 8, 5, 5), (6, 8, 3, 3))] {
        let x = random_vec(&mut r, numel(xs));
        let w = random_vec(&mut r, numel(ws));
        let b = random_vec(&mut r, ws.0);
        let rw = random_vec(&mut r, xs.0 * ws.0 * xs.2 * xs.3);
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| conv_grads(&dev(), (xs, &x), (ws, &w), Some(&b), &rw, Padding::Same))
        };
        let one = run(1);
        let three = run(3);
        assert_eq!(one, three, "{xs:?} {ws:?}");
    }
}

#[test]
fn conv2d_shape_errors_are_errors() {
    let dev = dev();
    let x = || t4(&dev, vec![0.0; 2 * 3 * 5 * 5], (2, 3, 5, 5));
    let w = |s: Shape4| t4(&dev, vec![0.0; numel(s)], s);
    let b = |n: usize| t1(&dev, vec![0.0; n]);
    type Conv = crate::Result<Tensor<Shape4, f32, Cpu>>;
    let cases: Vec<(&str, Conv)> = vec![
        ("C_in", conv2d(x(), w((4, 2, 3, 3)), b(4), Padding::Same)),
        ("bias", conv2d(x(), w((4, 3, 3, 3)), b(3), Padding::Same)),
        (
            "zero kernel",
            conv2d(x(), w((4, 3, 0, 3)), b(4), Padding::Same),
        ),
        (
            "zero C_out",
            conv2d(x(), w((0, 3, 3, 3)), b(0), Padding::Same),
        ),
        (
            "kernel larger than image",
            conv2d(x(), w((4, 3, 6, 1)), b(4), Padding::Valid),
        ),
        (
            "empty image",
            conv2d(
                t4(&dev, vec![], (2, 3, 0, 5)),
                w((4, 3, 3, 3)),
                b(4),
                Padding::Same,
            ),
        ),
        (
            "no-bias C_in",
            conv2d_no_bias(x(), w((4, 1, 3, 3)), Padding::Valid),
        ),
    ];
    for (name, result) in cases {
        match result {
            Err(Error::ShapeMismatch { op: "conv2d", .. }) => {}
            other => panic!("{name}: expected a conv2d ShapeMismatch, got {other:?}"),
        }
    }
    // The message says what was expected and found.
    let err = conv2d(x(), w((4, 2, 3, 3)), b(4), Padding::Same).unwrap_err();
    assert_eq!(
        err.to_string(),
        "conv2d: shape mismatch: expected weight (C_out, 3, KH, KW) for an input with 3 \
         channels, found weight (4, 2, 3, 3) for input (2, 3, 5, 5)"
    );
    // The kernel exactly as large as the image is fine with Valid padding.
    let y = conv2d(x(), w((4, 3, 5, 5)), b(4), Padding::Valid).unwrap();
    assert_eq!(*y.shape(), (2, 4, 1, 1));
    // An empty batch gives an empty result.
    let y = conv2d(
        t4(&dev, vec![], (0, 3, 5, 5)),
        w((4, 3, 3, 3)),
        b(4),
        Padding::Same,
    )
    .unwrap();
    assert_eq!(*y.shape(), (0, 4, 5, 5));
}

/// Naive 2×2/2 max-pool; returns the output and, per output, the flat input index of the
/// first maximum in row-major order.
fn naive_pool(xs: Shape4, x: &[f32]) -> (Shape4, Vec<f32>, Vec<usize>) {
    let (n, c, h, w) = xs;
    let (ho, wo) = (h / 2, w / 2);
    let mut out = Vec::new();
    let mut arg = Vec::new();
    for i in 0..n {
        for ch in 0..c {
            for y in 0..ho {
                for xx in 0..wo {
                    let mut best = (f32::NEG_INFINITY, usize::MAX);
                    for u in 0..2 {
                        for v in 0..2 {
                            let idx = ((i * c + ch) * h + 2 * y + u) * w + 2 * xx + v;
                            if best.1 == usize::MAX || x[idx] > best.0 {
                                best = (x[idx], idx);
                            }
                        }
                    }
                    out.push(best.0);
                    arg.push(best.1);
                }
            }
        }
    }
    ((n, c, ho, wo), out, arg)
}

const POOL_SHAPES: [Shape4; 6] = [
    (2, 3, 4, 4),
    (3, 2, 5, 7),
    (1, 1, 2, 2),
    (2, 2, 3, 2),
    (2, 2, 2, 3),
    (4, 5, 9, 6),
];

#[test]
fn max_pool2d_forward_matches_naive() {
    let dev = dev();
    let mut r = rng(10);
    for xs in POOL_SHAPES {
        let x = random_vec(&mut r, numel(xs));
        let (os, expected, _) = naive_pool(xs, &x);
        let xt = t4(&dev, x, xs);
        let y = max_pool2d(xt.clone()).unwrap();
        assert_eq!(*y.shape(), os, "{xs:?}");
        assert_eq!(y.as_vec(), expected, "{xs:?}");
        let taped = max_pool2d(xt.leaky_trace()).unwrap();
        assert_eq!(taped.as_vec(), expected, "{xs:?}");
    }
}

#[test]
fn max_pool2d_routes_gradients_to_the_maximum() {
    let dev = dev();
    let mut r = rng(11);
    for xs in POOL_SHAPES {
        let x = random_vec(&mut r, numel(xs));
        let (os, _, arg) = naive_pool(xs, &x);
        let rw = random_vec(&mut r, numel(os));
        let xt = t4(&dev, x, xs);
        let y = max_pool2d(xt.leaky_trace()).unwrap();
        let grads = (y * dev.tensor_from_vec(rw.clone(), os)).sum().backward();
        let mut expected = vec![0.0f32; numel(xs)];
        for (&i, &g) in arg.iter().zip(&rw) {
            expected[i] += g;
        }
        // Exact: every input element receives at most one output's gradient.
        assert_eq!(grads.get(&xt).as_vec(), expected, "{xs:?}");
    }
}

#[test]
fn max_pool2d_ties_go_to_the_first_maximum_and_dropped_edges_get_nothing() {
    let dev = dev();
    // One 3×5 channel: windows (rows 0-1) × (cols 0-1, 2-3); row 2 and column 4 are
    // dropped even though they hold the largest values.
    #[rustfmt::skip]
    let x = vec![
        1.0, 1.0,   2.0, 7.0,   100.0,
        1.0, 1.0,   7.0, 7.0,   100.0,
        100.0, 100.0, 100.0, 100.0, 100.0,
    ];
    let xt = t4(&dev, x, (1, 1, 3, 5));
    let y = max_pool2d(xt.leaky_trace()).unwrap();
    assert_eq!(*y.shape(), (1, 1, 1, 2));
    assert_eq!(y.as_vec(), [1.0, 7.0]);
    let grads = (y * dev.tensor_from_vec(vec![10.0, 20.0], (1, 1, 1, 2)))
        .sum()
        .backward();
    #[rustfmt::skip]
    let expected = [
        10.0, 0.0,   0.0, 20.0,   0.0,
        0.0, 0.0,    0.0, 0.0,    0.0,
        0.0, 0.0,    0.0, 0.0,    0.0,
    ];
    assert_eq!(grads.get(&xt).as_vec(), expected);

    // Ties between the bottom two only: the bottom-left wins; -0.0 and 0.0 compare equal,
    // so the first (top-left) wins.
    let xt = t4(
        &dev,
        vec![-1.0, -2.0, 5.0, 5.0, -0.0, 0.0, -1.0, -1.0],
        (1, 2, 2, 2),
    );
    let y = max_pool2d(xt.leaky_trace()).unwrap();
    assert_eq!(y.as_vec(), [5.0, 0.0]);
    let grads = y.sum().backward();
    assert_eq!(
        grads.get(&xt).as_vec(),
        [0.0, 0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0]
    );
}

#[test]
fn max_pool2d_propagates_nan() {
    let dev = dev();
    let xt = t4(&dev, vec![1.0, f32::NAN, 5.0, f32::NAN], (1, 1, 2, 2));
    let y = max_pool2d(xt.leaky_trace()).unwrap();
    assert!(y.as_vec()[0].is_nan());
    let grads = y.sum().backward();
    assert_eq!(grads.get(&xt).as_vec(), [0.0, 1.0, 0.0, 0.0]);
}

#[test]
fn max_pool2d_shape_errors_are_errors() {
    let dev = dev();
    for xs in [(1, 1, 1, 4), (1, 1, 4, 1), (2, 3, 0, 0)] {
        match max_pool2d(t4(&dev, vec![0.0; numel(xs)], xs)) {
            Err(Error::ShapeMismatch {
                op: "max_pool2d", ..
            }) => {}
            other => panic!("{xs:?}: expected a ShapeMismatch, got {other:?}"),
        }
    }
}

/// conv(1→3, 3×3 same) → relu → pool → flatten → Linear(27→4) → cross-entropy in f64,
/// from the same parameters.
fn reference_net_loss(
    x: &[f64],
    xs: Shape4,
    cw: &[f64],
    cb: &[f64],
    lw: &[f64],
    lb: &[f64],
    targets: &[usize],
) -> f64 {
    let (os, mut h) = naive_conv(xs, x, (3, 1, 3, 3), cw, Some(cb), Padding::Same);
    h.iter_mut().for_each(|v| *v = v.max(0.0));
    let (n, c, hh, ww) = os;
    let (ho, wo) = (hh / 2, ww / 2);
    let feat = c * ho * wo;
    let mut loss = 0.0;
    for i in 0..n {
        let mut f = Vec::with_capacity(feat);
        for ch in 0..c {
            for y in 0..ho {
                for xx in 0..wo {
                    let at =
                        |u: usize, v: usize| h[((i * c + ch) * hh + 2 * y + u) * ww + 2 * xx + v];
                    f.push(at(0, 0).max(at(0, 1)).max(at(1, 0)).max(at(1, 1)));
                }
            }
        }
        let logits: Vec<f64> = (0..4)
            .map(|o| lb[o] + dot(&lw[o * feat..(o + 1) * feat], &f))
            .collect();
        let m = logits.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let lse = m + logits.iter().map(|l| (l - m).exp()).sum::<f64>().ln();
        loss += lse - logits[targets[i]];
    }
    loss / n as f64
}

#[test]
fn conv_relu_pool_linear_backward_matches_finite_differences() {
    let dev = Cpu::seed_from_u64(12);
    let mut r = rng(12);
    let xs = (3, 1, 6, 6);
    let ws = (3, 1, 3, 3);
    let x = random_vec(&mut r, numel(xs));
    let cw = random_vec(&mut r, numel(ws));
    let cb: Vec<f32> = (0..3).map(|_| r.gen_range(-0.2..0.2)).collect();
    let targets = [2usize, 0, 3];
    let lin = dev.build_module::<dfdx::nn::builders::Linear<27, 4>, f32>();

    let xt = t4(&dev, x.clone(), xs);
    let cwt = t4(&dev, cw.clone(), ws);
    let cbt = t1(&dev, cb.clone());
    let mut onehot = vec![0.0f32; 3 * 4];
    for (i, &t) in targets.iter().enumerate() {
        onehot[i * 4 + t] = 1.0;
    }
    let target = dev.tensor_from_vec(onehot, (3usize, Const::<4>));
    let net = |x: Tensor<Shape4, f32, Cpu, OwnedTape<f32, Cpu>>, w, b| {
        let h = conv2d(x, w, b, Padding::Same).unwrap().relu();
        let p = max_pool2d(h).unwrap();
        let flat = p.reshape_like(&(3usize, Const::<27>));
        cross_entropy_with_logits_loss(lin.forward(flat), target.clone())
    };

    let loss = net(xt.leaky_trace(), cwt.clone(), cbt.clone());
    let loss_value = loss.array();
    let grads = loss.backward();
    let (gw, gb, gx) = (
        grads.get(&cwt).as_vec(),
        grads.get(&cbt).as_vec(),
        grads.get(&xt).as_vec(),
    );

    // The f64 reference computes the same loss as dfdx ...
    let (x64, cw64, cb64) = (to_f64(&x), to_f64(&cw), to_f64(&cb));
    let (lw64, lb64) = (to_f64(&lin.weight.as_vec()), to_f64(&lin.bias.as_vec()));
    let ref_loss = |x: &[f64], cw: &[f64], cb: &[f64]| {
        reference_net_loss(x, xs, cw, cb, &lw64, &lb64, &targets)
    };
    let l64 = ref_loss(&x64, &cw64, &cb64);
    assert!(
        (f64::from(loss_value) - l64).abs() < 1e-6 * l64.abs().max(1.0),
        "dfdx loss {loss_value} vs reference {l64}"
    );

    // ... and its central differences (f64, eps 1e-6: no relu/max switches) match the
    // gradients dfdx backpropagated through Linear, reshape, our pool, relu and our conv.
    let eps = 1e-6;
    let all = |n: usize| (0..n).collect::<Vec<_>>();
    let fd_w = fd(&cw64, &all(cw.len()), eps, |w| ref_loss(&x64, w, &cb64));
    let fd_b = fd(&cb64, &all(3), eps, |b| ref_loss(&x64, &cw64, b));
    let fd_x = fd(&x64, &all(x.len()), eps, |x| ref_loss(x, &cw64, &cb64));
    let (ew, eb, ex) = (
        rel_err(&gw, &fd_w, 1e-3),
        rel_err(&gb, &fd_b, 1e-3),
        rel_err(&gx, &fd_x, 1e-3),
    );
    println!("net gradients: relative error weight {ew:e}, bias {eb:e}, input {ex:e}");
    assert!(ew < 1e-4 && eb < 1e-4 && ex < 1e-4, "{ew:e} {eb:e} {ex:e}");
    assert!(gw.iter().any(|&g| g != 0.0));

    // Central differences of dfdx's own f32 forward pass. With eps = 1e-2 they straddle
    // relu/max switches (near this seed's point some pre-activations are within 1e-2 of
    // zero), so they differ from the gradient by ~1e-2 — but they equal the f64
    // reference's differences at the same eps: the reference *is* dfdx's function
    // around this point, and its exact gradient was checked above.
    let f32_loss = |w: &[f32], b: &[f32]| {
        let w = t4(&dev, w.to_vec(), ws);
        let b = t1(&dev, b.to_vec());
        f64::from(net(xt.leaky_trace(), w, b).array())
    };
    let eps = 1e-2f32;
    let mut fd32 = Vec::new();
    for i in 0..cw.len() {
        let mut w = cw.clone();
        w[i] = cw[i] + eps;
        let plus = f32_loss(&w, &cb);
        w[i] = cw[i] - eps;
        let minus = f32_loss(&w, &cb);
        fd32.push((plus - minus) / (2.0 * f64::from(eps)));
    }
    let fd64 = fd(&cw64, &all(cw.len()), f64::from(eps), |w| {
        ref_loss(&x64, w, &cb64)
    });
    let fd32_f32: Vec<f32> = fd32.iter().map(|&v| v as f32).collect();
    let same = rel_err(&fd32_f32, &fd64, 1e-3);
    println!("f32 dfdx vs f64 reference finite differences (eps 1e-2): relative error {same:e}");
    assert!(same < 1e-3, "{same:e}");
    let e32 = rel_err(&gw, &fd32, 1e-3);
    println!("net weight gradient vs f32 dfdx finite differences: relative error {e32:e}");
    assert!(e32 < 5e-2, "{e32:e}");
}

// --- fused activations and batch normalisation ------------------------------------------

use super::{Activation, SELU_ALPHA, SELU_LAMBDA, activate, batch_norm_infer, batch_norm_train};

fn act_ref(act: Activation, x: f64) -> f64 {
    let (l, a) = (f64::from(SELU_LAMBDA), f64::from(SELU_ALPHA));
    match act {
        Activation::Relu => x.max(0.0),
        Activation::Selu if x > 0.0 => l * x,
        Activation::Selu => l * a * (x.exp() - 1.0),
    }
}

#[test]
fn activations_match_reference_and_finite_differences() {
    let dev = dev();
    let mut r = rng(11);
    for act in [Activation::Relu, Activation::Selu] {
        // Keep away from the kink at 0, where finite differences straddle two branches.
        let x: Vec<f32> = random_vec(&mut r, 2 * 3 * 5 * 4)
            .into_iter()
            .map(|v| if v.abs() < 0.05 { v + 0.1 } else { v })
            .collect();
        let rw = random_vec(&mut r, x.len());
        let xt = t4(&dev, x.clone(), (2, 3, 5, 4));
        let y = activate(xt.leaky_trace(), act).unwrap();
        let expected: Vec<f64> = x.iter().map(|&v| act_ref(act, f64::from(v))).collect();
        assert!(
            rel_err(&y.as_vec(), &expected, 1.0) < 1e-6,
            "{act:?} forward"
        );
        let rt = dev.tensor_from_vec(rw.clone(), (2, 3, 5, 4));
        let grads = (y * rt).sum().backward();
        let r64 = to_f64(&rw);
        let all: Vec<usize> = (0..x.len()).collect();
        let fd_x = fd(&to_f64(&x), &all, 1e-4, |x| {
            dot(
                &x.iter().map(|&v| act_ref(act, v)).collect::<Vec<_>>(),
                &r64,
            )
        });
        let e = rel_err(&grads.get(&xt).as_vec(), &fd_x, 1e-3);
        assert!(e < 1e-4, "{act:?} gradient relative error {e:e}");
    }
    // ReLU's derivative at exactly 0 is 0 (PyTorch's convention).
    let z = dev.tensor_from_vec(vec![0.0f32], (1, 1, 1, 1));
    let g = activate(z.leaky_trace(), Activation::Relu)
        .unwrap()
        .sum()
        .backward();
    assert_eq!(g.get(&z).as_vec(), [0.0]);
}

/// f64 reference of batch normalisation in training mode.
fn bn_ref(xs: Shape4, x: &[f64], gamma: &[f64], beta: &[f64], eps: f64) -> Vec<f64> {
    let (n, c, h, w) = xs;
    let hw = h * w;
    let mut out = vec![0.0; x.len()];
    for ch in 0..c {
        let idx: Vec<usize> = (0..n)
            .flat_map(|i| (0..hw).map(move |p| (i * c + ch) * hw + p))
            .collect();
        let m = idx.len() as f64;
        let mean = idx.iter().map(|&i| x[i]).sum::<f64>() / m;
        let var = idx.iter().map(|&i| (x[i] - mean).powi(2)).sum::<f64>() / m;
        for &i in &idx {
            out[i] = (x[i] - mean) / (var + eps).sqrt() * gamma[ch] + beta[ch];
        }
    }
    out
}

#[test]
fn batch_norm_matches_reference_and_finite_differences() {
    let dev = dev();
    let mut r = rng(12);
    let eps = 1e-5f32;
    for xs in [(3, 2, 4, 5), (5, 3, 1, 1), (2, 4, 3, 3)] {
        let c = xs.1;
        let x = random_vec(&mut r, numel(xs));
        let gamma: Vec<f32> = random_vec(&mut r, c).iter().map(|v| v + 1.5).collect();
        let beta = random_vec(&mut r, c);
        let rw = random_vec(&mut r, numel(xs));
        let (x64, g64, b64, r64) = (to_f64(&x), to_f64(&gamma), to_f64(&beta), to_f64(&rw));

        let xt = t4(&dev, x.clone(), xs);
        let (gt, bt) = (t1(&dev, gamma.clone()), t1(&dev, beta.clone()));
        let (y, stats) = batch_norm_train(xt.leaky_trace(), gt.clone(), bt.clone(), eps).unwrap();
        let expected = bn_ref(xs, &x64, &g64, &b64, f64::from(eps));
        assert!(
            rel_err(&y.as_vec(), &expected, 1.0) < 1e-5,
            "{xs:?} forward"
        );
        assert_eq!(stats.count, xs.0 * xs.2 * xs.3);

        // Inference mode with the batch's own statistics gives the same output.
        let inf = batch_norm_infer(
            t4(&dev, x.clone(), xs),
            &gamma,
            &beta,
            &stats.mean,
            &stats.var,
            eps,
        )
        .unwrap();
        assert!(
            rel_err(&inf.as_vec(), &expected, 1.0) < 1e-5,
            "{xs:?} inference"
        );

        let rt = dev.tensor_from_vec(rw.clone(), xs);
        let grads = (y * rt).sum().backward();
        let e64 = f64::from(eps);
        let loss = |x: &[f64], g: &[f64], b: &[f64]| dot(&bn_ref(xs, x, g, b, e64), &r64);
        let all = |n: usize| (0..n).collect::<Vec<usize>>();
        let fd_x = fd(&x64, &all(x.len()), 1e-4, |x| loss(x, &g64, &b64));
        let fd_g = fd(&g64, &all(c), 1e-4, |g| loss(&x64, g, &b64));
        let fd_b = fd(&b64, &all(c), 1e-4, |b| loss(&x64, &g64, b));
        for (name, got, want) in [
            ("input", grads.get(&xt).as_vec(), fd_x),
            ("scale", grads.get(&gt).as_vec(), fd_g),
            ("bias", grads.get(&bt).as_vec(), fd_b),
        ] {
            let e = rel_err(&got, &want, 1e-2);
            assert!(e < 1e-3, "{xs:?}: {name} gradient relative error {e:e}");
        }
    }
}

#[test]
fn batch_norm_rejects_mismatched_vectors() {
    let dev = dev();
    let x = t4(&dev, vec![0.0; 8], (2, 2, 1, 2));
    let err =
        batch_norm_train(x, t1(&dev, vec![1.0; 3]), t1(&dev, vec![0.0; 2]), 1e-5).unwrap_err();
    assert!(
        matches!(
            err,
            Error::ShapeMismatch {
                op: "batch_norm",
                ..
            }
        ),
        "{err}"
    );
}

// --- fused conv block ---------------------------------------------------------------------

use super::{BlockNorm, ConvBlock};

/// Output and gradients (x, weight, bias, scale, shift) of a block, run either fused or
/// composed from the separately tested ops, for the loss Σ out·r.
#[allow(clippy::type_complexity, clippy::too_many_arguments)]
fn block_run(
    fused: bool,
    x: &Tensor<Shape4, f32, Cpu>,
    w: &Tensor<Shape4, f32, Cpu>,
    b: Option<&Tensor<(usize,), f32, Cpu>>,
    bn: Option<(&Tensor<(usize,), f32, Cpu>, &Tensor<(usize,), f32, Cpu>)>,
    act: Option<Activation>,
    pool: bool,
    padding: Padding,
    r_seed: u64,
) -> (Vec<f32>, Vec<Vec<f32>>, Option<super::BatchStats>) {
    let eps = 1e-5;
    let (y, stats) = if fused {
        let block = ConvBlock {
            weight: w,
            bias: b,
            norm: bn.map(|(scale, shift)| BlockNorm::Batch {
                scale,
                shift,
                epsilon: eps,
            }),
            activation: act,
            pool,
            padding,
        };
        block.forward(x.leaky_trace()).unwrap()
    } else {
        let mut y = match b {
            Some(b) => conv2d(x.leaky_trace(), w.clone(), b.clone(), padding).unwrap(),
            None => conv2d_no_bias(x.leaky_trace(), w.clone(), padding).unwrap(),
        };
        let mut stats = None;
        if let Some((s, t)) = bn {
            let (z, st) = batch_norm_train(y, s.clone(), t.clone(), eps).unwrap();
            y = z;
            stats = Some(st);
        }
        if let Some(a) = act {
            y = activate(y, a).unwrap();
        }
        if pool {
            y = max_pool2d(y).unwrap();
        }
        (y, stats)
    };
    let out = y.as_vec();
    let mut rr = rng(r_seed);
    let r = t4(&dev(), random_vec(&mut rr, out.len()), *y.shape());
    let grads = (y * r).sum().backward();
    let mut gs = vec![grads.get(x).as_vec(), grads.get(w).as_vec()];
    if let Some(b) = b {
        gs.push(grads.get(b).as_vec());
    }
    if let Some((s, t)) = bn {
        gs.push(grads.get(s).as_vec());
        gs.push(grads.get(t).as_vec());
    }
    (out, gs, stats)
}

#[test]
fn conv_block_matches_the_composed_ops() {
    let dev = dev();
    let mut r = rng(2024);
    let mut cases = 0;
    for &(kh, kw) in &[(3, 3), (3, 1), (1, 7), (2, 2)] {
        for &(h, w) in &[(6, 6), (7, 9), (4, 5)] {
            for &padding in &PADDINGS {
                for norm in [false, true] {
                    for act in [None, Some(Activation::Relu), Some(Activation::Selu)] {
                        for pool in [false, true] {
                            let (n, ci, co) = (3, 2, 3);
                            let Some((ho, wo)) = super::conv2d_output_hw((h, w), (kh, kw), padding)
                            else {
                                continue;
                            };
                            if pool && (ho < 2 || wo < 2) {
                                continue;
                            }
                            let xs = (n, ci, h, w);
                            let x = t4(&dev, random_vec(&mut r, numel(xs)), xs);
                            let ws = (co, ci, kh, kw);
                            let wt = t4(&dev, random_vec(&mut r, numel(ws)), ws);
                            let bias = r.gen_bool(0.5).then(|| t1(&dev, random_vec(&mut r, co)));
                            let scale: Vec<f32> = (0..co).map(|_| r.gen_range(-1.5..1.5)).collect();
                            let s = t1(&dev, scale);
                            let t = t1(&dev, random_vec(&mut r, co));
                            let bn = norm.then_some((&s, &t));
                            let run = |fused| {
                                block_run(fused, &x, &wt, bias.as_ref(), bn, act, pool, padding, 5)
                            };
                            let (out_f, g_f, st_f) = run(true);
                            let (out_c, g_c, st_c) = run(false);
                            let what = format!(
                                "kernel {kh}×{kw}, image {h}×{w}, {padding:?}, norm {norm}, {act:?}, pool {pool}"
                            );
                            assert!(
                                rel_err(&out_f, &to_f64(&out_c), 1e-3) < 1e-5,
                                "output differs: {what}"
                            );
                            assert_eq!(g_f.len(), g_c.len());
                            for (i, (a, b)) in g_f.iter().zip(&g_c).enumerate() {
                                if norm && bias.is_some() && i == 2 {
                                    // A bias before batch norm has a zero gradient: both
                                    // sides are rounding noise, summed in different orders.
                                    let max = a.iter().chain(b).fold(0.0f32, |m, v| m.max(v.abs()));
                                    assert!(max < 1e-4, "bias gradient {max} is not ~0: {what}");
                                    continue;
                                }
                                let e = rel_err(a, &to_f64(b), 1e-3);
                                assert!(e < 1e-4, "gradient {i} differs by {e}: {what}");
                            }
                            assert_eq!(st_f, st_c, "batch statistics differ: {what}");
                            cases += 1;
                        }
                    }
                }
            }
        }
    }
    assert!(cases > 200, "only {cases} cases ran");
}

#[test]
fn conv_block_with_running_statistics_is_the_folded_affine_map() {
    // With fixed statistics the normalisation is v = a·z + b per channel, which folds
    // into the convolution: weight·a, bias·a + b.
    let dev = dev();
    let mut r = rng(7);
    let (n, ci, co, h, w) = (2, 3, 4, 6, 5);
    let xs = (n, ci, h, w);
    let x = t4(&dev, random_vec(&mut r, numel(xs)), xs);
    let ws = (co, ci, 3, 3);
    let wv = random_vec(&mut r, numel(ws));
    let bv = random_vec(&mut r, co);
    let scale = random_vec(&mut r, co);
    let shift = random_vec(&mut r, co);
    let mean = random_vec(&mut r, co);
    let var: Vec<f32> = (0..co).map(|_| r.gen_range(0.1..2.0)).collect();
    let eps = 1e-5;
    let a: Vec<f32> = (0..co).map(|c| scale[c] / (var[c] + eps).sqrt()).collect();
    let folded_w: Vec<f32> = wv
        .iter()
        .enumerate()
        .map(|(i, v)| v * a[i / (ci * 9)])
        .collect();
    let folded_b: Vec<f32> = (0..co)
        .map(|c| bv[c] * a[c] + shift[c] - mean[c] * a[c])
        .collect();
    let (wt, bt) = (t4(&dev, wv, ws), t1(&dev, bv));
    let (fw, fb) = (t4(&dev, folded_w, ws), t1(&dev, folded_b));
    for act in [Some(Activation::Selu), Some(Activation::Relu)] {
        let running = ConvBlock {
            weight: &wt,
            bias: Some(&bt),
            norm: Some(BlockNorm::Running {
                scale: &scale,
                shift: &shift,
                mean: &mean,
                var: &var,
                epsilon: eps,
            }),
            activation: act,
            pool: true,
            padding: Padding::Same,
        };
        let folded = ConvBlock {
            weight: &fw,
            bias: Some(&fb),
            norm: None,
            ..running
        };
        let (y1, s1) = running.forward(x.leaky_trace()).unwrap();
        let (y2, _) = folded.forward(x.leaky_trace()).unwrap();
        assert!(s1.is_none());
        let v1 = y1.as_vec();
        assert!(rel_err(&v1, &to_f64(&y2.as_vec()), 1e-3) < 1e-5);
        let g1 = y1.sum().backward().get(&x).as_vec();
        let g2 = y2.sum().backward().get(&x).as_vec();
        assert!(rel_err(&g1, &to_f64(&g2), 1e-3) < 1e-4, "{act:?}");
        // Untaped, the same output.
        let (y3, _) = running.forward(x.clone()).unwrap();
        assert_eq!(y3.as_vec(), v1);
    }
}

#[test]
fn conv_block_shape_errors_are_errors() {
    let dev = dev();
    let x = t4(&dev, vec![0.0; 2 * 3 * 3], (2, 1, 3, 3));
    let w = t4(&dev, vec![0.0; 2 * 9], (2, 1, 3, 3));
    let short = t1(&dev, vec![1.0]);
    let ok = t1(&dev, vec![1.0; 2]);
    let block = ConvBlock {
        weight: &w,
        bias: None,
        norm: Some(BlockNorm::Batch {
            scale: &short,
            shift: &ok,
            epsilon: 1e-5,
        }),
        activation: None,
        pool: false,
        padding: Padding::Same,
    };
    let err = block.forward(x.clone()).unwrap_err();
    assert!(
        matches!(
            err,
            Error::ShapeMismatch {
                op: "conv_block",
                ..
            }
        ),
        "{err}"
    );
    // Valid 3×3 on 3×3 leaves 1×1: nothing to pool.
    let pooled = ConvBlock {
        norm: None,
        pool: true,
        padding: Padding::Valid,
        ..block
    };
    let err = pooled.forward(x.clone()).unwrap_err();
    assert!(err.to_string().contains("2×2"), "{err}");
    // A kernel with the wrong input channels is the convolution's error.
    let w2 = t4(&dev, vec![0.0; 2 * 2 * 9], (2, 2, 3, 3));
    let wrong = ConvBlock {
        weight: &w2,
        norm: None,
        ..block
    };
    assert!(matches!(
        wrong.forward(x).unwrap_err(),
        Error::ShapeMismatch { .. }
    ));
}

#[test]
fn exp_nonpositive_is_within_two_ulp() {
    use super::ops::exp_nonpositive;
    let mut worst = 0.0f64;
    let mut x = -87.0f32;
    while x <= 0.0 {
        let exact = f64::from(x).exp();
        let got = f64::from(exp_nonpositive(x));
        let ulp = f64::from(f32::EPSILON) * exact;
        worst = worst.max((got - exact).abs() / ulp);
        x += 0.000_731;
    }
    assert!(worst <= 2.0, "worst error {worst} ulp");
    assert_eq!(exp_nonpositive(0.0), 1.0);
    assert!(exp_nonpositive(-1000.0) < 1e-37);
    assert!(exp_nonpositive(f32::NAN).is_nan());
    // SELU propagates NaN (a diverging run must not be masked).
    assert!(Activation::Selu.f(f32::NAN).is_nan());
    assert!(Activation::Selu.df(f32::NAN).is_nan());
}

#[test]
fn conv_stack_is_bit_identical_to_blocks_one_by_one() {
    use super::conv_stack;
    let dev = dev();
    let mut r = rng(31);
    let xs = (3, 2, 9, 8);
    let x = t4(&dev, random_vec(&mut r, numel(xs)), xs);
    let w1 = t4(&dev, random_vec(&mut r, 4 * 2 * 3), (4, 2, 3, 1));
    let b1 = t1(&dev, random_vec(&mut r, 4));
    let (s1, t1v) = (
        t1(&dev, random_vec(&mut r, 4)),
        t1(&dev, random_vec(&mut r, 4)),
    );
    let w2 = t4(&dev, random_vec(&mut r, 3 * 4 * 3), (3, 4, 1, 3));
    let w3 = t4(&dev, random_vec(&mut r, 2 * 3 * 4), (2, 3, 2, 2));
    let b3 = t1(&dev, random_vec(&mut r, 2));
    let blocks = [
        ConvBlock {
            weight: &w1,
            bias: Some(&b1),
            norm: Some(BlockNorm::Batch {
                scale: &s1,
                shift: &t1v,
                epsilon: 1e-5,
            }),
            activation: Some(Activation::Selu),
            pool: false,
            padding: Padding::Same,
        },
        ConvBlock {
            weight: &w2,
            bias: None,
            norm: None,
            activation: Some(Activation::Relu),
            pool: true,
            padding: Padding::Same,
        },
        ConvBlock {
            weight: &w3,
            bias: Some(&b3),
            norm: None,
            activation: None,
            pool: false,
            padding: Padding::Valid,
        },
    ];
    let rv = random_vec(&mut r, 3 * 2 * 3 * 3);
    let loss = |y: Tensor<Shape4, f32, Cpu, OwnedTape<f32, Cpu>>| {
        let shape = *y.shape();
        assert_eq!(shape, (3, 2, 3, 3));
        (y * t4(&dev, rv.clone(), shape)).sum().backward()
    };
    let (y, stats) = conv_stack(&blocks, x.leaky_trace()).unwrap();
    let out = y.as_vec();
    let g = loss(y);
    let mut y1 = x.leaky_trace();
    let mut stats1 = Vec::new();
    for b in &blocks {
        let (y, st) = b.forward(y1).unwrap();
        y1 = y;
        stats1.push(st);
    }
    assert_eq!(out, y1.as_vec());
    assert_eq!(stats, stats1);
    assert!(stats[0].is_some() && stats[1].is_none());
    let g1 = loss(y1);
    for (name, a, b) in [
        ("x", g.get(&x).as_vec(), g1.get(&x).as_vec()),
        ("w1", g.get(&w1).as_vec(), g1.get(&w1).as_vec()),
        ("b1", g.get(&b1).as_vec(), g1.get(&b1).as_vec()),
        ("scale", g.get(&s1).as_vec(), g1.get(&s1).as_vec()),
        ("shift", g.get(&t1v).as_vec(), g1.get(&t1v).as_vec()),
        ("w2", g.get(&w2).as_vec(), g1.get(&w2).as_vec()),
        ("w3", g.get(&w3).as_vec(), g1.get(&w3).as_vec()),
        ("b3", g.get(&b3).as_vec(), g1.get(&b3).as_vec()),
    ] {
        assert_eq!(a, b, "gradient of {name}");
        // (b1 feeds a batch norm: its gradient is zero up to rounding.)
        assert!(
            name == "b1" || a.iter().any(|&v| v != 0.0),
            "gradient of {name} is all zero"
        );
    }
    // Spare buffers left by earlier passes are written over, never read: with NaNs
    // waiting in every length this stack uses (inputs, outputs, convolution outputs,
    // gradients, the work items' partial weight gradients), planted first in line ahead
    // of the spares the first pass gave back, the same output and gradients, bit for bit.
    let lengths = [432, 864, 648, 144, 54, 24, 36];
    for _ in 0..3 {
        for len in lengths {
            super::spares::plant_spare(vec![f32::NAN; len]);
        }
    }
    let planted = lengths.map(super::spares::nan_spares);
    let (y2, _) = conv_stack(&blocks, x.leaky_trace()).unwrap();
    assert_eq!(y2.as_vec(), out);
    let g2 = loss(y2);
    for t in [&x, &w1, &w2, &w3] {
        assert_eq!(g2.get(t).as_vec(), g.get(t).as_vec());
    }
    // ... and the passes did take the planted buffers: of every length, fewer are left.
    let left = lengths.map(super::spares::nan_spares);
    for ((len, p), l) in lengths.iter().zip(planted).zip(left) {
        assert!(
            l < p,
            "length {len}: {p} NaN spares planted, {l} left: none was taken"
        );
    }
    // Without the input's gradient: the same output and parameter gradients, bit for
    // bit, and no gradient for the input at all.
    let data_only = super::StackOptions::default().input_grad(false);
    let (y3, stats3) = super::conv_stack_with(&blocks, x.leaky_trace(), data_only).unwrap();
    assert_eq!((y3.as_vec(), stats3), (out.clone(), stats));
    let g3 = loss(y3);
    for t in [&w1, &w2, &w3] {
        assert_eq!(g3.get(t).as_vec(), g.get(t).as_vec());
    }
    for t in [&b1, &s1, &t1v, &b3] {
        assert_eq!(g3.get(t).as_vec(), g.get(t).as_vec());
    }
    let missing = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| g3.get(&x)));
    assert!(missing.is_err(), "the input got a gradient");
    // Untaped: the same output. No blocks: an error naming the parameter.
    assert_eq!(conv_stack(&blocks, x.clone()).unwrap().0.as_vec(), out);
    let err = conv_stack(&[], x).unwrap_err();
    assert!(err.to_string().contains("blocks"), "{err}");
}

#[test]
fn conv_block_matches_the_composed_ops_on_batches_of_many_work_items() {
    // 35 images: work items of 3 images, the last of 2; the fused path for fixed
    // normalisation convolves and finishes each work item (and each image group within
    // it, for the layers where images share a GEMM) on its own.
    let dev = dev();
    let mut r = rng(35);
    let mut cases = 0;
    // (C_in, kernel, image): a 3×3 layer deep enough that images share GEMMs
    // (C_in·9 ≥ H·W), thin factorised layers, and a 1×1 layer.
    for &(ci, (kh, kw), (h, w)) in &[
        (8, (3, 3), (6, 6)),
        (2, (3, 1), (10, 8)),
        (3, (1, 3), (9, 10)),
        (16, (1, 1), (4, 4)),
    ] {
        for &padding in &PADDINGS {
            for norm in [false, true] {
                for pool in [false, true] {
                    let (n, co) = (35, 5);
                    let xs = (n, ci, h, w);
                    let x = t4(&dev, random_vec(&mut r, numel(xs)), xs);
                    let ws = (co, ci, kh, kw);
                    let wt = t4(&dev, random_vec(&mut r, numel(ws)), ws);
                    let bias = t1(&dev, random_vec(&mut r, co));
                    let s = t1(&dev, (0..co).map(|_| r.gen_range(0.5..1.5)).collect());
                    let t = t1(&dev, random_vec(&mut r, co));
                    let bn = norm.then_some((&s, &t));
                    let act = Some(Activation::Selu);
                    let bias = (!norm).then_some(&bias);
                    let run = |fused| block_run(fused, &x, &wt, bias, bn, act, pool, padding, 9);
                    let (out_f, g_f, st_f) = run(true);
                    let (out_c, g_c, st_c) = run(false);
                    let what = format!(
                        "C_in {ci}, kernel {kh}×{kw}, {padding:?}, norm {norm}, pool {pool}"
                    );
                    assert!(
                        rel_err(&out_f, &to_f64(&out_c), 1e-3) < 1e-5,
                        "output differs: {what}"
                    );
                    assert_eq!(g_f.len(), g_c.len());
                    for (i, (a, b)) in g_f.iter().zip(&g_c).enumerate() {
                        let e = rel_err(a, &to_f64(b), 1e-3);
                        assert!(e < 1e-4, "gradient {i} differs by {e}: {what}");
                    }
                    assert_eq!(st_f, st_c, "batch statistics differ: {what}");
                    cases += 1;
                }
            }
        }
    }
    assert_eq!(cases, 32);
}

#[test]
fn dropout_masks_with_the_rngs_float_draws_and_routes_gradients_through_the_mask() {
    use super::dropout;
    let dev = dev();
    let mut r = rng(5);
    let (n, len) = (7, 3000);
    let xv = random_vec(&mut r, n * len);
    let x = dev.tensor_from_vec(xv.clone(), (n, len));
    for p in [0.2f32, 0.5, 0.9] {
        // The reference mask: one `gen::<f32>()` per element, dropped below p.
        let mut reference = rng(11);
        let keep = 1.0 / (1.0 - p);
        let mask: Vec<f32> = (0..n * len)
            .map(|_| {
                if reference.r#gen::<f32>() < p {
                    0.0
                } else {
                    keep
                }
            })
            .collect();
        let mut draws = rng(11);
        let y = dropout(x.leaky_trace(), p, &mut draws).unwrap();
        let expected: Vec<f32> = xv.iter().zip(&mask).map(|(x, m)| x * m).collect();
        assert_eq!(y.as_vec(), expected, "p = {p}");
        // The stream advanced by exactly one draw per element.
        assert_eq!(draws.r#gen::<u64>(), reference.r#gen::<u64>(), "p = {p}");
        let dropped = mask.iter().filter(|&&m| m == 0.0).count() as f64 / mask.len() as f64;
        assert!(
            (dropped - f64::from(p)).abs() < 0.02,
            "dropped {dropped} for p = {p}"
        );
        let g = dev.tensor_from_vec(random_vec(&mut r, n * len), (n, len));
        let gv = g.as_vec();
        let grads = (y * g).sum().backward();
        let gx: Vec<f32> = gv.iter().zip(&mask).map(|(g, m)| g * m).collect();
        assert_eq!(grads.get(&x).as_vec(), gx, "p = {p}");
    }
    // p = 0 is the identity; p outside [0, 1) is an error naming the parameter.
    let y = dropout(x.clone(), 0.0, &mut r).unwrap();
    assert_eq!(y.as_vec(), xv);
    for p in [1.0f32, -0.1, f32::NAN] {
        let err = dropout(x.clone(), p, &mut r).unwrap_err().to_string();
        assert!(err.contains("dropout"), "{err}");
    }
}

#[test]
fn direct_convolution_is_chosen_for_thin_layers_with_one_dimensional_kernels() {
    use super::conv::Geom;
    use super::direct::suits;
    let suits_for =
        |xs: Shape4, ws: Shape4, padding| suits(&Geom::new(xs, ws, None, padding).unwrap());
    // The seed model's thin layers: 3×1 / 1×3, 32 channels, 28×28.
    assert!(suits_for((2, 32, 28, 28), (32, 32, 3, 1), Padding::Same));
    assert!(suits_for((2, 32, 28, 28), (32, 32, 1, 3), Padding::Same));
    assert!(suits_for((2, 1, 28, 28), (32, 1, 3, 1), Padding::Same));
    // 2-D and 1×1 kernels, "valid" outputs smaller than the input, and layers whose
    // weights outweigh an image's output keep the im2col + GEMM path.
    assert!(!suits_for((2, 32, 28, 28), (32, 32, 3, 3), Padding::Same));
    assert!(!suits_for((2, 32, 28, 28), (32, 32, 1, 1), Padding::Same));
    assert!(!suits_for((2, 32, 28, 28), (32, 32, 3, 1), Padding::Valid));
    assert!(!suits_for((2, 64, 7, 7), (128, 64, 7, 1), Padding::Same));
}

/// The im2col + GEMM path's forward and backward pass for one work item.
fn gemm_path(
    g: &super::conv::Geom,
    x: &[f32],
    w: &[f32],
    b: Option<&[f32]>,
    grad_out: &[f32],
    grad_x0: &[f32],
    overwrite: bool,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    use super::conv::{GradOut, Plan, backward_images, forward_images};
    let plan = Plan::gemm(g, w.to_vec());
    let mut out = vec![f32::NAN; grad_out.len()];
    forward_images(g, g.n, x, &plan, b, &mut out, &mut |_, _| {});
    let mut grad_x = grad_x0.to_vec();
    let grad_out = GradOut::Given(grad_out);
    let (grad_w, _) = backward_images(g, g.n, x, &plan, grad_out, Some(&mut grad_x), overwrite);
    (out, grad_x, grad_w)
}

#[test]
fn direct_convolution_matches_the_im2col_path() {
    use super::conv::Geom;
    use super::direct::{Direct, cpu_has_avx512, suits};
    let mut r = rng(77);
    let mut checked = 0;
    // Odd and even 1-D kernels ("same" puts the extra tap bottom/right), taps in threes
    // and not, planes that are and are not whole vectors (28×28 = 49·16, 9×13, 17×3),
    // channel counts around the tiles (4 outputs × 6 vectors or inputs).
    let kernels = [
        (3, 1),
        (1, 3),
        (7, 1),
        (1, 7),
        (2, 1),
        (1, 4),
        (6, 1),
        (1, 5),
    ];
    let images = [(28, 28), (9, 13), (17, 3), (5, 7)];
    let channels = [(1, 1), (3, 5), (7, 8), (32, 9), (2, 4)];
    for (i, &(kh, kw)) in kernels.iter().enumerate() {
        for (j, &(h, w)) in images.iter().enumerate() {
            let (c_in, c_out) = channels[(i + j) % channels.len()];
            let xs = (2, c_in, h, w);
            let ws = (c_out, c_in, kh, kw);
            let g = Geom::new(xs, ws, Some(c_out), Padding::Same).unwrap();
            if !suits(&g) {
                continue;
            }
            checked += 1;
            let x = random_vec(&mut r, numel(xs));
            let wt = random_vec(&mut r, numel(ws));
            let b = random_vec(&mut r, c_out);
            let out_len = 2 * c_out * h * w;
            let grad_out = random_vec(&mut r, out_len);
            // The input gradient added onto what is there, or written over NaNs.
            let overwrite = j % 2 == 1;
            let grad_x0 = if overwrite {
                vec![f32::NAN; x.len()]
            } else {
                random_vec(&mut r, x.len())
            };
            // With and without bias (accumulators start from the bias or from zero).
            let bias = (i % 2 == 0).then_some(&b[..]);
            let (out_ref, gx_ref, gw_ref) =
                gemm_path(&g, &x, &wt, bias, &grad_out, &grad_x0, overwrite);
            let ctx = format!("x {xs:?}, w {ws:?}");
            if !cpu_has_avx512() {
                assert!(
                    Direct::new(&g, &wt).is_none(),
                    "{ctx}: direct path without AVX-512F"
                );
                continue;
            }
            let d = Direct::new(&g, &wt).expect("a suiting geometry on an AVX-512F CPU");
            let (len_in, len_out) = (c_in * h * w, c_out * h * w);
            let mut out = vec![f32::NAN; out_len];
            let mut grad_x = grad_x0.clone();
            let mut grad_w = vec![0.0f32; wt.len()];
            for n in 0..2 {
                let (xi, oi) = (n * len_in..(n + 1) * len_in, n * len_out..(n + 1) * len_out);
                d.forward(&x[xi.clone()], bias, &mut out[oi.clone()]);
                d.backward(
                    &x[xi.clone()],
                    &grad_out[oi],
                    Some(&mut grad_x[xi]),
                    &mut grad_w,
                    overwrite,
                );
            }
            for (name, got, want) in [
                ("output", &out, &out_ref),
                ("input gradient", &grad_x, &gx_ref),
                ("weight gradient", &grad_w, &gw_ref),
            ] {
                assert!(
                    want.iter().all(|v| v.is_finite()),
                    "{ctx}: {name} reference not finite"
                );
                let scale = want.iter().fold(1.0f32, |m, v| m.max(v.abs()));
                let err = got
                    .iter()
                    .zip(want.iter())
                    .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
                assert!(
                    err <= 1e-5 * scale,
                    "{ctx}: {name} differs by {err:e} (scale {scale})"
                );
            }
        }
    }
    assert!(
        checked >= 20,
        "only {checked} geometries suited the direct path"
    );
    if cpu_has_avx512() {
        println!("direct convolution: {checked} geometries agree with im2col + GEMM");
    } else {
        println!("no AVX-512F: the {checked} geometries take the im2col + GEMM path");
    }
}

// --- Strided "same" convolution, residual addition, global average pooling ------------

/// f64 reference: convolution with stride `s` and TensorFlow/Keras "same" padding
/// (`⌈H/s⌉` outputs; `max((⌈H/s⌉ − 1)·s + K − H, 0)` zeros, the smaller half before).
fn naive_strided_same(
    xs: Shape4,
    x: &[f64],
    ws: Shape4,
    w: &[f64],
    b: &[f64],
    s: usize,
) -> (Shape4, Vec<f64>) {
    let (n, c, h, wd) = xs;
    let (co, _, kh, kw) = ws;
    let geometry = |len: usize, k: usize| {
        let out = len.div_ceil(s);
        let pad = ((out - 1) * s + k).saturating_sub(len);
        (out, pad / 2)
    };
    let ((ho, pt), (wo, pl)) = (geometry(h, kh), geometry(wd, kw));
    let mut y = vec![0.0; n * co * ho * wo];
    for i in 0..n {
        for o in 0..co {
            for a in 0..ho {
                for q in 0..wo {
                    let mut acc = b[o];
                    for ci in 0..c {
                        for u in 0..kh {
                            for v in 0..kw {
                                let (r, t) =
                                    ((s * a + u).checked_sub(pt), (s * q + v).checked_sub(pl));
                                if let (Some(r), Some(t)) = (r, t)
                                    && r < h
                                    && t < wd
                                {
                                    acc += w[((o * c + ci) * kh + u) * kw + v]
                                        * x[((i * c + ci) * h + r) * wd + t];
                                }
                            }
                        }
                    }
                    y[((i * co + o) * ho + a) * wo + q] = acc;
                }
            }
        }
    }
    ((n, co, ho, wo), y)
}

/// The strided convolution as the ResNet runs it: stride-1 "same", then subsampled at
/// the offsets [`keras_same_strided`] gives.
fn strided_same<T: Tape<f32, Cpu> + Merge<NoneTape>>(
    x: Tensor<Shape4, f32, Cpu, T>,
    w: Tensor<Shape4, f32, Cpu>,
    b: Tensor<(usize,), f32, Cpu>,
    s: usize,
) -> Tensor<Shape4, f32, Cpu, T> {
    let (_, _, h, wd) = *x.shape();
    let (_, _, kh, kw) = *w.shape();
    let (_, oh) = keras_same_strided(h, kh, s).unwrap();
    let (_, ow) = keras_same_strided(wd, kw, s).unwrap();
    subsample2d(conv2d(x, w, b, Padding::Same).unwrap(), s, (oh, ow)).unwrap()
}

#[test]
fn strided_same_convolution_matches_keras_padding_and_finite_differences() {
    let dev = dev();
    let mut r = rng(21);
    // Even and odd sizes (Keras pads one more zero after than before when the total is
    // odd), square and not, 1×1 to 7×7 kernels, strides 2 and 3.
    for (xs, (kh, kw), s) in [
        ((2, 2, 7, 7), (1, 1), 2),
        ((2, 2, 6, 5), (3, 3), 2),
        ((1, 3, 5, 8), (3, 1), 2),
        ((2, 1, 10, 10), (7, 7), 2),
        ((1, 2, 9, 7), (5, 3), 3),
        ((1, 1, 2, 2), (3, 3), 2),
    ] {
        let ws = (3, xs.1, kh, kw);
        let (x, w, b) = (
            random_vec(&mut r, numel(xs)),
            random_vec(&mut r, numel(ws)),
            random_vec(&mut r, 3),
        );
        let (os, expected) = naive_strided_same(xs, &to_f64(&x), ws, &to_f64(&w), &to_f64(&b), s);
        let (xt, wt, bt) = (
            t4(&dev, x.clone(), xs),
            t4(&dev, w.clone(), ws),
            t1(&dev, b.clone()),
        );
        let y = strided_same(xt.leaky_trace(), wt.clone(), bt.clone(), s);
        assert_eq!(*y.shape(), os, "{xs:?} {ws:?} stride {s}");
        let e = rel_err(&y.as_vec(), &expected, 1.0);
        assert!(
            e < 1e-6,
            "{xs:?} {ws:?} stride {s}: forward relative error {e:e}"
        );

        // Σ y ⊙ R is linear in x, w and b, so central differences of the f64 reference
        // are exact up to rounding.
        let rw = random_vec(&mut r, numel(os));
        let rt = dev.tensor_from_vec(rw.clone(), os);
        let grads = (y * rt).sum().backward();
        let r64 = to_f64(&rw);
        let (x64, w64, b64) = (to_f64(&x), to_f64(&w), to_f64(&b));
        let loss =
            |x: &[f64], w: &[f64], b: &[f64]| dot(&naive_strided_same(xs, x, ws, w, b, s).1, &r64);
        let all = |n: usize| (0..n).collect::<Vec<_>>();
        let fd_x = fd(&x64, &all(x.len()), 1e-3, |v| loss(v, &w64, &b64));
        let ex = rel_err(&grads.get(&xt).as_vec(), &fd_x, 1e-3);
        assert!(
            ex < 1e-5,
            "{xs:?} {ws:?} stride {s}: input gradient error {ex:e}"
        );

        // The parameters' gradients accumulate under their ids.
        let fd_w = fd(&w64, &all(w.len()), 1e-3, |v| loss(&x64, v, &b64));
        let fd_b = fd(&b64, &all(3), 1e-3, |v| loss(&x64, &w64, v));
        let ew = rel_err(&grads.get(&wt).as_vec(), &fd_w, 1e-3);
        let eb = rel_err(&grads.get(&bt).as_vec(), &fd_b, 1e-3);
        assert!(
            ew < 1e-5 && eb < 1e-5,
            "{xs:?} {ws:?} stride {s}: weight {ew:e}, bias {eb:e}"
        );
    }
    assert_eq!(keras_same_strided(5, 3, 2), Some((3, 0)));
    assert_eq!(keras_same_strided(6, 3, 2), Some((3, 1)));
}

#[test]
fn residual_branches_and_global_average_pooling_match_finite_differences() {
    let dev = dev();
    let mut r = rng(22);
    let xs = (2, 3, 5, 4);
    // Away from SELU's kink at 0.
    let x: Vec<f32> = random_vec(&mut r, numel(xs))
        .into_iter()
        .map(|v| if v.abs() < 0.05 { v + 0.1 } else { v })
        .collect();
    let rw = random_vec(&mut r, 2 * 3);
    let xt = t4(&dev, x.clone(), xs);
    // x feeds two branches, joined again: pooled(SELU(x) + x).
    let xl = xt.leaky_trace();
    let y = residual_add(
        activate(xl.with_empty_tape(), Activation::Selu).unwrap(),
        xl,
    )
    .unwrap();
    let p = global_avg_pool(y).unwrap();
    assert_eq!(*p.shape(), (2, 3));
    let reference = |x: &[f64]| -> Vec<f64> {
        x.chunks(20)
            .map(|plane| {
                plane
                    .iter()
                    .map(|&v| act_ref(Activation::Selu, v) + v)
                    .sum::<f64>()
                    / 20.0
            })
            .collect()
    };
    let e = rel_err(&p.as_vec(), &reference(&to_f64(&x)), 1.0);
    assert!(e < 1e-6, "forward relative error {e:e}");
    let grads = (p * dev.tensor_from_vec(rw.clone(), (2, 3)))
        .sum()
        .backward();
    let r64 = to_f64(&rw);
    let all: Vec<usize> = (0..x.len()).collect();
    let fd_x = fd(&to_f64(&x), &all, 1e-4, |x| dot(&reference(x), &r64));
    let e = rel_err(&grads.get(&xt).as_vec(), &fd_x, 1e-3);
    assert!(
        e < 1e-4,
        "gradient through both branches: relative error {e:e}"
    );

    // Bad shapes are errors naming the op.
    let other = t4(&dev, vec![0.0; 2 * 3 * 4 * 4], (2, 3, 4, 4));
    let err = residual_add(xt.clone(), other).unwrap_err();
    assert!(
        matches!(
            err,
            Error::ShapeMismatch {
                op: "residual_add",
                ..
            }
        ),
        "{err}"
    );
    let err = subsample2d(xt.clone(), 0, (0, 0)).unwrap_err();
    assert!(
        matches!(
            err,
            Error::ShapeMismatch {
                op: "subsample2d",
                ..
            }
        ),
        "{err}"
    );
    assert!(subsample2d(xt.clone(), 2, (0, 4)).is_err());
    let empty = t4(&dev, vec![], (2, 3, 0, 4));
    assert!(global_avg_pool(empty).is_err());
}

#[test]
fn on_pool_runs_on_a_thread_of_the_pool() {
    assert!(rayon::current_thread_index().is_none());
    let (inside, value) = super::on_pool(|| (rayon::current_thread_index(), 7));
    assert!(inside.is_some(), "not run on a thread of the pool");
    assert_eq!(value, 7);
    // On a thread of a pool already: runs right there.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    let (caller, ran_on) = pool.install(|| {
        let caller = std::thread::current().id();
        (caller, super::on_pool(|| std::thread::current().id()))
    });
    assert_eq!(caller, ran_on);
}
