"""The modules of jobs/ import each other without a circle, and the writers in their layers.

The graph is read from the source with `ast`, not from a running interpreter: an import inside a
function counts as much as one at the top of the module (it runs as soon as the function does, and a
circle is a circle whenever it closes). Imports under `if TYPE_CHECKING:` never run and are left out.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

JOBS = Path(__file__).resolve().parents[1] / "jobs"
# Circles that remain, each with why; none today (the writers', the CLI's and the page's were broken by issue 20).
KNOWN: set[frozenset[str]] = set()
FORMATS_BASE = {"jobs.formats.base", "jobs.formats.proof", "jobs.formats.spill", "jobs.formats.xmltext"}


def modules(root: Path) -> dict[str, Path]:
    """Module name -> file, for every .py under `root` (a package named by its folder)."""
    found = {}
    for path in root.rglob("*.py"):
        parts = path.relative_to(root.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def import_graph(root: Path) -> dict[str, set[str]]:
    """Module -> the modules of `root` it imports (a name imported from a package counts as the submodule of that
    name when there is one, else as the package)."""
    known = modules(root)
    graph: dict[str, set[str]] = {name: set() for name in known}
    for name, path in known.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in _runtime_nodes(tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: from . import x, from ..y import z
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*up, *([node.module] if node.module else [])])
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
            for target in targets:
                while target and target not in known:  # jobs.x.y where y is a name in jobs.x
                    target = target.rpartition(".")[0]
                if target and target != name:
                    graph[name].add(target)
    return graph


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node of the tree, except those under `if TYPE_CHECKING:`."""
    found, stack = [], [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _names_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        found.append(node)
        stack.extend(ast.iter_child_nodes(node))
    return found


def _names_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def circles(graph: dict[str, set[str]]) -> set[frozenset[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, without recursion)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: set[frozenset[str]] = set()
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, targets = work[-1]
            target = next(targets, None)
            if target is not None:
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(sorted(graph[target]))))
                elif target in on_stack:
                    low[node] = min(low[node], index[target])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.add(frozenset(component))
    return found


def test_the_modules_of_jobs_import_in_no_circle_but_the_known_ones() -> None:
    found = circles(import_graph(JOBS))

    new = [sorted(circle) for circle in found - KNOWN]
    gone = [sorted(circle) for circle in KNOWN - found]
    assert not new, f"modules that import each other in a circle: {new}"
    assert not gone, f"no longer a circle, take it off KNOWN: {gone}"


def test_the_writers_import_in_layers() -> None:
    """The base of the writers imports no format, and only jobs.output opens reports through the door."""
    graph = import_graph(JOBS)
    formats = {name for name in graph if name.startswith("jobs.formats.")}

    for name in FORMATS_BASE:
        assert not graph[name] & (formats - FORMATS_BASE), f"{name} imports a format: {graph[name] & formats}"
    for name in formats - {"jobs.formats.open"}:
        assert "jobs.formats.open" not in graph[name], f"{name} imports the door above it"
    assert graph["jobs.formats"] == set(), "jobs/formats/__init__.py imports nothing: a base module loads alone"
    assert {name for name in graph if "jobs.formats.open" in graph[name]} == {"jobs.output"}


@pytest.mark.parametrize(
    "files, expected",
    [
        # a circle through a function-level import, one through a relative import, and none
        ({"a.py": "import pkg.b\n", "b.py": "def f():\n    from pkg.a import x\n"}, {frozenset({"pkg.a", "pkg.b"})}),
        (
            {"a.py": "from . import b\n", "b.py": "from .c import y\n", "c.py": "from pkg import a\n"},
            {frozenset({"pkg.a", "pkg.b", "pkg.c"})},
        ),
        (
            {
                "a.py": "import pkg.b\n",
                "b.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import pkg.a\n",
            },
            set(),
        ),
        ({"__init__.py": "from pkg.a import x\n", "a.py": "x = 1\n"}, set()),
    ],
)
def test_the_graph_finds_circles_the_way_python_would_run_into_them(tmp_path: Path, files, expected) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    for name, text in files.items():
        (package / name).write_text(text)

    assert circles(import_graph(package)) == expected


def test_the_graph_sees_the_imports_of_jobs() -> None:
    """A graph that found nothing would find no circle either."""
    graph = import_graph(JOBS)

    assert {"jobs.formats.open", "jobs.manifest", "jobs.reconcile"} <= graph["jobs.output"]
    assert "jobs.formats.spill" in graph["jobs.runner"]  # imported inside a function
    assert "jobs.cli" not in graph["jobs.cli.notify"]  # only under TYPE_CHECKING
