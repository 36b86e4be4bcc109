"""The package's import graph: no circles (not even through imports inside functions), and imports point downward.

The graph is read from the source with :mod:`ast`, so it sees every ``import`` statement wherever it is (module
level, inside functions and methods, under ``if TYPE_CHECKING``) without importing anything. An edge goes from a
module to each capfast module it names: ``from capfast.a import b`` names ``capfast.a.b`` when that is a module,
else ``capfast.a``. Importing a submodule does not count as importing its parent package's ``__init__`` (Python
runs it, but it is the parent's own imports that are checked).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

# Backend-independent (reads the source tree; no backend involved): runs in the native pass only.
pytestmark = pytest.mark.once

PACKAGE = Path(__file__).resolve().parent.parent / "python" / "capfast"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    """Every module of the package, plus the native core (a compiled module, described by its stub)."""
    return {_module_name(p): p for p in sorted([*PACKAGE.rglob("*.py"), PACKAGE / "_native.pyi"])}


def _resolve(name: str, known: dict[str, Path]) -> str | None:
    """The capfast module ``name`` refers to (a module itself, or the package/module that defines it)."""
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def import_graph() -> dict[str, set[str]]:
    known = _modules()
    graph: dict[str, set[str]] = {name: set() for name in known}
    for name, path in known.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        if path.suffix == ".pyi":
            continue  # the native core imports nothing from the package
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")
                    anchor = anchor[: len(anchor) - (node.level - 1)]
                    base = ".".join([*anchor, base] if base else anchor)
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
            for target in targets:
                if target == "capfast" or target.startswith("capfast."):
                    resolved = _resolve(target, known)
                    if resolved is not None and resolved != name:
                        graph[name].add(resolved)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_graph_is_read_from_every_module() -> None:
    graph = import_graph()
    assert "capfast.commit" in graph and "capfast.cli" in graph and "capfast.lksg.proof.disclosure" in graph
    # lazy (function-level) imports are edges too: cli.keys imports the key modules only inside its handlers
    assert "capfast.lksg.attestation" in graph["capfast.cli.keys"]
    assert "capfast.rows" in graph["capfast.commit"]


def test_cycle_finder_finds_a_lazy_loop() -> None:
    """The checker itself: a two-module loop and a three-module loop are reported, a chain is not."""
    assert cycles({"a": {"b"}, "b": {"a"}, "c": set()}) == [["a", "b"]]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_no_import_circles() -> None:
    loops = cycles(import_graph())
    assert not loops, "import circles (modules that import each other, directly or lazily): " + "; ".join(
        " <-> ".join(c) for c in loops
    )


# Who may import the backends. The public API picks one through ``capfast._backend``; ``capfast.rows`` reads CSV rows
# with the twin's reader on both backends (the native core has no row iterator).
BACKEND_USERS = {"capfast._backend", "capfast.rows"}


@pytest.mark.parametrize("backend", ["capfast._native", "capfast._py"])
def test_domain_code_never_imports_a_backend(backend: str) -> None:
    graph = import_graph()
    offenders = sorted(
        m for m, deps in graph.items()
        if not m.startswith(backend) and m not in BACKEND_USERS and any(d.startswith(backend) for d in deps)
    )
    assert not offenders, f"modules importing {backend} directly: {offenders}"


def test_the_twin_sits_at_the_bottom() -> None:
    """``capfast._py`` imports only itself, the error tree, the one CBOR codec and the CapToken field grammar (a leaf
    module shared by the twin's token reader and the access layer, like the codec)."""
    allowed = ("capfast._py", "capfast.errors", "capfast.cbor", "capfast._token_grammar")
    graph = import_graph()
    for module, deps in graph.items():
        if module.startswith("capfast._py"):
            assert all(d.startswith(allowed) for d in deps), (module, sorted(deps))
