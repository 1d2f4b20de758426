"""requirements.txt (pip) and environment.yml (conda) must pin the same Python packages."""

import re
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]

# Packages environment.yml may list that are not Python packages from requirements.txt.
CONDA_ONLY = {"python", "pip", "rust"}


def normalize(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_requirements(text):
    """{name: (op, version)} from a requirements.txt with one `name==version` per line."""
    pins = {}
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        m = re.fullmatch(r"([A-Za-z0-9_.\-]+)\s*(==|>=|<=|~=|!=|>|<)?\s*([^\s;]*)", line)
        if not m:
            raise ValueError(f"requirements.txt: cannot parse line {raw!r}")
        pins[normalize(m.group(1))] = (m.group(2) or "", m.group(3))
    return pins


def parse_environment(text):
    """(name, channels, {package: (op, version)}) from a flat environment.yml.

    A tiny line parser: top-level `name:`, and the `- item` lists under `channels:` and
    `dependencies:`. Nested sections (e.g. a `- pip:` list) are rejected.
    """
    name, channels, deps = None, [], {}
    section = None
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].rstrip()
        if not line.strip():
            continue
        if not line[0].isspace():
            key, _, value = line.partition(":")
            section = key.strip()
            if section == "name":
                name = value.strip()
            continue
        item = line.strip()
        if not item.startswith("- "):
            raise ValueError(f"environment.yml: unexpected line {raw!r}")
        item = item[2:].strip().strip("'\"")
        if section == "channels":
            channels.append(item)
        elif section == "dependencies":
            if item.endswith(":"):
                raise ValueError(f"environment.yml: nested list {item!r} is not supported")
            m = re.fullmatch(r"([A-Za-z0-9_.\-]+)\s*(==|>=|<=|=|>|<)?\s*(\S*)", item)
            if not m:
                raise ValueError(f"environment.yml: cannot parse dependency {item!r}")
            deps[normalize(m.group(1))] = (m.group(2) or "", m.group(3))
    return name, channels, deps


def compare_pins(requirements, conda_deps, conda_only=CONDA_ONLY):
    """Messages for every difference between pip pins and conda pins (empty: consistent)."""
    problems = []
    for pkg, (op, ver) in sorted(requirements.items()):
        if op != "==":
            problems.append(f"requirements.txt: {pkg} is not pinned with == ({op}{ver})")
        if pkg not in conda_deps:
            problems.append(f"environment.yml: {pkg} missing (requirements.txt has {pkg}=={ver})")
            continue
        cop, cver = conda_deps[pkg]
        if cop != "==" or cver != ver:
            problems.append(
                f"{pkg}: requirements.txt has {op}{ver}, environment.yml has {cop}{cver or '(unpinned)'}"
            )
    for pkg in sorted(set(conda_deps) - set(requirements) - set(conda_only)):
        problems.append(f"environment.yml: {pkg} is not in requirements.txt")
    return problems


@pytest.fixture(scope="module")
def requirements():
    return parse_requirements((REPO_ROOT / "requirements.txt").read_text())


@pytest.fixture(scope="module")
def environment():
    return parse_environment((REPO_ROOT / "environment.yml").read_text())


def test_environment_matches_requirements(requirements, environment):
    _, _, deps = environment
    problems = compare_pins(requirements, deps)
    assert not problems, "requirements.txt and environment.yml disagree:\n" + "\n".join(problems)


def test_requirements_pin_the_notebook_tools(requirements):
    for pkg in ("jupyterlab", "nbclient", "nbconvert", "pytest"):
        assert pkg in requirements, f"requirements.txt lacks {pkg}"
        assert requirements[pkg][0] == "==", f"{pkg} must be pinned with =="
    assert requirements["jupyterlab"][1].startswith("4."), "jupyterlab must be 4.x"


def test_environment_is_conda_forge_with_rust(environment):
    name, channels, deps = environment
    assert name == "fashion-mnist-rs"
    assert channels == ["conda-forge"]
    assert deps.get("python") == ("=", "3.11")
    assert "rust" in deps and "pip" in deps


def test_compare_pins_reports_mismatches():
    reqs = parse_requirements("jupyterlab==4.6.6\nnbclient==0.11.0\npytest>=8\n")
    _, _, conda = parse_environment(
        "name: x\nchannels:\n  - conda-forge\ndependencies:\n"
        "  - python=3.11\n  - rust\n  - jupyterlab==4.6.5\n  - pytest==9.2.0\n  - numpy==2.0\n"
    )
    problems = compare_pins(reqs, conda)
    text = "\n".join(problems)
    assert "jupyterlab: requirements.txt has ==4.6.6, environment.yml has ==4.6.5" in text
    assert "nbclient missing" in text
    assert "pytest is not pinned with ==" in text
    assert "numpy is not in requirements.txt" in text
    assert len(problems) == 5  # pytest is also reported as differing from 9.2.0


def test_compare_pins_accepts_a_matching_pair():
    reqs = parse_requirements("# c\nnbconvert==7.17.2  # trailing comment\n")
    _, _, conda = parse_environment(
        "dependencies:\n  - python=3.11\n  - pip\n  - nbconvert==7.17.2\n"
    )
    assert compare_pins(reqs, conda) == []


def test_parse_environment_rejects_nested_pip_section():
    with pytest.raises(ValueError, match="nested"):
        parse_environment("dependencies:\n  - pip:\n    - foo==1\n")
