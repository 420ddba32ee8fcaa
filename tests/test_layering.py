"""The packages of dlbasic stand on floors: each imports only packages of lower floors, at module level and at run
time (imports inside functions count; those under TYPE_CHECKING, which never run, do not). So there is no cycle,
and a model never reaches into training, nor the report into the lab."""

from __future__ import annotations

import ast
from pathlib import Path

import dlbasic

SRC = Path(dlbasic.__file__).parent


def package_of(module: str) -> str:
    """The floor name of a dlbasic module: the longest name in FLOOR that is the module or a package holding it
    ('dlbasic.detection.ops.nms' -> 'detection.ops'), else its top-level package ('dlbasic.data.idx' -> 'data')."""
    parts = module.split(".")[1:]
    for k in range(len(parts), 1, -1):
        if ".".join(parts[:k]) in FLOOR:
            return ".".join(parts[:k])
    return parts[0] if parts else ""


# lowest first; a package imports only packages of floors below its own. A sub-package or module named on a floor
# of its own (detection's folders) is a package of its own here: its imports, and those of the rest of its package
# into it, obey the floors too.
FLOORS = [
    {"errors", "_native_build", "lazy"},
    {"parsing", "registry", "overrides", "folder_lock", "parallel", "checkpoint", "claims"},
    {"config", "outputs", "nn", "optim", "data", "report", "detection.ops", "detection.metrics", "detection.draw"},
    {"models", "callbacks", "detection.components", "detection.data"},
    {"regularization", "detection.models"},
    {"training"},
    {"preflight"},  # checks a config's names and builds its model before a run: above training, below its users
    {"evaluation", "detection", "segmentation"},
    {"export", "lab"},
    {"studies"},
    {"commands"},
    {"cli"},
]
FLOOR = {package: k for k, floor in enumerate(FLOORS) for package in floor}


def run_time_imports(tree: ast.Module) -> set[str]:
    """Every dlbasic module imported anywhere in `tree` (functions included), except under `if TYPE_CHECKING:`."""
    skipped = {
        id(node)
        for branch in ast.walk(tree)
        if isinstance(branch, ast.If) and "TYPE_CHECKING" in ast.unparse(branch.test)
        for node in ast.walk(branch)
    }
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {m for m in found if m.startswith("dlbasic.") and package_of(m) != "__version__"}


def upward_imports() -> list[str]:
    """'module imports module' for each import that does not go to a lower floor (nor stays in its package)."""
    found = []
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC).with_suffix("")
        module = ".".join(("dlbasic", *rel.parts)).removesuffix(".__init__")
        source = package_of(module)
        for target in sorted(run_time_imports(ast.parse(path.read_text()))):
            to = package_of(target)
            if to and to != source and FLOOR[to] >= FLOOR[source]:
                found.append(f"{module} imports {target}")
    return found


def test_every_package_has_a_floor():
    modules = {
        ".".join(("dlbasic", *p.relative_to(SRC).with_suffix("").parts)).removesuffix(".__init__")
        for p in SRC.rglob("*.py")
    }
    packages = {package_of(m) for m in modules} - {""}
    assert packages <= set(FLOOR), sorted(packages - set(FLOOR))


def test_no_package_imports_upward_or_sideways_even_at_run_time():
    assert upward_imports() == []


def test_the_floor_check_finds_a_planted_upward_import(monkeypatch):
    monkeypatch.setitem(FLOOR, "models", FLOOR["training"])  # models on training's floor: its imports are fine,
    monkeypatch.setitem(FLOOR, "training", FLOOR["nn"])  # training below models: training -> models is upward
    assert any(line.startswith("dlbasic.training") and "dlbasic.models" in line for line in upward_imports())


def test_detection_folders_are_floors_in_torchvisions_order():
    folders = {f"detection.{p.parent.name}" for p in (SRC / "detection").glob("*/__init__.py")}
    assert folders == {"detection.ops", "detection.components", "detection.models", "detection.data"}
    assert FLOOR["detection.ops"] < FLOOR["detection.components"] < FLOOR["detection.models"] < FLOOR["detection"]
    assert FLOOR["detection.data"] < FLOOR["detection"] and FLOOR["data"] < FLOOR["detection.data"]
    assert package_of("dlbasic.detection.ops.nms") == "detection.ops" and package_of("dlbasic.detection") == "detection"


def test_the_floor_check_finds_a_planted_upward_import_between_detection_folders(monkeypatch):
    monkeypatch.setitem(FLOOR, "detection.ops", FLOOR["detection.models"])  # ops above components
    assert any(line.startswith("dlbasic.detection.components") and "detection.ops" in line for line in upward_imports())


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
