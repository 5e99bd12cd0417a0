"""Test ids and test sets from request headers.

Header values are untrusted: they are capped in length and stripped of control
characters before they reach the store, a report or a file name.
"""

from __future__ import annotations

import re
from typing import Optional

__all__ = ["clean_test_id", "wsgi_header_key", "MAX_TEST_ID_LENGTH"]

MAX_TEST_ID_LENGTH = 200
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def clean_test_id(raw: Optional[str]) -> str:
    """A printable, bounded id; empty when the header is missing or blank."""
    if not raw:
        return ""
    cleaned = (raw if raw.isprintable() else _CONTROL_CHARACTERS.sub("", raw)).strip()
    return cleaned[:MAX_TEST_ID_LENGTH]


def wsgi_header_key(header: str) -> str:
    """The WSGI environ key of an HTTP header (``KEPLOY-TEST-ID`` -> ``HTTP_KEPLOY_TEST_ID``)."""
    return "HTTP_" + header.upper().replace("-", "_")
