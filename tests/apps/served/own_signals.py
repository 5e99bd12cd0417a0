"""An app's own SIGTERM handler, as many apps install one: exit cleanly.

Only when ``SERVED_OWN_SIGTERM_HANDLER=1``: the stop tests check that
requestcov keeps every record when the app's handler, not requestcov's,
decides how the process ends.
"""

import os
import signal
import sys
import threading

if os.environ.get("SERVED_OWN_SIGTERM_HANDLER") == "1" and threading.current_thread() is threading.main_thread():
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
