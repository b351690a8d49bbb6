"""Solver routes, matrix formats, rank counts and PETSc scalar builds give the same currents.

Oracles: the direct LU route, the iterative route, the tier route (matrix-free; its own tests are
in test_tier_sweep.py), the SLEPc null vector and the two storage formats must agree (1e-8 relative: all reach true residuals ~1e-13); the same point solved on
COMM_WORLD and on COMM_SELF must agree to 1e-10 relative (rank-count independence); the real and
the complex PETSc builds must agree to 1e-10.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from mpi4py import MPI
from petsc4py import PETSc

from nesb_hpc.assembly import assemble_matrix
from nesb_hpc.partition import ownership
from nesb_hpc.bath import RationalCutoff, exact_decomposition
from nesb_hpc.hierarchy import TierOrderedHierarchy
from nesb_hpc.liouvillian import HierarchyModes, build_block_rows
from nesb_hpc.pauli import PauliBlocks, bloch_vector
from nesb_hpc.partition import count_nonzeros

from heom_helpers import paper_point

COMM = MPI.COMM_WORLD
POINT = dict(alpha=0.1, theta=np.pi / 4, delta=0.1, depth=4)


@pytest.mark.mpi
def test_direct_iterative_tier_and_slepc_agree():
    direct = paper_point(COMM, method="direct", **POINT)
    iterative = paper_point(COMM, method="iterative", **POINT)
    tier = paper_point(COMM, method="tier", **POINT)
    slepc = paper_point(COMM, method="slepc", **POINT)
    assert direct.report.method == "direct" and iterative.report.method == "iterative"
    assert tier.report.method == "tier"
    for other in (iterative, tier, slepc):
        assert abs(other.I1 - direct.I1) <= 1e-8 * abs(direct.I1), (other.I1, direct.I1)
    assert direct.report.residual < 1e-12 and iterative.report.residual < 1e-11


@pytest.mark.mpi
def test_aij_and_baij_agree():
    aij = paper_point(COMM, matrix_type="aij", **POINT)
    baij = paper_point(COMM, matrix_type="baij", **POINT)
    assert abs(aij.I1 - baij.I1) <= 1e-10 * abs(aij.I1)


@pytest.mark.mpi
def test_rank_count_independence():
    """The whole communicator and a single rank give the same currents (1e-10 relative)."""
    for method in ("direct", "iterative", "tier"):
        world = paper_point(COMM, method=method, **POINT)
        alone = paper_point(MPI.COMM_SELF, method=method, **POINT)
        assert abs(world.I1 - alone.I1) <= 1e-10 * abs(alone.I1), (COMM.size, method)


@pytest.mark.mpi
@pytest.mark.parametrize("matrix_type", ["aij", "baij"])
def test_assembly_is_exactly_preallocated_and_sized(matrix_type):
    """No mallocs during assembly (MatGetInfo), and the dry-run count of nonzeros is exact."""
    baths = [exact_decomposition(RationalCutoff(alpha=0.1).rational(), T, "pade", 1) for T in (1.0, 0.9)]
    modes = HierarchyModes.from_baths(baths)
    hier = TierOrderedHierarchy(modes.size, 3)
    pauli = PauliBlocks.build(0.1, np.array([bloch_vector(np.pi / 2), bloch_vector(0.4, 0.3)]))
    bounds = ownership(hier, modes, pauli, COMM.size)
    rows = build_block_rows(hier, modes, pauli, bounds[COMM.rank], bounds[COMM.rank + 1])
    A, info = assemble_matrix(PETSc.Comm(COMM), rows, hier.size, matrix_type)
    total = COMM.allreduce(info.nonzeros_local)
    A.destroy()
    assert info.mallocs == 0
    blocks, aij, baij = count_nonzeros(hier, modes, pauli)
    assert total == (aij if matrix_type == "aij" else baij)
    assert COMM.allreduce(rows.n_blocks) == blocks


COMPLEX_SCRIPT = """
import json, sys
sys.path.insert(0, {tests!r})
from nesb_hpc import petsc_env
petsc_env.init([])
from mpi4py import MPI
from petsc4py import PETSc
import numpy as np
from heom_helpers import paper_point
res = paper_point(MPI.COMM_SELF, alpha=0.1, theta=np.pi / 4, delta=0.1, depth=4, method={method!r}, noise=True)
print(json.dumps({{"scalar": np.dtype(PETSc.ScalarType).name, "I1": res.I1, "I2": res.I2,
                  "S": res.noise.second.tolist()}}))
"""


@pytest.mark.parametrize("method", ["direct", "iterative", "tier"])
def test_real_and_complex_petsc_builds_agree(method):
    """Debian ships both builds; the currents and the noise must not depend on the scalar type."""
    out = {}
    for build in ("real", "complex"):
        petsc_dir = f"/usr/lib/petscdir/petsc3.18/x86_64-linux-gnu-{build}"
        slepc_dir = f"/usr/lib/slepcdir/slepc3.18/x86_64-linux-gnu-{build}"
        if not os.path.isdir(petsc_dir):
            pytest.skip(f"no {build} PETSc build at {petsc_dir}")
        env = dict(os.environ, PETSC_DIR=petsc_dir, SLEPC_DIR=slepc_dir)
        script = COMPLEX_SCRIPT.format(tests=os.path.dirname(__file__), method=method)
        proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        out[build] = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["real"]["scalar"] == "float64" and out["complex"]["scalar"] == "complex128"
    assert abs(out["real"]["I1"] - out["complex"]["I1"]) <= 1e-10 * abs(out["real"]["I1"])
    S_real, S_complex = np.array(out["real"]["S"]), np.array(out["complex"]["S"])
    assert np.max(np.abs(S_real - S_complex)) <= 1e-10 * np.max(np.abs(S_real))


@pytest.mark.mpi
def test_energy_conservation_with_nonzero_imaginary_correlation_at_zero():
    """Drude-Lorentz baths have C^I(0) = -lambda gamma != 0, so the current carries the extra
    term 2 C^I(0) Tr[V^2 rho_00]; with the wrong sign I1 + I2 is of order 4 |C^I(0)| (found by
    the QuTiP comparison in bench/). Conservation to 1e-8 relative checks the term."""
    from nesb_hpc.bath import drude_lorentz
    from nesb_hpc.point import HierarchySpec, solve_point
    from nesb_hpc.routes import SolverSettings

    baths = [exact_decomposition(drude_lorentz(0.5).rational(), T, "pade", 2) for T in (1.0, 0.9)]
    assert all(abs(b.imag_at_zero) > 0.1 for b in baths)
    vecs = np.array([bloch_vector(np.pi / 2), bloch_vector(np.pi / 4)])
    res = solve_point(COMM, baths, vecs, 0.1, HierarchySpec(4), SolverSettings(method="direct"))
    assert res.status == "ok"
    assert abs(res.I1 + res.I2) <= 1e-8 * abs(res.I1), (res.I1, res.I2)
    # QuTiP 5.3's HEOMSolver on the same exponents and hierarchy (bench/qutip_compare.py, depth 4)
    assert abs(res.I1 - 2.120605289807065e-03) <= 1e-9 * 2.12e-3
