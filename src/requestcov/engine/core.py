"""Which core records the lines: the compiled one, or pure Python.

The compiled core (``_speedups``, built from C at install time when a compiler
is at hand) runs the code that fires on every recorded line; the pure-Python
engines do the same work and remain the reference. ``REQUESTCOV_CORE=python``
asks for them, to compare the two or to rule the compiled core out when
something looks wrong; ``REQUESTCOV_CORE=compiled`` says so in the log when the
compiled core is missing. A free-threaded interpreter always gets pure Python:
the compiled core relies on the GIL, and importing it there would switch the
GIL back on for the whole process.
"""

from __future__ import annotations

import os
import sysconfig
from types import ModuleType
from typing import Optional

from requestcov.log import log_once

__all__ = ["compiled_core", "report_core_error", "CORE_VARIABLE"]

CORE_VARIABLE = "REQUESTCOV_CORE"


def compiled_core() -> Optional[ModuleType]:
    """The compiled core, or None when it is not built, not wanted or not safe here."""
    wanted = os.environ.get(CORE_VARIABLE, "").strip().lower()
    if wanted == "python" or sysconfig.get_config_var("Py_GIL_DISABLED"):
        return None
    try:
        from requestcov.engine import _speedups
    except ImportError:
        if wanted == "compiled":
            log_once("core-missing", "requestcov: %s=compiled, but the compiled core was not built here "
                     "(no C compiler at install time?); recording with the pure-Python core", CORE_VARIABLE)
        return None
    return _speedups


def report_core_error(error: BaseException) -> None:
    """Called by either core instead of letting an error of ours reach the
    app; logged once. The core carries on, and the line it was recording is
    lost."""
    log_once("core-error", "requestcov: recording a line failed: %r", error)
