"""Errors a user can fix: the commands print them as one line, without a traceback."""


class UserError(Exception):
    """Bad input, missing or corrupt data, an unusable folder: the message names the fix."""
