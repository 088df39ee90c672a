"""One module per command (or command group). Each exposes ``register(app)``; cli.py discovers them.

Modules import their heavy dependencies (LangGraph, Chroma, pandas) inside the command body so that
``warden --help`` stays fast. Name a module after its command (``sample_candles.py`` for
``sample-candles``): the CLI then imports only that module when the command runs.

Failure contract: a command module that fails to import stops the CLI at start-up (loudly).
"""
