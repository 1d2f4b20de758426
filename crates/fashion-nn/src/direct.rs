//! Direct (im2col-free) convolution for thin layers with one-dimensional kernels.
//!
//! The im2col path copies every input pixel `KH·KW` times into a column matrix, which
//! the GEMM then copies once more into its packed panels; for a layer such as the seed
//! model's 3×1 and 1×3 convolutions of 32 channels at 28×28 those copies (and the
//! weight-gradient GEMM, whose packing reads the column matrix transposed) cost about
//! as much as the multiply-adds. Here each output pixel is a flat index `q` of its
//! plane, and kernel tap `(dy, dx)` reads input pixel `q + dy·W + dx` ("same" padding
//! keeps output rows as long as input rows), so the kernels read the image where it
//! lies: 16 pixels per AVX-512 vector, with a per-tap, per-vector lane mask that zeroes
//! the taps falling into the padding (masked-off lanes are never read).
//!
//! - forward: a tile of 4 output channels × 6 vectors (96 pixels) keeps 24 accumulators
//!   in registers over all taps and input channels (tap by tap, so each tap's 6 lane
//!   masks stay in mask registers across the channels);
//! - input gradient: the same kernel on the output gradient, with the taps mirrored and
//!   the weights transposed (the adjoint of a masked shift is the opposite masked shift);
//! - weight gradient: a tile of 4 output channels × 2 input channels × 3 taps (or × 6
//!   input channels of one tap when the taps do not come in threes) sums
//!   `Σ_q dout[o, q] · x[c, q + offset]` over the plane in 24 vector accumulators, then
//!   reduces each across its lanes.
//!
//! Used for 1-D kernels (`KH = 1` or `KW = 1`, more than one tap) with output as large
//! as the input, in layers where an image's output outweighs the weights
//! (`C_in·KH·KW < H·W`), on CPUs with AVX-512F; elsewhere the im2col path runs. For 3×3
//! kernels the GEMM path is as fast or faster (measured), so they keep it. The
//! summation order is fixed, so results are deterministic, but not bit-identical to the
//! im2col path's.

use super::conv::Geom;

/// Pixels per vector.
const LANES: usize = 16;
/// Output channels per tile.
const TILE_C: usize = 4;
/// Vectors (forward) or input channels of one tap (weight gradient) per tile.
const TILE_V: usize = 6;

/// The direct kernels' plan for one convolution: tap offsets and lane masks, and the
/// weights in the orders the kernels read them.
pub(super) struct Direct {
    /// Output (= input) pixels per plane.
    p: usize,
    /// Vectors per plane (the last one may be partial).
    nv: usize,
    c_in: usize,
    c_out: usize,
    /// Flat offset `dy·W + dx` of each tap, in weight order.
    offsets: Vec<isize>,
    /// `masks[t·nv + v]`: lanes of vector `v` whose tap `t` reads inside the image.
    masks: Vec<u16>,
    /// The same for the mirrored taps `(−dy, −dx)` of the input gradient.
    masks_back: Vec<u16>,
    /// Lanes of each vector inside the plane.
    tail: Vec<u16>,
    /// Forward weights `[c][t][o]`.
    w_fwd: Vec<f32>,
    /// Input-gradient weights `[o][t][c]`.
    w_back: Vec<f32>,
}

/// Whether [`Direct`] handles this geometry (ignoring the CPU): a 1-D kernel with more
/// than one tap, output as large as the input, and an image output larger than the
/// weights.
pub(super) fn suits(g: &Geom) -> bool {
    (g.kh == 1 || g.kw == 1)
        && g.kh * g.kw > 1
        && g.h_out == g.h
        && g.w_out == g.w
        && g.c_in * g.kh * g.kw < g.h * g.w
}

/// Whether the direct kernels run: the CPU has AVX-512F and `FASHION_SIMD` does not cap
/// the kernels below it ([`simd_level`](crate::simd_level)).
pub(super) fn cpu_has_avx512() -> bool {
    crate::simd_level() == crate::SimdLevel::Avx512
}

