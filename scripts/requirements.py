"""Print requirement lists from pyproject.toml, one a line, so the set-up scripts keep no copy.

    python3 scripts/requirements.py test    the `test` extra (what the tests import beyond the package)
    python3 scripts/requirements.py pure    the dependencies without the MPI/PETSc stack (mpi4py,
                                            petsc4py, slepc4py): what .venv-numpy2 installs

Needs Python >= 3.11 (tomllib), as Debian 12's python3 is.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"
MPI_PETSC_STACK = {"mpi4py", "petsc4py", "slepc4py"}


def _name(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def main(argv: list[str]) -> int:
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    if argv == ["test"]:
        out = project["optional-dependencies"]["test"]
    elif argv == ["pure"]:
        out = [r for r in project["dependencies"] if _name(r) not in MPI_PETSC_STACK]
    else:
        sys.stderr.write(__doc__)
        return 2
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
