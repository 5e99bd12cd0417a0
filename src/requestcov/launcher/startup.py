"""What ``sitecustomize`` runs in every process ``requestcov run`` starts.

The recorder starts here, before the app is imported, so start-up code is
recorded and every measured module imported later is instrumented as it loads.
The server patches go in at the same time, waiting for their modules, and the
watchdog that speaks up when a server records nothing
(:mod:`requestcov.launcher.watchdog`).
"""

from __future__ import annotations

import os

from requestcov.config import Config
from requestcov.log import logger
from requestcov.recorder import get_recorder

__all__ = ["start"]


def start() -> None:
    """Start recording in this process; never raises."""
    try:
        from requestcov.launcher import patches, watchdog

        patches.install()
        config = Config.from_environment()
        if get_recorder(config, [os.getcwd()]) is not None:
            watchdog.install()
    except Exception:
        logger.error("requestcov: cannot record this process; it runs unmeasured", exc_info=True)

