"""Reading bots' logs: rule files, streaming readers, records, bundles and replay."""
