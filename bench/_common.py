"""Shared pieces of the benchmark harness: machine description, bounded subprocess runs, tables.

Nothing here imports PETSc or MPI: the drivers (run_bench.py, qutip_compare.py) run in a plain
process and start one bounded subprocess per measurement, so that every peak-memory figure belongs
to that measurement alone (ru_maxrss is a per-process high-water mark).
"""

from __future__ import annotations

import json
import os
import platform
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
NESB_PYTHON = REPO / ".venv" / "bin" / "python"
QUTIP_PYTHON = BENCH / ".venv-qutip" / "bin" / "python"
GIB = 2.0**30

# Open MPI as root / oversubscription as in the Makefile; one thread per rank (the ranks are the
# parallelism, and QuTiP's SuperLU gets the same single core per process for a fair comparison).
RUN_ENV = {
    "OMPI_ALLOW_RUN_AS_ROOT": "1",
    "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
    "OMPI_MCA_rmaps_base_oversubscribe": "1",
    "OMPI_MCA_btl_vader_single_copy_mechanism": "none",
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "PETSC_DIR": os.environ.get("PETSC_DIR", "/usr/lib/petscdir/petsc3.18/x86_64-linux-gnu-real"),
    "SLEPC_DIR": os.environ.get("SLEPC_DIR", "/usr/lib/slepcdir/slepc3.18/x86_64-linux-gnu-real"),
}


def machine() -> dict:
    """CPU model and core count from /proc/cpuinfo, memory from /proc/meminfo, load now."""
    model, cores = "unknown", os.cpu_count() or 0
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            lines = fh.read().splitlines()
        models = [ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("model name")]
        if models:
            model, cores = models[0], len(models)
    except OSError:
        pass
    mem_gib = float("nan")
    try:
        with open("/proc/meminfo", encoding="utf-8") as fh:
            for ln in fh:
                if ln.startswith("MemTotal:"):
                    mem_gib = int(ln.split()[1]) / 2**20
    except OSError:
        pass
    return {"cpu": model, "cores": cores, "mem_gib": round(mem_gib, 1), "host": platform.node(),
            "load_1min": os.getloadavg()[0], "nesb_hpc_git": git_revision()}


def git_revision() -> str:
    """The repository's commit, with "+dirty" if nesb_hpc/ has uncommitted changes."""
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True,
                             timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "nesb_hpc"], cwd=REPO, capture_output=True,
                               text=True, timeout=10).stdout.strip()
        return rev + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def available_gib() -> float:
    with open("/proc/meminfo", encoding="utf-8") as fh:
        for ln in fh:
            if ln.startswith("MemAvailable:"):
                return int(ln.split()[1]) / 2**20
    return float("nan")


def cpu_busy_jiffies() -> int:
    """Busy (non-idle, non-iowait) jiffies of all CPUs since boot, from /proc/stat."""
    with open("/proc/stat", encoding="utf-8") as fh:
        f = [int(x) for x in fh.readline().split()[1:]]
    return sum(f) - f[3] - f[4]


def other_cores_busy(seconds: float = 2.0) -> float:
    """Average number of cores busy over `seconds` (we are idle meanwhile: everything is someone else's)."""
    hz = os.sysconf("SC_CLK_TCK")
    a = cpu_busy_jiffies()
    time.sleep(seconds)
    return (cpu_busy_jiffies() - a) / hz / seconds


def wait_for_quiet(max_busy: float, max_wait_s: float) -> float:
    """Wait (up to max_wait_s) until other processes keep fewer than max_busy cores busy; returns the last reading."""
    t0 = time.time()
    busy = other_cores_busy()
    while busy > max_busy and time.time() - t0 < max_wait_s:
        time.sleep(10)
        busy = other_cores_busy()
    return busy


def _session_procs(sid: int, cpu: dict | None = None) -> list[tuple[int, int]]:
    """(pid, rss bytes) of every process of session `sid` (our subprocess tree); cpu[pid] = utime + stime jiffies."""
    out = []
    page = os.sysconf("SC_PAGE_SIZE")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8") as fh:
                stat = fh.read()
            fields = stat[stat.rindex(")") + 2:].split()
            if int(fields[3]) != sid:        # field 6 of stat: session id
                continue
            out.append((int(entry), int(fields[21]) * page))  # field 24: rss in pages
            if cpu is not None:
                cpu[int(entry)] = int(fields[11]) + int(fields[12])  # fields 14, 15: utime, stime
        except (OSError, ValueError, IndexError):
            continue
    return out


def _session_rss_bytes(sid: int) -> int:
    return sum(rss for _, rss in _session_procs(sid))


