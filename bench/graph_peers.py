#!/usr/bin/env python3
"""The lasso graph and betweenness at full scale, ours and the Python stack's, in one run.

Runs our side (`cargo run --release -p fashion --example study_peers`) on a trained
checkpoint's dense layer (all 10 000 test images × 128), then redoes the same work with
scikit-learn and networkx on the files it wrote, checks that both give the same answer,
and prints a Markdown table of seconds and ratios:

    FASHION_MNIST_DIR=... python bench/graph_peers.py target/checkpoints/small-default

- Lasso: scikit-learn's `Lasso` (coordinate descent; `alpha` = our penalty, no intercept:
  the rows are centred, `tol` = our tolerance) fits the first `--lasso-rows` neighbourhood
  regressions (one image on the 9 999 others, 128 "samples"), as the Meinshausen–Bühlmann
  method is usually run in Python; its time per regression × 10 000 estimates the whole
  graph (said so in the table). The selections must be ours (same images), up to
  coefficients so small that the stopping tolerance decides them.
- Betweenness: networkx's exact `betweenness_centrality` on the kNN graph (k = 5) of the
  first 2 000 images must equal ours to 1e-9; on all 10 000 images both sample the same
  number of pivots (`--pivots`; different pivots, so only the times are compared).

Needs numpy, scikit-learn and networkx (`pip install scikit-learn networkx`). Optional,
never run in CI. Run it on a quiet machine: other work beside it skews both sides.
"""

import argparse
import csv
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import networkx as nx
import numpy as np
from sklearn.linear_model import Lasso

ROOT = Path(__file__).resolve().parent.parent


def cpu():
    """`lscpu` model name and whether AVX-512 is there."""
    model, flags = platform.processor() or "unknown", ""
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name") and model in ("", "unknown", "x86_64"):
                model = line.split(":", 1)[1].strip()
            if line.startswith("flags"):
                flags = line
                break
    except OSError:
        pass
    return f"{model}, {'AVX-512' if 'avx512f' in flags else 'no AVX-512'}, {os.cpu_count()} cores"


def read_edges(path):
    g = nx.Graph()
    with open(path, encoding="utf-8") as f:
        rows = csv.DictReader(f)
        g.add_edges_from((int(r["source"]), int(r["target"])) for r in rows)
    return g


