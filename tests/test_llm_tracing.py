"""Tracing is off unless the environment turns it on (docs/llm.md): with a LangSmith endpoint and key set
but LANGSMITH_TRACING unset, running a graph sends nothing; with it set, the same run is traced (so the
check can fail). The endpoint is a fake on 127.0.0.1."""
from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest


class _Sink:
    def __init__(self) -> None:
        self.paths: list[str] = []
        sink = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a: Any) -> None:
                pass

            def _ok(self) -> None:
                sink.paths.append(self.path)
                self.rfile.read(int(self.headers.get("content-length", 0) or 0))
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            do_POST = do_PATCH = do_GET = _ok

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def sink(monkeypatch: pytest.MonkeyPatch) -> Iterator[_Sink]:
    s = _Sink()
    for k in ("LANGSMITH_TRACING", "LANGCHAIN_TRACING_V2", "LANGCHAIN_TRACING", "LANGSMITH_OTEL_ENABLED"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("LANGSMITH_ENDPOINT", s.url)
    monkeypatch.setenv("LANGSMITH_API_KEY", "lsv2-test")
    import langsmith.run_trees as rt

    rt._CLIENT = None                   # a client cached by an earlier test would hold another endpoint
    yield s
    from langchain_core.tracers.langchain import wait_for_all_tracers

    wait_for_all_tracers()              # nothing left queued for an endpoint about to close
    import langsmith.run_trees as rt

    if rt._CLIENT is not None:          # the client caches its endpoint: flush it, then forget it
        rt._CLIENT.flush()
        rt._CLIENT = None
    from langsmith import utils

    monkeypatch.delenv("LANGSMITH_TRACING", raising=False)     # later tests must see tracing off again
    if hasattr(utils.get_env_var, "cache_clear"):
        utils.get_env_var.cache_clear()
    s.server.shutdown()
    s.server.server_close()


def _run_graph(tmp_path: Path) -> None:
    from langchain_core.tracers.langchain import wait_for_all_tracers

    from graphs.review_runner import run_review
    from tools.samples.demo_bundles import write_polymarket_bundle

    run_review(write_polymarket_bundle(tmp_path / "b"), tmp_path / "out", data_dir=tmp_path / "d", approve="none")
    wait_for_all_tracers()


def test_nothing_is_sent_when_tracing_is_off(sink: _Sink, tmp_path: Path) -> None:
    _run_graph(tmp_path)
    assert sink.paths == []


def test_the_same_run_is_traced_when_turned_on(sink: _Sink, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LANGSMITH_TRACING", "true")
    from langsmith import utils

    if hasattr(utils.get_env_var, "cache_clear"):
        utils.get_env_var.cache_clear()
    _run_graph(tmp_path)
    assert sink.paths, "tracing on sent nothing: the off-test above proves nothing"
