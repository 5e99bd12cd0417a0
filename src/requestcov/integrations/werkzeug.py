"""Werkzeug's development server: ``app.run()``, ``flask run``, ``run_simple``.

The app goes in at ``werkzeug.serving.make_server``, in the process that
serves (under the reloader, its child). The reloader's parent runs the
server in a child and waits for it; while it waits, SIGTERM and SIGINT are
passed on to the child, so the child stops cleanly and writes its records
(:mod:`requestcov.launcher.reloader`).
"""

from __future__ import annotations

from types import ModuleType

from requestcov.integrations._patching import replace_argument
from requestcov.launcher.reloader import forward_stop_signals_while
from requestcov.launcher.wrapping import wrap_wsgi

__all__ = ["PATCHES"]


def _patch_serving(module: ModuleType) -> None:
    module.make_server = replace_argument(module.make_server, "app", wrap_wsgi)


def _patch_reloader(module: ModuleType) -> None:
    loop_class = module.ReloaderLoop
    loop_class.restart_with_reloader = forward_stop_signals_while(loop_class.restart_with_reloader)


PATCHES = {
    "werkzeug.serving": _patch_serving,
    "werkzeug._reloader": _patch_reloader,
}
