"""What the money path writes down: journal, risk ledger, telemetry, outcome files.

A package marker only; failure contract: importing it raises nothing.
"""
