"""nesb_hpc.planning: the layout of ranks (one function for the run and the dry run), the memory
budget and refusal, and --dry-run, which must not import PETSc."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


from nesb_hpc.config import parse_config
from nesb_hpc.planning import (Layout, SizeCache, dry_run_report, memory_refusal, plan_layout, ranges_text,
                               use_dedicated_coordinator)
from nesb_hpc.study import build_study

REPO = Path(__file__).resolve().parents[1]
BASE = {"model": {"alpha": 0.1, "theta": "pi/4"}, "hierarchy": {"depth": 3, "modes": "merged"}}


def _cfg(study, **tables):
    return parse_config({**BASE, **tables, "study": study})


def _layout(cfg, world, budget=1e12):
    study = build_study(cfg)
    return plan_layout(cfg, study, study.tasks, world, budget, SizeCache(cfg))


def test_a_point_gets_every_rank_and_no_coordinator():
    layout = _layout(_cfg({"kind": "point"}), 8)
    assert layout.groups == (8,) and not layout.dedicated


def test_groups_never_outnumber_points():
    cfg = _cfg({"kind": "sweep", "alpha": [0.1, 0.2, 0.3], "ranks_per_point": 1, "coordinator": "shared"})
    assert _layout(cfg, 8).groups == (3, 3, 2)
    assert _layout(cfg, 2).groups == (1, 1)
    dedicated = _cfg({"kind": "sweep", "alpha": [0.1, 0.2, 0.3], "ranks_per_point": 1})
    layout = _layout(dedicated, 32)            # "auto" coordinator: a rank of its own from 16 ranks
    assert layout.dedicated and sum(layout.groups) == 31 and len(layout.groups) == 3
    assert not use_dedicated_coordinator(dedicated, 32, 1)


def test_auto_ranks_per_point_follows_the_budget():
    cfg = _cfg({"kind": "sweep", "alpha": [0.1, 0.2, 0.3, 0.4]}, hierarchy={"depth": 6, "modes": "merged"})
    roomy = _layout(cfg, 8)
    assert roomy.auto and roomy.ranks_per_point == 1 and len(roomy.groups) == 4
    need_one = SizeCache(cfg)
    study = build_study(cfg)
    from nesb_hpc.planning import memory_need

    tight = memory_need(study, study.tasks, need_one, 1) * 0.9        # one rank no longer fits
    assert _layout(cfg, 8, budget=tight).ranks_per_point >= 2


def test_memory_refusal_names_the_need_and_the_advice():
    cfg = _cfg({"kind": "point"})
    study = build_study(cfg)
    assert memory_refusal(study, SizeCache(cfg), 2, 1e12) is None
    text = memory_refusal(study, SizeCache(cfg), 2, 2**20)
    assert "MiB per rank on 2 ranks" in text and "more ranks" in text and "--force-memory" in text


def test_ranges_text():
    assert ranges_text([0, 1, 2, 5, 7, 8]) == "0-2, 5, 7-8" and ranges_text([4]) == "4"


def test_layout_describes_itself():
    text = Layout((3, 3, 2), 1, False, False, 2**30).describe(8)
    assert "3 group(s) of 2 or 3 ranks on 8" in text and "1,024 MiB/rank" in text


def test_dry_run_report_sizes_every_distinct_solve():
    cfg = _cfg({"kind": "convergence", "depths": [2, 3, 4], "alpha": [0.1, 1.0]})
    text = dry_run_report(cfg, 4)
    assert "study convergence: 2 points" in text and "convergence ladder" in text
    assert "depth 4, n_bose auto" in text and "ADOs" in text


def test_dry_run_describes_the_transients():
    cfg = _cfg({"kind": "dynamics", "alpha": [0.1, 1.0]},
               dynamics={"t_end": 50.0, "n_out": 100, "spacing": "log", "quench_from": {"alpha2": 0.05}})
    text = dry_run_report(cfg, 2)
    assert "study dynamics: 2 points" in text and "ADOs" in text
    assert ("transient per point: from the steady state at alpha2 = 0.05 (correlated quench); t = 0 to 50 "
            "[1/omega_c], 100 log output times from t = 0.05 (+ t = 0), TS rk/5dp") in " ".join(text.split())
    assert "stored per point: 101 rows of /dynamics" in text and "every 30 s of wall clock" in text


def test_dry_run_never_imports_petsc():
    """--dry-run plans for a machine it is not on: it must run where PETSc is absent or broken."""
    code = ("import sys, runpy; sys.argv = ['nesb_hpc', 'input/fig1a.toml', '--dry-run', '--ranks', '64'];"
            "import nesb_hpc.__main__ as m; rc = m.main(sys.argv[1:]);"
            "print('PETSC_IMPORTED' if 'petsc4py.PETSc' in sys.modules else 'NO_PETSC'); sys.exit(rc)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "NO_PETSC" in proc.stdout and "ranks_per_point" in proc.stdout


def test_dry_run_warns_about_wasteful_layouts_and_says_what_to_ask_slurm_for():
    tiny_point = _cfg({"kind": "point"})                     # 455 ADOs (depth 3) on 64 ranks: ~7 each
    text = dry_run_report(tiny_point, 64)
    assert "holds only ~7 ADOs" in text and "fewer ranks per point" in text
    assert "#SBATCH --ntasks=64" in text and "#SBATCH --mem-per-cpu=" in text and "USR1@900" in text
    serial = _cfg({"kind": "sweep", "alpha": [0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08],
                   "ranks_per_point": 4, "coordinator": "shared"})
    text = dry_run_report(serial, 8)
    assert "8 points run 2 at a time; ranks_per_point = 1 fits the memory budget and would run 8 at a time" in text


def test_dry_run_and_the_memory_check_take_the_routes_rule():
    """routes.choose_route with the group size and the bath's moves: "auto" is iterative on one
    rank, tier from two (acyclic moves: the paper's J), iterative for an underdamped bath; the
    sizes (and so the budget check and ranks_per_point = "auto") follow the route taken."""
    cfg = _cfg({"kind": "point"}, hierarchy={"depth": 8, "modes": "merged"})
    one, two = dry_run_report(cfg, 1), dry_run_report(cfg, 2)
    assert "method iterative" in one and "method tier" in two and "stored scalars (tier route)" in two
    study = build_study(cfg)
    sizes = SizeCache(cfg)
    request = study.largest_requests(study.tasks[0])[0]
    assert sizes(request, 1).method == "iterative" and sizes(request, 2).method == "tier"
    # the tier route needs far less per rank than block Jacobi would on the same ranks
    from nesb_hpc.sizing import estimate
    from nesb_hpc.problem import Problem

    p = Problem.from_request(cfg, request)
    assert sizes(request, 2).total_bytes_per_rank < 0.6 * estimate(p.hier, p.modes, p.pauli, 2,
                                                                   "iterative").total_bytes_per_rank
    under = _cfg({"kind": "point"}, hierarchy={"depth": 12, "modes": "merged"},
                 bath={"spectral_density": "underdamped", "n_bose": 1})
    assert "method iterative" in dry_run_report(under, 2)
    forced = _cfg({"kind": "point"}, hierarchy={"depth": 12, "modes": "merged"},
                  bath={"spectral_density": "underdamped", "n_bose": 1}, solver={"method": "tier"})
    assert "method tier" in dry_run_report(forced, 2) and "lower bound" in dry_run_report(forced, 2)
