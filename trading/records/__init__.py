"""What the money path writes down: journal, risk ledger, telemetry, outcome files."""
