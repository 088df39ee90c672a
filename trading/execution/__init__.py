"""The money path: guarded executor, order tracking, reconciliation, the live session."""
