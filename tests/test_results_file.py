"""io.py: the restartable HDF5 file (atomic writes, summaries replaced in place, the lock) and the
messages that name what differs between a file and an input."""

from __future__ import annotations

import json
import os

import h5py
import numpy as np
import pytest

from nesb_hpc.results_file import (FORMAT, IncompatibleFile, OutputLock, ResultsFile, candidate_paths, compat_difference,
                         empty_row, output_path_problem, read_attrs, read_results, read_summary,
                         remove_stale_temporaries)

SUMMARY = np.dtype([("point", "i8"), ("key", "S16"), ("status", "S16"), ("I1", "f8")])


def _summary(point, I1, status="ok"):
    s = np.zeros((), SUMMARY)
    s["point"], s["key"], s["status"], s["I1"] = point, f"k{point}", status, I1
    return s[()]


def _row(point, ev, I1):
    row = empty_row()
    row["point"], row["eval"], row["I1"] = point, ev, I1
    return row[()]


def test_create_write_load(tmp_path):
    path = str(tmp_path / "sub" / "r.h5")
    f = ResultsFile.create(path, {"study_kind": "sweep", "compat": json.dumps({"a": 1})}, SUMMARY)
    assert os.path.exists(path) and not os.path.exists(path + ".tmp")
    assert f.start_run({"n_ranks": 2}, 5) == 1 and f.start_run({"n_ranks": 3}, 5) == 2
    f.write([_row(0, 0, 1.0), _row(0, 1, 2.0)], ["{}", '{"x": 1}'], [])
    f.write([_row(1, 0, 3.0)], ["{}"], [_summary(0, 2.0), _summary(1, 3.0)])
    state = ResultsFile.load(path)
    assert state.attrs["format"] == FORMAT and state.compat == {"a": 1} and state.attrs["n_points"] == 5
    assert [r["I1"] for r in state.rows] == [1.0, 2.0, 3.0] and state.infos[1] == '{"x": 1}'
    assert list(state.summary["point"]) == [0, 1]
    assert [run["n_ranks"] for run in json.loads(read_attrs(path)["runs"])] == [2, 3]
    assert read_results(path).shape == (3,) and read_summary(path).shape == (2,)


def test_a_summary_of_a_continued_point_replaces_its_row(tmp_path):
    path = str(tmp_path / "r.h5")
    f = ResultsFile.create(path, {}, SUMMARY)
    f.write([], [], [_summary(0, 1.0, "time_limit"), _summary(1, 5.0)])
    f.write([], [], [_summary(0, 2.0, "converged")])
    s = read_summary(path)
    assert list(s["point"]) == [0, 1] and s["I1"][0] == 2.0 and s["status"][0] == b"converged"


def test_every_write_replaces_the_file_whole(tmp_path, monkeypatch):
    """A write that dies half-way leaves the previous file intact (and no .tmp)."""
    path = str(tmp_path / "r.h5")
    f = ResultsFile.create(path, {}, SUMMARY)
    f.write([_row(0, 0, 1.0)], ["{}"], [_summary(0, 1.0)])
    inode = os.stat(path).st_ino
    f.write([_row(1, 0, 2.0)], ["{}"], [])
    assert os.stat(path).st_ino != inode  # renamed into place, never modified in place

    def dying_update(f_h5):
        f_h5["results"].resize((10,))
        raise KeyboardInterrupt("killed while writing")

    with pytest.raises(KeyboardInterrupt):
        f._rewrite(dying_update)
    assert sorted(os.listdir(tmp_path)) == ["r.h5"]  # no temporary left
    assert read_results(path).shape == (2,)
    with h5py.File(path, "r") as h5:
        assert h5["results_info"].shape == (2,)


def test_lock_is_exclusive_and_released(tmp_path):
    path = str(tmp_path / "r.h5")
    lock = OutputLock(path).acquire()
    assert lock.held
    with pytest.raises(IncompatibleFile, match="another nesb_hpc job is writing"):
        OutputLock(path).acquire()
    lock.release()
    assert not os.path.exists(path + ".lock")
    OutputLock(path).acquire().release()


