"""Groups of ranks that take a study's points as they come; world rank 0 coordinates and writes.

The world communicator is split into groups (``group_sizes``); each group solves one point at a
time on its own sub-communicator. World rank 0 is both the leader of group 0 and the
coordinator: it hands out points on request, receives every finished solve and point from the
other group leaders, and passes them to the one writer (``Sink``). It serves those messages
whenever its own group is between solves, so a remote group that finishes while rank 0 is in a
long solve waits for it at most that long; every result is flushed by rank 0 as soon as it is
received.

Messages (on a duplicate of the world communicator; one tag each way, so they stay ordered):
  leader -> 0   ("request",), ("row", point, row, info), ("done", point, summary),
                ("abandoned", point, signum), ("stopping", signum)
  0 -> leader   ("task", task, payload), ("stop",), ("notice", signum)

Stopping (a signal on any rank): the ranks of a group agree before every solve (an allreduce of
the signal numbers on the group, ``GroupControl.check_stop``); a group that stops abandons its
point (the solves it finished are already written) and tells rank 0, which hands out no more
points and notifies the busy groups. Every rank leaves ``run`` together.
"""

from __future__ import annotations

import collections
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

TAG_UP = 7101
TAG_DOWN = 7102
POLL_S = 0.01


class Interrupted(Exception):
    """Raised on every rank of a group when the group agrees to stop (a signal was received)."""

    def __init__(self, signum: int):
        super().__init__(f"stopped by signal {signum}")
        self.signum = signum


@dataclass
class StopFlag:
    """Set from a signal handler (``__main__``); read between solves."""

    signum: int = 0

    def set(self, signum: int) -> None:
        self.signum = self.signum or int(signum)


