"""The ingestion agent and `warden ingest`: idempotent, quarantines malformed files, reads journals and
documents, and never touches its own data folders when pointed at the data dir."""
from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agents.llm import LLMUnavailable, OfflineReasoner
from agents.memory_ingestion import DocumentCard, card_policy, chunks, describe_document, ingest_paths, journal_outcomes
from tools.memory.store import RagStore
from tools.samples.outcomes import write_samples
from warden.cli import app

POSTMORTEM = """# Postmortem – 2025-12-12 ES Loss

## Incident Summary
- Exit order 15638 filled SELL 1 @ 6856.50 after an unintended BUY @ 6890.50.
- Loss -$1,700, no protective orders, the AWS agents advised WAIT.

## Root Causes
1. Exit orders could open fresh positions: no reduce-only check.
2. WAIT advisories were treated as cosmetic.
"""


def _tree(root: Path, n: int = 40) -> list:
    outs = write_samples(root, n=n, seed=21)
    (root / "reports").mkdir()
    (root / "reports" / "POSTMORTEM_2025-12-12.md").write_text(POSTMORTEM)
    (root / "reports" / "team_review.json").write_text(json.dumps(
        {"title": "Risk team review", "findings": ["drawdown halt never fired", "peak reset on restart"]}))
    return outs


def test_folder_ingestion_is_idempotent(tmp_path: Path) -> None:
    src, data = tmp_path / "src", tmp_path / "data"
    outs = _tree(src)
    store = RagStore.open(data)
    r1 = ingest_paths([src], store, OfflineReasoner())
    assert r1.outcomes["added"] == len(outs) and r1.snapshots["added"] == len(outs)
    assert r1.documents["added"] == 2 and not r1.quarantined
    assert store.counts() == {"trade_cycles": 40, "history_snapshots": 40, "documents": r1.documents["chunks"],
                              "outcomes_table": 40}
    r2 = ingest_paths([src], RagStore.open(data), OfflineReasoner())
    assert r2.outcomes == {"added": 0, "updated": 0, "repaired": 0, "skipped": 40, "duplicates": 0}
    assert r2.snapshots["skipped"] == 40 and r2.documents == {"added": 0, "skipped": 2, "chunks": 0}
    assert sorted(r2.skipped_ids) == sorted(o.trade_cycle_id for o in outs)
    assert not r2.added_anything()
    assert store.counts()["trade_cycles"] == 40


def test_malformed_files_are_quarantined_and_the_rest_goes_on(tmp_path: Path) -> None:
    src, data = tmp_path / "src", tmp_path / "data"
    outs = write_samples(src, n=10, seed=3)
    day = src / "training" / "trade_outcomes" / outs[0].closed_at.date().isoformat()
    (day / "broken.json").write_text('{"trade_cycle_id": "x", ')
    bad = json.loads((day / f"{outs[1].trade_cycle_id}.json").read_text())
    bad.pop("pnl_usd")
    (day / "missing-field.json").write_text(json.dumps(bad))
    future = dict(bad, pnl_usd=1.0, schema_version=9, trade_cycle_id="future")
    (day / "future.json").write_text(json.dumps(future))
    (src / "notes.bin").write_bytes(b"\x00\x01")
    store = RagStore.open(data)
    rep = ingest_paths([src], store, OfflineReasoner())
    reasons = {Path(q.path).name: q.reason for q in rep.quarantined}
    assert set(reasons) == {"broken.json", "missing-field.json", "future.json"}
    assert "invalid JSON" in reasons["broken.json"]
    assert "pnl_usd" in reasons["missing-field.json"]
    assert "schema_version 9" in reasons["future.json"]
    assert rep.outcomes["added"] == 10 and rep.unsupported == [str(src / "notes.bin")]
    for q in rep.quarantined:
        copy = Path(q.copy_path)
        assert copy.read_bytes() == Path(q.path).read_bytes()            # copied, never moved
        assert json.loads(copy.with_name(copy.name + ".reason.json").read_text())["reason"] == q.reason
    again = ingest_paths([src], store, OfflineReasoner())
    assert all(q.already for q in again.quarantined) and len(again.quarantined) == 3


def test_the_data_dir_itself_can_be_ingested(tmp_path: Path) -> None:
    """The execution loop writes outcomes under the data dir; our own chroma/tables folders are skipped."""
    outs = write_samples(tmp_path, n=12, seed=9)
    store = RagStore.open(tmp_path)
    rep = ingest_paths([tmp_path], store, OfflineReasoner())
    assert rep.outcomes["added"] == 12 and not rep.quarantined and not rep.unsupported
    rep2 = ingest_paths([tmp_path], store, OfflineReasoner())
    assert rep2.outcomes["skipped"] == 12 and rep2.files_seen == rep.files_seen
    assert len(outs) == 12


def _journal(path: Path) -> None:
    con = sqlite3.connect(path)
    con.executescript("""
    CREATE TABLE trades (id INTEGER PRIMARY KEY, timestamp TEXT NOT NULL, strategy TEXT, market_slug TEXT,
      asset TEXT, outcome TEXT, side TEXT, price REAL, size REAL, cost REAL, confidence REAL, order_id TEXT,
      status TEXT);
    CREATE TABLE outcomes (trade_id INTEGER PRIMARY KEY REFERENCES trades(id), resolved_at TEXT, winner TEXT,
      won INTEGER, payout REAL, pnl REAL);
    INSERT INTO trades VALUES (1, '2026-01-15 08:01:00', 'ml_rf', 'btc-updown-15m-1768464000', 'BTC', 'Up', 'BUY',
      0.40, 10, 4.0, 0.71, '0xa1', 'matched');
    INSERT INTO trades VALUES (2, '2026-01-15 08:16:00', 'ml_rf', 'eth-updown-15m-1768464900', 'ETH', 'Down', 'BUY',
      0.30, 20, 6.0, 0.66, '0xa2', 'matched');
    INSERT INTO trades VALUES (3, '2026-01-15 08:31:00', 'ml_rf', 'sol-updown-15m-1768465800', 'SOL', 'Up', 'BUY',
      0.45, 10, 4.5, 0.62, '0xa3', 'matched');
    INSERT INTO outcomes VALUES (1, '2026-01-15 08:16:05', 'Up', 1, 10.0, 6.0);
    INSERT INTO outcomes VALUES (2, '2026-01-15 08:31:05', 'Up', NULL, NULL, NULL);
    """)
    con.commit()
    con.close()


