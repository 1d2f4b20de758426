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

/// [`pool_row`] on AVX2 where [`simd_level`](crate::simd_level) allows it, eight windows
/// per step, with the same maxima and winners bit for bit (the comparisons are the same,
/// lane by lane). `top` and `bottom` may be longer than `2 · out.len()`: when they hold
/// 16 elements for every started group of eight windows, the last group is vectorised
/// too (the elements past `2 · out.len()` are read and ignored).
#[inline]
pub(super) fn pool_row_fast(top: &[f32], bottom: &[f32], out: &mut [f32], argmax: &mut [u8]) {
    let wo = out.len();
    assert!(top.len() >= 2 * wo && bottom.len() >= 2 * wo && argmax.len() == wo);
    #[cfg(target_arch = "x86_64")]
    if crate::simd_level() >= crate::SimdLevel::Avx2 {
        // SAFETY: the CPU has AVX2 (simd_level never exceeds it); lengths asserted above.
        let done = unsafe { avx2::pool_groups(top, bottom, out, argmax) };
        pool_row(
            &top[2 * done..2 * wo],
            &bottom[2 * done..2 * wo],
            &mut out[done..],
            &mut argmax[done..],
        );
        return;
    }
    pool_row(&top[..2 * wo], &bottom[..2 * wo], out, argmax);
}

/// The gradient of one row of pooled windows, spread back over the window's elements:
/// element `x` of `grad` (`2 · go.len()` long) gets `a · (go[x / 2] · d[x])` (added to
/// zero) if it won its window, `code + x % 2` being the winner's number in `argmax`
/// (`code` is 0 for the windows' top row, 2 for their bottom row), and zero otherwise.
/// `d` holds the activation's derivative at each element.
#[inline]
pub(super) fn unpool_row(go: &[f32], argmax: &[u8], d: &[f32], a: f32, code: u8, grad: &mut [f32]) {
    for (((&gy, &am), d), g) in go
        .iter()
        .zip(argmax)
        .zip(d.chunks_exact(2))
        .zip(grad.chunks_exact_mut(2))
    {
        for k in 0..2 {
            g[k] = if am == code + k as u8 {
                0.0 + a * (gy * d[k])
            } else {
                0.0
            };
        }
    }
}

