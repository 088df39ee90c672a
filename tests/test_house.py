"""The house rules, checked: module size, top-level rooms, module docstrings with a failure contract.

The import direction and the absence of cycles are checked in tests/test_import_graph.py.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RUNTIME = ("warden", "graphs", "agents", "tools", "trading")
MAX_LINES = 400


def _modules() -> list[Path]:
    return sorted(p for pkg in RUNTIME for p in (ROOT / pkg).rglob("*.py") if "__pycache__" not in p.parts)


def test_no_module_over_the_limit() -> None:
    too_long = {str(p.relative_to(ROOT)): n for p in _modules()
                if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not too_long, f"modules over {MAX_LINES} lines: {too_long}"


@pytest.mark.parametrize("pkg", ["tools", "trading"])
def test_top_level_rooms_are_few(pkg: str) -> None:
    top = sorted(p.name for p in (ROOT / pkg).glob("*.py"))
    assert len(top) <= 8, f"{pkg}/ has {len(top)} top-level modules: {top}"


def test_every_module_opens_with_a_docstring() -> None:
    missing = []
    for p in _modules():
        tree = ast.parse(p.read_text(encoding="utf-8"))
        doc = ast.get_docstring(tree)
        if not doc or len(doc.strip()) < 20:
            missing.append(str(p.relative_to(ROOT)))
    assert not missing, f"modules without a docstring saying their job: {missing}"


def test_no_sample_generator_inside_runtime_analysis() -> None:
    """Demo and sample generators live in tools/samples; the analyses never import them."""
    offenders = []
    for pkg in ("tools/logs", "tools/review", "tools/memory", "trading", "agents", "graphs"):
        for p in (ROOT / pkg).rglob("*.py"):
            tree = ast.parse(p.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                mod = node.module if isinstance(node, ast.ImportFrom) else None
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
                if (mod or "").startswith("tools.samples") or any(n.startswith("tools.samples") for n in names):
                    offenders.append(str(p.relative_to(ROOT)))
    assert not offenders, f"runtime code importing sample generators: {sorted(set(offenders))}"
