"""The layers of the source tree: each imports only the layers below it, and nothing is circular.

The flow of the data is the layout (docs/architecture.md)::

    foundation -> _knowledge -> _inputs -> _resolve -> _measure -> _decide -> delivery -> opioidcds

Every import counts, including imports inside functions and under ``TYPE_CHECKING``: a lazy
import is still a dependency a reader has to follow. The rules engine (``_decide.rules``) sits
below the rest of ``_decide``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = SRC / "opioidcds"

# (module prefix, rank): a module may import modules of its own rank or lower. The longest
# matching prefix decides a module's rank.
LAYERS: tuple[tuple[str, float], ...] = (
    ("opioidcds._version", 0),
    ("opioidcds._errors", 0),
    ("opioidcds._base", 0),
    ("opioidcds._extras", 0),
    ("opioidcds._display", 0),
    ("opioidcds._outputs", 0),
    ("opioidcds._memo", 0),
    ("opioidcds._knowledge", 1),
    ("opioidcds._inputs", 2),
    ("opioidcds._resolve", 3),
    ("opioidcds._measure", 4),
    ("opioidcds._decide.rules", 5),
    ("opioidcds._decide", 5.5),
    ("opioidcds.population", 6),
    ("opioidcds.cdshooks", 6),
    ("opioidcds.testing", 6),
    ("opioidcds.cli", 7),
    ("opioidcds._deprecated", 8),
    ("opioidcds", 8),
)
# Delivery packages of one rank stay independent of each other.
SIBLINGS = ("opioidcds.population", "opioidcds.cdshooks", "opioidcds.testing")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


MODULES = _modules()


def _resolve(name: str) -> str:
    """The module an imported name belongs to (``pkg.mod.Name`` -> ``pkg.mod``)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name


def _imports(module: str, path: Path) -> Iterator[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("opioidcds"):
                    yield node.lineno, _resolve(alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            if not target.startswith("opioidcds"):
                continue
            for alias in node.names:
                full = f"{target}.{alias.name}"
                yield node.lineno, full if full in MODULES else _resolve(target)


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for module, path in MODULES.items():
        for _, target in _imports(module, path):
            if target and target != module:
                graph[module].add(target)
    return graph


def _rank(module: str) -> float:
    best = ""
    rank = -1.0
    for prefix, r in LAYERS:
        if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > len(best):
            best, rank = prefix, r
    assert best, f"{module} is in no layer: add it to LAYERS"
    return rank


def _top(module: str) -> str:
    return next((s for s in SIBLINGS if module == s or module.startswith(s + ".")), "")


def test_every_module_is_in_a_layer() -> None:
    for module in MODULES:
        _rank(module)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_module_imports_only_downward(module: str) -> None:
    upward = []
    for line, target in _imports(module, MODULES[module]):
        if not target or target == module:
            continue
        if target == "opioidcds" and module != "opioidcds":
            upward.append(f"line {line}: imports the top-level package (import the layer)")
        elif _rank(target) > _rank(module):
            upward.append(f"line {line}: {target} is above {module}")
        elif _top(module) and _top(target) and _top(module) != _top(target):
            upward.append(f"line {line}: {target} is a sibling delivery package")
    assert not upward, "\n".join(upward)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(v: str) -> None:
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles() -> None:
    # A package's __init__ re-exporting its own modules is not a cycle of the layers; only edges
    # from a module to its own package's __init__ would close one, so those count too.
    assert _cycles(_graph()) == []


def test_cycle_finder_finds_a_cycle() -> None:
    # The check above can fail: a two-module ring and a three-module ring are both found.
    assert _cycles({"a": {"b"}, "b": {"a"}, "c": set()}) == [["a", "b"]]
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c"]]


@pytest.mark.parametrize(
    "package",
    [
        "_knowledge",
        "_inputs",
        "_resolve",
        "_measure",
        "_decide",
        "_decide/rules",
        "cli",
        "cdshooks",
        "population",
    ],
)
def test_each_package_says_what_it_holds_and_may_import(package: str) -> None:
    doc = ast.get_docstring(ast.parse((PACKAGE / package / "__init__.py").read_text("utf-8")))
    assert doc is not None
    assert "May import" in doc
