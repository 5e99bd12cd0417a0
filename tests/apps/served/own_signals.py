"""An app's own SIGTERM handler, as many apps install one.

``SERVED_OWN_SIGTERM_HANDLER=sys-exit`` exits cleanly (``sys.exit(0)``);
``os-exit`` ends the process at once (``os._exit(0)``), skipping Python's
shutdown and with it every flush at exit. The stop tests check that
requestcov keeps every record (with ``os-exit``: all but the last 100 ms)
when the app's handler, not requestcov's, decides how the process ends.
"""

import os
import signal
import sys
import threading

_HANDLERS = {
    "sys-exit": lambda signum, frame: sys.exit(0),
    "os-exit": lambda signum, frame: os._exit(0),
}

_chosen = _HANDLERS.get(os.environ.get("SERVED_OWN_SIGTERM_HANDLER", ""))
if _chosen is not None and threading.current_thread() is threading.main_thread():
    signal.signal(signal.SIGTERM, _chosen)
