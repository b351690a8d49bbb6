"""docs/tutorial.md runs as written: its python code blocks, in order, in a scratch directory (one
namespace, as in a notebook). The tutorial's own asserts check what it claims."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

TUTORIAL = Path(__file__).resolve().parents[1] / "docs" / "tutorial.md"


@pytest.mark.petsc  # the tutorial solves points
def test_the_tutorial_runs(tmp_path, monkeypatch, capsys):
    blocks = re.findall(r"```python\n(.*?)```", TUTORIAL.read_text(), flags=re.S)
    assert len(blocks) >= 6
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for i, code in enumerate(blocks):
        exec(compile(code, f"{TUTORIAL.name} block {i + 1}", "exec"), namespace)
    text = capsys.readouterr().out
    assert "status ok" in text and "converged" in text and "wrote" in text
    assert (tmp_path / "tutorial-sweep-sweep.png").exists() and (tmp_path / "tutorial-ladder-converged.png").exists()
    assert (tmp_path / "tutorial-transient-dynamics.png").exists()
