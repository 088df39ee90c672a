"""The incident review's analyses: one module per team, the report and its plots.

Sub-packages ``forensics`` and ``risk`` hold the reconstruction and the risk analysis; ``series`` the
shared OHLC type. Importing this package has no side effects and raises nothing.
"""
