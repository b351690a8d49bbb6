"""The command line under a real MPI launcher: errors are said once, failures end every rank.

These tests launch `mpirun -n 2` themselves (they are not mpi-marked: under `make test-mpi` each
rank would launch its own job).
"""

import os
import subprocess
import sys
import textwrap
import time

import pytest

ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMPI_MCA_rmaps_base_oversubscribe="1", OMP_NUM_THREADS="1")


def mpirun(args, timeout=120, cwd=None):
    return subprocess.run(["mpirun", "-n", "2", sys.executable, *args], env=ENV, capture_output=True,
                          text=True, timeout=timeout, cwd=cwd)


@pytest.mark.petsc  # mpirun, and mpi4py/PETSc in the subprocess
def test_bad_input_is_reported_once_with_exit_code_2(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[model]\ntheta = 4.0\n[output]\npath = "x.h5"\n')
    proc = mpirun(["-m", "nesb_hpc", str(bad)])
    assert proc.returncode == 2
    lines = [line for line in (proc.stdout + proc.stderr).splitlines() if "input error" in line]
    assert len(lines) == 1, proc.stdout + proc.stderr          # once, not once per rank
    assert "[model] theta = 4.0" in lines[0] and "[0, pi]" in lines[0]
    assert "Traceback" not in proc.stderr


@pytest.mark.petsc  # mpirun, and mpi4py/PETSc in the subprocess
def test_unknown_option_is_a_usage_error(tmp_path):
    proc = mpirun(["-m", "nesb_hpc", "--no-such-flag"])
    assert proc.returncode == 2
    assert (proc.stdout + proc.stderr).count("usage error") == 1


def test_dry_run_sizes_the_default_input_without_solving():
    proc = subprocess.run([sys.executable, "-m", "nesb_hpc", "--default-input", "--dry-run", "--ranks", "64"],
                          env=ENV, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "1,820" in proc.stdout and "ranks                        64" in proc.stdout   # merged, n_bose 2+2


FAILING_RANK = textwrap.dedent("""
    import sys, time
    from mpi4py import MPI
    import nesb_hpc.driver as driver
    import nesb_hpc.__main__ as cli

    real_run = driver.run

    def run(comm, *args, **kwargs):
        if comm.rank == 1:
            raise RuntimeError("injected failure on rank 1")
        comm.Barrier()          # rank 0 waits for rank 1 forever unless the job is aborted
        return real_run(comm, *args, **kwargs)

    driver.run = run
    sys.exit(cli.main(sys.argv[1:]))
""")


@pytest.mark.petsc  # mpirun, and mpi4py/PETSc in the subprocess
def test_an_exception_on_one_rank_ends_every_rank_promptly(tmp_path):
    script = tmp_path / "fail.py"
    script.write_text(FAILING_RANK)
    started = time.monotonic()
    proc = mpirun([str(script), "--default-input"], timeout=120, cwd=tmp_path)
    elapsed = time.monotonic() - started
    assert proc.returncode != 0
    assert "injected failure on rank 1" in proc.stderr and "[rank 1]" in proc.stderr
    # a hung rank 0 would sit in the barrier until the timeout; an abort ends it in seconds
    assert elapsed < 60, elapsed


def _input(tmp_path, body: str, name="in.toml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(body))
    return str(path)


TINY = """
    [model]
    alpha = 0.05
    theta = "pi/4"
    [hierarchy]
    depth = 2
    modes = "merged"
    [output]
    path = "out.h5"
"""


@pytest.mark.petsc  # mpirun, and mpi4py/PETSc in the subprocess
@pytest.mark.parametrize("options, fragment", [
    ('pc_tpye = "none"', 'pc_tpye = "none" is never read by PETSc with method = "auto" (did you mean "pc_type"?)'),
    ('ksp_type = "nonexistent"', "Unable to find requested KSP type nonexistent"),
    ('ksp_view_mat = "binary:/tmp/should-not-exist"', 'option "ksp_view_mat" is not allowed in the input file'),
])
def test_bad_solver_options_are_one_error_before_any_solve(tmp_path, options, fragment):
    path = _input(tmp_path, TINY + "    [solver.petsc_options]\n    " + options + "\n")
    proc = mpirun(["-m", "nesb_hpc", path], cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    text = proc.stdout + proc.stderr
    assert text.count("input error") == 1 and fragment in text, text
    assert "Traceback" not in text and not (tmp_path / "out.h5").exists()
    assert not os.path.exists("/tmp/should-not-exist")


@pytest.mark.petsc  # mpirun, and mpi4py/PETSc in the subprocess
@pytest.mark.parametrize("options, fragment", [
    ('ts_rk_tpye = "3bs"', '[dynamics.petsc_options] ts_rk_tpye = "3bs" is never read by PETSc with ts_type = "rk" '
                           '(did you mean "ts_rk_type"?)'),
    ('ts_type = "nonexistent"', "PETSc refuses the time evolution's options"),
])
def test_bad_time_evolution_options_are_one_error_before_any_solve(tmp_path, options, fragment):
    body = TINY.replace("[output]", '[study]\n    kind = "dynamics"\n    [dynamics]\n    t_end = 1.0\n'
                                    "    [dynamics.petsc_options]\n    " + options + "\n    [output]")
    proc = mpirun(["-m", "nesb_hpc", _input(tmp_path, body)], cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    text = proc.stdout + proc.stderr
    assert text.count("input error") == 1 and fragment in text, text
    assert "Traceback" not in text and not (tmp_path / "out.h5").exists()


@pytest.mark.petsc  # mpirun, and mpi4py/PETSc in the subprocess
def test_misspelt_command_line_options_are_named(tmp_path):
    path = _input(tmp_path, TINY)
    proc = mpirun(["-m", "nesb_hpc", path, "-nesb_ksp_tpye", "gmres", "-nesb_ksp_rtol", "1e-12"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    warnings = [line for line in proc.stdout.splitlines() if "never used" in line]
    assert len(warnings) == 1 and "-nesb_ksp_tpye" in warnings[0] and "rtol" not in warnings[0]


@pytest.mark.petsc  # mpirun, and mpi4py/PETSc in the subprocess
def test_a_crafted_angle_is_refused_at_once(tmp_path):
    path = _input(tmp_path, TINY.replace('theta = "pi/4"', 'theta = "1' + " " * 5000 + 'x"'))
    started = time.monotonic()
    proc = mpirun(["-m", "nesb_hpc", path], cwd=tmp_path)
    assert proc.returncode == 2 and "is not an angle" in proc.stderr
    assert time.monotonic() - started < 30


@pytest.mark.petsc  # mpirun, and mpi4py/PETSc in the subprocess
def test_output_path_problems_are_input_errors(tmp_path):
    (tmp_path / "afile").write_text("x")
    (tmp_path / "adir.h5").mkdir()
    for target, fragment in (("afile/out.h5", "is a regular file, not a directory"), ("adir.h5", "is a directory")):
        path = _input(tmp_path, TINY.replace('"out.h5"', f'"{target}"'))
        proc = mpirun(["-m", "nesb_hpc", path], cwd=tmp_path)
        assert proc.returncode == 2 and fragment in proc.stderr and proc.stderr.count("input error") == 1


POISONED = """
    [model]
    alpha = 0.05
    theta = "pi/4"
    [bath]
    fit_tolerance = 1e-3
    fit_max_terms = MAX_TERMS
    [hierarchy]
    depth = 2
    modes = "merged"
    [study]
    kind = "sweep"
    T2 = [0.9, 0.05, 0.5, 0.7]
    ranks_per_point = 1
    [output]
    path = "poison.h5"
"""


@pytest.mark.petsc  # mpirun, and mpi4py/PETSc in the subprocess
def test_a_poisoned_sweep_finishes_the_others_and_retry_completes_it(tmp_path):
    """One point raises (its fit cannot meet the tolerance with 5 terms): the other points
    finish on 2 ranks, exit code 3; after raising the cap, --retry-failed completes the study."""
    import h5py

    path = _input(tmp_path, POISONED.replace("MAX_TERMS", "5"))
    proc = mpirun(["-m", "nesb_hpc", path], cwd=tmp_path)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "could not be made: ValueError: fit_decomposition" in proc.stdout
    with h5py.File(tmp_path / "poison.h5", "r") as f:
        status = dict(zip(f["summary"]["point"], f["summary"]["status"]))
        n_rows = f["results"].shape[0]
    assert status == {0: b"ok", 1: b"error", 2: b"ok", 3: b"ok"}
    path = _input(tmp_path, POISONED.replace("MAX_TERMS", "12"))
    proc = mpirun(["-m", "nesb_hpc", path, "--retry-failed"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with h5py.File(tmp_path / "poison.h5", "r") as f:
        assert set(f["summary"]["status"]) == {b"ok"} and f["results"].shape[0] == n_rows + 1
