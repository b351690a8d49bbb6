"""Studies as users run them: `mpirun -n N python -m nesb_hpc input.toml` in subprocesses, on 1, 2
and 3 ranks (oversubscribed on small machines). Not marked mpi: each test launches its own mpirun.

- the same numbers whatever the number of ranks and groups (1, 2, 3 ranks; ranks_per_point 1, 2;
  a dedicated coordinator);
- a study killed by SIGKILL, or stopped by SIGTERM (SLURM's warning) / SIGUSR1 (through mpirun),
  finishes when re-run: every point once, finished points not recomputed (the `run` column and
  the rows themselves, from the file), the file readable at every instant of both runs;
- the command line: a changed input exits 2 with the difference named; `plot` writes PNG and PDF.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
MPIRUN = shutil.which("mpirun")
# every test launches mpirun (the PETSc stack in the subprocesses)
pytestmark = [pytest.mark.petsc, pytest.mark.skipif(MPIRUN is None, reason="needs mpirun")]

TINY = """\
[model]
delta = 0.1
T1 = 1.0
T2 = 0.9
[bath]
n_bose = 1
tolerance = 1e-2
[hierarchy]
depth = 3
[study]
kind = "sweep"
alpha = [0.01, 0.1]
theta = [0, "pi/4", "pi/2"]
[output]
path = "r.h5"
"""


def _env():
    """The launcher's environment without what the test process's own (singleton) MPI set."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMPI_", "PMIX_", "OPAL_", "ORTE_"))}
    env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OMP_NUM_THREADS="1",
               OPENBLAS_NUM_THREADS="1", OMPI_MCA_rmaps_base_oversubscribe="1",
               OMPI_MCA_btl_vader_single_copy_mechanism="none", PYTHONUNBUFFERED="1")
    return env


def _command(ranks: int, *args: str) -> list[str]:
    return [MPIRUN, "--oversubscribe", "-n", str(ranks), sys.executable, "-m", "nesb_hpc", *args]


def _run(cwd, ranks, *args, timeout=120):
    return subprocess.run(_command(ranks, *args), cwd=cwd, env=_env(), capture_output=True, text=True,
                          timeout=timeout)


def _sorted_summary(path):
    with h5py.File(path, "r") as f:
        s = f["summary"][()]
    return s[np.argsort(s["point"])]


def _write(tmp_path, text, name="input.toml"):
    (tmp_path / name).write_text(text)
    return name


def test_same_numbers_whatever_the_ranks_and_groups(tmp_path):
    _write(tmp_path, TINY)
    reference = None
    for ranks, extra in ((1, []), (2, ["--ranks-per-point", "1"]), (2, ["--ranks-per-point", "2"]),
                         (3, ["--ranks-per-point", "1"]), (3, ["--ranks-per-point", "2"])):
        (tmp_path / "r.h5").unlink(missing_ok=True)
        done = _run(tmp_path, ranks, "input.toml", *extra)
        assert done.returncode == 0, done.stdout + done.stderr
        s = _sorted_summary(tmp_path / "r.h5")
        assert list(s["point"]) == list(range(6)) and set(s["status"]) == {b"ok"}
        if reference is None:
            reference = s["I1"]
        else:  # 1-rank groups agree bit for bit; groups of 2 or 3 ranks to the solver's rounding
            np.testing.assert_allclose(s["I1"], reference, rtol=1e-11, atol=0, err_msg=f"{ranks} ranks {extra}")


class Reader(threading.Thread):
    """Opens and reads the results file over and over while a study runs; any failure is kept."""

    def __init__(self, path):
        super().__init__(daemon=True)
        self.path, self.reads, self.errors, self.halt = path, 0, [], False

    def run(self):
        while not self.halt:
            if os.path.exists(self.path):
                try:
                    with h5py.File(self.path, "r") as f:
                        rows, summary = f["results"][()], f["summary"][()]
                    assert set(summary["point"]) <= set(rows["point"])  # a point's solves come first
                    self.reads += 1
                except FileNotFoundError:
                    pass
                except Exception as exc:  # noqa: BLE001 - any failure to read is the finding
                    self.errors.append(repr(exc))
            time.sleep(0.01)


# the README's demo at depth 5 (33,649 ADOs, about a second a point): time to interrupt it
SLOW = (REPO / "input" / "sweep-demo.toml").read_text().replace("depth = 4 ", "depth = 5 ").replace(
    "n_bose = 2 ", "n_bose = 1 ").replace("tolerance = 1e-5 ", "tolerance = 1e-3 ").replace(
    'path = "out/sweep-demo.h5"', 'path = "r.h5"')


def _start(tmp_path, ranks=2):
    return subprocess.Popen(_command(ranks, "input.toml"), cwd=tmp_path, env=_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)


