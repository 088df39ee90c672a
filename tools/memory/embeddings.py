"""Pluggable text embeddings for the documents collection, registered with Chroma.

- ``hashing`` (default, offline): signed feature hashing of words and word pairs; deterministic, no model.
- ``minilm``: Chroma's ONNX all-MiniLM-L6-v2, ONLY when its files are already on disk. It never downloads
  (``warden embeddings fetch`` does that once, explicitly, on a machine with a network).
- ``titan``: Amazon Bedrock Titan text embeddings through boto3 ``bedrock-runtime.invoke_model``.

Every class is registered with Chroma at import (``register_embedding_function``) so a stored collection
that names it can be reopened; every collection records ``identity()`` and refuses another one.

Failure contract: ``make_text_embedding`` raises ValueError for an unknown kind and ``EmbeddingUnavailable``
when the MiniLM files are absent; MiniLM and Titan raise ``EmbeddingUnavailable`` at first use when they
cannot run (never a silent download); ``fetch_minilm`` raises it on a failed download or a bad checksum
and leaves nothing installed.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tarfile
import tempfile
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from chromadb.api.types import Documents, EmbeddingFunction, Embeddings, Space
from chromadb.utils.embedding_functions import register_embedding_function

MINILM_NAME = "all-MiniLM-L6-v2"
MINILM_URL = "https://chroma-onnx-models.s3.amazonaws.com/all-MiniLM-L6-v2/onnx.tar.gz"
MINILM_SHA256 = "913d7300ceae3b2dbc2c50d1de4baacab4be7b9380491c27fab7418616a16ec3"
MINILM_FILES = ("config.json", "model.onnx", "special_tokens_map.json", "tokenizer_config.json",
                "tokenizer.json", "vocab.txt")
TITAN_MODEL = "amazon.titan-embed-text-v2:0"

_TOKEN = re.compile(r"\d{4}-\d{2}-\d{2}|[a-z0-9_]+(?:[.'][a-z0-9_]+)*")
# A few irregular forms that matter in trading questions, then plain suffix stripping.
_IRREGULAR = {"lost": "loss", "lose": "loss", "losing": "loss", "losses": "loss", "loser": "loss", "losers": "loss",
              "won": "win", "wins": "win", "winning": "win", "winner": "win", "winners": "win", "made": "make",
              "bought": "buy", "sold": "sell", "stopped": "stop", "stops": "stop"}


def normalize_token(tok: str) -> str:
    """Light, deterministic stemming so 'trades'/'trade' and 'lost'/'loss' meet."""
    tok = tok.lower()
    if tok in _IRREGULAR:
        return _IRREGULAR[tok]
    for suf in ("ings", "ing", "ies", "ed", "s"):
        if len(tok) > len(suf) + 3 and tok.endswith(suf) and not tok.endswith("ss"):
            tok = tok[: -len(suf)] + ("y" if suf == "ies" else "")
            break
    # a final e goes too, so place/placed/placing and trade/trades/trading meet
    return tok[:-1] if len(tok) > 4 and tok.endswith("e") else tok


def tokens(text: str) -> list[str]:
    return [normalize_token(t) for t in _TOKEN.findall(text.lower())]


class EmbeddingUnavailable(RuntimeError):
    """The configured embedding cannot run here (model not on disk, no credentials...)."""


def default_minilm_dir() -> Path:
    """Where Chroma itself keeps the model, so a machine that already has it reuses it."""
    env = os.environ.get("WARDEN_MINILM_DIR")
    return Path(env) if env else Path.home() / ".cache" / "chroma" / "onnx_models" / MINILM_NAME


class WardenEmbedding(EmbeddingFunction[Documents]):
    """What every Warden embedding shares: a registered ``NAME``, the cosine space, and an ``identity()``
    that a collection records so it is never queried or extended with another embedding."""

    NAME: ClassVar[str] = ""

    @classmethod
    def name(cls) -> str:
        return cls.NAME

    def default_space(self) -> Space:
        return "cosine"

    def identity(self) -> str:
        raise NotImplementedError


@register_embedding_function
class HashingEmbedding(WardenEmbedding):
    """Feature hashing over lower-cased words and adjacent word pairs, sublinear tf, L2-normalised."""

    NAME = "warden_hashing"
    VERSION = 2            # v2: light stemming (normalize_token) and ISO dates kept whole

    def __init__(self, dim: int = 384) -> None:
        if dim < 16:
            raise ValueError("hashing embedding needs dim >= 16")
        self.dim = dim

    def _one(self, text: str) -> np.ndarray:
        toks = tokens(text)
        grams = toks + [f"{a} {b}" for a, b in zip(toks, toks[1:], strict=False)]
        vec = np.zeros(self.dim, dtype=np.float64)
        counts: dict[str, int] = {}
        for g in grams:
            counts[g] = counts.get(g, 0) + 1
        for g, n in counts.items():
            h = int.from_bytes(hashlib.blake2b(g.encode(), digest_size=8).digest(), "little")
            sign = 1.0 if (h >> 63) & 1 else -1.0
            vec[h % self.dim] += sign * (1.0 + np.log(n))
        norm = np.linalg.norm(vec)
        return (vec / norm if norm > 0 else vec).astype(np.float32)

    def __call__(self, input: Documents) -> Embeddings:
        return [self._one(t) for t in input]

    def supported_spaces(self) -> list[Space]:
        return ["cosine"]

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> HashingEmbedding:
        return HashingEmbedding(dim=int(config.get("dim", 384)))

    def get_config(self) -> dict[str, Any]:
        return {"dim": self.dim, "version": self.VERSION}

    def identity(self) -> str:
        return f"hashing-v{self.VERSION}-{self.dim}"


@register_embedding_function
class MiniLMEmbedding(WardenEmbedding):
    """Chroma's ONNX MiniLM, loaded from ``model_dir``; raises instead of downloading."""

    NAME = "warden_minilm"

    def __init__(self, model_dir: str | Path | None = None) -> None:
        self.model_dir = Path(model_dir) if model_dir else default_minilm_dir()
        self._impl: Any = None

    def available(self) -> bool:
        return all((self.model_dir / "onnx" / f).is_file() for f in MINILM_FILES)

    def _model(self) -> Any:
        if self._impl is None:
            if not self.available():
                raise EmbeddingUnavailable(
                    f"MiniLM model not found under {self.model_dir / 'onnx'}; run `warden embeddings fetch` "
                    "once on a machine with a network (or copy that folder here), or use the hashing embedding")
            from chromadb.utils.embedding_functions.onnx_mini_lm_l6_v2 import ONNXMiniLM_L6_V2

            class _OnDiskMiniLM(ONNXMiniLM_L6_V2):
                def _download_model_if_not_exists(self) -> None:   # the files were checked above; never fetch
                    return None

            impl = _OnDiskMiniLM()
            impl.DOWNLOAD_PATH = self.model_dir          # instance attribute: read the model from here
            self._impl = impl
        return self._impl

    def __call__(self, input: Documents) -> Embeddings:
        return list(self._model()(list(input)))

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> MiniLMEmbedding:
        return MiniLMEmbedding(model_dir=config.get("model_dir"))

    def get_config(self) -> dict[str, Any]:
        return {"model_dir": str(self.model_dir), "model": MINILM_NAME}

    def identity(self) -> str:
        return f"minilm-{MINILM_NAME}"


