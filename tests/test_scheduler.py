"""scheduler.py: group layout (pure) and the dynamic distribution of points over groups, with a
stand-in for the HEOM (collective on the group, no PETSc). The mpi-marked tests run on 1 and on 2
ranks (make test-mpi); the subprocess tests of test_restart.py cover 3 ranks."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from nesb_hpc.scheduler import StopFlag, group_leaders, group_of, group_sizes, run


@pytest.mark.parametrize("world, rpp, points, sizes", [
    (1, 1, 5, [1]),
    (2, 1, 8, [1, 1]),
    (2, 2, 8, [2]),
    (3, 2, 8, [3]),          # never a rank left out: the remainder joins a group
    (3, 1, 2, [2, 1]),       # never more groups than points: larger groups instead
    (64, 8, 100, [8] * 8),
    (64, 3, 100, [4] + [3] * 20),
    (64, 1, 4, [16] * 4),
    (5, 8, 3, [5]),          # a group smaller than asked rather than none
    (4, 1, 0, [4]),          # nothing to do: one group, told to stop at once
])
def test_group_sizes(world, rpp, points, sizes):
    assert group_sizes(world, rpp, points) == sizes
    assert sum(sizes) == world


def test_group_of_and_leaders():
    sizes = [3, 2, 2]
    assert [group_of(r, sizes) for r in range(7)] == [0, 0, 0, 1, 1, 2, 2]
    assert group_leaders(sizes) == [0, 3, 5]


@dataclass(frozen=True)
class FakeTask:
    index: int


class Collect:
    def __init__(self):
        self.row_items, self.done_items = [], []

    def rows(self, items):
        self.row_items += items

    def done(self, items):
        self.done_items += items


def fake_work(solves=2, stop_at=None, stop=None):
    """Two 'solves' per point, each collective on the group, with the stop check before each."""

    def work(group, task, payload, control):
        assert payload == 10 * task.index
        values = []
        for k in range(solves):
            if stop_at == (task.index, k) and group.rank == group.size - 1:
                stop.set(15)  # as if the signal reached the last rank of this group
            control.check_stop()
            total = group.allreduce(task.index + k)
            row = {"point": task.index, "eval": k, "value": total // group.size, "ranks": group.size}
            control.emit(row, f"info {task.index}.{k}")
            values.append(row["value"])
        return {"point": task.index, "sum": sum(values)}

    return work


def _layouts(size):
    out = [("one group", [size], False), ("one rank each", [1] * size, False)]
    if size > 1:
        out.append(("dedicated", [1] * (size - 1), True))
    return out


@pytest.mark.mpi
@pytest.mark.parametrize("layout", [0, 1, 2])
def test_every_point_once_whatever_the_layout(layout):
    from mpi4py import MPI

    world = MPI.COMM_WORLD
    layouts = _layouts(world.size)
    if layout >= len(layouts):
        pytest.skip("needs 2 ranks")
    _, sizes, dedicated = layouts[layout]
    tasks = [FakeTask(i) for i in range(7)]
    sink = Collect() if world.rank == 0 else None
    outcome = run(world, sizes, tasks, lambda t: 10 * t.index, fake_work(), sink, StopFlag(), dedicated)
    assert outcome == {"unfinished": 0, "signum": 0}
    report = world.bcast((sink.row_items, sink.done_items) if world.rank == 0 else None, root=0)
    rows, done = report
    assert sorted(p for p, _ in done) == list(range(7))
    assert sorted((p, r["eval"]) for p, r, _ in rows) == [(i, k) for i in range(7) for k in range(2)]
    assert all(s["sum"] == 2 * s["point"] + 1 for _, s in done)  # the same numbers on any group size
    assert all(info == f"info {p}.{r['eval']}" for p, r, info in rows)
    # each point's rows reach rank 0 before its summary
    order = [("row", p, r["eval"]) for p, r, _ in rows]
    assert len(order) == 14


@pytest.mark.mpi
def test_more_groups_than_points_and_no_points():
    from mpi4py import MPI

    world = MPI.COMM_WORLD
    for n in (0, 1):
        sink = Collect() if world.rank == 0 else None
        outcome = run(world, [1] * world.size, [FakeTask(i) for i in range(n)], lambda t: 10 * t.index,
                      fake_work(), sink, StopFlag())
        assert outcome["unfinished"] == 0
        done = world.bcast(sink.done_items if world.rank == 0 else None, root=0)
        assert [p for p, _ in done] == list(range(n))


@pytest.mark.mpi
def test_a_signal_on_any_rank_stops_every_group_after_its_solve():
    from mpi4py import MPI

    world = MPI.COMM_WORLD
    for sizes in ([world.size], [1] * world.size):
        stop = StopFlag()
        sink = Collect() if world.rank == 0 else None
        tasks = [FakeTask(i) for i in range(8)]
        outcome = run(world, sizes, tasks, lambda t: 10 * t.index, fake_work(stop_at=(2, 1), stop=stop),
                      sink, stop)
        assert outcome["signum"] == 15 and 0 < outcome["unfinished"] <= 8
        rows, done = world.bcast((sink.row_items, sink.done_items) if world.rank == 0 else None, root=0)
        finished = sorted(p for p, _ in done)
        assert 2 not in finished and len(finished) + outcome["unfinished"] == 8
        keys = [(p, r["eval"]) for p, r, _ in rows]
        assert len(keys) == len(set(keys))  # nothing twice
        assert (2, 0) in keys and (2, 1) not in keys  # the solve before the signal is kept
        for p in finished:
            assert (p, 0) in keys and (p, 1) in keys
