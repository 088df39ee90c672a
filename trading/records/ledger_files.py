"""Finding the risk ledgers of a data dir and summarising each: one ledger per broker account.

Live runs write ``<data_dir>/risk/ledger.jsonl``; a paper account writes ``risk/paper/<account>.jsonl``;
any other ``risk/**/*.jsonl`` is a ledger too (whichever broker wrote it). The broker and account come
from the ledger's own ``ledger_opened`` entry when it has one, else from where the file lies.

Failure contract: ``find_ledgers`` returns [] for a data dir without ledgers; ``resolve_ledger`` raises
``LedgerChoiceError`` (a ValueError) naming the candidates when the choice is missing or ambiguous;
``summary`` raises only OSError (an unreadable file). Summaries hold finite numbers or None only.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from trading.records.risk_ledger import RiskLedger
from trading.settings import GuardConfig

LIVE_LEDGER = Path("risk") / "ledger.jsonl"


class LedgerChoiceError(ValueError):
    """No ledger, or several and none chosen."""


def find_ledgers(data_dir: Path) -> list[Path]:
    root = Path(data_dir) / "risk"
    if not root.is_dir():
        return []
    return sorted(p for p in root.rglob("*.jsonl") if p.is_file())


def owner(path: Path, ledger: RiskLedger, data_dir: Path) -> tuple[str, str]:
    """(broker, account) of a ledger: its own record, else its place under risk/."""
    if ledger.broker or ledger.account:
        return str(ledger.broker or "?"), str(ledger.account or "?")
    try:
        rel = path.relative_to(Path(data_dir) / "risk")
    except ValueError:
        return "?", path.stem
    if len(rel.parts) == 2:                      # risk/<broker>/<account>.jsonl (risk/paper/<acct>.jsonl)
        return rel.parts[0], path.stem
    return ("live", "default") if rel.name == "ledger.jsonl" else ("?", path.stem)


def _label(path: Path, data_dir: Path) -> str:
    try:
        return str(path.relative_to(data_dir))
    except ValueError:
        return str(path)


def resolve_ledger(data_dir: Path, choice: str | None, cfg: GuardConfig | None = None) -> Path:
    """The ledger an operator command acts on: ``choice`` is a path or an account / file name; without
    one, the only ledger there is (the live ledger's place when there is none yet)."""
    data_dir = Path(data_dir)
    found = find_ledgers(data_dir)
    if choice:
        as_path = Path(choice)
        for cand in (as_path, data_dir / as_path):
            if cand.is_file():
                return cand
        hits = [p for p in found if choice in (p.stem, p.name, owner(p, RiskLedger(p, cfg), data_dir)[1])]
        if len(hits) == 1:
            return hits[0]
        names = ", ".join(_label(p, data_dir) for p in (hits or found)) or "none"
        what = "matches several ledgers" if hits else "names no ledger"
        raise LedgerChoiceError(f"--ledger {choice!r} {what} under {data_dir / 'risk'} (ledgers: {names})")
    if len(found) > 1:
        names = ", ".join(_label(p, data_dir) for p in found)
        raise LedgerChoiceError(f"{len(found)} risk ledgers under {data_dir / 'risk'}: choose one with --ledger "
                                f"PATH-or-account ({names})")
    return found[0] if found else data_dir / LIVE_LEDGER


def summary(path: Path, data_dir: Path, cfg: GuardConfig | None = None) -> dict[str, Any]:
    """Broker, account, equity, peak, drawdown, halts, streak, last entry and unreadable lines of a ledger."""
    led = RiskLedger(path, cfg)
    st = led.state()
    broker, account = owner(path, led, data_dir)
    dd = st.drawdown_pct
    halts = (["DRAWDOWN_HALT"] if st.halted else []) + [c.value for c in st.active_halts]
    return {"ledger": _label(path, data_dir), "broker": broker, "account": account, "equity": st.equity,
            "peak_equity": st.peak_equity, "drawdown_pct": None if dd is None else round(dd, 4),
            "halted": st.halted, "halt_reason": st.halt_reason, "halts": halts,
            "consecutive_losses": st.consecutive_losses, "unresolved_outcomes": st.unresolved_outcomes,
            "open_trades": len(led.open_trades), "entries": led.entries,
            "last_entry": led.last_ts.isoformat(timespec="seconds") if led.last_ts else None,
            "corrupt_lines": led.corrupt_lines, "ledger_errors": st.ledger_errors}
