//! Mutation fuzzing of the workspace's file readers: the IDX parser here, and (from
//! fashion-nn) the checkpoint's weights, optimiser state, `config.json` and `state.json`.
//!
//! [`fuzz`] feeds a reader deterministic, seeded variations of valid files (bit flips,
//! boundary values written over length fields, truncation, inserted, deleted and repeated
//! ranges) and purely random bytes. The reader must return: a panic is caught and turned
//! into a failure that prints the seed and index to replay the input, and every error must
//! name the file it was given. The unit tests run a few thousand inputs per reader; the
//! long run is `cargo run --release -p fashion-nn --example fuzz` (see the README).

use std::fmt::Display;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// How many inputs a reader was given and what it made of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FuzzReport {
    /// The reader's name.
    pub target: &'static str,
    /// Inputs run.
    pub inputs: u64,
    /// Inputs refused with an error (each naming the file).
    pub refused: u64,
    /// Inputs accepted (a mutation can leave a file valid).
    pub accepted: u64,
}

impl Display for FuzzReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:<16} {:>10} inputs, {:>10} refused with a named error, {:>8} accepted, 0 panics",
            self.target, self.inputs, self.refused, self.accepted
        )
    }
}

/// When a run stops: after `inputs` inputs, or at `time` if that comes first.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// Most inputs to run.
    pub inputs: u64,
    /// Longest time to run.
    pub time: Option<Duration>,
}

impl Budget {
    /// Exactly `n` inputs.
    pub fn inputs(n: u64) -> Budget {
        Budget {
            inputs: n,
            time: None,
        }
    }
}

/// Values that break length and count fields when written over them.
const BOUNDARY_U32: [u32; 8] = [0, 1, 2, 27, 28, 0x7fff_ffff, 0x8000_0000, u32::MAX];

/// A variation of `input`: one to four random edits.
pub fn mutate(input: &[u8], rng: &mut impl Rng) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..rng.gen_range(1..=4) {
        let len = v.len();
        // Half the edits land in the first 32 bytes, where headers and lengths live.
        let at = match len {
            0 => 0,
            _ if rng.r#gen() => rng.gen_range(0..len.min(32)),
            _ => rng.gen_range(0..len),
        };
        match rng.gen_range(0..8) {
            0 if len > 0 => v[at] ^= 1 << rng.gen_range(0..8),
            1 if len > 0 => v[at] = [0, 1, 0x7f, 0x80, 0xff][rng.gen_range(0..5)],
            2 => v.truncate(at),
            3 => {
                let extra: Vec<u8> = (0..rng.gen_range(1..=16)).map(|_| rng.r#gen()).collect();
                v.splice(at..at, extra);
            }
            4 if len >= 4 => {
                let at = rng.gen_range(0..=len - 4);
                let x = BOUNDARY_U32[rng.gen_range(0..BOUNDARY_U32.len())];
                let bytes = if rng.r#gen() {
                    x.to_be_bytes()
                } else {
                    x.to_le_bytes()
                };
                v[at..at + 4].copy_from_slice(&bytes);
            }
            5 if len > 0 => {
                let end = rng.gen_range(at..=len.min(at + 64));
                v.drain(at..end);
            }
            6 if len > 0 => {
                let end = rng.gen_range(at..=len.min(at + 64));
                let copy = v[at..end].to_vec();
                v.splice(at..at, copy);
            }
            _ => {
                let n = rng.gen_range(0..=64);
                v = (0..n).map(|_| rng.r#gen()).collect();
            }
        }
    }
    v
}

