"""
The model modules import one another without a cycle: the shared core imports neither model, and the tagger's
helpers (exit loops, self-sampling, outputs, initial archive, trainer callback) import neither model class, at
module level, inside functions or for type checking alike.
"""
import ast
from typing import Dict, Set

from tests.conftest import ROOT

MODELS = ROOT / "sledgehammer" / "models"


def imported_model_modules(source: str) -> Set[str]:
    """The `sledgehammer.models.<module>` names a module's source imports anywhere (the package itself excluded)."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[:2] == ["sledgehammer", "models"] and len(parts) == 3 and (MODELS / f"{parts[2]}.py").exists():
                found.add(parts[2])
    return found


def import_graph() -> Dict[str, Set[str]]:
    return {
        path.stem: imported_model_modules(path.read_text(encoding="utf-8"))
        for path in MODELS.glob("*.py")
        if path.name != "__init__.py"
    }


def find_cycle(graph: Dict[str, Set[str]]):
    """One import cycle as a list of modules, or `None`."""
    state: Dict[str, int] = {}

    def visit(node, path):
        state[node] = 1
        for neighbour in sorted(graph.get(node, ())):
            if state.get(neighbour) == 1:
                return path[path.index(neighbour):] + [neighbour]
            if neighbour not in state:
                cycle = visit(neighbour, path + [neighbour])
                if cycle:
                    return cycle
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state:
            cycle = visit(start, [start])
            if cycle:
                return cycle
    return None


def test_the_model_modules_import_each_other_without_a_cycle():
    graph = import_graph()
    assert find_cycle(graph) is None
    assert not graph["early_exit_model"] & {"early_exit_tagger", "early_exit_classifier"}
    helpers = ["tagger_exit_loop", "tagger_self_sampling", "tagger_outputs", "tagger_initial_archive",
               "self_sampling_callback"]
    for helper in helpers:
        assert not graph[helper] & {"early_exit_tagger", "early_exit_classifier"}, helper


def test_the_cycle_finder_finds_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
    assert imported_model_modules("if TYPE_CHECKING:\n    from sledgehammer.models.early_exit_tagger import X\n") == {
        "early_exit_tagger"
    }
