"""``warden sample-candles``: a synthetic candle file to try ``warden run`` on.

Takes ``--out FILE`` like ``sample-log`` (a positional FILE still works). Failure contract: a missing,
contradictory or unwritable output path is a ``UserError`` (exit 2) naming it; nothing partial is left
(the file is written atomically by tools/samples/candles.py).
"""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from warden.errors import UserError
from warden.printer import say


def sample_candles(
    path: Annotated[Path | None, typer.Argument(help="CSV file to write (same as --out).", dir_okay=False,
                                                show_default=False)] = None,
    out: Annotated[Path | None, typer.Option("--out", help="CSV file to write (replaced atomically).",
                                             dir_okay=False)] = None,
    bars: Annotated[int, typer.Option("--bars", min=50, help="Number of 1-minute bars.")] = 2000,
    seed: Annotated[int, typer.Option("--seed", help="Same seed, same file.")] = 5,
    price: Annotated[float, typer.Option("--price", min=1.0, help="Starting price.")] = 5000.0,
) -> None:
    """Write deterministic ES-like 1-minute candles (trend and range regimes) to --out FILE."""
    from tools.samples.candles import write_candles_csv

    if path is not None and out is not None and path != out:
        raise UserError(f"two output files given ({path} and --out {out}); give one")
    target = out or path
    if target is None:
        raise UserError("--out FILE is required: where the candles go")
    if not (price < float("inf")):
        raise UserError(f"--price must be a finite price (got {price})")
    try:
        p = write_candles_csv(target, n=bars, seed=seed, start_price=price)
    except OSError as exc:
        raise UserError(f"cannot write --out {target}: {exc.strerror or exc}") from None
    say(f"wrote {bars} bars to {p}")


def register(app: typer.Typer) -> None:
    app.command("sample-candles")(sample_candles)
