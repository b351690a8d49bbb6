"""nesb_hpc: steady-state heat transport of the generalized non-equilibrium spin-boson model.

Table of contents (one concept per module; only the driver and scheduler know about MPI;
docs/architecture.md says where to add a bath, a solver route, a study kind or an output column):

- ``nesb_hpc.config``            typed, validated input (TOML -> frozen dataclasses), --help
- ``nesb_hpc.bath``              spectral densities and exact/fitted decompositions of C(t)
- ``nesb_hpc.hierarchy``         ADO multi-index ranking/unranking (tier-ordered)
- ``nesb_hpc.pauli``             4x4 real Pauli-basis superoperators (block size BS = 4)
- ``nesb_hpc.liouvillian``       block rows of the extended HEOM (pure numpy)
- ``nesb_hpc.problem``           one point's baths, modes, hierarchy and Pauli blocks
- ``nesb_hpc.partition``         ADO ownership per rank, matrix numbering, exact counts
- ``nesb_hpc.sizing``            memory per rank (the --dry-run model)
- ``nesb_hpc.assembly``          the distributed PETSc matrix, exact preallocation
- ``nesb_hpc.routes``            solver routes as a table (pure)
- ``nesb_hpc.solver_options``    PETSc options: prefix, precedence, probe of the input's
- ``nesb_hpc.steady_state``      KSP and SLEPc solves of a route
- ``nesb_hpc.observables``       bath-energy heat currents and reduced density matrix
- ``nesb_hpc.point``             one parameter point on a communicator (collective)
- ``nesb_hpc.analytic``          golden rule / Redfield and NE-PTRE currents
- ``nesb_hpc.study``             the points of a study and what each computes (pure)
- ``nesb_hpc.scheduler``         groups of ranks taking points dynamically (MPI)
- ``nesb_hpc.planning``          sizes, memory budget, layout, --dry-run (no PETSc)
- ``nesb_hpc.output``            opening/resuming the results, rows, the writer (rank 0)
- ``nesb_hpc.results_file``      the self-describing, restartable HDF5 file
- ``nesb_hpc.plot``              the natural figure of each study kind
- ``nesb_hpc.driver``            a study on a communicator (the study loop)
- ``nesb_hpc.__main__``          command line: argv, COMM_WORLD, logging, exit codes
- ``nesb_hpc.api``               the Python API: solve_point, run, read_results (docs/tutorial.md)
"""

__version__ = "0.2.0"

from . import petsc_env as _petsc_env

_petsc_env.select_default_build()

from .api import PointSolution, StudyOutcome, read_results, run, solve_point  # noqa: E402

__all__ = ["solve_point", "run", "read_results", "PointSolution", "StudyOutcome", "__version__"]