@register_embedding_function
class TitanEmbedding(WardenEmbedding):
    """Bedrock Titan text embeddings (v2 by default), one ``invoke_model`` per text."""

    NAME = "warden_titan"

    def __init__(self, model_id: str = TITAN_MODEL, region: str = "us-east-1", dimensions: int = 1024,
                 client: Any = None) -> None:
        self.model_id = model_id
        self.region = region
        self.dimensions = dimensions
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:     # created on first use: opening a collection never touches AWS
            import boto3

            self._client = boto3.client("bedrock-runtime", region_name=self.region)
        return self._client

    def _one(self, text: str) -> list[float]:
        body: dict[str, Any] = {"inputText": text}
        if "v2" in self.model_id:
            body |= {"dimensions": self.dimensions, "normalize": True}
        try:
            resp = self.client.invoke_model(modelId=self.model_id, body=json.dumps(body),
                                            contentType="application/json", accept="application/json")
            payload = json.loads(resp["body"].read())
            vec = payload["embedding"]
        except Exception as exc:  # noqa: BLE001 - reported with the model named, never swallowed
            raise EmbeddingUnavailable(f"Titan embedding via {self.model_id} failed: {exc}") from exc
        if len(vec) != self.dimensions:
            raise EmbeddingUnavailable(f"Titan returned {len(vec)} dimensions, expected {self.dimensions}")
        return vec

    def __call__(self, input: Documents) -> Embeddings:
        return [np.asarray(self._one(t), dtype=np.float32) for t in input]

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> TitanEmbedding:
        return TitanEmbedding(model_id=config.get("model_id", TITAN_MODEL), region=config.get("region", "us-east-1"),
                              dimensions=int(config.get("dimensions", 1024)))

    def get_config(self) -> dict[str, Any]:
        return {"model_id": self.model_id, "region": self.region, "dimensions": self.dimensions}

    def identity(self) -> str:
        return f"titan-{self.model_id}-{self.dimensions}"


