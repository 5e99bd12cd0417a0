"""Safe output file names for report pages.

Test ids and file paths come from request headers and the store: they may hold
``../``, slashes, quotes or thousands of characters. Page names are therefore a
short lowercase slug for people plus a hash of the real key for uniqueness,
never the raw value.
"""

from __future__ import annotations

import hashlib
import re
from typing import Dict, Set

__all__ = ["PageNames", "slugify"]

_NOT_SLUG = re.compile(r"[^a-z0-9]+")
_MAX_SLUG_LENGTH = 40


def slugify(text: str) -> str:
    """Lowercase ASCII letters, digits and dashes; ``page`` when nothing is left."""
    slug = _NOT_SLUG.sub("-", text.lower()).strip("-")[:_MAX_SLUG_LENGTH].strip("-")
    return slug or "page"


class PageNames:
    """Hands out one distinct file name per key inside one folder of the report."""

    def __init__(self, folder: str) -> None:
        self.folder = folder
        self._by_key: Dict[str, str] = {}
        self._used: Set[str] = set()

    def name(self, key: str, readable: str) -> str:
        """The page of ``key`` (``folder/slug-hash.html``); ``readable`` gives the slug."""
        existing = self._by_key.get(key)
        if existing is not None:
            return existing
        digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:10]
        stem = f"{slugify(readable)}-{digest}"
        candidate = stem
        number = 2
        while candidate in self._used:  # only when two keys share a hash prefix
            candidate = f"{stem}-{number}"
            number += 1
        self._used.add(candidate)
        page = f"{self.folder}/{candidate}.html"
        self._by_key[key] = page
        return page
