//! Our SGEMM for x86-64 CPUs with AVX2 and FMA (and AVX-512F), which gives the same bits
//! as matrixmultiply's.
//!
//! The usual blocked loops (as in BLIS and matrixmultiply): panels of `B` (`KC × NC`) and
//! of `A` (`MC × KC`) are packed into buffers laid out in the order the micro-kernel reads
//! them, and the micro-kernel keeps a tile of `C` in twelve registers: `6 × 16` in AVX
//! registers ([`Avx2`]) or `6 × 32` in AVX-512 ones ([`Avx512`]). Each step along `k`
//! loads one row of the tile's `B`, broadcasts 6 values of `A` and makes 12 FMAs.
//! matrixmultiply's AVX2 kernel holds an `8 × 8` tile in eight registers and rotates `A`
//! with three shuffles per step: eight FMA chains in flight stall on their latency where
//! twelve do not. A transposed `B` or a row-major `A` is packed here eight rows at a
//! time with vector transposes instead of element by element.
//!
//! The same bits: element `(i, j)` of `C` is computed as matrixmultiply computes it. Along
//! `k`, in blocks of [`KC`] steps from the start, the products are summed by an FMA chain
//! that starts from `+0`, in order of `k`; the first block's sum is added to `β · C`
//! (or to `+0` when `β = 0`, `C` unread), every later block's to `C`. The tile shape,
//! `MC` and `NC` do not enter that arithmetic. One corner differs: matrixmultiply
//! computes its edge tiles (where `m` or `n` is not a multiple of its tile) in a buffer
//! and adds it to `β · C` in another order, so where a block's sum underflowed to `−0`
//! and `β · C` is `−0` too, the sign of the resulting zero can differ there.

use std::arch::x86_64::*;
use std::cell::RefCell;

use super::{Mat, Unfolding};

/// Rows of `C` per micro-kernel call (one broadcast of `A` each).
const MR: usize = 6;
/// Steps along `k` summed in registers before the sums go to `C`. It decides where the
/// sums are rounded, so it is matrixmultiply's `S_KC` (256): another value would change
/// the results.
const KC: usize = 256;
/// Rows of `A` packed at a time (`MC × KC` floats: 144 KiB, within L2).
const MC: usize = 144;
/// Columns of `B` packed at a time (`KC × NC` floats: 1 MiB).
const NC: usize = 1024;

/// 64 bytes, aligned: the packing buffers' unit, so that every panel starts aligned.
#[repr(C, align(64))]
#[derive(Clone, Copy, Debug)]
pub(super) struct Line([f32; 16]);

thread_local! {
    /// This thread's packing buffers for `A` and `B`, kept between calls.
    static PACKED: RefCell<(Vec<Line>, Vec<Line>)> = const { RefCell::new((Vec::new(), Vec::new())) };
}

/// A pointer to at least `floats` floats of `buf`, grown as needed (contents arbitrary).
fn room(buf: &mut Vec<Line>, floats: usize) -> *mut f32 {
    let lines = floats.div_ceil(16);
    if buf.len() < lines {
        buf.resize(lines, Line([0.0; 16]));
    }
    buf.as_mut_ptr().cast()
}

/// A micro-kernel: `c ← β · c + Σₚ a_p b_pᵀ` on a tile of `C` of up to `MR × NR`
/// elements over `kc` packed steps, each element's sum an FMA chain from `+0`, added to
/// `β · c` (to `+0` when `β = 0`, `c` unread).
pub(super) trait Tile {
    /// Columns of the tile (a multiple of 8).
    const NR: usize;
    /// One tile of `rows × cols` elements (`1 ≤ rows ≤ MR`, `1 ≤ cols ≤ NR`): an edge
    /// tile computes only the rows it has (and only the first of its two vectors of
    /// columns where `cols ≤ NR / 2`) and reads and writes only the columns it has,
    /// through masks, with the same arithmetic as a whole tile.
    ///
    /// # Safety
    /// The CPU has the instructions the kernel uses; `a` holds `MR · kc` floats, `b`
    /// `NR · kc` floats and is 64-byte aligned; `c` has `rows` rows of `cols` floats,
    /// `rsc` apart.
    #[allow(clippy::too_many_arguments)]
    unsafe fn run(
        kc: usize,
        a: *const f32,
        b: *const f32,
        beta: f32,
        c: *mut f32,
        rsc: usize,
        rows: usize,
        cols: usize,
    );
}

