"""Selecting and initialising PETSc before petsc4py is imported.

Debian's petsc4py picks its PETSc build from PETSC_DIR/SLEPC_DIR and has no default. If they are
unset and Debian's real-scalar 3.18 build is present, use it; anything a user or a site module
set wins. Clusters bring their own PETSc (README.md, "On a cluster").
"""

from __future__ import annotations

import os
import sys

_DEBIAN = {
    "PETSC_DIR": "/usr/lib/petscdir/petsc3.18/x86_64-linux-gnu-real",
    "SLEPC_DIR": "/usr/lib/slepcdir/slepc3.18/x86_64-linux-gnu-real",
}


def select_default_build() -> None:
    """Set PETSC_DIR/SLEPC_DIR to Debian's real build if unset and present (no-op otherwise)."""
    for var, path in _DEBIAN.items():
        if var not in os.environ and os.path.isdir(path):
            os.environ[var] = path
        # Debian's petsc4py.pth/slepc4py.pth read the variables at interpreter start-up; if they
        # were set only now, put the build's Python directory on sys.path the same way.
        if var in os.environ:
            site = os.path.join(os.environ[var], "lib", "python3", "dist-packages")
            if os.path.isdir(site) and site not in sys.path:
                sys.path.append(site)


def init(argv: list[str] | None = None) -> None:
    """petsc4py.init(argv) and slepc4py.init(argv) so command-line PETSc options are seen.

    Must run before the first `from petsc4py import PETSc` (later calls are harmless no-ops).
    """
    select_default_build()
    import petsc4py
    import slepc4py

    args = ["nesb_hpc"] + list(argv or [])
    petsc4py.init(args)
    slepc4py.init(args)


def _petsc_library():
    """The loaded libpetsc as a ctypes library (Linux: found in /proc/self/maps), or None."""
    import ctypes

    try:
        with open("/proc/self/maps", encoding="ascii", errors="replace") as fh:
            paths = [line.split()[-1] for line in fh if "libpetsc" in line and "/" in line]
    except OSError:
        return None
    for path in dict.fromkeys(paths):
        try:
            return ctypes.CDLL(path)
        except OSError:
            continue
    return None


def unused_options() -> list[str] | None:
    """Names (without the leading "-") of options in PETSc's database that no object has read
    yet: PETSc's own left-over check (PetscOptionsLeftGet), or None where the library cannot be
    reached from Python (then nothing can be said). Call after petsc4py is initialised."""
    import ctypes

    from petsc4py import PETSc

    lib = _petsc_library()
    if lib is None or not hasattr(lib, "PetscOptionsLeftGet"):
        return None
    int_type = ctypes.c_int64 if PETSc.IntType().itemsize == 8 else ctypes.c_int32
    strings = ctypes.POINTER(ctypes.c_char_p)
    get, restore = lib.PetscOptionsLeftGet, lib.PetscOptionsLeftRestore
    get.argtypes = restore.argtypes = [ctypes.c_void_p, ctypes.POINTER(int_type), ctypes.POINTER(strings),
                                       ctypes.POINTER(strings)]
    n, names, values = int_type(0), strings(), strings()
    if get(None, ctypes.byref(n), ctypes.byref(names), ctypes.byref(values)) != 0:
        return None
    out = [names[i].decode(errors="replace").lstrip("-") for i in range(n.value)]
    restore(None, ctypes.byref(n), ctypes.byref(names), ctypes.byref(values))
    return out
