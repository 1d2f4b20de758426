#!/usr/bin/env python3
"""PyTorch peer of `fashion bench`: the same networks, the same measurement.

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


def he_init(model):
    """He-normal weights and zero biases for every convolution and dense layer, as
    `fashion_nn` initialises them."""
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight)
            nn.init.zeros_(m.bias)
    return model


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
    return he_init(nn.Sequential(*layers))


class Bottleneck(nn.Module):
    """1×1 conv (stride s) + BN + ReLU → 3×3 conv + SELU → 3×3 conv; SELU(h + shortcut).

    `shortcut`: None (identity), "h" (1×1 conv + BN of the output path h, as the
    original `Resnet_sim.py` wrote it) or "x" (1×1 conv, stride s, + BN of the input).
    """

    def __init__(self, cin, f1, f2, f3, stride=1, shortcut=None):
        super().__init__()
        self.c1 = nn.Conv2d(cin, f1, 1, stride=stride)
        self.b1 = nn.BatchNorm2d(f1)
        self.c2 = nn.Conv2d(f1, f2, 3, padding=1)
        self.c3 = nn.Conv2d(f2, f3, 3, padding=1)
        self.shortcut = shortcut
        if shortcut == "h":
            self.proj = nn.Sequential(nn.Conv2d(f3, f3, 1), nn.BatchNorm2d(f3))
        elif shortcut == "x":
            self.proj = nn.Sequential(nn.Conv2d(cin, f3, 1, stride=stride), nn.BatchNorm2d(f3))

    def forward(self, x):
        h = self.c3(nn.functional.selu(self.c2(nn.functional.relu(self.b1(self.c1(x))))))
        if self.shortcut is None:
            s = x
        elif self.shortcut == "h":
            s = self.proj(h)
        else:
            s = self.proj(x)
        return nn.functional.selu(h + s)


def resnet(corrected=False):
    """The original project's ResNet-style network, as `fashion::nn::ResNet`: conv 7×7
    stride 2 with Keras "same" padding (2 zeros before, 3 after on 28×28) + BN + SELU,
    bottleneck stages [32, 32, 64], [64, 64, 128], [128, 128, 256] of two blocks (stride
    2 in the first block of stages 2 and 3), global average pooling, dense 10."""
    sc = "x" if corrected else "h"
    layers = [nn.ZeroPad2d((2, 3, 2, 3)), nn.Conv2d(1, 32, 7, stride=2),
              nn.BatchNorm2d(32), SELU()]
    for cin, (f1, f2, f3), stride in [(32, (32, 32, 64), 1), (64, (64, 64, 128), 2),
                                      (128, (128, 128, 256), 2)]:
        layers += [Bottleneck(cin, f1, f2, f3, stride, sc), Bottleneck(f3, f1, f2, f3)]
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(256, 10)]
    return he_init(nn.Sequential(*layers))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("mode", choices=["train", "infer"])
    p.add_argument("--model", choices=["small", "seed", "resnet", "resnet-corrected"],
                   default="small")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()

    torch.manual_seed(0)
    torch.set_num_threads(a.threads)
    model = {"small": small_cnn, "seed": seed_cnn, "resnet": resnet,
             "resnet-corrected": lambda: resnet(corrected=True)}[a.model]()
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
