"""Transient heat currents: dy/dt = L y integrated with PETSc TS on the distributed HEOM matrix.

Equations (docs/dynamics.md has the derivations and every factor). The unknowns y are those of
the steady-state solve: the rescaled real Pauli components of every ADO (liouvillian.py), in the
matrix numbering top tier first (liouvillian.reverse_numbering), on the same ownership. L is the
UNMODIFIED Liouvillian (no trace row replaced, as the slepc route of point.solve_point builds it):
its trace row of rho_00 is zero, so Tr rho_00 is conserved by every linear integrator, and every
other eigenvalue has Re < 0, so y(t) -> the steady state of point.solve_point.

    initial state   a product state: rho_00 = (1 + r . sigma)/2 (r a Bloch vector, |r| <= 1), baths
                    thermal and uncorrelated (every ADO beyond tier 0 zero) -- product_state();
                    or the steady state of other parameters on the same hierarchy shape (a quench:
                    steady_state_vector() of the old parameters, then quench_state()).
    evolution       evolve(): TS with adaptive steps (rtol/atol on the weighted RMS norm of the
                    local error), outputs at given times by the integrator's dense output where it
                    has one of its order (else it steps onto them), a callback per output time.
    observables     at each output time (observables.transient_observables): I_nu (the steady
                    state's first-tier readout, the instantaneous -d<H_Bnu>/dt), rho_00's Bloch
                    vector, <V_nu B_nu>, <H_S> = Delta <sz>, and d/dt of the energies from L y.

Units: hbar = k_B = omega_c = 1; times in 1/omega_c, energies in omega_c, currents in omega_c^2.

Integrator (measured, bench/dynamics_bench.py, docs/dynamics.md s4): the default is the explicit
Dormand-Prince 5(4) pair (TSRK 5dp) with its 4th-order dense output. The hierarchy is stiff
(eigenvalues down to about -(depth x the largest Pade/Matsubara rate)), but the slow modes
(rates ~0.05-0.2 that set the relaxation) oscillate and must be followed to the tolerance anyway;
implicit methods (BDF, ROSW, ARKIMEX reusing the steady-state GMRES + block-Jacobi/ILU) take
larger steps but pay a preconditioned solve per stage: during transients they lost at alpha =
0.5 and 4 (RK 2.6-3.9x cheaper at depth 8); BDF(5) won the long tail of the approach to the
steady state at alpha = 0.5 (2.5x) but lost it at alpha = 4 (3.3x).
Any TS type can be chosen with -nesb_ts_type (implicit types get an IFunction/IJacobian and the
steady-state route's preconditioner); PETSc options use the prefix nesb_, with the precedence of
solver_options.petsc_options (command line > input > these defaults).

Every function that takes or returns a PETSc object is collective on the operator's communicator
("Collective." in its docstring); the observables are gathered to every rank, so a callback sees
the same values on each and a driver writes them from rank 0.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
from petsc4py import PETSc

from .pauli import BS
from .heom_states import (EntryGatherer, HeomOperator,  # the rest re-exported: the API of docs/dynamics.md s6
                          bloch_of_state, build_operator, product_state, quench_state,  # noqa: F401
                          state_from_array, state_to_array, steady_state_vector)
from .observables import TransientObservables, observable_indices, transient_observables
from .routes import SolverSettings  # noqa: F401  (re-exported)
from .solver_options import PREFIX, petsc_options

# TS types that evaluate only the right-hand side (no IFunction/IJacobian, no linear solves)
EXPLICIT_TYPES = ("rk", "euler", "ssp")
# (type, subtype) whose TSInterpolate is a dense output of the method's own order (checked on a
# damped oscillator: interpolation error ~ the step's error); others interpolate linearly or not
# at all, so the integrator steps onto the output times instead (TSSetMaxTime + MATCHSTEP)
DENSE_OUTPUT = {("rk", "5dp"), ("arkimex", "3"), ("arkimex", "4"), ("rosw", "ra34pw2"), ("rosw", "sandu3"),
                ("bdf", "")}


@dataclass(frozen=True)
class DynamicsSettings:
    """How evolve() integrates (times in 1/omega_c).

    ts_type, rk_type: the PETSc TS type and RK scheme (overridden by -nesb_ts_type ...);
    rtol, atol: TS tolerances on the local error of each step, weighted RMS over all unknowns
    (atol in units of the rescaled unknowns, which are O(1) in rho_00 and O(sqrt(alpha)) or less
    in tier 1); dt0: the first step (adaptivity takes over); linear_rtol: relative tolerance of
    the implicit types' stage solves; pc_shift_ratio: implicit types rebuild the ILU of
    shift*I - L only when the shift has moved by more than this factor since the last build
    (1: at every change; 2 measured fastest, bench/dynamics_bench.py); output: "auto" (dense
    output where the type has one of its order, else step onto the output times),
    "interpolate" or "step"; petsc_options: the input's options (without the prefix), below
    the command line and above these defaults.
    """

    ts_type: str = "rk"
    rk_type: str = "5dp"
    rtol: float = 1e-8
    atol: float = 1e-12
    dt0: float = 1e-3
    max_steps: int = 100_000_000
    linear_rtol: float = 1e-12
    pc_shift_ratio: float = 2.0
    output: str = "auto"
    petsc_options: tuple[tuple[str, str], ...] = ()


def default_options(settings: DynamicsSettings) -> dict[str, str]:
    """Our TS defaults (below the input's and the command line's options; prefix nesb_)."""
    return {
        "ts_type": settings.ts_type,
        "ts_rk_type": settings.rk_type,
        "ts_adapt_type": "basic",
        "ts_rtol": repr(settings.rtol),
        "ts_atol": repr(settings.atol),
        "ts_max_reject": "50",
        "ts_max_snes_failures": "-1",
        # implicit types: one linear solve per stage (SNES KSPONLY, as TS uses for linear problems),
        # the steady-state route's preconditioner on shift*I - L (liouvillian.reverse_numbering:
        # the natural order factors rho_00 last)
        "ksp_type": "gmres",
        "ksp_gmres_restart": "100",
        "ksp_gmres_modifiedgramschmidt": "true",
        "ksp_pc_side": "right",
        "ksp_rtol": repr(settings.linear_rtol),
        "ksp_atol": "1e-50",
        "ksp_max_it": "2000",
        "pc_type": "bjacobi",
        "sub_pc_type": "ilu",
        "sub_pc_factor_levels": "1",
        "sub_pc_factor_mat_ordering_type": "natural",
        "sub_pc_factor_shift_type": "nonzero",
    }


def output_times(t_end: float, n_out: int, spacing: str = "linear", t_start: float = 0.0,
                 t_first: float | None = None) -> np.ndarray:
    """n_out output times in (t_start, t_end], the last = t_end.

    linear: t_start + (t_end - t_start) k / n_out, k = 1..n_out; log: geometric from t_first
    (default t_start + (t_end - t_start) 1e-3) to t_end.
    """
    if not (t_end > t_start) or n_out < 1:
        raise ValueError(f"need t_end > t_start and n_out >= 1 (got {t_start}, {t_end}, {n_out})")
    if spacing == "linear":
        return t_start + (t_end - t_start) * np.arange(1, n_out + 1) / n_out
    if spacing == "log":
        first = t_start + 1e-3 * (t_end - t_start) if t_first is None else float(t_first)
        if not (t_start < first <= t_end):
            raise ValueError(f"t_first = {first} must lie in (t_start, t_end]")
        return t_start + np.geomspace(first - t_start, t_end - t_start, n_out)
    raise ValueError(f"spacing {spacing!r}: allowed are 'linear', 'log'")


def observed_indices(op: HeomOperator) -> np.ndarray:
    """Matrix-numbering indices of the unknowns the observables read: ADO 0 and tier 1, in ADO order."""
    wanted = observable_indices(op.hier)
    ado, component = np.divmod(wanted, BS)
    return BS * (op.hier.size - 1 - ado) + component


def observe(op: HeomOperator, t: float, y: PETSc.Vec) -> TransientObservables:
    """Collective. The observables of the state y at time t (one product L y for the rates)."""
    g = EntryGatherer(y, observed_indices(op))
    r = y.duplicate()
    try:
        op.L.mult(y, r)
        return transient_observables(t, g(y), g(r), op.hier, op.modes, op.pauli.coupling_vectors, op.delta)
    finally:
        r.destroy()
        g.destroy()


# ---------------------------------------------------------------------------------------------
# Time evolution


@dataclass
class EvolutionResult:
    """What evolve() returns. state: y at `time` (a new vector the caller destroys): a checkpoint;
    time_step: the step the integrator would take next (pass as dt0 to continue smoothly)."""

    state: PETSc.Vec
    time: float
    time_step: float
    observables: list[TransientObservables]
    completed: bool            # reached t_end (False: stopped by the callback or failed)
    reason: str
    steps: int
    rejected: int
    rhs_evaluations: int       # products L y (explicit stages, implicit residuals, outputs' rates)
    linear_iterations: int     # implicit types: Krylov iterations over all stage solves
    jacobian_updates: int      # implicit types: matrix shift*I - L rebuilt
    pc_setups: int             # implicit types: preconditioner (ILU) set up anew
    wall_s: float
    ts_type: str
    output_mode: str
    options: dict = field(default_factory=dict)


class _ShiftedOperator:
    """Python-matrix context: y -> shift y - L y, the exact operator of an implicit stage."""

    def __init__(self, L: PETSc.Mat):
        self.L = L
        self.shift = 0.0

    def mult(self, mat, x, y):
        self.L.mult(x, y)
        y.axpby(self.shift, -1.0, x)


class _LinearTS:
    """Callbacks of dy/dt = L y for TS.

    Explicit types: the right-hand side L y. Implicit types: F = ydot - L y, whose Jacobian
    dF/dy + shift dF/dydot = shift I - L is applied exactly and matrix-free (L y, then an axpby;
    a separate assembled copy would double the matrix memory), while the preconditioner is the
    ILU of an assembled P = shift_P I - L that is rebuilt only when the shift has moved by more
    than the factor pc_shift_ratio since (so BDF's step-by-step shift changes, and all stages of
    an ESDIRK/Rosenbrock step, share one factorisation; PCSetUp skips an unchanged P).
    """

    def __init__(self, L: PETSc.Mat, pc_shift_ratio: float):
        self.L = L
        self.op: _ShiftedOperator | None = None
        self.J: PETSc.Mat | None = None
        self.P: PETSc.Mat | None = None
        self.pc_shift: float | None = None
        self.pc_shift_ratio = pc_shift_ratio
        self.rhs_count = 0
        self.jacobian_updates = 0
        self.pc_setups = 0

    def implicit_matrices(self) -> tuple[PETSc.Mat, PETSc.Mat]:
        """Collective. The shell operator J and the preconditioning matrix P (L's layout)."""
        self.op = _ShiftedOperator(self.L)
        self.J = PETSc.Mat().createPython(self.L.getSizes(), self.op, comm=self.L.getComm())
        self.J.setUp()
        self.P = self.L.duplicate(copy=False)
        return self.J, self.P

    def rhs(self, ts, t, y, f):
        self.L.mult(y, f)
        self.rhs_count += 1

    def ifunction(self, ts, t, y, ydot, f):
        self.L.mult(y, f)
        f.aypx(-1.0, ydot)
        self.rhs_count += 1

    def ijacobian(self, ts, t, y, ydot, shift, J, P):
        if self.op.shift != shift:
            self.op.shift = float(shift)
            self.jacobian_updates += 1
        keep = self.pc_shift is not None and max(shift / self.pc_shift, self.pc_shift / shift) < self.pc_shift_ratio
        if not keep:
            self.L.copy(P, PETSc.Mat.Structure.SAME_NONZERO_PATTERN)
            P.scale(-1.0)
            P.shift(shift)
            self.pc_shift = float(shift)
            self.pc_setups += 1

    def destroy(self):
        for m in (self.J, self.P):
            if m is not None:
                m.destroy()


def _subtype(ts: PETSc.TS, ts_type: str) -> str:
    if ts_type == "rk":
        return str(ts.getRKType())
    if ts_type == "arkimex":
        return str(ts.getARKIMEXType())
    if ts_type == "rosw":
        return PETSc.Options().getString(PREFIX + "ts_rosw_type", "ra34pw2")
    return ""


def _set_up(ts: PETSc.TS, problem: "_LinearTS", settings: DynamicsSettings) -> tuple[str, str, str]:
    """Collective. TS from the options in force (call inside petsc_options): the right-hand side
    for explicit types, IFunction/IJacobian otherwise. Returns (type, subtype, output mode)."""
    ts.setOptionsPrefix(PREFIX)
    ts.setProblemType(PETSc.TS.ProblemType.LINEAR)
    ts.setFromOptions()
    ts_type = str(ts.getType())
    if ts_type in EXPLICIT_TYPES:
        ts.setRHSFunction(problem.rhs)
    else:
        J, P = problem.implicit_matrices()
        ts.setIFunction(problem.ifunction)
        ts.setIJacobian(problem.ijacobian, J, P)
        if ts_type == "arkimex":
            ts.setARKIMEXFullyImplicit(True)
    subtype = _subtype(ts, ts_type)
    mode = settings.output
    if mode == "auto":
        mode = "interpolate" if (ts_type, subtype) in DENSE_OUTPUT else "step"
    if mode not in ("interpolate", "step"):
        raise ValueError(f"output {settings.output!r}: allowed are 'auto', 'interpolate', 'step'")
    return ts_type, subtype, mode


class _Checkpoint:
    def __repr__(self):
        return "CHECKPOINT"


# What an evolve() callback returns to have the state stored (on_checkpoint) without stopping.
CHECKPOINT = _Checkpoint()
_GO, _SAVE, _STOP, _FAILED = 0, 1, 2, 3


class CallbackFailed(RuntimeError):
    """Raised by evolve() on every rank when its callback or on_checkpoint raised on any rank;
    the message is the failing rank's (the same on every rank), chained to its exception there."""


def _agreed(mpi, action: Callable[[], object]) -> int:
    """Collective. Run action() on every rank and agree on its outcome (max over ranks): _GO,
    _SAVE (it returned CHECKPOINT), _STOP (another true value) or, if it raised on any rank,
    CallbackFailed on every rank with that rank's message."""
    error = None
    try:
        result = action()
        code = _SAVE if result is CHECKPOINT else _STOP if result else _GO
    except Exception as exc:                                  # noqa: BLE001 -- re-raised on every rank below
        code, error = _FAILED, exc
    code = mpi.allreduce(code, op=_mpi_max())                 # the same decision on every rank
    if code == _FAILED:
        texts = mpi.allgather(None if error is None else f"{type(error).__name__}: {error}")
        message = next(t for t in texts if t is not None)
        raise CallbackFailed(f"the output callback failed: {message}") from error
    return code


def run_agreed(comm, action: Callable[[], object]) -> None:
    """Collective on comm (PETSc or mpi4py). Run action() on every rank; if it raises on any rank,
    every rank raises CallbackFailed with that rank's message (its return value is ignored)."""
    def quiet():
        action()

    _agreed(comm.tompi4py() if hasattr(comm, "tompi4py") else comm, quiet)


def evolve(op: HeomOperator, y0: PETSc.Vec, t0: float, times: Sequence[float], settings: DynamicsSettings,
           callback: Callable[[TransientObservables], object] | None = None, dt0: float | None = None,
           emit_initial: bool = False,
           on_checkpoint: Callable[[float, PETSc.Vec, float, dict], None] | None = None) -> EvolutionResult:
    """Collective. Integrate dy/dt = L y from y(t0) = y0 and report the observables at `times`.

    times: increasing output times > t0 (output_times()); the run ends at times[-1] exactly.
    callback(obs): called on every rank, in time order, as each output time is passed (so a
    driver can write the row at once); if it returns a true value on any rank, the run stops at
    the end of the current step and the result is a checkpoint (state and time of that step;
    every output time up to it has been reported); if it returns CHECKPOINT on any rank (and
    none asks to stop), on_checkpoint(t, y, dt, counts) is called on every rank at the end of that
    step, with the state y at t (every output time up to t reported), the next step dt and this
    run's counters so far (steps, rejected, rhs_evaluations, wall_s), and the run goes on
    unchanged (a restart from (y, t, dt) is what a stop would have returned). If the
    callback or on_checkpoint raises on any rank, every rank raises CallbackFailed with its
    message, so no rank is left waiting. emit_initial: report t0's observables first.
    dt0: the first step (default settings.dt0; a restart passes the previous result's time_step).
    y0 is not modified. Restart: evolve(op, result.state, result.time, later_times, ...).
    """
    times = np.asarray(times, dtype=float)
    if times.ndim != 1 or times.size == 0 or times[0] <= t0 or np.any(np.diff(times) <= 0):
        raise ValueError("output times must increase and lie after t0")
    mpi = op.comm.tompi4py()
    t_wall = time.perf_counter()
    problem = _LinearTS(op.L, settings.pc_shift_ratio)
    ts = PETSc.TS().create(comm=op.comm)
    gather = EntryGatherer(y0, observed_indices(op))
    work, rate = y0.duplicate(), y0.duplicate()
    y = y0.copy()
    emitted: list[TransientObservables] = []
    state = {"next": 0, "stop": False}

    def report(t: float, vec: PETSc.Vec) -> int:
        op.L.mult(vec, rate)
        problem.rhs_count += 1
        obs = transient_observables(t, gather(vec), gather(rate), op.hier, op.modes, op.pauli.coupling_vectors,
                                    op.delta)
        emitted.append(obs)
        return _agreed(mpi, lambda: callback(obs) if callback is not None else None)

    def conclude(code: int, t: float, vec: PETSc.Vec, dt: float) -> bool:
        """Act on the agreed code of the outputs at t: True to stop."""
        if code == _SAVE and on_checkpoint is not None:
            counts = {"steps": int(ts.getStepNumber()), "rejected": int(ts.getStepRejections()),
                      "rhs_evaluations": problem.rhs_count, "wall_s": time.perf_counter() - t_wall}
            run_agreed(op.comm, lambda: on_checkpoint(t, vec, dt, counts))
        return code == _STOP

    try:
        # the options stay in the database for the whole run: block Jacobi reads its sub-solver
        # options (-nesb_sub_pc_type ...) only when the first stage solve sets it up
        with petsc_options(default_options(settings), settings.petsc_options) as effective:
            ts_type, subtype, mode = _set_up(ts, problem, settings)
            ts.setTime(t0)
            ts.setTimeStep(settings.dt0 if dt0 is None else dt0)
            ts.setMaxSteps(settings.max_steps)
            ts.setExactFinalTime(PETSc.TS.ExactFinalTime.MATCHSTEP)
            ts.setSolution(y)

            if emit_initial and conclude(report(t0, y), t0, y, ts.getTimeStep()):
                state["stop"] = True

            def post_step(ts_):
                t_now = ts_.getTime()
                tol = 1e-12 * max(1.0, abs(t_now))
                code = _GO
                while state["next"] < times.size and times[state["next"]] <= t_now + tol:
                    t_out = float(times[state["next"]])
                    if abs(t_out - t_now) <= tol:
                        vec = ts_.getSolution()
                    else:
                        ts_.interpolate(t_out, work)
                        vec = work
                    state["next"] += 1
                    code = max(code, report(t_out, vec))
                if conclude(code, t_now, ts_.getSolution(), ts_.getTimeStep()):
                    state["stop"] = True
                    ts_.setConvergedReason(PETSc.TS.ConvergedReason.CONVERGED_USER)

            ts.setPostStep(post_step)
            targets = [times[-1]] if mode == "interpolate" else list(times)
            for target in targets:
                if state["stop"]:
                    break
                ts.setMaxTime(float(target))
                ts.solve(y)
                if ts.getConvergedReason() < 0:
                    break
        reason_code = ts.getConvergedReason()
        completed = state["next"] == times.size and reason_code > 0
        ksp_its = ts.getKSPIterations() if ts_type not in EXPLICIT_TYPES else 0
        result = EvolutionResult(
            y, float(ts.getTime()), float(ts.getTimeStep()), emitted, bool(completed), _reason_name(reason_code),
            int(ts.getStepNumber()), int(ts.getStepRejections()), problem.rhs_count, int(ksp_its),
            problem.jacobian_updates, problem.pc_setups, mpi.allreduce(time.perf_counter() - t_wall, op=_mpi_max()),
            ts_type if not subtype else f"{ts_type}/{subtype}", mode, effective)
        y = None
        return result
    finally:
        if y is not None:
            y.destroy()
        for obj in (work, rate, ts):
            obj.destroy()
        gather.destroy()
        problem.destroy()


def probe_options(settings: DynamicsSettings) -> list[str] | None:
    """Not collective (COMM_SELF; every rank may call it). Set TS up with the options in force as
    evolve() does and take a few steps of a tiny stable system (8 unknowns, block size 4), so that
    an implicit type's stage solve reads its KSP/PC options too. Returns the names of
    settings.petsc_options (the input's, without the prefix) that PETSc never read (typos, or
    options of another type), or None if PETSc cannot tell. Raises solver_options.OptionsRejected
    with PETSc's message if it refuses a value (e.g. ts_type = "nonexistent")."""
    from . import petsc_env
    from .solver_options import OptionsRejected, petsc_error_text

    A = PETSc.Mat().createAIJ((8, 8), bsize=BS, nnz=2, comm=PETSc.COMM_SELF)
    for i in range(8):
        A.setValue(i, i, -1.0 - i)
        A.setValue(i, (i + 4) % 8, 0.5)
    A.assemble()
    problem = _LinearTS(A, settings.pc_shift_ratio)
    ts = PETSc.TS().create(comm=PETSc.COMM_SELF)
    y = A.createVecRight()
    y.set(1.0)
    try:
        with petsc_options(default_options(settings), settings.petsc_options):
            _set_up(ts, problem, settings)
            ts.setTime(0.0)
            ts.setTimeStep(0.01)
            ts.setMaxTime(0.05)
            ts.setMaxSteps(50)
            ts.setExactFinalTime(PETSc.TS.ExactFinalTime.MATCHSTEP)
            ts.solve(y)
            left = petsc_env.unused_options()
    except PETSc.Error as exc:
        raise OptionsRejected(f"the time evolution: {petsc_error_text(exc)}") from None
    finally:
        for obj in (ts, y, A):
            obj.destroy()
        problem.destroy()
    if left is None:
        return None
    left = set(left)
    return sorted(name for name, _ in settings.petsc_options if PREFIX + name in left)


def _reason_name(reason: int) -> str:
    cls = PETSc.TS.ConvergedReason
    for name in dir(cls):
        if not name.startswith("_") and getattr(cls, name) == reason:
            return name
    return str(reason)


def _mpi_max():
    from mpi4py import MPI

    return MPI.MAX
