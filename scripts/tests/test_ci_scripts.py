"""The Makefile and .ci/run must fail loudly, never go on with a missing data directory."""

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

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


def test_phases_are_timed_recorded_and_a_failing_one_stops_with_its_status(tmp_path):
    phase = str(REPO_ROOT / "scripts" / "phase")
    record = tmp_path / "t" / "phases.tsv"
    run = lambda *a: subprocess.run([phase, *a], capture_output=True, text=True, timeout=60)
    assert run("--start", str(record)).returncode == 0
    ok = run(str(record), "sleep one second", "sleep", "1")
    assert ok.returncode == 0, ok.stderr
    assert ">>> sleep one second: done in " in ok.stdout, ok.stdout
    bad = run(str(record), "fails", "sh", "-c", "exit 7")
    assert bad.returncode == 7
    assert ">>> fails: failed (exit 7) after " in bad.stderr, bad.stderr
    rows = [line.split("\t") for line in record.read_text().splitlines()]
    assert [r[0] for r in rows] == ["sleep one second", "fails"]
    assert int(rows[0][1]) >= 1 and int(rows[1][1]) >= 0
    table = run("--table", str(record))
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["phase", "seconds"]
    assert lines[1].startswith("sleep one second") and lines[2].startswith("fails")
    total = int(rows[0][1]) + int(rows[1][1])
    assert lines[3].split()[:2] == ["total", str(total)]
    # --start forgets what was recorded.
    assert run("--start", str(record)).returncode == 0 and record.read_text() == ""
    assert run("--table", str(tmp_path / "none.tsv")).returncode == 2


