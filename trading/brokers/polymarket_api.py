"""The one import of the Polymarket client library, ``py-clob-client-v2`` (the ``warden[polymarket]`` extra).

Failure contract: importing this module raises ImportError naming ``pip install 'warden[polymarket]'``
when the library is not installed; nothing else here raises.
"""
from __future__ import annotations

try:
    import py_clob_client_v2.http_helpers.helpers as clob_http
    from py_clob_client_v2 import (
        ApiCreds,
        AssetType,
        BalanceAllowanceParams,
        ClobClient,
        MarketOrderArgs,
        OrderArgs,
        OrderPayload,
        TradeParams,
    )
    from py_clob_client_v2 import (
        OrderType as ClobOrderType,
    )
    from py_clob_client_v2.exceptions import PolyApiException, PolyException
except ImportError as exc:  # pragma: no cover - only where the extra is not installed
    raise ImportError(
        "the Polymarket adapter needs py-clob-client-v2: pip install 'warden[polymarket]'") from exc

__all__ = ["ApiCreds", "AssetType", "BalanceAllowanceParams", "ClobClient", "ClobOrderType", "MarketOrderArgs",
           "OrderArgs", "OrderPayload", "PolyApiException", "PolyException", "TradeParams", "clob_http"]
