# nesb_hpc: the two commands a fresh machine needs (README.md).
#   make demo   run the main job on the built-in default input on 2 MPI ranks
#   make test   run the whole test suite serially and on 2 MPI ranks, then the tests that need no
#               PETSc again under numpy 2 (make test-numpy2)
# Both set the machine up the first time (scripts/setup.sh, scripts/setup_numpy2.sh: idempotent).

SHELL := /bin/bash
PY    := .venv/bin/python
PY2   := .venv-numpy2/bin/python
NP    ?= 2
# make test-numpy2 fails unless at least this many tests ran there (649 do): a selection
# that skipped (nearly) everything must not pass.
NUMPY2_MIN_RAN ?= 500
# Debian's PETSc/SLEPc builds are selected by these; a cluster user sets their own.
export PETSC_DIR ?= /usr/lib/petscdir/petsc3.18/x86_64-linux-gnu-real
export SLEPC_DIR ?= /usr/lib/slepcdir/slepc3.18/x86_64-linux-gnu-real
# Open MPI refuses root and more ranks than cores unless told; harmless elsewhere.
export OMPI_ALLOW_RUN_AS_ROOT := 1
export OMPI_ALLOW_RUN_AS_ROOT_CONFIRM := 1
export OMPI_MCA_rmaps_base_oversubscribe := 1
export OMPI_MCA_btl_vader_single_copy_mechanism := none
# One thread per rank: the ranks are the parallelism.
export OMP_NUM_THREADS := 1
export OPENBLAS_NUM_THREADS := 1
MPIRUN := mpirun -n $(NP)

.PHONY: setup setup-numpy2 demo test test-serial test-mpi test-numpy2 bench clean
setup:
	@bash scripts/setup.sh

setup-numpy2: setup
	@bash scripts/setup_numpy2.sh

demo: setup
	$(MPIRUN) $(PY) -m nesb_hpc --default-input

test: setup
	$(MAKE) --no-print-directory test-serial
	$(MAKE) --no-print-directory test-mpi
	$(MAKE) --no-print-directory test-numpy2

test-serial:
	$(PY) -m pytest -q tests

# Every rank runs the suite (collective tests); rank 0 reports, the others keep quiet.
test-mpi:
	$(MPIRUN) bash scripts/mpi_pytest.sh -q -m mpi tests

# The tests that need no PETSc/MPI (conftest's `petsc` marker: tests/petsc_selection.py), in a
# plain venv with numpy 2 from the package index and without mpi4py/petsc4py/slepc4py.
test-numpy2: setup-numpy2
	$(PY2) -m pytest -q -p no:cacheprovider --without-petsc --min-ran $(NUMPY2_MIN_RAN) tests

bench: setup
	$(PY) bench/run_bench.py

clean:
	rm -rf out .pytest_cache
