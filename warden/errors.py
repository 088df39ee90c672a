"""User-facing errors: printed as one line on stderr with a non-zero exit, never a traceback."""


class UserError(Exception):
    """Bad input the user can fix (missing file, unknown id, unreadable format...)."""

    exit_code = 2
