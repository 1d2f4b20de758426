//! The convolutions' SGEMM ([`sgemm`]): bounds-checked, run by our kernels at the level
//! [`crate::gemm_level`] names (AVX-512 or AVX2), and by `matrixmultiply::sgemm` below
//! AVX2. All give the same bits: each element is the same chain of FMAs, added to the
//! output in the same blocks of 256 steps along `k` (the private `packed` module says
//! how, and its one exception, the sign of a zero that underflowed at an edge tile).

#[cfg(target_arch = "x86_64")]
mod packed;

/// A read-only strided matrix view: element `(i, j)` is `data[i * rs + j * cs]`.
#[derive(Clone, Copy, Debug)]
pub struct Mat<'a> {
    /// The elements.
    pub data: &'a [f32],
    /// Rows.
    pub rows: usize,
    /// Columns.
    pub cols: usize,
    /// Distance between rows.
    pub rs: usize,
    /// Distance between columns.
    pub cs: usize,
}

impl<'a> Mat<'a> {
    /// A row-major `rows × cols` matrix.
    pub fn row_major(data: &'a [f32], rows: usize, cols: usize) -> Self {
        Self {
            data,
            rows,
            cols,
            rs: cols,
            cs: 1,
        }
    }

    /// The transpose (no data is moved).
    pub fn t(self) -> Self {
        Self {
            data: self.data,
            rows: self.cols,
            cols: self.rows,
            rs: self.cs,
            cs: self.rs,
        }
    }
}

/// Largest offset a `rows × cols` view with strides `rs`, `cs` touches, plus one
/// (saturating, so an absurd view fails the bounds check instead of wrapping).
fn extent(rows: usize, cols: usize, rs: usize, cs: usize) -> usize {
    if rows == 0 || cols == 0 {
        0
    } else {
        ((rows - 1).saturating_mul(rs))
            .saturating_add((cols - 1).saturating_mul(cs))
            .saturating_add(1)
    }
}

/// `c ← beta · c + a · b`, with `c` a row-major `a.rows × b.cols` matrix in `c`.
///
/// Single-threaded: the ops parallelise over images instead. `beta = 0` overwrites `c`
/// without reading it (NaNs in old contents do not leak through). The result is the
/// same, bit for bit, on every code path and as `matrixmultiply::sgemm` gives (module
/// documentation).
///
/// # Panics
/// If the inner dimensions differ or a view reaches past its slice.
///
/// # Complexity
/// `O(m · n · k)` time; packing buffers of up to 144 × 256 and 256 × 1 024 floats per
/// thread, kept between calls.
///
/// ```
/// use fashion_nn::gemm::{Mat, sgemm};
/// let a = [1.0, 2.0, 3.0, 4.0];
/// let b = [5.0, 6.0, 7.0, 8.0];
/// let mut c = [f32::NAN; 4];
/// sgemm(Mat::row_major(&a, 2, 2), Mat::row_major(&b, 2, 2), 0.0, &mut c);
/// assert_eq!(c, [19.0, 22.0, 43.0, 50.0]);
/// // aᵀ · b (a view, nothing moved) added on top.
/// sgemm(Mat::row_major(&a, 2, 2).t(), Mat::row_major(&b, 2, 2), 1.0, &mut c);
/// assert_eq!(c, [19.0 + 26.0, 22.0 + 30.0, 43.0 + 38.0, 50.0 + 44.0]);
/// ```
pub fn sgemm(a: Mat<'_>, b: Mat<'_>, beta: f32, c: &mut [f32]) {
    if !checked(a, b, beta, c) {
        return;
    }
    #[cfg(target_arch = "x86_64")]
    match crate::gemm_level() {
        // SAFETY: gemm_level() names only what the CPU has (AVX-512F with AVX2 and FMA,
        // or AVX2 and FMA); `checked` asserted the bounds packed::sgemm asks for, and
        // m, n, k ≥ 1.
        crate::SimdLevel::Avx512 if wide_tile(b.cols) => {
            return unsafe { packed::sgemm::<packed::Avx512>(a, b.into(), beta, c) };
        }
        crate::SimdLevel::Avx512 | crate::SimdLevel::Avx2 => {
            return unsafe { packed::sgemm::<packed::Avx2>(a, b.into(), beta, c) };
        }
        crate::SimdLevel::Baseline => {}
    }
    // SAFETY: `checked` keeps every element the kernel reads inside `a.data` and
    // `b.data` and every element it writes inside `c` (row-major, strides n and 1); the
    // strides fit in isize (asserted); `c` is borrowed
    // mutably, so it cannot alias `a` or `b`.
    unsafe { by_matrixmultiply(a, b, beta, c) }
}

