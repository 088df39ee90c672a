"""The one import of the IB client library: ``ib_async``, or ``ib_insync`` only when ib_async is absent.

Also the library facts the adapter relies on: the UNSET_DOUBLE sentinel and the exceptions a request
raises when it gets no answer or loses its socket.
Failure contract: importing this module raises ImportError (naming ``pip install 'warden[ib]'``) when
neither library is installed; nothing else here raises.
"""
from __future__ import annotations

import asyncio

try:
    import ib_async as ibapi
except ImportError:  # pragma: no cover - only where ib_async is absent
    try:
        import ib_insync as ibapi  # type: ignore[no-redef]
    except ImportError as exc:
        raise ImportError("the IB adapter needs ib_async: pip install 'warden[ib]'") from exc

__all__ = ["IB_ERRORS", "UNSET_DOUBLE", "ibapi"]

UNSET_DOUBLE: float = ibapi.util.UNSET_DOUBLE
# Errors ib_async raises for a request that got no answer or lost its socket.
IB_ERRORS: tuple[type[BaseException], ...] = (
    TimeoutError, ConnectionError, OSError, asyncio.CancelledError,
    getattr(ibapi, "RequestError", ConnectionError),
)
