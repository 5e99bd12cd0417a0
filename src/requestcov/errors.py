"""Errors requestcov reports to people: each message says what is wrong and
what to do, so the command line prints it without a traceback."""

from __future__ import annotations

__all__ = ["RequestcovError", "StoreError", "InputError"]


class RequestcovError(Exception):
    """Base of the errors the command line turns into a one-line message."""


class StoreError(RequestcovError):
    """The store cannot be opened, read or written."""


class InputError(RequestcovError):
    """A file given to requestcov is not what it should be; names the file and line."""
