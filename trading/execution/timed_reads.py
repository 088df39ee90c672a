"""Broker reads with a deadline: each read runs on a worker thread and is abandoned when it hangs.

Failure contract: ``TimedReader.call`` returns the read's result, re-raises whatever the read raised,
and raises ``BrokerUnavailable`` (counted in ``timeouts``) when the read outlives ``timeout_s``; the
stuck worker is left behind with its queue and the next read gets a fresh one.
"""
from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

from trading.brokers.base import BrokerUnavailable

T = TypeVar("T")


class TimedReader:
    """Runs broker reads on a worker thread with a deadline. A hung read is abandoned (the worker is
    replaced) and reported as BrokerUnavailable, so one stuck socket cannot freeze the executor."""

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self.timeouts = 0
        self._q: queue.SimpleQueue[tuple[Future[Any], Callable[[], Any]]] | None = None

    def _worker(self, q: queue.SimpleQueue[tuple[Future[Any], Callable[[], Any]]]) -> None:
        while True:
            fut, fn = q.get()
            if not fut.set_running_or_notify_cancel():
                continue
            try:
                fut.set_result(fn())
            except BaseException as exc:  # noqa: BLE001 - handed to the calling thread, which re-raises it
                fut.set_exception(exc)

    def call(self, fn: Callable[[], T], what: str) -> T:
        if self._q is None:
            self._q = queue.SimpleQueue()
            threading.Thread(target=self._worker, args=(self._q,), daemon=True, name="broker-read").start()
        fut: Future[T] = Future()
        self._q.put((fut, fn))
        try:
            return fut.result(timeout=self.timeout_s)
        except TimeoutError:
            fut.cancel()
            self._q = None            # the stuck worker keeps its queue; the next read gets a fresh one
            self.timeouts += 1
            raise BrokerUnavailable(f"{what} timed out after {self.timeout_s:g}s") from None

