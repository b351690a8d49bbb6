"""nesb_hpc: steady-state heat transport of the generalized non-equilibrium spin-boson model.

Table of contents (one concept per module; only the driver knows about MPI):

- ``nesb_hpc.config``            typed, validated input (TOML -> frozen dataclasses)
- ``nesb_hpc.bath``              spectral densities and exact/fitted decompositions of C(t)
- ``nesb_hpc.hierarchy``         ADO multi-index ranking/unranking (tier-ordered)
- ``nesb_hpc.liouvillian``       4x4 real Pauli-basis blocks of the extended HEOM (pure numpy)
- ``nesb_hpc.assembly``          distributed PETSc BAIJ matrix, exact preallocation
- ``nesb_hpc.steady_state``      KSP (direct / iterative) and SLEPc null-vector solves
- ``nesb_hpc.observables``       bath-energy heat currents and reduced density matrix
- ``nesb_hpc.analytic``          golden rule / Redfield and NE-PTRE currents
- ``nesb_hpc.io``                self-describing HDF5 output (rank 0 only)
- ``nesb_hpc.driver``            one parameter point / a study on a communicator
- ``nesb_hpc.__main__``          command line: argv, COMM_WORLD, logging, exit codes
"""

__version__ = "0.1.0"

from . import petsc_env as _petsc_env

_petsc_env.select_default_build()
