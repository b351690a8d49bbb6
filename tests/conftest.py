"""Test set-up: PETSc is initialised once, before any test module imports petsc4py.PETSc.

Collective tests carry @pytest.mark.mpi: `make test` runs the whole suite serially, then the
mpi-marked tests again on 2 ranks (every rank runs pytest; results must not depend on the count).
"""

from nesb_hpc import petsc_env

petsc_env.init([])
