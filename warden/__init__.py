"""Warden's application layer: the CLI on top of graphs -> agents -> tools -> trading.

Failure contract: holds the version only; importing it has no side effects.
"""
__version__ = "0.1.0"
