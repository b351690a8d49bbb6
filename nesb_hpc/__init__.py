"""nesb_hpc: steady-state heat transport of the generalized non-equilibrium spin-boson model.

Table of contents (one concept per module; only the driver knows about MPI):

- ``nesb_hpc.config``            typed, validated input (TOML -> frozen dataclasses)
- ``nesb_hpc.bath``              spectral densities and exact/fitted decompositions of C(t)
- ``nesb_hpc.hierarchy``         ADO multi-index ranking/unranking (tier-ordered)
- ``nesb_hpc.pauli``             4x4 real Pauli-basis superoperators
- ``nesb_hpc.liouvillian``       block rows of the extended HEOM (pure numpy)
- ``nesb_hpc.assembly``          distributed PETSc BAIJ matrix, exact preallocation
- ``nesb_hpc.steady_state``      KSP (direct / iterative) and SLEPc null-vector solves
- ``nesb_hpc.observables``       bath-energy heat currents and reduced density matrix
- ``nesb_hpc.sizing``            exact nonzero counts and memory per rank (--dry-run)
- ``nesb_hpc.point``             one parameter point on a communicator (collective)
- ``nesb_hpc.analytic``          golden rule / Redfield and NE-PTRE currents
- ``nesb_hpc.study``             the points of a study and what each computes (pure)
- ``nesb_hpc.scheduler``         groups of ranks taking points dynamically (MPI)
- ``nesb_hpc.io``                self-describing, restartable HDF5 output (rank 0 only)
- ``nesb_hpc.plot``              the natural figure of each study kind
- ``nesb_hpc.driver``            a study on the world communicator
- ``nesb_hpc.__main__``          command line: argv, COMM_WORLD, logging, exit codes
"""

__version__ = "0.1.0"

from . import petsc_env as _petsc_env

_petsc_env.select_default_build()