/// Calls `$kernel::<R, V>` with `R` the tile's rows (1 to [`MR`]) and `V` the vectors
/// of columns it has: 1 where `cols` fits in the first (an edge tile then does half the
/// work), else 2.
macro_rules! by_rows {
    ($kernel:ident, $nr:literal, $rows:expr, $cols:expr, $($arg:expr),*) => {
        if $cols <= $nr / 2 {
            by_rows!(@rows $kernel, 1, $rows, $($arg),*, $cols)
        } else {
            by_rows!(@rows $kernel, 2, $rows, $($arg),*, $cols)
        }
    };
    (@rows $kernel:ident, $v:literal, $rows:expr, $($arg:expr),*) => {
        match $rows {
            6 => $kernel::<6, $v>($($arg),*),
            5 => $kernel::<5, $v>($($arg),*),
            4 => $kernel::<4, $v>($($arg),*),
            3 => $kernel::<3, $v>($($arg),*),
            2 => $kernel::<2, $v>($($arg),*),
            _ => $kernel::<1, $v>($($arg),*),
        }
    };
}

/// The `6 × 16` tile in twelve AVX registers (AVX2 and FMA).
pub(super) struct Avx2;

/// The `6 × 32` tile in twelve AVX-512 registers (AVX-512F).
pub(super) struct Avx512;

impl Tile for Avx2 {
    const NR: usize = 16;
    unsafe fn run(
        kc: usize,
        a: *const f32,
        b: *const f32,
        beta: f32,
        c: *mut f32,
        rsc: usize,
        rows: usize,
        cols: usize,
    ) {
        // SAFETY: the caller's contract.
        unsafe { by_rows!(kernel16, 16, rows, cols, kc, a, b, beta, c, rsc) }
    }
}

impl Tile for Avx512 {
    const NR: usize = 32;
    unsafe fn run(
        kc: usize,
        a: *const f32,
        b: *const f32,
        beta: f32,
        c: *mut f32,
        rsc: usize,
        rows: usize,
        cols: usize,
    ) {
        // SAFETY: the caller's contract.
        unsafe { by_rows!(kernel32, 32, rows, cols, kc, a, b, beta, c, rsc) }
    }
}

/// `c ← β · c + a · b`, `c` row-major with `b.cols` columns, as [`super::sgemm`]
/// describes it (single-threaded), with `T`'s micro-kernel.
///
/// # Safety
/// The CPU must have AVX2 and FMA, and what `T` needs. `m, n, k ≥ 1`; every element of
/// `a` and `b` the views describe lies inside their slices and `c` holds at least
/// `m · n` elements (what [`super::sgemm`] asserts).
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn sgemm<T: Tile>(a: Mat<'_>, b: Rhs<'_>, beta: f32, c: &mut [f32]) {
    // Two floats of room past the end for pack_a's whole-vector stores.
    let a_len = MC.min(a.rows.next_multiple_of(MR)) * KC + 2;
    let n = b.cols();
    // SAFETY: as this function's; `with_buffers` gives room for a_len floats.
    unsafe { with_buffers::<T>(a_len, b, |ap| Lhs::View(a, ap), beta, (c, n)) }
}

/// [`sgemm`] with `a` (`m × k`) already packed in full by [`pack_lhs`], and `b` a view
/// or an unfolding ([`Rhs`]). With `split` `s` (dividing `n`), `c` is laid out as
/// `n / s` blocks of `m × s` (images, each with its `m` channels): element `(i, q)` at
/// `(q / s) · m · s + i · s + q % s`; with `s = n`, row-major.
///
/// # Safety
/// As [`sgemm`]; `a` is [`pack_lhs`]'s result for an `m × k` matrix; `b` is as its
/// variant's documentation says; `s` divides `n`.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn sgemm_packed<T: Tile>(
    a: &[Line],
    (m, k): (usize, usize),
    b: Rhs<'_>,
    beta: f32,
    (c, split): (&mut [f32], usize),
) {
    debug_assert!(a.len() * 16 >= lhs_len(m, k));
    let a = Lhs::Packed(a.as_ptr().cast(), m, k);
    // SAFETY: as this function's.
    unsafe { with_buffers::<T>(0, b, |_| a, beta, (c, split)) }
}

/// Runs [`blocks`] with this thread's packing buffers (room for `a_len` floats of `A`,
/// handed to `lhs`, and for `B`'s panels).
///
/// # Safety
/// As [`blocks`], for the operand `lhs` makes.
#[target_feature(enable = "avx2,fma")]
unsafe fn with_buffers<'a, T: Tile>(
    a_len: usize,
    b: Rhs<'_>,
    lhs: impl FnOnce(*mut f32) -> Lhs<'a>,
    beta: f32,
    (c, split): (&mut [f32], usize),
) {
    let b_len = NC.min(b.cols().next_multiple_of(T::NR)) * KC;
    PACKED.with(|cell| {
        let mut kept = cell.try_borrow_mut();
        // Re-entered on this thread (not expected): fresh buffers.
        let mut fresh = (Vec::new(), Vec::new());
        let (abuf, bbuf) = match &mut kept {
            Ok(bufs) => &mut **bufs,
            Err(_) => &mut fresh,
        };
        let (ap, bp) = (room(abuf, a_len), room(bbuf, b_len));
        // SAFETY: as this function's; the buffers hold a_len and b_len floats.
        unsafe { blocks::<T>(lhs(ap), b, beta, (c.as_mut_ptr(), split), bp) }
    })
}

