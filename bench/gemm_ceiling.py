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

`--avx2` measures both sides on their AVX2 code paths, as on a CPU without AVX-512:
PyTorch with `MKL_ENABLE_INSTRUCTIONS=AVX2` and `ATEN_CPU_CAPABILITY=avx2`, `fashion` with
`FASHION_SIMD=avx2`; the binary must also have been built without AVX-512 GEMM kernels
(`cargo build --release -p fashion-cli --no-default-features`), which the script checks
from its `gemm:` line. The paths in use are printed first.

PyTorch's matmul is the ceiling the project's targets name, but it is not always the
machine's fastest: on an AMD Zen 5 its MKL ran at the same rate with AVX-512 forbidden
(`MKL_ENABLE_INSTRUCTIONS=AVX2`), i.e. without using AVX-512 at all. `--numpy` times
NumPy's matmul too (the same product, threads set through `OPENBLAS_NUM_THREADS` etc.)
and prints the share of that ceiling as well; the BLAS it used is printed
(`threadpoolctl`, if installed, names OpenBLAS's kernel, which `OPENBLAS_CORETYPE`
chooses: `SkylakeX` for its AVX-512 kernels on a CPU OpenBLAS does not know).

Needs `pip install torch` (CPU is enough) for the Python given by `--python`. Optional,
never run in CI; run it on a quiet machine.
"""

import argparse
import os
import re
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


# The timed part of both programs: `products` products of `a` and `b` after 3 untimed.
TIMED = """
for _ in range(3):
    a @ b
start = time.perf_counter()
for _ in range(products):
    a @ b
seconds = time.perf_counter() - start
print(f"GFLOP/s: {2 * n**3 * products / seconds / 1e9:.3f}")
"""

MATMUL = """
import sys, time, torch
n, products, threads = (int(x) for x in sys.argv[1:4])
torch.set_num_threads(threads)
print(f"capability: {torch.backends.cpu.get_cpu_capability()}")
a, b = torch.randn(n, n), torch.randn(n, n)
""" + TIMED


NUMPY = """
import sys, time, numpy as np
n, products = (int(x) for x in sys.argv[1:3])
try:
    from threadpoolctl import threadpool_info
    blas = ", ".join(" ".join(str(x) for x in (i["internal_api"], i.get("architecture"),
                                               i["num_threads"], "threads") if x)
                     for i in threadpool_info())
except ImportError:
    blas = "unknown (pip install threadpoolctl to name it)"
