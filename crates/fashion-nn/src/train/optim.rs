//! The optimiser: AdamW with moments kept as plain vectors, and its state file format
//! (`optimizer.bin`).

use super::*;

/// Adam with decoupled weight decay (AdamW), β = (0.9, 0.999), ε = 10⁻⁸. Its moments are
/// plain vectors in parameter order, so they can be saved and restored exactly.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Adam {
    pub(super) step: u64,
    pub(super) m: Vec<Vec<f32>>,
    pub(super) v: Vec<Vec<f32>>,
}

pub(super) const ADAM_MAGIC: &[u8; 8] = b"FMADAM01";

pub(super) struct AdamVisitor<'a> {
    pub(super) adam: &'a mut Adam,
    pub(super) grads: &'a mut Gradients<f32, Cpu>,
    pub(super) lr: f32,
    pub(super) weight_decay: f32,
    pub(super) index: usize,
}

impl TensorVisitor<f32, Cpu> for AdamVisitor<'_> {
    type Viewer = ViewTensorMut;
    type Err = CpuError;
    type E2 = f32;
    type D2 = Cpu;

    fn visit<S: Shape>(
        &mut self,
        opts: TensorOptions<S, f32, Cpu>,
        p: &mut Tensor<S, f32, Cpu>,
    ) -> std::result::Result<Option<Tensor<S, f32, Cpu>>, CpuError> {
        if !opts.do_gradient_update {
            return Ok(None);
        }
        let i = self.index;
        self.index += 1;
        let g = self.grads.get_or_alloc_mut(&*p)?;
        let n = g.len();
        if self.adam.m.len() <= i {
            self.adam.m.push(vec![0.0; n]);
            self.adam.v.push(vec![0.0; n]);
        }
        let (m, v) = (&mut self.adam.m[i], &mut self.adam.v[i]);
        let t = self.adam.step as i32;
        let (b1, b2, eps) = (0.9f32, 0.999f32, 1e-8f32);
        let c1 = 1.0 - b1.powi(t);
        let c2 = 1.0 - b2.powi(t);
        // Weight matrices and kernels decay; biases and batch-norm parameters do not.
        let decay = if S::NUM_DIMS >= 2 {
            1.0 - self.lr * self.weight_decay
        } else {
            1.0
        };
        let lr = self.lr;
        let mut w = p.as_vec();
        // Element-wise, so splitting the work over threads changes no result.
        w.par_iter_mut()
            .zip(g.par_iter())
            .zip(m.par_iter_mut())
            .zip(v.par_iter_mut())
            .with_min_len(1 << 13)
            .for_each(|(((w, &g), m), v)| {
                *m = b1 * *m + (1.0 - b1) * g;
                *v = b2 * *v + (1.0 - b2) * g * g;
                let update = (*m / c1) / ((*v / c2).sqrt() + eps);
                *w = *w * decay - lr * update;
            });
        p.copy_from(&w);
        Ok(None)
    }
}

impl Adam {
    pub(super) fn update(
        &mut self,
        model: &mut Model,
        grads: &mut Gradients<f32, Cpu>,
        lr: f32,
        weight_decay: f32,
    ) -> Result<()> {
        self.step += 1;
        let mut visitor = AdamVisitor {
            adam: self,
            grads,
            lr,
            weight_decay,
            index: 0,
        };
        model
            .walk_mut(&mut visitor)
            .map_err(|source| Error::Tensor { op: "adam", source })
    }

    pub(super) fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(ADAM_MAGIC);
        out.extend_from_slice(&self.step.to_le_bytes());
        out.extend_from_slice(&(self.m.len() as u64).to_le_bytes());
        for (m, v) in self.m.iter().zip(&self.v) {
            out.extend_from_slice(&(m.len() as u64).to_le_bytes());
            for x in m.iter().chain(v) {
                out.extend_from_slice(&x.to_le_bytes());
            }
        }
        out
    }

    pub(super) fn from_bytes(bytes: &[u8], path: &Path) -> Result<Adam> {
        let bad = |reason: &str| Error::Checkpoint {
            path: path.to_path_buf(),
            reason: format!("corrupt optimiser state: {reason}"),
        };
        let mut pos = 0usize;
        // Every length read from the file is checked against the bytes left before it is
        // used, so no input can overflow an index or allocate more than the file holds.
        let mut take = |n: usize| -> Result<&[u8]> {
            let s = pos
                .checked_add(n)
                .and_then(|end| bytes.get(pos..end))
                .ok_or_else(|| bad("file too short"))?;
            pos += n;
            Ok(s)
        };
        if take(8)? != ADAM_MAGIC {
            return Err(bad("wrong magic bytes"));
        }
        let u64_at = |s: &[u8]| u64::from_le_bytes(s.try_into().expect("8 bytes"));
        let step = u64_at(take(8)?);
        let count = u64_at(take(8)?) as usize;
        let mut adam = Adam {
            step,
            m: Vec::new(),
            v: Vec::new(),
        };
        for _ in 0..count {
            let len = usize::try_from(u64_at(take(8)?)).map_err(|_| bad("bad length"))?;
            let floats = |s: &[u8]| {
                s.chunks_exact(4)
                    .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
                    .collect::<Vec<f32>>()
            };
            let n = len.checked_mul(4).ok_or_else(|| bad("bad length"))?;
            let m = floats(take(n)?);
            let v = floats(take(n)?);
            adam.m.push(m);
            adam.v.push(v);
        }
        if pos != bytes.len() {
            return Err(bad("trailing bytes"));
        }
        Ok(adam)
    }

    /// Checks that the moments fit a model whose trainable tensors have `lengths`
    /// elements (in order): one pair per tensor of the same length, or none at all
    /// before the first step.
    pub(super) fn check_fits(&self, lengths: &[usize], path: &Path) -> Result<()> {
        let have: Vec<usize> = self.m.iter().map(Vec::len).collect();
        if (self.step == 0 && have.is_empty()) || have == lengths {
            return Ok(());
        }
        Err(Error::Checkpoint {
            path: path.to_path_buf(),
            reason: format!(
                "the optimiser state does not fit the model: it holds {} moment vectors \
                 ({} values), the model has {} trainable tensors ({} values)",
                have.len(),
                have.iter().sum::<usize>(),
                lengths.len(),
                lengths.iter().sum::<usize>()
            ),
        })
    }
}
