"""Tests of the optional benchmark scripts in bench/ that need neither torch nor a build."""

import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT / "bench"))

import gemm_ceiling  # noqa: E402


def test_small_cnn_training_flop_per_image():
    # Forward multiply-adds × 2, layer by layer: 3×3 convolutions (C_in·C_out·9 per output
    # pixel) at 28×28, 14×14 and 7×7, then the dense layers; training = 3 × forward.
    conv1 = 2 * 1 * 32 * 9 * 784        # 451 584
    conv2 = 2 * 32 * 64 * 9 * 196       # 7 225 344
    conv3 = 2 * 64 * 128 * 9 * 49       # 7 225 344
    dense = 2 * 1152 * 128 + 2 * 128 * 10
    assert gemm_ceiling.small_cnn_train_flop() == 3 * (conv1 + conv2 + conv3 + dense)
    assert gemm_ceiling.small_cnn_train_flop() == 45_599_232


def test_gemm_ceiling_names_a_missing_binary(tmp_path):
    missing = tmp_path / "no-such-fashion"
    done = subprocess.run([sys.executable, str(REPO_ROOT / "bench" / "gemm_ceiling.py"),
                           "--fashion", str(missing)], capture_output=True, text=True)
    assert done.returncode != 0
    assert f"--fashion: no binary at {missing}" in done.stderr
    done = subprocess.run([sys.executable, str(REPO_ROOT / "bench" / "gemm_ceiling.py"),
                           "--rounds", "0"], capture_output=True, text=True)
    assert done.returncode != 0 and "must be ≥ 1" in done.stderr
