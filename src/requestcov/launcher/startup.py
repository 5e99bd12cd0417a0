"""What ``sitecustomize`` runs in every process ``requestcov run`` starts.

The recorder starts here, before the app is imported, so start-up code is
recorded and every measured module imported later is instrumented as it loads.
The server patches go in at the same time, waiting for their modules.
"""

from __future__ import annotations

import os
import signal
import threading
from types import FrameType
from typing import Optional

from requestcov.config import Config
from requestcov.log import logger
from requestcov.recorder import Recorder, current_recorder, current_request, get_recorder

__all__ = ["start"]


def start() -> None:
    """Start recording in this process; never raises."""
    try:
        from requestcov.launcher import patches

        patches.install()
        _flush_then_die_on_sigterm()
        config = Config.from_environment()
        get_recorder(config, [os.getcwd()])
    except Exception:
        logger.error("requestcov: cannot record this process; it runs unmeasured", exc_info=True)


def _flush_then_die_on_sigterm() -> None:
    """SIGTERM still kills the process, as it would without requestcov, but
    only after the finished requests are written.

    Raising SystemExit instead would let a server's catch-all around a request
    (wsgiref's, for one) swallow it and keep serving. Servers that install a
    SIGTERM handler of their own (gunicorn, uvicorn, Django's reloader)
    replace this one and stop their own way; their exit runs ``atexit``.
    """
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return

    def flush_then_die(signum: int, frame: Optional[FrameType]) -> None:
        recorder = current_recorder()
        if recorder is not None:
            try:
                _finish_interrupted_request(recorder)
                recorder.close()
            except Exception:
                logger.error("requestcov: could not write the last records", exc_info=True)
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)

    signal.signal(signal.SIGTERM, flush_then_die)


def _finish_interrupted_request(recorder: Recorder) -> None:
    """End the request the signal interrupted on this thread, if it answered.

    A single-threaded server (wsgiref) may have sent a whole response and not
    yet closed it when the signal comes; that request can never end by itself
    while this handler runs on its thread, so it ends here. One that has not
    started its response yet is left out: it did not finish.
    """
    request = current_request()
    if request is not None and not request.finished and request.status is not None:
        recorder.finish(request)
