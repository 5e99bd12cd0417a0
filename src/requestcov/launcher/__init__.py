"""``requestcov run``: record a server users already run, without touching its code.

How it gets in: ``requestcov run`` puts :mod:`requestcov.launcher.bootstrap`
first on ``PYTHONPATH`` and sets ``REQUESTCOV_RUN=1`` plus the ``REQUESTCOV_*``
options, then replaces itself with the server command. Every Python process of
the server (the master, forked or spawned workers, a reloader's child) imports
the ``sitecustomize`` module found there at interpreter start, which starts the
recorder (:mod:`requestcov.launcher.startup`) and wraps the WSGI/ASGI app at
the place each server picks it up (:mod:`requestcov.launcher.patches`).
"""

from __future__ import annotations

import os
from typing import Dict, Mapping

from requestcov.config import Config

__all__ = ["ACTIVE_VARIABLE", "bootstrap_directory", "launch_environment"]

#: Set to "1" in the environment of a server started by ``requestcov run``.
ACTIVE_VARIABLE = "REQUESTCOV_RUN"


def bootstrap_directory() -> str:
    """The folder holding requestcov's ``sitecustomize.py`` (and nothing else
    importable under a name an app could use)."""
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "bootstrap")


def launch_environment(config: Config, base: Mapping[str, str]) -> Dict[str, str]:
    """``base`` plus what makes every Python process started from it record."""
    environment = dict(base)
    environment.update(config.to_environment())
    environment[ACTIVE_VARIABLE] = "1"
    bootstrap = bootstrap_directory()
    existing = [entry for entry in environment.get("PYTHONPATH", "").split(os.pathsep) if entry]
    environment["PYTHONPATH"] = os.pathsep.join([bootstrap] + [entry for entry in existing if entry != bootstrap])
    return environment
