"""Domain types: orders, positions, contracts, reason codes and PnL from fills.

A package marker only; failure contract: importing it raises nothing.
"""
