"""The money path: guarded executor, order tracking, reconciliation, the live session.

A package marker only; failure contract: importing it raises nothing.
"""
