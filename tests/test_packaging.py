"""Packaging metadata agrees with itself and with the code (#15 item 5): one version everywhere,
one license, no numpy cap, every import declared (the package's in its dependencies, the tests' in
the `test` extra), the README's conda-forge recipe installing all of them, and the console script
pointing at the command line. Reads files only (no PETSc)."""

from __future__ import annotations

import ast
import importlib
import re
import sys
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

import nesb_hpc

REPO = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
# imported by the package only inside try/except ImportError, with a fallback (README, "On a cluster")
OPTIONAL = {"pandas"}
# imported by tests only where they skip without it (pytest.importorskip, or a comparison that skips)
OPTIONAL_IN_TESTS = {"qutip", "mpmath"}
# import name -> distribution name, where they differ
DISTRIBUTION = {"tomli_w": "tomli-w"}


def _name(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _third_party_imports(paths, local: set[str]) -> set[str]:
    out = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                names = [node.module]
            else:
                continue
            out.update(n.split(".")[0] for n in names)
    return {n for n in out if n not in sys.stdlib_module_names and n not in local and n != "__future__"}


def _distributions(imports: set[str]) -> set[str]:
    return {DISTRIBUTION.get(n, n).lower() for n in imports}


def test_one_version_everywhere():
    cff = (REPO / "CITATION.cff").read_text()
    assert PROJECT["version"] == nesb_hpc.__version__
    assert re.search(r"^version: \"?([^\"\s]+)\"?$", cff, flags=re.M).group(1) == nesb_hpc.__version__


def test_one_license_everywhere():
    cff = (REPO / "CITATION.cff").read_text()
    text = (REPO / "LICENSE").read_text()
    assert PROJECT["license"] == {"text": "BSD-3-Clause"}
    assert re.search(r"^license: BSD-3-Clause$", cff, flags=re.M)
    assert text.startswith("BSD 3-Clause License") and "Copyright (c) 2026, nesb_hpc developers" in text


def test_numpy_is_not_capped():
    """conda-forge builds petsc4py >= 3.21 for numpy 2: only scripts/setup.sh pins numpy < 2 (Debian)."""
    numpy = [r for r in PROJECT["dependencies"] if _name(r) == "numpy"]
    assert len(numpy) == 1 and "<" not in numpy[0], numpy


def test_package_imports_are_dependencies():
    imports = _third_party_imports(sorted((REPO / "nesb_hpc").rglob("*.py")), {"nesb_hpc"})
    declared = {_name(r) for r in PROJECT["dependencies"]}
    assert _distributions(imports - OPTIONAL) == declared, (sorted(imports), sorted(declared))


def test_test_imports_are_dependencies_or_the_test_extra():
    # the tests' own modules and folders (tests/physics/...) and bench/'s scripts, which some tests
    # put on sys.path, are local too
    local = {p.stem for p in (REPO / "tests").rglob("*.py")} | {p.name for p in (REPO / "tests").iterdir() if p.is_dir()}
    local |= {p.stem for p in (REPO / "bench").glob("*.py")} | {"nesb_hpc"}
    imports = _third_party_imports(sorted((REPO / "tests").rglob("*.py")), local) - OPTIONAL_IN_TESTS
    declared = {_name(r) for r in PROJECT["dependencies"] + PROJECT["optional-dependencies"]["test"]}
    assert _distributions(imports) <= declared, sorted(_distributions(imports) - declared)
    assert {"pytest", "tomli-w"} <= {_name(r) for r in PROJECT["optional-dependencies"]["test"]}


def test_readme_conda_recipe_installs_every_import():
    readme = (REPO / "README.md").read_text()
    command = re.search(r"conda create .*?(?=\n\s*conda activate)", readme, flags=re.S).group(0)
    packages = set(command.replace("\\\n", " ").split())
    needed = {_name(r) for r in PROJECT["dependencies"] if "python_version" not in r} | OPTIONAL
    assert needed <= packages, sorted(needed - packages)
    assert "mpi-external" in command


def test_console_script_is_the_command_line():
    module, function = PROJECT["scripts"]["nesb-hpc"].split(":")
    assert (module, function) == ("nesb_hpc.__main__", "main")
    assert callable(getattr(importlib.import_module(module), function))
