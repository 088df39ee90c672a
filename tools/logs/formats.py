"""Which log format: the bundled rule files plus the user's own, and auto-detection by recognised events.

Formats are rule files: the bundled ones in tools/logs/rules/, and a user's in any folder passed as
``user_dirs`` (the CLI passes ``<data-dir>/rules`` and ``WARDEN_RULES_DIR``); a user file with a
bundled name overrides it. ``resolve`` turns a name or a path into compiled rules. ``pick_format``
scores every known format on a sample of the log's lines by the lines each one RECOGNISES (header and
an event rule), not by the header alone (freqtrade and mytrader share a header), and picks only a
clear winner. ``TWS_CODES`` explains the TWS/IB Gateway message codes the ib_async format reads.

Failure contract: ``resolve`` and ``pick_format`` raise ``LogFormatError`` (one line) for an unknown
name, a bad rule file, an empty log, a log nothing recognises, or no clear winner (naming the
candidates and asking for --format); an unusable user rule file is skipped with a warning in auto mode.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

from tools.logs.log_rules import RULES_DIR, LogFormatError, LogRules, load_rules

log = logging.getLogger(__name__)

SAMPLE_BYTES = 256 << 10
SAMPLE_LINES = 400
CLEAR_MARGIN = 1.5           # the winner recognises at least this many times the runner-up's lines

# TWS / IB Gateway message codes: code -> (category, meaning). 2100-2199 are notices, not errors.
TWS_CODES: dict[int, tuple[str, str]] = {
    103: ("order", "duplicate order id"), 110: ("order", "price does not conform to the minimum tick"),
    135: ("order", "cannot find order with that id"), 161: ("order", "cancel attempted on an order not cancellable"),
    200: ("contract", "no security definition found"), 201: ("order", "order rejected"),
    202: ("order", "order cancelled"), 203: ("order", "security not available or allowed for this account"),
    321: ("request", "error validating request"), 354: ("market data", "market data not subscribed"),
    399: ("order", "order message (warning)"), 404: ("order", "shares not available for short sale"),
    502: ("connection", "could not connect to TWS"), 504: ("connection", "not connected"),
    1100: ("connection", "connectivity between IB and TWS lost"),
    1101: ("connection", "connectivity restored, data lost: resubscribe"),
    1102: ("connection", "connectivity restored, data maintained"),
    2103: ("notice", "market data farm connection is broken"), 2104: ("notice", "market data farm connection is OK"),
    2105: ("notice", "HMDS data farm connection is broken"), 2106: ("notice", "HMDS data farm connection is OK"),
    2107: ("notice", "HMDS data farm connection is inactive"), 2108: ("notice", "market data farm inactive"),
    2110: ("connection", "connectivity between TWS and server is broken"),
    2158: ("notice", "sec-def data farm connection is OK"),
    10147: ("order", "order to cancel not found"), 10148: ("order", "order cannot be cancelled in its state"),
    10167: ("market data", "displaying delayed market data"),
}


def tws_code(code: int) -> tuple[str, str]:
    """(category, meaning) of a TWS message code; unknown codes in 2100-2199 are notices."""
    if code in TWS_CODES:
        return TWS_CODES[code]
    return ("notice", "TWS notice") if 2100 <= code < 2200 else ("error", "TWS error")


def default_user_dirs(data_dir: Path | None = None) -> list[Path]:
    dirs = [Path(p) for p in os.environ.get("WARDEN_RULES_DIR", "").split(os.pathsep) if p]
    if data_dir is not None:
        dirs.append(Path(data_dir) / "rules")
    return [d for d in dirs if d.is_dir()]


def known_formats(user_dirs: list[Path] | None = None) -> dict[str, Path]:
    """name -> rule file: bundled first, then each user folder (a later one overrides)."""
    out = {p.stem: p for p in sorted(RULES_DIR.glob("*.toml"))}
    for d in user_dirs or []:
        for p in sorted(Path(d).glob("*.toml")):
            out[p.stem] = p
    return out


def resolve(fmt: str | Path | LogRules, user_dirs: list[Path] | None = None) -> LogRules:
    """A format name (bundled or in a user folder) or a rule-file path, compiled."""
    if isinstance(fmt, LogRules):
        return fmt
    p = Path(fmt)
    if p.suffix == ".toml" or p.is_file():
        return load_rules(p)
    known = known_formats(user_dirs)
    if str(fmt) not in known:
        raise LogFormatError(f"unknown log format {str(fmt)!r}; known: {', '.join(sorted(known))} "
                             "(or a path to a .toml rule file)")
    return load_rules(known[str(fmt)])


def _recognises(rules: LogRules, line: str) -> tuple[bool, bool]:
    """(header matches, an event rule matches) for one line."""
    if not rules.record_start.match(line):
        return False, False
    h = rules.header.fullmatch(line)
    if h is None:
        return False, False
    msg, level, logger = h.group("message", "level", "logger")
    for r in rules.events:
        if r.noise:
            if r.anchor and msg.startswith(r.anchor):
                return True, True
            continue
        if (r.anchor and r.anchor not in msg) or (r.levels and level not in r.levels):
            continue
        if r.logger is not None and not r.logger.fullmatch(logger):
            continue
        if r.regex.fullmatch(msg):
            return True, True
    return True, False


def sample_lines(path: str | Path) -> list[str]:
    """Up to SAMPLE_LINES non-blank lines from the head of the file (never more than SAMPLE_BYTES)."""
    with open(path, "rb") as fh:
        head = fh.read(SAMPLE_BYTES)
    lines = [ln.rstrip("\r") for ln in head.decode("utf-8", "replace").split("\n")[:SAMPLE_LINES]]
    return [ln[:20_000] for ln in lines if ln.strip()]


def score_formats(path: str | Path, user_dirs: list[Path] | None = None) -> list[tuple[int, int, str, LogRules]]:
    """(lines recognised, header matches, name, rules) per known format, best first."""
    lines = sample_lines(path)
    if not lines:
        raise LogFormatError(f"cannot detect the format of {path}: the file is empty")
    scores = []
    for name, p in known_formats(user_dirs).items():
        try:
            rules = load_rules(p)
        except LogFormatError as exc:
            log.warning("rule file skipped for auto-detection: %s", exc)
            continue
        rec = head = 0
        for ln in lines:
            h, r = _recognises(rules, ln)
            head += h
            rec += r
        scores.append((rec, head, name, rules))
    scores.sort(key=lambda s: (-s[0], -s[1], s[2]))
    return scores


def pick_format(path: str | Path, user_dirs: list[Path] | None = None) -> LogRules:
    """The clear winner by recognised lines, else LogFormatError naming the candidates."""
    scores = score_formats(path, user_dirs)
    if not scores or scores[0][0] == 0:
        looks = [s[2] for s in scores if s[1] > 0]
        hint = f" (its lines have the shape of {', '.join(looks)}, but no event rule matched)" if looks else ""
        raise LogFormatError(f"cannot detect the format of {path}: nothing in its first lines was recognised by "
                             f"any known format{hint}; pass --format NAME or a rule file "
                             f"(known: {', '.join(sorted(s[2] for s in scores))})")
    top = scores[0]
    close = [s for s in scores[1:] if s[0] * CLEAR_MARGIN > top[0]]
    if close:
        cands = ", ".join(f"{s[2]} ({s[0]} lines)" for s in [top, *close])
        raise LogFormatError(f"ambiguous format for {path}: {cands} recognise similar shares of its first lines; "
                             "pass --format with one of them")
    return top[3]


def detect_format(path: str | Path, candidates: list[str] | None = None) -> LogRules:
    """Compatibility name for ``pick_format`` (``candidates`` is ignored: every known format is scored)."""
    return pick_format(path)
