"""The two demo bundles modelled on the seed postmortems: one call writes both.

The Polymarket bundle (seed 001) is written by tools/samples/polymarket_bundle.py, the ES bundle (seed 000)
by tools/samples/es_bundle.py; their scenarios and writers are re-exported here for tests, benches and
``warden demo``. Nothing here is read by the review tools; they must find all of it in the files.
Raises only on I/O errors.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from tools.samples.es_bundle import ESScenario, write_es_bundle
from tools.samples.polymarket_bundle import write_polymarket_bundle
from tools.samples.polymarket_sim import PolyScenario


def write_demo_bundles(root: str | Path) -> dict[str, Path]:
    """Both demo bundles under ``root``: {'polymarket': ..., 'es': ...}."""
    root = Path(root)
    return {"polymarket": write_polymarket_bundle(root / "polymarket"), "es": write_es_bundle(root / "es")}


__all__ = ["PolyScenario", "ESScenario", "write_polymarket_bundle", "write_es_bundle", "write_demo_bundles",
           "replace"]