def _wait_for_points(path, n, proc, timeout=120):
    t0 = time.time()
    while time.time() - t0 < timeout:
        assert proc.poll() is None, "the study ended before it could be interrupted: " + proc.stdout.read()
        try:
            with h5py.File(path, "r") as f:
                if f["summary"].shape[0] >= n:
                    return
        except (OSError, KeyError):
            pass
        time.sleep(0.02)
    raise AssertionError("no progress")


def _wait_for_transient_rows(path, n, proc, timeout=120):
    t0 = time.time()
    while time.time() - t0 < timeout:
        assert proc.poll() is None, "the transient ended before it could be interrupted: " + proc.stdout.read()
        try:
            with h5py.File(path, "r") as f:
                if "dynamics" in f and f["dynamics"].shape[0] >= n:
                    return
        except (OSError, KeyError):
            pass
        time.sleep(0.02)
    raise AssertionError("no progress")


def _ranks_of(proc) -> list[int]:
    out = subprocess.run(["ps", "--ppid", str(proc.pid), "-o", "pid="], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def _snapshot(path):
    with h5py.File(path, "r") as f:
        return f["results"][()], f["summary"][()]


def _check_resumed(path, rows_before):
    """Every point once; the rows that were in the file before are there unchanged (run 1);
    the rest were computed by the second run."""
    rows, summary = _snapshot(path)
    assert sorted(summary["point"]) == list(range(8)) and set(summary["status"]) == {b"ok"}
    assert sorted(rows["point"]) == list(range(8))  # a sweep: one solve per point, none twice
    before = {int(r["point"]): r.tobytes() for r in rows_before}
    for r in rows:
        if int(r["point"]) in before:
            assert r["run"] == 1 and r.tobytes() == before[int(r["point"])]
        else:
            assert r["run"] == 2
    return rows


def test_sigkill_then_rerun_finishes_without_recomputing(tmp_path):
    _write(tmp_path, SLOW)
    path = tmp_path / "r.h5"
    reader = Reader(str(path))
    reader.start()
    proc = _start(tmp_path)
    try:
        _wait_for_points(path, 2, proc)
        for pid in _ranks_of(proc) + [proc.pid]:
            os.kill(pid, signal.SIGKILL)
        proc.wait(timeout=30)
        rows_before, summary_before = _snapshot(path)
        assert 2 <= len(summary_before) < 8
        done = _run(tmp_path, 2, "input.toml")
        assert done.returncode == 0, done.stdout + done.stderr
        assert re.search(rf"{len(summary_before)} already in r.h5", done.stdout)
    finally:
        reader.halt = True
        reader.join()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    rows = _check_resumed(path, rows_before)
    assert (rows["run"] == 1).sum() == len(rows_before) >= 2
    assert reader.errors == [] and reader.reads > 20


@pytest.mark.parametrize("how", ["SIGTERM to every rank (as SLURM does)", "SIGUSR1 to mpirun"])
def test_signal_stops_cleanly_and_rerun_finishes(tmp_path, how):
    _write(tmp_path, SLOW)
    path = tmp_path / "r.h5"
    reader = Reader(str(path))
    reader.start()
    proc = _start(tmp_path)
    try:
        _wait_for_points(path, 2, proc)
        if how.startswith("SIGTERM"):
            for pid in _ranks_of(proc):
                os.kill(pid, signal.SIGTERM)
            expected = 128 + signal.SIGTERM
        else:
            os.kill(proc.pid, signal.SIGUSR1)
            expected = 128 + signal.SIGUSR1
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == expected, out
        assert "stopping after the solves under way" in out and "run the same command again to resume" in out
        rows_before, summary_before = _snapshot(path)
        assert 2 <= len(summary_before) < 8
        # a clean stop finishes the solves under way: every solved point is a finished point
        assert sorted(rows_before["point"]) == sorted(summary_before["point"])
        if how.startswith("SIGTERM"):  # (resuming is the same whatever stopped the run)
            done = _run(tmp_path, 2, "input.toml")
            assert done.returncode == 0, done.stdout + done.stderr
            _check_resumed(path, rows_before)
    finally:
        reader.halt = True
        reader.join()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert reader.errors == [] and reader.reads > 10


def test_command_line_refuses_a_changed_input_and_plots(tmp_path):
    _write(tmp_path, TINY.replace("[0.01, 0.1]", "[0.01]"))
    done = _run(tmp_path, 1, "input.toml")
    assert done.returncode == 0, done.stdout + done.stderr
    _write(tmp_path, TINY.replace("[0.01, 0.1]", "[0.01]").replace("delta = 0.1", "delta = 0.2"))
    refused = _run(tmp_path, 2, "input.toml")
    assert refused.returncode == 2
    assert "r.h5 holds results of a different input: [model] delta is 0.1 in the file, 0.2 in the input" \
        in refused.stderr
    assert refused.stderr.count("holds results of a different input") == 1  # said once, not per rank
    bad = subprocess.run([sys.executable, "-m", "nesb_hpc", "input.toml", "--ranks-per-point", "0"], cwd=tmp_path,
                         env=_env(), capture_output=True, text=True)
    assert bad.returncode == 2 and "--ranks-per-point needs a positive integer" in bad.stderr
    plotted = subprocess.run([sys.executable, "-m", "nesb_hpc", "plot", "r.h5", "--out", "figs"], cwd=tmp_path,
                             env=_env(), capture_output=True, text=True)
    assert plotted.returncode == 0, plotted.stderr
    for ext in ("png", "pdf"):
        assert (tmp_path / "figs" / f"r-sweep.{ext}").stat().st_size > 1000
    missing = subprocess.run([sys.executable, "-m", "nesb_hpc", "plot", "nothing.h5"], cwd=tmp_path, env=_env(),
                             capture_output=True, text=True)
    assert missing.returncode == 2 and "does not exist" in missing.stderr


# a transient of 1,001 ADOs (depth 4, merged modes) to t = 100 with a checkpoint (an atomic rewrite
# of the file) at every output: a few seconds on 2 ranks, time to kill it part-way
TRANSIENT = """\
[model]
delta = 0.1
theta = "pi/4"
alpha = 1.0
T1 = 1.0
T2 = 0.5
[bath]
n_bose = 1
tolerance = 1e-2
[hierarchy]
depth = 4
modes = "merged"
[study]
kind = "dynamics"
[dynamics]
t_end = 100.0
n_out = 50
rtol = 1e-10
atol = 1e-14
checkpoint_interval = 0
[output]
path = "r.h5"
"""


def test_a_killed_transient_resumes_from_its_last_stored_state(tmp_path):
    """SIGKILL to every rank part-way through a transient on 2 ranks; the re-run, on 1 rank,
    continues from the state stored with the last row (no row missing or repeated, the stored rows untouched, the later ones
    of run 2) and the table equals an uninterrupted evolution (the library on one rank, here) to
    the integrator's tolerance: rtol 1e-10, bound 1e-7 of each column's scale (docs/dynamics.md s6).
    The file is readable at every instant of both runs."""
    from mpi4py import MPI

    from nesb_hpc import dynamics as dyn
    from nesb_hpc.config import load_config
    from nesb_hpc.problem import Problem
    from nesb_hpc.results_file import read_dynamics_table
    from nesb_hpc.study import Request
    from nesb_hpc.transient import output_times, settings_of

    _write(tmp_path, TRANSIENT)
    path = tmp_path / "r.h5"
    reader = Reader(str(path))
    reader.start()
    proc = _start(tmp_path)
    try:
        _wait_for_transient_rows(path, 10, proc)
        for pid in _ranks_of(proc) + [proc.pid]:
            os.kill(pid, signal.SIGKILL)
        proc.wait(timeout=30)
        before = read_dynamics_table(str(path))
        with h5py.File(path, "r") as f:
            assert f["summary"].shape[0] == 0 and f["dynamics_state/point_0"].attrs["n_times"] == len(before) - 1
        assert 10 <= len(before) < 51
        done = _run(tmp_path, 1, "input.toml")         # on another rank count: the state is in ADO order
        assert done.returncode == 0, done.stdout + done.stderr
    finally:
        reader.halt = True
        reader.join()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert reader.errors == [] and reader.reads > 10
    table = read_dynamics_table(str(path))
    assert np.array_equal(table[:len(before)], before)                   # appended after, never rewritten
    assert set(table["run"][:len(before)]) == {1} and set(table["run"][len(before):]) == {2}
    cfg = load_config(tmp_path / "input.toml")
    np.testing.assert_allclose(table["t"], np.concatenate([[0.0], output_times(cfg)]), rtol=1e-14, atol=0)
    p = Problem.from_request(cfg, Request(cfg.model, cfg.hierarchy.depth, cfg.bath.n_bose))
    op = dyn.build_operator(MPI.COMM_SELF, list(p.baths), p.vectors, p.delta, p.spec)
    y0 = dyn.product_state(op, "down")
    try:
        ref = dyn.evolve(op, y0, 0.0, output_times(cfg), settings_of(cfg), emit_initial=True)
        ref.state.destroy()
    finally:
        y0.destroy()
        op.destroy()
    want = {"I1": [o.currents[0] for o in ref.observables], "I2": [o.currents[1] for o in ref.observables],
            "sz": [o.bloch[3] for o in ref.observables], "E_int1": [o.interaction_energies[0] for o in ref.observables]}
    for key, values in want.items():
        values = np.array(values)
        assert np.max(np.abs(table[key] - values)) <= 1e-7 * np.max(np.abs(values)), key
