#!/usr/bin/env python3
"""Side-by-side throughput of `fashion bench` and the PyTorch peer, in one run.

For every (model, mode, batch) it alternates the two programs for `--rounds` rounds (so
both see the same machine conditions; the one that goes first swaps every round), takes
each side's median images/s and prints a Markdown table with the ratio of the medians
fashion / PyTorch and the median of the per-round ratios (each round's two runs are
seconds apart, so this one cancels slower drifts of the machine):

    cargo build --release -p fashion-cli
    python bench/side_by_side.py --fashion target/release/fashion --rounds 5

Needs `pip install torch` (CPU is enough) for the Python running it, or `--python` naming
an interpreter that has it. Optional, never run in CI. Run it on a quiet machine: other
work running beside it skews both sides, and not by the same factor.
"""

import argparse
import re
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
RATE = re.compile(r"images/s:\s*([0-9.]+)\s*$")


def images_per_sec(cmd):
    """Runs one benchmark command and returns its last line's images/s."""
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr}")
    last = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    match = RATE.search(last)
    if not match:
        sys.exit(f"{' '.join(cmd)}: expected a last line 'images/s: X', got {last!r}")
    return float(match.group(1))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--fashion", default="target/release/fashion", help="the fashion binary")
    p.add_argument("--python", default=sys.executable, help="a Python with torch")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--images", type=int, default=3840, help="images per measurement")
    p.add_argument("--models", default="small,seed")
    p.add_argument("--modes", default="train,infer")
    p.add_argument("--batches", default="64,256")
    p.add_argument("--threads", type=int, default=2, help="PyTorch threads")
    a = p.parse_args()
    if a.rounds < 1 or a.images < 1:
        sys.exit("--rounds and --images must be at least 1")
    if not Path(a.fashion).is_file():
        sys.exit(f"--fashion: no binary at {a.fashion} (cargo build --release -p fashion-cli)")

    rows = []
    for model in a.models.split(","):
        for mode in a.modes.split(","):
            for batch in (int(b) for b in a.batches.split(",")):
                # SeedCnn and the ResNets train ~4-5x slower: fewer images keep the run
                # short.
                images = a.images // 4 if mode == "train" and model != "small" else a.images
                steps = str(max(2, images // batch))
                common = [mode, "--model", model, "--batch", str(batch), "--steps", steps]
                ours_cmd = [a.fashion, "bench", *common]
                theirs_cmd = [a.python, str(HERE / "pytorch_peer.py"), *common,
                              "--threads", str(a.threads)]
                ours, theirs = [], []
                for r in range(a.rounds):
                    if r % 2 == 0:
                        ours.append(images_per_sec(ours_cmd))
                        theirs.append(images_per_sec(theirs_cmd))
                    else:
                        theirs.append(images_per_sec(theirs_cmd))
                        ours.append(images_per_sec(ours_cmd))
                o, t = statistics.median(ours), statistics.median(theirs)
                paired = statistics.median(x / y for x, y in zip(ours, theirs))
                rows.append((model, mode, batch, o, t, o / t, paired))
                print(f"{model} {mode} b{batch}: fashion {ours} torch {theirs}", file=sys.stderr)

    print("| model | mode | batch | fashion img/s | PyTorch img/s | ratio | paired ratio |")
    print("|---|---|---|---|---|---|---|")
    for model, mode, batch, o, t, r, paired in rows:
        print(f"| {model} | {mode} | {batch} | {o:.0f} | {t:.0f} | {r:.2f}× | {paired:.2f}× |")


if __name__ == "__main__":
    main()
