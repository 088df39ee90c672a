"""The money path: domain types, market data, guards, execution, records, broker adapters and settings.

A package marker only. Failure contract: importing it imports nothing and raises nothing; each
sub-package states its own contract.
"""
