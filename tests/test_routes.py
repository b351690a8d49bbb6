"""nesb_hpc.routes and solver_options: the route table (what each solves, its options, the auto
rule) and the probe that refuses misspelt or rejected input options before a study starts."""

from __future__ import annotations

import pytest

from nesb_hpc.config import SOLVER_METHODS
from nesb_hpc.routes import (AUTO_DIRECT_MAX_UNKNOWNS, AUTO_TIER_FROM_RANKS, BICG_TYPES, LGMRES_VECTORS, ROUTES, SolverSettings,
                             candidate_routes, choose_route)


def test_config_offers_exactly_the_routes():
    assert SOLVER_METHODS == (*ROUTES, "auto")


def test_auto_picks_lu_only_while_it_is_affordable():
    assert choose_route("auto", AUTO_DIRECT_MAX_UNKNOWNS).name == "direct"
    assert choose_route("auto", AUTO_DIRECT_MAX_UNKNOWNS + 1).name == "iterative"
    assert choose_route("slepc", 10).name == "slepc"
    assert [r.name for r in candidate_routes("auto")] == ["direct", "iterative", "tier"]


def test_auto_takes_the_tier_route_on_several_ranks_where_moves_are_acyclic():
    """Block Jacobi's iterations grow with the ranks, the tier sweep's do not (README, Measured);
    underdamped baths (cyclic moves) keep the iterative route; small systems keep LU."""
    big = AUTO_DIRECT_MAX_UNKNOWNS + 1
    assert AUTO_TIER_FROM_RANKS >= 2
    assert choose_route("auto", big, 1).name == "iterative"
    assert choose_route("auto", big, AUTO_TIER_FROM_RANKS).name == "tier"
    assert choose_route("auto", big, 64, acyclic=False).name == "iterative"
    assert choose_route("auto", AUTO_DIRECT_MAX_UNKNOWNS, 64).name == "direct"
    # an explicit method is taken as it is, whatever the ranks
    assert choose_route("iterative", big, 64).name == "iterative" and choose_route("tier", big, 1).name == "tier"


def test_every_route_names_its_system_and_options():
    settings = SolverSettings(rtol=1e-11, max_it=77)
    for route in ROUTES.values():
        assert route.system in ("trace_fixed", "matrix_free", "null_vector")
        assert route.factor in ("ilu", "lu", "dilu")
        options = route.options(settings, "mumps")
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in options.items())
    assert ROUTES["iterative"].options(settings, "mumps")["ksp_max_it"] == "77"
    assert ROUTES["direct"].options(settings, "mumps")["pc_factor_mat_solver_type"] == "mumps"
    # the tier route's preconditioner is its own (set in code): its defaults are Krylov options only
    assert not any(key.startswith("pc_") for key in ROUTES["tier"].options(settings, "mumps"))
    assert ROUTES["tier"].options(settings, "mumps")["ksp_max_it"] == "77"


def test_krylov_vectors_of_the_memory_model():
    """GMRES keeps its restart's basis (the input's restart, else the route's default), capped for
    the direct route; LGMRES (the tier route's default) LGMRES_VECTORS more; a BiCG-type method a
    few vectors whatever the iterations."""
    assert ROUTES["iterative"].krylov_vectors() == 100 and ROUTES["iterative"].krylov_vectors(30) == 30
    assert ROUTES["tier"].krylov_vectors() == ROUTES["tier"].restart + LGMRES_VECTORS
    assert ROUTES["tier"].krylov_vectors(ksp_type="gmres") == ROUTES["tier"].restart
    assert ROUTES["tier"].krylov_vectors(iterations=7) == 7 + LGMRES_VECTORS
    assert ROUTES["direct"].krylov_vectors(100) == 30
    assert ROUTES["iterative"].krylov_vectors(100, iterations=12) == 12
    assert all(ROUTES["tier"].krylov_vectors(100, 500, t) < 10 for t in BICG_TYPES)


@pytest.mark.parametrize("method, options, unused", [
    ("auto", (("pc_tpye", "none"),), ["pc_tpye"]),
    ("iterative", (("sub_pc_factor_levels", "2"), ("ksp_gmres_restart", "50")), []),
    ("auto", (("sub_pc_factor_levels", "2"),), []),           # read by the iterative route only: fine
    ("slepc", (("eps_ncv", "8"), ("st_tpye", "x")), ["st_tpye"]),
    ("tier", (("ksp_gmres_restart", "50"), ("ksp_tpye", "bcgs")), ["ksp_tpye"]),
    ("tier", (("ksp_type", "bcgs"),), []),
])
def test_probe_finds_options_petsc_never_reads(method, options, unused):
    from nesb_hpc.solver_options import probe_options

    assert probe_options(method, SolverSettings(method=method, petsc_options=options)) == unused


@pytest.mark.parametrize("method, options, fragment", [
    ("iterative", (("ksp_type", "nonexistent"),), "Unable to find requested KSP type nonexistent"),
    ("direct", (("pc_factor_mat_solver_type", "nosuch"),), "Could not locate solver type nosuch"),
    ("iterative", (("ksp_rtol", "abc"),), "Input string abc has no numeric value"),
    ("tier", (("ksp_type", "nonexistent"),), "Unable to find requested KSP type nonexistent"),
])
def test_probe_turns_petsc_errors_into_one_message(method, options, fragment):
    from nesb_hpc.solver_options import OptionsRejected, probe_options

    with pytest.raises(OptionsRejected, match=fragment):
        probe_options(method, SolverSettings(method=method, petsc_options=options))
