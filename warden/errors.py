"""User-facing errors: printed as one line on stderr with a non-zero exit, never a traceback.

Failure contract: defines the errors only; cli.py turns them into one line and the exit code.
"""


class UserError(Exception):
    """Bad input the user can fix (missing file, unknown id, unreadable format...)."""

    exit_code = 2