/// The left operand of [`blocks`].
#[derive(Clone, Copy)]
enum Lhs<'a> {
    /// A view, packed block by block (by [`pack_a`]) into the buffer at the pointer, of
    /// `min(MC, m rounded up to MR) · KC + 2` floats.
    View(Mat<'a>, *mut f32),
    /// An `m × k` matrix packed in full by [`pack_lhs`].
    Packed(*const f32, usize, usize),
}

impl Lhs<'_> {
    /// `(m, k)`.
    fn dims(&self) -> (usize, usize) {
        match *self {
            Lhs::View(a, _) => (a.rows, a.cols),
            Lhs::Packed(_, m, k) => (m, k),
        }
    }
}

/// The right operand of [`blocks`].
#[derive(Clone, Copy)]
pub(super) enum Rhs<'a> {
    /// A view.
    View(Mat<'a>),
    /// The column matrix of the images at the pointer (as many as the count, each
    /// [`Unfolding::in_len`] floats, all of them inside one allocation), as the
    /// unfolding describes it: `K × (images · P)`.
    Unfolded(&'a Unfolding, *const f32, usize),
    /// The transpose of [`Rhs::Unfolded`]'s matrix: `(images · P) × K`.
    UnfoldedT(&'a Unfolding, *const f32, usize),
}

impl Rhs<'_> {
    /// Columns.
    fn cols(&self) -> usize {
        match *self {
            Rhs::View(b) => b.cols,
            Rhs::Unfolded(u, _, imgs) => imgs * u.p,
            Rhs::UnfoldedT(u, ..) => u.rows.len(),
        }
    }

    /// Packs rows `p0..p0 + kc`, columns `j0..j0 + nc` into panels of `nr` columns at
    /// `bp`, as [`pack_b`] does.
    ///
    /// # Safety
    /// As [`pack_b`]; the block lies inside the matrix.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn pack(
        &self,
        nr: usize,
        (p0, kc): (usize, usize),
        (j0, nc): (usize, usize),
        bp: *mut f32,
    ) {
        // SAFETY: the caller's contract.
        unsafe {
            match *self {
                Rhs::View(b) => pack_b(
                    nr,
                    kc,
                    nc,
                    b.data.as_ptr().add(p0 * b.rs + j0 * b.cs),
                    b.rs,
                    b.cs,
                    bp,
                ),
                Rhs::Unfolded(u, x, imgs) => {
                    pack_unfolded(u, (x, imgs), nr, (p0, kc), (j0, nc), bp)
                }
                Rhs::UnfoldedT(u, x, imgs) => {
                    pack_unfolded_t(u, (x, imgs), nr, (p0, kc), (j0, nc), bp)
                }
            }
        }
    }
}

impl<'a> From<Mat<'a>> for Rhs<'a> {
    fn from(b: Mat<'a>) -> Self {
        Rhs::View(b)
    }
}

/// Floats of [`pack_lhs`]'s result for an `m × k` matrix: every block of [`MC`] rows and
/// [`KC`] steps as [`pack_a`] packs it, one after another (the block of rows `i0..` and
/// steps `p0..` at `p0 · m̂ + i0 · kc`, `m̂` = `m` rounded up to [`MR`]), and the 2 floats
/// past the end that `pack_a`'s whole-vector stores may write.
pub(super) fn lhs_len(m: usize, k: usize) -> usize {
    m.next_multiple_of(MR) * k + 2
}

/// `a` packed in full, for many products with it ([`sgemm_packed`]): the packing
/// [`sgemm`] repeats in every call, done once.
///
/// # Safety
/// The CPU must have AVX2 and FMA; every element of `a` lies inside its slice.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn pack_lhs(a: Mat<'_>) -> Vec<Line> {
    let (m, k) = (a.rows, a.cols);
    let mut buf = Vec::new();
    let out = room(&mut buf, lhs_len(m, k));
    let m_hat = m.next_multiple_of(MR);
    // In order of address: a block's whole-vector stores past its end land at the start
    // of the next block, packed after it.
    for p0 in (0..k).step_by(KC) {
        let kc = KC.min(k - p0);
        for i0 in (0..m).step_by(MC) {
            let mc = MC.min(m - i0);
            // SAFETY: inside the view (the caller's contract) and the buffer (lhs_len).
            unsafe {
                let src = a.data.as_ptr().add(i0 * a.rs + p0 * a.cs);
                pack_a(kc, mc, src, a.rs, a.cs, out.add(p0 * m_hat + i0 * kc));
            }
        }
    }
    buf
}

