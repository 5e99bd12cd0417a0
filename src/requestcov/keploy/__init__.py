"""Keploy's coverage agent, served by requestcov.

``keploy test --dedup`` drives a coverage agent inside the app through two Unix
sockets: it sends ``START <test-set>/<test-id>`` and ``END <test-set>/<test-id>``
on the control socket (one line a connection, answered ``ACK``), and after
``END`` the agent sends the test's executed lines, as one JSON object, to the
data socket Keploy listens on. Keploy's own Python agent measures the whole
process with coverage.py between the two, so it sees one test at a time, one
process only, and waits a fixed time on every ``END``.

requestcov serves the same protocol from its per-request records:

- one process owns the control socket (``requestcov run``'s agent process,
  :mod:`requestcov.keploy.process`, or the first recording process of the app,
  :mod:`requestcov.keploy.inprocess`) and publishes the current test in a small
  shared file every worker process maps (:mod:`requestcov.keploy.shared`);
- each request without a test-id header of its own reads the current test
  there, one memory read, and counts itself begun for it
  (:mod:`requestcov.keploy.tests`);
- on ``END`` the owner waits until the store holds as many records of the test
  as requests were begun for it, then sends the union of their lines
  (:mod:`requestcov.keploy.server`, wire format in :mod:`requestcov.keploy.protocol`).
"""

from requestcov.keploy.protocol import DEFAULT_CONTROL_SOCKET, DEFAULT_DATA_SOCKET

__all__ = ["DEFAULT_CONTROL_SOCKET", "DEFAULT_DATA_SOCKET"]
