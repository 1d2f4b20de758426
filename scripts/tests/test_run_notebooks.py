"""Tests of scripts/run-notebooks on tiny fixture notebooks (no :dep, so they compile fast).

The kernel tests need the evcxr kernel `rust` (`cargo install --locked evcxr_jupyter` and
`evcxr_jupyter --install`); without it they FAIL with that instruction, they do not skip.
They use the runner's EVCXR_TMPDIR: `make pytest` gives them one of their own.
"""

import importlib.machinery
import importlib.util
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

REPO_ROOT = Path(__file__).resolve().parents[2]
RUNNER = REPO_ROOT / "scripts" / "run-notebooks"
KERNEL = "rust"


def load_runner_module():
    loader = importlib.machinery.SourceFileLoader("run_notebooks", str(RUNNER))
    spec = importlib.util.spec_from_loader("run_notebooks", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


rn = load_runner_module()


def make_notebook(path, *sources):
    """A notebook for the rust kernel; a source starting with '# ' is a markdown cell."""
    cells = [new_markdown_cell(s[2:]) if s.startswith("# ") else new_code_cell(s)
             for s in sources]
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": KERNEL, "display_name": "Rust", "language": "rust"}
    nb.metadata["language_info"] = {"name": "Rust"}
    nbformat.write(nb, str(path))
    return path


def run(*args, timeout=900):
    """Run the runner as a subprocess; returns (returncode, stdout+stderr, seconds)."""
    t0 = time.monotonic()
    proc = subprocess.run(
        [sys.executable, str(RUNNER), *map(str, args)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout,
    )
    return proc.returncode, proc.stdout + proc.stderr, time.monotonic() - t0


def all_output_text(cell):
    parts = []
    for out in cell.get("outputs", []):
        parts.append(json.dumps(out))
    return "\n".join(parts)


def output_from(nb, index):
    """The outputs of cell `index` and the cells after it: what a cell prints may be
    recorded under the next cell (evcxr sends it late when the machine is busy)."""
    return "\n".join(all_output_text(c) for c in nb.cells[index:])


@pytest.fixture(scope="session")
def rust_kernel():
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
    try:
        KernelSpecManager().get_kernel_spec(KERNEL)
        missing = False
    except NoSuchKernel:
        missing = True
    if missing:
        pytest.fail(
            f"Jupyter kernel {KERNEL!r} is not installed, so the notebook runner cannot be "
            "tested. Install it: `cargo install --locked evcxr_jupyter && "
            "evcxr_jupyter --install`.",
            pytrace=False,
        )
    return KERNEL


# ------------------------------------------------------------------ without a kernel


def test_check_only_fails_on_committed_outputs_without_a_kernel(tmp_path):
    nb_path = make_notebook(tmp_path / "01-dirty.ipynb", "# title", "let x = 1;", "x")
    nb = nbformat.read(str(nb_path), as_version=4)
    nb.cells[2].execution_count = 3
    nb.cells[2].outputs = [new_output("execute_result", {"text/plain": "1"}, execution_count=3)]
    nbformat.write(nb, str(nb_path))
    # A kernel that does not exist proves that no kernel is started.
    rc, out, secs = run(nb_path, "--check-only", "--kernel", "no-such-kernel")
    assert rc == 1, out
    assert "01-dirty.ipynb: cell 2: committed with 1 output(s) and execution_count 3" in out
    assert "cell 1" not in out
    assert secs < 30
    # The full run checks first too, before looking for the kernel (exit 1, not 2).
    rc, out, _ = run(nb_path, "--kernel", "no-such-kernel", "--out", tmp_path / "out")
    assert rc == 1, out
    assert "cell 2: committed with" in out
    assert not (tmp_path / "out").exists()


def test_check_only_passes_on_clean_notebook(tmp_path):
    nb_path = make_notebook(tmp_path / "01-clean.ipynb", "let x = 1;")
    rc, out, _ = run(nb_path, "--check-only", "--kernel", "no-such-kernel")
    assert rc == 0, out
    assert "1 notebook(s) committed without outputs" in out


def test_execution_count_alone_is_reported(tmp_path):
    nb_path = make_notebook(tmp_path / "01-count.ipynb", "let x = 1;")
    nb = nbformat.read(str(nb_path), as_version=4)
    nb.cells[0].execution_count = 1
    nbformat.write(nb, str(nb_path))
    rc, out, _ = run(nb_path, "--check-only")
    assert rc == 1 and "cell 0: committed with execution_count 1" in out, out


def test_unknown_kernel_is_a_clear_error(tmp_path):
    nb_path = make_notebook(tmp_path / "01-clean.ipynb", "let x = 1;")
    rc, out, _ = run(nb_path, "--kernel", "no-such-kernel", "--out", tmp_path / "out")
    assert rc == 2, out
    assert "kernel 'no-such-kernel' is not installed" in out


def test_missing_notebook_is_a_usage_error(tmp_path):
    rc, out, _ = run(tmp_path / "nope.ipynb", "--check-only")
    assert rc == 2 and "notebook not found" in out, out


def test_default_selection_is_numeric_and_in_repo_solutions_last():
    paths = rn.default_notebooks()
    main = [p for p in paths if p.parent == REPO_ROOT / "notebooks"]
    solutions = [p for p in paths if p.parent == REPO_ROOT / "notebooks" / "solutions"]
    assert main and solutions and paths == main + solutions
    for group in (main, solutions):
        for p in group:
            assert rn.NOTEBOOK_RE.match(p.name)
        nums = [int(p.name[:2]) for p in group]
        assert nums == sorted(nums)
    # Every solution notebook answers a course notebook of the same number.
    assert {p.name[:2] for p in solutions} <= {p.name[:2] for p in main}


def test_runtimes_are_merged_into_one_table(tmp_path):
    target = tmp_path / "docs" / "runtimes.md"
    row = {"notebook": "04-x", "seconds": 12.34, "status": "passed", "mode": "default run",
           "cache": "warm", "cpu": "Some CPU", "avx512": False, "date": "2026-01-01 00:00"}
    rn.record_runtimes(target, [row, dict(row, notebook="solutions/04-x-solutions")])
    rn.record_runtimes(target, [dict(row, notebook="02-y", seconds=99.0, avx512=True,
                                     kernel="shared", jobs=2)])
    text = target.read_text()
    lines = [l for l in text.splitlines() if l.startswith("| [")]
    # Merged, course notebooks first in name order, solutions last.
    assert [l.split("]")[0] for l in lines] == ["| [02-y", "| [04-x", "| [solutions/04-x-solutions"]
    # A row from before the kernels were shared started its own kernel, one at a time.
    assert "| 12 | passed | default run | warm | new | 1 | Some CPU | no |" in lines[1]
    assert "| 99 | passed | default run | warm | shared | 2 | Some CPU | yes |" in lines[0]
    assert "Do not edit by hand" in text
    assert (tmp_path / "docs" / "runtimes.json").is_file()


def _nb_with_outputs(*outputs):
    nb = new_notebook(cells=[new_markdown_cell("x"), new_code_cell("a"), new_code_cell("b")])
    nb.cells[2].outputs = list(outputs)
    return nb


@pytest.mark.parametrize(
    "output, expected",
    [
        (new_output("stream", name="stderr",
                    text="   Compiling foo v0.1.0\nthread '<unnamed>' panicked at src/lib.rs:3:5:\nboom\n"),
         "Rust panic in stderr"),
        (new_output("stream", name="stdout", text="thread 'main' panicked at x.rs:1:1:\n"),
         "Rust panic in stdout"),
        (new_output("error", ename="Error", evalue="boom", traceback=["bad"]), "error output"),
        (new_output("display_data", {"text/html": "<pre>thread panicked at a.rs:1:1</pre>"}),
         "Rust panic in display_data text/html"),
        (new_output("execute_result", {"text/plain": "panicked at b.rs:2:2"}, execution_count=1),
         "Rust panic in execute_result text/plain"),
    ],
)
def test_output_scan_finds_panics_and_errors(output, expected):
    problems = rn.output_problems(_nb_with_outputs(output))
    assert len(problems) == 1
    index, message = problems[0]
    assert index == 2
    assert message.startswith(expected), message


def test_output_scan_joins_line_by_line_stderr():
    # evcxr sends a panic's stderr one line per output.
    lines = ["\n", "thread '<unnamed>' (1) panicked at src/lib.rs:97:1:\n", "boom\n",
             "stack backtrace:\n"]
    nb = _nb_with_outputs(*[new_output("stream", name="stderr", text=t) for t in lines],
                          new_output("stream", name="stdout", text="later\n"))
    problems = rn.output_problems(nb)
    assert len(problems) == 1
    assert "    | boom" in problems[0][1].splitlines()


def test_output_scan_ignores_compile_noise():
    noise = new_output("stream", name="stderr",
                       text="   Compiling serde v1.0.0\nwarning: unused variable\n    Finished\n")
    ok = new_output("execute_result", {"text/plain": "42"}, execution_count=1)
    assert rn.output_problems(_nb_with_outputs(noise, ok)) == []


def test_output_scan_fails_on_an_error_returned_with_question_mark():
    # evcxr prints a cell's `?` error as plain stderr text, after any build output.
    build = new_output("stream", name="stderr", text="   Compiling fashion v0.1.0\n")
    warn = new_output("stream", name="stderr",
                      text="warning: unused variable: `x`\n --> src/lib.rs:1:5\n  |\n1 | let x = 1;\n"
                           "  = note: `#[warn(unused_variables)]` on by default\n")
    err = new_output("stream", name="stderr", text="/data/t10k-images.gz: missing data file\n")
    problems = rn.output_problems(_nb_with_outputs(build, warn, err))
    assert len(problems) == 1, problems
    index, message = problems[0]
    assert index == 2
    assert message.startswith("stderr output"), message
    assert "    | /data/t10k-images.gz: missing data file" in message.splitlines()
    assert "Compiling" not in message and "unused variable" not in message


class _FakeIopub:
    """Replays kernel messages; raises queue.Empty when they run out (as a quiet kernel)."""

    def __init__(self, messages):
        self.messages = list(messages)

    def get_msg(self, timeout=None):
        import queue
        if not self.messages:
            raise queue.Empty
        return self.messages.pop(0)


class _FakeKernelClient:
    def __init__(self, messages):
        self.iopub_channel = _FakeIopub(messages)


def _msg(parent, msg_type, **content):
    return {"parent_header": {"msg_id": parent}, "msg_type": msg_type,
            "header": {"msg_type": msg_type}, "content": content, "metadata": {}}


def test_stderr_arriving_after_its_cell_finished_is_kept():
    # evcxr forwards stderr from another thread: the `?` error of cell 0 can arrive after
    # cell 0's "idle" status, while cell 1 runs, and after the last cell has finished.
    # nbclient alone drops such messages; the runner must put them back on their cell.
    import asyncio
    nb = new_notebook(cells=[new_code_cell("a()?;"), new_code_cell("b()?;")])
    client = rn.LateOutputClient(nb, kernel_name=KERNEL, record_timing=False)
    # What nbclient sets up before it runs a notebook and a cell.
    client.reset_execution_trackers()
    client.clear_before_next_output = False
    client.kc = _FakeKernelClient([
        _msg("m0", "status", execution_state="idle"),
        _msg("m0", "stream", name="stderr", text="a: missing data file\n"),
        _msg("m1", "stream", name="stdout", text="b ran\n"),
        _msg("m1", "status", execution_state="idle"),
        _msg("m1", "stream", name="stderr", text="b: bad parameter\n"),
    ])

    async def run_cells():
        await client._async_poll_output_msg("m0", nb.cells[0], 0)
        await client._async_poll_output_msg("m1", nb.cells[1], 1)
        await client.drain_late_output(0.01)

    asyncio.run(run_cells())
    assert client.late_outputs == 2
    problems = rn.output_problems(nb)
    assert [i for i, _ in problems] == [0, 1], problems
    assert "a: missing data file" in problems[0][1]
    assert "b: bad parameter" in problems[1][1]
    assert [o["text"] for o in nb.cells[1].outputs] == ["b ran\n", "b: bad parameter\n"]


def test_timeout_precedence(monkeypatch):
    monkeypatch.delenv("NOTEBOOK_TIMEOUT", raising=False)
    assert rn.parse_args([]).timeout == 1800
    monkeypatch.setenv("NOTEBOOK_TIMEOUT", "7")
    assert rn.parse_args([]).timeout == 7
    assert rn.parse_args(["--timeout", "3"]).timeout == 3


# ------------------------------------------------------------------ with the rust kernel


PNG_1X1 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC"


def test_good_notebook_passes_and_exports_html(tmp_path, rust_kernel, monkeypatch):
    monkeypatch.setenv("FASHION_MNIST_DIR", str(tmp_path / "data-dir-marker"))
    nb_path = make_notebook(
        tmp_path / "01-good.ipynb",
        "# A good notebook",
        "let x = 40 + 2;\nx",
        'println!("hello");',
        'println!("data={} cwd={}", std::env::var("FASHION_MNIST_DIR").unwrap(), '
        'std::env::current_dir().unwrap().display());',
        f'println!("EVCXR_BEGIN_CONTENT image/png\\n{PNG_1X1}\\nEVCXR_END_CONTENT");',
    )
    out_dir = tmp_path / "out"
    rc, out, secs = run(nb_path, "--timeout", "600", "--out", out_dir)
    print(out)
    assert rc == 0, out
    assert "01-good: passed in" in out
    assert out.rstrip().splitlines()[-1] == "notebooks: 1 passed, 0 failed"
    html = out_dir / "01-good.html"
    assert html.is_file() and str(html) in out
    executed = nbformat.read(str(out_dir / "01-good.ipynb"), as_version=4)
    assert "42" in all_output_text(executed.cells[1])
    assert "hello" in output_from(executed, 2)
    # The environment reaches the kernel, which runs in the notebook's directory.
    assert f"data={tmp_path / 'data-dir-marker'} cwd={tmp_path}" in output_from(executed, 3)
    # evcxr turns the EVCXR_BEGIN_CONTENT block into an image/png output; the HTML embeds it.
    assert executed.cells[4].outputs[0]["data"]["image/png"].strip() == PNG_1X1
    page = html.read_text()
    assert "hello" in page
    assert f"data:image/png;base64,{PNG_1X1}" in page
    # The committed fixture is untouched; no temp files are left behind.
    assert nbformat.read(str(nb_path), as_version=4).cells[1].outputs == []
    # Beside them, the record of the inputs a later `--reuse` run compares against.
    assert sorted(p.name for p in out_dir.iterdir()) == [
        "01-good.html", "01-good.inputs.json", "01-good.ipynb"]


def test_panic_and_compile_error_fail(tmp_path, rust_kernel):
    panic_nb = make_notebook(
        tmp_path / "02-panic.ipynb",
        "let a = 1;",
        "# text",
        'panic!("boom");',
        'println!("after the panic");',
    )
    compile_nb = make_notebook(tmp_path / "03-compile.ipynb", 'let x: u32 = "no";')
    out_dir = tmp_path / "out"
    rc, out, _ = run(panic_nb, compile_nb, "--timeout", "600", "--out", out_dir)
    print(out)
    assert rc == 1, out
    assert out.rstrip().splitlines()[-1] == "notebooks: 0 passed, 2 failed"

    # The panic is reported with the cell index and the panic text ...
    assert "02-panic: FAILED" in out
    panic_lines = [line for line in out.splitlines() if line.startswith("02-panic: cell ")]
    # Cell 2 panics; its output may be recorded under cell 3 when evcxr sends it late.
    assert panic_lines and all(re.match(r"02-panic: cell [23]: ", line)
                               for line in panic_lines), out
    assert "panicked at" in out
    assert "    | boom" in out.splitlines(), out  # the panic message, not the cell source
    # ... and really came from the executed notebook: nbclient did not stop at the panic
    # (the next cell ran), so only the output scan can have caught it.
    executed = nbformat.read(str(out_dir / "02-panic.ipynb"), as_version=4)
    assert "panicked at" in output_from(executed, 2)
    assert executed.cells[3].execution_count is not None
    assert (out_dir / "02-panic.html").is_file()

    # The compile error fails too, with its cell index; files are still written.
    assert "03-compile: FAILED" in out
    assert "03-compile: cell 0: " in out
    assert "mismatched types" in out or "expected `u32`" in out, out
    assert (out_dir / "03-compile.ipynb").is_file() and (out_dir / "03-compile.html").is_file()


def test_notebooks_of_a_folder_share_one_cleared_kernel(tmp_path, rust_kernel):
    # Each cell prints the process that runs it (evcxr's cell process, restarted by
    # `:clear`) and that process's parent (the kernel itself).
    ids = 'println!("ids {} {}", std::process::id(), std::os::unix::process::parent_id());'
    first = make_notebook(tmp_path / "01-first.ipynb", "let leaked = 7;\nleaked", ids)
    second = make_notebook(tmp_path / "02-second.ipynb", ids, "let mine = 8;\nmine")
    third = make_notebook(tmp_path / "03-third.ipynb", ids, "leaked + mine")
    fourth = make_notebook(tmp_path / "04-fourth.ipynb", ids)
    (tmp_path / "sub").mkdir()
    fifth = make_notebook(tmp_path / "sub" / "05-fifth.ipynb", ids,
                          'println!("cwd={}", std::env::current_dir().unwrap().display());')
    out_dir = tmp_path / "out"
    rc, out, _ = run(first, second, third, fourth, fifth, "--timeout", "600", "--jobs", "1",
                     "--out", out_dir, "--runtimes", tmp_path / "runtimes.md")
    print(out)
    assert rc == 1, out
    assert out.rstrip().splitlines()[-1] == "notebooks: 4 passed, 1 failed"
    result = {line.split(":")[0]: line for line in out.splitlines()
              if " in " in line and (": passed" in line or ": FAILED" in line)}
    shared = "(kernel shared, cleared)"
    assert shared not in result["01-first"] and shared in result["02-second"], out
    # `:clear` left nothing of the notebooks before: the third fails on their variables.
    assert "03-third: FAILED" in result["03-third"] and shared in result["03-third"]
    assert "03-third: cell 1: " in out and "leaked" in out, out
    # After a failure, and in another folder, the notebook starts a new kernel.
    assert shared not in result["04-fourth"] and shared not in result["05-fifth"], out

    # Each notebook prints its ids once. A cell's printed output may be recorded under
    # the next cell (evcxr sends it late when the machine is busy, as with pytest beside
    # the notebooks in `make test`), so the whole notebook's output is searched.
    def ids_of(name):
        nb = nbformat.read(str(out_dir / f"{name}.ipynb"), as_version=4)
        text = output_from(nb, 0)
        return tuple(text.split("ids ")[1].split("\\n")[0].split())

    cell_1, kernel_1 = ids_of("01-first")
    cell_2, kernel_2 = ids_of("02-second")
    cell_4, kernel_4 = ids_of("04-fourth")
    cell_5, kernel_5 = ids_of("05-fifth")
    assert kernel_2 == kernel_1 and cell_2 != cell_1, "the kernel is shared, the cell process new"
    assert len({kernel_1, kernel_4, kernel_5}) == 3, "a new kernel after a failure and per folder"
    fifth_nb = nbformat.read(str(out_dir / "05-fifth.ipynb"), as_version=4)
    assert f"cwd={tmp_path / 'sub'}" in output_from(fifth_nb, 0)
    # Prompt numbers count each notebook's own cells.
    second_nb = nbformat.read(str(out_dir / "02-second.ipynb"), as_version=4)
    assert [c.execution_count for c in second_nb.cells] == [1, 2]
    assert second_nb.cells[1].outputs[0]["execution_count"] == 2
    rows = json.loads((tmp_path / "runtimes.json").read_text())
    assert [r["kernel"] for r in rows] == ["new", "shared", "shared", "new", "new"]
    assert [r["jobs"] for r in rows] == [1] * 5 and "second kernel" not in out, out

    # --new-kernels: every notebook its own kernel.
    rc, out, _ = run(first, second, "--new-kernels", "--timeout", "600", "--out", out_dir)
    assert rc == 0 and shared not in out, out
    assert ids_of("02-second")[1] != ids_of("01-first")[1]


def test_timeout_fails_quickly(tmp_path, rust_kernel):
    nb_path = make_notebook(
        tmp_path / "04-slow.ipynb",
        "std::thread::sleep(std::time::Duration::from_secs(30));",
    )
    out_dir = tmp_path / "out"
    rc, out, secs = run(nb_path, "--timeout", "5", "--out", out_dir)
    print(out)
    assert rc == 1, out
    assert "04-slow: cell 0: timed out after 5 s" in out
    assert out.rstrip().splitlines()[-1] == "notebooks: 0 passed, 1 failed"
    assert secs < 30, f"the timeout did not stop the run early ({secs:.0f} s)"
    assert (out_dir / "04-slow.ipynb").is_file()


def test_a_cell_whose_question_mark_returns_err_fails(tmp_path, rust_kernel):
    # A library call failing at run time (a missing file, a bad parameter) reaches the
    # cell through `?`: evcxr reports the Err instead of a value. The run must fail with
    # the cell index and the error's message, and the next cell must still have run
    # (so only the runner's check of the outputs can have caught it). evcxr sends that
    # stderr from another thread, under the request running when it is sent: on a busy
    # machine it arrives during the next cell and carries that cell's header (seen once
    # in CI, 2026-12-03), so the failure may name cell 2 instead of cell 1.
    nb_path = make_notebook(
        tmp_path / "05-err.ipynb",
        'fn load(p: &str) -> Result<u32, String> { Err(format!("{p}: missing data file")) }',
        'let n = load("t10k-images.gz")?;\nn',
        'println!("after the error");',
    )
    out_dir = tmp_path / "out"
    rc, out, _ = run(nb_path, "--timeout", "600", "--out", out_dir)
    print(out)
    assert rc == 1, out
    assert "05-err: FAILED" in out
    assert re.search(r"^05-err: cell [12]: ", out, re.M), out
    assert "t10k-images.gz: missing data file" in out, out
    assert out.rstrip().splitlines()[-1] == "notebooks: 0 passed, 1 failed"
    executed = nbformat.read(str(out_dir / "05-err.ipynb"), as_version=4)
    assert "after the error" in output_from(executed, 2)


def test_kernel_environment_sets_the_fast_profile_unless_told_otherwise(tmp_path, monkeypatch):
    for key in rn.KERNEL_PROFILE:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("CARGO_PROFILE_DEV_OPT_LEVEL", "1")
    # Restored after the test: the call sets them in this process.
    monkeypatch.setenv("EVCXR_TMPDIR", "unset")
    monkeypatch.setenv("LD_LIBRARY_PATH", os.environ.get("LD_LIBRARY_PATH", ""))
    rn.prepare_kernel_environment(tmp_path)
    assert os.environ["EVCXR_TMPDIR"] == str(tmp_path)
    assert os.environ["CARGO_PROFILE_DEV_OPT_LEVEL"] == "1", "a value already set wins"
    assert os.environ["CARGO_PROFILE_DEV_DEBUG_ASSERTIONS"] == "false"
    assert os.environ["CARGO_PROFILE_DEV_OVERFLOW_CHECKS"] == "false"
    assert os.environ["CARGO_PROFILE_DEV_INCREMENTAL"] == "false"
    # make lab exports the same settings.
    makefile = (REPO_ROOT / "Makefile").read_text()
    for key, value in rn.KERNEL_PROFILE.items():
        assert f'export {key}="$${{{key}:-{value}}}"' in makefile, key


def test_kernel_cargo_config_is_the_workspace_config_above_the_kernel_dir(tmp_path, monkeypatch):
    # No kernel: the per-package profile settings reach evcxr's builds through a copy of the
    # repository's .cargo/config.toml in the cache directory above EVCXR_TMPDIR.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    root = tmp_path / "cache" / "fashion-mnist-rs"
    written = rn.write_kernel_cargo_config(root / "evcxr")
    assert written == root / ".cargo" / "config.toml"
    text = written.read_text()
    workspace = (REPO_ROOT / ".cargo" / "config.toml").read_text()
    assert text.endswith(workspace) and text.startswith("# Written by scripts/run-notebooks")
    assert "[profile.dev.package.polars-core]\nopt-level = 0" in text
    # Unchanged content is not written again; the helper kernel's directory is covered too.
    before = written.stat().st_mtime_ns
    assert rn.write_kernel_cargo_config(root / "evcxr-2") == written
    assert written.stat().st_mtime_ns == before
    # A directory the project does not own gets nothing above it.
    elsewhere = tmp_path / "other" / "evcxr"
    assert rn.write_kernel_cargo_config(elsewhere) is None
    assert not (tmp_path / "other" / ".cargo").exists()
    # make lab writes it too, for the kernel Jupyter Lab starts.
    assert "scripts/run-notebooks --kernel-config-only" in (REPO_ROOT / "Makefile").read_text()


def test_inputs_fingerprint_follows_every_input(tmp_path, monkeypatch):
    # No kernel: what goes into the fingerprint a `--reuse` run compares.
    monkeypatch.setenv("FASHION_CHECKPOINTS", str(tmp_path / "ckpt"))
    monkeypatch.setenv("FASHION_MNIST_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("FASHION_FAST", raising=False)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "train-images-idx3-ubyte.gz").write_bytes(b"pixels")
    nb = make_notebook(tmp_path / "01-a.ipynb", "1 + 1")
    code, toolchain = rn.code_fingerprint(), ["rustc x", ["rust"]]

    def fp():
        return json.loads(json.dumps(rn.inputs_fingerprint(nb, code, toolchain)))

    base = fp()
    assert fp() == base, "the same inputs give the same fingerprint"
    assert base["runs"][0] == [str(tmp_path / "ckpt"), []]
    assert base["runs"][1][0] == str(tmp_path / "study-10k")
    changes = {}
    monkeypatch.setenv("FASHION_FAST", "1")
    changes["env"] = fp()
    monkeypatch.delenv("FASHION_FAST")
    (tmp_path / "ckpt" / "small-default").mkdir(parents=True)
    (tmp_path / "ckpt" / "small-default" / "state.json").write_text("{}")
    changes["runs"] = fp()
    # The same bytes written again (notebook 02 saves its test predictions each time):
    # still the same runs.
    state = tmp_path / "ckpt" / "small-default" / "state.json"
    state.write_text("{}")
    os.utime(state, ns=(1, 1))
    assert fp()["runs"] == changes["runs"]["runs"]
    (tmp_path / "data" / "t10k-labels-idx1-ubyte.gz").write_bytes(b"labels")
    changes["data"] = fp()
    make_notebook(nb, "1 + 2")
    changes["notebook"] = fp()
    for part, changed in changes.items():
        assert changed[part] != base[part], part
        base = changed
    assert rn.inputs_fingerprint(nb, "other code", toolchain)["code"] == "other code"
    assert len(code) == 64 and code == rn.code_fingerprint()


def test_reusable_needs_the_same_inputs_and_both_files(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    inputs = {"format": rn.REUSE_FORMAT, "notebook": "abc", "runs": [["d", []]]}
    assert rn.reusable(out, "01-a", inputs) is None, "no record"
    rn.record_path(out, "01-a").write_text(json.dumps({"inputs": inputs, "seconds": 3.0}))
    assert rn.reusable(out, "01-a", inputs) is None, "no executed copy"
    (out / "01-a.ipynb").write_text("{}")
    (out / "01-a.html").write_text("<html>")
    assert rn.reusable(out, "01-a", inputs)["seconds"] == 3.0
    assert rn.reusable(out, "01-a", {**inputs, "notebook": "abd"}) is None
    rn.record_path(out, "01-a").write_text("not json")
    assert rn.reusable(out, "01-a", inputs) is None, "an unreadable record is no record"


def test_reuse_skips_only_unchanged_passing_notebooks(tmp_path, rust_kernel, monkeypatch):
    monkeypatch.setenv("FASHION_CHECKPOINTS", str(tmp_path / "ckpt"))
    good = make_notebook(tmp_path / "06-same.ipynb", 'println!("first version");')
    bad = make_notebook(tmp_path / "07-bad.ipynb", 'panic!("boom");')
    out_dir = tmp_path / "out"
    rc, out, _ = run(good, bad, "--reuse", "--timeout", "600", "--out", out_dir)
    print(out)
    assert rc == 1 and "06-same: passed in" in out and "07-bad: FAILED" in out, out
    assert not rn.record_path(out_dir, "07-bad").exists(), "a failed notebook has no record"

    # Nothing changed: the passed notebook is reused, the failed one runs (and fails) again.
    rc, out, _ = run(good, bad, "--reuse", "--timeout", "600", "--out", out_dir)
    print(out)
    assert rc == 1, out
    assert "06-same: reused, inputs unchanged since" in out, out
    assert "07-bad: FAILED" in out
    assert "notebooks: 1 reused (inputs unchanged; --reuse), 1 executed" in out
    assert out.rstrip().splitlines()[-1] == "notebooks: 1 passed, 1 failed"

    # Without --reuse every notebook is executed.
    rc, out, _ = run(good, "--timeout", "600", "--out", out_dir)
    assert rc == 0 and "06-same: passed in" in out, out

    # A new checkpoint, then an edited notebook: executed again each time.
    (tmp_path / "ckpt" / "small-fast").mkdir(parents=True)
    (tmp_path / "ckpt" / "small-fast" / "state.json").write_text("{}")
    rc, out, _ = run(good, "--reuse", "--timeout", "600", "--out", out_dir)
    assert rc == 0 and "06-same: passed in" in out, out
    make_notebook(good, 'println!("second version");')
    rc, out, _ = run(good, "--reuse", "--timeout", "600", "--out", out_dir)
    assert rc == 0 and "06-same: passed in" in out, out
    executed = nbformat.read(str(out_dir / "06-same.ipynb"), as_version=4)
    assert "second version" in all_output_text(executed.cells[0])
    rc, out, _ = run(good, "--reuse", "--timeout", "600", "--out", out_dir)
    assert rc == 0 and "06-same: reused" in out, out


def test_split_for_jobs_puts_the_other_folders_beside_the_first(tmp_path):
    a = [tmp_path / "nb" / n for n in ("01-x.ipynb", "02-y.ipynb", "03-z.ipynb")]
    b = [tmp_path / "nb" / "solutions" / n for n in ("01-x-s.ipynb", "03-z-s.ipynb")]
    assert rn.split_for_jobs(a + b, 2) == (a, b)
    assert rn.split_for_jobs(a + b, 1) == (a + b, [])
    assert rn.split_for_jobs(a, 2) == (a, [])
    assert rn.split_for_jobs([], 2) == ([], [])
    assert rn.helper_tmpdir(tmp_path / "evcxr") == tmp_path / "evcxr-2"


def test_copy_kernel_cache_leaves_out_the_cells_and_the_lock(tmp_path):
    src, dst = tmp_path / "evcxr", tmp_path / "evcxr-2"
    deps = src / "target" / "x86_64-unknown-linux-gnu" / "debug" / "deps"
    deps.mkdir(parents=True)
    for name in ("libserde-0123.so", "libserde-0123.rlib", "libctx.so", "ctx.d"):
        (deps / name).write_text(name)
    (deps.parent / "libcode_3.so").write_text("cell")
    fingerprint = deps.parent / ".fingerprint"
    (fingerprint / "ctx-abcd").mkdir(parents=True)
    (fingerprint / "serde-0123").mkdir()
    (src / "Cargo.lock").write_text("lock")
    (src / rn.LOCK_NAME).write_text("")
    (dst / "stale").mkdir(parents=True)  # an earlier copy is replaced, not merged
    rn.copy_kernel_cache(src, dst)
    copied = sorted(str(p.relative_to(dst)) for p in dst.rglob("*"))
    debug = "target/x86_64-unknown-linux-gnu/debug"
    assert copied == ["Cargo.lock", "target", "target/x86_64-unknown-linux-gnu", debug,
                      f"{debug}/.fingerprint", f"{debug}/.fingerprint/serde-0123",
                      f"{debug}/deps", f"{debug}/deps/libserde-0123.rlib",
                      f"{debug}/deps/libserde-0123.so"]


def test_jobs_env_is_checked(monkeypatch):
    monkeypatch.setenv("NOTEBOOK_JOBS", "3")
    with pytest.raises(SystemExit):
        rn.parse_args([])
    monkeypatch.setenv("NOTEBOOK_JOBS", "1")
    assert rn.parse_args([]).jobs == 1
    assert rn.parse_args(["--jobs", "2"]).jobs == 2


def test_jobs_2_runs_the_other_folder_beside_the_first(tmp_path, rust_kernel):
    # Each cell prints the time (seconds since the epoch) and the kernel's EVCXR_TMPDIR.
    stamp = ('println!("at {} {}", std::time::SystemTime::now()'
             '.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64(), '
             'std::env::var("EVCXR_TMPDIR").unwrap());')
    lead, other = tmp_path / "nb", tmp_path / "nb" / "solutions"
    other.mkdir(parents=True)
    # 03-c waits (at most 120 s) for the file that 01-d writes: it ends as soon as the
    # other folder has run beside it, and only if it has.
    marker = json.dumps(str(tmp_path / "01-d-ran"))
    wait = ("let t = std::time::Instant::now();\n"
            f"while !std::path::Path::new({marker}).exists()"
            " && t.elapsed().as_secs() < 120 {\n"
            "    std::thread::sleep(std::time::Duration::from_millis(200));\n}")
    paths = [make_notebook(lead / "01-a.ipynb", stamp),
             make_notebook(lead / "02-b.ipynb", stamp),
             make_notebook(lead / "03-c.ipynb", stamp, wait, stamp),
             make_notebook(other / "01-d.ipynb", stamp, f"std::fs::write({marker}, \"\").unwrap();"),
             make_notebook(other / "02-e.ipynb", stamp)]
    out_dir = tmp_path / "out"
    rc, out, _ = run(*paths, "--jobs", "2", "--timeout", "600", "--out", out_dir,
                     "--runtimes", tmp_path / "runtimes.md")
    print(out)
    assert rc == 0, out
    assert out.rstrip().splitlines()[-1] == "notebooks: 5 passed, 0 failed", out
    assert "start beside the others in a second kernel" in out, out

    def stamps(name):
        nb = nbformat.read(str(out_dir / f"{name}.ipynb"), as_version=4)
        text = output_from(nb, 0)
        return [(float(t), d.split("\\n")[0]) for t, d in
                (part.split(" ", 1) for part in text.split("at ")[1:])]

    (b_at, b_dir), = stamps("02-b")
    (c_start, c_dir), (c_end, _) = stamps("03-c")
    (d_at, d_dir), = stamps("01-d")
    assert d_dir == b_dir + "-2" and c_dir == b_dir, (b_dir, c_dir, d_dir)
    # The other folder waits for the lead's notebooks 01-02, then runs beside its 03.
    assert b_at < d_at < c_end, (b_at, d_at, c_start, c_end)
    rows = {r["notebook"]: r for r in json.loads((tmp_path / "runtimes.json").read_text())}
    assert [rows[n]["jobs"] for n in ("01-a", "02-b", "03-c", "01-d")] == [1, 1, 2, 2], rows
    assert not list(out_dir.glob(".helper-*")), "the helper's scratch directory is removed"
