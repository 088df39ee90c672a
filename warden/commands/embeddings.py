"""``warden embeddings``: the one explicit download of the MiniLM text model, and what each collection uses.

Failure contract: a failed or unverified download, or a configured model that is not on disk, is a
``UserError`` (exit 2).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from warden.errors import UserError
from warden.options import DEFAULT_DATA_DIR, DataDir, Json

emb_app = typer.Typer(help="Text embeddings for the documents collection.", no_args_is_help=True)


@emb_app.command("fetch")
def fetch(
    dest: Annotated[Path | None, typer.Option("--dir", help="Where to put the model (default: Chroma's cache, "
                                                             "or WARDEN_MINILM_DIR).", file_okay=False)] = None,
    url: Annotated[str | None, typer.Option("--url", help="Archive URL (a mirror); checked against the "
                                                          "pinned SHA-256 all the same.")] = None,
) -> None:
    """Download Chroma's ONNX all-MiniLM-L6-v2 once (needs a network), verify it, unpack it."""
    from tools.memory.embeddings import MINILM_URL, EmbeddingUnavailable, fetch_minilm

    try:
        path = fetch_minilm(dest, url or MINILM_URL)
    except EmbeddingUnavailable as exc:
        raise UserError(str(exc)) from None
    print(f"MiniLM model ready in {path}; set rag.text_embedding = \"minilm\" to use it "
          "(a store built with another embedding keeps refusing it: use a fresh --data-dir)")


@emb_app.command("status")
def status(data_dir: DataDir = DEFAULT_DATA_DIR, json_out: Json = False) -> None:
    """Show the configured text embedding, whether MiniLM is on disk, and what built each collection."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    from tools.memory.embeddings import MiniLMEmbedding
    from tools.memory.store import EMBEDDING_KEY
    from trading.settings import load_settings

    settings = load_settings(data_dir=data_dir)
    mini = MiniLMEmbedding()
    doc: dict[str, Any] = {"configured": settings.rag.text_embedding, "minilm_dir": str(mini.model_dir),
                           "minilm_available": mini.available(), "collections": {}}
    chroma_dir = Path(data_dir) / "chroma"
    if settings.rag.mode == "embedded" and chroma_dir.is_dir():
        client = chromadb.PersistentClient(path=str(chroma_dir), settings=ChromaSettings(anonymized_telemetry=False))
        for c in client.list_collections():
            col = client.get_collection(c.name, embedding_function=None)
            doc["collections"][c.name] = {"embedding": (col.metadata or {}).get(EMBEDDING_KEY), "count": col.count()}
    elif settings.rag.mode == "http":
        doc["collections"] = f"server {settings.rag.host}:{settings.rag.port} (not inspected)"
    if json_out:
        print(json.dumps(doc, indent=2))
        return
    print(f"configured text embedding: {doc['configured']}")
    print(f"MiniLM: {'on disk' if doc['minilm_available'] else 'not on disk'} ({doc['minilm_dir']})")
    if isinstance(doc["collections"], dict):
        for name, c in doc["collections"].items():
            print(f"{name}: {c['count']} entries, built with {c['embedding']}")
    else:
        print(doc["collections"])
    if not doc["minilm_available"] and doc["configured"] == "minilm":
        raise UserError("rag.text_embedding is minilm but the model is not on disk: run `warden embeddings fetch`")


def register(app: typer.Typer) -> None:
    app.add_typer(emb_app, name="embeddings")
