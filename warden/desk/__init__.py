"""The desk: a local web app (``warden serve``) over one data dir: live view, trades, risk, reviews, ask.

Presentation only: every number shown is read from the records the run, the CLI and the review wrote
(ledgers, outcome files, events.jsonl, paper accounts); the only writes are the operator's ledger
actions, made through the same functions as ``warden risk`` (and the memory store ``warden ask`` opens).
The app is ``warden.desk.app.create_app``. Failure contract: a missing or unreadable file shows as an
empty section or a one-line error on the page, never a traceback.
"""
