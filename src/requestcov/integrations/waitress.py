"""waitress (``waitress-serve module:app``, ``waitress.serve(app)``): the app
goes in at ``waitress.serve``."""

from __future__ import annotations

from types import ModuleType

from requestcov.integrations._patching import replace_argument
from requestcov.launcher.wrapping import wrap_application

__all__ = ["PATCHES"]


def _patch_waitress(module: ModuleType) -> None:
    module.serve = replace_argument(module.serve, "app", wrap_application)


PATCHES = {"waitress": _patch_waitress}
