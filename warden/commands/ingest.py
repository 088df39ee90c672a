"""``warden ingest PATH...``: trade outcomes, snapshots, journals, reports and fills files into the memory
(idempotent).

A fills file (tools/memory/fills_ingest.py) is recognised by its header / shape, or forced with ``--fills``
/ ``--format``; each closed position becomes one trade record. Every fills file is read before anything
is written, so a bad file named on the command line stops the run with nothing half-ingested.

Failure contract: an unreadable input, a file named on the command line that is no known fills layout
(a CSV, or anything under ``--fills`` / ``--format``) or a memory that cannot open is a ``UserError``
(exit 2, one line naming the file and the layouts accepted).
"""
from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from warden.errors import UserError
from warden.options import DEFAULT_DATA_DIR, LLM, DataDir, Json, LLMChoice


class FillsLayout(StrEnum):
    """The names of tools.memory.fills_ingest.LAYOUTS (tests keep the two in step)."""
    hummingbot = "hummingbot"
    polymarket = "polymarket"
    polymarket_api = "polymarket-api"
    freqtrade = "freqtrade"
    generic = "generic"


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


def _plain(report: Any, store: Any, fills_added: bool = False) -> str:
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
    if not report.added_anything() and not report.quarantined and not fills_added:
        lines.append("nothing new: everything was already in the memory")
    return "\n".join(lines)


def _fills_lines(files: list[Any], counts: dict[str, int], not_read: list[tuple[str, str]]) -> list[str]:
    from tools.memory.fills_ingest import label

    lines = []
    for ff in files:
        pnl = ", ".join(f"{v:+,.2f} {c}".rstrip() if abs(v) >= 1 or v == 0 else f"{v:+.4g} {c}".rstrip()
                        for c, v in ff.net_pnl.items()) or "none"
        lines.append(f"fills file {ff.path} ({label(ff.layout, ff.path)}): {ff.rows} rows read, "
                     f"{ff.fills} fills, {ff.duplicates} duplicate fills dropped, {len(ff.bad)} bad rows")
        if ff.truncated:
            lines.append("  only the first rows were read (row limit); split the file")
        lines.append(f"  positions: {len(ff.records)} closed (one record each), {ff.open_positions} still open "
                     "(not recorded)" + (f", {ff.incomplete} began before the file (not recorded)" if ff.incomplete
                                         else "") + f"; net PnL of the closed: {pnl}")
        for b in ff.bad[:5]:
            lines.append(f"  bad {b}")
        if len(ff.bad) > 5:
            lines.append(f"  ... and {len(ff.bad) - 5} more bad rows (--json lists them all)")
    for path, why in not_read:
        lines.append(f"not read as fills: {path}: {why}")
    if files:
        lines.append(f"fills records: {counts.get('added', 0)} added, {counts.get('updated', 0)} updated, "
                     f"{counts.get('repaired', 0)} repaired, {counts.get('skipped', 0)} duplicates skipped "
                     "(already stored)")
    return lines


def _split_fills(paths: list[Path], files: list[Path], forced: bool, layout: str | None,
                 ) -> tuple[list[Any], list[Path], list[tuple[str, str]]]:
    """(fills files read, the other files, fills-looking files that were not fills). A file named on the
    command line that should be fills and is not raises UserError; one found in a folder goes on."""
    from tools.logs.fills_import import FillsFormatError, looks_like_fills
    from tools.memory.fills_ingest import read_fills_file

    explicit = {p.resolve() for p in paths if p.is_file()}
    read, other, not_read = [], [], []
    for f in files:
        named = f.resolve() in explicit
        if not ((named and (forced or f.suffix.lower() == ".csv")) or looks_like_fills(f)):
            other.append(f)
            continue
        try:
            read.append(read_fills_file(f, layout))
        except FillsFormatError as exc:
            if named and (forced or f.suffix.lower() not in (".db", ".sqlite")):
                raise UserError(str(exc)) from None
            not_read.append((str(f), str(exc).removeprefix(f"{f}: ")))
            if f.suffix.lower() != ".csv":
                other.append(f)        # e.g. a trade journal named trades.db: the usual ingestion reads it
    return read, other, not_read


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
    fills: Annotated[bool, typer.Option(
        "--fills", help="Read every FILE named here as a fills file (else fills files are recognised by their "
                        "header: Hummingbot trades CSV, Polymarket wallet fills / data-API JSON, freqtrade, "
                        "generic time,symbol,side,qty,price).")] = False,
    layout: Annotated[FillsLayout | None, typer.Option(
        "--format", help="The fills layout of the FILEs named here (implies --fills); a file of another "
                         "layout is an error.")] = None,
) -> None:
    """Ingest trade-outcome JSON, history snapshots, trade journals, reports and fills files into the memory.

    Idempotent: a second run over the same files adds nothing and says what it skipped. Malformed files
    are copied to DATA_DIR/quarantine with the reason; the rest goes on. A fills file becomes one trade
    record per closed position (FIFO per market and outcome; docs/memory.md).
    """
    from agents.memory_ingestion import MemoryIngestion, iter_files
    from tools.memory.fills_ingest import store_fills

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
    tty = sys.stderr.isatty() and not json_out
    if tty:
        from rich.console import Console

        with Console(stderr=True).status("reading fills files"):
            fills_read, files, not_read = _split_fills(paths, files, fills or layout is not None,
                                                       layout.value if layout else None)
    else:
        fills_read, files, not_read = _split_fills(paths, files, fills or layout is not None,
                                                   layout.value if layout else None)
    fills_counts = store_fills(store, fills_read) if fills_read else {}
    report = None
    if files or not fills_read:
        if tty:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            with Progress(TextColumn("ingesting"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                          TextColumn("{task.description}"), transient=True) as bar:
                task = bar.add_task("", total=len(files))
                report = MemoryIngestion(store, reasoner,
                                         lambda n, p: bar.update(task, completed=n, description=p.name),
                                         tz_journal, bars, horizon).run(files)
        else:
            report = MemoryIngestion(store, reasoner, None, tz_journal, bars, horizon).run(files)
    if json_out:
        doc: dict[str, Any] = report.model_dump(mode="json") if report else {}
        doc["fills"] = [{"path": ff.path, "layout": ff.layout, "rows": ff.rows, "fills": ff.fills,
                         "duplicate_fills": ff.duplicates, "bad_rows": ff.bad, "truncated": ff.truncated,
                         "closed_positions": len(ff.records), "open_positions": ff.open_positions,
                         "incomplete_positions": ff.incomplete, "net_pnl": ff.net_pnl,
                         "records": [o.trade_cycle_id for o in ff.records]} for ff in fills_read]
        doc["fills_records"] = fills_counts
        doc["fills_not_read"] = [{"path": p, "reason": r} for p, r in not_read]
        print(json.dumps(doc | {"store": store.counts()}, indent=2))
        return
    lines = _fills_lines(fills_read, fills_counts, not_read)
    if report is not None:
        lines.append(_plain(report, store, bool(fills_counts.get("added") or fills_counts.get("updated"))))
    else:
        n = len(store.table.load())
        lines.append(f"outcomes table: {n} row{'s' if n != 1 else ''} ({store.table.path})")
    print("\n".join(lines))


def register(app: typer.Typer) -> None:
    app.command("ingest")(ingest)