def group_sizes(world_size: int, ranks_per_point: int, n_points: int) -> list[int]:
    """Sizes of the groups the world splits into (pure).

    max(1, min(world_size // ranks_per_point, n_points)) groups, as equal as possible (each at
    least ranks_per_point; the first ones get the remainder): never more groups than points,
    no rank left out.
    """
    if world_size < 1 or ranks_per_point < 1:
        raise ValueError(f"world_size = {world_size}, ranks_per_point = {ranks_per_point}: need >= 1")
    n = max(1, min(world_size // ranks_per_point, n_points))
    base, extra = divmod(world_size, n)
    return [base + (1 if g < extra else 0) for g in range(n)]


def group_of(rank: int, sizes: list[int]) -> int:
    start = 0
    for g, size in enumerate(sizes):
        if rank < start + size:
            return g
        start += size
    raise ValueError(f"rank {rank} is outside groups {sizes}")


def group_leaders(sizes: list[int]) -> list[int]:
    """World rank of each group's rank 0."""
    out, start = [], 0
    for size in sizes:
        out.append(start)
        start += size
    return out


class Sink(Protocol):
    """Rank 0's receiver of results (the writer)."""

    def rows(self, items: list[tuple[int, Any, Any]]) -> None:
        """Finished solves: (point, row, info), in arrival order."""

    def done(self, items: list[tuple[int, Any]]) -> None:
        """Finished points: (point, summary)."""


@dataclass
class Coordinator:
    """World rank 0: the queue of points, the requests of remote leaders, the flow of results."""

    ctrl: Any                       # mpi4py communicator (duplicate of the world)
    remote_leaders: list[int]
    tasks: collections.deque
    payload: Callable[[Any], Any]   # what a group needs besides the task (e.g. stored solves)
    sink: Sink
    stop: StopFlag
    stopping: int = 0
    busy: dict = field(default_factory=dict)        # leader -> point
    released: set = field(default_factory=set)      # leaders told to stop
    abandoned: list = field(default_factory=list)
    pending_sends: list = field(default_factory=list)
    _rows: list = field(default_factory=list)
    _done: list = field(default_factory=list)

    def _send(self, obj, dest: int) -> None:
        self.pending_sends.append(self.ctrl.isend(obj, dest=dest, tag=TAG_DOWN))

    def _begin_stop(self, signum: int) -> None:
        if not self.stopping:
            self.stopping = signum
            for leader in self.busy:
                if leader != 0:
                    self._send(("notice", signum), leader)

    def _hand_out(self, leader: int) -> None:
        if self.stopping or not self.tasks:
            self._send(("stop",), leader)
            self.released.add(leader)
            return
        task = self.tasks.popleft()
        self.busy[leader] = task.index
        self._send(("task", task, self.payload(task)), leader)

    def service(self) -> None:
        """Handle every message that has arrived, then flush results to the sink."""
        from mpi4py import MPI

        status = MPI.Status()
        while self.ctrl.Iprobe(source=MPI.ANY_SOURCE, tag=TAG_UP, status=status):
            source = status.Get_source()
            msg = self.ctrl.recv(source=source, tag=TAG_UP)
            kind = msg[0]
            if kind == "request":
                self._hand_out(source)
            elif kind == "row":
                self._rows.append(msg[1:])
            elif kind == "done":
                self.busy.pop(source, None)
                self._done.append(msg[1:])
            elif kind == "abandoned":
                self.busy.pop(source, None)
                self.abandoned.append(msg[1])
                self._begin_stop(msg[2])
            elif kind == "stopping":
                self._begin_stop(msg[1])
        if self.stop.signum:
            self._begin_stop(self.stop.signum)
        self.flush()

    def flush(self) -> None:
        if self._rows:
            items, self._rows = self._rows, []
            self.sink.rows(items)
        if self._done:
            items, self._done = self._done, []
            self.sink.done(items)
        self.pending_sends = [r for r in self.pending_sends if not r.Test()]

    # rank 0's own group
    def next_local(self):
        self.service()
        if self.stopping or not self.tasks:
            return ("stop",)
        task = self.tasks.popleft()
        self.busy[0] = task.index
        return ("task", task, self.payload(task))

    def local_row(self, point: int, row, info) -> None:
        self._rows.append((point, row, info))
        self.service()

    def local_done(self, point: int, summary) -> None:
        self.busy.pop(0, None)
        self._done.append((point, summary))
        self.service()

    def local_abandoned(self, point: int, signum: int) -> None:
        self.busy.pop(0, None)
        self.abandoned.append(point)
        self._begin_stop(signum)
        self.service()

    def finish(self) -> None:
        """Serve the remote groups until each has been told to stop and has reported its point."""
        from mpi4py import MPI

        while len(self.released) < len(self.remote_leaders) or self.busy:
            self.service()
            time.sleep(POLL_S)
        self.service()
        MPI.Request.Waitall(self.pending_sends)
        self.pending_sends = []

    @property
    def unfinished(self) -> int:
        """Points not finished in this run: never handed out, or abandoned."""
        return len(self.tasks) + len(self.abandoned)


class GroupControl:
    """What a group's work function may call: stop checks and the route of results to rank 0."""

    def __init__(self, world_rank: int, group, ctrl, coordinator: Coordinator | None, stop: StopFlag):
        self.world_rank = world_rank
        self.group = group
        self.ctrl = ctrl
        self.coordinator = coordinator
        self.stop = stop
        self.is_leader = group.rank == 0
        self.notice = 0
        self.announced = False
        self.sends: list = []
        self.point = -1

    def _isend(self, obj) -> None:
        self.sends.append(self.ctrl.isend(obj, dest=0, tag=TAG_UP))
        self.sends = [r for r in self.sends if not r.Test()]

    def _poll_notices(self) -> None:
        while self.ctrl.Iprobe(source=0, tag=TAG_DOWN):
            msg = self.ctrl.recv(source=0, tag=TAG_DOWN)
            assert msg[0] == "notice", msg  # only notices can arrive while a point is running
            self.notice = self.notice or msg[1]

    def check_stop(self) -> None:
        """Collective on the group. Raise Interrupted on every rank if any rank must stop."""
        from mpi4py import MPI

        local = self.stop.signum
        if self.coordinator is not None:
            self.coordinator.service()
            local = local or self.coordinator.stopping
        elif self.is_leader:
            self._poll_notices()
            local = local or self.notice
        signum = self.group.allreduce(local, op=MPI.MAX)
        if signum:
            raise Interrupted(signum)

    def emit(self, row, info) -> None:
        """A finished solve (called on every rank of the group; the leader forwards it)."""
        if self.coordinator is not None:
            self.coordinator.local_row(self.point, row, info)
        elif self.is_leader:
            self._isend(("row", self.point, row, info))

    # the loop's messages (leader only)
    def request(self):
        self._isend(("request",))
        while True:
            if self.ctrl.Iprobe(source=0, tag=TAG_DOWN):
                msg = self.ctrl.recv(source=0, tag=TAG_DOWN)
                if msg[0] != "notice":
                    return msg
                self.notice = self.notice or msg[1]
            if self.stop.signum and not self.announced:
                self._isend(("stopping", self.stop.signum))
                self.announced = True
            time.sleep(POLL_S)

    def done(self, summary) -> None:
        if self.coordinator is not None:
            self.coordinator.local_done(self.point, summary)
        elif self.is_leader:
            self._isend(("done", self.point, summary))

    def abandoned(self, signum: int) -> None:
        if self.coordinator is not None:
            self.coordinator.local_abandoned(self.point, signum)
        elif self.is_leader:
            self._isend(("abandoned", self.point, signum))
            self.announced = True

    def close(self) -> None:
        from mpi4py import MPI

        MPI.Request.Waitall(self.sends)
        self.sends = []


def run(world, sizes: list[int], tasks: list, payload: Callable[[Any], Any],
        work: Callable[[Any, Any, Any, GroupControl], Any], sink: Sink | None, stop: StopFlag) -> dict:
    """Collective on world. Solve `tasks` in groups of `sizes` ranks; returns on every rank
    {"unfinished": points not finished (never started or abandoned), "signum": the stop signal
    or 0}.

    work(group_comm, task, payload, control) -> summary runs one task, collectively on its
    group; it calls control.check_stop() before each solve and control.emit(row, info) after.
    sink (world rank 0 only) receives rows and summaries. payload(task) is evaluated on rank 0.
    """
    if sum(sizes) != world.size:
        raise ValueError(f"group sizes {sizes} do not add up to {world.size} ranks")
    ctrl = world.Dup()
    color = group_of(world.rank, sizes)
    group = world.Split(color, world.rank)
    leaders = group_leaders(sizes)
    coordinator = None
    if world.rank == 0:
        coordinator = Coordinator(ctrl, leaders[1:], collections.deque(tasks), payload, sink, stop)
    control = GroupControl(world.rank, group, ctrl, coordinator, stop)
    try:
        while True:
            if coordinator is not None:
                msg = coordinator.next_local()
            elif control.is_leader:
                msg = control.request()
            else:
                msg = None
            msg = group.bcast(msg, root=0)
            if msg[0] == "stop":
                break
            _, task, data = msg
            control.point = task.index
            try:
                summary = work(group, task, data, control)
            except Interrupted as exc:
                control.abandoned(exc.signum)
                continue  # the next request is answered with "stop"
            control.done(summary)
        if coordinator is not None:
            coordinator.finish()
        control.close()
        outcome = None
        if coordinator is not None:
            outcome = {"unfinished": coordinator.unfinished, "signum": coordinator.stopping}
        return world.bcast(outcome, root=0)
    finally:
        group.Free()
        ctrl.Free()
