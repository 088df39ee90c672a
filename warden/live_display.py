"""The live table ``warden run`` shows on a terminal: one row per advisory cycle (presentation only).

It subscribes to ``GraphCycleRunner``'s ``on_decision`` callback (``display.update``). Failure contract:
unknown values (no equity yet, no advice) render as ``?`` / ``-``; it never raises for a decision's
content. Rich is imported only when a display is built.
"""
from __future__ import annotations

from typing import Any

from graphs.advisory_state import GuardedDecision
from tools.render_safety import term_text
from trading.domain.models import AdvisoryAction


class LiveDisplay:
    """A Rich live table of the last cycles: time, cycle, advice, verdict, position, PnL and the risk agent's
    explanation of the verdict (escaped: a model's text never becomes markup)."""

    def __init__(self, console: Any = None, rows: int = 12, start_equity: float | None = None) -> None:
        from rich.console import Console

        self.console = console or Console(stderr=True)
        self.rows: list[tuple[str, ...]] = []
        self.max_rows = rows
        self.start_equity = start_equity
        self._live: Any = None

    def __enter__(self) -> LiveDisplay:
        from rich.live import Live

        self._live = Live(self._table(), console=self.console, refresh_per_second=4, transient=False)
        self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.__exit__(*exc)
            self._live = None

    def _table(self) -> Any:
        from rich.table import Table

        t = Table(title="warden advisory cycles", expand=False)
        for col in ("time", "cycle", "advice", "verdict", "position", "PnL", "why (risk agent)"):
            t.add_column(col)
        for r in self.rows:
            t.add_row(*r)
        return t

    def update(self, d: GuardedDecision, executor: Any = None) -> None:
        acct = getattr(executor, "last_account", None)
        equity = getattr(acct, "equity", None)
        if self.start_equity is None and equity is not None:
            self.start_equity = equity
        start = self.start_equity
        pnl = f"{equity - start:+,.2f}" if equity is not None and start is not None else "?"
        pos = d.features.get("live_position")
        adv = f"{d.action} {d.advisory.confidence:.2f}" if d.advisory else "-"
        if d.intent is None:
            verdict = "advice only" if d.advisory and d.advisory.action is not AdvisoryAction.WAIT else "-"
        else:
            verdict = ("SENT " if d.executed else "ALLOW " if d.allowed else "BLOCK ") + \
                (",".join(c.value for c in d.reason_codes) or "-")
        when = d.advisory.ts.strftime("%Y-%m-%d %H:%M") if d.advisory else ""
        # the risk agent's explanation of the verdict: untrusted when a model wrote it, so printed inert
        why = term_text(" ".join(d.explanation.split()))
        why = why if len(why) <= 70 else why[:69] + "…"
        self.rows = (self.rows + [(when, d.trade_cycle_id[:8], adv, verdict, str(pos), pnl, why)])[-self.max_rows:]
        if self._live is not None:
            self._live.update(self._table())
