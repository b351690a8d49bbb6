"""Test set-up: PETSc is initialised once, before any test module imports petsc4py.PETSc.

Layout: tests/test_<module>.py mirror the package's modules (config/, bath/, partition, sizing,
planning, problem, routes, steady_state, results_file, output, study, scheduler, plot, analytic);
tests/physics/ holds the physics suites (limits, analytic theory, an independent dense
construction, mode forms, the committed figure data); tests/system/ the command line, restarts,
job scripts and whole studies. heom_helpers.py (shared) is importable from all of them.

Collective tests carry @pytest.mark.mpi: `make test` runs the whole suite serially, then the
mpi-marked tests again on 2 ranks (every rank runs pytest; results must not depend on the count).

Without PETSc: tests that need petsc4py, slepc4py or mpi4py carry the `petsc` marker, added here
by the rule in petsc_selection.py (mpi-marked, or reaching them through an import) or by hand.
Where those packages are absent, or with --without-petsc, PETSc is not initialised, `petsc` tests
are skipped (a test module that cannot even be imported is reported as one skipped module) and
the rest run: `make test-numpy2` does this under numpy 2 with --min-ran, so that a selection that
skipped (nearly) everything fails instead of passing.
"""

import importlib.util
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from nesb_hpc import petsc_env  # noqa: E402

import petsc_selection  # noqa: E402

_STATE = {"without_petsc": False, "skipped_modules": set(), "ran": 0, "skipped": 0}


def _petsc_present() -> bool:
    petsc_env.select_default_build()
    return all(importlib.util.find_spec(name) is not None for name in petsc_selection.PETSC_PACKAGES)


def pytest_addoption(parser):
    group = parser.getgroup("nesb_hpc")
    group.addoption("--without-petsc", action="store_true",
                    help="do not initialise PETSc; skip the tests marked petsc (automatic where petsc4py, "
                         "slepc4py or mpi4py is absent)")
    group.addoption("--min-ran", type=int, default=0, metavar="N",
                    help="fail the session unless at least N tests ran (passed or failed; skips do not count)")


def pytest_configure(config):
    without = config.getoption("--without-petsc") or not _petsc_present()
    _STATE["without_petsc"] = without
    if not without:
        petsc_env.init([])


def pytest_pycollect_makemodule(module_path, parent):
    """Without PETSc, a test module whose imports reach it is skipped whole, not imported."""
    if _STATE["without_petsc"] and petsc_selection.module_needs_petsc(Path(module_path)):
        return _ModuleNeedingPetsc.from_parent(parent, path=Path(module_path))
    return None


_MODULE_SKIP = "needs PETSc/MPI (its imports reach petsc4py, slepc4py or mpi4py)"
_TEST_SKIP = "needs PETSc/MPI (marked petsc)"


class _ModuleNeedingPetsc(pytest.Module):
    def collect(self):
        pytest.skip(_MODULE_SKIP)


def pytest_collectreport(report):
    if report.skipped and _MODULE_SKIP in str(report.longrepr):
        _STATE["skipped_modules"].add(report.nodeid)


def pytest_collection_modifyitems(config, items):
    skip = pytest.mark.skip(reason=_TEST_SKIP)
    for item in items:
        if "petsc" not in item.keywords and _needs_petsc(item):
            item.add_marker(pytest.mark.petsc)
        if _STATE["without_petsc"] and "petsc" in item.keywords:
            item.add_marker(skip)


def _needs_petsc(item) -> bool:
    if "mpi" in item.keywords:
        return True
    function = getattr(item, "originalname", None) or getattr(item, "name", "")
    if not function or item.path.suffix != ".py":
        return False
    cls = getattr(item, "cls", None)
    name = f"{cls.__name__}.{function}" if cls is not None else function
    return petsc_selection.module_needs_petsc(item.path) or petsc_selection.function_needs_petsc(item.path, name)


def pytest_runtest_logreport(report):
    if (report.when == "call" and not report.skipped) or (report.when == "setup" and report.failed):
        _STATE["ran"] += 1                      # passed or failed (an error in set-up counts as run)
    elif report.when == "setup" and report.skipped and _TEST_SKIP in str(report.longrepr):
        _STATE["skipped"] += 1


def pytest_sessionfinish(session, exitstatus):
    minimum = session.config.getoption("--min-ran")
    if minimum and _STATE["ran"] < minimum and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    ran, minimum = _STATE["ran"], config.getoption("--min-ran")
    if _STATE["without_petsc"]:
        terminalreporter.write_line(
            f"without PETSc/MPI: {ran} tests ran, {_STATE['skipped']} tests and {len(_STATE['skipped_modules'])} "
            "test modules skipped as needing PETSc/MPI (marked petsc; modules whose imports need it)")
    if minimum and ran < minimum:
        terminalreporter.write_line(f"error: only {ran} tests ran, fewer than --min-ran {minimum}", red=True)
