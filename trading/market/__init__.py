"""Market data in: candle files and the signal sources that read them.

A package marker only; failure contract: importing it raises nothing.
"""