def test_planted_links_are_never_followed(tmp_path):
    """Symlinks at the old temporary name PATH.tmp or at PATH.lock never make a write reach their
    targets; a symlinked output path is refused."""
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    path = str(tmp_path / "r.h5")
    os.symlink(victim, path + ".tmp")
    f = ResultsFile.create(path, {}, SUMMARY)
    f.write([_row(0, 0, 1.0)], ["{}"], [_summary(0, 1.0)])
    assert victim.read_text() == "precious" and read_results(path).shape == (1,)
    os.symlink(victim, str(tmp_path / "s.h5.lock"))
    with pytest.raises(IncompatibleFile, match="is a symbolic link"):
        OutputLock(str(tmp_path / "s.h5")).acquire()
    assert victim.read_text() == "precious"
    os.symlink(victim, str(tmp_path / "link.h5"))
    assert "is a symbolic link" in output_path_problem(str(tmp_path / "link.h5"))
    remove_stale_temporaries(path)  # removes garbage temporaries, never what a link points to
    assert victim.read_text() == "precious" and os.path.islink(path + ".tmp")


def test_output_path_problems_are_named(tmp_path):
    (tmp_path / "file.txt").write_text("x")
    (tmp_path / "dir.h5").mkdir()
    assert output_path_problem(str(tmp_path / "ok" / "r.h5")) is None
    assert "is a regular file, not a directory" in output_path_problem(str(tmp_path / "file.txt" / "r.h5"))
    assert "is a directory" in output_path_problem(str(tmp_path / "dir.h5"))


def test_a_replacement_waits_for_its_first_result(tmp_path):
    """overwrite: the old file stays readable, unchanged, until the new run writes a result."""
    path = str(tmp_path / "r.h5")
    old = ResultsFile.create(path, {"which": "old"}, SUMMARY)
    old.write([_row(0, 0, 1.0)], ["{}"], [_summary(0, 1.0)])
    new = ResultsFile.create(path, {"which": "new"}, SUMMARY, defer=True)
    assert new.pending and new.target == path
    new.start_run({"n_ranks": 1}, 3)
    assert read_attrs(path)["which"] == "old" and read_results(path).shape == (1,)
    new.write([_row(0, 0, 5.0)], ["{}"], [])
    assert not new.pending and new.path == path
    assert read_attrs(path)["which"] == "new" and list(read_results(path)["I1"]) == [5.0]
    assert sorted(os.listdir(tmp_path)) == ["r.h5"]
    stale = tmp_path / ".r.h5.abcd1234.tmp"
    stale.write_text("left by a killed job")
    assert remove_stale_temporaries(path) == [str(stale)]


def test_compat_difference_names_the_key():
    a = {"bath": {"n_bose": 2, "s": 3}, "hierarchy": {"depth": 3}, "study": {"kind": "sweep"}}
    assert compat_difference(a, json.loads(json.dumps(a))) is None
    b = {"bath": {"n_bose": 3, "s": 3}, "hierarchy": {"depth": 3}, "study": {"kind": "sweep"}}
    assert compat_difference(a, b) == "[bath] n_bose is 2 in the file, 3 in the input"
    assert compat_difference({"study": {"kind": "sweep"}}, {"study": {"kind": "point"}}) == \
        '[study] kind is "sweep" in the file, "point" in the input'


def test_candidate_paths():
    it = candidate_paths("out/a.h5")
    assert [next(it) for _ in range(3)] == ["out/a.h5", "out/a-2.h5", "out/a-3.h5"]


def test_results_files_get_the_permissions_of_any_new_file(tmp_path):
    """The unique temporary (mkstemp, 0600) must not make results unreadable to the group."""
    import stat

    old = os.umask(0o022)
    try:
        path = str(tmp_path / "r.h5")
        f = ResultsFile.create(path, {}, SUMMARY)
        f.write([_row(0, 0, 1.0)], ["{}"], [])
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
    finally:
        os.umask(old)


