"""Risk review: the true equity curve, the drawdown halt replayed with a never-reset peak, peak resets,
losses hidden by positions carried at cost, loss streaks, sizing and concentration, and (ES) the
guards replayed on every order the bot sent.

Modules by job: ``equity``, ``halt_replay``, ``peak_resets``, ``losses``, ``exposure``,
``es_guard_replay`` and ``analysis`` (the team's whole analysis, re-exported as ``analyze``). Missing
inputs become ``not_run`` entries, never exceptions.
"""
from tools.review.risk.analysis import analyze

__all__ = ["analyze"]
