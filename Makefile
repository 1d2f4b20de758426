# Fashion-MNIST in Rust — the two commands are `make run` and `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON        ?= python3
VENV          ?= .venv
PY            := $(VENV)/bin/python
EVCXR_VERSION := 0.22.0
CARGO         ?= cargo
# The CLI, built with the workspace's dev profile (dependencies are optimised there).
# What `cargo build` builds besides it: the binaries only, unless `make test` asks for
# every target (tests, benches, examples), which it needs for `cargo test` anyway;
# building those with the CLI there makes cargo resolve the dependency features once for
# the whole of `make test`. `make run` needs no test target, so it does not compile them.
BUILD_TARGETS ?= --bins
TARGET_DIR    := $(or $(CARGO_TARGET_DIR),target)
# How this workspace is compiled (build, cargo test, the CLI the recipes run). `make test`
# sets LINTED_BUILD=1: cargo then compiles this workspace's crates with clippy-driver, the
# compiler with clippy's lints (what `cargo clippy` runs, there in check mode), warnings as
# errors. One build both lints and compiles them, so every dependency is compiled once
# instead of once more for clippy's check build (docs/performance.md, "Build time"). The
# wrapper is part of the artifacts' hash, so `make test` and `make run` each keep their own
# copy of these five crates in the target directory; the dependencies are shared. evcxr's
# kernel never sees it: the notebook runner gets a plain environment.
CLIPPY_DRIVER ?= clippy-driver
LINTED_BUILD  ?=
WS_CARGO      := $(if $(filter 1,$(LINTED_BUILD)),RUSTC_WORKSPACE_WRAPPER=$(CLIPPY_DRIVER) CLIPPY_ARGS=-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__ )$(CARGO)
FASHION       := $(WS_CARGO) build --quiet --workspace $(BUILD_TARGETS) && "$(TARGET_DIR)/debug/fashion"
# FASHION_MNIST_DIR if set, else the platform cache directory (what `fashion data dir` prints).
# Assigned first, exported second: `export X="$$(cmd)"` would hide a failing cmd (export's
# own status is 0), and the recipe would go on with an empty FASHION_MNIST_DIR.
WITH_DATA     := FASHION_MNIST_DIR="$$($(FASHION) data dir)"; export FASHION_MNIST_DIR;

.PHONY: help setup venv evcxr kernel build data notebooks report run test lint fmt cargo-test pytest lab clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

setup: venv evcxr kernel ## Python venv (Jupyter), evcxr_jupyter $(EVCXR_VERSION), kernel registration

venv: $(VENV)/.installed
$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

# Where `cargo install` puts binaries (CARGO_INSTALL_ROOT, else CARGO_HOME, else ~/.cargo).
CARGO_BIN := $(or $(CARGO_INSTALL_ROOT),$(CARGO_HOME),$(HOME)/.cargo)/bin

evcxr: ## Install evcxr_jupyter at the pinned version unless it is already installed
	@if $(CARGO) install --list | grep -qx "evcxr_jupyter v$(EVCXR_VERSION):"; then \
	  echo "evcxr_jupyter $(EVCXR_VERSION) already installed"; \
	else \
	  echo "installing evcxr_jupyter $(EVCXR_VERSION) (takes 10-16 minutes once)"; \
	  $(CARGO) install --locked evcxr_jupyter --version $(EVCXR_VERSION); \
	fi

kernel: evcxr ## Register the evcxr kernel ("rust") with Jupyter
	@"$(CARGO_BIN)/evcxr_jupyter" --install >/dev/null
	@echo "kernel 'rust' registered"

build: ## Build the workspace (library + `fashion` CLI; with BUILD_TARGETS=--all-targets the tests too; LINTED_BUILD=1 with clippy's lints)
	$(WS_CARGO) build --workspace $(BUILD_TARGETS)

data: build ## Download the data set if missing, then verify every checksum
	$(FASHION) data download
	$(FASHION) data verify