/// [`unpool_row`] on AVX2 where [`simd_level`](crate::simd_level) allows it, eight
/// windows per step, with the same results bit for bit. If `go` and `argmax` hold 8, and
/// `d` and `grad` 16, elements for every started group of eight windows, the last group
/// is vectorised too (writing `grad` past `2 · n`, for `n` windows, with values to ignore).
#[inline]
pub(super) fn unpool_row_fast(
    n: usize,
    go: &[f32],
    argmax: &[u8],
    d: &[f32],
    a: f32,
    code: u8,
    grad: &mut [f32],
) {
    assert!(go.len() >= n && argmax.len() >= n && d.len() >= 2 * n && grad.len() >= 2 * n);
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if crate::simd_level() >= crate::SimdLevel::Avx2 {
        // SAFETY: the CPU has AVX2 (simd_level never exceeds it); lengths asserted above.
        done = unsafe { avx2::unpool_groups(n, go, argmax, d, a, code, grad) };
    }
    unpool_row(
        &go[done..n],
        &argmax[done..n],
        &d[2 * done..2 * n],
        a,
        code,
        &mut grad[2 * done..2 * n],
    );
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    /// How many groups of eight windows (16 elements of the window rows each) slices
    /// of `room` elements allow: all started ones if they hold them, else the whole ones.
    fn groups(n: usize, room: usize) -> usize {
        if room >= 16 * n.div_ceil(8) {
            n.div_ceil(8)
        } else {
            n / 8
        }
    }

    /// The four elements of eight windows, deinterleaved: even and odd elements of the
    /// 16 floats at `p`.
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn pairs(p: *const f32) -> (__m256, __m256) {
        // SAFETY (caller): 16 floats readable at p.
        let (lo, hi) = unsafe { (_mm256_loadu_ps(p), _mm256_loadu_ps(p.add(8))) };
        // Within each 128-bit lane: lo0 lo2 hi0 hi2 | lo4 lo6 hi4 hi6; then the 64-bit
        // quarters reordered 0, 2, 1, 3.
        let ev = _mm256_shuffle_ps::<0b10_00_10_00>(lo, hi);
        let od = _mm256_shuffle_ps::<0b11_01_11_01>(lo, hi);
        let order = |v: __m256| {
            _mm256_castpd_ps(_mm256_permute4x64_pd::<0b11_01_10_00>(_mm256_castps_pd(v)))
        };
        (order(ev), order(od))
    }

    /// Each of the eight lanes of `v` twice: (v0 v0 v1 v1 v2 v2 v3 v3, v4 v4 … v7 v7).
    #[inline]
    #[target_feature(enable = "avx2")]
    fn twice(v: __m256) -> (__m256, __m256) {
        let (lo, hi) = (_mm256_unpacklo_ps(v, v), _mm256_unpackhi_ps(v, v));
        (
            _mm256_permute2f128_ps::<0x20>(lo, hi),
            _mm256_permute2f128_ps::<0x31>(lo, hi),
        )
    }

    /// Pools the windows of [`super::pool_row_fast`] eight at a time; returns how many
    /// windows it did.
    ///
    /// # Safety
    /// The CPU must have AVX2; `top.len(), bottom.len() ≥ 2 · out.len() = 2 · argmax.len()`.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn pool_groups(
        top: &[f32],
        bottom: &[f32],
        out: &mut [f32],
        argmax: &mut [u8],
    ) -> usize {
        let wo = out.len();
        let groups = groups(wo, top.len().min(bottom.len()));
        for gi in 0..groups {
            // SAFETY: groups() keeps 16 · (gi + 1) within both slices.
            let (t0, t1) = unsafe { pairs(top.as_ptr().add(16 * gi)) };
            let (b0, b1) = unsafe { pairs(bottom.as_ptr().add(16 * gi)) };
            let (mut best, mut arg) = (t0, _mm256_setzero_ps());
            for (k, v) in [(1, t1), (2, b0), (3, b1)] {
                // As pool_row: v wins if !(v <= best) and best is not NaN.
                let wins = _mm256_and_ps(
                    _mm256_cmp_ps::<_CMP_NLE_UQ>(v, best),
                    _mm256_cmp_ps::<_CMP_ORD_Q>(best, best),
                );
                best = _mm256_blendv_ps(best, v, wins);
                let k = _mm256_castsi256_ps(_mm256_set1_epi32(k));
                arg = _mm256_blendv_ps(arg, k, wins);
            }
            let (mut b, mut a) = ([0.0f32; 8], [0i32; 8]);
            // SAFETY: both arrays hold eight lanes.
            unsafe {
                _mm256_storeu_ps(b.as_mut_ptr(), best);
                _mm256_storeu_si256(a.as_mut_ptr().cast(), _mm256_castps_si256(arg));
            }
            let m = (wo - 8 * gi).min(8);
            out[8 * gi..8 * gi + m].copy_from_slice(&b[..m]);
            for (d, &s) in argmax[8 * gi..8 * gi + m].iter_mut().zip(&a) {
                *d = s as u8;
            }
        }
        (8 * groups).min(wo)
    }

    /// Spreads the gradients of [`super::unpool_row_fast`] eight windows at a time;
    /// returns how many windows it did.
    ///
    /// # Safety
    /// The CPU must have AVX2; `go.len(), argmax.len() ≥ n`, `d.len(), grad.len() ≥ 2n`.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn unpool_groups(
        n: usize,
        go: &[f32],
        argmax: &[u8],
        d: &[f32],
        a: f32,
        code: u8,
        grad: &mut [f32],
    ) -> usize {
        let room = (go.len().min(argmax.len()) * 2)
            .min(d.len())
            .min(grad.len());
        let groups = groups(n, room);
        let c = i32::from(code);
        let codes = _mm256_setr_epi32(c, c + 1, c, c + 1, c, c + 1, c, c + 1);
        let (av, zero) = (_mm256_set1_ps(a), _mm256_setzero_ps());
        for gi in 0..groups {
            let (w, e) = (8 * gi, 16 * gi);
            // SAFETY: groups() keeps 8 · (gi + 1) within go and argmax and 16 · (gi + 1)
            // within d and grad.
            unsafe {
                let (g0, g1) = twice(_mm256_loadu_ps(go.as_ptr().add(w)));
                let am = _mm_loadl_epi64(argmax.as_ptr().add(w).cast());
                let (m0, m1) = twice(_mm256_castsi256_ps(_mm256_cvtepu8_epi32(am)));
                for (half, g, m) in [(0, g0, m0), (8, g1, m1)] {
                    let dv = _mm256_loadu_ps(d.as_ptr().add(e + half));
                    let v = _mm256_add_ps(zero, _mm256_mul_ps(av, _mm256_mul_ps(g, dv)));
                    let won =
                        _mm256_castsi256_ps(_mm256_cmpeq_epi32(_mm256_castps_si256(m), codes));
                    _mm256_storeu_ps(grad.as_mut_ptr().add(e + half), _mm256_and_ps(won, v));
                }
            }
        }
        (8 * groups).min(n)
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

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// Values with many ties, both zeros, NaNs and infinities, so that every rule of
    /// [`pool_row`] (first maximum wins, NaN beats numbers, first NaN wins) is exercised.
    fn tricky(rng: &mut ChaCha8Rng, n: usize) -> Vec<f32> {
        const POOL: [f32; 9] = [
            0.0,
            -0.0,
            1.0,
            -1.0,
            2.5,
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            1.0e-40,
        ];
        (0..n)
            .map(|_| {
                if rng.gen_bool(0.6) {
                    POOL[rng.gen_range(0..POOL.len())]
                } else {
                    rng.gen_range(-3.0f32..3.0)
                }
            })
            .collect()
    }

    fn bits(v: &[f32]) -> Vec<u32> {
        v.iter().map(|x| x.to_bits()).collect()
    }

    #[test]
    fn pool_row_fast_matches_pool_row_bit_for_bit_with_and_without_padding() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for wo in 0..41usize {
            for pad in [0, 16 * wo.div_ceil(8) - 2 * wo] {
                let (top, bottom) = (
                    tricky(&mut rng, 2 * wo + pad),
                    tricky(&mut rng, 2 * wo + pad),
                );
                let (mut out, mut am) = (vec![7.0; wo], vec![9u8; wo]);
                pool_row(&top[..2 * wo], &bottom[..2 * wo], &mut out, &mut am);
                let (mut fast, mut fast_am) = (vec![-7.0; wo], vec![8u8; wo]);
                pool_row_fast(&top, &bottom, &mut fast, &mut fast_am);
                assert_eq!(
                    bits(&fast),
                    bits(&out),
                    "maxima, {wo} windows, padding {pad}"
                );
                assert_eq!(fast_am, am, "winners, {wo} windows, padding {pad}");
                assert!(am.iter().all(|&a| a < 4));
            }
        }
    }

    #[test]
    fn pool_row_keeps_the_first_maximum_and_the_first_nan() {
        let top = [1.0, 1.0, f32::NAN, 0.0, -0.0, 0.0];
        let bottom = [1.0, 2.0, 5.0, f32::NAN, 0.0, 0.0];
        for fast in [false, true] {
            let (mut out, mut am) = ([0.0; 3], [9u8; 3]);
            if fast {
                pool_row_fast(&top, &bottom, &mut out, &mut am);
            } else {
                pool_row(&top, &bottom, &mut out, &mut am);
            }
            assert_eq!(out[0], 2.0);
            assert!(out[1].is_nan());
            assert_eq!(out[2].to_bits(), (-0.0f32).to_bits());
            assert_eq!(am, [3, 0, 0]);
        }
    }

    #[test]
    fn unpool_row_fast_matches_unpool_row_bit_for_bit_with_and_without_padding() {
        let mut rng = ChaCha8Rng::seed_from_u64(8);
        for n in 0..41usize {
            for extra in [0, 8 * n.div_ceil(8) - n] {
                let go = tricky(&mut rng, n + extra);
                let am: Vec<u8> = (0..n + extra).map(|_| rng.gen_range(0..4)).collect();
                let d = tricky(&mut rng, 2 * (n + extra));
                for (a, code) in [(1.0, 0), (-0.75, 2), (3.0e-39, 0)] {
                    let mut want = vec![5.0; 2 * n];
                    unpool_row(&go[..n], &am[..n], &d[..2 * n], a, code, &mut want);
                    let mut got = vec![-5.0; 2 * (n + extra)];
                    unpool_row_fast(n, &go, &am, &d, a, code, &mut got);
                    assert_eq!(
                        bits(&got[..2 * n]),
                        bits(&want),
                        "{n} windows, extra {extra}"
                    );
                }
            }
        }
    }

    #[test]
    fn unpool_row_gives_each_window_gradient_to_its_winner_only() {
        let (go, am, d) = ([2.0, -1.0], [1u8, 2], [1.0, 0.5, 0.25, 4.0]);
        let mut top = [9.0; 4];
        unpool_row_fast(2, &go, &am, &d, 3.0, 0, &mut top);
        assert_eq!(top, [0.0, 3.0, 0.0, 0.0]);
        let mut bottom = [9.0; 4];
        unpool_row_fast(2, &go, &am, &d, 3.0, 2, &mut bottom);
        assert_eq!(bottom, [0.0, 0.0, -0.75, 0.0]);
    }
}
