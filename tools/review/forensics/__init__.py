"""Data forensics: read every input of a bundle once and reconstruct what happened.

Modules by job: ``models`` (the result model), ``log_pass`` + ``momentum_log`` / ``mytrader_log`` (one
streaming pass per log and its per-bot event handlers), ``candles`` (OHLC arrays and the candle verdict),
``polymarket_trades`` / ``es_trades`` (trade and outcome reconstruction), ``errors`` (error signatures),
``detection`` (the data team's root causes) and ``run`` (the whole step). The names other packages use
are re-exported here; nothing in this package raises on bad log data (see each module).
"""
from tools.review.forensics.detection import analyze
from tools.review.forensics.errors import error_rows
from tools.review.forensics.models import ErrorSig, ESData, ESIntent, ESOrder, Forensics, LogDigest, ProcEvent, TradeRow
from tools.review.forensics.polymarket_trades import ApiResolver
from tools.review.forensics.run import run_forensics
from tools.review.series import Series

# A paused review keeps its reconstruction in forensics.pkl; one pickled before this package was split
# names its classes as tools.review.forensics.<Name> (and its candles as Candles): keep them loadable.
Candles = Series

__all__ = ["ApiResolver", "Candles", "ESData", "ESIntent", "ESOrder", "ErrorSig", "Forensics", "LogDigest", "ProcEvent",
           "TradeRow", "analyze", "error_rows", "run_forensics"]
