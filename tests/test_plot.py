"""plot: malformed, hostile or unfinished files give one clear PlotError, never a traceback, and
nothing outside the file is read (external links, external or virtual storage, absurd sizes)."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from nesb_hpc.results_file import FORMAT, RESULT_DTYPE, ResultsFile, empty_row
from nesb_hpc.plot import PlotError, plot_results

SUMMARY = np.dtype([("point", "i8"), ("key", "S16"), ("status", "S16"), ("reason", "S64"), ("I1", "f8"),
                    ("alpha1", "f8")])
ATTRS = {"input_normalised": json.dumps({"study": {"kind": "sweep", "alpha": [0.1, 0.2]}}),
         "study_kind": "sweep", "n_points": 2}


def _results_file(path, summary_dtype=SUMMARY, attrs=ATTRS):
    f = ResultsFile.create(str(path), attrs, summary_dtype)
    row = empty_row()
    row["point"], row["I1"], row["status"] = 0, 1.0, b"ok"
    s = np.zeros((), summary_dtype)
    s["point"], s["status"] = 0, b"ok"
    f.write([row[()]], ["{}"], [s[()]])
    return str(path)


def _raw(path, build):
    with h5py.File(path, "w") as f:
        f.attrs["format"] = FORMAT
        f.attrs["input_normalised"] = ATTRS["input_normalised"]
        build(f)
    return str(path)


def _external_link(f):
    f["results"] = h5py.ExternalLink("/etc/other.h5", "/results")


def _external_storage(f):
    f.create_dataset("results", shape=(4,), dtype=RESULT_DTYPE, external=[("/tmp/elsewhere.bin", 0, h5py.h5f.UNLIMITED)])


def _huge(f):
    f.create_dataset("results", shape=(10**12,), dtype=RESULT_DTYPE, chunks=(64,))  # nothing written: tiny file
    f.create_dataset("summary", shape=(0,), dtype=SUMMARY)


def _two_dimensional(f):
    f.create_dataset("results", shape=(2, 2), dtype=RESULT_DTYPE)
    f.create_dataset("summary", shape=(0,), dtype=SUMMARY)


def _wrong_columns(f):
    f.create_dataset("results", shape=(1,), dtype=np.dtype([("x", "f8")]))
    f.create_dataset("summary", shape=(0,), dtype=SUMMARY)


def _group_not_table(f):
    f.create_group("results")


@pytest.mark.parametrize("build, fragment", [
    (_external_link, "is a link to elsewhere"),
    (_external_storage, "keeps its data outside the file"),
    (_huge, "declares"),
    (_two_dimensional, "has shape (2, 2)"),
    (_wrong_columns, "lacks the columns point, status, I1, depth"),
    (_group_not_table, "is not a table"),
    (lambda f: None, "has no /results table"),
])
def test_hostile_structures_are_refused(tmp_path, build, fragment):
    path = _raw(tmp_path / "bad.h5", build)
    with pytest.raises(PlotError, match="bad.h5") as info:
        plot_results(path, str(tmp_path))
    assert fragment in str(info.value)


def test_other_files_are_named(tmp_path):
    text = tmp_path / "notes.h5"
    text.write_text("not hdf5")
    with pytest.raises(PlotError, match="is not an HDF5 file"):
        plot_results(str(text))
    with h5py.File(tmp_path / "foreign.h5", "w") as f:
        f["x"] = 1
    with pytest.raises(PlotError, match="not a results file of this nesb_hpc"):
        plot_results(str(tmp_path / "foreign.h5"))
    with pytest.raises(PlotError, match="does not exist"):
        plot_results(str(tmp_path / "absent.h5"))


def test_malformed_contents_are_one_clear_error(tmp_path):
    """A structurally valid file whose columns do not fit its study kind (here: no swept column)."""
    bad_summary = np.dtype([("point", "i8"), ("status", "S16"), ("I1", "f8")])
    path = _results_file(tmp_path / "odd.h5", bad_summary)
    with pytest.raises(PlotError, match="not a well-formed results file"):
        plot_results(path, str(tmp_path))


def test_angles_read_as_fractions_of_pi_and_numbers_carry_their_scale():
    import math

    from nesb_hpc.plotting.style import caption, pi_fraction, scale_of

    assert [pi_fraction(v) for v in (0, math.pi / 4, 3 * math.pi / 8, math.pi / 2, math.pi, 0.1)] == \
        ["0", r"$\pi/4$", r"$3\pi/8$", r"$\pi/2$", r"$\pi$", r"$0.0318\pi$"]
    assert scale_of([2e-6, 5e-6]) == (1e-6, r"$10^{-6}$ ") and scale_of([0.3, 2.0]) == (1.0, "")
    text = caption({"kind": "sweep"}, {"delta": 0.05, "theta": math.pi / 4, "alpha1": 0.1, "alpha2": 0.1,
                                       "T1": 1.0, "T2": 0.9}, ["alpha"], "merged modes")
    assert text == r"$\Delta$ = 0.05, $\theta$ = $\pi/4$, $T_1$ = 1, $T_2$ = 0.9; merged modes"


def test_plot_command_line_options(tmp_path):
    from nesb_hpc.__main__ import UsageError, parse_command_line

    args = parse_command_line(["plot", "r.h5", "--format", "svg,png", "--size", "4x3", "--ratio", "forward"])
    assert args["formats"] == ("svg", "png") and args["size"] == (4.0, 3.0) and args["ratio"] == "forward"
    assert parse_command_line(["plot", "--help"])["help"]
    for bad in (["plot", "r.h5", "--size", "big"], ["plot", "r.h5", "--ratio", "up"], ["plot", "r.h5", "--nope"]):
        with pytest.raises(UsageError):
            parse_command_line(bad)


def _dynamics_file(path, finished=True):
    """A dynamics study's file as the driver writes it: two points' steady states (role
    steady_state), their /dynamics rows and states, and (finished) their summaries."""
    from nesb_hpc.results_file import DYNAMICS_DTYPE, Checkpoint

    attrs = {"input_normalised": json.dumps({"study": {"kind": "dynamics", "alpha": [0.5, 1.0]},
                                             "model": {"delta": 0.1, "theta": 0.7853981633974483, "T1": 1.0,
                                                       "T2": 0.5, "alpha1": 0.5, "alpha2": 0.5},
                                             "hierarchy": {"depth": 3, "modes": "merged"},
                                             "dynamics": {"rho0": "down", "spacing": "log"}}),
             "study_kind": "dynamics", "n_points": 2}
    summary = np.dtype([("point", "i8"), ("key", "S16"), ("status", "S16"), ("reason", "S64"), ("I1_ss", "f8")])
    f = ResultsFile.create(str(path), attrs, summary)
    t = np.concatenate([[0.0], np.geomspace(0.1, 100.0, 40)])
    for point, alpha in enumerate((0.5, 1.0)):
        row = empty_row()
        row["point"], row["role"], row["alpha1"], row["alpha2"], row["status"] = point, "steady_state", alpha, alpha, "ok"
        row["I1"], row["I2"], row["x3"] = 0.01 * alpha, -0.01 * alpha, -0.1
        table = np.zeros(t.size, DYNAMICS_DTYPE)
        table["point"], table["t"] = point, t
        table["I1"] = 0.01 * alpha * (1 - np.exp(-t / 10) * np.cos(t))
        table["I2"], table["sz"] = -table["I1"] * (1 - np.exp(-t)), -0.1 - 0.9 * np.exp(-t / 20)
        state = Checkpoint(np.zeros(8), {"t": 100.0, "time_step": 0.1, "n_times": 40, "steps": 100, "rejected": 0,
                                         "rhs_evaluations": 700, "wall_s": 1.0, "run": 1})
        s = np.zeros((), summary)
        s["point"], s["status"], s["I1_ss"] = point, "ok", row["I1"]
        f.write([row[()]], ["{}"], [s[()]] if finished else [], [(point, table, state)])
    return str(path)


@pytest.mark.parametrize("finished", [True, False])
def test_dynamics_draws_the_currents_and_sz_against_time(tmp_path, finished):
    """One figure, <stem>-dynamics.png/.pdf, also while the study runs (no summary yet); a file with
    no transient stored yet is one clear PlotError."""
    path = _dynamics_file(tmp_path / "dyn.h5", finished)
    written = plot_results(path, str(tmp_path / "figs"))
    assert sorted(written) == [str(tmp_path / "figs" / f"dyn-dynamics.{ext}") for ext in ("pdf", "png")]
    assert all((tmp_path / "figs" / f"dyn-dynamics.{ext}").stat().st_size > 10_000 for ext in ("pdf", "png"))
    empty = ResultsFile.create(str(tmp_path / "empty.h5"), {**json.loads(json.dumps(ATTRS)), "study_kind": "dynamics"},
                               SUMMARY)
    with pytest.raises(PlotError, match="no transient stored yet"):
        plot_results(empty.path, str(tmp_path))


def test_initial_state_captions():
    from nesb_hpc.plotting.figures import initial_state_text

    assert initial_state_text({"rho0": "down"}) == r"from $\rho_S$ = $|{\downarrow}\rangle$, baths thermal"
    assert initial_state_text({"rho0": [0.6, 0.0, 0.8]}) == r"from $\rho_S$ = $\vec r$ = (0.6, 0, 0.8), baths thermal"
    assert initial_state_text({"quench_from": {"alpha2": 0.05}, "quench": "product"}) == \
        r"from the steady state at $\alpha_2$ = 0.05 (product quench at $t = 0$)"
