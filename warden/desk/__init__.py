"""The desk: a local web app (``warden serve``) over one data dir: live view, trades, risk, reviews, ask.

Presentation only: every number shown is read from the records the run, the CLI and the review wrote
(ledgers, outcome files, events.jsonl, paper accounts, the journal read-only); the only writes are the
operator's ledger actions and review approvals, made through the same functions as ``warden risk`` and
``warden review --resume``, and Ask's threads (the chat checkpointer and the memory store ``warden chat``
opens).
The app is ``warden.desk.app.create_app``. Failure contract: a missing or unreadable file shows as an
empty section or a one-line error on the page, never a traceback.
"""
