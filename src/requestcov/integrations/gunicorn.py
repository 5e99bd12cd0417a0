"""gunicorn (``gunicorn module:app``): each worker loads the app with
``gunicorn.util.import_app``, after the fork, so each wraps its own.

The master forwards SIGTERM (and SIGINT, SIGQUIT) to its workers; a worker's
handler ends its loop and it exits through ``atexit``, where its recorder
writes the last records.
"""

from __future__ import annotations

from types import ModuleType

from requestcov.integrations._patching import replace_result
from requestcov.launcher.wrapping import wrap_application

__all__ = ["PATCHES"]


def _patch_util(module: ModuleType) -> None:
    module.import_app = replace_result(module.import_app, wrap_application)


PATCHES = {"gunicorn.util": _patch_util}
