"""The shipped study inputs and SLURM scripts: every input validates and sizes (--dry-run), the
scripts parse, and run-study.sh passes the time-limit signal on and resubmits (with stand-ins for
the launcher, sbatch and scontrol: no SLURM needed)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from nesb_hpc.config import load_config
from nesb_hpc.planning import dry_run_report
from nesb_hpc.study import build_study

REPO = Path(__file__).resolve().parents[2]
# every study input shipped (the paper's figures, their checks, the demo sweep); default.toml is a point
INPUTS = sorted(p for p in (REPO / "input").glob("*.toml") if p.name != "default.toml")


@pytest.mark.parametrize("path", INPUTS, ids=lambda p: p.name)
def test_inputs_validate_and_size(path):
    cfg = load_config(path)
    assert cfg.study.kind != "point"
    study = build_study(cfg)
    assert len(study.tasks) >= 2
    report = dry_run_report(cfg, 128)
    assert f"{len(study.tasks)} points" in report and "ADOs" in report
    for line in path.read_text().splitlines():  # commented for the reader, like input/default.toml
        if "=" in line and not line.lstrip().startswith("#") and not line.startswith(("[", " ")):
            assert "#" in line, line


def test_every_figure_has_an_input_and_a_job():
    names = {p.stem for p in INPUTS}
    assert {"fig1a", "fig1b", "fig2a", "fig2b", "fig3", "fig4"} <= names
    script = (REPO / "jobs" / "paper-figures.sbatch").read_text()
    for name in ("fig1a", "fig1b", "fig2a", "fig2b", "fig3", "fig4", "fig1a-nbose2"):
        assert f"input/{name}.toml" in script


def test_sweep_demo_is_small():
    cfg = load_config(REPO / "input" / "sweep-demo.toml")
    assert len(build_study(cfg).tasks) == 8 and cfg.hierarchy.depth <= 4
    assert cfg.output.overwrite is False  # re-running it resumes


@pytest.mark.parametrize("script", sorted((REPO / "jobs").glob("*.sbatch")) + [REPO / "jobs" / "run-study.sh"],
                         ids=lambda p: p.name)
def test_scripts_parse_and_have_their_headers(script):
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    text = script.read_text()
    if script.suffix == ".sbatch":
        for option in ("--nodes", "--ntasks-per-node", "--time", "--signal=B:USR1@", "--output"):
            assert f"#SBATCH {option}" in text, option
        assert "jobs/run-study.sh" in text


FAKE_PYTHON = """\
#!/bin/bash
# stands in for "python -m nesb_hpc INPUT ...": runs until SIGUSR1, then exits like nesb_hpc would
echo "fake nesb_hpc $*"
trap 'echo "fake: stopping"; exit 138' USR1
for i in $(seq 1 600); do sleep 0.1; done
exit 0
"""


def test_run_study_passes_the_signal_on_and_resubmits(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "fakepython").write_text(FAKE_PYTHON)
    (bin_dir / "sbatch").write_text(f'#!/bin/bash\necho "$@" >> {tmp_path}/sbatch.calls\necho 4242\n')
    (bin_dir / "scontrol").write_text('#!/bin/bash\necho "JobId=$3 Command=/site/jobs/study.sbatch WorkDir=/x"\n')
    for f in bin_dir.iterdir():
        f.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "SLURM_JOB_ID": "1234", "NESB_LAUNCH": "",
           "NESB_PYTHON": str(bin_dir / "fakepython"), "NESB_ATTEMPT": "3"}
    proc = subprocess.Popen(["bash", str(REPO / "jobs" / "run-study.sh"), "in.toml", "--ranks-per-point", "2",
                             "--", "in.toml", "--ranks-per-point", "2"], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    time.sleep(1.0)
    proc.send_signal(signal.SIGUSR1)  # what SLURM's --signal=B:USR1@T does to the batch shell
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 138, out
    assert "fake nesb_hpc -m nesb_hpc in.toml --ranks-per-point 2" in out and "fake: stopping" in out
    assert "attempt 3 of at most 10" in out and "resubmitted as job 4242" in out
    calls = (tmp_path / "sbatch.calls").read_text().split()
    assert calls == ["--parsable", "--dependency=afterany:1234", "--export=ALL,NESB_ATTEMPT=4",
                     "/site/jobs/study.sbatch", "in.toml", "--ranks-per-point", "2"]


def test_run_study_does_not_resubmit_a_bad_input_or_past_the_limit(tmp_path):
    fake = tmp_path / "fakepython"
    fake.write_text("#!/bin/bash\nexit 2\n")
    fake.chmod(0o755)
    env = {**os.environ, "SLURM_JOB_ID": "1", "NESB_LAUNCH": "", "NESB_PYTHON": str(fake)}
    done = subprocess.run(["bash", str(REPO / "jobs" / "run-study.sh"), "in.toml", "--"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 2 and "not resubmitted" in done.stdout
    fake.write_text("#!/bin/bash\nexit 138\n")
    env["NESB_ATTEMPT"] = "10"
    done = subprocess.run(["bash", str(REPO / "jobs" / "run-study.sh"), "in.toml", "--"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 138 and "submit the same job again" in done.stdout
