#!/usr/bin/env bash
# Run pytest on every MPI rank; only rank 0 prints (a failure on any rank still fails mpirun).
rank=${OMPI_COMM_WORLD_RANK:-${PMI_RANK:-0}}
py=${PYTHON:-.venv/bin/python}
if [ "$rank" = "0" ]; then
  exec "$py" -m pytest -p no:cacheprovider --color=no "$@"
else
  exec "$py" -m pytest -p no:cacheprovider --color=no "$@" > /dev/null 2>&1
fi
