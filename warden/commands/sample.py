"""``warden sample-log``: write a deterministic sample bot log (the seed-000 day, or a momentum bot.log).

Failure contract: a bad --out / --mb is a ``UserError`` (exit 2); nothing partial is reported as written.
"""
from __future__ import annotations

import math
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from warden.errors import UserError


class SampleFormat(StrEnum):
    mytrader = "mytrader"
    momentum = "momentum"


def sample_log(
    out: Annotated[Path, typer.Option("--out", help="File to write (replaced atomically).")],
    fmt: Annotated[SampleFormat, typer.Option("--format", help="Which bot's log.")] = SampleFormat.mytrader,
    mb: Annotated[float | None, typer.Option("--mb", help="mytrader: pad with noise to about this many MB.")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Same seed, same bytes.")] = 0,
) -> None:
    """Write a sample log to try `warden replay` on (no real data involved)."""
    from tools.samples.logs import write_momentum_log, write_mytrader_log

    if out.exists() and out.is_dir():
        raise UserError(f"--out {out} is a directory; give a file name")
    if mb is not None and not (math.isfinite(mb) and mb > 0):
        raise UserError(f"--mb must be a positive, finite number of megabytes (got {mb})")
    try:
        if fmt is SampleFormat.mytrader:
            write_mytrader_log(out, target_bytes=int(mb * 1_000_000) if mb else None, seed=seed)
        else:
            if mb is not None:
                raise UserError("--mb applies to the mytrader format only")
            write_momentum_log(out, seed=seed)
    except OSError as exc:
        raise UserError(f"cannot write --out {out}: {exc.strerror or exc}") from None
    print(f"wrote {out} ({out.stat().st_size:,} bytes, format {fmt.value})")


def register(app: typer.Typer) -> None:
    app.command("sample-log")(sample_log)
