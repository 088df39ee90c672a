"""One module per command (or command group). Each exposes ``register(app)``; cli.py discovers them.

Modules import their heavy dependencies (LangGraph, Chroma, pandas) inside the command body so that
``warden --help`` stays fast.

Failure contract: a command module that fails to import stops the CLI at start-up (loudly).
"""
