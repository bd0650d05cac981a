"""The package's levels, read from its import graph (every `import` of `tolaria/`, including those
inside functions and under `TYPE_CHECKING`: a type the module names is a dependency too).

From the bottom: the engine, the wire protocol, the spec and the policy model (the trainer's
network config, encoder, network, weights and checkpoints); above them policy inference and
matchmaking; above those the components: actor, evaluator and learner, which import the
levels below and never one another.

    python tests/test_layers.py    # prints the cycles and the imports that break a rule
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "tolaria"

# The policy model: what inference and the components share of tolaria/trainer/.
MODEL = frozenset(
    f"tolaria.trainer.{name}" for name in ("config", "encoding", "policy", "weights", "checkpoint")
)
COMPONENTS = ("tolaria.actor", "tolaria.evaluation", "tolaria.trainer", "tolaria.daemon", "tolaria.operator")
SHARED_LEVELS = ("tolaria.inference", "tolaria.matchmaking")
WIRE = frozenset({"tolaria.protocol.replies"})  # the reply format: all the engine takes of the rest


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """module -> the tolaria modules it imports (`from tolaria.x import y` names the module
    tolaria.x.y where that is one, else tolaria.x)."""
    paths = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}
    graph: dict[str, set[str]] = {}
    for module, path in paths.items():
        imported: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names if alias.name in paths)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module in paths:
                for alias in node.names:
                    submodule = f"{node.module}.{alias.name}"
                    imported.add(submodule if submodule in paths else node.module)
        graph[module] = imported - {module}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for other in graph.get(module, ()):
            if other not in index:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in stack:
                low[module] = min(low[module], index[other])
        if low[module] == index[module]:
            component = []
            while (top := stack.pop()) != module:
                component.append(top)
            component.append(module)
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return found


def within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def component_of(module: str) -> str | None:
    """The component a module belongs to; the policy model belongs to none (it is shared)."""
    if module in MODEL:
        return None
    return next((c for c in COMPONENTS if within(module, c)), None)


def broken_rules(graph: dict[str, set[str]]) -> Iterator[str]:
    for module, imported in sorted(graph.items()):
        for other in sorted(imported):
            if any(within(module, level) for level in SHARED_LEVELS) and component_of(other):
                yield f"{module} -> {other}: inference and matchmaking sit below every component"
            if within(module, "tolaria.inference") and within(other, "tolaria.matchmaking"):
                yield f"{module} -> {other}: inference and matchmaking are levels side by side"
            if within(module, "tolaria.matchmaking") and within(other, "tolaria.inference"):
                yield f"{module} -> {other}: inference and matchmaking are levels side by side"
            mine, theirs = component_of(module), component_of(other)
            if mine and theirs and mine != theirs:
                yield f"{module} -> {other}: components import the levels below them, never one another"
            if within(module, "tolaria.engine") and not within(other, "tolaria.engine") and other not in WIRE:
                yield f"{module} -> {other}: the engine stands on its own, speaking the protocol's replies"


def test_tolaria_has_no_import_cycles():
    assert cycles(import_graph()) == []


def test_no_module_imports_across_the_levels():
    assert list(broken_rules(import_graph())) == []


def test_the_rules_see_a_sideways_import():
    graph = import_graph()
    graph["tolaria.inference.batcher"].add("tolaria.actor.actor")
    graph["tolaria.evaluation.evaluator"].add("tolaria.actor.trajectory")
    graph["tolaria.engine.decision"].add("tolaria.engine.game")
    assert len(list(broken_rules(graph))) == 2
    assert ["tolaria.engine.decision", "tolaria.engine.game"] in cycles(graph)


if __name__ == "__main__":
    graph = import_graph()
    for component in cycles(graph):
        print("cycle:", " <-> ".join(component))
    for rule in broken_rules(graph):
        print("rule:", rule)
    sys.exit(0)
