"""``warden serve``: the desk, a local web app over one data dir (docs/desk.md).

Binds 127.0.0.1 by default; any other address needs the access token printed at start. ``--read-only``
refuses every POST (for sharing a screen).
Failure contract: a data dir that does not exist, a bad port or a busy address is a ``UserError``
(one line, exit 2); Ctrl-C stops the server (exit 130 via the CLI).
"""
from __future__ import annotations

import socket
from typing import Annotated

import typer

from warden.options import DEFAULT_DATA_DIR, DataDir


def serve(data_dir: DataDir = DEFAULT_DATA_DIR,
          host: Annotated[str, typer.Option("--host", help="Address to bind; anything but loopback needs the "
                                                           "printed access token.")] = "127.0.0.1",
          port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port to listen on.")] = 8750,
          read_only: Annotated[bool, typer.Option("--read-only", help="Refuse every change (POST).")] = False) -> None:
    """Serve the desk in a browser: live view, trades, risk ledgers, reviews and Ask over one data dir."""
    import uvicorn

    from warden.desk.app import create_app
    from warden.desk.security import needs_token, new_token
    from warden.errors import UserError

    if not data_dir.is_dir():
        raise UserError(f"--data-dir {data_dir} does not exist (run `warden run` first, or point at a data dir)")
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
            s.bind((host, port))
    except OSError as exc:
        raise UserError(f"--host {host} --port {port}: cannot listen there ({exc.strerror or exc})") from None
    import graphs.review_runner  # noqa: F401  (loads LangGraph now, so the first Reviews page is not slow)

    token = new_token() if needs_token(host) else None
    app = create_app(data_dir, read_only=read_only, token=token)
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{port}/" + (f"?token={token}" if token else "")
    print(f"warden desk on {url} over {data_dir}" + (" (read-only)" if read_only else ""), flush=True)
    if token:
        print("this address is reachable from other machines: the token above is required", flush=True)
    # open event streams (the Live page) would hold a graceful shutdown for minutes: give them 1 s
    uvicorn.run(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=1)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
