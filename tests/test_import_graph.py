"""No import cycles among vqbench's modules, function-level imports included (issue #21.8).

grimp (import-linter's graph) records every import statement in a module, at any depth (inside functions too), so
a cycle hidden behind a function-level import is found here. Shared pieces go down a layer instead (e.g.
tasks/data/transforms.py under imagefolder and device_decode), or registration replaces the back-import
(models/converters/__init__.py imports the converters; they import only models/converters/base.py).
"""
from __future__ import annotations

import grimp
import pytest

PACKAGES = ("bench", "models", "tasks")


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components with more than one module (iterative: no recursion limit)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
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
                comp = []
                while True:
                    m = stack.pop()
                    on_stack.discard(m)
                    comp.append(m)
                    if m == node:
                        break
                if len(comp) > 1:
                    found.append(sorted(comp))
    return found


def import_graph() -> tuple[grimp.ImportGraph, dict[str, set[str]]]:
    """vqbench's import graph (grimp) and its adjacency: module -> the vqbench modules it imports anywhere."""
    g = grimp.build_graph(*PACKAGES, include_external_packages=False)
    return g, {m: set(g.find_modules_directly_imported_by(m)) for m in g.modules}


def describe(g: grimp.ImportGraph, comp: list[str]) -> str:
    """A cycle's imports, each with its line, so the message says where to cut."""
    lines = []
    for a in comp:
        for b in sorted(set(g.find_modules_directly_imported_by(a)) & set(comp)):
            for d in g.get_import_details(importer=a, imported=b):
                lines.append(f"  {a}:{d['line_number']} -> {b}   {d['line_contents']}")
    return "\n".join(lines)


def test_tarjan_finds_a_hidden_cycle_and_only_cycles():
    """The finder itself: a 3-cycle and a 2-cycle are found, a chain and a self-free DAG are not."""
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"f"}, "f": {"e"}, "g": {"d"}}
    assert sorted(strongly_connected(graph)) == [["a", "b", "c"], ["e", "f"]]


def test_grimp_sees_function_level_imports():
    """The check would be blind without this: a function-level import is an edge of grimp's graph."""
    g, _ = import_graph()
    details = g.get_import_details(importer="bench.launch.executors", imported="bench.core.distributed")
    assert details, "bench/launch/executors.py local_job imports bench.core.distributed inside the function"


def test_no_import_cycles():
    g, graph = import_graph()
    cycles = strongly_connected(graph)
    if cycles:
        pytest.fail(f"{len(cycles)} import cycle(s) among vqbench modules (function-level imports count):\n"
                    + "\n".join(describe(g, c) for c in cycles))
