#!/usr/bin/env python3
"""Time each cell of a fresh evcxr kernel: where a notebook's first half-minute goes.

Usage (from the repository root, after `make setup` and one notebook run, so that the
kernel's compiled dependencies are cached):

    .venv/bin/python bench/kernel_cells.py [--crate crates/fashion] [--clear]

Starts the `rust` kernel the way `scripts/run-notebooks` does (same EVCXR_TMPDIR, cargo
profile and library path; a value already set in the environment wins), runs a `:dep`
cell, an import, a few one-line cells that define variables, and prints the wall time of
each. Run it on a quiet machine: the times are what a notebook pays before its own work.

With `--clear` it then sends evcxr's `:clear` (what the runner does between two notebooks
that share a kernel), checks that the variables are gone, and runs the same cells again:
the second pass is what a notebook pays in a shared kernel.
"""

from __future__ import annotations

import argparse
import importlib.machinery
import importlib.util
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def load_runner():
    """scripts/run-notebooks as a module (its kernel environment and cache directory)."""
    path = REPO_ROOT / "scripts" / "run-notebooks"
    loader = importlib.machinery.SourceFileLoader("run_notebooks", str(path))
    spec = importlib.util.spec_from_loader("run_notebooks", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--crate", default=str(REPO_ROOT / "crates" / "fashion"),
                        help="path of the crate the :dep cell loads (default: crates/fashion)")
    parser.add_argument("--clear", action="store_true",
                        help="then :clear the kernel and time the same cells again")
    args = parser.parse_args()
    crate = Path(args.crate).resolve()
    if not (crate / "Cargo.toml").is_file():
        print(f"error: --crate {crate}: expected a crate directory with a Cargo.toml",
              file=sys.stderr)
        return 2
    rn = load_runner()
    tmpdir = rn.default_evcxr_tmpdir()
    tmpdir.mkdir(parents=True, exist_ok=True)
    rn.prepare_kernel_environment(tmpdir)
    from jupyter_client.manager import start_new_kernel

    cells = [
        f':dep fashion = {{ path = "{crate}" }}',
        "use fashion::data::FashionMnist;\n1 + 1",
        "let x = 2 + 3;\nx",
        "let v: Vec<u32> = (0..10).collect();\nv.len()",
        "use fashion::train::shared_run;\nlet run = shared_run();\nrun.config.epochs",
        "let y = x * 2;\ny",
        'format!("{}", run.config.learning_rate)',
    ]
    print(f"EVCXR_TMPDIR={tmpdir}")
    with rn.exclusive_lock(tmpdir):
        km, kc = start_new_kernel(kernel_name="rust", cwd=str(REPO_ROOT / "notebooks"))
        def timed(cell: str) -> str:
            start = time.monotonic()
            reply = kc.execute_interactive(cell, timeout=3600, output_hook=lambda _m: None)
            status = reply["content"]["status"]
            print(f"{time.monotonic() - start:7.1f} s  {status:5}  {cell.splitlines()[0]}",
                  flush=True)
            return status

        try:
            passes = 2 if args.clear else 1
            for n in range(passes):
                if n > 0:
                    print("-- after :clear (a notebook in a shared kernel)", flush=True)
                    if timed(":clear") != "ok":
                        return 1
                    # Nothing of the first pass may survive: `x` must be unknown again.
                    if timed("x") == "ok":
                        print("error: a variable survived :clear", file=sys.stderr)
                        return 1
                for cell in cells:
                    if timed(cell) != "ok":
                        return 1
        finally:
            km.shutdown_kernel(now=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
