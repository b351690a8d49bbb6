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


def test_bad_input_is_reported_once_with_exit_code_2(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[model]\ntheta = 4.0\n[output]\npath = "x.h5"\n')
    proc = mpirun(["-m", "nesb_hpc", str(bad)])
    assert proc.returncode == 2
    lines = [line for line in (proc.stdout + proc.stderr).splitlines() if "input error" in line]
    assert len(lines) == 1, proc.stdout + proc.stderr          # once, not once per rank
    assert "[model] theta = 4.0" in lines[0] and "[0, pi]" in lines[0]
    assert "Traceback" not in proc.stderr


def test_unknown_option_is_a_usage_error(tmp_path):
    proc = mpirun(["-m", "nesb_hpc", "--no-such-flag"])
    assert proc.returncode == 2
    assert (proc.stdout + proc.stderr).count("usage error") == 1


def test_dry_run_sizes_the_default_input_without_solving():
    proc = subprocess.run([sys.executable, "-m", "nesb_hpc", "--default-input", "--dry-run", "--ranks", "64"],
                          env=ENV, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "14,950" in proc.stdout and "ranks                        64" in proc.stdout


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