impl Direct {
    /// The plan for `g` and weights `w` `(C_out, C_in, KH, KW)`, or `None` where the
    /// im2col path must run (see [`suits`]; and a CPU without AVX-512F).
    pub(super) fn new(g: &Geom, w: &[f32]) -> Option<Self> {
        (suits(g) && cpu_has_avx512()).then(|| Self::plan(g, w))
    }

    /// The plan, whatever the CPU.
    fn plan(g: &Geom, w: &[f32]) -> Self {
        let (h, wd) = (g.h as isize, g.w as isize);
        let p = g.h * g.w;
        let nv = p.div_ceil(LANES);
        let taps = g.kh * g.kw;
        let shifts: Vec<(isize, isize)> = (0..taps)
            .map(|t| {
                let dy = (t / g.kw) as isize - g.pad_top as isize;
                let dx = (t % g.kw) as isize - g.pad_left as isize;
                (dy, dx)
            })
            .collect();
        let mask = |v: usize, (dy, dx): (isize, isize)| -> u16 {
            let mut m = 0u16;
            for lane in 0..LANES {
                let q = v * LANES + lane;
                if q >= p {
                    break;
                }
                let (row, col) = ((q / g.w) as isize, (q % g.w) as isize);
                if (0..h).contains(&(row + dy)) && (0..wd).contains(&(col + dx)) {
                    m |= 1 << lane;
                }
            }
            m
        };
        let masks_for = |sign: isize| -> Vec<u16> {
            shifts
                .iter()
                .flat_map(|&(dy, dx)| (0..nv).map(move |v| (v, (sign * dy, sign * dx))))
                .map(|(v, s)| mask(v, s))
                .collect()
        };
        let tail = (0..nv)
            .map(|v| {
                let n = (p - v * LANES).min(LANES);
                (((1u32 << n) - 1) & 0xffff) as u16
            })
            .collect();
        let k = g.c_in * taps;
        let mut w_fwd = vec![0.0; w.len()];
        let mut w_back = vec![0.0; w.len()];
        for o in 0..g.c_out {
            for c in 0..g.c_in {
                for t in 0..taps {
                    let v = w[o * k + c * taps + t];
                    w_fwd[(c * taps + t) * g.c_out + o] = v;
                    w_back[(o * taps + t) * g.c_in + c] = v;
                }
            }
        }
        Self {
            p,
            nv,
            c_in: g.c_in,
            c_out: g.c_out,
            offsets: shifts.iter().map(|&(dy, dx)| dy * wd + dx).collect(),
            masks: masks_for(1),
            masks_back: masks_for(-1),
            tail,
            w_fwd,
            w_back,
        }
    }

    fn taps(&self) -> usize {
        self.offsets.len()
    }

    /// One image's forward pass: `out` `(C_out, H, W)` is overwritten with the
    /// convolution of `x` `(C_in, H, W)` plus `bias`.
    ///
    /// # Panics
    /// If a slice has the wrong length or the CPU lacks AVX-512F.
    pub(super) fn forward(&self, x: &[f32], bias: Option<&[f32]>, out: &mut [f32]) {
        assert_eq!(x.len(), self.c_in * self.p, "direct forward: input length");
        assert_eq!(
            out.len(),
            self.c_out * self.p,
            "direct forward: output length"
        );
        if let Some(b) = bias {
            assert_eq!(b.len(), self.c_out, "direct forward: bias length");
        }
        let init = match bias {
            Some(b) => Init::Bias(b.as_ptr()),
            None => Init::Zero,
        };
        let args = Sweep {
            x: x.as_ptr(),
            planes_in: self.c_in,
            w: self.w_fwd.as_ptr(),
            planes_out: self.c_out,
            masks: &self.masks,
            sign: 1,
            init,
            out: out.as_mut_ptr(),
        };
        self.run(&args);
    }

