"""Errors a user can fix: the commands print them as one line, without a traceback.

A command's main function is wrapped once::

    @report_user_errors("pau-collect")
    def main(argv=None): ...

For a Hydra main, wrap the task function itself, *below* ``@hydra.main``::

    @hydra.main(config_path=..., config_name="train", version_base="1.3")
    @report_user_errors("pau-train")
    def train_main(cfg): ...

Placed above ``@hydra.main`` it would never see the error: Hydra's ``run_and_report``
(hydra 1.3) catches every exception a task function raises, prints a stack trace
without Hydra's frames plus a line about ``HYDRA_FULL_ERROR`` and exits 1. Below it,
the user error leaves the task function as ``SystemExit(2)``, which Hydra's job
runner does not catch; a multirun therefore stops at the first job with a user
error, which the user has to fix anyway.
"""
from __future__ import annotations

import functools
import os
import sys
from typing import Callable, TypeVar

# The exit status of a command refused for bad input (argparse uses 2 as well).
USER_ERROR_EXIT = 2

F = TypeVar("F", bound=Callable)


class UserError(Exception):
    """Bad input, missing or corrupt data, an unusable folder: the message names the fix.

    ``hint`` is an optional second line (how to get the data, the command to run).
    """

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.hint = hint


def full_error_requested() -> bool:
    """The switch Hydra users know: ``HYDRA_FULL_ERROR=1`` shows the whole traceback."""
    return os.environ.get("HYDRA_FULL_ERROR") == "1"


def format_user_error(prog: str, error: UserError) -> str:
    """``prog: message`` on one line, then ``hint: ...`` when the error carries one."""
    lines = [f"{prog}: {_one_line(str(error))}"]
    hint = getattr(error, "hint", None)
    if hint:
        lines.append(f"hint: {_one_line(hint)}")
    return "\n".join(lines)


def report_user_errors(prog: str) -> Callable[[F], F]:
    """Decorate a command's main: a ``UserError`` is printed to stderr as
    ``prog: message`` (plus a hint line) and the process exits with status 2;
    with ``HYDRA_FULL_ERROR=1`` the error propagates with its full traceback."""

    def decorate(main: F) -> F:
        @functools.wraps(main)
        def wrapper(*args, **kwargs):
            try:
                return main(*args, **kwargs)
            except UserError as error:
                if full_error_requested():
                    raise
                sys.stderr.write(format_user_error(prog, error) + "\n")
                sys.stderr.flush()
                raise SystemExit(USER_ERROR_EXIT) from None

        return wrapper  # type: ignore[return-value]

    return decorate


def _one_line(text: str) -> str:
    return " ".join(part.strip() for part in text.strip().splitlines() if part.strip())
