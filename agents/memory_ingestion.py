"""The data-ingestion agent of the memory: files in, RAG store entries and the outcomes table out.

What it reads (``ingest_paths``; folders are walked recursively, in sorted order):
- ``*.json`` under ``trade_outcomes/`` or carrying ``trade_cycle_id`` + ``closed_at``: a ``TradeOutcome``
  -> a trade cycle (situation vector + filter metadata) and a row of the outcomes table;
- ``*.json`` under ``history_snapshots/`` or carrying ``trade_cycle_id`` + ``taken_at``: a ``HistorySnapshot``;
- any other JSON object (review outputs, team findings): a document;
- ``*.md`` / ``*.markdown`` / ``*.txt`` / ``*.rst``: a document (incident reports, team reports, rationales);
- Warden's own ``events.jsonl`` (telemetry) and ``journal.db``: entries advised WAIT or blocked by the guards
  become signal records with their reason codes and, given candles, the counterfactual PnL over the next
  N bars (tools/memory/counterfactual.py, the signals table);
- other ``*.db`` / ``*.sqlite`` / ``*.sqlite3``: a legacy Polymarket ``trade_journal.db``; trades with a recorded
  outcome become trade cycles (``pm-<order_id>``), trades without one are counted as unresolved.

Idempotent: cycles and snapshots are keyed by ``trade_cycle_id`` plus a content hash, documents by the
hash of their text; a second run over the same folder adds nothing and reports what it skipped. A
malformed file (bad JSON, schema violation, unknown schema_version, corrupt database) is copied into
``<data_dir>/quarantine/`` beside a ``.reason.json`` naming the error, and the rest goes on.

The agent's reasoning is the document card (kind, title, date, summary) through the LLM seam; the offline
policy reads them off the file name and headings. Everything else here is deterministic.
"""
from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from agents.llm import LLMUnavailable, Reasoner
from tools.memory import counterfactual as cf
from tools.memory.ingest import IngestCounts, ingest_outcomes, ingest_snapshots
from tools.memory.store import RagStore
from trading.domain.models import Side, Signal
from trading.records.atomic import atomic_write_json
from trading.records.outcome_schema import READABLE_VERSIONS, SCHEMA_VERSION, HistorySnapshot, TradeOutcome

log = logging.getLogger(__name__)

ROLE = "memory_ingestion"
PROMPT = """Describe this document for the trading memory: its kind (incident_report, postmortem,
team_report, rationale, review or other), its title, the date it is about (YYYY-MM-DD, only if the text
states one) and a one-paragraph summary quoting its own numbers only."""
BATCH = 2000
DOC_SUFFIXES = {".md", ".markdown", ".txt", ".rst"}
DB_SUFFIXES = {".db", ".sqlite", ".sqlite3"}
CHUNK_CHARS = 1200
# Our own folders inside a data dir: never ingested as input.
INTERNAL_DIRS = {"chroma", "tables", "quarantine", "chat", "checkpoints", "models", "risk"}
DocKind = Literal["incident_report", "postmortem", "team_report", "rationale", "review", "other"]
MONTH_DATE = re.compile(r"\b(January|February|March|April|May|June|July|August|September|October|November|"
                        r"December)\s+(\d{1,2}),\s+(\d{4})\b")
ISO_DATE = re.compile(r"(?<!\d)(\d{4})-(\d{2})-(\d{2})(?!\d)")


class Malformed(ValueError):
    """A file we should be able to read but cannot: it goes to quarantine with this message."""


class DocumentCard(BaseModel):
    kind: DocKind = "other"
    title: str
    date: str | None = None                 # YYYY-MM-DD
    summary: str = ""
    ungrounded_numbers: list[str] = Field(default_factory=list)


class QuarantineEntry(BaseModel):
    path: str
    reason: str
    copy_path: str
    already: bool = False                   # the same bytes were quarantined by an earlier run


