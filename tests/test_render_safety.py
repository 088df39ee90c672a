"""Untrusted text is inert wherever it is rendered: markdown, CSV cells, the terminal."""
from __future__ import annotations

import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tools.render_safety import csv_cell, md_text, safe_model, term_text
from tools.review.report import Recommendation

HOSTILE = "<script>alert(1)</script> <img src=x onerror=alert(1)> [x](javascript:alert(1)) \x1b[2J\x07"


def test_markdown_escapes_tags_links_and_controls() -> None:
    out = md_text(HOSTILE)
    assert "<" not in out and ">" not in out and "](" not in out.replace("\\](", "")
    assert "\x1b" not in out and "\x07" not in out
    assert "&lt;script&gt;" in out                 # the text itself survives, inert


@pytest.mark.parametrize("cell,expected", [
    ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"), ("+1+2", "'+1+2"), ("-cmd|x", "'-cmd|x"),
    ("@SUM(A1)", "'@SUM(A1)"), ("-12.5", "-12.5"), ("ok", "ok"), (-3, -3)])
def test_csv_cells_cannot_be_formulas(cell: object, expected: object) -> None:
    assert csv_cell(cell) == expected


def test_terminal_text_prints_literally() -> None:
    from rich.console import Console

    buf = io.StringIO()
    Console(file=buf, force_terminal=False, width=200).print(term_text("[bold red]pwned[/] \x1b[31mx" + "\x07"))
    assert buf.getvalue().strip() == "[bold red]pwned[/] x"


def test_safe_model_keeps_codes_and_approvals() -> None:
    r = Recommendation(id="R1", title=HOSTILE, detail="d", change_type="risk_parameter")  # type: ignore[arg-type]
    s = safe_model(r)
    assert s.change_type == r.change_type and s.approval == r.approval and s.status == r.status
    assert "<script" not in s.title


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_no_text_escapes_into_markup(text: str) -> None:
    out = md_text(text)
    assert "<" not in out and ">" not in out
    assert all(not (out[i] == "]" and (i == 0 or out[i - 1] != "\\")) for i in range(len(out)))
