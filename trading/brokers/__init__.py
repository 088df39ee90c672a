"""Broker adapters behind the one ``Broker`` protocol: paper (candles), Interactive Brokers, Polymarket.

A package marker only: the live adapters are imported on demand (``trading.execution.wiring``), so a
missing extra fails only when that broker is asked for. Failure contract: importing it raises nothing.
"""