/// Whether a product with `n` columns runs on the AVX-512 tile (32 columns wide): where
/// [`crate::gemm_level`] is AVX-512 and `n > 16`. At most 16 columns (the first layer's
/// weight gradient has 9) run on the 16-wide tile, which pads fewer of them (the same
/// bits either way).
#[cfg(target_arch = "x86_64")]
fn wide_tile(n: usize) -> bool {
    crate::gemm_level() == crate::SimdLevel::Avx512 && n > 16
}

/// The left operand of [`sgemm_packed`]: a matrix packed once, for many products with
/// it. [`sgemm`] packs its left operand in every call, in blocks laid out in the order
/// its micro-kernel reads them; a convolution multiplies the same weights by every work
/// item's columns, so it packs them once per pass instead.
#[derive(Clone, Debug)]
pub struct PackedLhs {
    rows: usize,
    cols: usize,
    data: Packing,
}

#[derive(Clone, Debug)]
enum Packing {
    /// Our kernels' blocks.
    #[cfg(target_arch = "x86_64")]
    Blocks(Vec<packed::Line>),
    /// Where our kernels do not run: the matrix, row-major, for matrixmultiply.
    RowMajor(Vec<f32>),
}

impl PackedLhs {
    /// Packs `a` for the kernels [`sgemm`] would run.
    ///
    /// # Panics
    /// If the view reaches past its slice.
    ///
    /// # Complexity
    /// `O(m · k)` time; `m` rounded up to 6, times `k`, floats.
    pub fn new(a: Mat<'_>) -> Self {
        let (rows, cols) = (a.rows, a.cols);
        assert!(
            extent(rows, cols, a.rs, a.cs) <= a.data.len(),
            "PackedLhs: matrix out of bounds"
        );
        #[cfg(target_arch = "x86_64")]
        if crate::gemm_level() >= crate::SimdLevel::Avx2 {
            // SAFETY: gemm_level() names only what the CPU has (AVX2 and FMA at least);
            // the view is in bounds (asserted above).
            let data = Packing::Blocks(unsafe { packed::pack_lhs(a) });
            return Self { rows, cols, data };
        }
        let data = (0..rows)
            .flat_map(|i| (0..cols).map(move |j| a.data[i * a.rs + j * a.cs]))
            .collect();
        Self {
            rows,
            cols,
            data: Packing::RowMajor(data),
        }
    }
}

