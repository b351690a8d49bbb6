#!/bin/bash
# Run one nesb_hpc study inside a SLURM job: stop cleanly before the time limit, resubmit until
# the study is done, plot it at the end. Called by the sbatch scripts in this directory:
#
#   exec bash jobs/run-study.sh INPUT.toml [nesb_hpc options] -- [the sbatch script's own arguments]
#
# The sbatch scripts ask for `--signal=B:USR1@T`: T seconds before the time limit SLURM sends
# SIGUSR1 to this shell, which passes it to the launcher (srun and mpirun both forward SIGUSR1 to
# every rank). nesb_hpc then finishes the solves under way, writes them, and exits 138; this
# script submits the same job again (after this one ends), and the new job resumes the results
# file: finished points are skipped, stored solves reused. Choose T longer than the longest solve.
#
# Environment: NESB_LAUNCH (default "srun"; e.g. "mpirun"; "" for none), NESB_PYTHON (default "python"),
# NESB_MAX_ATTEMPTS (default 10), NESB_SCRIPT (the sbatch script to resubmit, if scontrol cannot
# tell), NESB_ATTEMPT (set by the resubmission).
set -uo pipefail

input=${1:?usage: run-study.sh INPUT.toml [nesb_hpc options] -- [sbatch script arguments]}
shift
options=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do options+=("$1"); shift; done
[ $# -gt 0 ] && shift
resubmit_args=("$@")

attempt=${NESB_ATTEMPT:-1}
max_attempts=${NESB_MAX_ATTEMPTS:-10}
launch=${NESB_LAUNCH-srun}   # set but empty: no launcher (one process)
python=${NESB_PYTHON:-python}
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1   # the ranks are the parallelism

echo "$(date '+%F %T') nesb_hpc job ${SLURM_JOB_ID:-(no SLURM)}, attempt $attempt of at most $max_attempts: $input ${options[*]:-}"
$launch $python -m nesb_hpc "$input" "${options[@]}" &
pid=$!
trap 'echo "$(date "+%F %T") time limit near: asking nesb_hpc to stop after the solves under way"; kill -USR1 $pid 2>/dev/null' USR1 TERM

rc=0
while :; do
    wait $pid; rc=$?
    kill -0 $pid 2>/dev/null || break   # still running: wait was interrupted by the trap
done
wait $pid 2>/dev/null; last=$?          # the launcher's own status, if the trap interrupted the last wait
[ $last -ne 127 ] && rc=$last

case $rc in
    0|3)
        [ $rc -eq 0 ] && echo "study complete" \
            || echo "study complete; some points failed or did not converge: see status and reason in the results file"
        results=$($python - "$input" <<'PY' 2>/dev/null
import sys
from nesb_hpc.config import load_config
print(load_config(sys.argv[1]).output.path)
PY
)
        [ -n "$results" ] && [ -f "$results" ] && $python -m nesb_hpc plot "$results" ;;
    130|138|143)
        if [ -n "${SLURM_JOB_ID:-}" ] && [ "$attempt" -lt "$max_attempts" ]; then
            script=${NESB_SCRIPT:-$(scontrol show job "$SLURM_JOB_ID" -o 2>/dev/null | sed -n 's/.* Command=\([^ ]*\).*/\1/p')}
            if [ -n "${SLURM_ARRAY_TASK_ID:-}" ]; then
                after=(--array="$SLURM_ARRAY_TASK_ID" --dependency="afterany:${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}")
            else
                after=(--dependency="afterany:$SLURM_JOB_ID")
            fi
            next=$(sbatch --parsable "${after[@]}" --export=ALL,NESB_ATTEMPT=$((attempt + 1)) "$script" "${resubmit_args[@]}")
            echo "stopped before the end (exit $rc): resubmitted as job $next, which resumes the results file"
        else
            echo "stopped before the end (exit $rc): submit the same job again to resume (attempt $attempt of $max_attempts)"
        fi ;;
    2)  echo "bad input, or the results file holds another input (exit 2): not resubmitted" ;;
    *)  echo "failed (exit $rc): not resubmitted; see the log above" ;;
esac
exit $rc
