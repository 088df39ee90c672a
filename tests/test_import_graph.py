"""The import graph of the project's packages: no cycles, and imports flow one way only.

Every module under agents/, graphs/, tools/, trading/ and warden/ is parsed with ``ast``; every import
counts, including those inside functions (a lazy import is still a dependency); only imports under
``if TYPE_CHECKING:`` are left out (annotations, never executed). Layers, left to right:
warden -> graphs -> agents -> tools -> trading; a module never imports a package to its left, and
trading/ and tools/ never import LangGraph/LangChain, an LLM client (openai, anthropic) or the LLM seam
and agents/graphs/warden.
"""
from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("warden", "graphs", "agents", "tools", "trading")
FORBIDDEN_BELOW_AGENTS = ("langgraph", "langchain", "langchain_core", "openai", "anthropic", "agents", "graphs",
                          "warden")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for pkg in LAYERS for p in sorted((ROOT / pkg).rglob("*.py"))}


def _type_checking(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"))


def _runtime_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node, at any depth (function bodies too), except the bodies of ``if TYPE_CHECKING:``."""
    todo = [tree]
    while todo:
        node = todo.pop()
        yield node
        if _type_checking(node):
            todo.extend(getattr(node, "orelse", []))
            continue
        todo.extend(ast.iter_child_nodes(node))


def _imports(mod: str, path: Path) -> Iterator[str]:
    """Absolute names imported by ``mod`` (relative imports resolved), wherever the import statement is."""
    is_pkg = path.name == "__init__.py"
    for node in _runtime_nodes(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = mod.split(".")
                base = base[: len(base) - node.level + (1 if is_pkg else 0)]
                stem = ".".join(base + ([node.module] if node.module else []))
            else:
                stem = node.module or ""
            yield stem
            yield from (f"{stem}.{a.name}" for a in node.names)   # `from pkg import module`


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    graph: dict[str, set[str]] = {}
    for mod, path in mods.items():
        deps: set[str] = set()
        for name in _imports(mod, path):
            # the longest project module the name refers to (``a.b.c`` may be attribute c of module a.b)
            while name and name not in mods:
                name = name.rpartition(".")[0]
            if name and name != mod:
                deps.add(name)
        graph[mod] = deps
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph.get(w, ())))))
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out


def _top(name: str) -> str:
    return name.split(".")[0]


def test_the_scan_sees_every_package_and_lazy_imports() -> None:
    graph = _graph()
    assert {_top(m) for m in graph} == set(LAYERS)
    # a function-level import counts: get_reasoner builds Bedrock lazily
    assert "agents.bedrock" in graph["agents.llm"]


def test_no_import_cycles() -> None:
    assert _cycles(_graph()) == []


def test_type_checking_imports_are_left_out_but_lazy_ones_count() -> None:
    tree = ast.parse("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import a\nelse:\n    import b\n"
                     "def f():\n    import c\n")
    names = {a.name for n in _runtime_nodes(tree) if isinstance(n, ast.Import) for a in n.names}
    assert names == {"b", "c"}


def test_cycle_detection_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_imports_flow_left_to_right() -> None:
    bad: list[str] = []
    for mod, deps in _graph().items():
        here = LAYERS.index(_top(mod))
        bad.extend(f"{mod} -> {d}" for d in deps if LAYERS.index(_top(d)) < here)
    assert bad == []


def test_tools_and_trading_import_no_llm_agent_or_langgraph() -> None:
    bad: list[str] = []
    for mod, path in _modules().items():
        if _top(mod) not in ("tools", "trading"):
            continue
        bad.extend(f"{mod} imports {name}" for name in _imports(mod, path)
                   if _top(name) in FORBIDDEN_BELOW_AGENTS)
    assert bad == []
