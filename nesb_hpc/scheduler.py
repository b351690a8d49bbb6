"""Groups of ranks that take a study's points as they come; world rank 0 coordinates and writes.

The world communicator is split into groups (``group_sizes``); each group solves one point at a
time on its own sub-communicator. World rank 0 is the coordinator, and (unless "dedicated")
also the leader of group 0: it hands out points on request, receives every finished solve and point from the
other group leaders, and passes them to the one writer (``Sink``). It serves those messages
whenever its own group is between solves (the GIL and PETSc leave no way to serve them during
one), and hides that latency by prefetch: a remote leader asks for its next point as soon as it
starts one. Every result is flushed by rank 0 as soon as it is received.

Messages (on a duplicate of the world communicator; one tag each way, so they stay ordered):
  leader -> 0   ("request",), ("row", point, row, info), ("transient", point, rows, checkpoint),
                ("done", point, summary), ("abandoned", point, signum), ("stopping", signum)
  0 -> leader   ("task", task, payload), ("stop",), ("notice", signum)

Stopping (a signal on any rank): the ranks of a group agree before every point and every solve
(an allreduce of the signal numbers on the group, ``GroupControl.check_stop``); a group that
stops abandons its point (the solves it finished are already written) and tells rank 0, which
hands out no more points and notifies the busy groups. Every rank leaves ``run`` together.
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

    def transient(self, items: list[tuple[int, Any, Any]]) -> None:
        """Transients under way: (point, new rows, checkpoint), in arrival order."""

    def done(self, items: list[tuple[int, Any]]) -> None:
        """Finished points: (point, summary)."""


@dataclass
class Coordinator:
    """World rank 0: the queue of points, the requests of remote leaders, the flow of results.

    A remote leader asks for its next point as soon as it starts one (prefetch), so that it
    rarely waits for rank 0 to come out of a solve; a prefetch is granted only while at least
    one point per group is left, so the last points still go to whichever group is free.
    """

    ctrl: Any                       # mpi4py communicator (duplicate of the world)
    remote_leaders: list[int]
    tasks: collections.deque
    payload: Callable[[Any], Any]   # what a group needs besides the task (e.g. stored solves)
    sink: Sink
    stop: StopFlag
    stopping: int = 0
    local_active: bool = True       # rank 0's own group still takes points
    assigned: dict = field(default_factory=dict)    # remote leader -> its points (running, queued)
    waiting: list = field(default_factory=list)     # remote leaders with an unanswered request
    seen: set = field(default_factory=set)          # remote leaders that have asked at least once
    released: set = field(default_factory=set)      # remote leaders told to stop
    abandoned: list = field(default_factory=list)
    pending_sends: list = field(default_factory=list)
    _rows: list = field(default_factory=list)
    _transient: list = field(default_factory=list)
    _done: list = field(default_factory=list)

    def __post_init__(self):
        self.assigned = {leader: [] for leader in self.remote_leaders}

    @property
    def n_groups(self) -> int:
        return len(self.remote_leaders) + (1 if self.local_active else 0)

    def _send(self, obj, dest: int) -> None:
        self.pending_sends.append(self.ctrl.isend(obj, dest=dest, tag=TAG_DOWN))

    def _begin_stop(self, signum: int) -> None:
        if not self.stopping:
            self.stopping = signum
            for leader, points in self.assigned.items():
                if points:
                    self._send(("notice", signum), leader)

    def _assign(self) -> None:
        """Answer the waiting requests: idle groups first; prefetches only while points are plenty."""
        still = []
        for leader in sorted(self.waiting, key=lambda L: len(self.assigned[L]) > 0):
            if self.stopping or not self.tasks:
                self._send(("stop",), leader)
                self.released.add(leader)
            elif not self.assigned[leader] or len(self.tasks) >= self.n_groups:
                task = self.tasks.popleft()
                self.assigned[leader].append(task.index)
                self._send(("task", task, self.payload(task)), leader)
            else:
                still.append(leader)
        self.waiting = still

    def service(self) -> None:
        """Handle every message that has arrived, answer requests, flush results to the sink."""
        from mpi4py import MPI

        status = MPI.Status()
        while self.ctrl.Iprobe(source=MPI.ANY_SOURCE, tag=TAG_UP, status=status):
            source = status.Get_source()
            msg = self.ctrl.recv(source=source, tag=TAG_UP)
            kind = msg[0]
            if kind == "request":
                self.waiting.append(source)
                self.seen.add(source)
            elif kind == "row":
                self._rows.append(msg[1:])
            elif kind == "transient":
                self._transient.append(msg[1:])
            elif kind == "done":
                self.assigned[source].remove(msg[1])
                self._done.append(msg[1:])
            elif kind == "abandoned":
                self.assigned[source].remove(msg[1])
                self.abandoned.append(msg[1])
                self._begin_stop(msg[2])
            elif kind == "stopping":
                self._begin_stop(msg[1])
        if self.stop.signum:
            self._begin_stop(self.stop.signum)
        self._assign()
        self.flush()

    def flush(self) -> None:
        if self._rows:
            items, self._rows = self._rows, []
            self.sink.rows(items)
        if self._transient:
            items, self._transient = self._transient, []
            self.sink.transient(items)
        if self._done:
            items, self._done = self._done, []
            self.sink.done(items)
        self.pending_sends = [r for r in self.pending_sends if not r.Test()]

    # rank 0's own group
    def next_local(self):
        """The next point for rank 0's group (("task", task, payload) or ("stop",)). The first
        call first serves every remote group once, so none waits for rank 0's first solve."""
        while len(self.seen) < len(self.remote_leaders) and not self.stopping and self.local_active:
            self.service()
            time.sleep(POLL_S)
        self.service()
        if self.stopping or not self.tasks:
            self.local_active = False
            return ("stop",)
        task = self.tasks.popleft()
        return ("task", task, self.payload(task))

    def local_row(self, point: int, row, info) -> None:
        self._rows.append((point, row, info))
        self.service()

    def local_transient(self, point: int, rows, checkpoint) -> None:
        self._transient.append((point, rows, checkpoint))
        self.service()

    def local_done(self, point: int, summary) -> None:
        self._done.append((point, summary))
        self.service()

    def local_abandoned(self, point: int, signum: int) -> None:
        self.abandoned.append(point)
        self._begin_stop(signum)
        self.service()

    def finish(self) -> None:
        """Serve the remote groups until each has been told to stop and has no point left."""
        from mpi4py import MPI

        self.local_active = False
        while len(self.released) < len(self.remote_leaders) or any(self.assigned.values()):
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
    """What the loop and a group's work function call: the next point, stop checks, and the
    route of results to rank 0."""

    def __init__(self, world_rank: int, group, ctrl, coordinator: Coordinator | None, stop: StopFlag):
        self.world_rank = world_rank
        self.group = group
        self.ctrl = ctrl
        self.coordinator = coordinator
        self.stop = stop
        self.is_leader = group.rank == 0
        self.remote_leader = self.is_leader and coordinator is None
        self.notice = 0
        self.announced = False
        self.outstanding = False            # a request is unanswered
        self.inbox: collections.deque = collections.deque()
        self.sends: list = []
        self.point = -1

    def _isend(self, obj) -> None:
        self.sends.append(self.ctrl.isend(obj, dest=0, tag=TAG_UP))
        self.sends = [r for r in self.sends if not r.Test()]

    def _drain(self) -> None:
        """Receive what rank 0 sent: notices (remembered) and answers to requests (queued)."""
        while self.ctrl.Iprobe(source=0, tag=TAG_DOWN):
            msg = self.ctrl.recv(source=0, tag=TAG_DOWN)
            if msg[0] == "notice":
                self.notice = self.notice or msg[1]
            else:
                self.inbox.append(msg)
                self.outstanding = False

    def request(self) -> None:
        """Ask rank 0 for a point (at most one request unanswered)."""
        if self.remote_leader and not self.outstanding and not self.inbox:
            self._isend(("request",))
            self.outstanding = True

    def next_message(self):
        """Remote leader: the answer to its request (sending one if none is unanswered)."""
        self.request()
        while True:
            self._drain()
            if self.inbox:
                return self.inbox.popleft()
            if self.stop.signum and not self.announced:
                self._isend(("stopping", self.stop.signum))
                self.announced = True
            time.sleep(POLL_S)

    def poll_stop(self) -> int:
        """Not collective. The signal this rank knows of (its own, or rank 0's notice), or 0; rank 0
        also serves the other groups meanwhile. A long computation calls it between its own
        collective steps (and agrees on the answer there, as check_stop does)."""
        local = self.stop.signum
        if self.coordinator is not None:
            self.coordinator.service()
            local = local or self.coordinator.stopping
        elif self.is_leader:
            self._drain()
            local = local or self.notice
        return local

    def check_stop(self) -> None:
        """Collective on the group. Raise Interrupted on every rank if any rank must stop."""
        from mpi4py import MPI

        signum = self.group.allreduce(self.poll_stop(), op=MPI.MAX)
        if signum:
            raise Interrupted(signum)

    def emit(self, row, info) -> None:
        """A finished solve (called on every rank of the group; the leader forwards it)."""
        if self.coordinator is not None:
            self.coordinator.local_row(self.point, row, info)
        elif self.is_leader:
            self._isend(("row", self.point, row, info))

    def emit_transient(self, rows, checkpoint) -> None:
        """A transient's new rows and state (called on every rank of the group; the leader forwards
        them; only the leader's arguments are used)."""
        if self.coordinator is not None:
            self.coordinator.local_transient(self.point, rows, checkpoint)
        elif self.is_leader:
            self._isend(("transient", self.point, rows, checkpoint))

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
        work: Callable[[Any, Any, Any, GroupControl], Any], sink: Sink | None, stop: StopFlag,
        dedicated: bool = False) -> dict:
    """Collective on world. Solve `tasks` in groups of `sizes` ranks; returns on every rank
    {"unfinished": points not finished (never started or abandoned), "signum": the stop signal
    or 0}.

    work(group_comm, task, payload, control) -> summary runs one task, collectively on its
    group; it calls control.check_stop() before each solve and control.emit(row, info) after.
    sink (world rank 0 only) receives rows and summaries. payload(task) is evaluated on rank 0.
    dedicated: rank 0 only coordinates and writes (sizes then cover ranks 1..N-1): results reach
    the sink the moment a group sends them, at the cost of one rank.
    """
    offset = 1 if dedicated else 0
    if sum(sizes) + offset != world.size:
        raise ValueError(f"group sizes {sizes} (+{offset} coordinator) do not add up to {world.size} ranks")
    from mpi4py import MPI

    ctrl = world.Dup()
    in_group = world.rank >= offset
    color = group_of(world.rank - offset, sizes) if in_group else MPI.UNDEFINED
    group = world.Split(color, world.rank)
    coordinator = None
    if world.rank == 0:
        leaders = [offset + r for r in group_leaders(sizes)]
        coordinator = Coordinator(ctrl, [L for L in leaders if L != 0], collections.deque(tasks), payload,
                                  sink, stop, local_active=not dedicated)
    control = GroupControl(world.rank, group, ctrl, coordinator, stop) if in_group else None
    try:
        while in_group:
            if coordinator is not None:
                msg = coordinator.next_local()
            elif control.is_leader:
                msg = control.next_message()
            else:
                msg = None
            msg = group.bcast(msg, root=0)
            if msg[0] == "stop":
                break
            _, task, data = msg
            control.point = task.index
            control.request()  # prefetch the next point while this one runs
            try:
                control.check_stop()  # a stop before the point starts abandons it
                summary = work(group, task, data, control)
            except Interrupted as exc:
                control.abandoned(exc.signum)
                continue  # the queued answer, or the next request, ends the loop with "stop"
            control.done(summary)
        if coordinator is not None:
            coordinator.finish()
        if control is not None:
            control.close()
        outcome = None
        if coordinator is not None:
            outcome = {"unfinished": coordinator.unfinished, "signum": coordinator.stopping}
        return world.bcast(outcome, root=0)
    finally:
        if group != MPI.COMM_NULL:
            group.Free()
        ctrl.Free()
