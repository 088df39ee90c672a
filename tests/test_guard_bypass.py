"""Issue 10: the auditable list of ways around the guards. One test per hole, each naming the reason code
(or exit code) that must stop it once fixed; then bounded property tests over hostile inputs.

Reason codes are compared by their string value (INTENT_CONFLICT, LEDGER_CORRUPT, INPUT_INVALID and
INTERNAL_ERROR were added for these holes). Imports of modules that may move are kept inside the tests.
The end-to-end acceptance of hole 7 through `warden run --broker polymarket` is
tests/test_guards_polymarket_run.py.
"""
from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trading.domain.models import Advisory, AdvisoryAction, IntentKind, OrderIntent, Side, Signal
from trading.guards import BrokerSnapshot, GuardConfig, RiskState, evaluate

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)
NAN, INF = float("nan"), float("inf")
# a Polymarket token id (all digits): a binary share, worst case = the premium paid
TOKEN = "71583992563217201054921439186227845637195740366310582286412093842771602213057"
DOWN_TOKEN = "2894417305818365270148902957812735960114720938377126905561234098743211776543"
HEALTHY = RiskState(equity=100_000.0, peak_equity=100_000.0)


# -- helpers -------------------------------------------------------------------------------------------

def codes(v: Any) -> set[str]:
    """Reason codes of a verdict / result / decision / advisory, as plain strings."""
    raw = getattr(v, "reason_codes", None)
    if raw is None:
        raw = v.get("reason_codes", []) if isinstance(v, dict) else []
    return {getattr(c, "value", c) for c in raw}


def adv(action: str = "BUY", conf: float = 0.7, age_s: float = 1.0) -> Advisory:
    return Advisory(action=action, confidence=conf, ts=NOW - timedelta(seconds=age_s), source="test")


def intent(**kw: Any) -> OrderIntent:
    """An OrderIntent; values the model refuses (qty nan/inf/<=0) are forced in with model_construct, since
    a guard must fail closed on whatever reaches it."""
    from pydantic import ValidationError

    base: dict[str, Any] = dict(kind=IntentKind.ENTRY, side=Side.BUY, qty=1.0, symbol="ESZ5")
    base.update(kw)
    try:
        return OrderIntent(**base)
    except ValidationError:
        probe = OrderIntent(**{**base, "qty": 1.0, "signal_confidence": None})
        return OrderIntent.model_construct(**{**probe.model_dump(), **base})


def graph_api(name: str) -> Any:
    """A name from the advisory graph package wherever the current layout puts it (modules are being split)."""
    import importlib

    for mod in ("graphs.advisory_session", "graphs.advisory_runner", "graphs.advisory"):
        try:
            m = importlib.import_module(mod)
        except ImportError:
            continue
        if hasattr(m, name):
            return getattr(m, name)
    raise ImportError(f"{name} not found in graphs.advisory*")


def env_without_warden(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WARDEN_")}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


def warden(*args: str, cwd: Path, env: dict[str, str] | None = None,
           timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "warden", *args], cwd=cwd, env=env or env_without_warden(),
                          capture_output=True, text=True, timeout=timeout)


def strict_json(text: str) -> Any:
    """json.loads that refuses NaN / Infinity (what every other JSON parser does)."""
    def _bad(tok: str) -> Any:
        raise ValueError(f"non-standard JSON constant {tok}")
    return json.loads(text, parse_constant=_bad)


