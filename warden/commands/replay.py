"""``warden replay``: would today's guards have blocked an order found in a bot's log?

Failure contract: a missing or unreadable log, an unknown order id or contradictory options is a
``UserError`` (exit 2).
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any

import typer

from warden.errors import UserError
from warden.options import Json
from warden.printer import clean as escape


def _fmt_num(x: Any, nd: int = 2) -> str:
    if x is None:
        return "-"
    if isinstance(x, float) and not x.is_integer():
        return f"{x:,.{nd}f}"
    return f"{x:,.{nd}f}" if isinstance(x, float) else str(x)


def _console() -> Any:
    from rich.console import Console

    con = Console()
    # piped / captured output: wide enough that ids and reason codes are never truncated
    return con if con.is_terminal else Console(width=200)


def _render_order(doc: dict[str, Any]) -> None:
    from rich.panel import Panel
    from rich.table import Table

    con = _console()
    t = Table(show_header=False, box=None, pad_edge=False)
    t.add_column(style="bold")
    t.add_column()
    sig = doc["signal"]
    adv = doc["advisory"]
    t.add_row("time", doc["time"])
    t.add_row("order", f"{doc['order_id']}  {doc['action']} {doc['qty']} {doc['symbol']} {doc['order_type']}"
              + (f"  (child of {doc['parent_id']})" if doc["parent_id"] else ""))
    t.add_row("intent", f"{doc['intent']}  (judged as {doc['judged_as']})")
    t.add_row("signal", "-" if sig is None else
              f"{sig['label']} @ {sig['confidence']:.2f} (price={_fmt_num(sig['price'])}, "
              f"stop={_fmt_num(sig['stop'])}, target={_fmt_num(sig['target'])}) at {sig['time']}")
    t.add_row("advisory", "-" if adv is None else
              f"{adv['action']} ({adv['confidence']:.0%}) at {doc['advisory_time']}"
              + ("  - the bot logged it as advisory only" if doc["advisory_ignored_by_bot"] else ""))
    t.add_row("believed position", f"{_fmt_num(doc['believed_position'], 0)}  ({doc['believed_source'] or '-'})")
    t.add_row("LIVE position before", f"{_fmt_num(doc['live_position_before'], 0)}  ({doc['live_source']})")
    t.add_row("protective levels", f"SL={_fmt_num(doc['stop'])}  TP={_fmt_num(doc['target'])}"
              f"  (reference price {_fmt_num(doc['reference_price'])})")
    t.add_row("fill", _fmt_num(doc["fill_price"]))
    for n in doc["notes"]:
        t.add_row("note", escape(n))
    ev = doc["evidence"]
    if "worst_case_loss" in ev:
        ccy = escape(str(ev.get("account_currency") or "USD"))
        t.add_row("worst-case loss", f"{_fmt_num(ev['worst_case_loss'])} {ccy} (cap {_fmt_num(ev['max_loss_per_trade'])})")
    style = "red" if doc["would_block"] else "green"
    con.print(Panel(t, title=f"replay of order {escape(doc['order_id'])}", border_style=style, expand=False))
    # plain prints: the verdict line must be exactly this text, unstyled and unwrapped
    print(f"Guardrails would block trade: {'✅' if doc['would_block'] else '❌'}")
    print("Reason codes: " + (", ".join(doc["reason_codes"]) or "none"))


def _verdict_words(doc: dict[str, Any]) -> str:
    """The --all table's verdict in words (a check mark in a table reads as pass/fail, i.e. backwards)."""
    codes = ", ".join(doc["reason_codes"])
    if doc["would_block"]:
        return f"[red]blocked[/] {escape(codes)}".rstrip()
    return "[green]allowed[/]" + (f" {escape(codes)}" if codes else "")


def _render_all(docs: list[dict[str, Any]], source: str) -> None:
    from rich.table import Table

    t = Table(title=f"guard replay of {escape(source)}")
    for col in ("time", "order", "intent", "action", "qty", "believed", "live", "advisory", "fill", "verdict"):
        t.add_column(col)
    for d in docs:
        adv = d["advisory"]
        t.add_row(*map(escape, (d["time"][11:19], d["order_id"], d["intent"], d["action"], str(d["qty"]),
                  _fmt_num(d["believed_position"], 0), _fmt_num(d["live_position_before"], 0),
                  "-" if adv is None else f"{adv['action']} {adv['confidence']:.0%}", _fmt_num(d["fill_price"]))),
                  _verdict_words(d))
    _console().print(t)
    blocked = sum(1 for d in docs if d["would_block"])
    print(f"{blocked} of {len(docs)} orders would have been blocked")