def test_make_run_and_make_test_go_through_timed_phases():
    # Dry run: every phase of both commands is wrapped by scripts/phase and ends in a table.
    for target, phases in [("run", 5), ("test", 7)]:
        r = subprocess.run(["make", "-n", "--no-print-directory", target], cwd=REPO_ROOT,
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        timed = [line for line in r.stdout.splitlines()
                 if line.startswith(f"scripts/phase target/phases-{target}.tsv ")]
        assert len(timed) == phases, r.stdout
        assert f"scripts/phase --table target/phases-{target}.tsv" in r.stdout
    # make test's notebooks phase runs pytest beside the notebooks.
    assert "scripts/beside target/pytest.log " in r.stdout and "pytest" in r.stdout, r.stdout


def _tiny_crate(root, test_body):
    (root / "src").mkdir(parents=True, exist_ok=True)
    (root / "Cargo.toml").write_text(
        '[package]\nname = "probe"\nversion = "0.1.0"\nedition = "2024"\n\n[workspace]\n')
    (root / "src" / "lib.rs").write_text(
        "pub fn double(x: u32) -> u32 {\n    x * 2\n}\n\n"
        "#[cfg(test)]\nmod tests {\n    #[test]\n    fn doubles() {\n"
        f"        {test_body}\n    }}\n}}\n")


def _make_build(crate, target_dir, linted):
    # Run under `make test`, this process inherits its command-line variables
    # (LINTED_BUILD=1 among them) through MAKEFLAGS: the nested make must not see them.
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    env.update(CARGO_TARGET_DIR=str(target_dir), CARGO_TERM_COLOR="never")
    return subprocess.run(
        ["make", "--no-print-directory", "-f", str(REPO_ROOT / "Makefile"), "build",
         "BUILD_TARGETS=--all-targets", f"LINTED_BUILD={1 if linted else ''}"],
        cwd=crate, env=env, capture_output=True, text=True, timeout=600)


def test_make_tests_build_fails_on_a_clippy_warning_in_a_test_target(tmp_path):
    # `make test` has no separate `cargo clippy` run: its build compiles the workspace's
    # crates with clippy-driver (LINTED_BUILD=1). That build must fail on a clippy lint,
    # including one in a unit test only `--all-targets` compiles, and on a rustc warning;
    # the plain build (`make run`'s) must not.
    crate, target = tmp_path / "probe", tmp_path / "target"
    _tiny_crate(crate, "let n = 3u32;\n        assert_eq!(super::double(n.clone()), 6);")
    plain = _make_build(crate, target, linted=False)
    assert plain.returncode == 0, plain.stdout + plain.stderr
    linted = _make_build(crate, target, linted=True)
    assert linted.returncode != 0, linted.stdout + linted.stderr
    assert "clippy::clone_on_copy" in linted.stderr, linted.stderr
    assert "RUSTC_WORKSPACE_WRAPPER=clippy-driver" in linted.stdout, linted.stdout

    _tiny_crate(crate, "let unused = 3u32;\n        assert_eq!(super::double(3), 6);")
    linted = _make_build(crate, target, linted=True)
    assert linted.returncode != 0, linted.stdout + linted.stderr
    assert "unused variable: `unused`" in linted.stderr, linted.stderr

    _tiny_crate(crate, "assert_eq!(super::double(3), 6);")
    linted = _make_build(crate, target, linted=True)
    assert linted.returncode == 0, linted.stdout + linted.stderr


BESIDE = str(REPO_ROOT / "scripts" / "beside")


def test_beside_prints_the_background_output_after_the_foreground_and_fails_with_either(
        tmp_path):
    log = tmp_path / "logs" / "bg.log"
    run = lambda bg, *fg: subprocess.run([BESIDE, str(log), bg, *fg], capture_output=True,
                                         text=True, timeout=60)
    # Both pass: the background's output comes after the foreground's, and in the log.
    ok = run("sleep 1; echo from-background", "sh", "-c", "echo from-foreground")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    lines = ok.stdout.splitlines()
    assert lines.index("from-foreground") < lines.index("from-background"), ok.stdout
    assert log.read_text() == "from-background\n"
    # The background fails: its status, and it is named.
    bg_fails = run("echo bad; exit 3", "true")
    assert bg_fails.returncode == 3, bg_fails.stderr
    assert "beside: `echo bad; exit 3` failed (exit 3)" in bg_fails.stderr
    assert "bad" in bg_fails.stdout
    # The foreground fails: its status wins, the background still ends and is printed.
    both_fail = run("sleep 1; echo late; exit 3", "sh", "-c", "exit 5")
    assert both_fail.returncode == 5, both_fail.stderr
    assert "late" in both_fail.stdout
    assert "failed (exit 3)" in both_fail.stderr and "failed (exit 5)" in both_fail.stderr
    missing = run("true", str(tmp_path / "no-such-command"))
    assert missing.returncode == 127 and "no such command" in missing.stderr, missing.stderr
    usage = run("true")
    assert usage.returncode == 2 and "usage" in usage.stderr


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGINT"])
def test_beside_stopped_stops_both_commands(tmp_path, sig):
    pids = tmp_path / "pids"
    # Each command records the pid of a process that would outlive it if left alone: a
    # background sleep for SIGTERM; for SIGINT, which a shell's background jobs ignore,
    # the command itself (`exec`).
    if sig == "SIGTERM":
        cmd = f"sleep 60 & echo $! >> {pids}; wait"
    else:
        cmd = f"echo $$ >> {pids}; exec sleep 60"
    # As from a terminal: SIGINT not ignored. (A shell's background job, as CI may be,
    # starts with SIGINT ignored, and Python then leaves it ignored.)
    proc = subprocess.Popen([BESIDE, str(tmp_path / "bg.log"), cmd, "sh", "-c", cmd],
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (
            not pids.exists() or len(pids.read_text().split()) < 2):
        time.sleep(0.1)
    assert len(pids.read_text().split()) == 2
    proc.send_signal(getattr(signal, sig))
    assert proc.wait(timeout=60) == (143 if sig == "SIGTERM" else 130)
    alive = []
    for pid in map(int, pids.read_text().split()):
        if Path("/proc/self/status").exists():
            status = Path(f"/proc/{pid}/status")
            # A zombie (state Z) has ended; it only waits for its parent to reap it.
            if status.exists() and "\nState:\tZ" not in status.read_text():
                alive.append(pid)
        else:
            try:
                os.kill(pid, 0)
                alive.append(pid)
            except ProcessLookupError:
                pass
    assert alive == [], f"still running after beside was stopped: {alive}"