# Per-cell limit: notebook 02 trains the full configuration once (its measured time is in
# docs/notebook-runtimes.md); generous so that slower machines finish too.
NOTEBOOK_TIMEOUT ?= 7200
# Where each notebook's measured wall time is written. The committed table is made with
# `make notebooks RUNTIMES=docs/notebook-runtimes.md NOTEBOOK_FLAGS="--new-kernels --jobs 1"`
# (each notebook alone in its own kernel, as a learner runs it).
RUNTIMES ?= target/notebooks/runtimes.md

# Extra options of scripts/run-notebooks. `make run` passes --reuse: a notebook whose executed
# copy in target/notebooks/ passed and was made from the same inputs (the notebook, the
# crates, toolchain, data, checkpoints, FASHION_* variables) is not executed again;
# `make run FORCE=1` executes every one. `make notebooks` and `make test` always execute all.
# The notebooks of a folder share one kernel, cleared between them; --new-kernels gives each
# its own (as a learner opening it in Jupyter has). With two or more CPUs the solutions run
# in a second kernel beside the notebooks once notebooks 01-02 have run; --jobs 1 (or
# NOTEBOOK_JOBS=1) runs one notebook at a time.
NOTEBOOK_FLAGS ?=
RUN_NOTEBOOK_FLAGS := $(strip $(NOTEBOOK_FLAGS) $(if $(filter 1,$(FORCE)),,--reuse))

notebooks: setup data ## Execute every notebook and solution; executed copies, HTML and runtimes in target/notebooks/
	$(WITH_DATA) $(PY) scripts/run-notebooks --timeout $(NOTEBOOK_TIMEOUT) --runtimes "$(RUNTIMES)" $(NOTEBOOK_FLAGS)

# The shared run the notebooks trained (FASHION_FAST=1: the quick one), analysed once more
# without Jupyter: one HTML page with every figure embedded, tables as CSV.
REPORT_DIR ?= target/report

report: data ## Write the HTML report of the shared run (trained first if missing) to target/report/
	$(WITH_DATA) $(FASHION) report --shared-run --out "$(REPORT_DIR)"

# `make run` and `make test` go phase by phase through scripts/phase, which prints each
# phase's elapsed time as it ends and a table of them at the end (kept in target/phases-*.tsv).
SUBMAKE := $(MAKE) --no-print-directory
TEST_SUBMAKE := $(SUBMAKE) BUILD_TARGETS=--all-targets LINTED_BUILD=1

