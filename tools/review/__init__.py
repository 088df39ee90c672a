"""The incident review's analyses: one module per team, the report and its plots."""
