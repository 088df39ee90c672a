"""Peak resets: every lowering of the drawdown peak (a logged reset, a peak loaded below what the bot had
already logged, a state file whose peak is below it).

Pure function over a ``Forensics``; readings with no value are skipped, never raised on.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from tools.review.forensics import Forensics


def peak_resets(fx: Forensics, true_peak: float | None) -> list[dict[str, Any]]:
    """Every lowering of the drawdown peak: a logged reset and/or a peak loaded below what the bot had
    already seen (one instance per restart), and a state file whose peak is below the true peak."""
    found: list[dict[str, Any]] = []
    for p in fx.process:
        if p.kind == "peak_reset":
            found.append({"ts": p.ts, "kind": "logged_reset", "ref": p.ref,
                          "detail": f"bot reset its peak to the current balance {p.fields.get('balance')}"})
    seen_max: float | None = None
    obs: list[tuple[datetime, str, float, str]] = []
    for b in fx.balances:
        for v in (b[1], b[2]):
            if v is not None:
                obs.append((b[0], "balance", float(v), b[4]))
    for p in fx.process:
        if p.kind == "state_loaded" and p.fields.get("peak_balance") is not None:
            obs.append((p.ts, "state_loaded", float(p.fields["peak_balance"]), p.ref))
    obs.sort(key=lambda o: o[0])
    for ts, kind, v, r in obs:
        if kind == "state_loaded" and seen_max is not None and v < seen_max * 0.995:
            same = next((f for f in found if f["kind"] == "logged_reset" and abs((f["ts"] - ts).total_seconds()) < 30),
                        None)
            detail = f"peak_balance loaded as {v:.2f} after the bot had logged {seen_max:.2f}"
            if same:
                same["detail"] += f"; {detail}"
                same["refs"] = [same["ref"], r]
            else:
                found.append({"ts": ts, "kind": "peak_lowered_on_load", "ref": r, "detail": detail})
        seen_max = v if seen_max is None else max(seen_max, v)
    # the state file's peak below a peak the bot itself had already logged (a peak it never saw, e.g.
    # gains it never booked, is a tracking gap reported by the software team, not a reset)
    if fx.state and seen_max is not None and isinstance(fx.state.get("peak_balance"), (int, float)):
        sp = float(fx.state["peak_balance"])
        if sp < seen_max * 0.995:
            found.append({"ts": None, "kind": "state_file_peak_below_logged_peak", "ref": "state/trading_state.json",
                          "detail": f"state peak_balance {sp:.2f} vs {seen_max:.2f} the bot had logged"})
    return found

