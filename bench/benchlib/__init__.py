"""Pieces of the overhead benchmark: request mix, modes, loads, measurements.

``bench/overhead.py`` drives them; every measurement of a mode runs in a
subprocess of its own (``python -m benchlib.worker``) so tracers and
``sys.monitoring`` state never leak from one mode into the next.
"""

import os

BENCH_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
APPS_DIR = os.path.join(BENCH_DIR, "apps")