class IngestReport(BaseModel):
    files_seen: int = 0
    outcomes: dict[str, int] = Field(default_factory=dict)
    snapshots: dict[str, int] = Field(default_factory=dict)
    documents: dict[str, int] = Field(default_factory=lambda: {"added": 0, "skipped": 0, "chunks": 0})
    journals: dict[str, int] = Field(default_factory=lambda: {"files": 0, "trades": 0, "unresolved": 0})
    unresolved_journal_trades: list[str] = Field(default_factory=list)
    quarantined: list[QuarantineEntry] = Field(default_factory=list)
    unsupported: list[str] = Field(default_factory=list)
    signals: dict[str, int] = Field(default_factory=dict)    # blocked / WAIT-advised (tools/memory/counterfactual.py)
    skipped_ids: list[str] = Field(default_factory=list)    # cycles already stored with the same content
    table_rows: int = 0

    def added_anything(self) -> bool:
        return any(self.outcomes.get(k, 0) for k in ("added", "updated", "repaired")) or \
            any(self.snapshots.get(k, 0) for k in ("added", "updated")) or self.documents["added"] > 0 or \
            any(self.signals.get(k, 0) for k in ("added", "updated"))


# --- the document card (the agent's reasoning) ---------------------------------------------------------
def _iso(y: str, m: str, d: str) -> str | None:
    try:
        return datetime(int(y), int(m), int(d)).date().isoformat()
    except ValueError:
        return None


def card_policy(ev: Mapping[str, Any]) -> DocumentCard:
    """Offline: title = first heading (else first line, else file name); date = first ISO date in the file
    name, else in the text, else the first 'Month D, YYYY'; kind from keywords in name and title;
    summary = the first paragraph that is not a heading, cut at 300 characters."""
    name, text = ev["name"], ev["text"]
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    heading = next((ln.lstrip("#").strip() for ln in lines if ln.startswith("#")), None)
    title = (heading or (lines[0] if lines else "") or Path(name).stem)[:160]
    date = None
    for src in (name, text):
        m = ISO_DATE.search(src)
        if m and (date := _iso(*m.groups())):
            break
    if date is None and (m := MONTH_DATE.search(text)):
        date = datetime.strptime(f"{m.group(1)} {m.group(2)} {m.group(3)}", "%B %d %Y").date().isoformat()
    probe = f"{name} {title}".lower()
    kind: DocKind = "other"
    for word, k in (("postmortem", "postmortem"), ("post-mortem", "postmortem"), ("incident", "incident_report"),
                    ("team", "team_report"), ("analysis", "team_report"), ("rationale", "rationale"),
                    ("decision", "rationale"), ("review", "review"), ("report", "team_report")):
        if word in probe:
            kind = k  # type: ignore[assignment]
            break
    paras = ["\n".join(ln for ln in p.splitlines() if ln.strip() and not ln.lstrip().startswith("#")).strip()
             for p in re.split(r"\n\s*\n", text)]
    paras = [p for p in paras if p]
    return DocumentCard(kind=kind, title=title, date=date, summary=(paras[0] if paras else "")[:300])


def describe_document(reasoner: Reasoner, name: str, text: str) -> DocumentCard:
    ev = {"name": name, "text": text[:20000]}
    offline = card_policy(ev)
    try:
        card = reasoner.reason(ROLE, PROMPT, ev, DocumentCard, card_policy)
    except LLMUnavailable as exc:
        log.error("document %s: reasoner unavailable, using the offline card: %s", name, exc)
        return offline
    if card.ungrounded_numbers:
        card = card.model_copy(update={"summary": offline.summary, "ungrounded_numbers": card.ungrounded_numbers})
    if card.date and card.date not in text and card.date not in name and card.date != offline.date:
        card = card.model_copy(update={"date": offline.date})     # a date must come from the file itself
    return card