/// [`sgemm`] with a left operand packed beforehand: the same bits, without packing `a`.
///
/// # Panics
/// As [`sgemm`].
///
/// ```
/// use fashion_nn::gemm::{Mat, PackedLhs, sgemm_packed};
/// let a = [1.0, 2.0, 3.0, 4.0];
/// let packed = PackedLhs::new(Mat::row_major(&a, 2, 2));
/// let mut c = [f32::NAN; 4];
/// sgemm_packed(&packed, Mat::row_major(&[5.0, 6.0, 7.0, 8.0], 2, 2), 0.0, &mut c);
/// assert_eq!(c, [19.0, 22.0, 43.0, 50.0]);
/// ```
pub fn sgemm_packed(a: &PackedLhs, b: Mat<'_>, beta: f32, c: &mut [f32]) {
    let (m, k) = (a.rows, a.cols);
    if !checked_rest((m, k), b, beta, c) {
        return;
    }
    match &a.data {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Blocks` is made only where gemm_level() is AVX2 or above (so the CPU
        // has AVX2 and FMA, and AVX-512F for the wider tile), by `pack_lhs` for an
        // m × k matrix; `checked_rest` asserted the bounds of b and c; m, n, k ≥ 1.
        Packing::Blocks(blocks) => unsafe {
            if wide_tile(b.cols) {
                packed::sgemm_packed::<packed::Avx512>(blocks, (m, k), b.into(), beta, (c, b.cols))
            } else {
                packed::sgemm_packed::<packed::Avx2>(blocks, (m, k), b.into(), beta, (c, b.cols))
            }
        },
        Packing::RowMajor(data) => {
            // SAFETY: `data` is the m × k matrix, row-major; `checked_rest` asserted the rest.
            unsafe { by_matrixmultiply(Mat::row_major(data, m, k), b, beta, c) }
        }
    }
}

/// How a stack of images unfolds into im2col's column matrix, for products that read
/// the images where they lie ([`sgemm_packed_unfolded`], [`sgemm_unfolded_t`]) instead
/// of writing the matrix out first.
///
/// For a convolution whose output is as large as its input (`H × W` = `P` pixels, padded
/// by `top`, `left`): row `r = (c, dy, dx)` of the `K = C_in · KH · KW` rows, column
/// `q = (image, pixel)` holds the image's element at channel `c`, pixel
/// `pixel + (dy − top) · W + (dx − left)`, or 0 where that position falls in the padding.
/// The GEMM packs its panels of that matrix straight from the images: each vector of
/// 8 entries is one load from the plane with the padding lanes masked off (two where
/// the 8 columns cross into the next image), where im2col would have copied the same
/// elements into the matrix and the packing copied them again.
#[derive(Debug)]
pub(crate) struct Unfolding {
    /// Elements per image.
    in_len: usize,
    /// Pixels per image plane (at least 8).
    p: usize,
    /// Per row of the matrix: where its entries lie relative to their pixel (in
    /// elements of the image; negative above or left of it), and where in `masks` its
    /// tap's lane for pixel 0 is.
    rows: Vec<(isize, usize)>,
    /// The least and the greatest of the rows' offsets.
    offsets: (isize, isize),
    /// Per tap, `P + 16` lanes: 8 of 0, then per pixel all ones where the tap reads inside
    /// the image and 0 where it reads padding, then 8 of 0 (so that 8 lanes from any
    /// pixel are in bounds, and 0 past either end of the plane).
    masks: Vec<i32>,
}

impl Unfolding {
    /// The unfolding of images `(C_in, H, W)` by a `KH × KW` kernel padded by
    /// `(top, left)` with an output of `H × W`, where our kernels run (`None` elsewhere:
    /// the caller writes the matrix out and multiplies it by [`sgemm`]), and for planes
    /// of at least 8 pixels (so that a vector of 8 columns spans at most two images).
    pub(crate) fn new(
        c_in: usize,
        (h, w): (usize, usize),
        (kh, kw): (usize, usize),
        (top, left): (usize, usize),
    ) -> Option<Self> {
        (crate::gemm_level() >= crate::SimdLevel::Avx2)
            .then(|| Self::build(c_in, (h, w), (kh, kw), (top, left)))
            .flatten()
    }

    /// [`Unfolding::new`] whatever the CPU.
    fn build(
        c_in: usize,
        (h, w): (usize, usize),
        (kh, kw): (usize, usize),
        (top, left): (usize, usize),
    ) -> Option<Self> {
        let p = h * w;
        if p < 8 || kh == 0 || kw == 0 {
            return None;
        }
        let taps = kh * kw;
        let shift = |t: usize| {
            let dy = (t / kw) as isize - top as isize;
            let dx = (t % kw) as isize - left as isize;
            (dy, dx)
        };
        let rows: Vec<(isize, usize)> = (0..c_in * taps)
            .map(|r| {
                let (dy, dx) = shift(r % taps);
                let mask0 = r % taps * (p + 16) + 8;
                ((r / taps * p) as isize + dy * w as isize + dx, mask0)
            })
            .collect();
        let inside = |pix: usize, (dy, dx): (isize, isize)| {
            let (y, x) = ((pix / w) as isize + dy, (pix % w) as isize + dx);
            (0..h as isize).contains(&y) && (0..w as isize).contains(&x)
        };
        let masks = (0..taps)
            .flat_map(|t| {
                let lanes = (0..p).map(move |pix| -i32::from(inside(pix, shift(t))));
                [0; 8].into_iter().chain(lanes).chain([0; 8])
            })
            .collect();
        let offs = rows.iter().map(|r| r.0);
        let offsets = (offs.clone().min()?, offs.max()?);
        Some(Self {
            in_len: c_in * p,
            p,
            rows,
            offsets,
            masks,
        })
    }

    /// Rows of the matrix, `K`.
    fn k(&self) -> usize {
        self.rows.len()
    }

    /// The images in `x`, checked: their count.
    fn images(&self, x: &[f32]) -> usize {
        assert!(
            !x.is_empty() && x.len().is_multiple_of(self.in_len),
            "sgemm: {} floats of images of {} each",
            x.len(),
            self.in_len
        );
        x.len() / self.in_len
    }

    /// The matrix of the images in `x` written out, row-major (`K × images · P`).
    fn matrix(&self, x: &[f32]) -> Vec<f32> {
        let (p, imgs) = (self.p, self.images(x));
        let mut m = vec![0.0; self.k() * imgs * p];
        for (row, &(off, mask0)) in m.chunks_exact_mut(imgs * p).zip(&self.rows) {
            for (q, v) in row.iter_mut().enumerate() {
                let (i, pix) = (q / p, q % p);
                if self.masks[mask0 + pix] != 0 {
                    *v = x[((i * self.in_len + pix) as isize + off) as usize];
                }
            }
        }
        m
    }
}

/// [`sgemm_packed`] with `b` the column matrix of the images in `x` unfolded by `u`
/// (`K × images · P`), read from the images as it is packed: `c ← β · c + a · b`, the
/// same bits as with the matrix written out. With `per_image`, `c` is laid out image by
/// image, as a convolution's output (`images × m × P`: column `(image, pixel)` of row `i`
/// at `(image · m + i) · P + pixel`); otherwise row-major (`m × images · P`).
///
/// # Panics
/// If `a` does not have `K` columns, `x` does not hold whole images or `c` is too short.
pub(crate) fn sgemm_packed_unfolded(
    a: &PackedLhs,
    u: &Unfolding,
    x: &[f32],
    beta: f32,
    (c, per_image): (&mut [f32], bool),
) {
    let imgs = u.images(x);
    let (m, k, n) = (a.rows, a.cols, imgs * u.p);
    assert_eq!(k, u.k(), "sgemm: inner dimensions differ");
    assert!(m * n <= c.len(), "sgemm: dst out of bounds");
    if m == 0 {
        return;
    }
    let split = if per_image { u.p } else { n };
    match &a.data {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as in sgemm_packed; the rhs is the unfolding of whole images in `x`
        // (asserted), inside its allocation; `split` divides n; m, n, k ≥ 1 (an unfolding
        // has rows and at least 8 columns per image).
        Packing::Blocks(blocks) => unsafe {
            let b = packed::Rhs::Unfolded(u, x.as_ptr(), imgs);
            if wide_tile(n) {
                packed::sgemm_packed::<packed::Avx512>(blocks, (m, k), b, beta, (c, split))
            } else {
                packed::sgemm_packed::<packed::Avx2>(blocks, (m, k), b, beta, (c, split))
            }
        },
        Packing::RowMajor(_) => {
            // Row-major in a buffer, then to its places.
            let place = |i: usize, q: usize| q / split * m * split + i * split + q % split;
            let places = (0..m).flat_map(|i| (0..n).map(move |q| (i, q)));
            let mut rm: Vec<f32> = if beta == 0.0 {
                vec![0.0; m * n]
            } else {
                places.clone().map(|(i, q)| c[place(i, q)]).collect()
            };
            let b = u.matrix(x);
            sgemm_packed(a, Mat::row_major(&b, k, n), beta, &mut rm);
            for ((i, q), v) in places.zip(rm) {
                c[place(i, q)] = v;
            }
        }
    }
}

/// [`sgemm`] with `b` the transpose of the column matrix of the images in `x` unfolded
/// by `u` (`images · P × K`), read from the images as it is packed: `c ← β · c + a · b`,
/// the same bits as with the matrix written out.
///
/// # Panics
/// If `a` does not have `images · P` columns or reaches past its slice, `x` does not hold
/// whole images or `c` is too short.
pub(crate) fn sgemm_unfolded_t(a: Mat<'_>, u: &Unfolding, x: &[f32], beta: f32, c: &mut [f32]) {
    let imgs = u.images(x);
    let n = imgs * u.p;
    assert_eq!(a.cols, n, "sgemm: inner dimensions differ");
    #[cfg(target_arch = "x86_64")]
    if crate::gemm_level() >= crate::SimdLevel::Avx2 {
        checked_lhs(a);
        assert!(a.rows * u.k() <= c.len(), "sgemm: dst out of bounds");
        if a.rows == 0 {
            return;
        }
        let b = packed::Rhs::UnfoldedT(u, x.as_ptr(), imgs);
        // SAFETY: gemm_level() names only what the CPU has; a and c in bounds (asserted),
        // b the unfolding of whole images in `x`; m, n, k ≥ 1.
        unsafe {
            if wide_tile(u.k()) {
                packed::sgemm::<packed::Avx512>(a, b, beta, c)
            } else {
                packed::sgemm::<packed::Avx2>(a, b, beta, c)
            }
        }
        return;
    }
    let b = u.matrix(x);
    sgemm(a, Mat::row_major(&b, u.k(), n).t(), beta, c)
}

/// The bounds checks of [`sgemm`], and the products with nothing to sum: `false` when
/// `c` is already done (no rows, no columns, or `k = 0`: `c ← beta · c`).
fn checked(a: Mat<'_>, b: Mat<'_>, beta: f32, c: &mut [f32]) -> bool {
    checked_lhs(a);
    checked_rest((a.rows, a.cols), b, beta, c)
}

/// The bounds checks of [`sgemm`] on its left operand.
fn checked_lhs(a: Mat<'_>) {
    assert!(
        extent(a.rows, a.cols, a.rs, a.cs) <= a.data.len(),
        "sgemm: lhs out of bounds"
    );
    assert!(
        a.rs.max(a.cs) <= isize::MAX as usize,
        "sgemm: stride too large"
    );
}

/// [`checked`] for a left operand of `m × k` elements known to be in bounds.
fn checked_rest((m, k): (usize, usize), b: Mat<'_>, beta: f32, c: &mut [f32]) -> bool {
    let n = b.cols;
    assert_eq!(b.rows, k, "sgemm: inner dimensions differ");
    assert!(
        extent(k, n, b.rs, b.cs) <= b.data.len(),
        "sgemm: rhs out of bounds"
    );
    assert!(m * n <= c.len(), "sgemm: dst out of bounds");
    let max_stride = isize::MAX as usize;
    assert!(
        [b.rs, b.cs, n].iter().all(|&s| s <= max_stride),
        "sgemm: stride too large"
    );
    if m == 0 || n == 0 {
        return false;
    }
    if k == 0 {
        // matrixmultiply scales by beta here too, but be explicit about beta = 0.
        if beta == 0.0 {
            c[..m * n].fill(0.0);
        } else {
            c[..m * n].iter_mut().for_each(|v| *v *= beta);
        }
        return false;
    }
    true
}

/// [`sgemm`] by `matrixmultiply::sgemm` on every CPU: the reference our kernels give the
/// bits of, for tests and benchmarks.
///
/// # Panics
/// As [`sgemm`].
pub fn sgemm_matrixmultiply(a: Mat<'_>, b: Mat<'_>, beta: f32, c: &mut [f32]) {
    if checked(a, b, beta, c) {
        // SAFETY: `checked` asserted the bounds and strides by_matrixmultiply asks for.
        unsafe { by_matrixmultiply(a, b, beta, c) }
    }
}

/// `c ← beta · c + a · b` by `matrixmultiply::sgemm`, `c` row-major with `b.cols` columns.
///
/// # Safety
/// Every element of `a` and `b` the views describe lies inside their slices, `c` holds at
/// least `a.rows · b.cols` elements, and every stride fits in `isize`.
unsafe fn by_matrixmultiply(a: Mat<'_>, b: Mat<'_>, beta: f32, c: &mut [f32]) {
    // SAFETY: the caller's contract.
    unsafe {
        matrixmultiply::sgemm(
            a.rows,
            a.cols,
            b.cols,
            1.0,
            a.data.as_ptr(),
            a.rs as isize,
            a.cs as isize,
            b.data.as_ptr(),
            b.rs as isize,
            b.cs as isize,
            beta,
            c.as_mut_ptr(),
            b.cols as isize,
            1,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// Mostly values in ±3, some exact zeros of both signs, infinities and NaNs (no
    /// values small enough for a product to underflow: see the `avx2` module).
    fn values(rng: &mut ChaCha8Rng, n: usize, specials: bool) -> Vec<f32> {
        const SPECIAL: [f32; 5] = [0.0, -0.0, f32::INFINITY, f32::NEG_INFINITY, f32::NAN];
        (0..n)
            .map(|_| {
                if specials && rng.gen_bool(0.02) {
                    SPECIAL[rng.gen_range(0..SPECIAL.len())]
                } else if rng.gen_bool(0.1) {
                    if rng.gen_bool(0.5) { 0.0 } else { -0.0 }
                } else {
                    rng.gen_range(-3.0f32..3.0)
                }
            })
            .collect()
    }

    /// A `rows × cols` view of `data`, row-major or (`transposed`) column-major.
    fn view(data: &[f32], rows: usize, cols: usize, transposed: bool) -> Mat<'_> {
        if transposed {
            Mat::row_major(data, cols, rows).t()
        } else {
            Mat::row_major(data, rows, cols)
        }
    }

    /// Whether this CPU can run our AVX2 tile and our AVX-512 tile.
    fn our_kernels() -> (bool, bool) {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::is_x86_feature_detected as has;
            let avx2 = has!("avx2") && has!("fma");
            (avx2, avx2 && has!("avx512f"))
        }
        #[cfg(not(target_arch = "x86_64"))]
        (false, false)
    }

    /// Equal bits, or both NaN (which NaN an FMA passes on depends on operand order).
    fn same(x: &[f32], y: &[f32]) -> bool {
        x.len() == y.len()
            && x.iter()
                .zip(y)
                .all(|(a, b)| a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()))
    }

    #[test]
    fn sgemm_gives_matrixmultiplys_bits_on_every_shape_layout_and_beta() {
        // Our kernels this CPU can run, each compared on its own below.
        let (avx2, avx512) = our_kernels();
        if !avx2 || !avx512 {
            eprintln!(
                "this CPU lacks AVX2 and FMA or AVX-512F: only the kernels it has are compared"
            );
        }
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let mut checked = 0;
        // Sizes around the tiles (6 × 16, 6 × 32: edge tiles of every row count from 1 to
        // 5 and of partial vectors), matrixmultiply's tile (8 × 8), KC = 256 and the
        // transposing packer's 8-step blocks; the conv layers' own shapes last.
        let shapes = [
            (1, 1, 1),
            (5, 7, 9),
            (3, 5, 40),
            (9, 20, 23),
            (6, 8, 16),
            (7, 9, 17),
            (13, 255, 31),
            (12, 256, 32),
            (19, 257, 47),
            (32, 9, 784),
            (32, 784, 9),
            (64, 600, 40),
            (150, 70, 1030),
            (64, 288, 200),
            (288, 64, 200),
            (300, 520, 20),
        ];
        for (m, k, n) in shapes {
            for (at, bt) in [(false, false), (false, true), (true, false), (true, true)] {
                for beta in [0.0, 1.0] {
                    let specials = rng.gen_bool(0.5);
                    let (ad, bd) = (
                        values(&mut rng, m * k, specials),
                        values(&mut rng, k * n, specials),
                    );
                    let (a, b) = (view(&ad, m, k, at), view(&bd, k, n, bt));
                    let mut start = values(&mut rng, m * n, false);
                    if beta == 0.0 {
                        // Must not be read.
                        start.iter_mut().step_by(3).for_each(|v| *v = f32::NAN);
                    }
                    let mut want = start.clone();
                    sgemm_matrixmultiply(a, b, beta, &mut want);
                    let mut got = start.clone();
                    sgemm(a, b, beta, &mut got);
                    let what =
                        format!("{m}×{k}×{n}, a transposed {at}, b transposed {bt}, β {beta}");
                    assert!(
                        same(&got, &want),
                        "sgemm differs from matrixmultiply: {what}"
                    );
                    let packed_a = PackedLhs::new(a);
                    let mut got = start.clone();
                    sgemm_packed(&packed_a, b, beta, &mut got);
                    assert!(
                        same(&got, &want),
                        "sgemm_packed differs from matrixmultiply: {what}"
                    );
                    #[cfg(target_arch = "x86_64")]
                    for (tile, run) in [("AVX2", avx2), ("AVX-512", avx512)] {
                        if !run {
                            continue;
                        }
                        let (mut got, mut got_packed) = (start.clone(), start.clone());
                        // SAFETY: the CPU has the tile's instructions (checked above);
                        // views in bounds, c is m × n; `lhs` is pack_lhs's for m × k.
                        unsafe {
                            let lhs = packed::pack_lhs(a);
                            let cs = (&mut got[..], &mut got_packed[..]);
                            if tile == "AVX2" {
                                view_products::<packed::Avx2>((a, &lhs, b), beta, cs);
                            } else {
                                view_products::<packed::Avx512>((a, &lhs, b), beta, cs);
                            }
                        }
                        assert!(same(&got, &want), "our {tile} kernels differ: {what}");
                        assert!(
                            same(&got_packed, &want),
                            "our {tile} kernels differ with a packed lhs: {what}"
                        );
                        checked += 1;
                    }
                }
            }
        }
        assert_eq!(
            checked,
            shapes.len() * 8 * (avx2 as usize + avx512 as usize)
        );
    }

    /// im2col's column matrix of `imgs` images `(c_in, h, w)`, "same" padding, written
    /// out entry by entry: row `(c, dy, dx)`, column `(image, y, x)`.
    fn im2col_naive(
        x: &[f32],
        imgs: usize,
        (c_in, h, w): (usize, usize, usize),
        (kh, kw): (usize, usize),
    ) -> Vec<f32> {
        let (top, left) = ((kh - 1) / 2, (kw - 1) / 2);
        let n = imgs * h * w;
        let mut m = vec![0.0; c_in * kh * kw * n];
        for c in 0..c_in {
            for (dy, dx) in (0..kh).flat_map(|dy| (0..kw).map(move |dx| (dy, dx))) {
                let r = (c * kh + dy) * kw + dx;
                for (i, y, xx) in (0..imgs)
                    .flat_map(|i| (0..h).flat_map(move |y| (0..w).map(move |xx| (i, y, xx))))
                {
                    let (sy, sx) = (
                        (y + dy) as isize - top as isize,
                        (xx + dx) as isize - left as isize,
                    );
                    if (0..h as isize).contains(&sy) && (0..w as isize).contains(&sx) {
                        let (sy, sx) = (sy as usize, sx as usize);
                        m[r * n + (i * h + y) * w + xx] = x[((i * c_in + c) * h + sy) * w + sx];
                    }
                }
            }
        }
        m
    }

    /// `a · b` by `T`'s kernels into `c`, and with `a` packed as `lhs` into `c_packed`.
    ///
    /// # Safety
    /// The CPU has `T`'s instructions; the views are in bounds, `lhs` is `pack_lhs(a)`,
    /// and both outputs hold `a.rows · b.cols` floats.
    #[cfg(target_arch = "x86_64")]
    unsafe fn view_products<T: packed::Tile>(
        (a, lhs, b): (Mat<'_>, &[packed::Line], Mat<'_>),
        beta: f32,
        (c, c_packed): (&mut [f32], &mut [f32]),
    ) {
        // SAFETY: the caller's contract.
        unsafe {
            packed::sgemm::<T>(a, b.into(), beta, c);
            packed::sgemm_packed::<T>(lhs, (a.rows, a.cols), b.into(), beta, (c_packed, b.cols));
        }
    }

    /// With tile `T`: `a · b` (`a` packed, `b` unfolded) into a row-major `c` and into one
    /// laid out image by image (`split` = (n, P)), and `g · bᵀ` into `c_t`.
    ///
    /// # Safety
    /// As `packed::sgemm_packed` and `packed::sgemm`.
    #[cfg(target_arch = "x86_64")]
    #[allow(clippy::type_complexity)]
    unsafe fn unfolded_products<T: packed::Tile>(
        (a, mk, g, b, b_t): (
            &[packed::Line],
            (usize, usize),
            Mat<'_>,
            packed::Rhs<'_>,
            packed::Rhs<'_>,
        ),
        beta: f32,
        (c, c_pi, c_t): (&mut [f32], &mut [f32], &mut [f32]),
        (n, p): (usize, usize),
    ) {
        // SAFETY: the caller's contract.
        unsafe {
            packed::sgemm_packed::<T>(a, mk, b, beta, (c, n));
            packed::sgemm_packed::<T>(a, mk, b, beta, (c_pi, p));
            packed::sgemm::<T>(g, b_t, beta, c_t);
        }
    }

    #[test]
    fn unfolded_products_give_the_bits_of_the_written_out_matrix() {
        let (avx2, avx512) = our_kernels();
        let mut rng = ChaCha8Rng::seed_from_u64(12);
        let mut checked = 0;
        // (C_in, H, W), (KH, KW), images: the conv layers' own (planes of 784, 196 and 49
        // pixels: whole vectors, half a vector over, one lane over), planes of 8 and 15
        // pixels (vectors crossing into the next image), 1-D and 5 × 5 kernels, products
        // of more than KC = 256 steps and more than NC = 1024 columns.
        let cases = [
            ((1, 28, 28), (3, 3), 1),
            ((2, 14, 14), (3, 3), 3),
            ((3, 7, 7), (3, 3), 4),
            ((2, 4, 2), (3, 3), 3),
            ((1, 3, 5), (3, 3), 5),
            ((2, 9, 11), (5, 5), 2),
            ((3, 3, 9), (3, 1), 2),
            ((1, 2, 6), (1, 3), 3),
            ((40, 7, 7), (3, 3), 3),
            ((1, 20, 30), (3, 3), 2),
        ];
        for ((c_in, h, w), (kh, kw), imgs) in cases {
            let what = format!("images ({c_in}, {h}, {w}) × {imgs}, kernel {kh} × {kw}");
            let u = Unfolding::build(c_in, (h, w), (kh, kw), ((kh - 1) / 2, (kw - 1) / 2))
                .expect("planes of at least 8 pixels");
            let (k, n) = (c_in * kh * kw, imgs * h * w);
            let x = values(&mut rng, imgs * c_in * h * w, true);
            let written = im2col_naive(&x, imgs, (c_in, h, w), (kh, kw));
            assert!(
                same(&u.matrix(&x), &written),
                "the unfolding's matrix: {what}"
            );
            let b = Mat::row_major(&written, k, n);
            for m in [1, 7, 150] {
                for beta in [0.0, 1.0] {
                    let a = values(&mut rng, m * k, true);
                    let a = Mat::row_major(&a, m, k);
                    let g = values(&mut rng, m * n, true);
                    // a · b and g · bᵀ, g also as a transposed view.
                    let g_t: Vec<f32> = (0..n * m).map(|t| g[(t % m) * n + t / m]).collect();
                    let g = Mat::row_major(&g, m, n);
                    let g_view = Mat::row_major(&g_t, n, m).t();
                    let mut start = values(&mut rng, m * n.max(k), false);
                    if beta == 0.0 {
                        start.iter_mut().step_by(3).for_each(|v| *v = f32::NAN);
                    }
                    let (mut want, mut want_t) = (start[..m * n].to_vec(), start[..m * k].to_vec());
                    sgemm_matrixmultiply(a, b, beta, &mut want);
                    sgemm_matrixmultiply(g, b.t(), beta, &mut want_t);
                    let what = format!("{what}, m {m}, β {beta}");
                    // c laid out image by image, as a convolution's output.
                    let per_image = |rm: &[f32]| -> Vec<f32> {
                        let p = h * w;
                        (0..m * n)
                            .map(|t| rm[t / p % m * n + t / (m * p) * p + t % p])
                            .collect()
                    };
                    let want_pi = per_image(&want);
                    let packed_a = PackedLhs::new(a);
                    let mut got = start[..m * n].to_vec();
                    sgemm_packed_unfolded(&packed_a, &u, &x, beta, (&mut got, false));
                    assert!(same(&got, &want), "sgemm_packed_unfolded: {what}");
                    let mut got = per_image(&start[..m * n]);
                    sgemm_packed_unfolded(&packed_a, &u, &x, beta, (&mut got, true));
                    assert!(
                        same(&got, &want_pi),
                        "sgemm_packed_unfolded, per image: {what}"
                    );
                    for lhs in [g, g_view] {
                        let mut got = start[..m * k].to_vec();
                        sgemm_unfolded_t(lhs, &u, &x, beta, &mut got);
                        assert!(same(&got, &want_t), "sgemm_unfolded_t: {what}");
                    }
                    #[cfg(target_arch = "x86_64")]
                    for (tile, run) in [("AVX2", avx2), ("AVX-512", avx512)] {
                        if !run {
                            continue;
                        }
                        let (mut got, mut got_t) =
                            (start[..m * n].to_vec(), start[..m * k].to_vec());
                        let mut got_pi = per_image(&start[..m * n]);
                        let rhs = packed::Rhs::Unfolded(&u, x.as_ptr(), imgs);
                        let rhs_t = packed::Rhs::UnfoldedT(&u, x.as_ptr(), imgs);
                        // SAFETY: the CPU has the tile's instructions (checked above); `x`
                        // holds the images, `lhs` is pack_lhs's for m × k, c is m × n
                        // (m × k).
                        unsafe {
                            let lhs = packed::pack_lhs(a);
                            let outs = (&mut got[..], &mut got_pi[..], &mut got_t[..]);
                            let (ops, split) = ((&lhs[..], (m, k), g, rhs, rhs_t), (n, h * w));
                            if tile == "AVX2" {
                                unfolded_products::<packed::Avx2>(ops, beta, outs, split);
                            } else {
                                unfolded_products::<packed::Avx512>(ops, beta, outs, split);
                            }
                        }
                        assert!(same(&got, &want), "our {tile} kernels, unfolded: {what}");
                        assert!(
                            same(&got_pi, &want_pi),
                            "our {tile} kernels, unfolded, per image: {what}"
                        );
                        assert!(
                            same(&got_t, &want_t),
                            "our {tile} kernels, unfolded and transposed: {what}"
                        );
                        checked += 1;
                    }
                }
            }
        }
        assert_eq!(checked, cases.len() * 6 * (avx2 as usize + avx512 as usize));
        // Planes under 8 pixels are not unfolded.
        assert!(Unfolding::build(4, (2, 3), (3, 3), (1, 1)).is_none());
    }

    #[test]
    fn sgemm_sums_in_blocks_of_256_steps_like_matrixmultiply() {
        // 1 + 511 terms of 2⁻²⁴ (half an ulp of 1): in one FMA chain every term rounds
        // away (ties to even) and the sum is 1; in blocks of 256, the second block's 256
        // terms add up exactly to 2⁻¹⁶, which survives the addition to the first's 1.
        let k = 512;
        let a = vec![1.0f32; k];
        let mut b = vec![2f32.powi(-24); k];
        b[0] = 1.0;
        let (a, b) = (Mat::row_major(&a, 1, k), Mat::row_major(&b, k, 1));
        let mut c = [f32::NAN];
        sgemm(a, b, 0.0, &mut c);
        assert_eq!(c[0], 1.0 + 2f32.powi(-16));
        let mut want = [0.0];
        sgemm_matrixmultiply(a, b, 0.0, &mut want);
        assert_eq!(c[0].to_bits(), want[0].to_bits());
    }
}