def make_text_embedding(kind: str = "hashing", settings: Any = None) -> HashingEmbedding | MiniLMEmbedding | TitanEmbedding:
    """The embedding named by ``settings.rag.text_embedding`` (or ``kind``)."""
    if settings is not None:
        kind = settings.rag.text_embedding
    if kind == "hashing":
        return HashingEmbedding()
    if kind == "minilm":
        ef = MiniLMEmbedding()
        if not ef.available():
            raise EmbeddingUnavailable(
                f"rag.text_embedding is minilm but the model is not under {ef.model_dir / 'onnx'}; "
                "run `warden embeddings fetch` once on a machine with a network")
        return ef
    if kind == "titan":
        region = settings.llm.region if settings is not None else "us-east-1"
        return TitanEmbedding(region=region)
    raise ValueError(f"unknown text embedding {kind!r}; expected hashing, minilm or titan")


def fetch_minilm(dest: Path | None = None, url: str = MINILM_URL, sha256: str = MINILM_SHA256,
                 timeout_s: float = 60.0) -> Path:
    """Download the MiniLM archive once, verify its SHA-256, unpack it under ``dest/onnx``.

    Explicit and the only download path. Nothing is left behind on failure; returns the model folder.
    """
    import httpx

    dest = Path(dest) if dest else default_minilm_dir()
    if all((dest / "onnx" / f).is_file() for f in MINILM_FILES):
        return dest / "onnx"
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest, prefix=".fetch-") as tmp:
        archive = Path(tmp) / "onnx.tar.gz"
        digest = hashlib.sha256()
        try:
            with httpx.stream("GET", url, timeout=timeout_s, follow_redirects=True) as resp:
                resp.raise_for_status()
                with archive.open("wb") as fh:
                    for chunk in resp.iter_bytes(1 << 16):
                        fh.write(chunk)
                        digest.update(chunk)
        except httpx.HTTPError as exc:
            raise EmbeddingUnavailable(
                f"could not download the MiniLM model from {url}: {exc}; run this on a machine with a "
                f"network, or copy an existing {MINILM_NAME}/onnx folder to {dest}") from exc
        if digest.hexdigest() != sha256:
            raise EmbeddingUnavailable(f"downloaded archive from {url} has SHA-256 {digest.hexdigest()}, "
                                       f"expected {sha256}; nothing was installed")
        unpack = Path(tmp) / "unpacked"
        with tarfile.open(archive, "r:gz") as tar:
            tar.extractall(unpack, filter="data")
        src = unpack / "onnx"
        missing = [f for f in MINILM_FILES if not (src / f).is_file()]
        if missing:
            raise EmbeddingUnavailable(f"archive from {url} lacks {', '.join(missing)}; nothing was installed")
        target = dest / "onnx"
        if target.exists():
            shutil.rmtree(target)
        os.replace(src, target)          # same filesystem: the folder appears whole or not at all
    return target
