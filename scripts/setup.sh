#!/usr/bin/env bash
# Idempotent set-up of a fresh Debian 12 machine for nesb_hpc (see README.md).
#
# 1. the system PETSc/SLEPc/MPI stack from Debian's packages (real and complex builds),
# 2. a virtual environment .venv that sees it (--system-site-packages; numpy stays < 2, Debian's 1.24),
# 3. nesb_hpc installed editable with its test extras.
#
# A stamp file records success, so later calls return at once. On a cluster, do not run this:
# load your site's PETSc/SLEPc/mpi4py and `pip install -e .` (README.md, "On a cluster").
set -euo pipefail
cd "$(dirname "$0")/.."

stamp=.venv/.nesb-setup-done
if [ -f "$stamp" ] && [ "$stamp" -nt pyproject.toml ]; then
  exit 0
fi

debs=(python3-petsc4py python3-slepc4py python3-petsc4py-real python3-slepc4py-real
      python3-petsc4py-complex python3-slepc4py-complex python3-mpi4py python3-h5py
      python3-numpy python3-scipy python3-matplotlib openmpi-bin python3-venv python3-pip)
missing=()
for d in "${debs[@]}"; do
  dpkg-query -W -f='${Status}' "$d" 2>/dev/null | grep -q "install ok installed" || missing+=("$d")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv (sees the system PETSc/SLEPc stack)"
  /usr/bin/python3 -m venv --system-site-packages .venv
fi
echo "setup: installing nesb_hpc (editable) and test tools into .venv"
# --no-deps: the Debian stack already provides mpi4py/petsc4py/slepc4py/h5py/numpy under names
# pip does not always recognise (h5py is 'h5py.-debian-h5py-serial'); pip must not replace them.
.venv/bin/python -m pip install -q --disable-pip-version-check --no-deps -e .
# The test tools: pyproject's `test` extra. Debian's petsc4py/slepc4py 3.18 are built against numpy
# 1.x, so nothing pip installs here may bring numpy 2 in over Debian's numpy: this is the project's
# only numpy pin (the package itself takes numpy 1 or 2; make test-numpy2 runs under numpy 2).
echo 'numpy<2' > .venv/constraints-debian.txt
requirements=$(/usr/bin/python3 scripts/requirements.py test)
mapfile -t test_requirements <<< "$requirements"
.venv/bin/python -m pip install -q --disable-pip-version-check -c .venv/constraints-debian.txt "${test_requirements[@]}"
touch "$stamp"
echo "setup: done"
