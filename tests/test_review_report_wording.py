"""The rendered demo reports read as a trader expects (issue 16) and every statement with a number
carries its sample size and strength label (issue 13)."""
from __future__ import annotations

import re

import pytest

LABEL = re.compile(r"\[(FACT|HYPOTHESIS|UNKNOWN) · (confirmed|likely|inconclusive) · n=\d+\]")
STATEMENT = re.compile(r"^- \*\*\[(FACT|HYPOTHESIS)|^  \[(FACT|HYPOTHESIS|UNKNOWN)")
INTERNAL = re.compile(r"\bseed \d{3}\b|\bseed00\d\b|\bPolyScenario\b|\bESScenario\b", re.I)
BAD_PLURAL = re.compile(r"\b1 (were|have been|are)\b|\b1 (trades|positions|orders|outcomes|bars|errors|changes)\b")
NONE_PRINTED = re.compile(r"(?<![`\w])None(?![`\w])")
MONEY_WORDS = re.compile(r"\b(balance|equity|PnL|cost|peak|loss was)\b[^.;|\n%]{0,12}?(-?\d[\d,]*\.\d+)\b(?!\s*(USD|USDC|%|\$))")


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    from typer.testing import CliRunner

    from warden.cli import app

    base = tmp_path_factory.mktemp("demo")
    res = CliRunner().invoke(app, ["demo", "--data-dir", str(base / "d"), "--out", str(base / "o")])
    assert res.exit_code == 0, res.output
    files = sorted((base / "o" / "reviews").rglob("*.md"))
    assert len(files) >= 16
    # the review keeps every root cause it finds on the demo bundles
    assert all(code in res.output for code in (
        "OUTCOME_RECORDING_FAILED", "DRAWDOWN_PEAK_RESET", "DRAWDOWN_HALT_MISSED", "LOSS_STREAK_UNTRACKED",
        "SWALLOWED_EXCEPTIONS", "UNREALIZED_LOSSES_HIDDEN", "OVERTRADING", "SERVICE_RESTARTS", "MODEL_MISCALIBRATED",
        "EXIT_OPENED_POSITION", "ADVISORY_WAIT_IGNORED", "MISSING_PROTECTION", "STALE_BROKER_PNL", "TELEMETRY_GAP"))
    return {str(p.relative_to(base / "o")): p.read_text() for p in files}


def _team_statements(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if STATEMENT.search(ln)]


def test_every_numbered_statement_carries_n_and_a_strength_label(reports: dict[str, str]) -> None:
    bad = []
    for name, text in reports.items():
        if "/teams/" not in name:
            continue
        for ln in _team_statements(text):
            if re.search(r"\d", ln.split("]", 1)[-1]) and not LABEL.search(ln):
                bad.append(f"{name}: {ln[:120]}")
    assert not bad, "\n".join(bad[:20])


def test_no_internal_words_in_user_facing_reports(reports: dict[str, str]) -> None:
    bad = [f"{n}: {m.group(0)}" for n, t in reports.items() for m in INTERNAL.finditer(t)]
    assert not bad, bad[:10]


def test_plural_agreement(reports: dict[str, str]) -> None:
    bad = [f"{n}: ...{t[max(0, m.start() - 40):m.end() + 20]}..." for n, t in reports.items()
           for m in BAD_PLURAL.finditer(t)]
    assert not bad, bad[:10]


def test_no_none_printed(reports: dict[str, str]) -> None:
    bad = [f"{n}: ...{t[max(0, m.start() - 50):m.end() + 10]}..." for n, t in reports.items()
           for m in NONE_PRINTED.finditer(t)]
    assert not bad, bad[:10]


def test_money_carries_its_currency(reports: dict[str, str]) -> None:
    bad = []
    for n, t in reports.items():
        prose = [x for x in t.splitlines() if not x.startswith("|")] if n.endswith("FINAL.md") else []
        for ln in _team_statements(t) + [x for x in t.splitlines() if x.startswith("- `")] + prose:
            bad += [f"{n}: {m.group(0)}" for m in MONEY_WORDS.finditer(ln)]
    assert not bad, bad[:15]