    /// One image's backward pass: adds the input gradient onto `grad_x` `(C_in, H, W)`
    /// (with `overwrite`, writes it there without reading the old contents; with `None`
    /// it is not computed) and the weight gradient onto `grad_w` `(C_out, C_in, KH, KW)`,
    /// given the image `x` and its output gradient `grad_out` `(C_out, H, W)`.
    ///
    /// # Panics
    /// If a slice has the wrong length or the CPU lacks AVX-512F.
    pub(super) fn backward(
        &self,
        x: &[f32],
        grad_out: &[f32],
        grad_x: Option<&mut [f32]>,
        grad_w: &mut [f32],
        overwrite: bool,
    ) {
        let (len_in, len_out) = (self.c_in * self.p, self.c_out * self.p);
        assert_eq!(x.len(), len_in, "direct backward: input length");
        if let Some(grad_x) = &grad_x {
            assert_eq!(
                grad_x.len(),
                len_in,
                "direct backward: input gradient length"
            );
        }
        assert_eq!(
            grad_out.len(),
            len_out,
            "direct backward: output gradient length"
        );
        assert_eq!(
            grad_w.len(),
            self.w_fwd.len(),
            "direct backward: weight gradient length"
        );
        assert!(cpu_has_avx512(), "direct backward: the CPU lacks AVX-512F");
        // SAFETY: AVX-512F is present (asserted); the slices have the lengths the plan
        // was made for (asserted), which is all the kernel reads and writes besides
        // masked-off lanes.
        #[cfg(target_arch = "x86_64")]
        unsafe {
            avx512::weight_grad(self, x, grad_out, grad_w);
        }
        let Some(grad_x) = grad_x else {
            return;
        };
        let args = Sweep {
            x: grad_out.as_ptr(),
            planes_in: self.c_out,
            w: self.w_back.as_ptr(),
            planes_out: self.c_in,
            masks: &self.masks_back,
            sign: -1,
            init: if overwrite {
                Init::Zero
            } else {
                Init::Accumulate
            },
            out: grad_x.as_mut_ptr(),
        };
        self.run(&args);
    }

    fn run(&self, args: &Sweep<'_>) {
        assert!(
            cpu_has_avx512(),
            "direct convolution: the CPU lacks AVX-512F"
        );
        // SAFETY: AVX-512F is present (asserted); the callers checked the lengths of
        // the slices behind the pointers in `args` against the plan.
        #[cfg(target_arch = "x86_64")]
        unsafe {
            avx512::convolve(self, args);
        }
    }
}

/// How a convolution pass starts its accumulators.
#[derive(Clone, Copy)]
enum Init {
    /// From the bias of the output channel (`planes_out` values).
    Bias(*const f32),
    /// From zero.
    Zero,
    /// From the output's current values (adds onto it).
    Accumulate,
}