def chunks(text: str, limit: int = CHUNK_CHARS) -> list[str]:
    """Paragraph-aligned chunks of at most ``limit`` characters (a longer paragraph is split hard)."""
    out: list[str] = []
    cur = ""
    pieces: list[str] = []
    for para in re.split(r"\n\s*\n", text):
        para = para.strip()
        if len(para) > limit:          # a long list or table: keep its lines together where possible
            pieces += [ln for ln in para.splitlines() if ln.strip()]
        elif para:
            pieces.append(para)
    for para in pieces:
        while len(para) > limit:
            if cur:
                out.append(cur)
                cur = ""
            out.append(para[:limit])
            para = para[limit:]
        if cur and len(cur) + len(para) + 2 > limit:
            out.append(cur)
            cur = para
        else:
            cur = f"{cur}\n\n{para}" if cur else para
    if cur:
        out.append(cur)
    return out


def _json_text(obj: Any, prefix: str = "") -> Iterator[str]:
    if isinstance(obj, Mapping):
        for k, v in obj.items():
            yield from _json_text(v, f"{prefix}{k}: " if not prefix else f"{prefix.rstrip(': ')}.{k}: ")
    elif isinstance(obj, list):
        for v in obj:
            yield from _json_text(v, prefix)
    else:
        yield f"{prefix}{obj}"


# --- journals -----------------------------------------------------------------------------------------
def journal_outcomes(path: Path, tz: str = "UTC") -> tuple[list[TradeOutcome], list[str]]:
    """(resolved trades as outcomes, ids of trades with no outcome). Raises Malformed for a corrupt file."""
    from trading.records.legacy_journal import LegacyJournalError, read_legacy_journal

    try:
        trades = read_legacy_journal(path, tz)
    except LegacyJournalError as exc:
        raise Malformed(str(exc)) from exc
    outs, unresolved = [], []
    for t in trades:
        cid = f"pm-{t.order_id}" if t.order_id else f"pm-{t.market_slug or t.asset or 'trade'}-{t.id}"
        r = t.result
        won = r.won if r and r.won is not None else (
            None if not (r and r.winner and t.outcome) else r.winner.strip().lower() == t.outcome.strip().lower())
        pnl = r.pnl if r and r.pnl is not None else (t.expected_pnl(r.winner) if r and r.winner else None)
        if r is None or won is None or pnl is None:
            unresolved.append(cid)
            continue
        sig = None
        if t.confidence is not None and 0 <= t.confidence <= 1:
            sig = Signal(symbol=t.market_slug or t.asset or "", side=Side.BUY, label=f"{t.strategy or ''}:{t.outcome}",
                         confidence=t.confidence, price=t.price, ts=t.timestamp, source="journal")
        outs.append(TradeOutcome(
            trade_cycle_id=cid, venue="polymarket", symbol=t.market_slug or t.asset or "unknown", side="BUY",
            qty=float(t.size or 0.0), opened_at=t.timestamp, closed_at=r.resolved_at or t.timestamp,
            entry_price=float(t.price or 0.0), exit_price=1.0 if won else 0.0, pnl_usd=float(pnl),
            gross_pnl_usd=float(pnl), won=bool(won), outcome_source="journal", exit_reason="resolution", signal=sig))
    return outs, unresolved


def iter_files(paths: Iterable[Path], data_dir: Path) -> Iterator[Path]:
    internal = {(Path(data_dir) / d).resolve() for d in INTERNAL_DIRS}
    seen: set[Path] = set()
    for p in paths:
        p = Path(p)
        if p.is_file():
            cands: Iterable[Path] = [p]
        elif p.is_dir():
            cands = sorted(q for q in p.rglob("*") if q.is_file())
        else:
            raise FileNotFoundError(f"{p}: no such file or folder")
        for q in cands:
            rq = q.resolve()
            rel = q.relative_to(p).parts if p.is_dir() else (q.name,)
            if rq in seen or any(part.startswith(".") for part in rel):
                continue
            if any(parent in internal for parent in rq.parents):
                continue
            seen.add(rq)
            yield q


