#!/usr/bin/env python3
"""How close SmallCnn's training step comes to the machine's GEMM ceiling, in one run.

The ceiling is PyTorch's float32 matmul of two `--n` × `--n` matrices on `--threads`
threads (2 · n³ FLOP per product; each timing is `--products` products after 3 untimed
ones). The training rate is `fashion bench train --model small --batch B`. The two are
alternated for `--rounds` rounds (the one going first swaps each round), because this
kind of machine's speed drifts by a third within an hour: only figures from the same
minutes can be compared.

SmallCnn's FLOPs per training image (forward counted as 2 · multiply-adds; backward as
twice the forward, the usual estimate, though the first layer's input gradient is not
computed), from its layers (3×3 convolutions, "same" padding, each followed by 2×2
max-pooling, then 1152 → 128 → 10):

    conv 1→32 at 28×28, 32→64 at 14×14, 64→128 at 7×7, dense 1152×128 and 128×10

The fraction printed is (images/s × FLOP per image) / matmul FLOP/s, per round (the
two measurements of a round are seconds apart) and for the medians:

    cargo build --release -p fashion-cli
    python bench/gemm_ceiling.py --fashion target/release/fashion --rounds 5

Needs `pip install torch` (CPU is enough) for the Python given by `--python`. Optional,
never run in CI; run it on a quiet machine.
"""

import argparse
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from side_by_side import images_per_sec  # noqa: E402

# (C_in, C_out, H·W of the output) of SmallCnn's convolutions, (in, out) of its dense layers.
CONVS = [(1, 32, 28 * 28), (32, 64, 14 * 14), (64, 128, 7 * 7)]
DENSE = [(1152, 128), (128, 10)]


def small_cnn_train_flop():
    """FLOP of one training image of SmallCnn: 3 × the forward pass."""
    forward = sum(2 * cin * cout * 9 * hw for cin, cout, hw in CONVS)
    forward += sum(2 * i * o for i, o in DENSE)
    return 3 * forward


MATMUL = """
import sys, time, torch
n, products, threads = (int(x) for x in sys.argv[1:4])
torch.set_num_threads(threads)
a, b = torch.randn(n, n), torch.randn(n, n)
for _ in range(3):
    a @ b
start = time.perf_counter()
for _ in range(products):
    a @ b
seconds = time.perf_counter() - start
print(f"GFLOP/s: {2 * n**3 * products / seconds / 1e9:.3f}")
"""


def matmul_gflops(python, n, products, threads):
    done = subprocess.run([python, "-c", MATMUL, str(n), str(products), str(threads)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"{python}: the matmul timing failed ({done.returncode}); does it have "
                 f"torch?\n{done.stderr}")
    last = done.stdout.strip().splitlines()[-1]
    if not last.startswith("GFLOP/s: "):
        sys.exit(f"{python}: expected 'GFLOP/s: X', got {last!r}")
    return float(last.split()[1])


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--fashion", default="target/release/fashion", help="the fashion binary")
    p.add_argument("--python", default=sys.executable, help="a Python with torch")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--n", type=int, default=2048, help="matmul size")
    p.add_argument("--products", type=int, default=10, help="matmuls per timing")
    p.add_argument("--threads", type=int, default=2, help="PyTorch threads")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--steps", type=int, default=100, help="timed training steps")
    a = p.parse_args()
    if min(a.rounds, a.n, a.products, a.threads, a.batch, a.steps) < 1:
        sys.exit("--rounds, --n, --products, --threads, --batch and --steps must be ≥ 1")
    if not Path(a.fashion).is_file():
        sys.exit(f"--fashion: no binary at {a.fashion} (cargo build --release -p fashion-cli)")

    flop = small_cnn_train_flop()
    train_cmd = [a.fashion, "bench", "train", "--model", "small", "--batch", str(a.batch),
                 "--steps", str(a.steps)]
    rates, ceilings = [], []
    for r in range(a.rounds):
        if r % 2 == 0:
            rates.append(images_per_sec(train_cmd))
            ceilings.append(matmul_gflops(a.python, a.n, a.products, a.threads))
        else:
            ceilings.append(matmul_gflops(a.python, a.n, a.products, a.threads))
            rates.append(images_per_sec(train_cmd))
        used = rates[-1] * flop / 1e9
        print(f"round {r + 1}: fashion {rates[-1]:.0f} images/s = {used:.1f} GFLOP/s, "
              f"matmul {ceilings[-1]:.1f} GFLOP/s, {100 * used / ceilings[-1]:.0f} %",
              file=sys.stderr)
    rate, ceiling = statistics.median(rates), statistics.median(ceilings)
    paired = statistics.median(x * flop / 1e9 / c for x, c in zip(rates, ceilings))
    print(f"SmallCnn training FLOP per image: {flop / 1e6:.2f} M (batch {a.batch})")
    print(f"fashion bench train: median {rate:.0f} images/s = {rate * flop / 1e9:.1f} GFLOP/s "
          f"(range {min(rates):.0f}-{max(rates):.0f})")
    print(f"matmul {a.n}x{a.n}, {a.threads} threads: median {ceiling:.1f} GFLOP/s "
          f"(range {min(ceilings):.1f}-{max(ceilings):.1f})")
    print(f"fraction of the ceiling: {100 * rate * flop / 1e9 / ceiling:.0f} % of the medians, "
          f"{100 * paired:.0f} % median per round")


if __name__ == "__main__":
    main()
