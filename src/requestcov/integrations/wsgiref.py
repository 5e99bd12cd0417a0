"""The standard library's ``wsgiref.simple_server`` (Bottle's default server):
the app goes in at ``make_server``."""

from __future__ import annotations

from types import ModuleType

from requestcov.integrations._patching import replace_argument
from requestcov.launcher.wrapping import wrap_wsgi

__all__ = ["PATCHES"]


def _patch_simple_server(module: ModuleType) -> None:
    module.make_server = replace_argument(module.make_server, "app", wrap_wsgi)


PATCHES = {"wsgiref.simple_server": _patch_simple_server}
