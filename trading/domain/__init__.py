"""Domain types: orders, positions, contracts, reason codes and PnL from fills."""
