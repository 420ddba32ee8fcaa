"""The packages of dlbasic import each other without cycles (module-level imports; imports inside functions
and under TYPE_CHECKING are deliberate late bindings and do not count)."""

from __future__ import annotations

import ast
from pathlib import Path

import dlbasic

SRC = Path(dlbasic.__file__).parent


def package_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def top_level_imports(tree: ast.Module) -> set[str]:
    """Modules imported at module level, outside `if TYPE_CHECKING:` blocks."""
    found: set[str] = set()

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module)
                found.update(f"{node.module}.{alias.name}" for alias in node.names)
            elif isinstance(node, ast.If) and "TYPE_CHECKING" not in ast.unparse(node.test):
                visit(node.body)
                visit(node.orelse)
            elif isinstance(node, ast.Try):
                visit(node.body)

    visit(tree.body)
    return {m for m in found if m.startswith("dlbasic.")}


def package_graph() -> dict[str, set[str]]:
    """package -> packages its modules import at module level (top-level modules are their own package)."""
    graph: dict[str, set[str]] = {}
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC).with_suffix("")
        module = ".".join(("dlbasic", *rel.parts)).removesuffix(".__init__")
        source = package_of(module)
        targets = {package_of(m) for m in top_level_imports(ast.parse(path.read_text()))}
        graph.setdefault(source, set()).update(t for t in targets if t and t != source)
    return graph


def cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def walk(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := walk(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := walk(node)):
            return found
    return None


def test_packages_import_each_other_without_cycles():
    assert cycle(package_graph()) is None, " -> ".join(cycle(package_graph()) or [])


def test_the_cycle_finder_finds_a_planted_cycle():
    graph = {**package_graph(), "models": package_graph().get("models", set()) | {"segmentation"}}
    assert cycle(graph) is not None and "segmentation" in cycle(graph)
