"""The subscriber lists every adapter keeps for its events: fills, order statuses and reconnects.

A mixin: an adapter calls ``super().__init__()`` and dispatches from the lists itself (each adapter
decides how a failing subscriber is counted and logged). Failure contract: subscribing never raises
and never calls the callback; the lists are only appended to here.
"""
from __future__ import annotations

from collections.abc import Callable

from trading.domain.models import Fill, Order


class BrokerCallbacks:
    """``on_fill`` / ``on_order_status`` / ``on_reconnect`` subscriptions, kept in order of subscription."""

    def __init__(self) -> None:
        self._fill_cbs: list[Callable[[Fill], None]] = []
        self._status_cbs: list[Callable[[Order], None]] = []
        self._reconnect_cbs: list[Callable[[], object]] = []

    def on_fill(self, callback: Callable[[Fill], None]) -> None:
        self._fill_cbs.append(callback)

    def on_order_status(self, callback: Callable[[Order], None]) -> None:
        self._status_cbs.append(callback)

    def on_reconnect(self, callback: Callable[[], object]) -> None:
        """Called when the link to the venue is back (consumers reconcile then)."""
        self._reconnect_cbs.append(callback)
