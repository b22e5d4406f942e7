"""Errors a user can fix. The CLI prints them as one line (and a hint), never a traceback, and exits 2."""


class UserError(Exception):
    """Bad input or setup, with a message that names the file, line or field at fault."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.hint = hint
