"""Running the advisory graph one cycle at a time: ``AdvisoryGraph.run`` and the in-process ``advise``.

One checkpoint thread per cycle (``<trade_cycle_id>/<random>``), with the trade_cycle_id in the
checkpoint metadata so a cycle can be found and inspected by its id.
Failure contract: ``run`` never raises for a failing node: a code error in a node, a tool or the offline
rules returns a blocked ``GuardedDecision`` with INTERNAL_ERROR (never LLM_UNAVAILABLE: a bug is not a
model outage) and the error text, counts it in ``failures`` and logs the traceback (fail closed: nothing
new is sent after a node failed). Checkpointer setup errors (see graphs/advisory_checkpoint.py) do raise.
"""
from __future__ import annotations

import errno
import logging
import sqlite3
import threading
import uuid
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path
from typing import Any

from graphs.advisory import build_graph, emit
from graphs.advisory_checkpoint import make_checkpointer
from graphs.advisory_state import AdvisoryContext, GuardedDecision
from trading.domain.models import Advisory, Signal, new_cycle_id
from trading.domain.reason_codes import ReasonCode
from trading.guards import GuardVerdict
from trading.records.telemetry import EventType

log = logging.getLogger(__name__)
_STORAGE_ERRNOS = {errno.ENOSPC, errno.EFBIG, errno.EROFS, errno.EDQUOT, errno.EIO}


def _storage_failure(exc: BaseException) -> bool:
    """A write that failed for lack of space or a read-only / failing disk (the checkpointer's SQLite)."""
    if isinstance(exc, sqlite3.OperationalError):
        msg = str(exc).lower()
        return any(w in msg for w in ("disk", "full", "readonly", "read-only"))
    return isinstance(exc, OSError) and exc.errno in _STORAGE_ERRNOS


def _decision_from(state: dict[str, Any]) -> GuardedDecision:
    ex = state.get("execution") or {}
    vraw = ex.get("verdict") or state.get("verdict")
    v = GuardVerdict.model_validate(vraw) if vraw else None
    return GuardedDecision(
        trade_cycle_id=ex.get("trade_cycle_id") or state["trade_cycle_id"],
        advisory=Advisory.model_validate(state["advisory"]) if state.get("advisory") else None,
        allowed=bool(v and v.allowed), reason_codes=list(v.reason_codes) if v else [],
        judged_as=v.judged_as if v else None, intent=v.intent if v else None,
        explanation=state.get("explanation", ""), executed=bool(ex.get("sent")),
        order_ids=list(ex.get("order_ids") or []),
        error=ex.get("error") or ("; ".join(state.get("errors") or []) or None),
        features=state.get("features") or {}, similar_cycles=len(state.get("similar") or []))


class AdvisoryGraph:
    """A compiled advisory graph with its checkpointer; ``run`` is one cycle. Close it when done."""

    def __init__(self, checkpointer: str | None = "sqlite", data_dir: Path | str = "rag_data",
                 durability: str = "exit") -> None:
        self._stack = ExitStack()
        self.saver = make_checkpointer(checkpointer, data_dir, self._stack)
        self.graph = build_graph(self.saver)
        # "exit": one checkpoint per cycle, written when the cycle ends (the executor has already
        # journalled and logged everything that matters before sending); "sync" writes one per node.
        self.durability = durability if self.saver is not None else None
        self.failures = 0
        self._lock = threading.Lock()

    def run(self, signal: Signal | dict[str, Any] | None, context: AdvisoryContext | None = None, *,
            trade_cycle_id: str | None = None, intent_kind: str | None = None, qty: float | None = None,
            believed_position: float | None = None, now: datetime | None = None) -> GuardedDecision:
        ctx = context or AdvisoryContext()
        cycle = trade_cycle_id or new_cycle_id()
        sig = signal.model_dump(mode="json") if isinstance(signal, Signal) else signal
        inp: dict[str, Any] = {"trade_cycle_id": cycle, "now": (now or ctx.clock()).isoformat(),
                               "signal": sig, "errors": []}
        for k, v in (("intent_kind", intent_kind), ("qty", qty), ("believed_position", believed_position)):
            if v is not None:
                inp[k] = v
        # one checkpoint thread per run (an exit reuses its trade's cycle id: a fresh thread keeps the entry's
        # state from leaking into it); the cycle id is in the metadata: saver.list(None, filter={...})
        config = {"configurable": {"thread_id": f"{cycle}/{uuid.uuid4().hex[:12]}"},
                  "metadata": {"trade_cycle_id": cycle}}
        try:
            kw = {"durability": self.durability} if self.durability else {}
            state = self.graph.invoke(inp, config, context=ctx, **kw)
        except Exception as exc:  # noqa: BLE001 - by design: a node/tool/rules bug fails closed as INTERNAL_ERROR
            if _storage_failure(exc):    # the checkpointer cannot write (a full disk): a storage halt, not a bug
                if ctx.on_storage_failure is not None:   # one ERROR line, JOURNAL_UNWRITABLE, exits still managed
                    ctx.on_storage_failure("checkpointer", cycle, exc)
                else:
                    log.error("advisory cycle %s: checkpoint not written: %s", cycle, exc)
                return GuardedDecision(trade_cycle_id=cycle, allowed=False,
                                       reason_codes=[ReasonCode.JOURNAL_UNWRITABLE],
                                       error=f"checkpointer: {type(exc).__name__}: {exc}")
            # (model outages never get here: the agents turn LLMUnavailable into WAIT + LLM_UNAVAILABLE)
            with self._lock:
                self.failures += 1
            log.exception("advisory cycle %s failed: a code error (INTERNAL_ERROR), nothing new is sent", cycle)
            emit(ctx, EventType.ERROR, cycle, [ReasonCode.INTERNAL_ERROR], stage="advisory_graph",
                 error=f"{type(exc).__name__}: {exc}")
            return GuardedDecision(trade_cycle_id=cycle, allowed=False, reason_codes=[ReasonCode.INTERNAL_ERROR],
                                   error=f"{type(exc).__name__}: {exc}")
        return _decision_from(state)

    def close(self) -> None:
        self._stack.close()

    def __enter__(self) -> AdvisoryGraph:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_default: dict[tuple[str | None, str], AdvisoryGraph] = {}
_default_lock = threading.Lock()


def advise(signal: Signal | dict[str, Any], context: AdvisoryContext | None = None, *,
           checkpointer: str | None = "sqlite", data_dir: Path | str | None = None,
           **kw: Any) -> GuardedDecision:
    """Run one advisory cycle in-process and return the guarded decision.

    ``context`` carries the live dependencies (executor or snapshot/risk-state readers, reasoner, RAG
    lookup); without an executor nothing is sent and ``allowed`` tells the bot whether the guards would
    let the (adjusted) ``intent`` through. Keyword arguments: ``intent_kind``, ``qty``,
    ``believed_position``, ``trade_cycle_id``, ``now``.
    """
    if data_dir is None:
        from trading.settings import load_settings

        data_dir = load_settings().data_dir
    key = (checkpointer, str(data_dir))
    with _default_lock:
        g = _default.get(key)
        if g is None:
            g = _default[key] = AdvisoryGraph(checkpointer, data_dir)
    return g.run(signal, context, **kw)
