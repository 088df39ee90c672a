"""Deterministic synthetic inputs: demo bundles, sample logs, candles and outcomes."""
