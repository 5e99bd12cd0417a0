"""requestcov's logger, and logging a problem once rather than per request."""

from __future__ import annotations

import logging
import threading
from typing import Set, Union

__all__ = ["logger", "log_once"]

logger = logging.getLogger("requestcov")

_seen: Set[str] = set()
_seen_lock = threading.Lock()


def log_once(key: str, message: str, *args: object, exc_info: Union[bool, BaseException] = False) -> None:
    """Log an error the first time ``key`` comes up in this process.

    The recorder runs on every request; an error that repeats per request would
    bury the app's own log, so each kind of failure is reported once.
    """
    with _seen_lock:
        if key in _seen:
            return
        _seen.add(key)
    logger.error(message, *args, exc_info=exc_info)
