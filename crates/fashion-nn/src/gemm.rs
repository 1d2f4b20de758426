//! A bounds-checked wrapper around `matrixmultiply::sgemm`.

/// A read-only strided matrix view: element `(i, j)` is `data[i * rs + j * cs]`.
#[derive(Clone, Copy)]
pub(super) struct Mat<'a> {
    pub data: &'a [f32],
    pub rows: usize,
    pub cols: usize,
    pub rs: usize,
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
/// without reading it (NaNs in old contents do not leak through).
///
/// # Panics
/// If the inner dimensions differ or a view reaches past its slice.
pub(super) fn sgemm(a: Mat<'_>, b: Mat<'_>, beta: f32, c: &mut [f32]) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    assert_eq!(b.rows, k, "sgemm: inner dimensions differ");
    assert!(
        extent(m, k, a.rs, a.cs) <= a.data.len(),
        "sgemm: lhs out of bounds"
    );
    assert!(
        extent(k, n, b.rs, b.cs) <= b.data.len(),
        "sgemm: rhs out of bounds"
    );
    assert!(m * n <= c.len(), "sgemm: dst out of bounds");
    let max_stride = isize::MAX as usize;
    assert!(
        [a.rs, a.cs, b.rs, b.cs, n].iter().all(|&s| s <= max_stride),
        "sgemm: stride too large"
    );
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        // matrixmultiply scales by beta here too, but be explicit about beta = 0.
        if beta == 0.0 {
            c[..m * n].fill(0.0);
        } else {
            c[..m * n].iter_mut().for_each(|v| *v *= beta);
        }
        return;
    }
    // SAFETY: the asserts above keep every element the kernel reads inside `a.data` and
    // `b.data` and every element it writes inside `c` (row-major, strides n and 1); the
    // strides fit in isize (asserted); `c` is borrowed
    // mutably, so it cannot alias `a` or `b`.
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            1.0,
            a.data.as_ptr(),
            a.rs as isize,
            a.cs as isize,
            b.data.as_ptr(),
            b.rs as isize,
            b.cs as isize,
            beta,
            c.as_mut_ptr(),
            n as isize,
            1,
        );
    }
}
