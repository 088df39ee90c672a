"""Market data in: candle files and the signal sources that read them."""