def run_bounded(cmd: list[str], timeout_s: float, mem_limit_gib: float, env_extra: dict | None = None,
                cwd: Path = REPO) -> dict:
    """Run cmd in its own session; kill the whole session on timeout or when its RSS passes the limit.

    Returns {"rc", "stdout", "stderr", "wall_s", "killed" (None | "timeout" | "memory"),
    "max_tree_rss_gib"} and never leaves a process behind.
    """
    env = {**os.environ, **RUN_ENV, **(env_extra or {})}
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            cwd=str(cwd), start_new_session=True)
    killed, peak = None, 0
    busy0 = cpu_busy_jiffies()
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    timeline = []  # (epoch seconds, largest single-process RSS in bytes): per-phase peaks of a rank
    out_chunks, err_chunks = [], []
    # a reader thread per pipe so a chatty child never blocks on a full pipe
    import threading

    def drain(stream, sink):
        for line in stream:
            sink.append(line)

    readers = [threading.Thread(target=drain, args=(proc.stdout, out_chunks), daemon=True),
               threading.Thread(target=drain, args=(proc.stderr, err_chunks), daemon=True)]
    for r in readers:
        r.start()
    try:
        while proc.poll() is None:
            procs = _session_procs(proc.pid)
            rss = sum(r for _, r in procs)
            peak = max(peak, rss)
            timeline.append((time.time(), max((r for _, r in procs), default=0)))
            if rss > mem_limit_gib * GIB:
                killed = "memory"
                break
            if time.perf_counter() - t0 > timeout_s:
                killed = "timeout"
                break
            time.sleep(0.25)
    finally:
        if proc.poll() is None or _session_procs(proc.pid):
            _kill_session(proc)
    for r in readers:
        r.join(timeout=10)
    elapsed = time.perf_counter() - t0
    hz = os.sysconf("SC_CLK_TCK")
    # cores kept busy by other users' processes during the run: all CPUs' busy time minus our
    # tree's (mpirun waits for its ranks, we wait for mpirun: RUSAGE_CHILDREN holds them all)
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    ours = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    others = max(0.0, ((cpu_busy_jiffies() - busy0) / hz - ours) / max(elapsed, 1e-9))
    return {"others_cores_busy": others, "rc": proc.returncode, "stdout": "".join(out_chunks), "stderr": "".join(err_chunks),
            "wall_s": time.perf_counter() - t0, "killed": killed, "max_tree_rss_gib": peak / GIB,
            "timeline": timeline}


def phase_peaks(rec: dict, timeline: list) -> dict:
    """Largest single-process RSS (MiB) seen by the watcher in each phase of a _point.py record.

    Phases from the record's timings: rows, assembly (MatCreate from CSR), solve (KSP setup +
    solve), laid out from its epoch start time; the watcher samples every 0.25 s, so phases
    shorter than that may show no sample (None).
    """
    if "t_point_start_epoch" not in rec:
        return {}
    t = rec["t_point_start_epoch"]
    bounds = {}
    for name, dur in (("rows", rec["rows_s"]), ("assembly", rec["matassembly_s"]), ("solve", rec["solve_s"])):
        bounds[name] = (t, t + dur)
        t += dur
    out = {}
    for name, (a, b) in bounds.items():
        vals = [r for ts, r in timeline if a <= ts <= b]
        out[name] = max(vals) / 2**20 if vals else None
    return out


def _kill_session(proc: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL, to the session we created (our child and whatever it started)."""
    for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        # MPI ranks may sit in process groups of their own: signal each by pid
        for pid, _ in _session_procs(proc.pid):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
        deadline = time.time() + wait
        while _session_procs(proc.pid) and time.time() < deadline:
            time.sleep(0.2)
        if not _session_procs(proc.pid):
            return


def last_json(stdout: str) -> dict | None:
    """The last line of stdout that parses as a JSON object (the worker's record)."""
    for line in reversed(stdout.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                continue
    return None


# a record in results.json replaces an earlier one with the same key
KEY = ("tool", "problem", "ranks", "alpha", "depth", "n_bose", "decomposition", "method", "matrix_type",
       "extra_petsc", "T1", "T2", "modes")


def record_key(rec: dict) -> tuple:
    # records from before the merged form have no "modes": they are the separate form
    return tuple(rec.get(k, "separate" if k == "modes" else None) for k in KEY)


def store(path: Path, rec: dict) -> None:
    """Add rec to the JSON list at path, replacing a record with the same key."""
    keep = [r for r in load_results(path) if record_key(r) != record_key(rec)]
    save_results(path, keep + [rec])


def with_model(rec: dict) -> dict:
    """rec plus nesb_hpc.sizing's peak of the largest rank (a priori and a posteriori,
    bench/memory_model.py) and its ratios to the measured peak, computed afresh from the record's
    parameters (so reports always show the current model; "estimate_mb" is the estimate the run
    itself recorded, with the sizing of its day). Keys of an older model ("model2_*") are ignored."""
    if rec.get("status") != "ok" or rec.get("tool") != "nesb_hpc" or not rec.get("peak_rss_mb"):
        return rec
    import memory_model

    model = memory_model.for_record(rec)
    if not model:
        return rec
    return {**rec, **model, "sizing_ratio": model["sizing_mb"] / rec["peak_rss_mb"],
            "sizing_posterior_ratio": model["sizing_posterior_mb"] / rec["peak_rss_mb"]}


def assembly_wall_s(rec: dict) -> float:
    """Rows + matrix assembly as wall time: total (slowest rank, start to solved) minus the KSP part."""
    return rec["total_s"] - rec["solve_s"]


def markdown_table(header: list[str], rows: list[list]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def fmt(x, spec: str = ".3g", none: str = "-") -> str:
    if x is None:
        return none
    try:
        if x != x:  # nan
            return none
    except TypeError:
        return str(x)
    return format(x, spec)


def load_results(path: Path) -> list[dict]:
    if path.exists():
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    return []


def save_results(path: Path, records: list[dict]) -> None:
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(records, fh, indent=1)
        fh.write("\n")
    os.replace(tmp, path)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)
