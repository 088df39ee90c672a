"""langgraph.json names every graph as path:attribute, so a LangGraph server can load them."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_graph_in_langgraph_json_loads_and_is_compiled() -> None:
    spec = json.loads((ROOT / "langgraph.json").read_text())
    assert set(spec["graphs"]) == {"advisory", "incident", "learning"}
    for name, target in spec["graphs"].items():
        path, _, attr = target.partition(":")
        file = (ROOT / path).resolve()
        assert file.is_file(), f"{name}: {file} missing"
        mod_name = ".".join(file.relative_to(ROOT).with_suffix("").parts)
        mod = importlib.import_module(mod_name)
        graph = getattr(mod, attr)
        assert hasattr(graph, "invoke") and hasattr(graph, "get_graph"), f"{name} is not a compiled graph"
        assert len(graph.get_graph().nodes) >= 3
