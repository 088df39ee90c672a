"""Planted round trips: what a generated bot log must give back, and the shared line writer.

The log generators (tools/samples/*_log.py) plant known round trips in a bot's own grammar; tests
check that ``warden replay --trades --json`` returns exactly these, with PnL from the fills.

Failure contract: plain data; ``write_lines`` raises only on I/O errors and writes atomically.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from trading.records.atomic import atomic_writer


@dataclass(frozen=True)
class PlantedTrip:
    symbol: str
    side: str                 # side of the opening fill: BUY = a long trip
    qty: float
    entry_price: float
    exit_price: float
    fees: float
    multiplier: float = 1.0

    @property
    def gross_pnl(self) -> float:
        sign = 1.0 if self.side == "BUY" else -1.0
        return (self.exit_price - self.entry_price) * self.qty * self.multiplier * sign

    @property
    def net_pnl(self) -> float:
        return self.gross_pnl - self.fees


def write_lines(path: str | Path, lines: Iterable[str]) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    with atomic_writer(p, "w") as fh:
        for ln in lines:
            fh.write(ln + "\n")
    return p