def test_journal_trades_with_outcomes_become_cycles(tmp_path: Path) -> None:
    db = tmp_path / "trade_journal.db"
    _journal(db)
    outs, unresolved = journal_outcomes(db)
    assert [o.trade_cycle_id for o in outs] == ["pm-0xa1", "pm-0xa2"]
    assert outs[0].won and outs[0].pnl_usd == 6.0
    assert not outs[1].won and outs[1].pnl_usd == pytest.approx(-6.0)     # -cost, from the winner
    assert unresolved == ["pm-0xa3"]
    store = RagStore.open(tmp_path / "data")
    rep = ingest_paths([db], store, OfflineReasoner())
    assert rep.journals == {"files": 1, "trades": 3, "unresolved": 1}
    assert rep.unresolved_journal_trades == ["pm-0xa3"] and rep.outcomes["added"] == 2
    (tmp_path / "corrupt.db").write_bytes(b"not a database at all" * 50)
    rep2 = ingest_paths([tmp_path / "corrupt.db"], store, OfflineReasoner())
    assert len(rep2.quarantined) == 1 and "SQLite" in rep2.quarantined[0].reason


def test_document_card_policy() -> None:
    card = card_policy({"name": "POSTMORTEM_2025-12-12.md", "text": POSTMORTEM})
    assert card == DocumentCard(kind="postmortem", title="Postmortem – 2025-12-12 ES Loss", date="2025-12-12",
                                summary=card.summary)
    assert card.summary.startswith("- Exit order 15638")
    c2 = card_policy({"name": "notes.txt", "text": "Incident Analysis Task\n\n**Date Created:** January 16, 2026"})
    assert (c2.kind, c2.date) == ("incident_report", "2026-01-16")


class _Broken:
    name = "bedrock"

    def reason(self, *a, **k):  # noqa: ANN002, ANN003, ANN201
        raise LLMUnavailable("throttled")


class _Inventive:
    name = "bedrock"

    def reason(self, role, prompt, evidence, schema, policy, cycle_id=None):  # noqa: ANN001, ANN201
        return schema(kind="postmortem", title="t", date="1999-01-01", summary="lost 99999 dollars",
                      ungrounded_numbers=["99999"])


def test_document_card_through_the_seam_keeps_only_what_the_file_says() -> None:
    off = card_policy({"name": "POSTMORTEM_2025-12-12.md", "text": POSTMORTEM})
    assert describe_document(_Broken(), "POSTMORTEM_2025-12-12.md", POSTMORTEM) == off
    card = describe_document(_Inventive(), "POSTMORTEM_2025-12-12.md", POSTMORTEM)
    assert card.date == "2025-12-12" and card.summary == off.summary and card.ungrounded_numbers == ["99999"]


def test_chunks_respect_the_limit_and_keep_all_text() -> None:
    text = "\n\n".join(f"Paragraph {i} " + "word " * (i * 40) for i in range(12))
    parts = chunks(text, limit=500)
    assert all(len(p) <= 500 for p in parts)
    assert "".join(parts).replace("\n", "").replace(" ", "") == text.replace("\n", "").replace(" ", "")


def test_cli_ingest_plain_then_json(tmp_path: Path) -> None:
    src, data = tmp_path / "src", tmp_path / "data"
    _tree(src, n=15)
    runner = CliRunner()
    r1 = runner.invoke(app, ["ingest", str(src), "--data-dir", str(data)])
    assert r1.exit_code == 0, r1.output
    assert "trade outcomes: 15 added" in r1.output and "documents: 2 added" in r1.output
    r2 = runner.invoke(app, ["ingest", str(src), "--data-dir", str(data), "--json"])
    doc = json.loads(r2.output)
    assert doc["outcomes"]["added"] == 0 and doc["outcomes"]["skipped"] == 15
    assert doc["store"]["trade_cycles"] == 15
    r3 = runner.invoke(app, ["ingest", str(src), "--data-dir", str(data)])
    assert "nothing new" in r3.output
    r4 = runner.invoke(app, ["ingest", str(tmp_path / "missing"), "--data-dir", str(data)])
    assert r4.exit_code != 0 and "no such file or folder" in str(r4.exception)


def test_live_loop_buffer_batches_table_rows_and_loses_none(tmp_path: Path) -> None:
    from tools.memory.ingest import OutcomeIngestBuffer, ingest_outcomes
    from tools.samples.outcomes import generate

    outs = [o for o, _snap in generate(n=5, seed=3)]
    store = RagStore.open(tmp_path)
    buf = OutcomeIngestBuffer(store, flush_every=2)
    for o in outs:
        buf(o)
    # each cycle reached the vector store at once; the table got them in batches of two
    assert store.counts()["trade_cycles"] == 5 and store.counts()["outcomes_table"] == 4
    # a crash here loses nothing: a later ingestion repairs the table from the same outcomes
    again = ingest_outcomes(RagStore.open(tmp_path), outs)
    assert again.repaired == 1 and again.skipped == 4
    buf.flush()
    assert RagStore.open(tmp_path).counts()["outcomes_table"] == 5