/// The loops around the micro-kernel: `NC` columns of `B`, then `KC` steps along `k`
/// (packing `B`), then `MC` rows of `A` (packing `A`, unless it is packed already), then
/// the tiles.
///
/// `C` is laid out in blocks of `split` columns, as [`sgemm_packed`] says. A tile that
/// spans two blocks is computed in a buffer and copied to its places.
///
/// # Safety
/// As [`sgemm_packed`]; `bp` points to a 64-byte aligned buffer of at least
/// `min(NC, n rounded up to T::NR) · KC` floats.
#[target_feature(enable = "avx2,fma")]
unsafe fn blocks<T: Tile>(
    lhs: Lhs<'_>,
    b: Rhs<'_>,
    beta: f32,
    (c, split): (*mut f32, usize),
    bp: *mut f32,
) {
    let ((m, k), n) = (lhs.dims(), b.cols());
    let nr = T::NR;
    let m_hat = m.next_multiple_of(MR);
    for j0 in (0..n).step_by(NC) {
        let nc = NC.min(n - j0);
        for p0 in (0..k).step_by(KC) {
            let kc = KC.min(k - p0);
            // The first block scales C by β; later ones add to it.
            let beta = if p0 == 0 { beta } else { 1.0 };
            // SAFETY (all below): offsets stay inside the views (bounds asserted by the
            // caller) and inside the packing buffers (sized by the caller).
            unsafe { b.pack(nr, (p0, kc), (j0, nc), bp) };
            for i0 in (0..m).step_by(MC) {
                let mc = MC.min(m - i0);
                let ap = match lhs {
                    Lhs::View(a, ap) => unsafe {
                        let src = a.data.as_ptr().add(i0 * a.rs + p0 * a.cs);
                        pack_a(kc, mc, src, a.rs, a.cs, ap);
                        ap.cast_const()
                    },
                    Lhs::Packed(ap, ..) => unsafe { ap.add(p0 * m_hat + i0 * kc) },
                };
                for jr in (0..nc).step_by(nr) {
                    let cols = nr.min(nc - jr);
                    let b_panel = unsafe { bp.add(jr * kc) };
                    // Where column q of row i lies.
                    let at = |i: usize, q: usize| unsafe {
                        c.add(q / split * m * split + i * split + q % split)
                    };
                    let q = j0 + jr;
                    let whole = q % split + cols <= split;
                    for ir in (0..mc).step_by(MR) {
                        let rows = MR.min(mc - ir);
                        let a_panel = unsafe { ap.add(ir * kc) };
                        if whole {
                            let tile = at(i0 + ir, q);
                            unsafe { T::run(kc, a_panel, b_panel, beta, tile, split, rows, cols) };
                            continue;
                        }
                        // The same arithmetic in a buffer of `rows × nr`, whose rows
                        // are copied piece by piece: to the end of a block, then from
                        // the start of the next.
                        let mut buf = [0.0f32; MR * 32];
                        let parts = |i: usize| {
                            let row = i0 + ir + i;
                            let mut j = 0;
                            std::iter::from_fn(move || {
                                let len = (split - (q + j) % split).min(cols.checked_sub(j)?);
                                j += len;
                                (len > 0).then(|| (at(row, q + j - len), j - len, len))
                            })
                        };
                        if beta != 0.0 {
                            for i in 0..rows {
                                for (src, j, len) in parts(i) {
                                    let dst = &mut buf[i * nr + j..][..len];
                                    let src = unsafe { std::slice::from_raw_parts(src, len) };
                                    dst.copy_from_slice(src);
                                }
                            }
                        }
                        let tile = buf.as_mut_ptr();
                        unsafe { T::run(kc, a_panel, b_panel, beta, tile, nr, rows, cols) };
                        for i in 0..rows {
                            for (dst, j, len) in parts(i) {
                                let dst = unsafe { std::slice::from_raw_parts_mut(dst, len) };
                                dst.copy_from_slice(&buf[i * nr + j..][..len]);
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Packs rows `0..mc`, columns `0..kc` of the view at `a` (strides `rs`, `cs`) into
/// panels of [`MR`] rows: panel `r` holds, step by step along `k`, the `MR` values of
/// its rows (zeros past `mc`), at `ap + r · MR · kc`.
///
/// # Safety
/// AVX2; the view's elements lie in its allocation, `ap` has room for
/// `mc` rounded up to `MR`, times `kc`, plus 2 floats.
#[target_feature(enable = "avx2,fma")]
unsafe fn pack_a(kc: usize, mc: usize, a: *const f32, rs: usize, cs: usize, ap: *mut f32) {
    for r in (0..mc).step_by(MR) {
        let rows = MR.min(mc - r);
        // SAFETY: inside the view and the buffer (the caller's contract).
        unsafe {
            let out = ap.add(r * kc);
            if rows == MR && cs == 1 {
                // Row-major: six rows side by side, 8 × 8 blocks transposed in registers
                // (two rows of zeros). Each step's vector is stored whole: its last two
                // lanes land where the next step's six go, and are overwritten by them
                // (the buffer has room past its end for the last step's).
                let full = kc - kc % 8;
                let zero = _mm256_setzero_ps();
                for p in (0..full).step_by(8) {
                    let block = transpose8(std::array::from_fn(|i| {
                        if i < MR {
                            _mm256_loadu_ps(a.add((r + i) * rs + p))
                        } else {
                            zero
                        }
                    }));
                    for (q, v) in block.into_iter().enumerate() {
                        _mm256_storeu_ps(out.add((p + q) * MR), v);
                    }
                }
                for p in full..kc {
                    for i in 0..MR {
                        *out.add(p * MR + i) = *a.add((r + i) * rs + p);
                    }
                }
            } else if rows == MR && rs == 1 {
                // Column-major (a transposed view): six neighbours per step, loaded
                // through a mask (the two lanes past them are never read) and stored
                // whole, as above.
                let six = first_lanes(MR);
                for p in 0..kc {
                    let v = _mm256_maskload_ps(a.add(r + p * cs), six);
                    _mm256_storeu_ps(out.add(p * MR), v);
                }
            } else {
                for p in 0..kc {
                    for i in 0..MR {
                        *out.add(p * MR + i) = if i < rows {
                            *a.add((r + i) * rs + p * cs)
                        } else {
                            0.0
                        };
                    }
                }
            }
        }
    }
}

/// Packs rows `0..kc`, columns `0..nc` of the view at `b` (strides `rs`, `cs`) into
/// panels of `nr` columns (a multiple of 8): panel `q` holds, step by step along `k`,
/// the `nr` values of its columns (zeros past `nc`), at `bp + q · nr · kc`.
///
/// # Safety
/// AVX2; the view's elements lie in its allocation; `bp` is 32-byte aligned with room
/// for `nc` rounded up to `nr`, times `kc`, floats.
#[target_feature(enable = "avx2,fma")]
unsafe fn pack_b(
    nr: usize,
    kc: usize,
    nc: usize,
    b: *const f32,
    rs: usize,
    cs: usize,
    bp: *mut f32,
) {
    for j in (0..nc).step_by(nr) {
        let cols = nr.min(nc - j);
        // SAFETY: inside the view and the (aligned) buffer: the caller's contract.
        unsafe {
            let out = bp.add(j * kc);
            if cs == 1 {
                // Row-major: `nr` neighbours per step, in vectors of 8 (a partial panel's
                // last columns through a mask, which never reads past them; zeros after).
                if cols == nr {
                    for p in 0..kc {
                        let s = b.add(p * rs + j);
                        for v in (0..nr).step_by(8) {
                            _mm256_store_ps(out.add(p * nr + v), _mm256_loadu_ps(s.add(v)));
                        }
                    }
                    continue;
                }
                for p in 0..kc {
                    let s = b.add(p * rs + j);
                    for v in (0..nr).step_by(8) {
                        let x = match cols.saturating_sub(v) {
                            0 => _mm256_setzero_ps(),
                            1..=7 => _mm256_maskload_ps(s.add(v), first_lanes(cols - v)),
                            _ => _mm256_loadu_ps(s.add(v)),
                        };
                        _mm256_store_ps(out.add(p * nr + v), x);
                    }
                }
            } else if rs == 1 {
                // Column-major (a transposed view): 8 × 8 blocks, transposed in registers
                // (a partial panel's missing columns as rows of zeros).
                let full = kc - kc % 8;
                // Pointers are formed for existing columns only.
                for p in (0..full).step_by(8) {
                    for v in (0..nr).step_by(8) {
                        let block = transpose8(std::array::from_fn(|q| {
                            if v + q < cols {
                                _mm256_loadu_ps(b.add((j + v + q) * cs + p))
                            } else {
                                _mm256_setzero_ps()
                            }
                        }));
                        for (q, x) in block.into_iter().enumerate() {
                            _mm256_store_ps(out.add((p + q) * nr + v), x);
                        }
                    }
                }
                for jj in 0..nr {
                    for p in full..kc {
                        *out.add(p * nr + jj) = if jj < cols {
                            *b.add((j + jj) * cs + p)
                        } else {
                            0.0
                        };
                    }
                }
            } else {
                for p in 0..kc {
                    for jj in 0..nr {
                        *out.add(p * nr + jj) = if jj < cols {
                            *b.add(p * rs + (j + jj) * cs)
                        } else {
                            0.0
                        };
                    }
                }
            }
        }
    }
}

/// Eight neighbouring columns of the unfolded matrix of some images, from image `i`'s
/// pixel `pix` on (into image `i + 1` where image `i` ends; 0 past the last image): where
/// their entries of any row lie, for [`Cols8::load`].
#[derive(Clone, Copy)]
struct Cols8 {
    /// Image `i`'s element at pixel `pix` (formed with wrapping arithmetic: the entries
    /// lie at row offsets from it).
    at: *const f32,
    /// The masks' lane for pixel `pix` of tap 0 (rows add their tap's start).
    mask: *const i32,
    /// Where the columns cross into image `i + 1`: `at` and `mask` for its lanes (its
    /// pixel `pix − P`, lanes before the crossing masked off).
    next: Option<(*const f32, *const i32)>,
    /// Whether every row's 8 entries lie inside the images' allocation, so that a plain
    /// load (the padding lanes then zeroed) is safe.
    plain: bool,
}

impl Cols8 {
    /// The columns from `q` (`< imgs · P`) on, of the `imgs` images at `x`.
    fn new(u: &Unfolding, (x, imgs): (*const f32, usize), q: usize) -> Self {
        let (i, pix) = (q / u.p, q % u.p);
        let at = x.wrapping_add(i * u.in_len + pix);
        let mask = u.masks.as_ptr().wrapping_add(pix);
        let next = (pix + 8 > u.p && i + 1 < imgs)
            .then(|| (at.wrapping_add(u.in_len - u.p), mask.wrapping_sub(u.p)));
        // Addresses as integers: a load of row offset `off` reads `at + off ..+ 8`.
        let (lo, end) = (x as usize, x as usize + 4 * imgs * u.in_len);
        let first = (at as usize).wrapping_add_signed(4 * u.offsets.0);
        let last = (at as usize).wrapping_add_signed(4 * u.offsets.1) + 32;
        let plain = next.is_none() && lo <= first && first <= last && last <= end;
        Self {
            at,
            mask,
            next,
            plain,
        }
    }

    /// The 8 entries of row `(off, mask0)` (an entry of [`Unfolding::rows`]).
    ///
    /// # Safety
    /// AVX2; the images are those [`Cols8::new`] was given, alive, and the row is one of
    /// the unfolding's.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn load(&self, (off, mask0): (isize, usize)) -> __m256 {
        // SAFETY: the masks are in bounds (8 lanes of 0 each side of a tap's P). A plain
        // load reads inside the images' allocation (checked in `new`) and zeroes the
        // lanes the mask clears; otherwise every lane the masks select is an element of
        // image i or i + 1 (the unfolding's contract), and the others are not read.
        unsafe {
            let m = _mm256_loadu_si256(self.mask.add(mask0).cast());
            let at = self.at.wrapping_offset(off);
            if self.plain {
                return _mm256_and_ps(_mm256_loadu_ps(at), _mm256_castsi256_ps(m));
            }
            let v = _mm256_maskload_ps(at, m);
            match self.next {
                None => v,
                Some((at, mask)) => {
                    let m = _mm256_loadu_si256(mask.add(mask0).cast());
                    _mm256_or_ps(v, _mm256_maskload_ps(at.wrapping_offset(off), m))
                }
            }
        }
    }
}

/// [`pack_b`] for the unfolded matrix of the images at `x`: rows `p0..p0 + kc` (the
/// kernel taps), columns `j0..j0 + nc` (the pixels).
///
/// # Safety
/// As [`pack_b`]; `x` holds `imgs` images of the unfolding's size; the block lies inside
/// the matrix.
#[target_feature(enable = "avx2,fma")]
unsafe fn pack_unfolded(
    u: &Unfolding,
    (x, imgs): (*const f32, usize),
    nr: usize,
    (p0, kc): (usize, usize),
    (j0, nc): (usize, usize),
    bp: *mut f32,
) {
    let n = imgs * u.p;
    let rows = &u.rows[p0..p0 + kc];
    for j in (0..nc).step_by(nr) {
        // Vector by vector, each down the block's rows.
        for v in (0..nr).step_by(8) {
            let q = j0 + j + v;
            // SAFETY: inside the buffer (the caller's contract) and the images (load's).
            unsafe {
                let out = bp.add(j * kc + v);
                if q >= n {
                    for s in 0..kc {
                        _mm256_store_ps(out.add(s * nr), _mm256_setzero_ps());
                    }
                    continue;
                }
                let cols = Cols8::new(u, (x, imgs), q);
                for (s, &row) in rows.iter().enumerate() {
                    _mm256_store_ps(out.add(s * nr), cols.load(row));
                }
            }
        }
    }
}

/// [`pack_b`] for the transpose of the unfolded matrix of the images at `x`: rows
/// `p0..p0 + kc` (the pixels), columns `j0..j0 + nc` (the kernel taps), in 8 × 8 blocks
/// transposed in registers.
///
/// # Safety
/// As [`pack_unfolded`].
#[target_feature(enable = "avx2,fma")]
unsafe fn pack_unfolded_t(
    u: &Unfolding,
    (x, imgs): (*const f32, usize),
    nr: usize,
    (p0, kc): (usize, usize),
    (j0, nc): (usize, usize),
    bp: *mut f32,
) {
    // Eight pixels at a time. Only the matrix's last block of steps can end short of 8
    // (the others are KC long); its last vectors' lanes past the last image read 0, and
    // only the steps the block has are stored.
    for s in (0..kc).step_by(8) {
        let cols = Cols8::new(u, (x, imgs), p0 + s);
        let steps = 8.min(kc - s);
        for j in (0..nc).step_by(nr) {
            let taps = &u.rows[j0 + j..j0 + j + nr.min(nc - j)];
            for v in (0..nr).step_by(8) {
                // SAFETY: inside the buffer (the caller's contract) and the images
                // (load's).
                unsafe {
                    let block = transpose8(std::array::from_fn(|t| match taps.get(v + t) {
                        Some(&row) => cols.load(row),
                        None => _mm256_setzero_ps(),
                    }));
                    let out = bp.add(j * kc + v);
                    for (t, y) in block.into_iter().enumerate().take(steps) {
                        _mm256_store_ps(out.add((s + t) * nr), y);
                    }
                }
            }
        }
    }
}

/// A mask selecting the first `n` (≤ 8) lanes, for `_mm256_maskload_ps` and
/// `_mm256_maskstore_ps`.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn first_lanes(n: usize) -> __m256i {
    let lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    _mm256_cmpgt_epi32(_mm256_set1_epi32(n as i32), lane)
}

/// The transpose of the 8 × 8 matrix whose rows are `r`.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn transpose8(r: [__m256; 8]) -> [__m256; 8] {
    let t0 = _mm256_unpacklo_ps(r[0], r[1]);
    let t1 = _mm256_unpackhi_ps(r[0], r[1]);
    let t2 = _mm256_unpacklo_ps(r[2], r[3]);
    let t3 = _mm256_unpackhi_ps(r[2], r[3]);
    let t4 = _mm256_unpacklo_ps(r[4], r[5]);
    let t5 = _mm256_unpackhi_ps(r[4], r[5]);
    let t6 = _mm256_unpacklo_ps(r[6], r[7]);
    let t7 = _mm256_unpackhi_ps(r[6], r[7]);
    let u0 = _mm256_shuffle_ps::<0x44>(t0, t2);
    let u1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
    let u2 = _mm256_shuffle_ps::<0x44>(t1, t3);
    let u3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
    let u4 = _mm256_shuffle_ps::<0x44>(t4, t6);
    let u5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
    let u6 = _mm256_shuffle_ps::<0x44>(t5, t7);
    let u7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
    [
        _mm256_permute2f128_ps::<0x20>(u0, u4),
        _mm256_permute2f128_ps::<0x20>(u1, u5),
        _mm256_permute2f128_ps::<0x20>(u2, u6),
        _mm256_permute2f128_ps::<0x20>(u3, u7),
        _mm256_permute2f128_ps::<0x31>(u0, u4),
        _mm256_permute2f128_ps::<0x31>(u1, u5),
        _mm256_permute2f128_ps::<0x31>(u2, u6),
        _mm256_permute2f128_ps::<0x31>(u3, u7),
    ]
}

/// Defines a tile's micro-kernel `$name::<R, V>` (see [`Tile::run`]) with `R` rows and
/// the first `V` (1 or 2) of the `$nr` columns' two vectors, from the vector operations
/// named: the same loop and the same updates of `C` for every vector width, so that each
/// element is the same chain of FMAs whatever the tile's width.
macro_rules! tile_kernel {
    ($(#[$doc:meta])* $name:ident, $feature:literal, $nr:literal,
     zero: $zero:ident, load: $load:ident, loadu: $loadu:ident, storeu: $storeu:ident,
     set1: $set1:ident, fmadd: $fmadd:ident, mul: $mul:ident, add: $add:ident,
     splat: $splat:ident, masks: $masks:ident, maskload: $maskload:ident,
     maskstore: $maskstore:ident) => {
        $(#[$doc])*
        #[target_feature(enable = $feature)]
        unsafe fn $name<const R: usize, const V: usize>(
            kc: usize,
            a: *const f32,
            b: *const f32,
            beta: f32,
            c: *mut f32,
            rsc: usize,
            cols: usize,
        ) {
            // Floats per vector.
            const W: usize = $nr / 2;
            let mut acc = [[$zero(); V]; R];
            // SAFETY: inside the panels and the tile (the caller's contract); masked
            // lanes are neither read nor written.
            unsafe {
                for p in 0..kc {
                    let bs: [_; V] = std::array::from_fn(|h| $load(b.add(p * $nr + W * h)));
                    for (i, row) in acc.iter_mut().enumerate() {
                        let x = $splat(a.add(p * MR + i));
                        for (r, &bv) in row.iter_mut().zip(&bs) {
                            *r = $fmadd(x, bv, *r);
                        }
                    }
                }
                let betav = $set1(beta);
                let read = beta != 0.0;
                if cols == V * W {
                    for (i, xs) in acc.into_iter().enumerate() {
                        for (h, x) in xs.into_iter().enumerate() {
                            let d = c.add(i * rsc + W * h);
                            let y = if read { $mul($loadu(d), betav) } else { $zero() };
                            $storeu(d, $add(x, y));
                        }
                    }
                    return;
                }
                // An edge: the columns that exist, through masks.
                let masks = $masks(cols);
                for (i, xs) in acc.into_iter().enumerate() {
                    for (h, (x, m)) in xs.into_iter().zip(masks).enumerate() {
                        let d = c.add(i * rsc + W * h);
                        let y = if read {
                            $mul($maskload(d, m), betav)
                        } else {
                            $zero()
                        };
                        $maskstore(d, m, $add(x, y));
                    }
                }
            }
        }
    };
}

tile_kernel!(
    /// [`Avx2`]'s tile (see [`Tile::run`]) with `R` rows.
    ///
    /// # Safety
    /// AVX2 and FMA; as [`Tile::run`] with `NR = 16` and `rows = R`.
    kernel16, "avx2,fma", 16,
    zero: _mm256_setzero_ps, load: _mm256_load_ps, loadu: _mm256_loadu_ps,
    storeu: _mm256_storeu_ps, set1: _mm256_set1_ps, fmadd: _mm256_fmadd_ps,
    mul: _mm256_mul_ps, add: _mm256_add_ps, splat: splat8, masks: masks8,
    maskload: _mm256_maskload_ps, maskstore: _mm256_maskstore_ps
);

tile_kernel!(
    /// [`Avx512`]'s tile (see [`Tile::run`]) with `R` rows.
    ///
    /// # Safety
    /// AVX-512F; as [`Tile::run`] with `NR = 32` and `rows = R`.
    kernel32, "avx512f", 32,
    zero: _mm512_setzero_ps, load: _mm512_load_ps, loadu: _mm512_loadu_ps,
    storeu: _mm512_storeu_ps, set1: _mm512_set1_ps, fmadd: _mm512_fmadd_ps,
    mul: _mm512_mul_ps, add: _mm512_add_ps, splat: splat16, masks: masks16,
    maskload: maskload16, maskstore: _mm512_mask_storeu_ps
);

/// `*p` in every lane of an AVX vector.
///
/// # Safety
/// AVX2; `p` points to a float.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn splat8(p: *const f32) -> __m256 {
    // SAFETY: the caller's contract.
    unsafe { _mm256_broadcast_ss(&*p) }
}

/// `*p` in every lane of an AVX-512 vector.
///
/// # Safety
/// AVX-512F; `p` points to a float.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn splat16(p: *const f32) -> __m512 {
    // SAFETY: the caller's contract.
    unsafe { _mm512_set1_ps(*p) }
}

/// The masks of the first `cols` (≤ 16) columns of a tile's two AVX vectors.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn masks8(cols: usize) -> [__m256i; 2] {
    [
        first_lanes(cols.min(8)),
        first_lanes(cols.saturating_sub(8)),
    ]
}

/// The masks of the first `cols` (≤ 32) columns of a tile's two AVX-512 vectors.
#[inline]
#[target_feature(enable = "avx512f")]
fn masks16(cols: usize) -> [__mmask16; 2] {
    let lanes = |n: usize| ((1u32 << n.min(16)) - 1) as __mmask16;
    [lanes(cols), lanes(cols.saturating_sub(16))]
}

/// The lanes of `m` loaded from `d`, zeros in the others (which are not read).
///
/// # Safety
/// AVX-512F; the lanes of `m` lie inside an allocation.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn maskload16(d: *const f32, m: __mmask16) -> __m512 {
    // SAFETY: the caller's contract.
    unsafe { _mm512_maskz_loadu_ps(m, d) }
}
