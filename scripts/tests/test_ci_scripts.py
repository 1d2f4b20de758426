"""The Makefile and .ci/run must fail loudly, never go on with a missing data directory."""

import os
import shutil
import subprocess
import time
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
    for target, phases in [("run", 6), ("test", 9)]:
        r = subprocess.run(["make", "-n", "--no-print-directory", target], cwd=REPO_ROOT,
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        timed = [line for line in r.stdout.splitlines()
                 if line.startswith(f"scripts/phase target/phases-{target}.tsv ")]
        assert len(timed) == phases, r.stdout
        # The setup and the kernel's build start first, in the background, watching the
        # make that runs the recipe; the phases that need them wait for them first.
        assert "scripts/background-setup start target/background-setup.log $PPID make" \
            in timed[0], timed[0]
        waits = [i for i, line in enumerate(timed) if "setup-after-background" in line]
        needs = [i for i, line in enumerate(timed) if " notebooks" in line or " pytest" in line]
        assert len(waits) == 1 and needs and waits[0] < min(needs), timed
        assert f"scripts/phase --table target/phases-{target}.tsv" in r.stdout


BACKGROUND = str(REPO_ROOT / "scripts" / "background-setup")


def fake_make(tmp_path, body):
    make = tmp_path / "fake-make"
    make.write_text("#!/bin/sh\n" + body)
    make.chmod(0o755)
    return str(make)


def background(*args, timeout=60):
    return subprocess.run([BACKGROUND, *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)


def test_background_setup_returns_at_once_and_wait_reports_the_work(tmp_path):
    log, go = tmp_path / "t" / "bg.log", tmp_path / "go"
    make = fake_make(tmp_path, f'echo "make $*"\nwhile [ ! -e {go} ]; do sleep 0.1; done\n'
                               'echo "built it"\nexit 3\n')
    owner = subprocess.Popen(["sleep", "120"])
    try:
        r = background("start", log, owner.pid, make, "--no-print-directory")
        assert r.returncode == 0, r.stderr
        assert f"log {log}" in r.stdout, r.stdout
        # The work waits for `go`: start has returned before it ended.
        assert not Path(f"{log}.status").exists()
        go.touch()
        w = background("wait", log)
        assert w.returncode == 0, "a failed background setup is left to the foreground"
        assert "status 3" in w.stdout and "built it" in w.stdout, w.stdout
        assert "make --no-print-directory kernel-build" in log.read_text()
        assert not Path(f"{log}.pid").exists()
        again = background("wait", log)
        assert again.returncode == 0 and "nothing was started" in again.stdout, again.stdout
    finally:
        owner.kill()
        owner.wait()


def test_background_setup_stops_when_its_make_ends(tmp_path):
    log, pid = tmp_path / "bg.log", tmp_path / "worker.pid"
    make = fake_make(tmp_path, f"echo $$ > {pid}\nexec sleep 300\n")
    owner = subprocess.Popen(["sleep", "120"])
    r = background("start", log, owner.pid, make)
    assert r.returncode == 0, r.stderr
    for _ in range(100):
        if pid.exists() and pid.read_text().strip():
            break
        time.sleep(0.1)
    worker = int(pid.read_text())
    owner.kill()
    owner.wait()
    w = background("wait", log)
    assert w.returncode == 0, w.stderr
    assert "did not finish" in w.stdout, w.stdout
    assert f"its make ({owner.pid}) has ended" in log.read_text()
    state = Path(f"/proc/{worker}/status")
    assert not state.exists() or "zombie" in state.read_text(), "the work was stopped"


def test_background_setup_refuses_bad_arguments(tmp_path):
    assert background("start", tmp_path / "bg.log").returncode == 2
    gone = subprocess.Popen(["true"])
    gone.wait()
    r = background("start", tmp_path / "bg.log", gone.pid, "make")
    assert r.returncode == 2 and f"no process {gone.pid}" in r.stderr, r.stderr
    assert background("sideways", tmp_path / "bg.log").returncode == 2