class MemoryIngestion:
    """One ingestion run over a store. ``progress(n_done, path)`` is called after each file."""

    def __init__(self, store: RagStore, reasoner: Reasoner, progress: Callable[[int, Path], None] | None = None,
                 tz_journal: str = "UTC", bars: Any = None, horizon: int = cf.DEFAULT_HORIZON) -> None:
        self.store = store
        self.bars, self.horizon = bars, horizon
        self._signals: dict[str, cf.SignalRecord] = {}     # by trade_cycle_id: events and journal agree
        self.reasoner = reasoner
        self.progress = progress
        self.tz_journal = tz_journal
        self.report = IngestReport()
        self._outcomes: list[TradeOutcome] = []
        self._sources: list[str] = []
        self._snaps: list[HistorySnapshot] = []
        self._oc = IngestCounts()
        self._sc = IngestCounts()
        self._table_shas: dict[str, str] = {}
        self._sink: list[dict[str, Any]] = []

    # quarantine: a copy, never a move -- the input folder may be the live rag_data/training tree
    def quarantine(self, path: Path, reason: str) -> None:
        data = path.read_bytes()
        sha = hashlib.sha256(data).hexdigest()[:12]
        qdir = self.store.data_dir / "quarantine"
        copy = qdir / f"{sha}-{path.name}"
        already = copy.is_file()
        if not already:
            qdir.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, copy)
        atomic_write_json(copy.with_name(copy.name + ".reason.json"),
                          {"source": str(path), "reason": reason, "sha256_12": sha})
        log.warning("quarantined %s: %s", path, reason)
        self.report.quarantined.append(QuarantineEntry(path=str(path), reason=reason, copy_path=str(copy),
                                                       already=already))

    def run(self, paths: Iterable[Path]) -> IngestReport:
        self._table_shas = self.store.table.shas()
        for i, path in enumerate(iter_files(paths, self.store.data_dir), 1):
            self.report.files_seen += 1
            try:
                self._one(path)
            except Malformed as exc:
                self.quarantine(path, str(exc))
            except OSError as exc:
                self.quarantine(path, f"unreadable: {exc}")
            if len(self._outcomes) >= BATCH or len(self._snaps) >= BATCH:
                self._flush()
            if self.progress:
                self.progress(i, path)
        self._flush()
        if self._sink:
            self.store.table.upsert(self._sink)
        if self._signals:
            table = cf.SignalsTable.in_data_dir(self.store.data_dir)
            self.report.signals |= cf.ingest_signals(list(self._signals.values()), table, self.bars, self.horizon)
        self.report.outcomes = self._oc.as_dict()
        self.report.snapshots = self._sc.as_dict()
        self.report.skipped_ids = self._oc.skipped_ids
        self.report.table_rows = len(self.store.table.load())
        return self.report

    def _flush(self) -> None:
        if self._outcomes:
            self._oc.merge(ingest_outcomes(self.store, self._outcomes, self._sources, self._table_shas, self._sink))
            self._outcomes, self._sources = [], []
        if self._snaps:
            self._sc.merge(ingest_snapshots(self.store, self._snaps))
            self._snaps = []

    def _one(self, path: Path) -> None:
        suffix = path.suffix.lower()
        if suffix == ".json":
            self._json(path)
        elif suffix in DOC_SUFFIXES:
            self._document(path, path.read_text(encoding="utf-8", errors="replace"))
        elif suffix == ".jsonl" and cf.is_events_file(path):
            recs, bad = cf.signals_from_events(path)     # Warden's own telemetry
            self.report.signals["bad_lines"] = self.report.signals.get("bad_lines", 0) + bad
            self._signals.update({r.trade_cycle_id: r for r in recs})
        elif suffix in DB_SUFFIXES and cf.is_warden_journal(path):
            for r in cf.signals_from_journal(path):      # Warden's own journal: its blocked entries
                self._signals.setdefault(r.trade_cycle_id, r)
        elif suffix in DB_SUFFIXES:
            outs, unresolved = journal_outcomes(path, self.tz_journal)
            self.report.journals["files"] += 1
            self.report.journals["trades"] += len(outs) + len(unresolved)
            self.report.journals["unresolved"] += len(unresolved)
            self.report.unresolved_journal_trades += unresolved
            self._outcomes += outs
            self._sources += [str(path)] * len(outs)
        else:
            self.report.unsupported.append(str(path))

    def _json(self, path: Path) -> None:
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except UnicodeDecodeError as exc:
            raise Malformed(f"not UTF-8 text: {exc}") from exc
        except json.JSONDecodeError as exc:
            raise Malformed(f"invalid JSON: {exc}") from exc
        parts = set(path.parts)
        looks_outcome = isinstance(doc, dict) and "trade_cycle_id" in doc and "closed_at" in doc
        looks_snap = isinstance(doc, dict) and "trade_cycle_id" in doc and "taken_at" in doc
        if "trade_outcomes" in parts or looks_outcome:
            self._outcomes.append(self._validate(TradeOutcome, doc))
            self._sources.append(str(path))
        elif "history_snapshots" in parts or looks_snap:
            self._snaps.append(self._validate(HistorySnapshot, doc))
        else:
            title = doc.get("title") or doc.get("name") if isinstance(doc, dict) else None
            text = "\n".join(_json_text(doc))
            self._document(path, (f"# {title}\n\n" if title else "") + text, default_kind="review")

    @staticmethod
    def _validate(model: type[Any], doc: Any) -> Any:
        if not isinstance(doc, dict):
            raise Malformed(f"expected a JSON object for {model.__name__}, got {type(doc).__name__}")
        ver = doc.get("schema_version", SCHEMA_VERSION)
        if ver not in READABLE_VERSIONS:
            raise Malformed(f"unsupported schema_version {ver!r} (this reader knows {str(READABLE_VERSIONS)[1:-1]})")
        try:
            return model.model_validate(doc)
        except ValidationError as exc:
            errs = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}" for e in exc.errors()[:5])
            raise Malformed(f"not a valid {model.__name__}: {errs}") from exc

    def _document(self, path: Path, text: str, default_kind: str = "other") -> None:
        text = text.strip()
        if not text:
            self.report.unsupported.append(str(path))
            return
        sha = hashlib.sha256(text.encode()).hexdigest()
        if self.store.has_document(sha):
            self.report.documents["skipped"] += 1
            return
        card = describe_document(self.reasoner, path.name, text)
        kind = card.kind if card.kind != "other" else default_kind
        if card.date:
            ts = datetime.fromisoformat(card.date).replace(tzinfo=UTC).timestamp()
        else:
            ts = path.stat().st_mtime        # undated: the file's time, so as_of still applies
        parts = chunks(text)
        ids = [f"doc-{sha[:16]}-{i:03d}" for i in range(len(parts))]
        metas = [{"doc_sha": sha, "title": card.title, "kind": kind, "source": str(path), "doc_ts": ts,
                  "chunk": i, "n_chunks": len(parts), "dated": card.date is not None} for i in range(len(parts))]
        # the title rides along in each chunk so a chunk found alone still says where it comes from
        texts = [p if i == 0 else f"{card.title}\n\n{p}" for i, p in enumerate(parts)]
        self.store.add_document_chunks(ids, texts, metas)
        self.report.documents["added"] += 1
        self.report.documents["chunks"] += len(parts)


def ingest_paths(paths: Iterable[Path | str], store: RagStore, reasoner: Reasoner,
                 progress: Callable[[int, Path], None] | None = None, tz_journal: str = "UTC") -> IngestReport:
    return MemoryIngestion(store, reasoner, progress, tz_journal).run([Path(p) for p in paths])
