"""Text embeddings: hashing (offline), MiniLM only from disk (explicit fetch), Titan via botocore's Stubber."""
from __future__ import annotations

import hashlib
import io
import json
import socket
import tarfile
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import boto3
import numpy as np
import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber
from typer.testing import CliRunner

from tools.memory.embeddings import (
    MINILM_FILES,
    TITAN_MODEL,
    EmbeddingUnavailable,
    HashingEmbedding,
    MiniLMEmbedding,
    TitanEmbedding,
    fetch_minilm,
    make_text_embedding,
    normalize_token,
)


def test_hashing_is_deterministic_normalised_and_meaningful() -> None:
    ef = HashingEmbedding(dim=256)
    a, b, c = ef(["exit order reversed a short into an unprotected long",
                  "the exit order reversed the short into an unprotected long position",
                  "polymarket outcome resolution never recorded"])
    assert np.allclose(a, ef(["exit order reversed a short into an unprotected long"])[0])
    assert abs(float(np.linalg.norm(a)) - 1.0) < 1e-5
    assert float(a @ b) > 0.5 > float(a @ c)
    assert ef.identity() == "hashing-v2-256"
    assert HashingEmbedding.build_from_config(ef.get_config()).identity() == ef.identity()


def test_stemming_joins_word_forms() -> None:
    assert normalize_token("lost") == normalize_token("losses") == "loss"
    assert normalize_token("trades") == normalize_token("trade") == normalize_token("trading")
    assert normalize_token("placed") == normalize_token("place")
    assert normalize_token("class") == "class"


def test_minilm_never_downloads(tmp_path: Path) -> None:
    ef = MiniLMEmbedding(model_dir=tmp_path / "none")
    assert not ef.available()
    with pytest.raises(EmbeddingUnavailable, match="warden embeddings fetch"):
        ef(["anything"])
    assert not (tmp_path / "none").exists()          # nothing was fetched or created


def test_minilm_setting_without_model_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WARDEN_MINILM_DIR", str(tmp_path / "absent"))
    with pytest.raises(EmbeddingUnavailable, match="not under"):
        make_text_embedding("minilm")


# --- fetch: the only download path, tested against a local server ----------------------------------
def _archive(tmp: Path, files: tuple[str, ...] = MINILM_FILES) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name in files:
            data = f"fake {name}".encode()
            info = tarfile.TarInfo(f"onnx/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.fixture()
def served(tmp_path: Path):
    root = tmp_path / "www"
    root.mkdir()
    handler = partial(SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a, **k: None   # type: ignore[attr-defined]
    srv = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    yield root, f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def test_fetch_installs_a_verified_archive(tmp_path: Path, served) -> None:
    root, base = served
    data = _archive(tmp_path)
    (root / "onnx.tar.gz").write_bytes(data)
    dest = tmp_path / "model"
    out = fetch_minilm(dest, f"{base}/onnx.tar.gz", hashlib.sha256(data).hexdigest())
    assert out == dest / "onnx"
    assert all((out / f).is_file() for f in MINILM_FILES)
    assert MiniLMEmbedding(model_dir=dest).available()
    assert [p.name for p in dest.iterdir()] == ["onnx"]          # no temp files left


def test_fetch_refuses_a_wrong_checksum_and_installs_nothing(tmp_path: Path, served) -> None:
    root, base = served
    (root / "onnx.tar.gz").write_bytes(_archive(tmp_path))
    dest = tmp_path / "model"
    with pytest.raises(EmbeddingUnavailable, match="SHA-256"):
        fetch_minilm(dest, f"{base}/onnx.tar.gz", "0" * 64)
    assert not (dest / "onnx").exists()
    assert list(dest.iterdir()) == []


def test_fetch_rejects_an_incomplete_archive(tmp_path: Path, served) -> None:
    root, base = served
    data = _archive(tmp_path, MINILM_FILES[:2])
    (root / "onnx.tar.gz").write_bytes(data)
    with pytest.raises(EmbeddingUnavailable, match="lacks"):
        fetch_minilm(tmp_path / "m", f"{base}/onnx.tar.gz", hashlib.sha256(data).hexdigest())


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_fetch_offline_fails_with_a_clear_message(tmp_path: Path) -> None:
    with pytest.raises(EmbeddingUnavailable, match="machine with a network"):
        fetch_minilm(tmp_path / "m", f"http://127.0.0.1:{_closed_port()}/onnx.tar.gz", timeout_s=2)


def test_cli_fetch_offline_exits_non_zero_with_one_line(tmp_path: Path) -> None:
    from warden.cli import app

    res = CliRunner().invoke(app, ["embeddings", "fetch", "--dir", str(tmp_path / "m"),
                                   "--url", f"http://127.0.0.1:{_closed_port()}/x.tar.gz"])
    assert res.exit_code != 0
    assert "could not download the MiniLM model" in str(res.exception)


# --- Titan through botocore's Stubber (validates requests against the service model) ------------------
def _titan_response(vec: list[float]) -> dict:
    body = json.dumps({"embedding": vec, "inputTextTokenCount": 3}).encode()
    return {"body": StreamingBody(io.BytesIO(body), len(body)), "contentType": "application/json"}


def test_titan_invokes_the_model_per_text() -> None:
    client = boto3.client("bedrock-runtime", region_name="us-east-1")
    ef = TitanEmbedding(dimensions=4, client=client)
    with Stubber(client) as stub:
        for text, vec in (("first", [0.1, 0.2, 0.3, 0.4]), ("second", [0.4, 0.3, 0.2, 0.1])):
            stub.add_response("invoke_model", _titan_response(vec), {
                "modelId": TITAN_MODEL, "contentType": "application/json", "accept": "application/json",
                "body": json.dumps({"inputText": text, "dimensions": 4, "normalize": True})})
        out = ef(["first", "second"])
        stub.assert_no_pending_responses()
    assert np.allclose(out[0], [0.1, 0.2, 0.3, 0.4]) and np.allclose(out[1], [0.4, 0.3, 0.2, 0.1])
    assert ef.identity() == f"titan-{TITAN_MODEL}-4"


def test_titan_errors_are_reported_not_swallowed() -> None:
    client = boto3.client("bedrock-runtime", region_name="us-east-1")
    ef = TitanEmbedding(dimensions=4, client=client)
    with Stubber(client) as stub:
        stub.add_client_error("invoke_model", service_error_code="AccessDeniedException", http_status_code=403)
        with pytest.raises(EmbeddingUnavailable, match="AccessDenied"):
            ef(["x"])
    with Stubber(client) as stub:
        stub.add_response("invoke_model", _titan_response([0.1, 0.2]))
        with pytest.raises(EmbeddingUnavailable, match="2 dimensions"):
            ef(["x"])
