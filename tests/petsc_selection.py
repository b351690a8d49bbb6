"""Which tests need PETSc/MPI: the rule behind the `petsc` marker (tests/conftest.py).

`make test-numpy2` runs the suite in a plain virtual environment with numpy 2 from the package
index and without petsc4py, slepc4py or mpi4py. There the tests marked `petsc` are skipped and the
rest must pass. conftest marks a test `petsc` when

1. it is mpi-marked (collective), or marked `petsc` by hand (for what no import shows: a
   subprocess under mpirun, a solve reached through a function that imports mpi4py inside), or
2. its test module cannot be imported without PETSc/MPI: a module-level import, followed through
   nesb_hpc's modules and the test helpers (heom_helpers), reaches petsc4py, slepc4py or mpi4py
   (in the environment without PETSc such a module is not imported at all, and is reported as
   one skipped module), or
3. the test function imports such a module (or petsc4py, slepc4py, mpi4py) in its body, or calls
   a function of its own file or of heom_helpers that does (followed by name, transitively;
   fixtures of the same file are followed as the test's arguments).

The analysis reads the source (ast) and imports nothing. A test the rule misses fails loudly in
the environment without PETSc (an ImportError), so a miss cannot pass unnoticed; a test it marks
is still run by `make test` in the Debian environment.
"""

from __future__ import annotations

import ast
from functools import lru_cache
from pathlib import Path

PETSC_PACKAGES = ("petsc4py", "slepc4py", "mpi4py")
TESTS = Path(__file__).resolve().parent
PACKAGE = TESTS.parent / "nesb_hpc"
HELPERS = {"heom_helpers": TESTS / "heom_helpers.py"}


def _module_path(name: str) -> Path | None:
    """The source of a nesb_hpc module or package, or of a test helper module."""
    if name in HELPERS:
        return HELPERS[name]
    if name != "nesb_hpc" and not name.startswith("nesb_hpc."):
        return None
    base = PACKAGE.parent.joinpath(*name.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _is_package(name: str) -> bool:
    path = _module_path(name)
    return path is not None and path.name == "__init__.py"


def _imported(node: ast.AST, importer: str) -> list[str]:
    """The modules an Import/ImportFrom node imports (absolute names, parents included: importing
    a.b.c runs a/__init__, a/b/__init__ first; `from pkg import sub` imports pkg.sub)."""
    names: list[str] = []
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
    elif isinstance(node, ast.ImportFrom):
        if node.level:
            package = importer if _is_package(importer) else importer.rpartition(".")[0]
            parts = package.split(".")
            parts = parts[: len(parts) - (node.level - 1)]
            base = ".".join(parts + ([node.module] if node.module else []))
        else:
            base = node.module or ""
        names = [base] + [f"{base}.{a.name}" for a in node.names if _module_path(f"{base}.{a.name}")]
    out = []
    for name in names:
        parts = name.split(".")
        out += [".".join(parts[: i + 1]) for i in range(len(parts))]
    return out


def _top_level_imports(tree: ast.Module, importer: str) -> list[str]:
    """Imports that run when the module is imported: not those inside function bodies."""
    out: list[str] = []
    stack: list[ast.AST] = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            continue
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            stack.extend(node.orelse)       # `if TYPE_CHECKING:` imports run only under a type checker
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            out += _imported(node, importer)
        stack.extend(ast.iter_child_nodes(node))
    return out


@lru_cache(maxsize=None)
def _parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


@lru_cache(maxsize=None)
def _edges(name: str) -> tuple[str, ...]:
    path = _module_path(name)
    return () if path is None else tuple(_top_level_imports(_parse(path), name))


@lru_cache(maxsize=None)
def _reaches_cached(name: str) -> bool:
    """Is `name` petsc4py/slepc4py/mpi4py, or a module whose import reaches them?"""
    seen, todo = set(), [name]
    while todo:
        mod = todo.pop()
        if mod in seen:
            continue
        seen.add(mod)
        if mod.split(".")[0] in PETSC_PACKAGES:
            return True
        todo.extend(_edges(mod))
    return False


def module_needs_petsc(path: Path) -> bool:
    """Can this test module not be imported without PETSc/MPI? (rule 2)"""
    return any(_reaches_cached(m) for m in _top_level_imports(_parse(path), path.stem))


@lru_cache(maxsize=None)
def _functions(tree: ast.Module) -> dict[str, ast.AST]:
    """Module-level functions (fixtures too) and classes' methods, by name ("Class.method")."""
    out: dict[str, ast.AST] = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            out[node.name] = node
        elif isinstance(node, ast.ClassDef):
            for sub in node.body:
                if isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    out[f"{node.name}.{sub.name}"] = sub
    return out


@lru_cache(maxsize=None)
def _helper_names(tree: ast.Module) -> dict[str, str]:
    """Names a test module imports from a helper module: local name -> helper module."""
    out = {}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and not node.level and node.module in HELPERS:
            for a in node.names:
                out[a.asname or a.name] = node.module
    return out


def _function_needs_petsc(path: Path, name: str, seen: set) -> bool:
    key = (path, name)
    if key in seen:
        return False
    seen.add(key)
    tree = _parse(path)
    local = _functions(tree)
    func = local.get(name)
    if func is None:
        return False
    importer = path.stem if path.parent == TESTS else ""
    helpers = _helper_names(tree)
    referenced = {a.arg for a in func.args.args + func.args.kwonlyargs}
    for node in ast.walk(func):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            if any(_reaches_cached(m) for m in _imported(node, importer)):
                return True
        elif isinstance(node, ast.Name):
            referenced.add(node.id)
    cls = name.split(".")[0] if "." in name else None
    for ref in referenced:
        if ref in local and ref != name and _function_needs_petsc(path, ref, seen):
            return True
        if cls and f"{cls}.{ref}" in local and _function_needs_petsc(path, f"{cls}.{ref}", seen):
            return True
        if ref in helpers and _function_needs_petsc(HELPERS[helpers[ref]], ref, seen):
            return True
    return False


def function_needs_petsc(path: Path, name: str) -> bool:
    """Does this test (name: "test_x" or "Class.test_x") reach PETSc/MPI through an import? (rule 3)"""
    return _function_needs_petsc(path, name, set())
