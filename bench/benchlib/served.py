"""The app a real server loads: ``benchlib.served:application``.

gunicorn and uvicorn import this module in their worker; ``BENCH_APP``,
``BENCH_MODE`` and ``BENCH_WORKDIR`` in the environment pick the app, the
recording mode and where its files go.
"""

import os

from benchlib import modes

_wrapped = modes.build(os.environ["BENCH_APP"], os.environ["BENCH_MODE"], os.environ["BENCH_WORKDIR"])
application = _wrapped.app
