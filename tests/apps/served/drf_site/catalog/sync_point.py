"""Holds requests of one threaded server inside their handlers at once.

The end-to-end tests run this folder with ``--omit "*/sync_point.py"``: the
waiting is test scaffolding, so a request's measured lines are the same
whether it waited for others or not.
"""

import threading

_barriers = {}
_barriers_lock = threading.Lock()


def rendezvous(name, parties, timeout=10.0):
    """Return once ``parties`` requests reached ``name`` (at once when 1)."""
    if parties <= 1:
        return
    with _barriers_lock:
        barrier = _barriers.get(name)
        if barrier is None:
            barrier = _barriers[name] = threading.Barrier(parties, timeout=timeout)
    barrier.wait()
