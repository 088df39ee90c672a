"""The canonical outcomes table: one row per closed trade cycle, Parquet under ``<data_dir>/tables/``.

Rows are flattened ``TradeOutcome``s keyed by ``trade_cycle_id``; ingestion upserts them (same id, new
content -> the row is replaced; same content -> nothing changes). The numeric questions of the learning
agent (tools/memory/questions.py) run pandas over this table and nothing else. Each row carries the
instrument's ``asset_class`` and ``currency`` (the unit of its ``pnl_usd``/``gross_pnl_usd``/``fees_usd``);
a table written before they existed gets them from each row's symbol when it is loaded.

Failure contract: a missing table loads as an empty frame with the full schema; a vector file of
another layout loads as None (the local index then steps aside); writes are atomic, so a crash leaves
the previous file whole. Parquet/IO errors propagate.
"""
from __future__ import annotations

import hashlib
import io
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from tools.memory.situations import REASON_SLOTS, SITUATION_DIM, SITUATION_VERSION, asset_of, regime_labels
from trading.records.atomic import atomic_write_bytes
from trading.records.outcome_schema import TradeOutcome, instrument_facts

TABLE_RELPATH = Path("tables") / "outcomes.parquet"
VECTORS_RELPATH = Path("tables") / "situation_vectors.parquet"
VECTOR_KEY = "_vector"          # a row may carry its situation vector under this key (see OutcomesTable.upsert)

# Column -> pandas dtype. Reason codes are kept twice: a "|"-joined string (for exploding by code) and
# one boolean column per code (rc_<CODE>) so filters stay plain column comparisons.
COLUMNS: dict[str, str] = {
    "trade_cycle_id": "string", "venue": "string", "symbol": "string", "asset": "string", "side": "string",
    "qty": "float64", "opened_at": "datetime64[us, UTC]", "closed_at": "datetime64[us, UTC]",
    "closed_date": "string", "entry_price": "float64", "exit_price": "float64", "pnl_usd": "float64",
    "gross_pnl_usd": "float64", "fees_usd": "float64", "won": "bool", "outcome_source": "string",
    "exit_reason": "string", "signal_label": "string", "signal_side": "string", "signal_confidence": "float64",
    "advisory_action": "string", "advisory_source": "string", "advisory_confidence": "float64", "advisory_only": "boolean",
    "stop": "float64", "target": "float64", "has_stop": "boolean", "has_target": "boolean",
    "worst_case_loss": "float64", "max_loss_per_trade": "float64", "regime": "string", "regime_trend": "string",
    "regime_vol": "string", "reason_codes": "string", "n_reason_codes": "int64", "blocked_verdicts": "int64",
    "n_fills": "int64", "content_sha": "string", "source": "string",
    "asset_class": "string", "currency": "string", "multiplier": "float64",
}
RC_PREFIX = "rc_"
NO_ADVISORY = "NONE"


def outcome_sha(model: Any) -> str:
    """Content hash of a pydantic record via its Rust JSON serialiser (field order is fixed by the model)."""
    return hashlib.sha256(model.model_dump_json().encode()).hexdigest()[:32]


