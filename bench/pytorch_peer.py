#!/usr/bin/env python3
"""PyTorch peer of `fashion bench`: the same two networks, the same measurement.

Times `--steps` training steps (forward, cross-entropy, backward, Adam update) or
inference steps (forward in eval mode, no gradients) on one batch of random images,
after `--warmup` untimed steps, with `--threads` CPU threads. Prints the same lines as
`fashion bench`, ending with `images/s: X`, so the two can be run side by side:

    fashion bench train --model small --batch 64 --steps 50
    python bench/pytorch_peer.py train --model small --batch 64 --steps 50

Optional and never run in CI: it needs `pip install torch` (CPU is enough).
"""

import argparse
import resource
import time

import torch
from torch import nn

SELU = nn.SELU


def small_cnn(batch_norm=True, dropout=0.3):
    """conv 1→32→64→128 (3×3 same) each + [BN] + ReLU + 2×2 max-pool; 1152 → 128 → 10."""
    layers = []
    for cin, cout in [(1, 32), (32, 64), (64, 128)]:
        layers.append(nn.Conv2d(cin, cout, 3, padding="same"))
        if batch_norm:
            layers.append(nn.BatchNorm2d(cout))
        layers += [nn.ReLU(), nn.MaxPool2d(2)]
    layers += [
        nn.Flatten(),
        nn.Linear(1152, 128),
        nn.ReLU(),
        nn.Dropout(dropout),
        nn.Linear(128, 10),
    ]
    return nn.Sequential(*layers)


def seed_cnn(dropout=0.3):
    """The original project's Keras model, as `fashion::nn::SeedCnn`."""
    def conv(cin, cout, kh, kw):
        return nn.Conv2d(cin, cout, (kh, kw), padding="same")

    layers = [conv(1, 32, 3, 1), nn.BatchNorm2d(32), SELU()]
    for kh, kw in [(1, 3), (3, 1), (1, 3), (3, 1), (1, 3)]:
        layers += [conv(32, 32, kh, kw), SELU()]
    layers += [nn.MaxPool2d(2), conv(32, 64, 3, 3), nn.BatchNorm2d(64), SELU(),
               conv(64, 64, 3, 3), SELU(), nn.MaxPool2d(2),
               conv(64, 128, 7, 1), nn.BatchNorm2d(128), SELU(),
               conv(128, 128, 1, 7), SELU(),
               conv(128, 256, 1, 1), SELU(), nn.Dropout(0.2),
               conv(256, 128, 1, 1), SELU(), nn.Flatten(),
               nn.Linear(6272, 64), nn.ReLU(), nn.Dropout(dropout),
               nn.Linear(64, 64), nn.ReLU(), nn.BatchNorm1d(64), nn.Linear(64, 10)]
    model = nn.Sequential(*layers)
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight)
            nn.init.zeros_(m.bias)
    return model


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("mode", choices=["train", "infer"])
    p.add_argument("--model", choices=["small", "seed"], default="small")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()

    torch.manual_seed(0)
    torch.set_num_threads(a.threads)
    model = small_cnn() if a.model == "small" else seed_cnn()
    x = torch.rand(a.batch, 1, 28, 28)
    y = torch.arange(a.batch) % 10
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    loss_fn = nn.CrossEntropyLoss()
    if a.mode == "train":
        model.train()
    else:
        model.eval()

    def step():
        if a.mode == "train":
            opt.zero_grad(set_to_none=False)
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
        else:
            with torch.no_grad():
                model(x)

    for _ in range(a.warmup):
        step()
    start = time.perf_counter()
    for _ in range(a.steps):
        step()
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB → MiB on Linux
    print(f"model: {a.model}  mode: {a.mode}  batch: {a.batch}  steps: {a.steps}  "
          f"threads: {a.threads}  (PyTorch {torch.__version__})")
    print(f"seconds: {seconds:.3f}")
    print(f"peak RSS: {peak:.1f} MiB")
    print(f"images/s: {a.batch * a.steps / seconds:.1f}")


if __name__ == "__main__":
    main()
