"""Warden's application layer: the CLI on top of graphs -> agents -> tools -> trading."""
__version__ = "0.1.0"
