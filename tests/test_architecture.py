"""The package's shape (docs/architecture.md): no module over 600 lines, no import cycle, and
PETSc only where the solver layers need it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "nesb_hpc"
MODULES = sorted(PACKAGE.rglob("*.py"))
PETSC_LAYERS = {"assembly", "steady_state", "solver_options", "noise", "point", "heom_states", "dynamics", "petsc_env",
                "driver", "__main__", "tier_sweep"}


def _name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Package modules imported anywhere in the file (module level and inside functions)."""
    name = _name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.startswith("nesb_hpc"):
                out.add(target)
                out.update(f"{target}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("nesb_hpc"))
    known = {_name(p) for p in MODULES}
    return {t for t in out if t in known and t != name}


@pytest.mark.parametrize("path", MODULES, ids=_name)
def test_no_module_over_600_lines(path):
    assert len(path.read_text().splitlines()) <= 600


def test_no_import_cycle():
    graph = {_name(p): _imports(p) for p in MODULES}
    # a package's __init__ re-exporting its submodules is not a cycle through them
    for name in graph:
        graph[name] = {t for t in graph[name] if not name.startswith(t + ".") or t == "nesb_hpc"}
    graph["nesb_hpc"] = set()
    state: dict[str, int] = {}

    def visit(node, stack):
        state[node] = 1
        for nxt in graph.get(node, ()):
            if state.get(nxt) == 1:
                raise AssertionError(" -> ".join(stack + [node, nxt]))
            if nxt not in state:
                visit(nxt, stack + [node])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [])


@pytest.mark.parametrize("path", [p for p in MODULES if _name(p).split(".")[-1] not in PETSC_LAYERS], ids=_name)
def test_petsc_only_in_the_solver_layers(path):
    tree = ast.parse(path.read_text())
    names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert not any(m.startswith(("petsc4py", "slepc4py")) for m in names), _name(path)
