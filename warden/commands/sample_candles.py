"""``warden sample-candles``: a synthetic candle file to try ``warden run`` on.

Failure contract: an unwritable --out propagates its ``OSError``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def sample_candles(
    out: Annotated[Path, typer.Argument(help="CSV file to write.", dir_okay=False)],
    bars: Annotated[int, typer.Option("--bars", min=50, help="Number of 1-minute bars.")] = 2000,
    seed: Annotated[int, typer.Option("--seed", help="Same seed, same file.")] = 5,
    price: Annotated[float, typer.Option("--price", min=1.0, help="Starting price.")] = 5000.0,
) -> None:
    """Write deterministic ES-like 1-minute candles (trend and range regimes) to OUT."""
    from tools.samples.candles import write_candles_csv

    p = write_candles_csv(out, n=bars, seed=seed, start_price=price)
    print(f"wrote {bars} bars to {p}")


def register(app: typer.Typer) -> None:
    app.command("sample-candles")(sample_candles)