def _utc(ts: datetime) -> datetime:
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def outcome_row(o: TradeOutcome, sha: str | None = None, source: str = "") -> dict[str, Any]:
    """Flatten one outcome. ``has_stop`` means a positive protective stop was attached (risk, else signal);
    it is empty (NA) for binary shares (venue polymarket), where a stop does not apply: the premium is the
    worst case, so "trades with no protective stop" never counts them."""
    stop = o.risk.stop if o.risk and o.risk.stop is not None else (o.signal.stop if o.signal else None)
    target = o.risk.target if o.risk and o.risk.target is not None else (o.signal.target if o.signal else None)
    codes = [str(c) for c in o.reason_codes]
    trend, vol = regime_labels(o.regime)
    binary = o.venue == "polymarket"
    row: dict[str, Any] = {
        "trade_cycle_id": o.trade_cycle_id, "venue": o.venue, "symbol": o.symbol, "asset": asset_of(o.symbol),
        "side": o.side.upper(), "qty": o.qty, "opened_at": _utc(o.opened_at), "closed_at": _utc(o.closed_at),
        "closed_date": _utc(o.closed_at).date().isoformat(), "entry_price": o.entry_price,
        "exit_price": o.exit_price, "pnl_usd": o.pnl_usd, "gross_pnl_usd": o.gross_pnl_usd, "fees_usd": o.fees_usd,
        "won": bool(o.won), "outcome_source": o.outcome_source, "exit_reason": o.exit_reason,
        "signal_label": o.signal.label if o.signal else "",
        "signal_side": (o.signal.side.value if o.signal and o.signal.side else "HOLD") if o.signal else "",
        "signal_confidence": o.signal.confidence if o.signal else None,
        "advisory_action": o.advisory.action.value if o.advisory else NO_ADVISORY,
        "advisory_source": o.advisory.source if o.advisory else None,
        "advisory_confidence": o.advisory.confidence if o.advisory else None,
        "advisory_only": o.advisory.advisory_only if o.advisory else None,
        "stop": stop, "target": target,
        "has_stop": None if binary else stop is not None and stop > 0,
        "has_target": None if binary else target is not None and target > 0,
        "worst_case_loss": o.risk.worst_case_loss if o.risk else None,
        "max_loss_per_trade": o.risk.max_loss_per_trade if o.risk else None,
        "regime": o.regime, "regime_trend": trend or "", "regime_vol": vol or "",
        "reason_codes": "|".join(codes), "n_reason_codes": len(codes),
        "blocked_verdicts": sum(1 for v in o.verdicts if not v.allowed), "n_fills": len(o.fills),
        "content_sha": sha or outcome_sha(o), "source": source,
        "asset_class": o.asset_class, "currency": o.currency, "multiplier": o.multiplier,
    }
    for code in set(REASON_SLOTS) | set(codes):
        row[RC_PREFIX + code] = code in codes
    return row


def empty_frame() -> pd.DataFrame:
    df = pd.DataFrame({c: pd.Series(dtype=t) for c, t in COLUMNS.items()})
    for code in REASON_SLOTS:
        df[RC_PREFIX + code] = pd.Series(dtype="bool")
    return df


