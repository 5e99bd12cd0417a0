"""Wrap the app where each server picks it up, by patching the server's modules
as they are imported.

An import hook (:class:`PatchingFinder`) watches for the module names the
integrations (:mod:`requestcov.integrations`, one module per server and
framework) ask for; when one of them has executed, its patch replaces one
function with a version that wraps the app on its way in. Nothing is imported
early, so a server that is not used is not touched, and the patches see the
same module objects the server does.
"""

from __future__ import annotations

import inspect
import sys
import threading
from importlib.abc import MetaPathFinder
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import Any, Callable, Dict, Optional, Sequence, Set

from requestcov.engine.imports import find_spec_skipping
from requestcov.integrations import server_patches
from requestcov.integrations._patching import is_wrapped, mark
from requestcov.log import log_once

__all__ = ["PatchingFinder", "install", "PATCHES"]

#: Module name -> patch applied right after the module has executed.
PATCHES: Dict[str, Callable[[ModuleType], None]] = server_patches()


def _apply(name: str, module: ModuleType) -> None:
    try:
        PATCHES[name](module)
    except Exception:
        log_once(f"patch-{name}", "requestcov: could not patch %s; its app may run unmeasured", name,
                 exc_info=True)


class PatchingFinder(MetaPathFinder):
    """Finds nothing itself: it asks the other finders for a watched module's
    spec and makes the loader apply the patch after executing the module."""

    def __init__(self) -> None:
        self._busy = threading.local()

    def find_spec(
        self, fullname: str, path: Optional[Sequence[str]], target: Any = None
    ) -> Optional[ModuleSpec]:
        if fullname not in PATCHES:
            return None
        busy: Set[str] = getattr(self._busy, "names", None) or set()
        if fullname in busy:  # another finder asking the meta path on our behalf
            return None
        self._busy.names = busy | {fullname}
        try:
            spec = self._find_with_others(fullname, path, target)
        finally:
            self._busy.names = busy
        loader = spec.loader if spec is not None else None
        # A loader that is a class (built-in and frozen modules) serves many
        # modules: none of the watched ones, and patching it would touch all.
        if loader is None or inspect.isclass(loader) or not hasattr(loader, "exec_module"):
            return spec
        self._patch_after_exec(spec.loader, fullname)
        return spec

    def _find_with_others(self, fullname: str, path: Optional[Sequence[str]], target: Any) -> Optional[ModuleSpec]:
        return find_spec_skipping(PatchingFinder, fullname, path, target)

    @staticmethod
    def _patch_after_exec(loader: Any, fullname: str) -> None:
        original = loader.exec_module
        if is_wrapped(original):
            return

        def exec_module(module: ModuleType) -> None:
            original(module)
            if module.__name__ == fullname:
                _apply(fullname, module)

        loader.exec_module = mark(exec_module)


def install() -> None:
    """Watch for server modules; patch the ones imported already right away."""
    if any(isinstance(finder, PatchingFinder) for finder in sys.meta_path):
        return
    sys.meta_path.insert(0, PatchingFinder())
    for name in PATCHES:
        module = sys.modules.get(name)
        if module is not None:
            _apply(name, module)
