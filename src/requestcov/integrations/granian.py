"""granian (``granian --interface asgi|asginl|wsgi module:app``): a Rust server
whose Python worker processes (or threads, on free-threaded builds) load the
app themselves, through the loader the main process hands each new worker.

That loader goes in at ``AbstractServer._spawn_workers`` and
``_respawn_workers`` (respawns after a crash, a reload, a worker lifetime):
it is replaced by :class:`InterfaceLoader`, which runs it in the worker and
wraps what it loads for the interface the server speaks. Workers are forked or
spawned by ``multiprocessing``, so the loader must pickle: it is a module-level
class holding granian's own (picklable) loader and the interface's name. A
forked worker leaves through ``os._exit``; the loader has the recorder closed
among ``multiprocessing``'s exit finalizers, so the worker's last records are
written.

granian's own RSGI interface has no requestcov middleware: its app runs
unmeasured, and says so once.
"""

from __future__ import annotations

import functools
import inspect
from types import ModuleType
from typing import Any, Callable

from requestcov.integrations._patching import is_wrapped, mark
from requestcov.launcher.wrapping import wrap_asgi, wrap_wsgi
from requestcov.log import log_once
from requestcov.recorder import current_recorder

__all__ = ["PATCHES", "InterfaceLoader"]

_WRAPPERS = {"asgi": wrap_asgi, "asginl": wrap_asgi, "wsgi": wrap_wsgi}


class InterfaceLoader:
    """granian's target loader, wrapping the app it loads for ``interface``."""

    def __init__(self, loader: Callable[[], Any], interface: str) -> None:
        self.loader = loader
        self.interface = interface

    def __call__(self) -> Any:
        app = self.loader()
        _close_at_worker_exit()
        wrap = _WRAPPERS.get(self.interface)
        if wrap is None:
            log_once(f"granian-{self.interface}", "requestcov: granian's %s interface is not recorded; the app "
                     "runs unmeasured (serve it with --interface asgi or wsgi)", self.interface.upper())
            return app
        return wrap(app)


def _close_at_worker_exit() -> None:
    """A forked ``multiprocessing`` worker ends in ``os._exit``, past ``atexit``:
    the recorder closes among ``multiprocessing``'s own exit finalizers, which
    run once the worker's target has returned (after granian's shutdown)."""
    import multiprocessing
    import multiprocessing.util

    recorder = current_recorder()
    if recorder is not None and multiprocessing.parent_process() is not None:
        multiprocessing.util.Finalize(None, recorder.close, exitpriority=100)


def _interface_name(server: Any) -> str:
    interface = getattr(server, "interface", "")
    return str(getattr(interface, "value", interface)).lower()


def _wrap_loader_argument(method: Callable[..., Any]) -> Callable[..., Any]:
    """``method`` with its ``target_loader`` argument made an :class:`InterfaceLoader`."""
    if is_wrapped(method):
        return method
    signature = inspect.signature(method)

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            bound = signature.bind(self, *args, **kwargs)
            loader = bound.arguments.get("target_loader")
            if loader is not None and not isinstance(loader, InterfaceLoader):
                bound.arguments["target_loader"] = InterfaceLoader(loader, _interface_name(self))
                return method(*bound.args, **bound.kwargs)
        except TypeError:
            pass
        return method(self, *args, **kwargs)

    return mark(wrapper)


def _patch_common(module: ModuleType) -> None:
    server_class = module.AbstractServer
    for name in ("_spawn_workers", "_respawn_workers"):
        setattr(server_class, name, _wrap_loader_argument(getattr(server_class, name)))


PATCHES = {"granian.server.common": _patch_common}