def frame_from_rows(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    df = pd.DataFrame(list(rows))
    return conform(df)


def conform(df: pd.DataFrame) -> pd.DataFrame:
    """Every documented column present with its dtype; rc_* columns filled False where absent."""
    base = empty_frame()
    if df.empty:
        extra = [c for c in df.columns if c.startswith(RC_PREFIX) and c not in base.columns]
        for c in extra:
            base[c] = pd.Series(dtype="bool")
        return base
    out = df.copy()
    for col, dtype in COLUMNS.items():
        if col not in out.columns:
            out[col] = pd.Series([None] * len(out), index=out.index)
        if dtype.startswith("datetime64"):
            out[col] = pd.to_datetime(out[col], utc=True).astype(dtype)
        elif dtype == "bool":
            out[col] = out[col].fillna(False).astype(bool)
        else:
            out[col] = out[col].astype(dtype)
    for col in list(out.columns):
        if col.startswith(RC_PREFIX):
            out[col] = out[col].fillna(False).astype(bool)
    for code in REASON_SLOTS:
        if RC_PREFIX + code not in out.columns:
            out[RC_PREFIX + code] = False
    _fill_instrument_facts(out)
    return out


def _fill_instrument_facts(df: pd.DataFrame) -> None:
    """Rows without an asset class or currency (a table or a row written before they existed) get them
    from their symbol and venue through the instrument registry, once per distinct pair."""
    gap = df["asset_class"].isna() | df["currency"].isna() | (df["asset_class"] == "") | (df["currency"] == "")
    if not gap.any():
        return
    pairs = df.loc[gap, ["symbol", "venue"]].astype(object).where(lambda x: x.notna(), "").drop_duplicates()
    facts = {(str(s), str(v)): instrument_facts(str(s), str(v)) for s, v in pairs.itertuples(index=False)}
    keys = list(zip(df.loc[gap, "symbol"].astype(object).fillna(""), df.loc[gap, "venue"].astype(object).fillna(""),
                    strict=True))
    for col in ("asset_class", "currency", "multiplier"):
        cur = df.loc[gap, col]
        new = pd.Series([getattr(facts[(str(s), str(v))], col) for s, v in keys], index=cur.index)
        df.loc[gap, col] = cur.where(cur.notna() & (cur != "") if col != "multiplier" else cur.notna(), new)


class VectorFile:
    """The situation vector of every row of the table, by ``trade_cycle_id``, in its own Parquet file (so
    questions never load it). The store uses it as a local exact index for filtered searches; the layout
    version rides in the file's metadata and a file of another layout is ignored, never mixed."""

    def __init__(self, path: Path, layout: str = f"{SITUATION_VERSION}-{SITUATION_DIM}", dim: int = SITUATION_DIM):
        self.path = Path(path)
        self.layout = layout
        self.dim = dim

    def load(self) -> tuple[list[str], np.ndarray] | None:
        if not self.path.is_file():
            return None
        tab = pq.read_table(self.path)
        meta = tab.schema.metadata or {}
        if meta.get(b"warden_layout", b"").decode() != self.layout:
            return None
        ids = tab.column("trade_cycle_id").to_pylist()
        flat = tab.column("vector").combine_chunks().flatten().to_numpy(zero_copy_only=False)
        return ids, np.asarray(flat, dtype=np.float32).reshape(len(ids), self.dim)

    def upsert(self, vectors: dict[str, Any]) -> None:
        if not vectors:
            return
        cur = self.load()
        ids, mats = [], []
        if cur is not None:
            keep = [i for i, cid in enumerate(cur[0]) if cid not in vectors]
            ids += [cur[0][i] for i in keep]
            mats.append(cur[1][keep])
        ids += list(vectors)
        mats.append(np.asarray(list(vectors.values()), dtype=np.float32).reshape(len(vectors), self.dim))
        mat = np.concatenate(mats) if len(mats) > 1 else mats[0]
        tab = pa.table({"trade_cycle_id": pa.array(ids, pa.string()),
                        "vector": pa.FixedSizeListArray.from_arrays(pa.array(mat.ravel(), pa.float32()), self.dim)})
        tab = tab.replace_schema_metadata({"warden_layout": self.layout})
        buf = io.BytesIO()
        pq.write_table(tab, buf, compression="zstd")
        atomic_write_bytes(self.path, buf.getvalue())


class OutcomesTable:
    """Parquet-backed table with upsert by ``trade_cycle_id``; writes are atomic (temp + rename)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.vectors = VectorFile(self.path.with_name(VECTORS_RELPATH.name))
        self._cache: tuple[float, pd.DataFrame] | None = None

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> OutcomesTable:
        return cls(Path(data_dir) / TABLE_RELPATH)

    def load(self) -> pd.DataFrame:
        if not self.path.is_file():
            return empty_frame()
        mtime = self.path.stat().st_mtime_ns
        if self._cache and self._cache[0] == mtime:
            return self._cache[1]
        df = conform(pd.read_parquet(self.path))
        self._cache = (mtime, df)
        return df

    def shas(self) -> dict[str, str]:
        df = self.load()
        return dict(zip(df["trade_cycle_id"].tolist(), df["content_sha"].tolist(), strict=True))

    def upsert(self, rows: list[dict[str, Any]]) -> tuple[int, int]:
        """Insert new ids, replace changed ones; returns (added, updated). Unchanged rows are not rewritten.

        Rows may carry their situation vector under ``_vector``: those go to the vector file first, so a
        table row never exists without its vector (the table is written last)."""
        if not rows:
            return 0, 0
        vecs = {r["trade_cycle_id"]: r[VECTOR_KEY] for r in rows if r.get(VECTOR_KEY) is not None}
        rows = [{k: v for k, v in r.items() if k != VECTOR_KEY} for r in rows]
        self.vectors.upsert(vecs)
        current = self.load()
        known = dict(zip(current["trade_cycle_id"].tolist(), current["content_sha"].tolist(), strict=True))
        latest: dict[str, dict[str, Any]] = {}
        for r in rows:                       # last one wins inside a batch
            latest[r["trade_cycle_id"]] = r
        fresh = [r for i, r in latest.items() if known.get(i) != r["content_sha"]]
        if not fresh:
            return 0, 0
        added = sum(1 for r in fresh if r["trade_cycle_id"] not in known)
        updated = len(fresh) - added
        new = frame_from_rows(fresh)
        if updated:
            current = current[~current["trade_cycle_id"].isin([r["trade_cycle_id"] for r in fresh])]
        frames = [f for f in (current, new) if not f.empty]
        merged = conform(pd.concat(frames, ignore_index=True)) if len(frames) > 1 else conform(frames[0])
        merged = merged.sort_values(["closed_at", "trade_cycle_id"], kind="stable").reset_index(drop=True)
        buf = io.BytesIO()
        merged.to_parquet(buf, index=False)
        atomic_write_bytes(self.path, buf.getvalue())
        self._cache = (self.path.stat().st_mtime_ns, merged)
        return added, updated