print(f"blas: {blas}")
rng = np.random.default_rng(0)
a = rng.standard_normal((n, n), dtype=np.float32)
b = rng.standard_normal((n, n), dtype=np.float32)
""" + TIMED

THREAD_VARS = ["OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"]


def timing(python, program, args, env, name, module):
    """Runs one matmul timing program, which prints a description line and then
    `GFLOP/s: X`: returns (GFLOP/s, the description)."""
    done = subprocess.run([python, "-c", program, *(str(x) for x in args)], env=env,
                          capture_output=True, text=True, check=False)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or len(lines) < 2 or not lines[-1].startswith("GFLOP/s: "):
        sys.exit(f"{python}: the {name} matmul timing failed ({done.returncode}); does it "
                 f"have {module}?\n{done.stdout}{done.stderr}")
    return float(lines[-1].split()[1]), lines[-2].split(":", 1)[1].strip()


def numpy_run(python, n, products, threads):
    """One NumPy matmul timing: (GFLOP/s, the BLAS it used)."""
    env = dict(os.environ, **{v: str(threads) for v in THREAD_VARS})
    return timing(python, NUMPY, [n, products], env, "NumPy", "numpy")


def matmul_run(python, n, products, threads):
    """One PyTorch matmul timing: (GFLOP/s, PyTorch's CPU capability)."""
    return timing(python, MATMUL, [n, products, threads], None, "PyTorch", "torch")


def matmul_gflops(python, n, products, threads):
    return matmul_run(python, n, products, threads)[0]


def fashion_paths(fashion):
    """The (simd, gemm) levels `fashion bench` reports in its first line."""
    cmd = [fashion, "bench", "train", "--steps", "1", "--warmup", "0", "--batch", "8"]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    first = done.stdout.splitlines()[0] if done.stdout.strip() else ""
    simd, gemm = re.search(r"simd: (\S+)", first), re.search(r"gemm: (\S+)", first)
    if done.returncode != 0 or not simd or not gemm:
        sys.exit(f"{' '.join(cmd)}: expected a first line with 'simd: X' and 'gemm: X' "
                 f"(exit {done.returncode}), got {first!r}\n{done.stderr}")
    return simd.group(1), gemm.group(1)


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
    p.add_argument("--avx2", action="store_true",
                   help="both sides on their AVX2 code paths (see above)")
    p.add_argument("--numpy", action="store_true",
                   help="also NumPy's matmul as a second ceiling (see above)")
    a = p.parse_args()
    if min(a.rounds, a.n, a.products, a.threads, a.batch, a.steps) < 1:
        sys.exit("--rounds, --n, --products, --threads, --batch and --steps must be ≥ 1")
    if not Path(a.fashion).is_file():
        sys.exit(f"--fashion: no binary at {a.fashion} (cargo build --release -p fashion-cli)")

    if a.avx2:
        os.environ.update(FASHION_SIMD="avx2", MKL_ENABLE_INSTRUCTIONS="AVX2",
                          ATEN_CPU_CAPABILITY="avx2")
    simd, gemm = fashion_paths(a.fashion)
    if a.avx2 and (simd, gemm) != ("avx2", "avx2"):
        sys.exit(f"--avx2: {a.fashion} runs simd: {simd}, gemm: {gemm}, expected avx2 for "
                 "both; build it with `cargo build --release -p fashion-cli "
                 "--no-default-features` (a CPU without AVX2 has no AVX2 path)")
    _, capability = matmul_run(a.python, 64, 1, a.threads)
    print(f"paths: fashion simd {simd}, gemm {gemm}; PyTorch {capability}"
          + (f", MKL_ENABLE_INSTRUCTIONS={os.environ['MKL_ENABLE_INSTRUCTIONS']}"
             if "MKL_ENABLE_INSTRUCTIONS" in os.environ else ""))
    if a.numpy:
        print(f"NumPy: {numpy_run(a.python, 64, 1, a.threads)[1]}")

    flop = small_cnn_train_flop()
    train_cmd = [a.fashion, "bench", "train", "--model", "small", "--batch", str(a.batch),
                 "--steps", str(a.steps)]
    rates, ceilings, numpys = [], [], []
    for r in range(a.rounds):
        if r % 2 == 0:
            rates.append(images_per_sec(train_cmd))
            ceilings.append(matmul_gflops(a.python, a.n, a.products, a.threads))
        else:
            ceilings.append(matmul_gflops(a.python, a.n, a.products, a.threads))
            rates.append(images_per_sec(train_cmd))
        if a.numpy:
            numpys.append(numpy_run(a.python, a.n, a.products, a.threads)[0])
        used = rates[-1] * flop / 1e9
        print(f"round {r + 1}: fashion {rates[-1]:.0f} images/s = {used:.1f} GFLOP/s, "
              f"matmul {ceilings[-1]:.1f} GFLOP/s, {100 * used / ceilings[-1]:.0f} %"
              + (f"; NumPy {numpys[-1]:.1f} GFLOP/s, {100 * used / numpys[-1]:.0f} %"
                 if a.numpy else ""),
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
    if a.numpy:
        np_ceiling = statistics.median(numpys)
        np_paired = statistics.median(x * flop / 1e9 / c for x, c in zip(rates, numpys))
        print(f"NumPy matmul {a.n}x{a.n}, {a.threads} threads: median {np_ceiling:.1f} GFLOP/s "
              f"(range {min(numpys):.1f}-{max(numpys):.1f})")
        print(f"fraction of the NumPy ceiling: {100 * rate * flop / 1e9 / np_ceiling:.0f} % of "
              f"the medians, {100 * np_paired:.0f} % median per round")


if __name__ == "__main__":
    main()