def test_every_column_is_described_in_the_file_and_in_docs():
    """/results and every study kind's /summary: each column has units and a description (the
    file's "columns" attribute) and a line in docs/output.md."""
    from pathlib import Path

    from nesb_hpc.columns import DYNAMICS, RESULTS, SUMMARY as DESCRIBED
    from nesb_hpc.results_file import DYNAMICS_DTYPE, RESULT_DTYPE
    from nesb_hpc.study import STUDIES, SUMMARY_BASE

    doc = (Path(__file__).resolve().parents[1] / "docs" / "output.md").read_text()
    assert set(RESULT_DTYPE.names) == set(RESULTS)
    assert set(DYNAMICS_DTYPE.names) == set(DYNAMICS)
    for kind, cls in STUDIES.items():
        names = np.dtype(SUMMARY_BASE + cls.EXTRA_COLUMNS).names
        assert set(names) <= set(DESCRIBED), (kind, set(names) - set(DESCRIBED))
    for name in set(RESULTS) | set(DESCRIBED) | set(DYNAMICS):
        assert f"| `{name}` |" in doc, name
    # /dynamics has its own table in the docs, every column with the units of columns.py
    section = doc[doc.index("## `/dynamics`"):]
    for name, (units, _) in DYNAMICS.items():
        assert f"| `{name}` | {units} |" in section, name


def test_the_schema_is_in_the_file(tmp_path):
    path = str(tmp_path / "r.h5")
    f = ResultsFile.create(path, {}, SUMMARY)
    f.write([_row(1, 0, 1.0), _row(0, 0, 2.0), _row(0, 1, 3.0)], ["{}", "{}", "{}"], [])
    with h5py.File(path) as h5:
        columns = json.loads(h5["results"].attrs["columns"])
        assert columns["I1"]["units"] == "omega_c^2" and "bath 1" in columns["I1"]["description"]
        assert list(h5["results_by_point"][:]) == [1, 2, 0]            # point 0's solves first
        assert h5["results"].id.get_type().get_member_type(2).get_cset() == h5py.h5t.CSET_UTF8


def _transient(point, times, run=1):
    from nesb_hpc.results_file import DYNAMICS_DTYPE

    rows = np.zeros(len(times), DYNAMICS_DTYPE)
    rows["point"], rows["run"], rows["t"], rows["I1"] = point, run, times, np.asarray(times) * 0.1 + point
    return rows


def _checkpoint(t, n_times, value, size=8):
    from nesb_hpc.results_file import Checkpoint

    return Checkpoint(np.full(size, value), {"t": t, "time_step": 0.01, "n_times": n_times, "steps": 10 * n_times,
                                             "rejected": 0, "rhs_evaluations": 70 * n_times, "wall_s": 0.5, "run": 1})


def test_transients_append_rows_and_replace_their_state_together(tmp_path):
    """/dynamics grows and /dynamics_state/point_N is overwritten in place (the file does not grow
    with every checkpoint); renumbering moves rows and states, also where numbers swap."""
    from nesb_hpc.results_file import read_checkpoint, read_dynamics_table

    path = str(tmp_path / "r.h5")
    f = ResultsFile.create(path, {}, SUMMARY)
    assert read_checkpoint(path, 0) is None and read_dynamics_table(path).size == 0
    f.write([], [], [], [(0, _transient(0, [0.0, 1.0]), _checkpoint(1.0, 1, 1.0)),
                         (1, _transient(1, [0.0]), _checkpoint(0.0, 0, 2.0))])
    f.write([], [], [], [(0, _transient(0, [2.0, 3.0]), _checkpoint(3.2, 3, 3.0))])
    size = os.path.getsize(path)
    f.write([], [], [], [(0, _transient(0, []), _checkpoint(3.2, 3, 4.0))])
    assert os.path.getsize(path) == size
    table = read_dynamics_table(path)
    assert list(table["t"][table["point"] == 0]) == [0.0, 1.0, 2.0, 3.0]
    with h5py.File(path) as h5:
        assert json.loads(h5["dynamics"].attrs["columns"])["t"]["units"] == "1/omega_c"
    c = read_checkpoint(path, 0)
    assert c.t == 3.2 and c.n_times == 3 and c.steps == 30 and np.array_equal(c.state, np.full(8, 4.0))
    f.renumber({0: 1, 1: 0})
    table = read_dynamics_table(path)
    assert list(table["t"][table["point"] == 1]) == [0.0, 1.0, 2.0, 3.0]
    assert read_checkpoint(path, 1).t == 3.2 and read_checkpoint(path, 0).t == 0.0
    assert np.array_equal(read_checkpoint(path, 0).state, np.full(8, 2.0))
    assert ResultsFile.load(path).dynamics.size == 5
