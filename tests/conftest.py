"""Test set-up: PETSc is initialised once, before any test module imports petsc4py.PETSc.

Layout: tests/test_<module>.py mirror the package's modules (config/, bath/, partition, sizing,
planning, problem, routes, steady_state, results_file, output, study, scheduler, plot, analytic);
tests/physics/ holds the physics suites (limits, analytic theory, an independent dense
construction, mode forms, the committed figure data); tests/system/ the command line, restarts,
job scripts and whole studies. heom_helpers.py (shared) is importable from all of them.

Collective tests carry @pytest.mark.mpi: `make test` runs the whole suite serially, then the
mpi-marked tests again on 2 ranks (every rank runs pytest; results must not depend on the count).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from nesb_hpc import petsc_env  # noqa: E402

petsc_env.init([])