def _render_trips(docs: list[dict[str, Any]], source: str) -> None:
    from rich.table import Table

    t = Table(title=f"round trips in {escape(source)}")
    for col in ("entry", "exit", "symbol", "side", "qty", "entry px", "exit px", "PnL USD", "fees", "net",
                "broker PnL", "mismatch"):
        t.add_column(col, justify="right" if col not in ("symbol", "side") else "left")
    for d in docs:
        t.add_row(d["entry_order_id"], d["exit_order_id"], d["symbol"], d["side"], str(d["qty"]),
                  _fmt_num(d["entry_price"]), _fmt_num(d["exit_price"]), _fmt_num(d["pnl_usd"]),
                  _fmt_num(d["fees_usd"]), _fmt_num(d["net_pnl_usd"]), _fmt_num(d["broker_realized_pnl"]),
                  "⚠ yes" if d["pnl_mismatch"] else "no")
    _console().print(t)


def replay(
    log: Annotated[Path, typer.Option("--log", help="The bot's log file.")],
    fmt: Annotated[str, typer.Option("--format", help="Log format: auto (default), a format name (mytrader, "
                                      "momentum, freqtrade, hummingbot, ib_async, or a rule file in <data-dir>/rules) "
                                      "or the path of a .toml rule file.")] = "auto",
    order_id: Annotated[str | None, typer.Option("--order-id", help="Replay this order.")] = None,
    all_orders: Annotated[bool, typer.Option("--all", help="Replay every order in the log.")] = False,
    trades: Annotated[bool, typer.Option("--trades", help="Round trips and PnL rebuilt from fills.")] = False,
    max_loss: Annotated[float | None, typer.Option("--max-loss", help="Override guards.max_loss_per_trade (USD).")]
    = None,
    json_out: Json = False,
    tz: Annotated[str | None, typer.Option("--tz", help="Zone of the log's timestamps (default: the format's).")]
    = None,
) -> None:
    """Rebuild what the bot knew at each order and run today's guards on it (dry run, nothing is sent)."""
    from tools.logs.formats import default_user_dirs
    from tools.logs.reader import LogFormatError
    from tools.logs.replay import ReplayError, order_json, replay_log, trip_json
    from trading.settings import load_settings
    from warden.progress import FileProgress

    if sum((order_id is not None, all_orders, trades)) != 1:
        raise UserError("choose exactly one of --order-id ID, --all or --trades")
    if not log.is_file():
        raise UserError(f"log file {log} does not exist or is not a file")
    if max_loss is not None and not (math.isfinite(max_loss) and max_loss > 0):
        raise UserError(f"--max-loss must be a positive, finite amount in USD (got {max_loss})")
    settings = load_settings()
    cfg = settings.guards
    if max_loss is not None:
        cfg = cfg.model_copy(update={"max_loss_per_trade": max_loss})
    try:
        with FileProgress([log], f"replay {log.name}"):       # silent below 20 MB
            res = replay_log(log, cfg, fmt.strip() or "auto", tz=tz, nominal_equity=settings.broker.starting_cash,
                             analysis="trades" if trades else "orders",
                             user_dirs=default_user_dirs(settings.data_dir))
    except (LogFormatError, ReplayError) as exc:
        named = fmt.strip() not in ("", "auto") and "format" in str(exc)
        raise UserError(f"--format {fmt}: {exc}" if named else str(exc)) from None
    except ValueError as exc:            # e.g. an unknown --tz
        raise UserError(str(exc)) from None
    except OSError as exc:
        raise UserError(f"cannot read {log}: {exc.strerror or exc}") from None

    if trades:
        docs = [trip_json(t) for t in res.trips()]
        _report_reading(res.stats)
        if json_out:
            print(json.dumps(docs, indent=2))
        else:
            _render_trips(docs, str(log))
        return
    if order_id is not None:
        oid = order_id.strip()
        if oid not in res.orders:
            known = ", ".join(list(res.orders)[:12]) or "none"
            raise UserError(f"order {oid} not found in {log} (orders in this log: {known}"
                            f"{', ...' if len(res.orders) > 12 else ''})")
        doc = order_json(res.orders[oid])
        _report_reading(res.stats)
        if json_out:
            print(json.dumps(doc, indent=2, default=str))
        else:
            _render_order(doc)
        return
    docs = [order_json(o) for o in res.orders.values()]
    _report_reading(res.stats)
    if json_out:
        print(json.dumps(docs, indent=2, default=str))
    else:
        _render_all(docs, str(log))


def _report_reading(stats: Any) -> None:
    """Every report states what was read; warnings (little understood, bad lines) stand out. On stderr,
    so --json stays one JSON document on stdout."""
    import sys

    s = stats.summary()
    print(f"read {s['lines_read']} lines as {stats.format}: {s['recognised']} recognised, {s['unknown']} unknown, "
          f"{s['unreadable']} unreadable", file=sys.stderr)
    for w in stats.warnings():
        print(f"WARNING: {w}", file=sys.stderr)


def register(app: typer.Typer) -> None:
    app.command("replay")(replay)
