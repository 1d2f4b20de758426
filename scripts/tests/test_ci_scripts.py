"""The Makefile and .ci/run must fail loudly, never go on with a missing data directory."""

import os
import shutil
import subprocess
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_make_stops_when_the_data_directory_cannot_be_found(tmp_path):
    # A cargo whose build fails: `fashion data dir` cannot run, so WITH_DATA has no
    # directory to export. The recipe must stop there, not run `cargo test` with an
    # empty FASHION_MNIST_DIR (`export X="$(cmd)"` used to hide the failure).
    stub = tmp_path / "cargo"
    stub.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = build ]; then echo "stub: build failed" >&2; exit 3; fi\n'
        'echo "stub ran: $*"\n'
    )
    stub.chmod(0o755)
    r = subprocess.run(
        ["make", "--no-print-directory", "-o", "data", "cargo-test", f"CARGO={stub}"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60,
    )
    assert r.returncode != 0, r.stdout + r.stderr
    assert "stub ran: test" not in r.stdout, r.stdout
    assert "stub: build failed" in r.stderr, r.stderr


def test_ci_run_names_the_missing_data_directory(tmp_path):
    # A clone without ../shared/data/fashion-mnist beside it and no FASHION_MNIST_DIR.
    clone = tmp_path / "repo"
    (clone / ".ci").mkdir(parents=True)
    shutil.copy(REPO_ROOT / ".ci" / "run", clone / ".ci" / "run")
    env = {k: v for k, v in os.environ.items() if k != "FASHION_MNIST_DIR"}
    r = subprocess.run(["bash", str(clone / ".ci" / "run")], env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "shared/data/fashion-mnist does not exist" in r.stderr, r.stderr
    assert "make test" not in r.stdout, r.stdout