/// Runs `read` on inputs derived from `seeds` (valid files) until `budget` is spent.
/// Input `i` is a mutation of `seeds[i % seeds.len()]` drawn from a generator seeded
/// by `(seed, i)`, so a failure can be replayed alone; every 16th input is random bytes.
///
/// # Panics
/// If `read` panics (the seed, index and first bytes of the input are printed), or
/// returns an error whose message does not contain `file` (the name `read` was told to
/// use).
pub fn fuzz<E: Display>(
    target: &'static str,
    seeds: &[Vec<u8>],
    file: &str,
    budget: Budget,
    seed: u64,
    mut read: impl FnMut(&[u8]) -> Result<(), E>,
) -> FuzzReport {
    assert!(!seeds.is_empty(), "{target}: no seed inputs");
    let started = Instant::now();
    let mut report = FuzzReport {
        target,
        inputs: 0,
        refused: 0,
        accepted: 0,
    };
    for i in 0..budget.inputs {
        if i % 256 == 0 && budget.time.is_some_and(|t| started.elapsed() >= t) {
            break;
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ i.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let input = if i % 16 == 15 {
            let n = rng.gen_range(0..=256);
            (0..n).map(|_| rng.r#gen()).collect()
        } else {
            mutate(&seeds[(i as usize) % seeds.len()], &mut rng)
        };
        match catch_unwind(AssertUnwindSafe(|| read(&input))) {
            Ok(Ok(())) => report.accepted += 1,
            Ok(Err(e)) => {
                let message = e.to_string();
                assert!(
                    message.contains(file),
                    "{target}: input {i} (seed {seed}): the error does not name {file}: {message}"
                );
                report.refused += 1;
            }
            Err(_) => panic!(
                "{target}: input {i} (seed {seed}, {} bytes, starting {:02x?}) panicked",
                input.len(),
                &input[..input.len().min(64)]
            ),
        }
        report.inputs += 1;
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::synthetic;
    use crate::idx::{encode_images, encode_labels, gzip, parse_images, parse_labels};

    fn idx_seeds() -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
        let data = synthetic(1, 0);
        let images = encode_images(&data.images.slice(ndarray::s![..2, .., ..]).to_owned());
        let labels = encode_labels(data.labels.as_slice().unwrap());
        (
            vec![images.clone(), gzip(&images)],
            vec![labels.clone(), gzip(&labels)],
        )
    }

    #[test]
    fn the_idx_parser_never_panics_and_names_the_file() {
        let (images, labels) = idx_seeds();
        let name = "fuzzed-idx3-ubyte";
        let r = fuzz("idx images", &images, name, Budget::inputs(3000), 1, |b| {
            parse_images(b, name).map(drop)
        });
        assert_eq!(r.inputs, 3000);
        assert!(r.refused > 750, "{r}");
        let r = fuzz("idx labels", &labels, name, Budget::inputs(3000), 2, |b| {
            parse_labels(b, name).map(drop)
        });
        assert_eq!(r.inputs, 3000);
        assert!(r.refused > 750, "{r}");
    }

    #[test]
    fn a_panicking_reader_is_reported_with_its_input() {
        let seeds = vec![vec![1u8, 2, 3]];
        let caught = catch_unwind(|| {
            fuzz("boom", &seeds, "f", Budget::inputs(10), 3, |b: &[u8]| {
                if b.len() < 1000 {
                    panic!("boom");
                }
                Ok::<(), String>(())
            })
        });
        let message = *caught.unwrap_err().downcast::<String>().unwrap();
        assert!(message.starts_with("boom: input 0 (seed 3,"), "{message}");
        let unnamed = catch_unwind(|| {
            fuzz("quiet", &seeds, "f.bin", Budget::inputs(10), 3, |_| {
                Err::<(), _>("bad")
            })
        });
        let message = *unnamed.unwrap_err().downcast::<String>().unwrap();
        assert!(message.contains("does not name f.bin"), "{message}");
    }

    #[test]
    fn mutations_are_seeded_and_vary() {
        let input: Vec<u8> = (0..100).collect();
        let a = mutate(&input, &mut ChaCha8Rng::seed_from_u64(5));
        let b = mutate(&input, &mut ChaCha8Rng::seed_from_u64(5));
        assert_eq!(a, b);
        let distinct: std::collections::HashSet<Vec<u8>> = (0..50)
            .map(|s| mutate(&input, &mut ChaCha8Rng::seed_from_u64(s)))
            .collect();
        assert!(distinct.len() > 40, "{}", distinct.len());
    }
}