/// One convolution pass over an image: `planes_in` planes of the plan's size read from
/// `x`, `planes_out` planes written to `out`, weights `[in][tap][out]`.
struct Sweep<'a> {
    x: *const f32,
    planes_in: usize,
    w: *const f32,
    planes_out: usize,
    masks: &'a [u16],
    /// +1 for the forward taps, −1 for the mirrored ones.
    sign: isize,
    init: Init,
    out: *mut f32,
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    use super::{Direct, Init, LANES, Sweep, TILE_C, TILE_V};

    /// Runs a convolution pass: tiles of 6 vectors × 4 output planes, vectors outer so
    /// that the input rows of a tile stay in L1 across the output planes.
    ///
    /// # Safety
    /// The CPU has AVX-512F; `args.x` holds `planes_in` planes and `args.out`
    /// `planes_out` planes of `d.p` elements, `args.w` `planes_in·taps·planes_out`
    /// weights, a bias pointer `planes_out` values.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn convolve(d: &Direct, args: &Sweep<'_>) {
        let mut v0 = 0;
        while v0 < d.nv {
            let nvb = TILE_V.min(d.nv - v0);
            let mut o0 = 0;
            while o0 < args.planes_out {
                let ncb = TILE_C.min(args.planes_out - o0);
                // SAFETY: as this function's contract; tiles stay inside the planes.
                unsafe {
                    match (ncb == TILE_C, nvb == TILE_V) {
                        (true, true) => conv_tile::<TILE_C, TILE_V>(d, args, o0, v0),
                        (true, false) => {
                            for v in v0..v0 + nvb {
                                conv_tile::<TILE_C, 1>(d, args, o0, v);
                            }
                        }
                        (false, true) => {
                            for o in o0..o0 + ncb {
                                conv_tile::<1, TILE_V>(d, args, o, v0);
                            }
                        }
                        (false, false) => {
                            for o in o0..o0 + ncb {
                                for v in v0..v0 + nvb {
                                    conv_tile::<1, 1>(d, args, o, v);
                                }
                            }
                        }
                    }
                }
                o0 += ncb;
            }
            v0 += nvb;
        }
    }

    /// `NC` output planes from `o0`, `NV` vectors from `v0`.
    ///
    /// # Safety
    /// As [`convolve`], with `o0 + NC ≤ planes_out` and `v0 + NV ≤ nv`.
    #[target_feature(enable = "avx512f")]
    unsafe fn conv_tile<const NC: usize, const NV: usize>(
        d: &Direct,
        a: &Sweep<'_>,
        o0: usize,
        v0: usize,
    ) {
        let (p, nv, taps) = (d.p, d.nv, d.taps());
        let mut acc = [[_mm512_setzero_ps(); NV]; NC];
        // SAFETY (all pointer reads and writes below): unmasked lanes lie inside the
        // planes (tail masks for the output, tap masks for the shifted input: a lane is
        // set only if its shifted pixel is in the image); masked-off lanes are not
        // accessed, and their addresses are formed with wrapping arithmetic.
        unsafe {
            for (j, acc) in acc.iter_mut().enumerate() {
                let row = a.out.add((o0 + j) * p);
                for (v, acc) in acc.iter_mut().enumerate() {
                    *acc = match a.init {
                        Init::Bias(b) => _mm512_set1_ps(*b.add(o0 + j)),
                        Init::Zero => _mm512_setzero_ps(),
                        Init::Accumulate => {
                            _mm512_maskz_loadu_ps(d.tail[v0 + v], row.add((v0 + v) * LANES))
                        }
                    };
                }
            }
            // Tap by tap, so that the tap's lane masks stay in mask registers across
            // the input planes.
            for t in 0..taps {
                let off = a.sign * d.offsets[t];
                let masks: [u16; NV] = std::array::from_fn(|v| a.masks[t * nv + v0 + v]);
                for c in 0..a.planes_in {
                    let plane = a.x.wrapping_add(c * p);
                    let wp = a.w.add((c * taps + t) * a.planes_out + o0);
                    let w: [__m512; NC] = std::array::from_fn(|j| _mm512_set1_ps(*wp.add(j)));
                    for (v, &m) in masks.iter().enumerate() {
                        let src = plane.wrapping_offset(((v0 + v) * LANES) as isize + off);
                        let xv = _mm512_maskz_loadu_ps(m, src);
                        for j in 0..NC {
                            acc[j][v] = _mm512_fmadd_ps(w[j], xv, acc[j][v]);
                        }
                    }
                }
            }
            for (j, acc) in acc.iter().enumerate() {
                let row = a.out.add((o0 + j) * p);
                for (v, &acc) in acc.iter().enumerate() {
                    _mm512_mask_storeu_ps(row.add((v0 + v) * LANES), d.tail[v0 + v], acc);
                }
            }
        }
    }

    /// Adds `Σ_q grad_out[o, q] · x[c, q + offset_t]` onto `grad_w[o, c, t]`. Tiles of 4
    /// output channels × 2 input channels × 3 taps when the taps come in threes (each
    /// input vector then serves 4 output channels, each output-gradient vector 6
    /// products), else 4 output channels × 6 input channels of one tap.
    ///
    /// # Safety
    /// The CPU has AVX-512F; the slices have the plan's lengths.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn weight_grad(d: &Direct, x: &[f32], grad_out: &[f32], grad_w: &mut [f32]) {
        let taps = d.taps();
        let mut o0 = 0;
        while o0 < d.c_out {
            let nc = TILE_C.min(d.c_out - o0);
            // SAFETY: as this function's contract; tiles stay inside the matrices.
            unsafe {
                if taps.is_multiple_of(3) {
                    for t0 in (0..taps).step_by(3) {
                        for c0 in (0..d.c_in).step_by(2) {
                            let pair = c0 + 1 < d.c_in;
                            match (nc == TILE_C, pair) {
                                (true, true) => {
                                    wgrad_tile::<TILE_C, 2, 3>(d, x, grad_out, grad_w, o0, c0, t0)
                                }
                                (true, false) => {
                                    wgrad_tile::<TILE_C, 1, 3>(d, x, grad_out, grad_w, o0, c0, t0)
                                }
                                (false, _) => {
                                    for o in o0..o0 + nc {
                                        for c in c0..(c0 + 2).min(d.c_in) {
                                            wgrad_tile::<1, 1, 3>(d, x, grad_out, grad_w, o, c, t0);
                                        }
                                    }
                                }
                            }
                        }
                    }
                } else {
                    for t in 0..taps {
                        let mut c0 = 0;
                        while c0 < d.c_in {
                            let n = TILE_V.min(d.c_in - c0);
                            if nc == TILE_C && n == TILE_V {
                                wgrad_tile::<TILE_C, TILE_V, 1>(d, x, grad_out, grad_w, o0, c0, t);
                            } else {
                                for o in o0..o0 + nc {
                                    for c in c0..c0 + n {
                                        wgrad_tile::<1, 1, 1>(d, x, grad_out, grad_w, o, c, t);
                                    }
                                }
                            }
                            c0 += n;
                        }
                    }
                }
            }
            o0 += nc;
        }
    }

    /// Output channels `o0..o0 + NC` × input channels `c0..c0 + NI` × taps
    /// `t0..t0 + NT`.
    ///
    /// # Safety
    /// As [`weight_grad`], with the three ranges inside `C_out`, `C_in` and the taps.
    // Index loops over the const-sized tile: fully unrolled, the accumulators stay in
    // registers (iterator chains over the nested arrays spilled them to the stack).
    #[allow(clippy::needless_range_loop)]
    #[target_feature(enable = "avx512f")]
    unsafe fn wgrad_tile<const NC: usize, const NI: usize, const NT: usize>(
        d: &Direct,
        x: &[f32],
        grad_out: &[f32],
        grad_w: &mut [f32],
        o0: usize,
        c0: usize,
        t0: usize,
    ) {
        let (p, nv, taps) = (d.p, d.nv, d.taps());
        let k = d.c_in * taps;
        let srcs: [*const f32; NT] = std::array::from_fn(|tt| {
            x.as_ptr()
                .wrapping_add(c0 * p)
                .wrapping_offset(d.offsets[t0 + tt])
        });
        // Each tap's row of lane masks.
        let mrows: [*const u16; NT] = std::array::from_fn(|tt| d.masks[(t0 + tt) * nv..].as_ptr());
        let gout = grad_out.as_ptr().wrapping_add(o0 * p);
        let mut acc = [[[_mm512_setzero_ps(); NT]; NI]; NC];
        // SAFETY (all reads): output-gradient lanes are limited to the plane by the tail
        // masks, input lanes by the tap masks (set only where the shifted pixel is in
        // the image); masked-off lanes are not accessed; `v < nv` keeps the mask reads
        // inside their rows.
        unsafe {
            for v in 0..nv {
                let tail = *d.tail.as_ptr().add(v);
                let g: [__m512; NC] = std::array::from_fn(|j| {
                    _mm512_maskz_loadu_ps(tail, gout.wrapping_add(j * p + v * LANES))
                });
                for tt in 0..NT {
                    let m = *mrows[tt].add(v);
                    for r in 0..NI {
                        let xv = _mm512_maskz_loadu_ps(m, srcs[tt].wrapping_add(r * p + v * LANES));
                        for j in 0..NC {
                            acc[j][r][tt] = _mm512_fmadd_ps(g[j], xv, acc[j][r][tt]);
                        }
                    }
                }
            }
        }
        for (j, acc) in acc.iter().enumerate() {
            for (r, acc) in acc.iter().enumerate() {
                for (tt, &acc) in acc.iter().enumerate() {
                    grad_w[(o0 + j) * k + (c0 + r) * taps + t0 + tt] += _mm512_reduce_add_ps(acc);
                }
            }
        }
    }
}
