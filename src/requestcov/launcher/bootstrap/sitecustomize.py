"""Imported by ``site`` at the start of every Python process ``requestcov run`` starts.

It first runs the ``sitecustomize`` this one hides (a distribution's or a
virtualenv's own), then starts recording. Nothing here may stop the process
from starting: a failure is reported on one line and the program runs as usual.
"""

import os
import sys


def _run_hidden_sitecustomize() -> None:
    """Execute the next ``sitecustomize`` on ``sys.path``, as ``site`` would have."""
    from importlib.machinery import PathFinder
    from importlib.util import module_from_spec

    here = os.path.dirname(os.path.abspath(__file__))
    others = [entry for entry in sys.path if os.path.abspath(entry or os.curdir) != here]
    spec = PathFinder.find_spec("sitecustomize", others)
    if spec is None or spec.loader is None:
        return
    module = module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as error:
        sys.stderr.write(f"Error in sitecustomize ({spec.origin}): {error!r}\n")


def _start_recording() -> None:
    if os.environ.get("REQUESTCOV_RUN") != "1":
        return
    try:
        from requestcov.launcher.startup import start
    except Exception as error:  # requestcov is not installed for this interpreter
        sys.stderr.write(f"requestcov: this process runs unmeasured ({error})\n")
        return
    start()


_run_hidden_sitecustomize()
_start_recording()
