"""Instrument measured modules as they are imported.

A meta path finder that asks the finders after it for the spec, and when the
module is measured source, wraps its loader's ``get_code`` so the engine sees
the module's code objects (and every function nested in them) before they run,
and may replace them with a rewritten copy (the ``.pyc`` cache, written inside
``get_code``, keeps the compiler's code).
Nothing else about the import changes: same loader object, same spec.
"""

from __future__ import annotations

import sys
from importlib.abc import MetaPathFinder
from importlib.machinery import ModuleSpec
from types import CodeType
from typing import Any, Callable, Optional, Sequence

from requestcov.engine.source import SourceMatcher

__all__ = ["InstrumentingFinder", "find_spec_skipping"]


def find_spec_skipping(
    finder_type: type, fullname: str, path: Optional[Sequence[str]], target: Any = None
) -> Optional[ModuleSpec]:
    """The spec the rest of ``sys.meta_path`` finds, asking every finder but
    those of ``finder_type`` (a wrapping finder asking the others)."""
    for finder in list(sys.meta_path):
        if isinstance(finder, finder_type):
            continue
        find_spec = getattr(finder, "find_spec", None)
        if find_spec is None:
            continue
        spec = find_spec(fullname, path, target)
        if spec is not None:
            return spec
    return None


class InstrumentingFinder(MetaPathFinder):
    def __init__(self, matcher: SourceMatcher, instrument: Callable[[CodeType], Optional[CodeType]]) -> None:
        self.matcher = matcher
        self.instrument = instrument

    def install(self) -> None:
        if self not in sys.meta_path:
            sys.meta_path.insert(0, self)

    def uninstall(self) -> None:
        while self in sys.meta_path:
            sys.meta_path.remove(self)

    def find_spec(
        self, fullname: str, path: Optional[Sequence[str]], target: Any = None
    ) -> Optional[ModuleSpec]:
        spec = find_spec_skipping(InstrumentingFinder, fullname, path, target)
        if spec is None:
            return None
        loader = spec.loader
        if (
            spec.origin
            and loader is not None
            and hasattr(loader, "get_code")
            and self.matcher.measured_path(spec.origin) is not None
        ):
            self._wrap_get_code(loader)
        return spec

    def _wrap_get_code(self, loader: Any) -> None:
        original = loader.get_code
        if getattr(original, "__requestcov_wrapped__", False):
            return
        instrument = self.instrument

        def get_code(fullname: str) -> Optional[CodeType]:
            code = original(fullname)
            if code is not None:
                # An engine that rewrites code (probes) returns the copy to run.
                code = instrument(code) or code
            return code

        get_code.__requestcov_wrapped__ = True  # type: ignore[attr-defined]
        loader.get_code = get_code