def standardise(x):
    """As our lasso: each row mean 0 and squared norm d (unit variance), in f64."""
    z = x.astype(np.float64)
    z -= z.mean(axis=1, keepdims=True)
    z *= np.sqrt(z.shape[1] / (z * z).sum(axis=1, keepdims=True))
    return z


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("checkpoint", help="checkpoint directory written by `fashion train`")
    ap.add_argument("--out", default="target/graph-peers", help="where both sides' files go")
    ap.add_argument("--lasso-rows", type=int, default=50, help="regressions fitted by both")
    ap.add_argument("--pivots", type=int, default=500, help="pivots on the 10 000-node graph")
    args = ap.parse_args()
    out = Path(args.out)
    cmd = ["cargo", "run", "--release", "-q", "-p", "fashion", "--example", "study_peers", "--",
           args.checkpoint, str(out), str(args.lasso_rows), str(args.pivots)]
    done = subprocess.run(cmd, cwd=ROOT, check=False)
    if done.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({done.returncode})")
    ours = json.loads((out / "ours.json").read_text(encoding="utf-8"))
    n, d, alpha, tol = ours["rows"], ours["columns"], ours["alpha"], ours["tolerance"]
    x = np.fromfile(out / "dense.f32", dtype="<f4").reshape(n, d)
    z = standardise(x)

    # Lasso: the first rows' regressions.
    theirs = {}
    start = time.perf_counter()
    for i in range(args.lasso_rows):
        others = np.delete(np.arange(n), i)
        fit = Lasso(alpha=alpha, fit_intercept=False, tol=tol, max_iter=10_000)
        fit.fit(z[others].T, z[i])
        theirs[i] = {int(others[k]): c for k, c in enumerate(fit.coef_) if abs(c) > 1e-10}
    sk_seconds = time.perf_counter() - start
    mine = {i: {} for i in range(args.lasso_rows)}
    with open(out / "selections.csv", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            mine[int(r["row"])][int(r["selected"])] = float(r["coefficient"])
    same = differ = 0
    worst_border = worst_diff = 0.0
    for i in mine:
        scale = max([abs(c) for c in theirs[i].values()] + [1e-300])
        for j in set(mine[i]) | set(theirs[i]):
            a, b = mine[i].get(j, 0.0), theirs[i].get(j, 0.0)
            worst_diff = max(worst_diff, abs(a - b) / scale)
            if (j in mine[i]) == (j in theirs[i]):
                same += 1
            else:
                differ += 1
                worst_border = max(worst_border, max(abs(a), abs(b)) / scale)

    # Betweenness: exact on 2 000 nodes, sampled on 10 000.
    g2 = read_edges(out / "knn2000.csv")
    g2.add_nodes_from(range(2000))
    start = time.perf_counter()
    nx_exact = nx.betweenness_centrality(g2, normalized=True)
    nx_small = time.perf_counter() - start
    with open(out / "betweenness2000.csv", encoding="utf-8") as f:
        ours_exact = {int(r["node"]): float(r["betweenness"]) for r in csv.DictReader(f)}
    # Both count ordered pairs (s, t) and divide by (n-1)(n-2): networkx's default.
    b_err = max(abs(ours_exact[v] - nx_exact[v]) for v in g2.nodes)
    g10 = read_edges(out / "knn10000.csv")
    g10.add_nodes_from(range(n))
    start = time.perf_counter()
    nx.betweenness_centrality(g10, k=args.pivots, seed=0, normalized=True)
    nx_large = time.perf_counter() - start

    s = ours["seconds"]
    per_fit = sk_seconds / args.lasso_rows
    print(f"\nMachine: {cpu()}; ours on {ours['threads']} threads, Python single-threaded "
          f"(scikit-learn {__import__('sklearn').__version__}, networkx {nx.__version__}).\n")
    print("| step | ours | Python | Python / ours |")
    print("|---|---|---|---|")
    print(f"| {args.lasso_rows} lasso regressions (α = {alpha:.4f}) | {s['lasso_rows']:.2f} s "
          f"| {sk_seconds:.2f} s (scikit-learn `Lasso`) | {sk_seconds / s['lasso_rows']:.0f}× |")
    print(f"| lasso graph, all {n} regressions | {s['lasso_graph']:.2f} s "
          f"| ≈ {per_fit * n:.0f} s (estimated: {per_fit:.3f} s × {n}) "
          f"| ≈ {per_fit * n / s['lasso_graph']:.0f}× |")
    print(f"| exact betweenness, kNN graph of 2 000 images | {s['betweenness_exact_2000']:.2f} s "
          f"| {nx_small:.2f} s (networkx) | {nx_small / s['betweenness_exact_2000']:.0f}× |")
    print(f"| betweenness from {args.pivots} pivots, kNN graph of {n} images "
          f"| {s['betweenness_pivots_10000']:.2f} s | {nx_large:.2f} s (networkx) "
          f"| {nx_large / s['betweenness_pivots_10000']:.0f}× |")
    print(f"\nSame answers: {same} selections agree and {differ} differ in {args.lasso_rows} "
          f"regressions (those that differ are at most {worst_border:.1e} of the largest "
          f"coefficient; coefficients differ by at most {worst_diff:.1e} of it); exact "
          f"betweenness differs by at most {b_err:.1e}.")
    if b_err > 1e-9 or (differ > 0 and worst_border > 1e-2):
        sys.exit("the two sides disagree beyond the stopping tolerance")


if __name__ == "__main__":
    main()
