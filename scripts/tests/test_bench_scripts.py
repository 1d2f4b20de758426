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


def fake_fashion(tmp_path, gemm):
    """A stand-in `fashion` whose bench prints the first line with the given GEMM level
    and the simd level from FASHION_SIMD (as the real one does, capped to avx512)."""
    fake = tmp_path / "fashion"
    fake.write_text("#!/bin/sh\n"
                    'echo "model: small  mode: train  batch: 8  steps: 1  threads: 2  '
                    f'simd: ${{FASHION_SIMD:-avx512}}  gemm: {gemm}"\n'
                    'echo "images/s: 100.0"\n')
    fake.chmod(0o755)
    return fake


def test_fashion_paths_reads_the_bench_header(tmp_path, monkeypatch):
    monkeypatch.delenv("FASHION_SIMD", raising=False)
    assert gemm_ceiling.fashion_paths(str(fake_fashion(tmp_path, "avx512"))) == (
        "avx512", "avx512")


def test_avx2_refuses_a_binary_with_avx512_gemms(tmp_path):
    fake = fake_fashion(tmp_path, "avx512")
    done = subprocess.run([sys.executable, str(REPO_ROOT / "bench" / "gemm_ceiling.py"),
                           "--fashion", str(fake), "--avx2"], capture_output=True, text=True)
    assert done.returncode != 0
    assert "runs simd: avx2, gemm: avx512, expected avx2 for both" in done.stderr
    assert "--no-default-features" in done.stderr


def test_numpy_run_sets_the_thread_count_and_reads_the_rate(tmp_path):
    # A stand-in Python that reports the thread variables it was given as its "BLAS".
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\n"
                    'echo "blas: $OPENBLAS_NUM_THREADS $OMP_NUM_THREADS $MKL_NUM_THREADS"\n'
                    'echo "GFLOP/s: 12.500"\n')
    fake.chmod(0o755)
    assert gemm_ceiling.numpy_run(str(fake), 64, 1, 3) == (12.5, "3 3 3")


def test_numpy_run_names_a_python_without_numpy(tmp_path):
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\necho 'No module named numpy' >&2\nexit 1\n")
    fake.chmod(0o755)
    try:
        gemm_ceiling.numpy_run(str(fake), 64, 1, 2)
    except SystemExit as e:
        assert "the NumPy matmul timing failed (1); does it have numpy?" in str(e)
        assert "No module named numpy" in str(e)
    else:
        raise AssertionError("numpy_run accepted a failing Python")
