"""One module per server and framework, holding everything requestcov knows
about it: where the app goes in (``PATCHES``: the server module to watch and
the patch applied once it has executed), how its requests get their route
template, its signals, and its one-line adapter (``requestcov.flask``,
``requestcov.django`` are the public names of two of them).

Every process ``requestcov run`` starts imports all of these modules, so none
of them imports its framework at import time: a framework is touched only once
the app imported it.

A module may also offer ``adopt(app)``: given the app a server is about to
serve, it returns what to serve instead when the app is one of its framework's
(recording and naming its routes), or None.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any, Callable, Dict, List, Optional

__all__ = ["MODULES", "Patch", "integration_modules", "server_patches", "adopt"]

Patch = Callable[[ModuleType], None]

#: The integrations, by module name under ``requestcov.integrations``; an app
#: is offered to their ``adopt`` in this order.
MODULES = (
    "flask",
    "quart",
    "bottle",
    "litestar",
    "falcon",
    "pyramid",
    "werkzeug",
    "wsgiref",
    "gunicorn",
    "uvicorn",
    "hypercorn",
    "waitress",
    "django",
    "sanic",
    "granian",
    "aiohttp",
    "tornado",
)

_loaded: List[ModuleType] = []


def integration_modules() -> List[ModuleType]:
    if not _loaded:
        _loaded.extend(importlib.import_module(f"{__name__}.{name}") for name in MODULES)
    return _loaded


def server_patches() -> Dict[str, Patch]:
    """Every integration's patches, by the module they wait for."""
    patches: Dict[str, Patch] = {}
    for module in integration_modules():
        for watched, patch in getattr(module, "PATCHES", {}).items():
            if watched in patches:
                raise RuntimeError(f"two integrations patch {watched}")
            patches[watched] = patch
    return patches


def adopt(app: Any) -> Optional[Any]:
    """What to serve instead of ``app`` when an integration knows its framework."""
    for module in integration_modules():
        adopt_app: Optional[Callable[[Any], Optional[Any]]] = getattr(module, "adopt", None)
        if adopt_app is not None:
            adopted = adopt_app(app)
            if adopted is not None:
                return adopted
    return None
