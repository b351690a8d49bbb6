#!/usr/bin/env bash
# Idempotent set-up of .venv-numpy2: a plain virtual environment (no system packages) with numpy 2
# and the package's other pure dependencies from the package index, and no MPI/PETSc stack (mpi4py,
# petsc4py, slepc4py). `make test-numpy2` runs there every test that needs no PETSc, as a user of
# conda-forge's numpy-2 stack or of the pure parts (config, baths, analytic theory, --dry-run,
# results files, plots) would have it.
#
# The requirement lists come from pyproject.toml (scripts/requirements.py: the dependencies less
# the MPI/PETSc stack, and the `test` extra), with numpy >= 2 on top. A stamp newer than
# pyproject.toml and this script means done; delete .venv-numpy2 to get the newest releases.
set -euo pipefail
self=$(readlink -f "$0")
cd "$(dirname "$self")/.."

venv=.venv-numpy2
stamp=$venv/.nesb-setup-done
if [ -f "$stamp" ] && [ "$stamp" -nt pyproject.toml ] && [ "$stamp" -nt "$self" ]; then
  exit 0
fi

if [ ! -x $venv/bin/python ]; then
  echo "setup-numpy2: creating $venv (numpy 2 from the package index, no PETSc/MPI)"
  /usr/bin/python3 -m venv $venv
fi
pure=$(/usr/bin/python3 scripts/requirements.py pure)
test=$(/usr/bin/python3 scripts/requirements.py test)
mapfile -t requirements <<< "$pure"$'\n'"$test"
echo "setup-numpy2: installing numpy>=2 ${requirements[*]}"
$venv/bin/python -m pip install -q --disable-pip-version-check "numpy>=2" "${requirements[@]}"
$venv/bin/python -m pip install -q --disable-pip-version-check --no-deps -e .
$venv/bin/python - <<'PY'
import importlib.util, sys
import numpy
if int(numpy.__version__.split(".")[0]) < 2:
    sys.exit(f"setup-numpy2: numpy {numpy.__version__} installed, expected >= 2")
present = [m for m in ("mpi4py", "petsc4py", "slepc4py") if importlib.util.find_spec(m)]
if present:
    sys.exit(f"setup-numpy2: {', '.join(present)} present in .venv-numpy2, which must have no MPI/PETSc stack")
print(f"setup-numpy2: numpy {numpy.__version__}, no MPI/PETSc stack")
PY
touch "$stamp"
