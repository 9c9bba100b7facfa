"""The package reads as its pipeline (read with ``ast``, nothing imported).

Every import counts, at module level, inside functions or under
``TYPE_CHECKING``: a cycle is a cycle for a reader. The stages are listed in
pipeline order in :data:`STAGES`; a module may import its own stage and the
stages before it, never one after it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "modelspec"
MAX_LINES = 700

#: The stages, first to last. A top-level module or subpackage of modelspec is
#: one stage; ``__init__`` (the public API) and ``__main__`` come last.
STAGES = (
    "_version",
    "errors",
    "console",
    "files",
    "backend",
    "catalogue",
    "plugins",
    "registry",
    "spec",
    "layers",
    "build",
    "plot",
    "provenance",
    "data",
    "rundir",
    "export",
    "training",
    "tuning",
    "cli",
    "__main__",
    "__init__",
)


def modules(package: Path) -> dict[str, Path]:
    """``{dotted module name: file}`` for every ``.py`` file of ``package``."""
    found = {}
    for path in sorted(package.rglob("*.py")):
        parts = [package.name, *path.relative_to(package).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def imported(name: str, path: Path, known: Iterable[str]) -> set[str]:
    """The package's modules that module ``name`` (at ``path``) imports, anywhere in it."""
    known = set(known)
    is_package = path.name == "__init__.py"
    package = name.split(".") if is_package else name.split(".")[:-1]
    edges: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package[: len(package) - (node.level - 1)]
                base = ".".join([*base_parts, *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            for alias in node.names:
                # `from pkg import submodule` imports the submodule; else pkg itself
                full = f"{base}.{alias.name}"
                targets.append(full if full in known else base)
        for target in targets:
            # `import a.b.c` names a.b.c; stop at the longest known module
            parts = target.split(".")
            while parts and ".".join(parts) not in known:
                parts.pop()
            if parts and ".".join(parts) != name:
                edges.add(".".join(parts))
    return edges


def import_graph(package: Path) -> dict[str, set[str]]:
    """``{module: modules it imports}`` for a package."""
    found = modules(package)
    return {name: imported(name, path, found) for name, path in found.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle through each strongly connected group of modules (Tarjan), as
    ``[a, b, ..., a]``; empty when the graph has none."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph.get(node, ())):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.add(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(group)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [_path_through(sorted(group)[0], group, graph) for group in groups]


def _path_through(start: str, group: set[str], graph: dict[str, set[str]]) -> list[str]:
    """A shortest cycle from ``start`` back to itself inside ``group`` (breadth first)."""
    previous: dict[str, str] = {}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for other in sorted(graph[node] & group):
            if other == start:
                trail = [node]
                while trail[-1] != start:
                    trail.append(previous[trail[-1]])
                return [start, *reversed(trail[:-1]), start] if node != start else [start, start]
            if other not in previous:
                previous[other] = node
                queue.append(other)
    raise AssertionError(f"{start} is in no cycle")  # pragma: no cover


def tangle(module: str, graph: dict[str, set[str]]) -> set[str]:
    """The modules that both reach ``module`` and are reached from it."""

    def reach(start: str, edges: dict[str, set[str]]) -> set[str]:
        seen, todo = set(), [start]
        while todo:
            node = todo.pop()
            if node not in seen:
                seen.add(node)
                todo.extend(edges.get(node, ()))
        return seen

    reverse: dict[str, set[str]] = {}
    for node, targets in graph.items():
        for target in targets:
            reverse.setdefault(target, set()).add(node)
    return reach(module, graph) & reach(module, reverse)


def stage(module: str) -> str:
    """The stage of a module: ``modelspec.spec.validate.graph`` -> ``spec``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def backward_imports(graph: dict[str, set[str]]) -> list[str]:
    """Imports that point up the pipeline (to a later stage), and unknown stages."""
    problems = []
    order = {s: i for i, s in enumerate(STAGES)}
    for module, targets in sorted(graph.items()):
        if stage(module) not in order:
            problems.append(f"{module}: stage '{stage(module)}' is not in STAGES; add it there")
            continue
        for target in sorted(targets):
            if order.get(stage(target), -1) > order[stage(module)]:
                problems.append(f"{module} imports {target}, a later stage")
    return problems


# -- the package ----------------------------------------------------------------------
def test_no_import_cycle_between_modules() -> None:
    graph = import_graph(PACKAGE)
    found = cycles(graph)
    assert not found, (
        "import cycles (one per tangle, with every module caught in it):\n"
        + "\n".join(
            f"{' -> '.join(c)}  [tangle: {', '.join(sorted(tangle(c[0], graph)))}]" for c in found
        )
    )


def test_imports_point_down_the_pipeline() -> None:
    problems = backward_imports(import_graph(PACKAGE))
    assert not problems, "\n".join(problems)


def test_export_does_not_import_training() -> None:
    graph = import_graph(PACKAGE)
    reached, todo = set(), [m for m in graph if stage(m) == "export"]
    while todo:
        module = todo.pop()
        if module not in reached:
            reached.add(module)
            todo.extend(graph[module])
    assert not {m for m in reached if stage(m) == "training"}


def test_no_module_over_700_lines() -> None:
    sizes = {
        name: len(path.read_text(encoding="utf-8").splitlines())
        for name, path in modules(PACKAGE).items()
    }
    over = {name: n for name, n in sizes.items() if n > MAX_LINES}
    assert not over, f"modules over {MAX_LINES} lines: {over}"


def test_every_stage_exists() -> None:
    present = {stage(m) for m in modules(PACKAGE)}
    assert present == set(STAGES), f"in STAGES but not in the package: {set(STAGES) - present}"


# -- the checker itself catches what it should ----------------------------------------
def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "pkg"
    for name, text in {"__init__.py": "", **files}.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    return root


def test_every_kind_of_import_resolves_to_a_module_and_cycles_are_found(tmp_path: Path) -> None:
    root = _package(
        tmp_path,
        {
            "__init__.py": "from .sub import thing\n",  # a name: the package imports sub
            "a.py": "from . import b\n",  # a submodule by name
            "b.py": "def f():\n    from .sub.c import thing\n",  # inside a function
            "sub/__init__.py": "from .impl import thing\n",
            "sub/c.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..a import x\n",
            "sub/impl.py": "from .. import other\nfrom ..other import name\nimport os\n",
            "other.py": "",
            "d.py": "import pkg.a\n",  # absolute
        },
    )
    graph = import_graph(root)
    assert graph == {
        "pkg": {"pkg.sub"},
        "pkg.a": {"pkg.b"},
        "pkg.b": {"pkg.sub.c"},
        "pkg.sub": {"pkg.sub.impl"},
        "pkg.sub.c": {"pkg.a"},
        "pkg.sub.impl": {"pkg.other"},
        "pkg.other": set(),
        "pkg.d": {"pkg.a"},
    }
    assert cycles(graph) == [["pkg.a", "pkg.b", "pkg.sub.c", "pkg.a"]]
    assert tangle("pkg.b", graph) == {"pkg.a", "pkg.b", "pkg.sub.c"}


@pytest.mark.parametrize(
    ("edges", "problem"),
    [
        ({"modelspec.export.source": {"modelspec.training.fit"}}, "a later stage"),
        ({"modelspec.newstage": set()}, "is not in STAGES"),
    ],
)
def test_backward_imports_and_unknown_stages_are_reported(
    edges: dict[str, set[str]], problem: str
) -> None:
    problems = backward_imports(edges)
    assert len(problems) == 1 and problem in problems[0]
