"""The user-error type: a problem with what the user gave (a file, a flag, a checkpoint).

Front ends show a `UserError` as one line and exit 2; any other exception is a bug and keeps
its traceback, so a real bug never looks like the user's mistake.
"""

from __future__ import annotations


class UserError(ValueError):
    """Bad input, with a one-line message that says what to change."""