def one_line_error(stderr: str) -> str:
    lines = [ln for ln in stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, f"expected one error line, got:\n{stderr}"
    assert "Traceback" not in stderr
    return lines[0]


def ledger_path(data_dir: Path) -> Path:
    return data_dir / "risk" / "ledger.jsonl"


def halted_ledger(data_dir: Path, peak: float = 100_000.0, now_eq: float = 60_000.0) -> Path:
    from trading.records.risk_ledger import RiskLedger

    p = ledger_path(data_dir)
    led = RiskLedger(p, GuardConfig())
    led.mark_equity(peak, ts=NOW - timedelta(hours=2))
    led.mark_equity(now_eq, ts=NOW - timedelta(hours=1))
    assert led.state().halted
    return p


def es_entry(**kw: Any) -> OrderIntent:
    base = dict(kind=IntentKind.ENTRY, side=Side.BUY, qty=1.0, symbol="ESZ5", price=6890.0, stop=6880.0,
                target=6910.0, signal_confidence=0.6)
    base.update(kw)
    return intent(**base)


# -- a small paper stack for the executor (own helper; tests/test_exec_guarded.py may change) ----------------

class _Clock:
    def __init__(self, t: datetime) -> None:
        self.t = t

    def __call__(self) -> datetime:
        return self.t


def paper_stack(root: Path, cfg: GuardConfig | None = None, **broker_kw: Any) -> Any:
    from trading.brokers.paper import PaperBroker
    from trading.execution.executor import GuardedExecutor
    from trading.execution.outcome_resolver import OutcomeResolver
    from trading.records.journal import Journal
    from trading.records.risk_ledger import RiskLedger
    from trading.records.telemetry import EventLog

    cfg = cfg or GuardConfig()
    clock = _Clock(datetime(2025, 12, 12, 14, 0, tzinfo=UTC))
    broker = PaperBroker(starting_cash=100_000, commission_per_contract=2.25, **broker_kw)
    ledger = RiskLedger(root / "risk" / "ledger.jsonl", cfg)
    events = EventLog(root / "telemetry" / "events.jsonl")
    journal = Journal(root / "journal" / "journal.db", synchronous="NORMAL")
    resolver = OutcomeResolver(journal, ledger, events, clock=clock)
    ex = GuardedExecutor(broker, ledger, events, journal, cfg, resolver=resolver, read_timeout_s=2.0, clock=clock)

    def feed(o: float, h: float, lo: float, c: float, v: float = 1000.0) -> None:
        from trading.market.candles import Bar

        b = Bar(clock.t, o, h, lo, c, v)
        broker.on_bar("ES", b, clock.t + timedelta(minutes=1))
        clock.t += timedelta(minutes=1)
        ex.service(clock.t)

    from types import SimpleNamespace

    return SimpleNamespace(broker=broker, ledger=ledger, events=events, journal=journal, executor=ex, clock=clock,
                           feed=feed)


# ======================================================================================================
# Hole 1: an ENTRY marked reduce_only is judged on the exit path yet sent as a bracket entry
# ======================================================================================================

def test_hole1_reduce_only_entry_is_an_intent_conflict_in_evaluate() -> None:
    """Hole 1. OrderIntent(kind=ENTRY, reduce_only=True) skipped halts, the advisory gate and protection
    (exit path). With a latched drawdown halt and a WAIT it was allowed. After the fix: blocked with
    INTENT_CONFLICT, before any other guard runs (the only code on the verdict)."""
    i = intent(kind=IntentKind.ENTRY, side=Side.SELL, qty=1, symbol="ESZ5", price=6890.0, reduce_only=True)
    halted = RiskState(equity=60_000.0, peak_equity=100_000.0, halted=True, halt_reason="drawdown 40%")
    v = evaluate(i, BrokerSnapshot(positions={"ESZ5": 1.0}), halted, GuardConfig(), adv("WAIT", 0.5), NOW)
    assert not v.allowed, f"reduce-only ENTRY allowed under a halt and a WAIT: {v.summary()}"
    assert codes(v) == {"INTENT_CONFLICT"}, v.reason_codes


def test_hole1_executor_never_sends_a_reduce_only_entry(tmp_path: Path) -> None:
    """Hole 1 at the send. GuardedExecutor.submit sent the reduce-only ENTRY as a normal bracket
    (entry + stop + target) despite a latched drawdown halt and a WAIT advisory. After the fix: not sent,
    INTENT_CONFLICT on the result, no new order at the broker."""
    s = paper_stack(tmp_path)
    s.feed(5000, 5001, 4999, 5000)
    first = s.executor.submit(OrderIntent(kind=IntentKind.ENTRY, side=Side.BUY, qty=1, symbol="ES", price=5000,
                                          stop=4990, target=5020, signal_confidence=0.7),
                              Advisory(action=AdvisoryAction.BUY, confidence=0.7, ts=s.clock()))
    assert first.sent, first.reason_codes
    s.feed(5000, 5002, 4999, 5001)
    assert s.broker.positions()[0].qty == 1
    s.ledger.mark_equity(200_000.0, ts=s.clock())
    s.ledger.mark_equity(100_000.0, ts=s.clock())        # 50% drawdown: the halt latches
    assert s.ledger.state().halted
    before = len(s.broker.open_orders())
    wait = Advisory(action=AdvisoryAction.WAIT, confidence=0.5, ts=s.clock())
    bogus = OrderIntent(kind=IntentKind.ENTRY, side=Side.SELL, qty=1, symbol="ES", price=5001, stop=5011,
                        target=4981, reduce_only=True)
    res = s.executor.submit(bogus, wait)
    assert not res.sent, f"reduce-only ENTRY was sent as {[(o.side, o.order_type, o.parent_id) for o in res.orders]}"
    assert "INTENT_CONFLICT" in codes(res)
    assert len(s.broker.open_orders()) == before


# ======================================================================================================
# Hole 2: the graph served through langgraph.json ignores settings and the persisted ledger
# ======================================================================================================

_SERVED = r"""
import importlib.util, json, sys
from pathlib import Path
root = Path(sys.argv[1])
target = json.loads((root / "langgraph.json").read_text())["graphs"]["advisory"]
path, _, attr = target.partition(":")
spec = importlib.util.spec_from_file_location("_served_advisory", root / path)
mod = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = mod            # as a LangGraph server loads it
spec.loader.exec_module(mod)
graph = getattr(mod, attr)
t0 = "2025-12-12T14:00:00+00:00"
bars = [{"ts": f"2025-12-12T13:{i:02d}:00+00:00", "open": 6890.0, "high": 6891.0, "low": 6889.0, "close": 6890.0}
        for i in range(60)]
sig = {"symbol": "ESZ5", "side": "BUY", "label": "BUY", "confidence": 0.8, "price": 6890.0, "stop": 6884.0,
       "target": 6902.0, "ts": t0}
out = graph.invoke({"signal": sig, "live_position": 0.0, "equity": 60000.0, "bars": bars, "now": t0})
print("VERDICT " + json.dumps(out.get("verdict")))
"""


def _served_verdict(tmp_path: Path, data_dir: Path, toml: str) -> dict[str, Any]:
    cfg = tmp_path / "warden.toml"
    cfg.write_text(toml)
    script = tmp_path / "served.py"
    script.write_text(_SERVED)
    env = env_without_warden(WARDEN_CONFIG=str(cfg), WARDEN_DATA_DIR=str(data_dir))
    r = subprocess.run([sys.executable, str(script), str(ROOT)], cwd=tmp_path, env=env, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-3000:]
    [line] = [ln for ln in r.stdout.splitlines() if ln.startswith("VERDICT ")]
    verdict = json.loads(line[len("VERDICT "):])
    assert verdict is not None, "the served graph produced no verdict"
    return verdict


@pytest.mark.slow
def test_hole2_served_graph_reads_the_persisted_ledger(tmp_path: Path) -> None:
    """Hole 2. graphs/advisory.py:graph (langgraph.json) built RiskState(equity, peak=equity) per call, so
    with a latched halt in WARDEN_DATA_DIR/risk/ledger.jsonl it allowed an entry. After the fix the served
    graph reads WARDEN_CONFIG / warden.toml and WARDEN_DATA_DIR like `warden run`: DRAWDOWN_HALT."""
    data = tmp_path / "data"
    halted_ledger(data)
    v = _served_verdict(tmp_path, data, "[guards]\nmax_loss_per_trade = 1000.0\n")
    assert not v["allowed"], f"served graph allowed an entry with the ledger halted: {v['reason_codes']}"
    assert "DRAWDOWN_HALT" in codes(v)


@pytest.mark.slow
def test_hole2_served_graph_reads_warden_toml_guards(tmp_path: Path) -> None:
    """Hole 2 (settings half). With [guards] max_loss_per_trade = 100 in WARDEN_CONFIG, a 6-point ES entry
    (worst case 300 USD) must be blocked by the served graph with MAX_LOSS_CAP; it used the default 1000."""
    data = tmp_path / "data"
    data.mkdir()
    v = _served_verdict(tmp_path, data, "[guards]\nmax_loss_per_trade = 100.0\n")
    assert not v["allowed"] and "MAX_LOSS_CAP" in codes(v), v["reason_codes"]


# ======================================================================================================
# Hole 3: the drawdown latch follows the current config; a torn ledger line silently lowers the peak
# ======================================================================================================

def test_hole3_latched_halt_survives_a_looser_max_drawdown(tmp_path: Path) -> None:
    """Hole 3a. A 35% drawdown latched under max_drawdown_pct=30; re-reading the ledger with 50 recomputed
    the latch and unlatched it. After the fix the latch is a fact of the ledger: DRAWDOWN_HALT for entries
    under the looser config, until `warden risk clear-halt --operator X --note Y`."""
    from trading.records.risk_ledger import RiskLedger

    p = ledger_path(tmp_path)
    led = RiskLedger(p, GuardConfig(max_drawdown_pct=30))
    led.mark_equity(100_000.0, ts=NOW - timedelta(hours=2))
    led.mark_equity(65_000.0, ts=NOW - timedelta(hours=1))
    assert led.state().halted
    loose = GuardConfig(max_drawdown_pct=50)
    st = RiskLedger(p, loose).state(NOW)
    v = evaluate(es_entry(), BrokerSnapshot(positions={"ESZ5": 0.0}), st, loose, adv(), NOW)
    assert not v.allowed and "DRAWDOWN_HALT" in codes(v), f"looser config unlatched the halt: {v.summary()}"
    # only the operator command clears it
    toml = tmp_path / "loose.toml"
    toml.write_text("[guards]\nmax_drawdown_pct = 50.0\n")
    env = env_without_warden(WARDEN_CONFIG=str(toml))
    r = warden("risk", "clear-halt", "--data-dir", str(tmp_path), "--operator", "amy", "--note", "reviewed",
               cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr
    st2 = RiskLedger(p, loose).state(NOW)
    assert "DRAWDOWN_HALT" not in codes(evaluate(es_entry(), BrokerSnapshot(positions={"ESZ5": 0.0}), st2,
                                                  loose, adv(), NOW))


def _torn_ledger(data_dir: Path) -> Path:
    """Marks 90k, 100k (torn: unparseable), 70k. Skipping the torn line lowers the peak to 90k, so a 30%
    drawdown reads as 22%."""
    from trading.records.risk_ledger import RiskLedger

    p = ledger_path(data_dir)
    led = RiskLedger(p, GuardConfig())
    led.mark_equity(90_000.0, ts=NOW - timedelta(hours=3))
    good = p.read_text()
    torn = json.dumps({"equity": 100_000.0, "ts": (NOW - timedelta(hours=2)).isoformat(), "type": "equity"},
                      sort_keys=True)[:23]
    p.write_text(good + torn + "\n")
    led2 = RiskLedger(p, GuardConfig())
    led2.mark_equity(70_000.0, ts=NOW - timedelta(hours=1))
    return p


def test_hole3_torn_ledger_line_blocks_entries_with_ledger_corrupt(tmp_path: Path) -> None:
    """Hole 3b. A corrupt / torn line was counted and skipped, so the state read back had peak 90k (not
    100k) and allowed entries. After the fix an unreadable ledger blocks entries with LEDGER_CORRUPT, the
    verdict names the line (line 2 of ledger.jsonl); exits are still allowed."""
    from trading.records.risk_ledger import RiskLedger

    p = _torn_ledger(tmp_path)
    st = RiskLedger(p, GuardConfig()).state(NOW)
    v = evaluate(es_entry(), BrokerSnapshot(positions={"ESZ5": 0.0}), st, GuardConfig(), adv(), NOW)
    assert not v.allowed, f"entry allowed on a torn ledger (peak read as {st.peak_equity}): {v.summary()}"
    assert "LEDGER_CORRUPT" in codes(v)
    text = json.dumps(v.evidence, default=str) + " " + st.halt_reason
    assert re.search(r"line\D{0,3}2\b|\.jsonl:2\b", text), f"no line number in {text}"
    ex = intent(kind=IntentKind.EXIT, side=Side.SELL, qty=1, symbol="ESZ5", price=6890.0)
    ve = evaluate(ex, BrokerSnapshot(positions={"ESZ5": 1.0}), st, GuardConfig(), None, NOW)
    assert ve.allowed, f"an exit must not wait on a corrupt ledger: {ve.summary()}"


def test_hole3_nan_in_a_ledger_line_is_corruption_not_a_number(tmp_path: Path) -> None:
    """Hole 3b/4. Python's json reads `NaN`: an equity line {"equity": NaN} was applied, the drawdown became
    incomputable and `warden risk status --json` printed NaN (invalid JSON). After the fix such a line is
    unreadable (LEDGER_CORRUPT for entries) and status --json parses strictly."""
    from trading.records.risk_ledger import RiskLedger

    p = halted_ledger(tmp_path)
    RiskLedger(p).clear_halt("amy", "test")
    with p.open("a") as fh:
        fh.write(json.dumps({"equity": NAN, "ts": NOW.isoformat(), "type": "equity"}) + "\n")
    st = RiskLedger(p, GuardConfig()).state(NOW)
    v = evaluate(es_entry(), BrokerSnapshot(positions={"ESZ5": 0.0}), st, GuardConfig(), adv(), NOW)
    assert not v.allowed and codes(v) & {"LEDGER_CORRUPT", "INPUT_INVALID"}, v.summary()
    r = warden("risk", "status", "--data-dir", str(tmp_path), "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    strict_json(r.stdout)


def test_hole3_risk_repair_is_the_explicit_way_out(tmp_path: Path) -> None:
    """Hole 3b. `warden risk repair --operator X --note Y --data-dir D` is the explicit, attributed way out
    of LEDGER_CORRUPT: exit 0, and afterwards entries are no longer blocked with LEDGER_CORRUPT."""
    from trading.records.risk_ledger import RiskLedger

    p = _torn_ledger(tmp_path)
    r = warden("risk", "repair", "--data-dir", str(tmp_path), "--operator", "amy", "--note", "torn write",
               cwd=tmp_path)
    assert r.returncode == 0, (r.stdout + r.stderr)[-2000:]
    st = RiskLedger(p, GuardConfig()).state(NOW)
    v = evaluate(es_entry(), BrokerSnapshot(positions={"ESZ5": 0.0}), st, GuardConfig(), adv(), NOW)
    assert "LEDGER_CORRUPT" not in codes(v)


# ======================================================================================================
# Hole 4: NaN / infinity switch guards off
# ======================================================================================================

@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_hole4_reset_peak_refuses_non_finite(tmp_path: Path, value: str) -> None:
    """Hole 4. `warden risk reset-peak --new-peak nan|inf` was accepted; the ledger then reported no halt
    after a 60% loss. After the fix: exit 2, one line on stderr naming --new-peak, nothing appended."""
    p = halted_ledger(tmp_path)
    before = p.read_text()
    r = warden("risk", "reset-peak", "--data-dir", str(tmp_path), "--operator", "amy", "--note", "x",
               "--new-peak", value, cwd=tmp_path)
    assert r.returncode == 2, f"exit {r.returncode}: {r.stdout}{r.stderr}"
    assert "--new-peak" in one_line_error(r.stderr)
    assert p.read_text() == before


def _small_log(path: Path) -> Path:
    subprocess.run([sys.executable, "-m", "warden", "sample-log", "--out", str(path)], cwd=path.parent,
                   env=env_without_warden(), capture_output=True, text=True, timeout=60, check=True)
    return path


@pytest.mark.parametrize("value", ["nan", "inf"])
def test_hole4_replay_max_loss_refuses_non_finite(tmp_path: Path, value: str) -> None:
    """Hole 4. `warden replay --max-loss nan` let every entry past the loss cap and printed NaN into --json.
    After the fix: exit 2, one line naming --max-loss."""
    log = _small_log(tmp_path / "bot.log")
    r = warden("replay", "--log", str(log), "--all", "--json", "--max-loss", value, cwd=tmp_path)
    assert r.returncode == 2, f"exit {r.returncode}; stdout starts {r.stdout[:300]!r}"
    assert "--max-loss" in one_line_error(r.stderr)


def test_hole4_replay_json_always_parses_strictly(tmp_path: Path) -> None:
    """Hole 4. --json output must parse with a strict parser (no NaN / Infinity), for the default run."""
    log = _small_log(tmp_path / "bot.log")
    r = warden("replay", "--log", str(log), "--all", "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    strict_json(r.stdout)


@pytest.mark.parametrize("var,value,field", [
    ("WARDEN_GUARDS__MAX_LOSS_PER_TRADE", "nan", "max_loss_per_trade"),
    ("WARDEN_GUARDS__MAX_LOSS_PER_TRADE", "inf", "max_loss_per_trade"),
    ("WARDEN_GUARDS__MAX_POSITION_QTY", "inf", "max_position_qty"),
    ("WARDEN_GUARDS__ADVISORY_MAX_AGE_S", "inf", "advisory_max_age_s"),
    ("WARDEN_BROKER__STARTING_CASH", "inf", "starting_cash"),
])
def test_hole4_settings_refuse_non_finite(tmp_path: Path, var: str, value: str, field: str) -> None:
    """Hole 4. Settings must reject nan/inf with the field named: any command exits 2 with one line."""
    r = warden("risk", "status", "--data-dir", str(tmp_path), "--json", cwd=tmp_path,
               env=env_without_warden(**{var: value}))
    assert r.returncode == 2, f"{var}={value} accepted (exit {r.returncode})"
    assert field in one_line_error(r.stderr)


def _input_cases() -> list[tuple[str, OrderIntent, BrokerSnapshot, RiskState]]:
    flat = BrokerSnapshot(positions={"ESZ5": 0.0})
    return [
        ("price-nan", es_entry(price=NAN), flat, HEALTHY),
        ("price-inf", es_entry(price=INF, target=INF), flat, HEALTHY),
        ("stop-nan", es_entry(stop=NAN), flat, HEALTHY),
        ("qty-inf", es_entry(qty=INF, stop=6889.0), flat, HEALTHY),
        ("equity-nan", es_entry(), flat, RiskState(equity=NAN, peak_equity=100_000.0)),
        ("equity-inf", es_entry(), flat, RiskState(equity=INF, peak_equity=100_000.0)),
        ("peak-nan", es_entry(), flat, RiskState(equity=40_000.0, peak_equity=NAN)),
        ("peak-inf", es_entry(), flat, RiskState(equity=40_000.0, peak_equity=INF)),
        ("mark-nan", es_entry(price=None), BrokerSnapshot(positions={"ESZ5": 0.0}, marks={"ESZ5": NAN}), HEALTHY),
        ("live-nan-exit", intent(kind=IntentKind.EXIT, side=Side.BUY, qty=1, price=6890.0),
         BrokerSnapshot(positions={"ESZ5": NAN}), HEALTHY),
        ("live-inf-exit", intent(kind=IntentKind.EXIT, side=Side.SELL, qty=5, price=6890.0),
         BrokerSnapshot(positions={"ESZ5": INF}), HEALTHY),
        ("exit-qty-inf", intent(kind=IntentKind.EXIT, side=Side.SELL, qty=INF, price=6890.0),
         BrokerSnapshot(positions={"ESZ5": 1.0}), HEALTHY),
    ]


@pytest.mark.parametrize("name,i,snap,risk", _input_cases(), ids=[c[0] for c in _input_cases()])
def test_hole4_guards_fail_closed_on_non_finite_inputs(name: str, i: OrderIntent, snap: BrokerSnapshot,
                                                       risk: RiskState) -> None:
    """Hole 4. A non-finite price / qty / equity / peak / live position reaching evaluate must block with
    INPUT_INVALID (a nan peak made the drawdown 0 and a nan live position let any exit through)."""
    v = evaluate(i, snap, risk, GuardConfig(), adv(i.side.value), NOW)
    assert not v.allowed, f"{name}: allowed {v.summary()}"
    assert "INPUT_INVALID" in codes(v), f"{name}: {v.reason_codes}"


# ======================================================================================================
# Hole 5: a binary share's worst case credited a stop that is never placed
# ======================================================================================================

def test_hole5_binary_share_worst_case_is_the_full_premium() -> None:
    """Hole 5. 10,000 Polymarket shares at 0.50 with a 0.45 "stop" were allowed at worst case 500 against a
    1,000 cap; no stop is placed on a share, so the worst case is 10,000 x 0.50 = 5,000: MAX_LOSS_CAP."""
    cfg = GuardConfig(max_loss_per_trade=1000.0, max_position_qty=1_000_000)
    i = intent(kind=IntentKind.ENTRY, side=Side.BUY, qty=10_000, symbol=TOKEN, price=0.50, stop=0.45, target=1.0,
               signal_confidence=0.7)
    v = evaluate(i, BrokerSnapshot(positions={TOKEN: 0.0}), HEALTHY, cfg, adv("BUY"), NOW)
    assert not v.allowed, f"allowed with worst case {v.evidence.get('worst_case_loss')}"
    assert "MAX_LOSS_CAP" in codes(v)
    assert v.evidence.get("worst_case_loss") == pytest.approx(5000.0)


# ======================================================================================================
# Hole 6: exits sized from the journal, not the live position
# ======================================================================================================

def test_hole6_exit_is_capped_to_the_live_position_by_default() -> None:
    """Hole 6. Live +1, journal 2 (a partial target fill): the strategy's exit of 2 was refused with
    REDUCE_ONLY_VIOLATION under the default config. After the fix (default): reduced to the live 1 and
    allowed with REDUCE_ONLY_CAPPED."""
    i = intent(kind=IntentKind.EXIT, side=Side.SELL, qty=2, symbol="ESZ5", price=6890.0, reduce_only=True)
    v = evaluate(i, BrokerSnapshot(positions={"ESZ5": 1.0}), HEALTHY, GuardConfig(), None, NOW)
    assert v.allowed, v.summary()
    assert "REDUCE_ONLY_CAPPED" in codes(v) and v.intent.qty == 1 and v.intent.side is Side.SELL


@pytest.mark.parametrize("side,qty,live,code", [
    (Side.BUY, 1, 1.0, "REDUCE_ONLY_VIOLATION"),     # wrong side: would grow the long
    (Side.SELL, 1, 0.0, "NO_EXPOSURE"),              # flat book
    (Side.BUY, 2, 0.0, "NO_EXPOSURE"),
])
def test_hole6_wrong_side_or_flat_exits_stay_blocked(side: Side, qty: float, live: float, code: str) -> None:
    """Hole 6 (what the cap must not loosen): an exit on the wrong side or against a flat book is still
    blocked (REDUCE_ONLY_VIOLATION / NO_EXPOSURE) under the default config."""
    i = intent(kind=IntentKind.EXIT, side=side, qty=qty, symbol="ESZ5", price=6890.0, reduce_only=True)
    v = evaluate(i, BrokerSnapshot(positions={"ESZ5": live}), HEALTHY, GuardConfig(), adv(side.value), NOW)
    assert not v.allowed and code in codes(v), v.summary()


def test_hole6_partial_target_fill_then_journal_sized_exit(tmp_path: Path) -> None:
    """Hole 6 end to end. Entry BUY 2 with a bracket; the target fills 1 of 2 (live +1, journal 2); the
    strategy's exit of 2 must go out as a reduce-only SELL 1 (REDUCE_ONLY_CAPPED), never SELL 2 (a flip)."""
    s = paper_stack(tmp_path, max_participation=0.001)     # 1 contract per 1000 volume per bar
    s.feed(5000, 5001, 4999, 5000, v=10_000)
    res = s.executor.submit(OrderIntent(kind=IntentKind.ENTRY, side=Side.BUY, qty=2, symbol="ES", price=5000,
                                        stop=4990, target=5010, signal_confidence=0.7),
                            Advisory(action=AdvisoryAction.BUY, confidence=0.7, ts=s.clock()))
    assert res.sent, res.reason_codes
    s.feed(5000, 5002, 4999, 5001, v=10_000)
    s.feed(5009, 5012, 5008, 5011, v=1_000)                # the target fills only 1
    assert s.broker.positions()[0].qty == 1
    trade = s.executor.open_trade("ES")
    assert trade is not None and trade.qty == 2
    ex = s.executor.submit(OrderIntent(kind=IntentKind.EXIT, side=Side.SELL, qty=trade.qty, symbol="ES",
                                       reduce_only=True))
    assert ex.sent, f"journal-sized exit refused: {sorted(codes(ex))}"
    assert "REDUCE_ONLY_CAPPED" in codes(ex)
    assert [o.qty for o in ex.orders] == [1.0] and ex.orders[0].reduce_only


# ======================================================================================================
# Hole 7: the Polymarket loop never trades with the default (graph) advisor; SELL views always conflict
# ======================================================================================================

WSTART = datetime(2026, 1, 15, 0, 15, tzinfo=UTC)
SLUG = f"btc-updown-15m-{int(WSTART.timestamp())}"


def _share_venue() -> Any:
    from trading.brokers.paper import PaperBroker
    from trading.market.candles import Bar

    class ShareVenue(PaperBroker):
        """Paper venue for a BTC 15-minute window: BUY view -> BUY Up share, SELL view -> BUY Down share."""

        def market_for(self, signal, now):  # noqa: ANN001, ANN201
            if signal.side is None:
                return None
            up = signal.side is Side.BUY
            return {"symbol": TOKEN if up else DOWN_TOKEN, "price": 0.42, "stop": 0.0, "target": 1.0,
                    "side": Side.BUY, "market_slug": SLUG, "outcome_label": "Up" if up else "Down",
                    "resolve_by": WSTART + timedelta(minutes=15)}

        def on_bar(self, symbol, bar, bar_end=None):  # noqa: ANN001, ANN201
            for tok in (TOKEN, DOWN_TOKEN):
                super().on_bar(tok, Bar(bar.ts, 0.42, 0.42, 0.42, 0.42, 1e6), bar_end)
            return super().on_bar(symbol, bar, bar_end)

    return ShareVenue(commission_per_contract=0.0)


def _btc_bars(n: int = 12) -> list[Any]:
    from trading.market.candles import Bar

    t0 = WSTART - timedelta(minutes=5)
    return [Bar(t0 + timedelta(minutes=i), 100.0, 100.1, 99.9, 100.0, 1) for i in range(n)]


def _once(side: Side) -> Any:
    def signals(bars, ctx):  # noqa: ANN001, ANN202
        if len(bars) == 3:
            stop, target = (99.0, 102.0) if side is Side.BUY else (101.0, 98.0)
            return Signal(symbol="BTC", side=side, label=side.value, confidence=0.8, price=100.0, stop=stop,
                          target=target, ts=ctx.now)
        return None
    return signals


def _poly_session(tmp_path: Path, side: Side, advisor: Any = None) -> Any:
    from trading.execution.wiring import open_session
    from trading.settings import Settings

    session, _ = open_session(Settings(data_dir=tmp_path), _share_venue(), symbol="BTC", signals=_once(side),
                              advisor=advisor, qty=10)
    return session


def _verdict_events(session: Any) -> list[dict[str, Any]]:
    path = session.executor.events.path
    return [e for e in map(json.loads, path.read_text().splitlines()) if e["event"] == "guard_verdict"]


@pytest.mark.slow
def test_hole7_default_graph_advisor_trades_a_btc_view(tmp_path: Path) -> None:
    """Hole 7. With the default advisor (the advisory graph, offline reasoner) the data-ingestion agent asked
    for the contract multiplier of BTC, raised, and the runner turned the code bug into WAIT +
    LLM_UNAVAILABLE: the Polymarket loop never traded. After the fix a well-formed BUY view on BTC is
    advised BUY and the Up share is bought (entry sent)."""
    from agents.llm import OfflineReasoner

    GraphCycleRunner = graph_api("GraphCycleRunner")
    session = _poly_session(tmp_path, Side.BUY)
    runner = GraphCycleRunner(session.executor, OfflineReasoner(), qty=10, checkpointer="memory",
                              data_dir=tmp_path)
    session.advisor = runner.advisor
    try:
        session.run(_btc_bars())
    finally:
        runner.close()
    last = runner.last
    assert last is not None
    assert last.error is None, f"graph failed on BTC: {last.error}"
    assert last.advisory is not None and not ({"LLM_UNAVAILABLE", "GUARD_ERROR"} & codes(last.advisory))
    assert last.advisory.action is AdvisoryAction.BUY, last.advisory.rationale
    assert session.cycles, f"no entry sent; blocked: {dict(session.executor.blocked)}"


def test_hole7_sell_view_with_agreeing_advisor_buys_the_down_share(tmp_path: Path) -> None:
    """Hole 7. A SELL view maps to a BUY of the Down share; the advisory gate compared the advisory's SELL
    with that BUY and blocked every SELL view (ADVISORY_CONFLICT). After the fix an advisor that agrees
    with the view (SELL) leads to an allowed BUY of the Down share; the view -> share mapping is recorded
    in the verdict evidence (the evidence names the Down outcome)."""
    def agree(signal, ctx):  # noqa: ANN001, ANN202
        return Advisory(action=AdvisoryAction.SELL, confidence=0.8, ts=ctx.now, source="test")

    session = _poly_session(tmp_path, Side.SELL, agree)
    session.run(_btc_bars())
    assert session.cycles, f"SELL view with SELL advice not sent; blocked: {dict(session.executor.blocked)}"
    from trading.records.journal import Journal

    [trade] = Journal(session.files.journal).trades()
    assert (trade.symbol, trade.side, trade.outcome_label) == (DOWN_TOKEN, "BUY", "Down")
    allowed = [e for e in _verdict_events(session) if e["payload"]["allowed"]]
    assert allowed and "Down" in json.dumps(allowed[-1]["payload"]["evidence"])


def test_hole7_sell_view_with_buy_advice_is_an_advisory_conflict(tmp_path: Path) -> None:
    """Hole 7. BUY advice on a SELL view disagrees with the view even though the order is a BUY (of the
    Down share): blocked with ADVISORY_CONFLICT, nothing sent."""
    def disagree(signal, ctx):  # noqa: ANN001, ANN202
        return Advisory(action=AdvisoryAction.BUY, confidence=0.8, ts=ctx.now, source="test")

    session = _poly_session(tmp_path, Side.SELL, disagree)
    session.run(_btc_bars())
    assert not session.cycles, "a SELL view was bought on BUY advice"
    assert session.executor.blocked.get("ADVISORY_CONFLICT", 0) >= 1, dict(session.executor.blocked)


def _offline_bug() -> Any:
    from agents.llm import OfflineReasoner

    class BuggyRules(OfflineReasoner):
        """The offline rules themselves have a bug (a KeyError in the policy)."""

        def reason(self, role, prompt, evidence, schema, policy, cycle_id=None):  # noqa: ANN001, ANN201
            def broken(ev):  # noqa: ANN001, ANN202
                return ev["no_such_feature"]
            return super().reason(role, prompt, evidence, schema, broken, cycle_id)

    return BuggyRules()


def _node_bug() -> Any:
    from agents.llm import OfflineReasoner

    class BuggyNode(OfflineReasoner):
        def reason(self, *a, **kw):  # noqa: ANN002, ANN003, ANN201
            raise TypeError("unsupported operand type(s) for -: 'NoneType' and 'float'")

    return BuggyNode()


@pytest.mark.parametrize("make", [_offline_bug, _node_bug], ids=["offline-rules", "node"])
def test_hole7_code_error_is_internal_error_not_llm_unavailable(tmp_path: Path, make: Any) -> None:
    """Hole 7. A code error inside a node / tool / the offline rules became WAIT + LLM_UNAVAILABLE (an
    outage). After the fix it is INTERNAL_ERROR (still failing closed: the entry is not allowed), never
    LLM_UNAVAILABLE, both from the graph run and from the session runner's advisor."""
    from graphs.advisory_state import AdvisoryContext
    from trading.brokers.paper import PaperBroker
    from trading.execution.advisor import AdvisorContext
    from trading.execution.wiring import open_session
    from trading.market.candles import Bar
    from trading.settings import Settings

    AdvisoryGraph, GraphCycleRunner = graph_api("AdvisoryGraph"), graph_api("GraphCycleRunner")
    t0 = datetime(2025, 12, 12, 14, 0, tzinfo=UTC)
    bars = [Bar(t0 + timedelta(minutes=i), 6890.0, 6891.0, 6889.0, 6890.0) for i in range(60)]
    sig = Signal(symbol="ESZ5", side=Side.BUY, label="BUY", confidence=0.8, price=6890.0, stop=6884.0,
                 target=6902.0, ts=t0)
    ctx = AdvisoryContext(reasoner=make(), snapshot=lambda s: BrokerSnapshot(positions={s: 0.0}, equity=5e4),
                          risk_state=lambda now: RiskState(equity=5e4, peak_equity=5e4), bars=lambda s: bars,
                          clock=lambda: t0)
    with AdvisoryGraph("memory", tmp_path) as g:
        d = g.run(sig, ctx)
    seen = codes(d) | (codes(d.advisory) if d.advisory else set())
    assert not d.allowed
    assert "LLM_UNAVAILABLE" not in seen and "INTERNAL_ERROR" in seen, seen
    # the same bug through the session runner's advisor (what `warden run --advisor graph` uses)
    session, _ = open_session(Settings(data_dir=tmp_path / "s"), PaperBroker(), symbol="ESZ5",
                              data_dir=tmp_path / "s")
    runner = GraphCycleRunner(session.executor, make(), checkpointer="memory", data_dir=tmp_path / "s")
    try:
        a = runner.advisor(sig, AdvisorContext(symbol="ESZ5", now=t0, bars=bars, position=0.0,
                                               intent_kind="entry", trade_cycle_id="c-bug"))
    finally:
        runner.close()
    assert "LLM_UNAVAILABLE" not in codes(a) and "INTERNAL_ERROR" in codes(a), (a.action, codes(a), a.rationale)
    v = evaluate(es_entry(), BrokerSnapshot(positions={"ESZ5": 0.0}), HEALTHY, GuardConfig(), a, t0)
    assert not v.allowed


# ======================================================================================================
# Hole 8: replay attributes an earlier cycle's WAIT to an order whose own advisory call failed
# ======================================================================================================

_LOG_HEAD = """\
2025-12-12 07:30:00,000 - mytrader.execution.ib_executor - INFO - Position update: ESZ5 position=0 avgCost=0.0
2025-12-12 10:00:00,100 - mytrader.strategies.hybrid - INFO - Hybrid pipeline emitted SCALP_BUY @ 0.40 confidence (price=6860.00, stop=6854.00, target=6872.00)
2025-12-12 10:00:00,300 - mytrader.aws.decision_agent - INFO - AWS Decision Agent returned WAIT (55%) - no edge
2025-12-12 10:07:00,100 - mytrader.strategies.hybrid - INFO - Hybrid pipeline emitted BUY @ 0.71 confidence (price=6861.00, stop=6855.25, target=6873.25)
"""
_LOG_TIMEOUT = """\
2025-12-12 10:07:30,150 - mytrader.aws.decision_agent - ERROR - AWS Decision Agent call failed: ReadTimeoutError: Read timeout on endpoint URL: "https://bedrock-runtime.us-east-1.amazonaws.com/model/anthropic.claude-3-5-sonnet/invoke"
"""
_LOG_ORDER = """\
2025-12-12 10:07:30,160 - mytrader.execution.live_trading_manager - INFO - Placing entry order: BUY 1 ESZ5 @ 6861.25 (SL=6855.25, TP=6873.25)
2025-12-12 10:07:30,200 - mytrader.execution.ib_executor - INFO - Order submitted: orderId=16001 action=BUY qty=1 symbol=ESZ5 type=LMT lmtPrice=6861.25
2025-12-12 10:07:30,202 - mytrader.execution.ib_executor - INFO - Order submitted: orderId=16002 action=SELL qty=1 symbol=ESZ5 type=LMT lmtPrice=6873.25 parentId=16001
2025-12-12 10:07:30,203 - mytrader.execution.ib_executor - INFO - Order submitted: orderId=16003 action=SELL qty=1 symbol=ESZ5 type=STP auxPrice=6855.25 parentId=16001
2025-12-12 10:07:31,000 - mytrader.execution.ib_executor - INFO - Order filled: orderId=16001 action=BUY qty=1 avgPrice=6861.25
2025-12-12 10:07:31,050 - mytrader.execution.ib_executor - INFO - Position update: ESZ5 position=1 avgCost=343062.5
"""


@pytest.mark.parametrize("timeout_line,expected", [
    (True, {"ADVISORY_MISSING", "LLM_UNAVAILABLE"}),
    (False, {"ADVISORY_MISSING"}),
], ids=["advisory-call-timed-out", "no-advisory-for-this-signal"])
def test_hole8_replay_never_borrows_another_cycles_advice(tmp_path: Path, timeout_line: bool,
                                                          expected: set[str]) -> None:
    """Hole 8. The 10:07 signal's advisory call timed out (or never happened); replay judged order 16001
    with the 10:00 WAIT given to a different signal (ADVISORY_STALE + AWS_WAIT). After the fix:
    `warden replay --log F --order-id 16001 --json` blocks with ADVISORY_MISSING (or LLM_UNAVAILABLE when
    the log shows the call failed), never AWS_WAIT / ADVISORY_STALE, and reports no advisory for it."""
    log = tmp_path / "mytrader.log"
    log.write_text(_LOG_HEAD + (_LOG_TIMEOUT if timeout_line else "") + _LOG_ORDER)
    r = warden("replay", "--log", str(log), "--order-id", "16001", "--json", "--format", "mytrader", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    doc = strict_json(r.stdout)
    got = set(doc["reason_codes"])
    assert doc["would_block"] is True, doc
    assert got & expected, f"expected one of {expected}, got {got}"
    assert not got & {"AWS_WAIT", "ADVISORY_STALE"}, f"another cycle's WAIT was attributed: {got}"
    assert doc["advisory"] is None or doc["advisory"]["action"] != "WAIT", doc["advisory"]


# ======================================================================================================
# Properties: hostile intents, snapshots, risk states and configs
# ======================================================================================================

WEIRD = [NAN, INF, -INF, 0.0, -0.0, -1.0, 1e-300, 1e12, 1e308, -1e308]
nums = st.one_of(st.floats(min_value=-1e9, max_value=1e9, allow_nan=False, allow_infinity=False),
                 st.sampled_from(WEIRD))
pos_nums = st.one_of(st.floats(min_value=0.01, max_value=1e6, allow_nan=False), st.sampled_from(WEIRD))
opt_nums = st.one_of(st.none(), nums)
prop_symbols = st.sampled_from(["ESZ5", "MNQM6", TOKEN, "POLY:abc"])


@st.composite
def intents(draw: Any, kind: IntentKind | None = None) -> OrderIntent:
    return intent(kind=kind or draw(st.sampled_from([IntentKind.ENTRY, IntentKind.EXIT])),
                  side=draw(st.sampled_from(list(Side))), qty=draw(pos_nums), symbol=draw(prop_symbols),
                  price=draw(opt_nums), stop=draw(opt_nums), target=draw(opt_nums),
                  reduce_only=draw(st.booleans()),
                  signal_confidence=draw(st.one_of(st.none(), st.floats(0, 1))))


@st.composite
def snapshots(draw: Any, symbol: str) -> BrokerSnapshot:
    if draw(st.integers(0, 9)) == 0:
        return BrokerSnapshot(positions=None, position_error="unreadable")
    live = draw(st.one_of(st.integers(-20, 20).map(float), st.sampled_from(WEIRD)))
    marks = {symbol: draw(nums)} if draw(st.booleans()) else {}
    return BrokerSnapshot(positions={symbol: live}, marks=marks, equity=draw(opt_nums))


@st.composite
def risk_states(draw: Any, halted: bool | None = None) -> RiskState:
    from trading.domain.reason_codes import ReasonCode

    return RiskState(equity=draw(opt_nums), peak_equity=draw(opt_nums),
                     halted=draw(st.booleans()) if halted is None else halted,
                     active_halts=draw(st.lists(st.sampled_from([ReasonCode.OPERATOR_HALT,
                                                                 ReasonCode.RECONCILE_MISMATCH]),
                                                max_size=1, unique=True)),
                     consecutive_losses=draw(st.integers(0, 6)))


@st.composite
def configs(draw: Any) -> GuardConfig:
    """Valid configs only (settings validation is the gate); values that fail it fall back to defaults."""
    from pydantic import ValidationError

    kw = dict(max_loss_per_trade=draw(pos_nums), max_position_qty=draw(pos_nums),
              cap_reduce_only_qty=draw(st.booleans()), block_on_wait=draw(st.booleans()),
              max_drawdown_pct=draw(st.one_of(st.floats(1, 99), st.sampled_from(WEIRD))))
    out = {}
    for k, v in kw.items():
        try:
            GuardConfig(**{k: v})
            out[k] = v
        except ValidationError:
            pass
    return GuardConfig(**out)


advisories = st.one_of(st.none(), st.builds(
    lambda a, c, age: Advisory(action=a, confidence=c, ts=NOW - timedelta(seconds=age)),
    st.sampled_from(list(AdvisoryAction)), st.floats(0, 1), st.floats(0, 600)))

PROP = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _finite(*xs: Any) -> bool:
    return all(isinstance(x, (int, float)) and math.isfinite(x) for x in xs)


def _assert_no_growth(v: Any, snap: BrokerSnapshot) -> None:
    live = snap.position(v.intent.symbol)
    q = v.intent.qty
    assert live is not None and _finite(live, q) and q > 0, f"allowed with live={live} qty={q}: {v.summary()}"
    after = live + v.intent.side.sign * q
    assert abs(after) <= abs(live) + 1e-9, f"exposure grew {live} -> {after}: {v.summary()}"
    assert after == 0 or live == 0 or (after > 0) == (live > 0), f"flipped {live} -> {after}: {v.summary()}"


@PROP
@given(data=st.data())
def test_property_no_allowed_order_raises_exposure_while_halted(data: Any) -> None:
    """No allowed order of any kind raises |position| while a halt is latched (drawdown, operator, ...)."""
    i = data.draw(intents())
    snap = data.draw(snapshots(i.symbol))
    risk = data.draw(risk_states(halted=True))
    v = evaluate(i, snap, risk, data.draw(configs()), data.draw(advisories), NOW)
    if v.allowed:
        _assert_no_growth(v, snap)


@PROP
@given(data=st.data())
def test_property_no_allowed_exit_grows_or_flips(data: Any) -> None:
    """No allowed exit grows or flips the LIVE position, whatever the inputs."""
    i = data.draw(intents(IntentKind.EXIT))
    snap = data.draw(snapshots(i.symbol))
    v = evaluate(i, snap, data.draw(risk_states()), data.draw(configs()), data.draw(advisories), NOW)
    if v.allowed:
        _assert_no_growth(v, snap)


@PROP
@given(data=st.data())
def test_property_no_allowed_entry_risks_more_than_the_cap(data: Any) -> None:
    """No allowed entry risks more than max_loss_per_trade: |entry - stop| x qty x multiplier for futures,
    the full premium (price x qty) for a binary share; every number finite."""
    from trading.domain.contracts import spec_for

    i = data.draw(intents(IntentKind.ENTRY))
    snap = data.draw(snapshots(i.symbol))
    cfg = data.draw(configs())
    v = evaluate(i, snap, data.draw(risk_states()), cfg, data.draw(advisories), NOW)
    if not v.allowed:
        return
    a = v.intent
    price = a.price if a.price is not None else snap.marks.get(a.symbol)
    spec = spec_for(a.symbol)
    if spec.bounded_payoff:
        assert _finite(price, a.qty), v.summary()
        worst = price * a.qty * spec.multiplier
    else:
        assert _finite(price, a.stop, a.qty) and price is not None and a.stop is not None, v.summary()
        worst = abs(price - a.stop) * a.qty * spec.multiplier
    assert math.isfinite(worst) and worst <= cfg.max_loss_per_trade + 1e-6, \
        f"worst case {worst} > cap {cfg.max_loss_per_trade}: {v.summary()}"


@PROP
@given(data=st.data())
def test_property_evaluate_never_raises(data: Any) -> None:
    """evaluate returns a verdict for every input (a broken check fails closed inside it)."""
    i = data.draw(intents())
    v = evaluate(i, data.draw(snapshots(i.symbol)), data.draw(risk_states()), data.draw(configs()),
                 data.draw(advisories), NOW)
    assert isinstance(v.allowed, bool)
