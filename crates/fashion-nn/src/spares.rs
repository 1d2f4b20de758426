//! Spare buffers: the passes of a training step or an inference allocate the same
//! large buffers every time; those given back here are handed out again instead of
//! fresh (zero-filled) ones.

use super::par_zeros;

/// Buffers of finished passes (convolution outputs, block inputs and outputs, input
/// gradients, partial weight gradients), oldest first, with their total size in bytes.
struct Spares {
    bufs: std::collections::VecDeque<Vec<f32>>,
    bytes: usize,
}

/// Spare buffers for the next passes. Training and inference allocate the same
/// buffers every step; these are written in full before they are read, so the
/// zero-filling of fresh ones (up to 25 MiB each at batch 256, ~9 % of a SeedCnn
/// training step) is wasted work. Matched by exact length; at most [`SPARE_BYTES`],
/// the oldest dropped first.
static SPARES: std::sync::Mutex<Spares> = std::sync::Mutex::new(Spares {
    bufs: std::collections::VecDeque::new(),
    bytes: 0,
});

/// Most bytes kept in [`SPARES`].
const SPARE_BYTES: usize = 512 << 20;

fn spares() -> std::sync::MutexGuard<'static, Spares> {
    // The list stays consistent even if a holder panicked: take it as it is.
    SPARES.lock().unwrap_or_else(|e| e.into_inner())
}

/// A buffer of `n` elements with unspecified contents (a spare one of that length, or
/// zeros): the caller writes every element before reading any.
pub(super) fn take_spare(n: usize) -> Vec<f32> {
    if n == 0 {
        return Vec::new();
    }
    let found = {
        let mut s = spares();
        let i = s.bufs.iter().position(|v| v.len() == n);
        i.and_then(|i| s.bufs.remove(i))
            .inspect(|_| s.bytes -= 4 * n)
    };
    found.unwrap_or_else(|| par_zeros(n))
}

/// Puts `v` first in line for the next [`take_spare`] of its length (ahead of the
/// spares earlier passes gave back), for the test that plants NaN-filled buffers.
#[cfg(test)]
pub(super) fn plant_spare(v: Vec<f32>) {
    let mut s = spares();
    s.bytes += 4 * v.len();
    s.bufs.push_front(v);
}

/// How many spare buffers of length `n` hold nothing but NaN (for the test that plants
/// such buffers and checks that the passes took them).
#[cfg(test)]
pub(super) fn nan_spares(n: usize) -> usize {
    spares()
        .bufs
        .iter()
        .filter(|v| v.len() == n && v.iter().all(|x| x.is_nan()))
        .count()
}

/// Keeps `v` for a later [`take_spare`] of its length.
pub(super) fn give_spare(v: Vec<f32>) {
    let bytes = 4 * v.len();
    if bytes == 0 || bytes > SPARE_BYTES {
        return;
    }
    let mut s = spares();
    while s.bytes + bytes > SPARE_BYTES {
        match s.bufs.pop_front() {
            Some(old) => s.bytes -= 4 * old.len(),
            None => break,
        }
    }
    s.bytes += bytes;
    s.bufs.push_back(v);
}
