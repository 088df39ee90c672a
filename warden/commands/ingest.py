"""``warden ingest PATH...``: trade outcomes, snapshots, journals and reports into the memory (idempotent).

Failure contract: an unreadable input or a memory that cannot open is a ``UserError`` (exit 2).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from warden.errors import UserError
from warden.options import DEFAULT_DATA_DIR, LLM, DataDir, Json, LLMChoice


def open_memory(data_dir: Path, llm: LLMChoice | None = None) -> tuple[Any, Any, Any]:
    """(settings, store, reasoner) for the memory commands; configuration problems become UserError."""
    from agents.llm import get_reasoner
    from tools.memory.embeddings import EmbeddingUnavailable
    from tools.memory.store import RagStore, StoreError
    from trading.settings import load_settings

    settings = load_settings(data_dir=data_dir)
    try:
        store = RagStore.open(data_dir, settings)
        store.documents()          # fail now, with the collection named, on an embedding mismatch
        reasoner = get_reasoner(llm.value if llm else settings.llm.provider, settings)
    except (StoreError, EmbeddingUnavailable) as exc:
        raise UserError(str(exc)) from None
    except Exception as exc:  # noqa: BLE001 - e.g. Bedrock without credentials: one clear line
        raise UserError(f"cannot open the memory under {data_dir}: {type(exc).__name__}: {exc}") from None
    return settings, store, reasoner


def _plain(report: Any, store: Any) -> str:
    o, s, d, j = report.outcomes, report.snapshots, report.documents, report.journals
    lines = [f"files read: {report.files_seen}",
             f"trade outcomes: {o.get('added', 0)} added, {o.get('updated', 0)} updated, "
             f"{o.get('repaired', 0)} repaired, {o.get('skipped', 0)} skipped (already stored), "
             f"{o.get('duplicates', 0)} duplicate ids",
             f"history snapshots: {s.get('added', 0)} added, {s.get('updated', 0)} updated, "
             f"{s.get('skipped', 0)} skipped (already stored)",
             f"documents: {d['added']} added ({d['chunks']} chunks), {d['skipped']} skipped (already stored)"]
    if j["files"]:
        lines.append(f"journals: {j['files']} files, {j['trades']} trades, {j['unresolved']} without an outcome "
                     "(not ingested)")
    if report.signals.get("records"):
        g = report.signals
        lines.append(f"signals not traded: {g['records']} ({g['wait']} advised WAIT, {g['blocked']} blocked by the "
                     f"guards), {g['added']} added, {g['updated']} updated"
                     + (f"; {g['without_bars']} without candles: no counterfactual PnL (pass --candles)"
                        if g["without_bars"] else ""))
    for q in report.quarantined:
        lines.append(f"quarantined {q.path}: {q.reason} -> {q.copy_path}")
    if report.unsupported:
        lines.append(f"unsupported files (ignored): {len(report.unsupported)}")
    lines.append(f"outcomes table: {report.table_rows} rows ({store.table.path})")
    if not report.added_anything() and not report.quarantined:
        lines.append("nothing new: everything was already in the memory")
    return "\n".join(lines)


def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders (walked recursively).")],
    data_dir: DataDir = DEFAULT_DATA_DIR,
    llm: LLM = LLMChoice.offline,
    json_out: Json = False,
    tz_journal: Annotated[str, typer.Option("--tz-journal", help="Zone of naive journal timestamps.")] = "UTC",
    candles: Annotated[Path | None, typer.Option(
        "--candles", help="Candle file the run traded on: WAIT-advised and blocked entries from events.jsonl / "
                          "journal.db get the counterfactual PnL over the next --horizon bars.")] = None,
    horizon: Annotated[int, typer.Option("--horizon", min=1, max=10000,
                                         help="Bars after a WAIT-advised or blocked signal to follow.")] = 60,
) -> None:
    """Ingest trade-outcome JSON, history snapshots, trade journals and reports into the RAG store.

    Idempotent: a second run over the same files adds nothing and says what it skipped. Malformed files
    are copied to DATA_DIR/quarantine with the reason; the rest goes on.
    """
    from agents.memory_ingestion import MemoryIngestion, iter_files

    bars = None
    if candles is not None:
        from tools.memory.counterfactual import bars_frame
        from trading.market.candles import CandleFormatError, read_candles

        try:
            bars = bars_frame(read_candles(candles))
        except (OSError, CandleFormatError) as exc:
            raise UserError(f"--candles {candles}: {exc}") from None
    _, store, reasoner = open_memory(data_dir, llm)
    try:
        files = list(iter_files(paths, data_dir))
    except FileNotFoundError as exc:
        raise UserError(str(exc)) from None
    if sys.stderr.isatty() and not json_out:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        with Progress(TextColumn("ingesting"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                      TextColumn("{task.description}"), transient=True) as bar:
            task = bar.add_task("", total=len(files))
            report = MemoryIngestion(store, reasoner, lambda n, p: bar.update(task, completed=n, description=p.name),
                                     tz_journal, bars, horizon).run(files)
    else:
        report = MemoryIngestion(store, reasoner, None, tz_journal, bars, horizon).run(files)
    if json_out:
        print(json.dumps(report.model_dump(mode="json") | {"store": store.counts()}, indent=2))
    else:
        print(_plain(report, store))


def register(app: typer.Typer) -> None:
    app.command("ingest")(ingest)