run: ## The main job: set up, fetch and verify data, execute the notebooks (FORCE=1: all, even unchanged ones), write the report
	@scripts/phase --start target/phases-run.tsv
	@scripts/phase target/phases-run.tsv "setup: Python venv, evcxr_jupyter, kernel" $(SUBMAKE) setup
	@scripts/phase target/phases-run.tsv "build: workspace and fashion CLI (dev profile)" $(SUBMAKE) build
	@scripts/phase target/phases-run.tsv "data: download if missing, verify" $(SUBMAKE) data
	@scripts/phase target/phases-run.tsv "notebooks: execute all whose inputs changed (first one compiles the crate in the kernel)" $(SUBMAKE) notebooks NOTEBOOK_FLAGS="$(RUN_NOTEBOOK_FLAGS)"
	@scripts/phase target/phases-run.tsv "report: HTML report of the shared run" $(SUBMAKE) report
	@echo
	@scripts/phase --table target/phases-run.tsv
	@echo "Each notebook's time: $(RUNTIMES)"
	@echo
	@echo "Executed notebooks (open in a browser):"
	@ls -1 "$$PWD"/target/notebooks/*.html
	@echo "Report of the shared run (open in a browser):"
	@echo "$(abspath $(REPORT_DIR))/report.html"

lint: fmt ## rustfmt and clippy, warnings are errors
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt: ## rustfmt's check
	$(CARGO) fmt --all --check

cargo-test: data ## Rust unit, integration and doc tests (need FASHION_MNIST_DIR)
	$(WITH_DATA) $(WS_CARGO) test --workspace

# pytest's kernels run tiny notebooks without dependencies; they use a cache directory
# of their own, so that they never wait for the notebooks' kernels (one kernel per
# directory at a time) nor copy the notebooks' compiled dependencies. --durations=12
# lists the 12 slowest tests.
PYTEST = EVCXR_TMPDIR="$(EVCXR_TMPDIR)-pytest" $(PY) -m pytest --durations=12 scripts/tests

pytest: setup ## Tests of the notebook runner and the environment files
	$(PYTEST)

# `make test` runs pytest beside the notebooks (scripts/beside; pytest's output is printed
# when it ends): pytest's kernels use less than one core on average, and the kernel of
# the first notebook spends minutes compiling crates one after another
# (docs/performance.md, "pytest beside the notebooks"). The notebooks' phase skips setup
# and data (`-o`): earlier phases did them, and registering the kernel again could race
# with pytest reading it.
test: ## Everything CI runs: lint, Rust tests, runner tests, notebooks, the report
	@scripts/phase --start target/phases-test.tsv
	@scripts/phase target/phases-test.tsv "setup: Python venv, evcxr_jupyter, kernel" $(TEST_SUBMAKE) setup
	@scripts/phase target/phases-test.tsv "lint: rustfmt" $(TEST_SUBMAKE) fmt
	@scripts/phase target/phases-test.tsv "build: every target, clippy's lints as errors (dev profile)" $(TEST_SUBMAKE) build
	@scripts/phase target/phases-test.tsv "data: download if missing, verify" $(TEST_SUBMAKE) data
	@scripts/phase target/phases-test.tsv "cargo test: unit, integration, doc tests" $(TEST_SUBMAKE) cargo-test
	@scripts/phase target/phases-test.tsv "notebooks: execute all; pytest (runner and environment tests) beside them" \
	  scripts/beside target/pytest.log '$(PYTEST)' $(TEST_SUBMAKE) -o setup -o data notebooks
	@scripts/phase target/phases-test.tsv "report: HTML report of the shared run" $(TEST_SUBMAKE) report
	@echo
	@scripts/phase --table target/phases-test.tsv

# The kernel shares the compiled-dependency cache with scripts/run-notebooks. evcxr 0.22
# cannot load cells from a cache under $HOME unless the toolchain's libdir is on the
# library path (see scripts/run-notebooks), so it is put there.
EVCXR_TMPDIR ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/fashion-mnist-rs/evcxr

# The kernel's cargo profile: KERNEL_PROFILE in scripts/run-notebooks (same values). The
# workspace's per-package settings (polars unoptimised) reach the kernel through a copy of
# .cargo/config.toml in the cache directory above EVCXR_TMPDIR, which the runner writes.
lab: setup data ## Open Jupyter Lab on the notebooks with the evcxr kernel
	mkdir -p "$(EVCXR_TMPDIR)"
	EVCXR_TMPDIR="$(EVCXR_TMPDIR)" $(PY) scripts/run-notebooks --kernel-config-only
	$(WITH_DATA) export EVCXR_TMPDIR="$(EVCXR_TMPDIR)"; \
	  export CARGO_PROFILE_DEV_OPT_LEVEL="$${CARGO_PROFILE_DEV_OPT_LEVEL:-3}"; \
	  export CARGO_PROFILE_DEV_DEBUG_ASSERTIONS="$${CARGO_PROFILE_DEV_DEBUG_ASSERTIONS:-false}"; \
	  export CARGO_PROFILE_DEV_OVERFLOW_CHECKS="$${CARGO_PROFILE_DEV_OVERFLOW_CHECKS:-false}"; \
	  export CARGO_PROFILE_DEV_INCREMENTAL="$${CARGO_PROFILE_DEV_INCREMENTAL:-false}"; \
	  export LD_LIBRARY_PATH="$$(rustc --print target-libdir)$${LD_LIBRARY_PATH:+:$$LD_LIBRARY_PATH}"; \
	  $(VENV)/bin/jupyter lab --notebook-dir=notebooks

clean: ## Remove build outputs (keeps the data and the evcxr cache)
	$(CARGO) clean
	rm -rf target/notebooks
